/* net_testsrv: a loopback HTTP server (libevent evhttp on 127.0.0.1:0) for the network unit tests,
 * running in the test's own event_base. It records every request it receives (method, URI,
 * headers, body, arrival time, client port) so tests assert on real wire traffic; a handler
 * chosen by the test decides the reply. Header-only: each test binary includes it once. */
#ifndef EZ_NET_TESTSRV_H
#define EZ_NET_TESTSRV_H

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TESTSRV_MAX 4096

struct testsrv_req {
    char method[16];
    char uri[512];
    char headers[2048];   /* "name: value\n" lines, names lower-cased */
    char *body;
    size_t body_len;
    double t;             /* arrival, CLOCK_MONOTONIC seconds */
    int peer_port;
};

struct testsrv;
/* Replies with testsrv_reply, or deliberately does not (the request then hangs until stop). */
typedef void (*testsrv_handler)(struct testsrv *s, struct evhttp_request *req,
                                const struct testsrv_req *rec, void *ud);

struct testsrv {
    struct event_base *base;
    struct evhttp *http;
    int port;
    testsrv_handler handler;
    void *ud;
    struct testsrv_req reqs[TESTSRV_MAX];
    int nreq;
};

static inline double testsrv_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void testsrv_dispatch(struct evhttp_request *req, void *arg)
{
    struct testsrv *s = arg;
    struct testsrv_req *r = &s->reqs[s->nreq < TESTSRV_MAX ? s->nreq : TESTSRV_MAX - 1];
    static const char *methods[] = { "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE",
                                     "CONNECT", "PATCH" };
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    int mi = 0;
    while (mi < 9 && (1 << mi) != (int)cmd) mi++;
    free(r->body);
    memset(r, 0, sizeof *r);
    snprintf(r->method, sizeof r->method, "%s", mi < 9 ? methods[mi] : "?");
    snprintf(r->uri, sizeof r->uri, "%s", evhttp_request_get_uri(req));
    size_t off = 0;
    struct evkeyval *kv;
    for (kv = evhttp_request_get_input_headers(req)->tqh_first; kv; kv = kv->next.tqe_next) {
        int n = snprintf(r->headers + off, sizeof r->headers - off, "%s: %s\n", kv->key, kv->value);
        for (int i = 0; i < n && off + (size_t)i < sizeof r->headers && kv->key[i]; i++)
            if (r->headers[off + i] >= 'A' && r->headers[off + i] <= 'Z') r->headers[off + i] += 32;
        if (n < 0 || off + (size_t)n >= sizeof r->headers) break;
        off += (size_t)n;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    r->body_len = evbuffer_get_length(in);
    r->body = malloc(r->body_len + 1);
    evbuffer_copyout(in, r->body, r->body_len);
    r->body[r->body_len] = '\0';
    r->t = testsrv_now();
    char *host;
    ev_uint16_t port = 0;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &host, &port);
    r->peer_port = port;
    if (s->nreq < TESTSRV_MAX) s->nreq++;
    s->handler(s, req, r, s->ud);
}

/* Replies with status, an optional extra header ("Name: value" or NULL) and a body. */
static inline void testsrv_reply(struct evhttp_request *req, int status, const char *header,
                                 const char *body)
{
    struct evbuffer *out = evbuffer_new();
    if (header) {
        char name[128];
        const char *colon = strchr(header, ':');
        snprintf(name, sizeof name, "%.*s", (int)(colon - header), header);
        const char *v = colon + 1;
        while (*v == ' ') v++;
        evhttp_add_header(evhttp_request_get_output_headers(req), name, v);
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    if (body) evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Status", out);
    evbuffer_free(out);
}

static inline int testsrv_start(struct testsrv *s, struct event_base *base, testsrv_handler h,
                                void *ud)
{
    memset(s, 0, sizeof *s);
    s->base = base;
    s->handler = h;
    s->ud = ud;
    s->http = evhttp_new(base);
    if (!s->http) return -1;
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(s->http, testsrv_dispatch, s);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0);
    if (!bs) return -1;
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len);
    s->port = ntohs(sin.sin_port);
    return 0;
}

static inline void testsrv_stop(struct testsrv *s)
{
    if (s->http) evhttp_free(s->http);
    s->http = NULL;
    for (int i = 0; i < TESTSRV_MAX; i++) {
        free(s->reqs[i].body);
        s->reqs[i].body = NULL;
    }
}

static inline int testsrv_distinct_peers(const struct testsrv *s)
{
    int n = 0;
    for (int i = 0; i < s->nreq; i++) {
        int seen = 0;
        for (int j = 0; j < i; j++) seen |= s->reqs[j].peer_port == s->reqs[i].peer_port;
        n += !seen;
    }
    return n;
}

/* The value of a recorded header (name lower-case), or NULL; copied into a static buffer. */
static inline const char *testsrv_header(const struct testsrv_req *r, const char *name)
{
    static char v[512];
    size_t n = strlen(name);
    for (const char *p = r->headers; *p; p = strchr(p, '\n') + 1) {
        if (strncmp(p, name, n) == 0 && p[n] == ':') {
            const char *e = strchr(p, '\n');
            snprintf(v, sizeof v, "%.*s", (int)(e - p - n - 2), p + n + 2);
            return v;
        }
        if (!strchr(p, '\n')) break;
    }
    return NULL;
}

static inline void testsrv_loopbreak(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    *(int *)arg = 1;
}

/* Runs the loop until *flag becomes non-zero or timeout_ms passes. Returns 1 if the flag is set. */
static inline int testsrv_run_until(struct event_base *base, const int *flag, long timeout_ms)
{
    int expired = 0;
    struct event *guard = evtimer_new(base, testsrv_loopbreak, &expired);
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    evtimer_add(guard, &tv);
    while (!*flag && !expired) event_base_loop(base, EVLOOP_ONCE);
    event_free(guard);
    return *flag != 0;
}

/* Canned replies: the i-th request gets list[min(i, n - 1)]. */
struct testsrv_canned {
    int status;              /* 0 = never answer */
    const char *header;      /* "Name: value" or NULL */
    const char *body;
};
struct testsrv_script {
    const struct testsrv_canned *list;
    int n;
};

static inline void testsrv_canned_handler(struct testsrv *s, struct evhttp_request *req,
                                          const struct testsrv_req *r, void *ud)
{
    (void)r;
    struct testsrv_script *sc = ud;
    int i = s->nreq - 1 < sc->n - 1 ? s->nreq - 1 : sc->n - 1;
    if (sc->list[i].status == 0) return;
    testsrv_reply(req, sc->list[i].status, sc->list[i].header, sc->list[i].body);
}

/* A loopback port nothing listens on (bound, then closed). */
static inline int testsrv_dead_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof sin;
    bind(fd, (struct sockaddr *)&sin, sizeof sin);
    getsockname(fd, (struct sockaddr *)&sin, &len);
    close(fd);
    return ntohs(sin.sin_port);
}

#endif
