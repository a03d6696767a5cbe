/* notify: see notify.h. Both channels share the call plumbing (limiter -> send -> classify);
 * only the payload and the transport differ (HTTP POST vs. SMTP upload in the same multi). */
#include "notify.h"

#include "strbuf.h"

#include "config.h"
#include "ratelimit.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CH_SLACK, CH_EMAIL, CH_N };

struct nt_call {
    struct notify *n;            /* NULL once orphaned by notify_free while in flight */
    struct nt_call *prev, *next;
    int ch;
    char *payload;
    size_t len;
    int tries;
    remote_done_fn cb;
    void *ud;
};

struct notify {
    struct http_client *http;
    struct ratelimit *rl[CH_N];
    char *slack_url;
    char *smtp_url, *smtp_user, *smtp_password, *from, *to;
    char **rcpt;                 /* NULL-terminated, split from email_to */
    int max_retries;
    long timeout_ms;
    struct nt_call *calls;
    int closing;
};

void notify_opts_from_config(struct notify_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof *o);
    o->slack_webhook_url = cfg->notify_slack_webhook_url;
    o->smtp_url = cfg->notify_smtp_url;
    o->smtp_user = cfg->notify_smtp_user;
    o->smtp_password = cfg->notify_smtp_password;
    o->email_from = cfg->notify_email_from;
    o->email_to = cfg->notify_email_to;
    o->rate = cfg->notify_rate;
    o->timeout_ms = cfg->http_timeout_ms;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

/* "a@x, b@y" -> { "a@x", "b@y", NULL } */
static char **split_rcpt(const char *list)
{
    size_t n = 1, k = 0;
    for (const char *p = list; *p; p++) n += *p == ',';
    char **v = calloc(n + 1, sizeof *v);
    if (!v) return NULL;
    for (const char *p = list; *p;) {
        p += strspn(p, " \t,");
        size_t len = strcspn(p, ",");
        while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t')) len--;
        if (len) v[k++] = strndup(p, len);
        p += strcspn(p, ",");
    }
    return v;
}

static void free_rcpt(char **v)
{
    for (size_t i = 0; v && v[i]; i++) free(v[i]);
    free(v);
}

int notify_new(struct notify **out, struct event_base *base, struct http_client *http,
               const struct notify_opts *o)
{
    struct notify *n = calloc(1, sizeof *n);
    *out = NULL;
    if (!n) return -1;
    n->http = http;
    n->max_retries = o->max_429_retries > 0 ? o->max_429_retries : 3;
    n->timeout_ms = o->timeout_ms;
    n->slack_url = dup_or_null(o->slack_webhook_url);
    if (o->smtp_url && o->email_from && o->email_to) {
        n->smtp_url = strdup(o->smtp_url);
        n->smtp_user = dup_or_null(o->smtp_user);
        n->smtp_password = dup_or_null(o->smtp_password);
        n->from = strdup(o->email_from);
        n->to = strdup(o->email_to);
        n->rcpt = split_rcpt(o->email_to);
        if (!n->smtp_url || !n->from || !n->to || !n->rcpt || !n->rcpt[0]) goto fail;
    }
    double rate = o->rate > 0 ? o->rate : 1;
    for (int ch = 0; ch < CH_N; ch++) {
        struct ratelimit_opts ro = { .kind = RATELIMIT_TOKEN,
                                     .name = ch == CH_SLACK ? "slack" : "smtp",
                                     .rate = rate, .burst = 5 };
        if (ratelimit_new(&n->rl[ch], base, &ro)) goto fail;
    }
    *out = n;
    return 0;
fail:
    notify_free(n);
    return -1;
}

/* ---- the e-mail ------------------------------------------------------------------------- */

static char *b64(const unsigned char *in, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    if (out) EVP_EncodeBlock((unsigned char *)out, in, (int)len);
    return out;
}



