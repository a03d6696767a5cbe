/* scheduler: see scheduler.h. Each schedule's last fire time is kept in kv (namespace
 * "scheduler"), written in the same transaction as the event it fired, so a crash can neither
 * lose nor repeat a run. */
#include "scheduler.h"

#include "config.h"
#include "engine.h"
#include "log.h"
#include "poller.h"
#include "store.h"

#include <ctype.h>
#include <event2/event.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SEARCH_LIMIT 200000      /* steps of the next/prev search (~5 years of days) */

struct field_spec {
    const char *name;
    int lo, hi;
    const char *const *names;    /* aliases for lo, lo+1, ... */
};

static const char *const month_names[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
                                           "aug", "sep", "oct", "nov", "dec", NULL };
static const char *const day_names[] = { "sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL };

static const struct field_spec fields[5] = {
    { "minute", 0, 59, NULL }, { "hour", 0, 23, NULL }, { "day of month", 1, 31, NULL },
    { "month", 1, 12, month_names }, { "day of week", 0, 7, day_names },
};

static const struct { const char *macro, *expr; } macros[] = {
    { "@yearly", "0 0 1 1 *" }, { "@annually", "0 0 1 1 *" }, { "@monthly", "0 0 1 * *" },
    { "@weekly", "0 0 * * 0" }, { "@daily", "0 0 * * *" }, { "@midnight", "0 0 * * *" },
    { "@hourly", "0 * * * *" },
};

static int parse_value(const char *s, size_t n, const struct field_spec *f, int *out)
{
    char buf[16];
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, s, n);
    buf[n] = '\0';
    for (int i = 0; f->names && f->names[i]; i++)
        if (strcasecmp(buf, f->names[i]) == 0) {
            *out = f->lo + i;
            return 0;
        }
    char *end;
    long v = strtol(buf, &end, 10);
    if (*end || !isdigit((unsigned char)buf[0]) || v < f->lo || v > f->hi) return -1;
    *out = (int)v;
    return 0;
}

/* One field: comma-separated items, each "*", "a", "a-b", optionally "/step". */
static int parse_field(const char *s, size_t len, const struct field_spec *f, uint64_t *bits,
                       int *any, char *err, size_t errlen)
{
    *bits = 0;
    *any = len == 1 && s[0] == '*';
    while (len > 0) {
        size_t n = 0;
        while (n < len && s[n] != ',') n++;
        size_t range = 0;
        while (range < n && s[range] != '/') range++;
        int lo = f->lo, hi = f->hi, step = 1;
        if (range < n) {
            char *end;
            long v = strtol(s + range + 1, &end, 10);
            if (end != s + n || v < 1 || v > f->hi) goto bad;
            step = (int)v;
        }
        if (!(range == 1 && s[0] == '*')) {
            size_t dash = 0;
            while (dash < range && s[dash] != '-') dash++;
            if (parse_value(s, dash, f, &lo)) goto bad;
            hi = lo;
            if (dash < range && parse_value(s + dash + 1, range - dash - 1, f, &hi)) goto bad;
            if (hi < lo) goto bad;
            if (range < n && dash == range) hi = f->hi; /* "5/15" = from 5 on */
        }
        for (int v = lo; v <= hi; v += step) *bits |= 1ULL << v;
        s += n;
        len -= n;
        if (len > 0) { /* the comma */
            s++;
            len--;
            if (len == 0) goto bad;
        }
    }
    return 0;
bad:
    snprintf(err, errlen, "bad %s field (expected %d-%d, *, a-b, lists and /step)", f->name,
             f->lo, f->hi);
    return -1;
}

int scheduler_cron_parse(const char *expr, struct scheduler_cron *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    while (isspace((unsigned char)*expr)) expr++;
    for (size_t i = 0; i < sizeof macros / sizeof macros[0]; i++)
        if (strcasecmp(expr, macros[i].macro) == 0) expr = macros[i].expr;
    const char *p = expr;
    uint64_t bits[5];
    int any[5];
    for (int i = 0; i < 5; i++) {
        while (isspace((unsigned char)*p)) p++;
        size_t n = strcspn(p, " \t");
        if (n == 0) {
            snprintf(err, errlen, "expected 5 fields (minute hour day-of-month month "
                     "day-of-week), found %d", i);
            return -1;
        }
        if (parse_field(p, n, &fields[i], &bits[i], &any[i], err, errlen)) return -1;
        p += n;
    }
    while (isspace((unsigned char)*p)) p++;
    if (*p) {
        snprintf(err, errlen, "expected 5 fields, found more ('%s')", p);
        return -1;
    }
    out->minutes = bits[0];
    out->hours = (uint32_t)bits[1];
    out->days = (uint32_t)bits[2];
    out->months = (uint32_t)bits[3];
    out->weekdays = (uint32_t)((bits[4] | (bits[4] >> 7)) & 0x7f); /* 7 is Sunday */
    out->days_any = any[2];
    out->weekdays_any = any[4];
    return 0;
}

