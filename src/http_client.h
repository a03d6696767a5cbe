/* http_client: asynchronous outbound HTTP (and SMTP) for the whole process.
 * Owns one libcurl multi handle driven by the service's libevent loop through the socket API
 * (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION): no blocking call, no thread, one connection cache so
 * keep-alive connections are reused across requests. TLS verification is always on. */
#ifndef EZ_HTTP_CLIENT_H
#define EZ_HTTP_CLIENT_H

#include <stddef.h>
#include <time.h>

struct event_base;
struct http_client;

struct http_client_opts {
    long connect_timeout_ms;     /* 0 = 5000 */
    long timeout_ms;             /* total, used when a request says 0; 0 = 30000 */
    long max_host_connections;   /* parallel connections per host; 0 = 8 */
    size_t max_response_bytes;   /* larger bodies fail the request; 0 = 32 MiB */
    const char *ca_file;         /* extra CA bundle (PEM); NULL = system store */
    const char *user_agent;      /* NULL = "ezsync/<version>" */
};

struct http_request {
    const char *method;                 /* NULL = GET */
    const char *url;                    /* http:// or https:// only */
    const char *const *headers;         /* "Name: value", NULL-terminated; may be NULL */
    const char *body;                   /* may be NULL */
    size_t body_len;
    long timeout_ms;                    /* total; 0 = the client's default */
};

struct http_response {
    long status;             /* HTTP status; 0 = transport error (see error) */
    const char *body;        /* NUL-terminated for convenience; never NULL */
    size_t body_len;
    const char *error;       /* transport error text, NULL when status != 0 */
    double retry_after_s;    /* Retry-After in seconds ("2.0" or an HTTP-date); -1 when absent */
};

/* res (and everything it points to) is valid only during the call. */
typedef void (*http_done_fn)(void *ud, const struct http_response *res);

/* opts may be NULL (all defaults). Returns 0, or -1 when libcurl cannot be set up. */
int http_client_new(struct http_client **out, struct event_base *base,
                    const struct http_client_opts *opts);

/* Queues the request; everything in req is copied. done is always called exactly once, from the
 * event loop (never from inside this call). Returns -1 (and never calls done) on a malformed
 * request (no URL, CR/LF in a header) or when the client is being freed. */
int http_client_send(struct http_client *c, const struct http_request *req, http_done_fn done,
                     void *ud);

/* An e-mail over SMTP(S) through the same multi. payload is the whole RFC 5322 message with CRLF
 * line ends. status is the server's last reply code (250 on success; 4xx/5xx when it refused,
 * with error set), or 0 on a transport error. */
struct http_mail {
    const char *url;                    /* smtp://host:port or smtps://host:port */
    const char *username, *password;    /* NULL = no AUTH; with AUTH, TLS is required */
    const char *from;                   /* envelope sender, bare address */
    const char *const *rcpt;            /* envelope recipients, NULL-terminated */
    const char *payload;
    size_t payload_len;
    long timeout_ms;
};
int http_client_send_mail(struct http_client *c, const struct http_mail *mail, http_done_fn done,
                          void *ud);

size_t http_client_inflight(const struct http_client *c);

/* New TCP connections opened so far (a low number under load means keep-alive works). */
unsigned long http_client_connections_opened(const struct http_client *c);

/* Cancels in-flight requests (their callbacks get status 0, error "cancelled") and frees.
 * May be called from inside a done callback; the free then completes when that callback returns. */
void http_client_free(struct http_client *c);

/* ---- the common result of the remote adapters (shopify, orderez, notify) ---- */

enum remote_class { REMOTE_OK, REMOTE_TRANSIENT, REMOTE_PERMANENT };

struct remote_result {
    enum remote_class cls;
    long status;            /* HTTP (or SMTP) status; 0 = transport error or cancelled */
    const char *body;       /* the remote's answer, "" when none */
    size_t body_len;
    const char *error;      /* why, when cls != REMOTE_OK; never contains a secret */
    double retry_after_s;   /* the answer's Retry-After in seconds; <= 0 when none */
};
/* res is valid only during the call. */
typedef void (*remote_done_fn)(void *ud, const struct remote_result *res);

/* By status alone: 2xx OK; 0, 408, 429 and 5xx TRANSIENT; everything else PERMANENT. */
enum remote_class http_client_classify(long status);

/* Retry-After value -> seconds from now: "2", "2.0" or an IMF-fixdate; -1 when unparsable. */
double http_client_parse_retry_after(const char *value, time_t now);

#endif
