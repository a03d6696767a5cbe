/* notify: the notification sinks, Slack (incoming webhook) and e-mail (SMTP through libcurl,
 * asynchronous in the shared multi). Owns one token-bucket limiter per channel. */
#ifndef EZ_NOTIFY_H
#define EZ_NOTIFY_H

#include "http_client.h"

#include <time.h>

struct config;
struct event_base;
struct notify;
struct ratelimit;

struct notify_opts {
    const char *slack_webhook_url;   /* secret (the URL is the credential); NULL = no Slack */
    const char *smtp_url;            /* smtp://host:port or smtps://...; NULL = no e-mail */
    const char *smtp_user;           /* NULL = no AUTH */
    const char *smtp_password;       /* secret */
    const char *email_from;          /* bare address */
    const char *email_to;            /* comma-separated bare addresses */
    double rate;                     /* messages per second per channel; 0 = 1 (burst 5) */
    int max_429_retries;             /* Slack 429s waited out per message; 0 = 3 */
    long timeout_ms;                 /* 0 = the http_client's default */
};

void notify_opts_from_config(struct notify_opts *o, const struct config *cfg);

int notify_new(struct notify **out, struct event_base *base, struct http_client *http,
               const struct notify_opts *o);

/* channel "slack" | "email". message_json: a JSON string (the text) or an object
 * {"text": "...", "subject": "..." (e-mail; default: the text's first line),
 *  "blocks": [...] (Slack, passed through)}. Slack: 2xx OK, 429 waited out then TRANSIENT,
 * 5xx/transport TRANSIENT, other 4xx PERMANENT. E-mail: SMTP 2xx OK, 4xx/transport TRANSIENT,
 * 5xx PERMANENT. Returns -1 (no callback) for an unknown or unconfigured channel or a message
 * without text. */
int notify_send(struct notify *n, const char *channel, const char *message_json,
                remote_done_fn cb, void *ud);

/* The RFC 5322 message notify_send mails (exposed for tests): CRLF lines, Date, Message-ID,
 * RFC 2047 UTF-8 subject, base64 UTF-8 body. Returns a malloc'd string or NULL. */
char *notify_format_email(const char *from, const char *to, const char *subject,
                          const char *text, time_t now);

struct ratelimit *notify_limiter(struct notify *n, const char *channel);

/* Pending messages get TRANSIENT "cancelled". Not from inside one of its callbacks. */
void notify_free(struct notify *n);

#endif
