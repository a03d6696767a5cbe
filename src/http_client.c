/* http_client: see http_client.h. The libcurl multi "socket API" tells us which sockets to watch
 * (sock_cb) and when to wake it (timer_cb); libevent events call curl_multi_socket_action back.
 * Finished transfers are collected after every action and their callbacks run from the loop. */
#include "http_client.h"

#include "log.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "version.h" /* generated: EZ_VERSION from git describe */

#define HTTP_CLIENT_SMTP_REPLY_S 3L

struct sockctx {
    struct event *ev;
    struct sockctx *prev, *next;
};

struct xfer {
    struct http_client *c;
    struct xfer *prev, *next;
    CURL *easy;
    struct curl_slist *headers;   /* request headers, or the SMTP recipients */
    char *payload;                /* SMTP upload */
    size_t payload_len, payload_off;
    char *resp;
    size_t resp_len, resp_cap;
    int too_large;
    int is_mail;
    double retry_after;
    http_done_fn done;
    void *ud;
    char errbuf[CURL_ERROR_SIZE];
};

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct http_client_opts opts;
    char user_agent[64];
    struct xfer *xfers;           /* in flight, doubly linked */
    struct sockctx *socks;        /* every socket event we own */
    size_t inflight;
    unsigned long connects;
    int dispatching;              /* inside a done callback */
    int closing;                  /* http_client_free called */
};

static void client_destroy(struct http_client *c);

/* ---- completion ------------------------------------------------------------------------- */

static void xfer_unlink(struct http_client *c, struct xfer *x)
{
    if (x->prev) x->prev->next = x->next;
    else c->xfers = x->next;
    if (x->next) x->next->prev = x->prev;
    x->prev = x->next = NULL;
    c->inflight--;
}

static void xfer_free(struct xfer *x)
{
    if (x->easy) curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->headers);
    free(x->payload);
    free(x->resp);
    free(x);
}

/* Removes x from the multi, reports it, frees it. cancelled: the client is going away. */
static void xfer_finish(struct http_client *c, struct xfer *x, CURLcode rc, int cancelled)
{
    struct http_response res = { 0, "", 0, NULL, x->retry_after };
    long code = 0, nconn = 0;

    curl_multi_remove_handle(c->multi, x->easy);
    xfer_unlink(c, x);
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_getinfo(x->easy, CURLINFO_NUM_CONNECTS, &nconn);
    c->connects += (unsigned long)nconn;
    if (x->resp) {
        res.body = x->resp;
        res.body_len = x->resp_len;
    }
    if (cancelled) {
        res.error = "cancelled";
    } else if (rc == CURLE_OK) {
        res.status = code;
    } else {
        /* SMTP: a refusal (4xx/5xx reply) is an answer, not a transport failure. */
        if (x->is_mail && code >= 400) res.status = code;
        if (x->too_large) res.error = "response body too large";
        else res.error = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
    }
    if (log_enabled(LOG_DEBUG)) {
        char st[16];
        snprintf(st, sizeof st, "%ld", res.status);
        log_debug("http transfer done", "status", st, "error", res.error);
    }
    c->dispatching++;
    x->done(x->ud, &res);
    c->dispatching--;
    xfer_free(x);
}

static void collect_done(struct http_client *c)
{
    CURLMsg *msg;
    int left;
    while (!c->closing && (msg = curl_multi_info_read(c->multi, &left))) {
        if (msg->msg != CURLMSG_DONE) continue;
        CURLcode rc = msg->data.result; /* msg dies with remove_handle: copy first */
        struct xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        xfer_finish(c, x, rc, 0);
    }
}

/* Every loop callback ends here: a free requested from a done callback completes now. */
static void after_action(struct http_client *c)
{
    collect_done(c);
    if (c->closing && !c->dispatching) client_destroy(c);
}