/* Longest prefix of s (at most max bytes) that does not split a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t len, size_t max)
{
    if (len <= max) return len;
    size_t k = max;
    while (k > 0 && ((unsigned char)s[k] & 0xC0) == 0x80) k--;
    return k ? k : max;
}

/* RFC 2047: plain when printable ASCII, else folded =?UTF-8?B?...?= words of <= 75 chars. */
static void put_subject(struct strbuf *b, const char *subject)
{
    char clean[1024];
    size_t len = 0;
    int ascii = 1;
    for (const char *p = subject; *p && len < sizeof clean - 1; p++) {
        unsigned char ch = (unsigned char)*p;
        clean[len++] = ch < 0x20 || ch == 0x7f ? ' ' : (char)ch; /* no header injection */
        if (ch >= 0x80) ascii = 0;
    }
    clean[len] = '\0';
    strbuf_puts(b, "Subject: ");
    if (ascii && len <= 900) {
        strbuf_put(b, clean, len);
    } else {
        for (size_t off = 0, first = 1; off < len; first = 0) {
            size_t k = utf8_cut(clean + off, len - off, 39); /* 52 chars: lines stay <= 76 */
            char *enc = b64((const unsigned char *)clean + off, k);
            if (!first) strbuf_puts(b, "\r\n ");
            strbuf_puts(b, "=?UTF-8?B?");
            strbuf_puts(b, enc ? enc : "");
            strbuf_puts(b, "?=");
            free(enc);
            off += k;
        }
    }
    strbuf_puts(b, "\r\n");
}

char *notify_format_email(const char *from, const char *to, const char *subject,
                          const char *text, time_t now)
{
    static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
    static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug",
                                     "Sep", "Oct", "Nov", "Dec" };
    struct strbuf b = { 0 };
    struct tm tm;
    char line[512], id[25];
    unsigned char rnd[12];
    const char *at = strrchr(from, '@');

    if (strpbrk(from, "\r\n") || strpbrk(to, "\r\n")) return NULL;
    gmtime_r(&now, &tm);
    snprintf(line, sizeof line, "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
             days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
    strbuf_puts(&b, line);
    snprintf(line, sizeof line, "From: <%.200s>\r\nTo: %.280s\r\n", from, to);
    strbuf_puts(&b, line);
    put_subject(&b, subject);
    if (RAND_bytes(rnd, sizeof rnd) != 1) goto fail;
    for (size_t i = 0; i < sizeof rnd; i++) snprintf(id + 2 * i, 3, "%02x", rnd[i]);
    snprintf(line, sizeof line, "Message-ID: <%s.%lld@%.200s>\r\n", id, (long long)now,
             at && at[1] ? at + 1 : "ezsync.invalid");
    strbuf_puts(&b, line);
    strbuf_puts(&b, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=UTF-8\r\n"
                "Content-Transfer-Encoding: base64\r\n\r\n");
    /* base64 keeps any UTF-8 and any line length safe over any relay; 57 bytes -> 76 chars. */
    size_t tlen = strlen(text);
    for (size_t off = 0; off < tlen; off += 57) {
        char *enc = b64((const unsigned char *)text + off, tlen - off < 57 ? tlen - off : 57);
        if (!enc) goto fail;
        strbuf_puts(&b, enc);
        strbuf_puts(&b, "\r\n");
        free(enc);
    }
    if (b.oom) goto fail;
    return b.p;
fail:
    free(b.p);
    return NULL;
}

/* ---- calls -------------------------------------------------------------------------------- */

static void call_finish(struct nt_call *c, enum remote_class cls, long status, const char *body,
                        size_t body_len, const char *error)
{
    struct remote_result r = { cls, status, body ? body : "", body ? body_len : 0, error, 0 };
    if (c->n) {
        if (c->prev) c->prev->next = c->next;
        else c->n->calls = c->next;
        if (c->next) c->next->prev = c->prev;
    }
    if (c->cb) c->cb(c->ud, &r); /* NULL: told "cancelled" by notify_free already */
    free(c->payload);
    free(c);
}

static void on_admitted(void *ud, int admitted);

static void on_sent(void *ud, const struct http_response *res)
{
    struct nt_call *c = ud;
    struct notify *n = c->n;
    char err[320];
    enum remote_class cls;

    if (!n) {
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, NULL);
        return;
    }
    if (c->ch == CH_SLACK && res->status == 429) {
        ratelimit_on_429(n->rl[CH_SLACK], res->retry_after_s);
        if (c->tries++ < n->max_retries &&
            ratelimit_reacquire(n->rl[CH_SLACK], 1, RATELIMIT_REPORTS, on_admitted, c) == 0)
            return;
    }
    if (c->ch == CH_EMAIL)
        cls = res->status >= 200 && res->status < 400 ? REMOTE_OK
              : res->status >= 500 ? REMOTE_PERMANENT : REMOTE_TRANSIENT;
    else
        cls = http_client_classify(res->status);
    if (res->error) snprintf(err, sizeof err, "%s", res->error);
    else snprintf(err, sizeof err, "%s %ld: %.200s", c->ch == CH_SLACK ? "HTTP" : "SMTP",
                  res->status, res->body);
    call_finish(c, cls, res->status, res->body, res->body_len, cls == REMOTE_OK ? NULL : err);
}

