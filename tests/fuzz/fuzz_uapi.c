/* libFuzzer harness for the UAPI line parser: every line in set and in get mode, then the
 * printer, which must accept whatever the parser built and print it stably. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "controlplane/uapi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Parsing continues past bad lines (the server stops at the first) to reach more states of a
 * half-built config. */
static void parse_all(struct lr_uapi_config *cfg, enum lr_uapi_mode mode, const char *text,
		      size_t len)
{
	char *copy = malloc(len + 1), *line, *nl;

	if (!copy)
		abort();
	memcpy(copy, text, len);
	copy[len] = '\0';
	for (line = copy; line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		lr_uapi_config_parse_line(cfg, mode, line);
	}
	free(copy);
}

static char *print_mem(const struct lr_uapi_config *cfg, size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);

	if (!f || lr_uapi_config_print(cfg, f) != 0)
		abort();
	fclose(f);
	return text;
}

/* What the parser accepted prints without error, parses back as a get reply without error,
 * and prints the same text again. */
static void check_print(const struct lr_uapi_config *cfg, FILE *devnull)
{
	struct lr_uapi_config back;
	char *first, *second;
	size_t first_len, second_len;

	if (lr_uapi_config_print(cfg, devnull) != 0)
		abort();
	first = print_mem(cfg, &first_len);
	lr_uapi_config_init(&back);
	for (char *line = first, *nl; *line; line = nl + 1) {
		nl = strchr(line, '\n');
		if (!nl)
			abort();
		*nl = '\0';
		if (lr_uapi_config_parse_line(&back, LR_UAPI_GET, line) != 0)
			abort();
		*nl = '\n';
	}
	second = print_mem(&back, &second_len);
	if (first_len != second_len || memcmp(first, second, first_len) != 0)
		abort();
	lr_uapi_config_free(&back);
	free(first);
	free(second);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct lr_uapi_config cfg;

	if (!devnull) {
		if (sodium_init() < 0)
			abort();
		devnull = fopen("/dev/null", "w");
		if (!devnull)
			abort();
	}
	for (int mode = LR_UAPI_SET; mode <= LR_UAPI_GET; mode++) {
		lr_uapi_config_init(&cfg);
		parse_all(&cfg, (enum lr_uapi_mode)mode, (const char *)data, size);
		check_print(&cfg, devnull);
		lr_uapi_config_free(&cfg);
	}
	return 0;
}