/* ---- libevent <-> libcurl glue --------------------------------------------------------- */

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    int running = 0;
    int flags = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    curl_multi_socket_action(c->multi, fd, flags, &running);
    after_action(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_client *c = arg;
    int running = 0;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    after_action(c);
}

static int sock_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void)easy;
    struct http_client *c = userp;
    struct sockctx *sc = socketp;

    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            event_free(sc->ev);
            if (sc->prev) sc->prev->next = sc->next;
            else c->socks = sc->next;
            if (sc->next) sc->next->prev = sc->prev;
            free(sc);
            curl_multi_assign(c->multi, s, NULL);
        }
        return 0;
    }
    short kind = EV_PERSIST | ((what & CURL_POLL_IN) ? EV_READ : 0) |
                 ((what & CURL_POLL_OUT) ? EV_WRITE : 0);
    if (!sc) {
        sc = calloc(1, sizeof *sc);
        if (!sc) return -1;
        sc->ev = event_new(c->base, s, kind, on_socket, c);
        if (!sc->ev) {
            free(sc);
            return -1;
        }
        sc->next = c->socks;
        if (c->socks) c->socks->prev = sc;
        c->socks = sc;
        curl_multi_assign(c->multi, s, sc);
    } else {
        event_del(sc->ev);
        event_assign(sc->ev, c->base, s, kind, on_socket, c);
    }
    return event_add(sc->ev, NULL);
}

/* libcurl asks to be woken after timeout_ms (-1: never); it must not be called back from here. */
static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http_client *c = userp;
    if (timeout_ms < 0) return evtimer_del(c->timer);
    struct timeval tv = { timeout_ms / 1000, (timeout_ms % 1000) * 1000 };
    return evtimer_add(c->timer, &tv);
}

/* ---- per-transfer callbacks ------------------------------------------------------------- */

static size_t write_cb(char *ptr, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (x->resp_len + len + 1 > x->c->opts.max_response_bytes) {
        x->too_large = 1;
        return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    if (x->resp_len + len + 1 > x->resp_cap) {
        size_t cap = x->resp_cap ? x->resp_cap : 1024;
        while (cap < x->resp_len + len + 1) cap *= 2;
        char *p = realloc(x->resp, cap);
        if (!p) return 0;
        x->resp = p;
        x->resp_cap = cap;
    }
    memcpy(x->resp + x->resp_len, ptr, len);
    x->resp_len += len;
    x->resp[x->resp_len] = '\0';
    return len;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    static const char name[] = "retry-after:";
    /* A new status line (redirect, 100 Continue) starts a new header block. */
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) x->retry_after = -1;
    if (len > sizeof name - 1 && len < 256 && strncasecmp(buf, name, sizeof name - 1) == 0) {
        char v[256];
        memcpy(v, buf + sizeof name - 1, len - (sizeof name - 1));
        v[len - (sizeof name - 1)] = '\0';
        x->retry_after = http_client_parse_retry_after(v, time(NULL));
    }
    return len;
}

static size_t read_cb(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t want = size * n, left = x->payload_len - x->payload_off;
    if (want > left) want = left;
    memcpy(buf, x->payload + x->payload_off, want);
    x->payload_off += want;
    return want;
}

double http_client_parse_retry_after(const char *value, time_t now)
{
    char buf[128];
    size_t n;
    while (*value == ' ' || *value == '\t') value++;
    n = strcspn(value, "\r\n");
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, value, n);
    while (n > 0 && (buf[n - 1] == ' ' || buf[n - 1] == '\t')) n--;
    buf[n] = '\0';
    if (buf[0] >= '0' && buf[0] <= '9') {
        char *end;
        double s = strtod(buf, &end);
        /* strtod reads "1e400" as infinity, a wait nothing ends: refused like any bad value */
        return (*end || s < 0 || !isfinite(s)) ? -1 : s;
    }
    time_t t = curl_getdate(buf, NULL);
    if (t == (time_t)-1) return -1;
    return t > now ? (double)(t - now) : 0.0;
}

