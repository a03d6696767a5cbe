/* orderez: the OrderEZ REST remote. Owns the adaptive token-bucket limiter; sends through the
 * shared http_client with the bearer token. 429s are waited out (Retry-After blocks every
 * request to OrderEZ, not just the one that drew it) and resent here, bounded. */
#ifndef EZ_ORDEREZ_H
#define EZ_ORDEREZ_H

#include "http_client.h"
#include "ratelimit.h"

struct config;
struct event_base;
struct orderez;

struct orderez_opts {
    const char *base_url;        /* e.g. https://api.orderez.co */
    const char *token;           /* secret: sent as Authorization: Bearer, never logged */
    double rate;                 /* requests per second */
    double burst;
    double min_rate;             /* adaptive floor; 0 = rate / 10 */
    int max_429_retries;         /* 0 = 5; < 0 = none */
    long timeout_ms;             /* per attempt; 0 = the http_client's default */
    ratelimit_clock_fn clock;    /* NULL = monotonic (tests inject one) */
    void *clock_ud;
};

/* Fills opts from the configuration (pointers borrow cfg's strings). */
void orderez_opts_from_config(struct orderez_opts *o, const struct config *cfg);

int orderez_new(struct orderez **out, struct event_base *base, struct http_client *http,
                const struct orderez_opts *o);

/* method + path (with query string, starting with "/") relative to base_url; body is JSON or
 * NULL. 2xx -> OK; 409 -> OK with status 409 (the body names the existing record: the
 * idempotency hook); 429 (after the resends), 408, 5xx, transport -> TRANSIENT; other 4xx ->
 * PERMANENT with the envelope's error type and message. cb runs once, from the loop. Returns -1
 * (no callback) on a malformed method/path or while the adapter is freed. */
int orderez_request(struct orderez *o, const char *method, const char *path, const char *body,
                    int prio, remote_done_fn cb, void *ud);

struct ratelimit *orderez_limiter(struct orderez *o);
size_t orderez_pending(const struct orderez *o);

/* Pending calls get TRANSIENT "cancelled". Not from inside one of its callbacks. */
void orderez_free(struct orderez *o);

#endif
