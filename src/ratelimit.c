/* ratelimit: see ratelimit.h. One bucket model serves both kinds: `avail` refills at `rate` up
 * to `burst` and admission takes `cost` from it. The token kind adapts `rate` to 429s; the cost
 * kind replaces `avail`, `rate` and `burst` with what Shopify reports, minus what we have in
 * flight (Shopify's number does not include requests it has not answered yet). */
#include "ratelimit.h"

#include "log.h"

#include <event2/event.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EPS 1e-9
#define DECREASE_FACTOR 0.8
#define DECREASE_MIN_INTERVAL_S 1.0   /* 429s within this window count as one event */
#define RECOVER_RUN 50                /* successes before each additive step up */
#define RECOVER_STEP 0.05             /* of the configured rate */
#define CEILING_HEADROOM 0.95         /* recover to 95 % of the rate that drew the last 429 */
#define CEILING_TTL_S 600.0           /* then probe the configured rate again */
#define HOLD_AFTER_429_S 5.0          /* no increase this soon after a 429 */
#define RECOVER_INTERVAL_S 2.0        /* at most one step up per interval */

struct waiter {
    double cost;
    double queued_at;
    ratelimit_fn cb;
    void *ud;
    struct waiter *next;
};

struct queue {
    struct waiter *head, *tail;
    size_t n;
};

struct ratelimit {
    struct event *timer;
    enum ratelimit_kind kind;
    char name[32];
    double cfg_rate, rate, min_rate, burst;
    double avail, last;             /* bucket content at time `last` */
    double blocked_until;           /* Retry-After: nothing is admitted before this */
    double inflight;                /* cost kind: admitted, not yet settled */
    double ceiling, ceiling_at;     /* token kind: the rate that drew the last 429 */
    double last_decrease, last_increase;
    double headroom_s;
    unsigned success_run;
    ratelimit_clock_fn clock;
    void *clock_ud;
    struct queue q[RATELIMIT_NPRIO];
    int processing;
    double total_wait_s;
    uint64_t admitted, throttled, rate_limited;
};

