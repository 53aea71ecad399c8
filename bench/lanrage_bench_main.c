/* lanrage-bench: dispatches to one benchmark per subcommand; the table below is also the usage. */
#include <stdio.h>
#include <string.h>

#include "bench/bench.h"
#include "common/compiler.h"

static const struct {
	const char *name;
	int (*function)(int argc, char *argv[]);
	const char *description;
} subcommands[] = {
	{ "crypto", bench_crypto_main, "Batch ChaCha20-Poly1305 vs libsodium's per-packet calls" },
	{ "pipeline", bench_pipeline_main, "Packets/s through a worker's send and receive paths, no kernel" },
};

static void show_usage(FILE *file, const char *prog)
{
	size_t i;

	fprintf(file, "Usage: %s <cmd> [<args>]\n\n", prog);
	fprintf(file, "Available subcommands:\n");
	for (i = 0; i < LR_ARRAY_SIZE(subcommands); i++)
		fprintf(file, "  %-10s %s\n", subcommands[i].name, subcommands[i].description);
	fprintf(file, "\nPass --help to a subcommand for its options.\n");
}

int main(int argc, char *argv[])
{
	const char *prog = argv[0];
	size_t i;

	if (argc < 2) {
		show_usage(stdout, prog);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		show_usage(stdout, prog);
		return 0;
	}
	/* Subcommands see argv starting at their own name, as in wireguard-tools' wg.c. */
	for (i = 0; i < LR_ARRAY_SIZE(subcommands); i++) {
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].function(argc - 1, argv + 1);
	}
	fprintf(stderr, "Invalid subcommand: `%s'\n", argv[1]);
	show_usage(stderr, prog);
	return 1;
}
