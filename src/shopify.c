/* shopify: see shopify.h. A call goes limiter -> http -> settle the limiter with the reported
 * cost -> classify; THROTTLED (and HTTP 429) go back to the head of their priority class, which
 * waits exactly (requested - available) / restoreRate because the limiter mirrors Shopify. */
#include "shopify.h"

#include "config.h"
#include "log.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEARN_SLOTS 512  /* direct-mapped: a collision only costs one default estimate */
#define MAX_PROBES 32    /* documents whose first call is in flight, cost still unknown */

struct learned {
    uint64_t doc;
    double cost;
};

struct sh_call {
    struct shopify *s;          /* NULL once orphaned by shopify_free while in flight */
    struct sh_call *prev, *next;
    char *body;
    size_t body_len;
    uint64_t doc;
    double cost;                /* what it is (or will be) admitted with */
    int prio;
    int tries;
    uint64_t seq;               /* send order, to spot answers that arrive out of order */
    int probe;                  /* first call of a document whose cost is not known yet */
    struct sh_call *park_next;  /* parked until the probe of its document answers */
    double retry_after_s;       /* of the last answer */
    remote_done_fn cb;
    void *ud;
};

struct shopify {
    struct http_client *http;
    struct ratelimit *rl;
    char *url;
    char *token_header;         /* "X-Shopify-Access-Token: ..." */
    const char *headers[4];
    int max_retries;
    double default_cost;
    long timeout_ms;
    struct sh_call *calls;
    size_t ncalls;
    int closing;
    struct learned learned[LEARN_SLOTS];
    uint64_t probing[MAX_PROBES];
    uint64_t sent_seq, applied_seq;
    struct sh_call *parked;
};

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h ? h : 1; /* 0 marks an empty slot */
}

static double learned_get(const struct shopify *s, uint64_t doc)
{
    const struct learned *l = &s->learned[doc % LEARN_SLOTS];
    return l->doc == doc ? l->cost : -1;
}

static void learned_put(struct shopify *s, uint64_t doc, double cost)
{
    struct learned *l = &s->learned[doc % LEARN_SLOTS];
    l->doc = doc;
    l->cost = cost;
}

static int probe_find(const struct shopify *s, uint64_t doc)
{
    for (int i = 0; i < MAX_PROBES; i++)
        if (s->probing[i] == doc) return i;
    return -1;
}

static int probe_start(struct shopify *s, uint64_t doc)
{
    int i = probe_find(s, 0);
    if (i >= 0) s->probing[i] = doc;
    return i >= 0;
}

static void on_admitted(void *ud, int admitted);

/* The probe of c's document answered (or failed): its parked siblings queue again, first in
 * their class, now with the learned cost. */
static void probe_end(struct shopify *s, struct sh_call *c)
{
    int i = probe_find(s, c->doc);
    struct sh_call **pp = &s->parked;
    c->probe = 0;
    if (i >= 0) s->probing[i] = 0;
    double learned = learned_get(s, c->doc);
    while (*pp) {
        struct sh_call *p = *pp;
        if (p->doc != c->doc) {
            pp = &p->park_next;
            continue;
        }
        *pp = p->park_next;
        p->park_next = NULL;
        if (learned > 0) p->cost = learned;
        if (ratelimit_reacquire(s->rl, p->cost, p->prio, on_admitted, p)) {
            p->park_next = s->parked; /* out of memory: leave it for shopify_free */
            s->parked = p;
            break;
        }
    }
}

double shopify_learned_cost(const struct shopify *s, const char *query)
{
    return learned_get(s, fnv1a(query));
}

void shopify_opts_from_config(struct shopify_opts *o, const struct config *cfg)
{
    memset(o, 0, sizeof *o);
    o->endpoint = cfg->shopify_endpoint;
    o->shop = cfg->shopify_shop;
    o->api_version = cfg->shopify_api_version;
    o->access_token = cfg->shopify_access_token;
    o->plan_restore_rate = cfg->shopify_plan_restore_rate;
    o->max_throttle_retries = (int)cfg->shopify_max_throttle_retries;
    o->timeout_ms = cfg->http_timeout_ms;
}

static char *str_printf(const char *fmt, const char *a, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (p) snprintf(p, (size_t)n + 1, fmt, a, b);
    return p;
}

/* True for http://host other than loopback: the token would cross a network in clear. */
static int cleartext_remote(const char *url)
{
    if (strncmp(url, "http://", 7) != 0) return 0;
    url += 7;
    return strncmp(url, "127.", 4) != 0 && strncmp(url, "localhost", 9) != 0 &&
           strncmp(url, "[::1]", 5) != 0;
}

