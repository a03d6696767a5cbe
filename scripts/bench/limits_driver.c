/* limits_driver: the rate-limit benchmark's servers and clients (built by scripts/bench/limits
 * against build/libezsync.a; not part of the product).
 *   limits_driver orderez-server RATE BURST        token-bucket REST server, 429 + Retry-After
 *   limits_driver shopify-server RESTORE BUCKET    GraphQL cost-bucket server, THROTTLED bodies
 *   limits_driver orderez-client PORT N RATE BURST N requests through orderez_request
 *   limits_driver shopify-client PORT N RESTORE    N documents through shopify_graphql
 * Servers print their port on stdout, then serve until killed; clients print key=value lines. */
#include "http_client.h"
#include "log.h"
#include "orderez.h"
#include "shopify.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- servers ------------------------------------------------------------------------------ */

struct srv {
    double rate, burst, avail, last;
    long requests, ok, rejected;
    double charged, first_t, last_t, avail_after_last;
    long seq;
};

static void refill(struct srv *s)
{
    double t = now_s();
    s->avail = fmin(s->burst, s->avail + (t - s->last) * s->rate);
    s->last = t;
}

static void reply(struct evhttp_request *req, int status, const char *retry_after, const char *body)
{
    struct evbuffer *out = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    if (retry_after) evhttp_add_header(h, "Retry-After", retry_after);
    evbuffer_add(out, body, strlen(body));
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", out);
    evbuffer_free(out);
}

static int stats_request(struct srv *s, struct evhttp_request *req)
{
    char body[512];
    if (strcmp(evhttp_request_get_uri(req), "/stats") != 0) return 0;
    refill(s);
    snprintf(body, sizeof body, "{\"requests\":%ld,\"ok\":%ld,\"rejected\":%ld,\"charged\":%.3f,"
             "\"span\":%.6f,\"avail\":%.3f}", s->requests, s->ok, s->rejected, s->charged,
             s->last_t - s->first_t, s->avail_after_last);
    reply(req, 200, NULL, body);
    return 1;
}

static void on_orderez(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    char ra[32];
    if (stats_request(s, req)) return;
    refill(s);
    s->requests++;
    if (s->avail >= 1) {
        s->avail -= 1;
        s->ok++;
        reply(req, 200, NULL, "{\"data\":{\"id\":1}}");
        return;
    }
    s->rejected++;
    /* Retry-After = when the next token is there, as a decimal like Shopify's "2.0". */
    snprintf(ra, sizeof ra, "%.3f", (1 - s->avail) / s->rate);
    reply(req, 429, ra, "{\"error\":{\"message\":\"rate limited\",\"type\":\"rate_limited\"}}");
}

/* Requested cost = 2 + first (from "first: N"); the actual cost is 60-100 % of it. */
static void on_shopify(struct evhttp_request *req, void *arg)
{
    struct srv *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char body[1024], out[1024];
    size_t n = evbuffer_copyout(in, body, sizeof body - 1);
    if (stats_request(s, req)) return;
    body[n] = '\0';
    const char *f = strstr(body, "first: ");
    double requested = 2 + (f ? atof(f + 7) : 1);
    double t = now_s();
    refill(s);
    if (!s->requests) s->first_t = t;
    s->last_t = t;
    s->requests++;
    if (s->avail < requested) {
        s->rejected++;
        s->avail_after_last = s->avail;
        snprintf(out, sizeof out,
                 "{\"errors\":[{\"message\":\"Throttled\",\"extensions\":{\"code\":\"THROTTLED\"}}],"
                 "\"extensions\":{\"cost\":{\"requestedQueryCost\":%.0f,\"actualQueryCost\":null,"
                 "\"throttleStatus\":{\"maximumAvailable\":%.1f,\"currentlyAvailable\":%.3f,"
                 "\"restoreRate\":%.1f}}}}", requested, s->burst, s->avail, s->rate);
        reply(req, 200, NULL, out);
        return;
    }
    double actual = floor(requested * (60 + (double)((s->seq++ * 37) % 41)) / 100);
    s->avail -= actual;
    s->charged += actual;
    s->avail_after_last = s->avail;
    s->ok++;
    snprintf(out, sizeof out,
             "{\"data\":{\"items\":[]},\"extensions\":{\"cost\":{\"requestedQueryCost\":%.0f,"
             "\"actualQueryCost\":%.0f,\"throttleStatus\":{\"maximumAvailable\":%.1f,"
             "\"currentlyAvailable\":%.3f,\"restoreRate\":%.1f}}}}",
             requested, actual, s->burst, s->avail, s->rate);
    reply(req, 200, NULL, out);
}

static int serve(int shopify, double rate, double burst)
{
    struct event_base *base = event_base_new();
    struct evhttp *http = evhttp_new(base);
    struct srv s = { rate, burst, burst, now_s(), 0, 0, 0, 0, 0, 0, 0, 0 };
    evhttp_set_gencb(http, shopify ? on_shopify : on_orderez, &s);
    struct evhttp_bound_socket *bs = evhttp_bind_socket_with_handle(http, "127.0.0.1", 0);
    if (!bs) return 1;
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin, &len);
    printf("%d\n", ntohs(sin.sin_port));
    fflush(stdout);
    event_base_dispatch(base);
    return 0;
}

