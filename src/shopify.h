/* shopify: the Shopify Admin GraphQL remote. Owns the cost-bucket limiter and a small table of
 * learned per-document costs; sends through the shared http_client. THROTTLED and 429 answers
 * are waited out and resent here (bounded), so callers see only OK / TRANSIENT / PERMANENT. */
#ifndef EZ_SHOPIFY_H
#define EZ_SHOPIFY_H

#include "http_client.h"
#include "ratelimit.h"

struct config;
struct event_base;
struct shopify;

struct shopify_opts {
    const char *endpoint;        /* base URL (simulator); NULL = https://<shop> */
    const char *shop;            /* example.myshopify.com */
    const char *api_version;     /* e.g. 2026-10 */
    const char *access_token;    /* secret: sent as X-Shopify-Access-Token, never logged */
    double plan_restore_rate;    /* points/s until Shopify reports throttleStatus; 0 = 100 */
    int max_throttle_retries;    /* THROTTLED / 429 resends per call; 0 = 10 */
    double default_cost;         /* estimate for a document never seen; 0 = 50 */
    long timeout_ms;             /* per attempt; 0 = the http_client's default */
};

/* Fills opts from the configuration (pointers borrow cfg's strings). */
void shopify_opts_from_config(struct shopify_opts *o, const struct config *cfg);

/* http and base are borrowed and must outlive the adapter. Returns -1 without a shop/endpoint,
 * version or token. */
int shopify_new(struct shopify **out, struct event_base *base, struct http_client *http,
                const struct shopify_opts *o);

/* POST body ({"query":..., "variables":{...}}) to .../admin/api/<version>/graphql.json.
 * If the document declares $idempotencyKey and variables lack it, idem_key is injected.
 * prio: RATELIMIT_ORDERS .. RATELIMIT_REPORTS. Admission uses the last requestedQueryCost seen
 * for this document, else default_cost. cb runs once, from the loop. Returns -1 (no callback)
 * on a body that is not a JSON object with a "query" string, or while the adapter is freed. */
int shopify_graphql(struct shopify *s, const char *body, int prio, const char *idem_key,
                    remote_done_fn cb, void *ud);

/* Same, with the caller's cost estimate for a document not seen yet (< 0: none). */
int shopify_graphql_est(struct shopify *s, const char *body, int prio, const char *idem_key,
                        double est_cost, remote_done_fn cb, void *ud);

/* The learned requested cost of a query text, or -1. */
double shopify_learned_cost(const struct shopify *s, const char *query);

struct ratelimit *shopify_limiter(struct shopify *s);

/* Calls waiting or in flight. */
size_t shopify_pending(const struct shopify *s);

/* Pending calls get TRANSIENT "cancelled". Not from inside one of its callbacks. */
void shopify_free(struct shopify *s);

#endif