/* ---- public ----------------------------------------------------------------------------- */

int http_client_new(struct http_client **out, struct event_base *base,
                    const struct http_client_opts *opts)
{
    struct http_client *c = calloc(1, sizeof *c);
    *out = NULL;
    if (!c) return -1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        free(c);
        return -1;
    }
    c->base = base;
    if (opts) c->opts = *opts;
    if (c->opts.connect_timeout_ms <= 0) c->opts.connect_timeout_ms = 5000;
    if (c->opts.timeout_ms <= 0) c->opts.timeout_ms = 30000;
    if (c->opts.max_host_connections <= 0) c->opts.max_host_connections = 8;
    if (c->opts.max_response_bytes == 0) c->opts.max_response_bytes = 32u << 20;
    snprintf(c->user_agent, sizeof c->user_agent, "%s",
             c->opts.user_agent ? c->opts.user_agent : "ezsync/" EZ_VERSION);
    c->opts.user_agent = c->user_agent;
    /* ca_file is only borrowed: libcurl copies it into each easy handle when set. */
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->multi || !c->timer) goto fail;
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->opts.max_host_connections);
    /* Keep enough idle connections cached for every host we talk to (Shopify, OrderEZ, Slack). */
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, c->opts.max_host_connections * 4);
    *out = c;
    return 0;
fail:
    if (c->timer) event_free(c->timer);
    if (c->multi) curl_multi_cleanup(c->multi);
    curl_global_cleanup();
    free(c);
    return -1;
}

static struct xfer *xfer_new(struct http_client *c, http_done_fn done, void *ud, long timeout_ms)
{
    struct xfer *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->c = c;
    x->done = done;
    x->ud = ud;
    x->retry_after = -1;
    x->easy = curl_easy_init();
    if (!x->easy) {
        free(x);
        return NULL;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->opts.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : c->opts.timeout_ms);
    /* Verification stays on whatever the URL; there is deliberately no option to disable it. */
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->opts.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, c->opts.ca_file);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    return x;
}

static int xfer_start(struct http_client *c, struct xfer *x)
{
    if (curl_multi_add_handle(c->multi, x->easy) != CURLM_OK) return -1;
    x->next = c->xfers;
    if (c->xfers) c->xfers->prev = x;
    c->xfers = x;
    c->inflight++;
    return 0;
}

static int header_ok(const char *h)
{
    return strchr(h, '\r') == NULL && strchr(h, '\n') == NULL && strchr(h, ':') != NULL;
}

int http_client_send(struct http_client *c, const struct http_request *req, http_done_fn done,
                     void *ud)
{
    const char *method = req->method ? req->method : "GET";
    int has_expect = 0;
    struct xfer *x = NULL;
    struct curl_slist *tmp;

    if (c->closing || !req->url || !done || (req->body_len && !req->body) || !*method ||
        strpbrk(method, " \r\n"))
        return -1;
    x = xfer_new(c, done, ud, req->timeout_ms);
    if (!x) return -1;
    CURL *e = x->easy;
    for (const char *const *h = req->headers; h && *h; h++) {
        if (!header_ok(*h)) goto fail;
        if (strncasecmp(*h, "expect:", 7) == 0) has_expect = 1;
        if (!(tmp = curl_slist_append(x->headers, *h))) goto fail;
        x->headers = tmp;
    }
    /* No "Expect: 100-continue" round trip before bodies: our servers answer directly. */
    if (!has_expect) {
        if (!(tmp = curl_slist_append(x->headers, "Expect:"))) goto fail;
        x->headers = tmp;
    }
    if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK)
        goto fail;
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_USERAGENT, c->user_agent);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, ""); /* whatever libcurl can decode */
    if (strcmp(method, "GET") == 0 && !req->body) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else {
        if (strcmp(method, "POST") != 0) curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (req->body || strcmp(method, "POST") == 0) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
            if (curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, req->body ? req->body : "") != CURLE_OK)
                goto fail;
        }
    }
    if (xfer_start(c, x)) goto fail;
    return 0;