static int day_matches(const struct scheduler_cron *c, const struct tm *tm)
{
    int dom = (c->days >> tm->tm_mday) & 1, dow = (c->weekdays >> tm->tm_wday) & 1;
    if (!c->days_any && !c->weekdays_any) return dom || dow;
    return dom && dow;
}

static int64_t to_time(struct tm *tm)
{
    tm->tm_isdst = -1;
    return (int64_t)mktime(tm);
}

int64_t scheduler_cron_next(const struct scheduler_cron *c, int64_t t)
{
    int64_t cur = (t / 60) * 60 + 60;
    for (int i = 0; i < SEARCH_LIMIT; i++) {
        struct tm tm;
        time_t tt = (time_t)cur;
        localtime_r(&tt, &tm);
        if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mon++, tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0, tm.tm_sec = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_mday++, tm.tm_hour = 0, tm.tm_min = 0, tm.tm_sec = 0;
        } else if (!((c->hours >> tm.tm_hour) & 1)) {
            tm.tm_hour++, tm.tm_min = 0, tm.tm_sec = 0;
        } else if (!((c->minutes >> tm.tm_min) & 1)) {
            cur += 60;
            continue;
        } else {
            return cur;
        }
        int64_t n = to_time(&tm);
        cur = n > cur ? n : cur + 60; /* a DST gap must not stall the search */
    }
    return -1;
}

int64_t scheduler_cron_prev(const struct scheduler_cron *c, int64_t t)
{
    int64_t cur = (t / 60) * 60;
    for (int i = 0; i < SEARCH_LIMIT; i++) {
        struct tm tm;
        time_t tt = (time_t)cur;
        localtime_r(&tt, &tm);
        if (!((c->months >> (tm.tm_mon + 1)) & 1)) {
            tm.tm_mday = 1, tm.tm_hour = 0, tm.tm_min = 0, tm.tm_sec = 0;
        } else if (!day_matches(c, &tm)) {
            tm.tm_hour = 0, tm.tm_min = 0, tm.tm_sec = 0;
        } else if (!((c->hours >> tm.tm_hour) & 1)) {
            tm.tm_min = 0, tm.tm_sec = 0;
        } else if (!((c->minutes >> tm.tm_min) & 1)) {
            cur -= 60;
            continue;
        } else {
            return cur;
        }
        /* to the last minute before the start of this month / day / hour */
        int64_t n = to_time(&tm) - 60;
        cur = n < cur ? n : cur - 60;
    }
    return -1;
}

int scheduler_validate(const char *name, const char *expr, char *err, size_t errlen)
{
    struct scheduler_cron c;
    if (!*name || strlen(name) > 64 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(name)) {
        snprintf(err, errlen, "a schedule name is 1-64 letters, digits, '_' or '-'");
        return -1;
    }
    if (scheduler_cron_parse(expr, &c, err, errlen)) return -1;
    if (scheduler_cron_next(&c, (int64_t)time(NULL)) < 0) {
        snprintf(err, errlen, "'%s' never fires", expr);
        return -1;
    }
    return 0;
}

/* ---- the running scheduler ---- */

struct schedule {
    char *name, *expr;
    struct scheduler_cron cron;
};

struct scheduler {
    struct event_base *base;
    struct store *st;
    struct schedule *items;
    size_t n;
    struct event *timer;
    void (*notify)(void *ud);
    void *ud;
};

static void on_timer(evutil_socket_t fd, short what, void *arg);