int shopify_new(struct shopify **out, struct event_base *base, struct http_client *http,
                const struct shopify_opts *o)
{
    struct shopify *s = NULL;
    char *root = NULL;
    *out = NULL;
    if ((!o->endpoint && !o->shop) || !o->api_version || !o->access_token ||
        strpbrk(o->access_token, "\r\n"))
        return -1;
    if (!(s = calloc(1, sizeof *s))) return -1;
    s->http = http;
    s->max_retries = o->max_throttle_retries > 0 ? o->max_throttle_retries : 10;
    s->default_cost = o->default_cost > 0 ? o->default_cost : 50;
    s->timeout_ms = o->timeout_ms;
    root = o->endpoint ? strdup(o->endpoint) : str_printf("https://%s%s", o->shop, "");
    if (!root) goto fail;
    for (size_t n = strlen(root); n > 0 && root[n - 1] == '/'; n--) root[n - 1] = '\0';
    s->url = malloc(strlen(root) + strlen(o->api_version) + 32);
    if (!s->url) goto fail;
    sprintf(s->url, "%s/admin/api/%s/graphql.json", root, o->api_version);
    if (!(s->token_header = str_printf("X-Shopify-Access-Token: %s%s", o->access_token, "")))
        goto fail;
    s->headers[0] = "Content-Type: application/json";
    s->headers[1] = "Accept: application/json";
    s->headers[2] = s->token_header;
    s->headers[3] = NULL;
    double restore = o->plan_restore_rate > 0 ? o->plan_restore_rate : 100;
    /* Bucket = 20 x restore rate (research §3.1) until the first throttleStatus says otherwise. */
    struct ratelimit_opts ro = { .kind = RATELIMIT_COST, .name = "shopify", .rate = restore,
                                 .burst = 20 * restore };
    if (ratelimit_new(&s->rl, base, &ro)) goto fail;
    if (cleartext_remote(s->url))
        log_warn("shopify endpoint is plain http: the access token is sent unencrypted", "url", s->url);
    free(root);
    *out = s;
    return 0;
fail:
    free(root);
    if (s) {
        free(s->url);
        free(s->token_header);
        free(s);
    }
    return -1;
}

/* ---- calls -------------------------------------------------------------------------------- */

static void call_unlink(struct shopify *s, struct sh_call *c)
{
    if (c->prev) c->prev->next = c->next;
    else s->calls = c->next;
    if (c->next) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    s->ncalls--;
}

static void call_free(struct sh_call *c)
{
    free(c->body);
    free(c);
}

static void call_finish(struct sh_call *c, enum remote_class cls, long status, const char *body,
                        size_t body_len, const char *error)
{
    struct remote_result r = { cls, status, body ? body : "", body ? body_len : 0, error,
                               c->retry_after_s };
    if (c->s) call_unlink(c->s, c);
    if (c->cb) c->cb(c->ud, &r); /* NULL: told "cancelled" by shopify_free already */
    call_free(c);
}

static void resend(struct sh_call *c)
{
    c->tries++;
    if (ratelimit_reacquire(c->s->rl, c->cost, c->prio, on_admitted, c))
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, "out of memory");
}

/* Reads extensions.cost; returns 1 when a throttleStatus was present. */
static int read_cost(json_t *root, struct ratelimit_cost_status *st, double *requested,
                     double *actual)
{
    json_t *cost = json_object_get(json_object_get(root, "extensions"), "cost");
    json_t *ts = json_object_get(cost, "throttleStatus");
    json_t *rq = json_object_get(cost, "requestedQueryCost");
    json_t *ac = json_object_get(cost, "actualQueryCost");
    *requested = json_is_number(rq) ? json_number_value(rq) : -1;
    *actual = json_is_number(ac) ? json_number_value(ac) : -1;
    if (!json_is_object(ts)) return 0;
    st->maximum_available = json_number_value(json_object_get(ts, "maximumAvailable"));
    st->currently_available = json_number_value(json_object_get(ts, "currentlyAvailable"));
    st->restore_rate = json_number_value(json_object_get(ts, "restoreRate"));
    /* The status sets the limiter's bucket and rate, so one out of all reason (a proxy's, a
     * bug's) is ignored: Shopify's buckets hold 1,000-20,000 points and restore 50-2,000 a
     * second; a restore rate of 1e-300 would have held every call for ever. */
    if (!(st->maximum_available >= 1 && st->maximum_available <= 1e7 && st->restore_rate >= 1 &&
          st->restore_rate <= 1e6))
        return 0;
    if (!(st->currently_available >= 0)) st->currently_available = 0;
    if (st->currently_available > st->maximum_available)
        st->currently_available = st->maximum_available;
    return 1;
}

