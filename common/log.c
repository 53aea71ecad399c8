/* Logging backend: one line per message, to stderr or syslog. */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>
#include <time.h>

static enum lr_log_level log_level = LR_LOG_INFO;
static int log_to_syslog;
static const char *log_ident = "lanraged";

void lr_log_setup(const char *ident, enum lr_log_level level, int use_syslog)
{
	log_ident = ident;
	log_level = level;
	log_to_syslog = use_syslog;
	if (use_syslog)
		openlog(ident, LOG_PID, LOG_DAEMON);
}

void lr_log(enum lr_log_level level, const char *fmt, ...)
{
	static const int prio[] = { LOG_ERR, LOG_INFO, LOG_DEBUG };
	static const char *const tag[] = { "ERROR", "INFO", "DEBUG" };
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	if (log_to_syslog) {
		vsyslog(prio[level], fmt, ap);
	} else {
		char line[1024];
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		vsnprintf(line, sizeof(line), fmt, ap);
		fprintf(stderr, "%s: %s: %lld.%03ld: %s\n", log_ident, tag[level], (long long)ts.tv_sec,
			ts.tv_nsec / 1000000, line);
	}
	va_end(ap);
}
