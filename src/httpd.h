/* httpd: what both HTTP listeners share, on libevent's evhttp. Owns a listener (bind, limits,
 * timeouts, per-status response counting) and the reply/auth helpers. Uses metrics. */
#ifndef EZ_HTTPD_H
#define EZ_HTTPD_H

#include <stddef.h>

struct event_base;
struct evhttp;
struct evhttp_bound_socket;
struct evhttp_request;
struct metrics;
struct metric;

typedef void (*httpd_handler)(struct evhttp_request *req, void *ud);

struct httpd_listener {
    const char *name;              /* "public", "admin": log lines and metric labels */
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    char addr[80];                 /* the bound address, host:port (port 0 resolved) */
    int port;
    struct metrics *metrics;
    struct metric *by_code[6][100];/* ezsync_http_responses_total, by class and code % 100 */
    struct metric *connections;
};

/* Splits "host:port" or "[v6]:port". Returns 0, or -1 when malformed. */
int httpd_parse_hostport(const char *s, char *host, size_t hostlen, int *port);

/* Binds and starts serving; every request goes to fn. timeout_ms bounds reading a request and
 * writing its reply (slow or idle connections are closed); max_body caps the body (413).
 * Logs `listening name=... addr=...`. Returns 0, or -1 with the reason in err. */
int httpd_listen(struct httpd_listener *l, struct event_base *base, const char *name,
                 const char *hostport, long timeout_ms, long max_body, httpd_handler fn,
                 void *ud, struct metrics *m, char *err, size_t errlen);

/* Stops accepting new connections; open ones finish. */
void httpd_stop_accepting(struct httpd_listener *l);
/* Frees the server and every connection it still has. */
void httpd_close(struct httpd_listener *l);

/* Replies with a short body; type NULL means text/plain. */
void httpd_reply(struct evhttp_request *req, int code, const char *type, const char *body);
/* {"error":"<message>"}; message is a fixed string from the caller, never request data. */
void httpd_reply_error(struct evhttp_request *req, int code, const char *message);

/* 1 when the request carries `Authorization: Bearer <token>`, or Basic credentials whose
 * password is the token (a browser on the dashboard; any user name). The comparison runs on
 * SHA-256 digests with CRYPTO_memcmp, so neither content nor length of the token leaks. */
int httpd_bearer_ok(struct evhttp_request *req, const char *token);

/* The request path without query string ("/" when empty), into buf. */
const char *httpd_path(struct evhttp_request *req, char *buf, size_t len);
/* The same, not copied: valid while req is (the receiver's per-delivery path check). */
const char *httpd_path_ref(struct evhttp_request *req);

/* "GET", "POST", ... */
const char *httpd_method_name(int cmd);

#endif
