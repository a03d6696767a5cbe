/* orderez: see orderez.h. A call goes limiter -> http -> feedback to the limiter -> classify.
 * A 429 puts the call back at the head of its priority class; the limiter's "blocked until"
 * then holds every OrderEZ request until Retry-After has passed. */
#include "orderez.h"

#include "config.h"
#include "log.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Requests admitted together reach OrderEZ spread over connection setup and jitter; staying
 * 50 ms of tokens behind its bucket keeps the late ones from finding it a fraction short
 * (measured: without it the first burst drew 429s at exactly the configured rate). */
#define ORDEREZ_HEADROOM_S 0.05

struct oz_call {
    struct orderez *o;          /* NULL once orphaned by orderez_free while in flight */
    struct oz_call *prev, *next;
    char *method;
    char *url;
    char *body;
    size_t body_len;
    int prio;
    int tries;
    double retry_after_s;       /* of the last answer (an outage's 503 says when to come back) */
    remote_done_fn cb;
    void *ud;
};

struct orderez {
    struct http_client *http;
    struct ratelimit *rl;
    char *base_url;
    char *auth_header;          /* "Authorization: Bearer ..." */
    const char *headers[4];     /* with a body: + Content-Type */
    int max_retries;
    long timeout_ms;
    struct oz_call *calls;
    size_t ncalls;
    int closing;
};

void orderez_opts_from_config(struct orderez_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof *o);
    o->base_url = cfg->orderez_base_url;
    o->token = cfg->orderez_token;
    o->rate = cfg->orderez_rate;
    o->burst = (double)cfg->orderez_burst;
    o->min_rate = cfg->orderez_min_rate;
    o->max_429_retries = cfg->orderez_max_429_retries > 0 ? (int)cfg->orderez_max_429_retries : -1;
    o->timeout_ms = cfg->http_timeout_ms;
}

int orderez_new(struct orderez **out, struct event_base *base, struct http_client *http,
                const struct orderez_opts *opts)
{
    struct orderez *o = NULL;
    size_t n;
    *out = NULL;
    if (!opts->base_url || !opts->token || strpbrk(opts->token, "\r\n") || !(opts->rate > 0))
        return -1;
    if (!(o = calloc(1, sizeof *o))) return -1;
    o->http = http;
    o->max_retries = opts->max_429_retries == 0 ? 5 : opts->max_429_retries < 0 ? 0
                                                                               : opts->max_429_retries;
    o->timeout_ms = opts->timeout_ms;
    if (!(o->base_url = strdup(opts->base_url))) goto fail;
    for (n = strlen(o->base_url); n > 0 && o->base_url[n - 1] == '/'; n--) o->base_url[n - 1] = '\0';
    n = strlen(opts->token) + 32;
    if (!(o->auth_header = malloc(n))) goto fail;
    snprintf(o->auth_header, n, "Authorization: Bearer %s", opts->token);
    o->headers[0] = o->auth_header;
    o->headers[1] = "Accept: application/json";
    o->headers[2] = "Content-Type: application/json";
    o->headers[3] = NULL;
    struct ratelimit_opts ro = { .kind = RATELIMIT_TOKEN, .name = "orderez", .rate = opts->rate,
                                 .burst = opts->burst >= 1 ? opts->burst : 1,
                                 .min_rate = opts->min_rate, .headroom_s = ORDEREZ_HEADROOM_S,
                                 .clock = opts->clock, .clock_ud = opts->clock_ud };
    if (ratelimit_new(&o->rl, base, &ro)) goto fail;
    if (strncmp(o->base_url, "http://", 7) == 0 && strncmp(o->base_url + 7, "127.", 4) != 0 &&
        strncmp(o->base_url + 7, "localhost", 9) != 0)
        log_warn("orderez base_url is plain http: the token is sent unencrypted",
                 "url", o->base_url);
    *out = o;
    return 0;
fail:
    free(o->base_url);
    free(o->auth_header);
    free(o);
    return -1;
}

/* ---- calls -------------------------------------------------------------------------------- */

static void call_finish(struct oz_call *c, enum remote_class cls, long status, const char *body,
                        size_t body_len, const char *error)
{
    struct remote_result r = { cls, status, body ? body : "", body ? body_len : 0, error,
                               c->retry_after_s };
    if (c->o) {
        struct orderez *o = c->o;
        if (c->prev) c->prev->next = c->next;
        else o->calls = c->next;
        if (c->next) c->next->prev = c->prev;
        o->ncalls--;
    }
    if (c->cb) c->cb(c->ud, &r); /* NULL: told "cancelled" by orderez_free already */
    free(c->method);
    free(c->url);
    free(c->body);
    free(c);
}