struct scheduler *scheduler_new(struct event_base *base, struct store *st,
                                const struct config *cfg, void (*notify)(void *ud), void *ud)
{
    struct scheduler *s = calloc(1, sizeof *s);
    char err[256];
    if (!s) return NULL;
    s->base = base;
    s->st = st;
    s->notify = notify;
    s->ud = ud;
    s->items = calloc(cfg->schedules.n + 1, sizeof *s->items);
    if (!s->items) goto fail;
    for (size_t i = 0; i < cfg->schedules.n; i++) {
        struct schedule *it = &s->items[s->n];
        if (scheduler_cron_parse(cfg->schedules.values[i], &it->cron, err, sizeof err)) {
            log_error("bad schedule", "name", cfg->schedules.keys[i], "error", err);
            goto fail;
        }
        it->name = strdup(cfg->schedules.keys[i]);
        it->expr = strdup(cfg->schedules.values[i]);
        s->n++;
        if (!it->name || !it->expr) goto fail;
    }
    if (base && !(s->timer = evtimer_new(base, on_timer, s))) goto fail;
    return s;
fail:
    scheduler_free(s);
    return NULL;
}

void scheduler_free(struct scheduler *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++) {
        free(s->items[i].name);
        free(s->items[i].expr);
    }
    free(s->items);
    if (s->timer) event_free(s->timer);
    free(s);
}

/* Stores the run of `it` at `at` and the new last-fire time together. 1 stored, 0 dup, -1. */
static int fire(struct scheduler *s, struct schedule *it, int64_t at, int catch_up)
{
    char iso[40], key[128], last[24];
    int inserted = 0, rc = -1;
    poller_time_format(at * 1000, iso, sizeof iso);
    snprintf(key, sizeof key, "schedule:%s:%" PRId64, it->name, at / 60);
    snprintf(last, sizeof last, "%" PRId64, at);
    json_t *body = json_pack("{s:s, s:s, s:s, s:b}", "name", it->name, "cron", it->expr,
                             "scheduled_for", iso, "catch_up", catch_up);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    char topic[96];
    snprintf(topic, sizeof topic, "schedule/%s", it->name);
    struct store_event ev = { .source = "schedule", .topic = topic, .dedupe_key = key,
                              .body = text, .body_len = text ? strlen(text) : 0 };
    if (!text || store_begin(s->st)) goto cleanup;
    if (engine_event_store(s->st, &ev, NULL, &inserted, NULL) ||
        store_kv_put(s->st, "scheduler", it->name, last)) {
        store_rollback(s->st);
        goto cleanup;
    }
    if (store_commit(s->st)) goto cleanup;
    log_info(catch_up ? "schedule fired (catching up a missed run)" : "schedule fired",
             "schedule", it->name, "at", iso);
    rc = inserted;
cleanup:
    if (rc < 0) log_error("cannot store schedule event", "schedule", it->name,
                          "error", store_errmsg(s->st));
    free(text);
    json_decref(body);
    return rc;
}

int scheduler_tick(struct scheduler *s, int64_t now)
{
    int fired = 0;
    int64_t minute = (now / 60) * 60;
    for (size_t i = 0; i < s->n; i++) {
        struct schedule *it = &s->items[i];
        char *v = NULL;
        int64_t last;
        int rc = store_kv_get(s->st, "scheduler", it->name, &v);
        if (rc < 0) return -1;
        /* Never ran: only a fire in the current minute counts, not the whole past. */
        last = rc == STORE_NOTFOUND ? minute - 1 : strtoll(v, NULL, 10);
        free(v);
        int64_t due = scheduler_cron_prev(&it->cron, now);
        if (due < 0 || due <= last) continue;
        /* Only the latest missed run: a daily report after three days down runs once. */
        rc = fire(s, it, due, due < minute);
        if (rc < 0) return -1;
        fired += rc;
    }
    if (fired && s->notify) s->notify(s->ud);
    return fired;
}

static void arm(struct scheduler *s);

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct scheduler *s = arg;
    scheduler_tick(s, (int64_t)time(NULL));
    arm(s);
}

static void arm(struct scheduler *s)
{
    int64_t now_ms = store_now_ms(), next = -1;
    for (size_t i = 0; i < s->n; i++) {
        int64_t t = scheduler_cron_next(&s->items[i].cron, now_ms / 1000);
        if (t >= 0 && (next < 0 || t < next)) next = t;
    }
    if (next < 0 || !s->timer) return;
    /* A little past the minute, so the wall clock has surely reached it. */
    int64_t delay = next * 1000 - now_ms + 50;
    if (delay < 50) delay = 50;
    struct timeval tv = { (time_t)(delay / 1000), (suseconds_t)((delay % 1000) * 1000) };
    evtimer_add(s->timer, &tv);
}

int scheduler_start(struct scheduler *s)
{
    if (scheduler_tick(s, (int64_t)time(NULL)) < 0) return -1;
    arm(s);
    return 0;
}

void scheduler_stop(struct scheduler *s)
{
    if (s && s->timer) evtimer_del(s->timer);
}