fail:
    xfer_free(x);
    return -1;
}

int http_client_send_mail(struct http_client *c, const struct http_mail *m, http_done_fn done,
                          void *ud)
{
    struct xfer *x = NULL;
    struct curl_slist *tmp;
    char addr[512];

    if (c->closing || !m->url || !m->from || !m->rcpt || !m->rcpt[0] || !m->payload || !done)
        return -1;
    x = xfer_new(c, done, ud, m->timeout_ms);
    if (!x) return -1;
    x->is_mail = 1;
    CURL *e = x->easy;
    for (const char *const *r = m->rcpt; *r; r++) {
        if (strpbrk(*r, "\r\n<>") || snprintf(addr, sizeof addr, "<%s>", *r) >= (int)sizeof addr)
            goto fail;
        if (!(tmp = curl_slist_append(x->headers, addr))) goto fail;
        x->headers = tmp;
    }
    if (strpbrk(m->from, "\r\n<>") || snprintf(addr, sizeof addr, "<%s>", m->from) >= (int)sizeof addr)
        goto fail;
    if (!(x->payload = malloc(m->payload_len ? m->payload_len : 1))) goto fail;
    memcpy(x->payload, m->payload, m->payload_len);
    x->payload_len = m->payload_len;
    if (curl_easy_setopt(e, CURLOPT_URL, m->url) != CURLE_OK ||
        curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "smtp,smtps") != CURLE_OK)
        goto fail;
    curl_easy_setopt(e, CURLOPT_MAIL_FROM, addr);
    curl_easy_setopt(e, CURLOPT_MAIL_RCPT, x->headers);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
    curl_easy_setopt(e, CURLOPT_READDATA, x);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)m->payload_len);
    /* libcurl waits for the reply to the final "." (and to QUIT) with a blocking poll even in
     * a multi (curl issue #8555, docs/TODO "More non-blocking"): cap each reply wait so a slow
     * mail server can stall the loop for a bounded time only. */
    curl_easy_setopt(e, CURLOPT_SERVER_RESPONSE_TIMEOUT, HTTP_CLIENT_SMTP_REPLY_S);
    if (m->username) {
        curl_easy_setopt(e, CURLOPT_USERNAME, m->username);
        curl_easy_setopt(e, CURLOPT_PASSWORD, m->password ? m->password : "");
        /* Credentials never cross the network in clear: STARTTLS (or smtps) or fail. */
        curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
    } else {
        curl_easy_setopt(e, CURLOPT_USE_SSL, (long)CURLUSESSL_TRY);
    }
    if (xfer_start(c, x)) goto fail;
    return 0;
fail:
    xfer_free(x);
    return -1;
}

enum remote_class http_client_classify(long status)
{
    if (status >= 200 && status < 300) return REMOTE_OK;
    if (status == 0 || status == 408 || status == 429 || status >= 500) return REMOTE_TRANSIENT;
    return REMOTE_PERMANENT;
}

size_t http_client_inflight(const struct http_client *c) { return c->inflight; }

unsigned long http_client_connections_opened(const struct http_client *c) { return c->connects; }

static void client_destroy(struct http_client *c)
{
    c->dispatching++; /* a cancel callback calling http_client_free again must not recurse */
    while (c->xfers) xfer_finish(c, c->xfers, CURLE_OK, 1);
    curl_multi_cleanup(c->multi); /* closes cached connections: sock_cb REMOVE may still run */
    while (c->socks) {
        struct sockctx *sc = c->socks;
        c->socks = sc->next;
        event_free(sc->ev);
        free(sc);
    }
    event_free(c->timer);
    curl_global_cleanup();
    free(c);
}

void http_client_free(struct http_client *c)
{
    if (!c || c->closing) return;
    c->closing = 1;
    if (!c->dispatching) client_destroy(c);
}
