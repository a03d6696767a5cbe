/* ratelimit: per-remote admission control, waiting on libevent timers (never sleeping).
 * Two kinds share one waiter queue with strict priority between classes and FIFO within one:
 * a token bucket (OrderEZ, Slack, SMTP: adaptive on 429, honours Retry-After) and a mirror of
 * Shopify's GraphQL cost bucket (admit on requested cost, settle on the reported throttleStatus). */
#ifndef EZ_RATELIMIT_H
#define EZ_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ratelimit;

/* Priority classes, 0 = most urgent. */
enum { RATELIMIT_ORDERS, RATELIMIT_FULFILLMENT, RATELIMIT_INVENTORY, RATELIMIT_CATALOG,
       RATELIMIT_REPORTS, RATELIMIT_NPRIO };

enum ratelimit_kind { RATELIMIT_TOKEN, RATELIMIT_COST };

/* Monotonic seconds. Tests inject a fake clock and call ratelimit_kick() after moving it. */
typedef double (*ratelimit_clock_fn)(void *ud);

struct ratelimit_opts {
    enum ratelimit_kind kind;
    const char *name;           /* for logs: "orderez", "shopify", ... */
    double rate;                /* tokens (or cost points) restored per second */
    double burst;               /* bucket size; cost kind: 0 = 20 x rate until Shopify reports it */
    double min_rate;            /* token kind: adaptive floor; 0 = rate / 10 */
    double headroom_s;          /* token kind: stay this many seconds of tokens behind the
                                 * server's bucket, so requests that reach it late (connection
                                 * setup, jitter) do not find it a fraction short; 0 = none */
    ratelimit_clock_fn clock;   /* NULL = CLOCK_MONOTONIC */
    void *clock_ud;
};

/* admitted = 0 only when the limiter is freed with the waiter still queued. */
typedef void (*ratelimit_fn)(void *ud, int admitted);

int ratelimit_new(struct ratelimit **out, struct event_base *base, const struct ratelimit_opts *o);

/* Queues a waiter for cost units (clamped to the bucket size) in class prio. cb runs from the
 * event loop once admitted (never inside this call). Returns -1 on a bad argument. */
int ratelimit_acquire(struct ratelimit *rl, double cost, int prio, ratelimit_fn cb, void *ud);

/* Same, at the head of its class: for a request that was admitted once and must be resent. */
int ratelimit_reacquire(struct ratelimit *rl, double cost, int prio, ratelimit_fn cb, void *ud);

/* Re-evaluates the queue now (after a fake clock moved, or a config change). */
void ratelimit_kick(struct ratelimit *rl);

/* Seconds until a waiter of this cost could be admitted if it were first in line. */
double ratelimit_wait_s(const struct ratelimit *rl, double cost);

/* ---- token bucket feedback ---- */

/* A 2xx/4xx answer that was not a 429: after a quiet period and a run of them the rate creeps
 * back up (additively, at most one step per 2 s, to 95 % of the rate that drew the 429). */
void ratelimit_on_success(struct ratelimit *rl);
/* A 429: no admission before retry_after_s (< 0: 1 s; at most RATELIMIT_MAX_RETRY_AFTER_S),
 * bucket emptied, rate x0.8 (at most once per second, so a burst of 429s to requests already
 * in flight counts once). */
#define RATELIMIT_MAX_RETRY_AFTER_S 60.0
void ratelimit_on_429(struct ratelimit *rl, double retry_after_s);

/* ---- cost bucket feedback ---- */

struct ratelimit_cost_status {      /* extensions.cost.throttleStatus */
    double maximum_available;
    double currently_available;
    double restore_rate;
};

/* Once per admitted request when its response arrives. admitted_cost: what it was admitted
 * with. st: the reported throttleStatus, or NULL. actual: actualQueryCost when there is no st
 * (< 0: unknown, keep the charge; 0: nothing was charged, refund). throttled: it was THROTTLED. */
void ratelimit_cost_settle(struct ratelimit *rl, double admitted_cost,
                           const struct ratelimit_cost_status *st, double actual, int throttled);

/* ---- metrics ---- */
struct ratelimit_stats {
    size_t waiting[RATELIMIT_NPRIO];
    double available;           /* tokens or points, now */
    double capacity;
    double rate;                /* current (adapted) rate */
    double blocked_for_s;       /* Retry-After still to run */
    double total_wait_ms;       /* summed over admitted waiters */
    uint64_t admitted;
    uint64_t throttled;         /* THROTTLED responses */
    uint64_t rate_limited;      /* 429 responses */
};
void ratelimit_get_stats(const struct ratelimit *rl, struct ratelimit_stats *out);

/* Pending waiters get cb(ud, 0). Not from inside one of this limiter's callbacks. */
void ratelimit_free(struct ratelimit *rl);

#endif
