/* remotes: see remotes.h. */
#include "remotes.h"

#include "config.h"
#include "engine.h"
#include "http_client.h"
#include "metrics.h"
#include "notify.h"
#include "orderez.h"
#include "ratelimit.h"
#include "shopify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { R_SHOPIFY, R_ORDEREZ, R_NOTIFY, R_N };
static const char *const remote_names[R_N] = { "shopify", "orderez", "notify" };
/* status classes counted per remote: 2xx, 4xx, 5xx, transport */
static const char *const status_names[4] = { "2xx", "4xx", "5xx", "error" };

struct remotes {
    struct http_client *http;
    struct shopify *shopify;
    struct orderez *orderez;
    struct notify *notify;
    unsigned long long calls[R_N][4];
};

struct pending {
    struct remotes *r;
    int remote;
    engine_send_done done;
    void *cbud;
};

int remotes_new(struct remotes **out, struct event_base *base, const struct config *cfg,
                char *err, size_t errlen)
{
    struct remotes *r = calloc(1, sizeof *r);
    *out = NULL;
    if (!r) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    struct http_client_opts ho = { .connect_timeout_ms = cfg->http_connect_timeout_ms,
                                   .timeout_ms = cfg->http_timeout_ms,
                                   .max_host_connections = cfg->http_max_connections,
                                   .ca_file = cfg->http_ca_file };
    if (http_client_new(&r->http, base, &ho)) {
        snprintf(err, errlen, "cannot start the HTTP client");
        goto fail;
    }
    struct shopify_opts so;
    shopify_opts_from_config(&so, cfg);
    if (shopify_new(&r->shopify, base, r->http, &so)) {
        snprintf(err, errlen, "shopify: needs shopify.shop (or shopify.endpoint), "
                 "shopify.api_version and shopify.access_token");
        goto fail;
    }
    struct orderez_opts oo;
    orderez_opts_from_config(&oo, cfg);
    if (orderez_new(&r->orderez, base, r->http, &oo)) {
        snprintf(err, errlen, "orderez: needs orderez.base_url and orderez.token");
        goto fail;
    }
    struct notify_opts no;
    notify_opts_from_config(&no, cfg);
    /* Notifications are optional: without a sink configured, ez.notify fails permanently. */
    if (notify_new(&r->notify, base, r->http, &no)) r->notify = NULL;
    *out = r;
    return 0;
fail:
    remotes_free(r);
    return -1;
}

static void on_result(void *ud, const struct remote_result *res)
{
    struct pending *p = ud;
    int sc = res->status >= 200 && res->status < 300 ? 0
           : res->status >= 400 && res->status < 500 ? 1
           : res->status >= 500 ? 2 : 3;
    p->r->calls[p->remote][sc]++;
    int cls = res->cls == REMOTE_OK ? ENGINE_CALL_OK
            : res->cls == REMOTE_TRANSIENT ? ENGINE_CALL_TRANSIENT : ENGINE_CALL_PERMANENT;
    p->done(p->cbud, cls, res->status, res->body, res->error, res->retry_after_s);
    free(p);
}

static int send(void *ud, const struct engine_io *io, int priority, const char *idem_key,
                engine_send_done done, void *cbud)
{
    struct remotes *r = ud;
    struct pending *p = malloc(sizeof *p);
    if (!p) return -1;
    *p = (struct pending){ r, R_SHOPIFY, done, cbud };
    int rc = -1;
    switch (io->kind) {
    case ENGINE_IO_SHOPIFY:
        rc = shopify_graphql(r->shopify, io->body, priority, idem_key, on_result, p);
        break;
    case ENGINE_IO_ORDEREZ:
        p->remote = R_ORDEREZ;
        rc = orderez_request(r->orderez, io->method, io->path, io->body, priority, on_result, p);
        break;
    case ENGINE_IO_NOTIFY:
        p->remote = R_NOTIFY;
        rc = r->notify ? notify_send(r->notify, io->method, io->body, on_result, p) : -1;
        break;
    }
    if (rc) free(p);
    return rc;
}

