/* Logging for the daemon's edges (never called per packet): stderr in the foreground, syslog
 * when detached. Secrets never go through here. */
#ifndef LR_COMMON_LOG_H
#define LR_COMMON_LOG_H

enum lr_log_level { LR_LOG_ERROR = 0, LR_LOG_INFO = 1, LR_LOG_DEBUG = 2 };

void lr_log_setup(const char *ident, enum lr_log_level level, int use_syslog);
void lr_log(enum lr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define lr_err(...) lr_log(LR_LOG_ERROR, __VA_ARGS__)
#define lr_info(...) lr_log(LR_LOG_INFO, __VA_ARGS__)
#define lr_debug(...) lr_log(LR_LOG_DEBUG, __VA_ARGS__)

#endif
