/* lanraged: the engine daemon. Same command line as wireguard-go: lanraged [-f] IFNAME. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/timing.h"
#include "controlplane/device.h"

#define LANRAGED_VERSION "0.1.0"

static void usage(FILE *out)
{
	fprintf(out, "Usage: lanraged [-f|--foreground] [--workers N] INTERFACE-NAME\n"
		     "       lanraged --version\n"
		     "\n"
		     "Creates the TUN device INTERFACE-NAME and the UAPI socket\n"
		     "/var/run/wireguard/INTERFACE-NAME.sock; configure it with wg(8).\n"
		     "--workers N: data-plane workers (default: one per CPU, at most %d;\n"
		     "             LR_WORKERS=N sets the default, e.g. under wg-quick).\n"
		     "Environment: LOG_LEVEL=error|info|debug (default info).\n",
		LR_MAX_WORKERS);
}

static enum lr_log_level log_level_from_env(void)
{
	const char *v = getenv("LOG_LEVEL");

	if (!v)
		return LR_LOG_INFO;
	if (!strcmp(v, "debug") || !strcmp(v, "verbose"))
		return LR_LOG_DEBUG;
	if (!strcmp(v, "error") || !strcmp(v, "silent"))
		return LR_LOG_ERROR;
	return LR_LOG_INFO;
}

/* Forks; the parent waits for the child to report that the interface and socket exist, so
 * that `lanraged wg0 && wg setconf wg0 ...` (what wg-quick does) never races. Returns the fd
 * the child reports on, or -1 in the parent's error path (which exits). */
static int detach(void)
{
	int fds[2];
	pid_t pid;
	char status = 1;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		perror("lanraged: pipe");
		exit(1);
	}
	pid = fork();
	if (pid < 0) {
		perror("lanraged: fork");
		exit(1);
	}
	if (pid > 0) {
		close(fds[1]);
		if (read(fds[0], &status, 1) != 1)
			status = 1;
		exit(status);
	}
	close(fds[0]);
	setsid();
	return fds[1];
}

static void report_ready(int fd, char status)
{
	int null;

	if (fd < 0)
		return;
	if (write(fd, &status, 1) != 1) {
		/* The parent is gone; nothing to tell. */
	}
	close(fd);
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		close(null);
	}
}

/* NULL: one worker per online CPU. */
static int parse_workers(const char *arg, unsigned *out)
{
	char *end;
	unsigned long n;

	if (!arg || !*arg) {
		long cpus = sysconf(_SC_NPROCESSORS_ONLN);

		*out = cpus < 1 ? 1 : cpus > LR_MAX_WORKERS ? LR_MAX_WORKERS : (unsigned)cpus;
		return 0;
	}
	n = strtoul(arg, &end, 10);
	if (*end || n < 1 || n > LR_MAX_WORKERS)
		return -EINVAL;
	*out = (unsigned)n;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "foreground", no_argument, NULL, 'f' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "workers", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct lr_device dev;
	bool foreground = false;
	int c, ret, ready_fd = -1;
	const char *workers_arg = getenv("LR_WORKERS");
	unsigned n_workers;

	while ((c = getopt_long(argc, argv, "fh", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			foreground = true;
			break;
		case 'v':
			printf("lanraged %s\n", LANRAGED_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		case 'w':
			workers_arg = optarg;
			break;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc - 1) {
		usage(stderr);
		return 1;
	}
	if (strlen(argv[optind]) >= IFNAMSIZ) {
		fprintf(stderr, "lanraged: interface name `%s' is longer than %d characters\n",
			argv[optind], IFNAMSIZ - 1);
		return 1;
	}
	if (parse_workers(workers_arg, &n_workers)) {
		fprintf(stderr, "lanraged: --workers `%s' is not a number from 1 to %d\n",
			workers_arg, LR_MAX_WORKERS);
		return 1;
	}
	if (sodium_init() < 0 || lr_noise_init()) {
		fprintf(stderr, "lanraged: cannot initialise libsodium\n");
		return 1;
	}
	if (lr_timing_init(&lr_timing)) {
		fprintf(stderr, "lanraged: LR_TEST_TIMER_DIVISOR must be an integer 1..1000\n");
		return 1;
	}
	lr_log_setup("lanraged", log_level_from_env(), !foreground);
	if (!foreground)
		ready_fd = detach();
	ret = lr_device_create(&dev, argv[optind], NULL, n_workers);
	if (ret) {
		lr_err("cannot create interface %s: %s", argv[optind], strerror(-ret));
		if (!foreground)
			fprintf(stderr, "lanraged: cannot create interface %s: %s\n", argv[optind],
				strerror(-ret));
		report_ready(ready_fd, 1);
		return 1;
	}
	if (lr_timing.divisor != 1)
		lr_info("test mode: protocol timers divided by %u", lr_timing.divisor);
	lr_info("interface %s up, listening on UDP port %u, %u worker%s", dev.ifname,
		dev.listen_port, n_workers, n_workers == 1 ? "" : "s");
	report_ready(ready_fd, 0);
	ret = lr_device_run(&dev);
	lr_device_destroy(&dev);
	lr_info("interface %s removed", argv[optind]);
	return ret ? 1 : 0;
}