void remotes_engine(struct remotes *r, struct engine_remotes *out)
{
    out->ud = r;
    out->send = send;
}

static struct ratelimit *limiter(struct remotes *r, int i)
{
    switch (i) {
    case R_SHOPIFY: return shopify_limiter(r->shopify);
    case R_ORDEREZ: return orderez_limiter(r->orderez);
    default: return r->notify ? notify_limiter(r->notify, "slack") : NULL;
    }
}

json_t *remotes_status_json(struct remotes *r)
{
    json_t *o = json_object();
    for (int i = 0; i < R_N; i++) {
        struct ratelimit *rl = limiter(r, i);
        if (!rl) continue;
        struct ratelimit_stats s;
        ratelimit_get_stats(rl, &s);
        json_t *waiting = json_array();
        for (int p = 0; p < RATELIMIT_NPRIO; p++) json_array_append_new(waiting, json_integer((json_int_t)s.waiting[p]));
        json_object_set_new(o, remote_names[i], json_pack(
            "{s:f, s:f, s:f, s:f, s:o, s:I, s:I, s:I}", "available", s.available, "capacity",
            s.capacity, "rate", s.rate, "blocked_for_s", s.blocked_for_s, "waiting", waiting,
            "admitted", (json_int_t)s.admitted, "throttled", (json_int_t)s.throttled,
            "rate_limited", (json_int_t)s.rate_limited));
    }
    return o;
}

void remotes_collect(struct remotes *r, struct metrics *m)
{
    char labels[96];
    for (int i = 0; i < R_N; i++) {
        for (int c = 0; c < 4; c++) {
            snprintf(labels, sizeof labels, "remote=\"%s\",status=\"%s\"", remote_names[i],
                     status_names[c]);
            metrics_set(metrics_counter(m, "ezsync_outbound_calls_total", labels,
                                        "outbound calls by remote and status class"),
                        (double)r->calls[i][c]);
        }
        struct ratelimit *rl = limiter(r, i);
        if (!rl) continue;
        struct ratelimit_stats s;
        ratelimit_get_stats(rl, &s);
        snprintf(labels, sizeof labels, "remote=\"%s\"", remote_names[i]);
        metrics_set(metrics_gauge(m, "ezsync_ratelimit_available", labels,
                                  "tokens (OrderEZ) or cost points (Shopify) available now"), s.available);
        metrics_set(metrics_gauge(m, "ezsync_ratelimit_capacity", labels, "bucket size"), s.capacity);
        metrics_set(metrics_gauge(m, "ezsync_ratelimit_rate", labels,
                                  "current admission rate per second (adapted on 429)"), s.rate);
        metrics_set(metrics_counter(m, "ezsync_ratelimit_wait_seconds_total", labels,
                                    "time calls waited for admission"), s.total_wait_ms / 1000.0);
        metrics_set(metrics_counter(m, "ezsync_ratelimit_throttled_total", labels,
                                    "THROTTLED (Shopify) answers"), (double)s.throttled);
        metrics_set(metrics_counter(m, "ezsync_ratelimit_429_total", labels, "429 answers"),
                    (double)s.rate_limited);
        size_t waiting = 0;
        for (int p = 0; p < RATELIMIT_NPRIO; p++) waiting += s.waiting[p];
        metrics_set(metrics_gauge(m, "ezsync_ratelimit_waiting", labels, "calls waiting for admission"),
                    (double)waiting);
    }
}

size_t remotes_pending(struct remotes *r)
{
    return (r->shopify ? shopify_pending(r->shopify) : 0) +
           (r->orderez ? orderez_pending(r->orderez) : 0);
}

void remotes_free(struct remotes *r)
{
    if (!r) return;
    if (r->notify) notify_free(r->notify);
    if (r->orderez) orderez_free(r->orderez);
    if (r->shopify) shopify_free(r->shopify);
    if (r->http) http_client_free(r->http);
    free(r);
}
