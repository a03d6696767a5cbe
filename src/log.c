/* log: see log.h. Lines are built in memory, scrubbed of secrets, then written with one
 * fwrite so concurrent writers (child processes sharing stderr) never interleave a line. */
#include "log.h"

#include "strbuf.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG_MAX_SECRETS 16

struct log_state {
    enum log_level level;
    enum log_format format;
    FILE *out;
    char *secrets[LOG_MAX_SECRETS];
    int nsecrets;
};

/* The one process-wide sink; see the header for why this is not passed around. */
static struct log_state L = { LOG_INFO, LOG_LOGFMT, NULL, { 0 }, 0 };

static const char *level_names[] = { "debug", "info", "warn", "error" };

void log_setup(enum log_level level, enum log_format format, FILE *out)
{
    L.level = level;
    L.format = format;
    L.out = out;
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) { *out = (enum log_level)i; return 0; }
    return -1;
}

int log_format_parse(const char *s, enum log_format *out)
{
    if (strcmp(s, "logfmt") == 0) { *out = LOG_LOGFMT; return 0; }
    if (strcmp(s, "json") == 0) { *out = LOG_JSON; return 0; }
    return -1;
}

int log_enabled(enum log_level level) { return level >= L.level; }

void log_add_secret(const char *secret)
{
    if (!secret || strlen(secret) < 4 || L.nsecrets == LOG_MAX_SECRETS) return;
    for (int i = 0; i < L.nsecrets; i++)
        if (strcmp(L.secrets[i], secret) == 0) return;
    char *copy = strdup(secret);
    if (copy) L.secrets[L.nsecrets++] = copy;
}

void log_clear_secrets(void)
{
    for (int i = 0; i < L.nsecrets; i++) free(L.secrets[i]);
    L.nsecrets = 0;
}

static void put_json_string(struct strbuf *b, const char *s)
{
    strbuf_put(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char esc[8];
        if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; strbuf_put(b, esc, 2); }
        else if (c == '\n') strbuf_put(b, "\\n", 2);
        else if (c == '\r') strbuf_put(b, "\\r", 2);
        else if (c == '\t') strbuf_put(b, "\\t", 2);
        else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); strbuf_puts(b, esc); }
        else strbuf_put(b, (const char *)&c, 1);
    }
    strbuf_put(b, "\"", 1);
}

/* logfmt quotes a value that has spaces, quotes, '=' or control characters. */
static void put_logfmt_value(struct strbuf *b, const char *s)
{
    int quote = *s == '\0';
    for (const char *p = s; *p && !quote; p++)
        if (*p == ' ' || *p == '"' || *p == '=' || (unsigned char)*p < 0x20) quote = 1;
    if (quote) put_json_string(b, s);
    else strbuf_puts(b, s);
}

static void put_field(struct strbuf *b, const char *key, const char *value)
{
    if (L.format == LOG_JSON) {
        strbuf_put(b, ",", 1);
        put_json_string(b, key);
        strbuf_put(b, ":", 1);
        put_json_string(b, value);
    } else {
        strbuf_put(b, " ", 1);
        strbuf_puts(b, key);
        strbuf_put(b, "=", 1);
        put_logfmt_value(b, value);
    }
}

/* Replace every occurrence of every secret; "[REDACTED]" may be longer than the secret, so
 * the buffer is rebuilt. Runs on the finished line, and on each raw value before it is
 * escaped (scrub_raw), so a secret containing characters that escaping changes cannot leak. */
static void scrub(struct strbuf *b)
{
    for (int i = 0; i < L.nsecrets; i++) {
        const char *sec = L.secrets[i];
        size_t n = strlen(sec);
        if (!b->p || !strstr(b->p, sec)) continue;
        struct strbuf out = { 0 };
        const char *p = b->p, *hit;
        while ((hit = strstr(p, sec))) {
            strbuf_put(&out, p, (size_t)(hit - p));
            strbuf_puts(&out, "[REDACTED]");
            p = hit + n;
        }
        strbuf_puts(&out, p);
        free(b->p);
        *b = out;
    }
}

static const char *scrub_raw(const char *v, char **owned)
{
    *owned = NULL;
    for (int i = 0; i < L.nsecrets; i++) {
        if (strstr(v, L.secrets[i])) {
            struct strbuf tmp = { 0 };
            strbuf_puts(&tmp, v);
            scrub(&tmp);
            *owned = tmp.p;
            return tmp.p ? tmp.p : "";
        }
    }
    return v;
}

void log_kv(enum log_level level, const char *msg, ...)
{
    if (level < L.level) return;
    struct strbuf b = { 0 };
    char ts[40];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

    char *owned;
    if (L.format == LOG_JSON) {
        strbuf_puts(&b, "{\"ts\":\"");
        strbuf_puts(&b, ts);
        strbuf_puts(&b, "\",\"level\":\"");
        strbuf_puts(&b, level_names[level]);
        strbuf_puts(&b, "\"");
        put_field(&b, "msg", scrub_raw(msg, &owned));
    } else {
        strbuf_puts(&b, "ts=");
        strbuf_puts(&b, ts);
        strbuf_puts(&b, " level=");
        strbuf_puts(&b, level_names[level]);
        put_field(&b, "msg", scrub_raw(msg, &owned));
    }
    free(owned);

    va_list ap;
    va_start(ap, msg);
    for (;;) {
        const char *key = va_arg(ap, const char *);
        if (!key) break;
        const char *value = va_arg(ap, const char *);
        put_field(&b, key, scrub_raw(value ? value : "", &owned));
        free(owned);
    }
    va_end(ap);
    if (L.format == LOG_JSON) strbuf_put(&b, "}", 1);
    strbuf_put(&b, "\n", 1);
    scrub(&b);
    if (b.p) {
        FILE *out = L.out ? L.out : stderr;
        fwrite(b.p, 1, b.len, out);
        fflush(out);
    }
    free(b.p);
}