/* The first error's code (extensions.code) and message; THROTTLED wins if any error has it. */
static const char *error_code(json_t *errors, const char **message)
{
    const char *code = NULL;
    size_t i;
    json_t *e;
    *message = NULL;
    json_array_foreach(errors, i, e) {
        const char *c = json_string_value(json_object_get(json_object_get(e, "extensions"), "code"));
        if (!*message) *message = json_string_value(json_object_get(e, "message"));
        if (c && strcmp(c, "THROTTLED") == 0) return c;
        if (!code) code = c;
    }
    if (!*message) *message = "GraphQL error";
    return code ? code : "";
}

static int transient_code(const char *code)
{
    return strcmp(code, "INTERNAL_SERVER_ERROR") == 0 || strcmp(code, "SERVICE_UNAVAILABLE") == 0 ||
           strcmp(code, "TIMEOUT") == 0;
}

static void on_http(void *ud, const struct http_response *res)
{
    struct sh_call *c = ud;
    struct shopify *s = c->s;
    json_t *root = NULL, *errors;
    struct ratelimit_cost_status st;
    double requested = -1, actual = -1;
    char err[512];
    const char *code = "", *msg = NULL;
    c->retry_after_s = res->retry_after_s;
    int have_st = 0;

    if (!s) { /* the adapter is gone; its caller was told "cancelled" already */
        call_free(c);
        return;
    }
    if (res->status == 200) root = json_loadb(res->body, res->body_len, 0, NULL);
    if (root) have_st = read_cost(root, &st, &requested, &actual);
    errors = json_object_get(root, "errors");
    if (json_is_array(errors) && json_array_size(errors) > 0) code = error_code(errors, &msg);
    else if (json_is_string(errors)) msg = json_string_value(errors);
    int throttled = strcmp(code, "THROTTLED") == 0;
    int too_costly = strcmp(code, "MAX_COST_EXCEEDED") == 0;
    /* Parallel connections answer out of order: a throttleStatus older than one already
     * mirrored would forget the charges in between, so such an answer only settles its own
     * cost (THROTTLED: nothing was charged). */
    if (have_st && c->seq > s->applied_seq) {
        s->applied_seq = c->seq;
        ratelimit_cost_settle(s->rl, c->cost, &st, -1, throttled);
    } else {
        ratelimit_cost_settle(s->rl, c->cost, NULL, too_costly || throttled ? 0 : actual, throttled);
    }
    if (requested > 0) {
        learned_put(s, c->doc, requested);
        c->cost = requested;
    }
    if (c->probe) probe_end(s, c);

    if (res->status == 0) {
        call_finish(c, REMOTE_TRANSIENT, 0, res->body, res->body_len, res->error);
    } else if (res->status == 429 || res->status == 503) {
        ratelimit_on_429(s->rl, res->retry_after_s >= 0 ? res->retry_after_s : 1.0);
        if (c->tries < s->max_retries) resend(c);
        else call_finish(c, REMOTE_TRANSIENT, res->status, res->body, res->body_len,
                         "rate limited (HTTP 429/503), retries exhausted");
    } else if (res->status != 200) {
        snprintf(err, sizeof err, "HTTP %ld%s%.400s", res->status, msg ? ": " : "", msg ? msg : "");
        call_finish(c, http_client_classify(res->status), res->status, res->body, res->body_len, err);
    } else if (!root) {
        call_finish(c, REMOTE_TRANSIENT, res->status, res->body, res->body_len,
                    "response is not JSON");
    } else if (throttled) {
        if (c->tries < s->max_retries) resend(c);
        else call_finish(c, REMOTE_TRANSIENT, res->status, res->body, res->body_len,
                         "THROTTLED, retries exhausted");
    } else if (msg) {
        /* MAX_COST_EXCEEDED, schema and access errors never pass on a resend. */
        snprintf(err, sizeof err, "%s%s%.400s", code, *code ? ": " : "", msg);
        call_finish(c, transient_code(code) ? REMOTE_TRANSIENT : REMOTE_PERMANENT, res->status,
                    res->body, res->body_len, err);
    } else {
        call_finish(c, REMOTE_OK, res->status, res->body, res->body_len, NULL);
    }
    json_decref(root);
}