static void on_admitted(void *ud, int admitted)
{
    struct nt_call *c = ud;
    struct notify *n = c->n;
    int rc;
    if (!admitted) {
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, "cancelled");
        return;
    }
    if (c->ch == CH_SLACK) {
        const char *hdrs[] = { "Content-Type: application/json", NULL };
        struct http_request req = { "POST", n->slack_url, hdrs, c->payload, c->len, n->timeout_ms };
        rc = http_client_send(n->http, &req, on_sent, c);
    } else {
        struct http_mail m = { n->smtp_url, n->smtp_user, n->smtp_password, n->from,
                               (const char *const *)n->rcpt, c->payload, c->len, n->timeout_ms };
        rc = http_client_send_mail(n->http, &m, on_sent, c);
    }
    if (rc) call_finish(c, REMOTE_PERMANENT, 0, NULL, 0, "message refused by the http client");
}

/* The subject when none is given: the text's first line, cut to 78 bytes. */
static char *first_line(const char *text)
{
    size_t len = strcspn(text, "\r\n");
    return strndup(text, utf8_cut(text, len, 78));
}

static char *build_payload(struct notify *n, int ch, json_t *msg, const char *text)
{
    if (ch == CH_SLACK) {
        json_t *out = json_pack("{s:s}", "text", text);
        json_t *blocks = json_object_get(msg, "blocks");
        if (out && json_is_array(blocks)) json_object_set(out, "blocks", blocks);
        char *s = out ? json_dumps(out, JSON_COMPACT) : NULL;
        json_decref(out);
        return s;
    }
    const char *subject = json_string_value(json_object_get(msg, "subject"));
    char *fallback = subject ? NULL : first_line(text);
    char *mail = notify_format_email(n->from, n->to, subject ? subject : fallback ? fallback : "",
                                     text, time(NULL));
    free(fallback);
    return mail;
}

int notify_send(struct notify *n, const char *channel, const char *message_json,
                remote_done_fn cb, void *ud)
{
    struct nt_call *c = NULL;
    json_t *msg = NULL;
    const char *text;
    int ch, rc = -1;

    if (n->closing || !channel || !message_json || !cb) return -1;
    if (strcmp(channel, "slack") == 0 && n->slack_url) ch = CH_SLACK;
    else if (strcmp(channel, "email") == 0 && n->smtp_url) ch = CH_EMAIL;
    else return -1;
    msg = json_loads(message_json, JSON_DECODE_ANY, NULL);
    text = json_is_string(msg) ? json_string_value(msg)
                               : json_string_value(json_object_get(msg, "text"));
    if (!text || !(c = calloc(1, sizeof *c))) goto cleanup;
    c->ch = ch;
    c->cb = cb;
    c->ud = ud;
    c->n = n;
    if (!(c->payload = build_payload(n, ch, msg, text))) goto cleanup;
    c->len = strlen(c->payload);
    /* Notifications are the least urgent traffic of their remote. */
    if (ratelimit_acquire(n->rl[ch], 1, RATELIMIT_REPORTS, on_admitted, c)) goto cleanup;
    c->next = n->calls;
    if (n->calls) n->calls->prev = c;
    n->calls = c;
    c = NULL;
    rc = 0;
cleanup:
    if (c) {
        free(c->payload);
        free(c);
    }
    json_decref(msg);
    return rc;
}

struct ratelimit *notify_limiter(struct notify *n, const char *channel)
{
    return strcmp(channel, "slack") == 0 ? n->rl[CH_SLACK] : n->rl[CH_EMAIL];
}

void notify_free(struct notify *n)
{
    if (!n) return;
    n->closing = 1;
    struct nt_call *c = n->calls, *next;
    n->calls = NULL;
    for (; c; c = next) {
        next = c->next;
        c->n = NULL;
        c->prev = c->next = NULL;
        struct remote_result r = { REMOTE_TRANSIENT, 0, "", 0, "cancelled", 0 };
        remote_done_fn cb = c->cb;
        c->cb = NULL;
        cb(c->ud, &r);
    }
    for (int ch = 0; ch < CH_N; ch++) ratelimit_free(n->rl[ch]);
    free(n->slack_url);
    free(n->smtp_url);
    free(n->smtp_user);
    free(n->smtp_password);
    free(n->from);
    free(n->to);
    free_rcpt(n->rcpt);
    free(n);
}
