/* log: levelled, one-line records in logfmt or JSON, with secret redaction.
 * Owns the process-wide log sink (like stderr, there is exactly one); everything else logs
 * through log_kv() with key/value string pairs so both formats carry the same fields. */
#ifndef EZ_LOG_H
#define EZ_LOG_H

#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_LOGFMT, LOG_JSON };

/* out == NULL means stderr. */
void log_setup(enum log_level level, enum log_format format, FILE *out);
int log_level_parse(const char *s, enum log_level *out);
int log_format_parse(const char *s, enum log_format *out);
int log_enabled(enum log_level level);

/* A value that must never be printed; every line is scrubbed of it. Strings shorter than
 * four bytes are ignored (they would redact ordinary words). The log keeps its own copy. */
void log_add_secret(const char *secret);
void log_clear_secrets(void);

/* msg, then key, value, key, value, ..., NULL. A NULL value prints as an empty string. */
void log_kv(enum log_level level, const char *msg, ...);

#define log_debug(...) log_kv(LOG_DEBUG, __VA_ARGS__, (const char *)0)
#define log_info(...)  log_kv(LOG_INFO,  __VA_ARGS__, (const char *)0)
#define log_warn(...)  log_kv(LOG_WARN,  __VA_ARGS__, (const char *)0)
#define log_error(...) log_kv(LOG_ERROR, __VA_ARGS__, (const char *)0)

#endif