/* "HTTP 422 UnprocessableEntity: message" from the {"error":{...}} envelope when there is one. */
static void describe(char *out, size_t len, const struct http_response *res)
{
    json_t *root = json_loadb(res->body, res->body_len, 0, NULL);
    json_t *e = json_object_get(root, "error");
    const char *type = json_string_value(json_object_get(e, "type"));
    const char *msg = json_string_value(json_object_get(e, "message"));
    if (!type && json_is_string(e)) msg = json_string_value(e);
    snprintf(out, len, "HTTP %ld%s%s%s%.300s", res->status, type ? " " : "", type ? type : "",
             msg ? ": " : "", msg ? msg : "");
    json_decref(root);
}

static void on_admitted(void *ud, int admitted);

static void on_http(void *ud, const struct http_response *res)
{
    struct oz_call *c = ud;
    struct orderez *o = c->o;
    char err[512];

    c->retry_after_s = res->retry_after_s;
    if (!o) { /* the adapter is gone; its caller was told "cancelled" already */
        c->cb = NULL;
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, NULL);
        return;
    }
    if (res->status == 429) {
        ratelimit_on_429(o->rl, res->retry_after_s);
        if (c->tries < o->max_retries) {
            c->tries++;
            if (ratelimit_reacquire(o->rl, 1, c->prio, on_admitted, c) == 0) return;
        }
        describe(err, sizeof err, res);
        call_finish(c, REMOTE_TRANSIENT, res->status, res->body, res->body_len, err);
        return;
    }
    if (res->status == 0) {
        call_finish(c, REMOTE_TRANSIENT, 0, res->body, res->body_len, res->error);
        return;
    }
    if (res->status < 500) ratelimit_on_success(o->rl);
    if (res->status == 409) {
        call_finish(c, REMOTE_OK, res->status, res->body, res->body_len, NULL);
        return;
    }
    enum remote_class cls = http_client_classify(res->status);
    if (cls != REMOTE_OK) describe(err, sizeof err, res);
    call_finish(c, cls, res->status, res->body, res->body_len, cls == REMOTE_OK ? NULL : err);
}

static void on_admitted(void *ud, int admitted)
{
    struct oz_call *c = ud;
    if (!admitted) {
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, "cancelled");
        return;
    }
    const char *const *headers = c->o->headers;
    const char *nobody[] = { headers[0], headers[1], NULL };
    struct http_request req = { c->method, c->url, c->body ? headers : nobody, c->body,
                                c->body_len, c->o->timeout_ms };
    if (http_client_send(c->o->http, &req, on_http, c))
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, "http client refused the request");
}

static int valid_method(const char *m)
{
    static const char *ok[] = { "GET", "POST", "PUT", "PATCH", "DELETE", NULL };
    for (const char **p = ok; *p; p++)
        if (strcmp(m, *p) == 0) return 1;
    return 0;
}

int orderez_request(struct orderez *o, const char *method, const char *path, const char *body,
                    int prio, remote_done_fn cb, void *ud)
{
    struct oz_call *c;
    if (o->closing || !method || !valid_method(method) || !path || path[0] != '/' ||
        strpbrk(path, " \t\r\n") || !cb || prio < 0 || prio >= RATELIMIT_NPRIO)
        return -1;
    if (!(c = calloc(1, sizeof *c))) return -1;
    size_t n = strlen(o->base_url) + strlen(path) + 1;
    c->method = strdup(method);
    c->url = malloc(n);
    c->body = body ? strdup(body) : NULL;
    if (!c->method || !c->url || (body && !c->body)) goto fail;
    snprintf(c->url, n, "%s%s", o->base_url, path);
    c->body_len = body ? strlen(body) : 0;
    c->o = o;
    c->prio = prio;
    c->cb = cb;
    c->ud = ud;
    if (ratelimit_acquire(o->rl, 1, prio, on_admitted, c)) goto fail;
    c->next = o->calls;
    if (o->calls) o->calls->prev = c;
    o->calls = c;
    o->ncalls++;
    return 0;
fail:
    free(c->method);
    free(c->url);
    free(c->body);
    free(c);
    return -1;
}

struct ratelimit *orderez_limiter(struct orderez *o) { return o->rl; }

size_t orderez_pending(const struct orderez *o) { return o->ncalls; }

void orderez_free(struct orderez *o)
{
    if (!o) return;
    o->closing = 1;
    /* Every caller hears "cancelled" now. Calls queued in the limiter are then freed by
     * ratelimit_free's cancellation; calls in flight by their http callback, as orphans. */
    struct oz_call *c = o->calls, *next;
    o->calls = NULL;
    for (; c; c = next) {
        next = c->next;
        c->o = NULL;
        c->prev = c->next = NULL;
        struct remote_result r = { REMOTE_TRANSIENT, 0, "", 0, "cancelled", 0 };
        remote_done_fn cb = c->cb;
        c->cb = NULL;
        cb(c->ud, &r);
    }
    ratelimit_free(o->rl);
    free(o->base_url);
    free(o->auth_header);
    free(o);
}