static void on_admitted(void *ud, int admitted)
{
    struct sh_call *c = ud;
    if (!admitted) {
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, "cancelled");
        return;
    }
    /* Queued before an earlier call of the same document taught us its real cost: admitted
     * short, Shopify would answer THROTTLED. Give the points back and wait for the full cost
     * at the head of the class instead. */
    double learned = learned_get(c->s, c->doc);
    if (learned < 0 && probe_find(c->s, c->doc) >= 0) {
        /* Its document's first call is still out: wait for its cost rather than guess. */
        ratelimit_cost_settle(c->s->rl, c->cost, NULL, 0, 0);
        c->park_next = c->s->parked;
        c->s->parked = c;
        return;
    }
    if (learned < 0) c->probe = probe_start(c->s, c->doc);
    if (learned > c->cost) {
        ratelimit_cost_settle(c->s->rl, c->cost, NULL, 0, 0);
        c->cost = learned;
        if (ratelimit_reacquire(c->s->rl, c->cost, c->prio, on_admitted, c))
            call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, "out of memory");
        return;
    }
    c->seq = ++c->s->sent_seq;
    struct http_request req = { "POST", c->s->url, c->s->headers, c->body, c->body_len,
                                c->s->timeout_ms };
    if (http_client_send(c->s->http, &req, on_http, c)) {
        ratelimit_cost_settle(c->s->rl, c->cost, NULL, 0, 0);
        if (c->probe) probe_end(c->s, c);
        call_finish(c, REMOTE_TRANSIENT, 0, NULL, 0, "http client refused the request");
    }
}

/* Is $idempotencyKey declared (or used) in the document? */
static int declares_idem_key(const char *query)
{
    static const char name[] = "$idempotencyKey";
    for (const char *p = strstr(query, name); p; p = strstr(p + 1, name)) {
        char next = p[sizeof name - 1];
        if (!(next == '_' || (next >= 'a' && next <= 'z') || (next >= 'A' && next <= 'Z') ||
              (next >= '0' && next <= '9')))
            return 1;
    }
    return 0;
}

/* Parses the body; injects the idempotency key when needed. Returns the body to send. */
static char *prepare_body(const char *body, const char *idem_key, uint64_t *doc)
{
    json_t *root = json_loads(body, JSON_REJECT_DUPLICATES, NULL), *vars;
    const char *query = json_string_value(json_object_get(root, "query"));
    char *out = NULL;
    if (!query) goto cleanup;
    *doc = fnv1a(query);
    vars = json_object_get(root, "variables");
    if (idem_key && declares_idem_key(query) &&
        (!json_is_object(vars) || !json_object_get(vars, "idempotencyKey"))) {
        if (!json_is_object(vars)) {
            if (vars && !json_is_null(vars)) goto cleanup;
            vars = json_object();
            json_object_set_new(root, "variables", vars);
        }
        json_object_set_new(vars, "idempotencyKey", json_string(idem_key));
        out = json_dumps(root, JSON_COMPACT);
    } else {
        out = strdup(body);
    }
cleanup:
    json_decref(root);
    return out;
}

int shopify_graphql_est(struct shopify *s, const char *body, int prio, const char *idem_key,
                        double est_cost, remote_done_fn cb, void *ud)
{
    struct sh_call *c;
    if (s->closing || !body || !cb || prio < 0 || prio >= RATELIMIT_NPRIO) return -1;
    if (!(c = calloc(1, sizeof *c))) return -1;
    c->body = prepare_body(body, idem_key, &c->doc);
    if (!c->body) {
        free(c);
        return -1;
    }
    c->body_len = strlen(c->body);
    c->s = s;
    c->prio = prio;
    c->cb = cb;
    c->ud = ud;
    c->cost = learned_get(s, c->doc);
    if (c->cost < 0) c->cost = est_cost > 0 ? est_cost : s->default_cost;
    if (ratelimit_acquire(s->rl, c->cost, prio, on_admitted, c)) {
        call_free(c);
        return -1;
    }
    c->next = s->calls;
    if (s->calls) s->calls->prev = c;
    s->calls = c;
    s->ncalls++;
    return 0;
}

int shopify_graphql(struct shopify *s, const char *body, int prio, const char *idem_key,
                    remote_done_fn cb, void *ud)
{
    return shopify_graphql_est(s, body, prio, idem_key, -1, cb, ud);
}

struct ratelimit *shopify_limiter(struct shopify *s) { return s->rl; }

size_t shopify_pending(const struct shopify *s) { return s->ncalls; }

void shopify_free(struct shopify *s)
{
    if (!s) return;
    s->closing = 1;
    /* Calls in flight: tell the caller now, let the http callback free the orphan later.
     * Calls still queued in the limiter are cancelled (and freed) by ratelimit_free. */
    struct sh_call *c = s->calls, *next;
    for (; c; c = next) {
        next = c->next;
        c->s = NULL;
    }
    c = s->calls;
    s->calls = NULL;
    for (; c; c = next) {
        next = c->next;
        c->prev = c->next = NULL;
        struct remote_result r = { REMOTE_TRANSIENT, 0, "", 0, "cancelled", 0 };
        if (c->cb) c->cb(c->ud, &r);
        c->cb = NULL;
    }
    /* Parked calls are owned by nobody else: free them here (their callers were told above). */
    while (s->parked) {
        c = s->parked;
        s->parked = c->park_next;
        call_free(c);
    }
    ratelimit_free(s->rl);
    free(s->url);
    free(s->token_header);
    free(s);
}