/* ---- clients ------------------------------------------------------------------------------ */

struct run {
    struct event_base *base;
    long want, done, ok, failed;
    double t0, t_end;
    char stats[512];
};

static void on_result(void *ud, const struct remote_result *r)
{
    struct run *run = ud;
    if (r->cls == REMOTE_OK) run->ok++;
    else run->failed++;
    if (++run->done == run->want) {
        run->t_end = now_s();
        event_base_loopbreak(run->base);
    }
}

static void on_stats(void *ud, const struct http_response *res)
{
    struct run *run = ud;
    snprintf(run->stats, sizeof run->stats, "%s", res->body);
    event_base_loopbreak(run->base);
}

static void fetch_stats(struct run *run, struct http_client *http, int port)
{
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/stats", port);
    struct http_request req = { "GET", url, NULL, NULL, 0, 5000 };
    http_client_send(http, &req, on_stats, run);
    event_base_dispatch(run->base);
}

static double stat_num(const char *json, const char *key)
{
    json_t *root = json_loads(json, 0, NULL);
    double v = json_number_value(json_object_get(root, key));
    json_decref(root);
    return v;
}

static int client_orderez(int port, long n, double rate, double burst)
{
    struct run run = { event_base_new(), n, 0, 0, 0, 0, 0, "" };
    struct http_client *http;
    struct orderez *o;
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    http_client_new(&http, run.base, NULL);
    struct orderez_opts opts = { url, "bench-token", rate, burst, 0, 10, 10000, NULL, NULL };
    if (orderez_new(&o, run.base, http, &opts)) return 1;
    run.t0 = now_s();
    for (long i = 0; i < n; i++)
        orderez_request(o, "GET", "/distributor/orders?page=1", NULL, (int)(i % RATELIMIT_NPRIO),
                        on_result, &run);
    event_base_dispatch(run.base);
    struct ratelimit_stats st;
    ratelimit_get_stats(orderez_limiter(o), &st);
    fetch_stats(&run, http, port);
    printf("wall_s=%.3f ok=%ld failed=%ld client_429=%llu server_rejected=%.0f final_rate=%.2f "
           "connections=%lu\n", run.t_end - run.t0, run.ok, run.failed,
           (unsigned long long)st.rate_limited, stat_num(run.stats, "rejected"), st.rate,
           http_client_connections_opened(http));
    orderez_free(o);
    http_client_free(http);
    event_base_free(run.base);
    return 0;
}

static int client_shopify(int port, long n, double restore)
{
    static const int firsts[] = { 10, 25, 50, 100, 5, 40 };
    struct run run = { event_base_new(), n, 0, 0, 0, 0, 0, "" };
    struct http_client *http;
    struct shopify *s;
    char url[64], body[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d", port);
    http_client_new(&http, run.base, NULL);
    struct shopify_opts opts = { url, NULL, "2026-10", "bench-token", restore, 10, 0, 10000 };
    if (shopify_new(&s, run.base, http, &opts)) return 1;
    run.t0 = now_s();
    for (long i = 0; i < n; i++) {
        int k = (int)(i % 6);
        snprintf(body, sizeof body, "{\"query\":\"query Q%d { items(first: %d) { id } }\"}", k,
                 firsts[k]);
        shopify_graphql(s, body, (int)(i % RATELIMIT_NPRIO), NULL, on_result, &run);
    }
    event_base_dispatch(run.base);
    struct ratelimit_stats st;
    ratelimit_get_stats(shopify_limiter(s), &st);
    fetch_stats(&run, http, port);
    printf("wall_s=%.3f ok=%ld failed=%ld requests=%.0f throttled=%.0f charged=%.0f span_s=%.3f "
           "final_avail=%.1f\n", run.t_end - run.t0, run.ok, run.failed,
           stat_num(run.stats, "requests"), stat_num(run.stats, "rejected"),
           stat_num(run.stats, "charged"), stat_num(run.stats, "span"),
           stat_num(run.stats, "avail"));
    shopify_free(s);
    http_client_free(http);
    event_base_free(run.base);
    return 0;
}

int main(int argc, char **argv)
{
    log_setup(LOG_ERROR, LOG_LOGFMT, NULL);
    if (argc == 4 && strcmp(argv[1], "orderez-server") == 0)
        return serve(0, atof(argv[2]), atof(argv[3]));
    if (argc == 4 && strcmp(argv[1], "shopify-server") == 0)
        return serve(1, atof(argv[2]), atof(argv[3]));
    if (argc == 6 && strcmp(argv[1], "orderez-client") == 0)
        return client_orderez(atoi(argv[2]), atol(argv[3]), atof(argv[4]), atof(argv[5]));
    if (argc == 5 && strcmp(argv[1], "shopify-client") == 0)
        return client_shopify(atoi(argv[2]), atol(argv[3]), atof(argv[4]));
    fprintf(stderr, "usage: see the comment at the top of limits_driver.c\n");
    return 2;
}