static double mono_clock(void *ud)
{
    (void)ud;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(const struct ratelimit *rl) { return rl->clock(rl->clock_ud); }

/* The bucket at time t, without changing state. */
static double avail_at(const struct ratelimit *rl, double t)
{
    if (t <= rl->last) return rl->avail;
    double a = rl->avail + (t - rl->last) * rl->rate;
    return a > rl->burst ? rl->burst : a;
}

static void refill(struct ratelimit *rl, double t)
{
    if (t <= rl->last) return;
    rl->avail = avail_at(rl, t);
    rl->last = t;
}

static void arm(struct ratelimit *rl, double wait_s)
{
    /* Round up to the next millisecond: waking early only costs a re-arm, never an admission. */
    long ms = wait_s > 0 ? (long)ceil(wait_s * 1000.0) : 0;
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
    evtimer_add(rl->timer, &tv);
}

static struct queue *first_queue(struct ratelimit *rl)
{
    for (int p = 0; p < RATELIMIT_NPRIO; p++)
        if (rl->q[p].head) return &rl->q[p];
    return NULL;
}

static double clamp_cost(const struct ratelimit *rl, double cost)
{
    return cost > rl->burst ? rl->burst : cost;
}

/* Tokens kept back on admission (never more than the bucket leaves room for). */
static double headroom(const struct ratelimit *rl, double cost)
{
    double h = rl->headroom_s * rl->rate;
    return h > rl->burst - cost ? (rl->burst - cost > 0 ? rl->burst - cost : 0) : h;
}

static void process(struct ratelimit *rl)
{
    struct queue *q;
    double wait = -1;

    if (rl->processing) return;
    rl->processing = 1;
    while ((q = first_queue(rl))) {
        double t = now_s(rl);
        struct waiter *w = q->head;
        double cost = clamp_cost(rl, w->cost);
        refill(rl, t);
        if (t < rl->blocked_until) {
            wait = rl->blocked_until - t;
            break;
        }
        double need = cost + headroom(rl, cost);
        if (rl->avail + EPS < need) {
            wait = (need - rl->avail) / rl->rate;
            break;
        }
        /* Strict priority: only the head of the most urgent class is ever considered. */
        q->head = w->next;
        if (!q->head) q->tail = NULL;
        q->n--;
        rl->avail -= cost;
        if (rl->kind == RATELIMIT_COST) rl->inflight += cost;
        rl->admitted++;
        rl->total_wait_s += t - w->queued_at;
        w->cb(w->ud, 1);
        free(w);
    }
    if (wait >= 0) arm(rl, wait);
    rl->processing = 0;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    process(arg);
}

int ratelimit_new(struct ratelimit **out, struct event_base *base, const struct ratelimit_opts *o)
{
    struct ratelimit *rl;
    *out = NULL;
    if (!o || !(o->rate > 0) || o->burst < 0) return -1;
    if (!(rl = calloc(1, sizeof *rl))) return -1;
    rl->timer = evtimer_new(base, on_timer, rl);
    if (!rl->timer) {
        free(rl);
        return -1;
    }
    rl->kind = o->kind;
    snprintf(rl->name, sizeof rl->name, "%s", o->name ? o->name : "remote");
    rl->cfg_rate = rl->rate = o->rate;
    rl->min_rate = o->min_rate > 0 ? o->min_rate : o->rate / 10;
    rl->headroom_s = o->headroom_s > 0 && o->kind == RATELIMIT_TOKEN ? o->headroom_s : 0;
    if (rl->min_rate > rl->rate) rl->min_rate = rl->rate;
    rl->burst = o->burst > 0 ? o->burst : (o->kind == RATELIMIT_COST ? 20 * o->rate : 1);
    if (rl->burst < 1) rl->burst = 1;
    rl->clock = o->clock ? o->clock : mono_clock;
    rl->clock_ud = o->clock_ud;
    /* Start full: a fresh process has sent nothing; a wrong guess costs one 429/THROTTLED. */
    rl->avail = rl->burst;
    rl->last = now_s(rl);
    rl->blocked_until = -INFINITY;
    rl->last_decrease = rl->last_increase = -INFINITY;
    *out = rl;
    return 0;
}

static int enqueue(struct ratelimit *rl, double cost, int prio, ratelimit_fn cb, void *ud, int front)
{
    if (!cb || prio < 0 || prio >= RATELIMIT_NPRIO || !(cost >= 0)) return -1;
    struct waiter *w = calloc(1, sizeof *w);
    if (!w) return -1;
    w->cost = cost;
    w->cb = cb;
    w->ud = ud;
    w->queued_at = now_s(rl);
    struct queue *q = &rl->q[prio];
    if (front) {
        w->next = q->head;
        q->head = w;
        if (!q->tail) q->tail = w;
    } else {
        if (q->tail) q->tail->next = w;
        else q->head = w;
        q->tail = w;
    }
    q->n++;
    /* Admission happens from the loop, so callers never see their callback inside this call. */
    if (!rl->processing) arm(rl, 0);
    return 0;
}

int ratelimit_acquire(struct ratelimit *rl, double cost, int prio, ratelimit_fn cb, void *ud)
{
    return enqueue(rl, cost, prio, cb, ud, 0);
}

int ratelimit_reacquire(struct ratelimit *rl, double cost, int prio, ratelimit_fn cb, void *ud)
{
    return enqueue(rl, cost, prio, cb, ud, 1);
}

void ratelimit_kick(struct ratelimit *rl)
{
    if (!rl->processing) arm(rl, 0);
}

double ratelimit_wait_s(const struct ratelimit *rl, double cost)
{
    double t = now_s(rl), wait = 0;
    double a = avail_at(rl, t > rl->blocked_until ? t : rl->blocked_until);
    cost = clamp_cost(rl, cost);
    cost += headroom(rl, cost);
    if (t < rl->blocked_until) wait = rl->blocked_until - t;
    if (a + EPS < cost) wait += (cost - a) / rl->rate;
    return wait;
}

void ratelimit_on_success(struct ratelimit *rl)
{
    if (rl->kind != RATELIMIT_TOKEN) return;
    double cap = rl->cfg_rate, t;
    if (rl->rate >= cap) return;
    t = now_s(rl);
    /* The run counts only successes after the hold and since the last step. */
    if (t - rl->last_decrease < HOLD_AFTER_429_S || t - rl->last_increase < RECOVER_INTERVAL_S) {
        rl->success_run = 0;
        return;
    }
    if (++rl->success_run < RECOVER_RUN) return;
    rl->success_run = 0;
    rl->last_increase = t;
    if (rl->ceiling > 0 && t - rl->ceiling_at < CEILING_TTL_S && rl->ceiling * CEILING_HEADROOM < cap)
        cap = rl->ceiling * CEILING_HEADROOM;
    if (rl->rate >= cap) return;
    refill(rl, t);
    rl->rate += rl->cfg_rate * RECOVER_STEP;
    if (rl->rate > cap) rl->rate = cap;
}

void ratelimit_on_429(struct ratelimit *rl, double retry_after_s)
{
    double t = now_s(rl);
    char ra[32], rate[32];
    rl->rate_limited++;
    if (retry_after_s < 0) retry_after_s = 1.0;
    /* A remote (or a proxy before it) that asks for an hour would stop the sync for that hour
     * on one answer; past the cap the next request asks again (and a 429 blocks again). */
    if (retry_after_s > RATELIMIT_MAX_RETRY_AFTER_S) retry_after_s = RATELIMIT_MAX_RETRY_AFTER_S;
    refill(rl, t);
    if (t + retry_after_s > rl->blocked_until) {
        rl->blocked_until = t + retry_after_s;
        /* Nothing accrues while blocked; one request's worth is allowed the moment it ends. */
        rl->avail = rl->burst < 1 ? rl->burst : 1;
        rl->last = rl->blocked_until;
    }
    rl->success_run = 0;
    if (rl->kind == RATELIMIT_TOKEN && t - rl->last_decrease >= DECREASE_MIN_INTERVAL_S &&
        rl->rate > rl->min_rate) {
        rl->ceiling = rl->rate;
        rl->ceiling_at = t;
        rl->last_decrease = t;
        rl->rate *= DECREASE_FACTOR;
        if (rl->rate < rl->min_rate) rl->rate = rl->min_rate;
        snprintf(ra, sizeof ra, "%.3f", retry_after_s);
        snprintf(rate, sizeof rate, "%.3f", rl->rate);
        log_warn("rate limited by remote", "remote", rl->name, "retry_after_s", ra, "new_rate", rate);
    }
    ratelimit_kick(rl);
}

void ratelimit_cost_settle(struct ratelimit *rl, double admitted_cost,
                           const struct ratelimit_cost_status *st, double actual, int throttled)
{
    double t = now_s(rl);
    rl->inflight -= admitted_cost;
    if (rl->inflight < EPS) rl->inflight = 0;
    if (throttled) rl->throttled++;
    if (st && st->maximum_available > 0 && st->restore_rate > 0) {
        rl->burst = st->maximum_available;
        rl->rate = st->restore_rate;
        rl->avail = st->currently_available - rl->inflight;
        if (rl->avail > rl->burst) rl->avail = rl->burst;
        rl->last = t;
    } else if (actual >= 0) {
        refill(rl, t);
        rl->avail += admitted_cost - actual;
        if (rl->avail > rl->burst) rl->avail = rl->burst;
    }
    ratelimit_kick(rl);
}

void ratelimit_get_stats(const struct ratelimit *rl, struct ratelimit_stats *out)
{
    double t = now_s(rl);
    memset(out, 0, sizeof *out);
    for (int p = 0; p < RATELIMIT_NPRIO; p++) out->waiting[p] = rl->q[p].n;
    out->available = avail_at(rl, t);
    out->capacity = rl->burst;
    out->rate = rl->rate;
    out->blocked_for_s = t < rl->blocked_until ? rl->blocked_until - t : 0;
    out->total_wait_ms = rl->total_wait_s * 1000.0;
    out->admitted = rl->admitted;
    out->throttled = rl->throttled;
    out->rate_limited = rl->rate_limited;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl) return;
    rl->processing = 1; /* a cancelled waiter re-acquiring must not arm the timer */
    for (int p = 0; p < RATELIMIT_NPRIO; p++) {
        struct waiter *w;
        while ((w = rl->q[p].head)) {
            rl->q[p].head = w->next;
            w->cb(w->ud, 0);
            free(w);
        }
    }
    event_free(rl->timer);
    free(rl);
}
