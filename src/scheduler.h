/* scheduler: cron-style schedules from the configuration (schedules = { name = "m h dom mon
 * dow" }) that emit schedule/<name> events into the store, one per fire time (dedupe key
 * schedule:<name>:<minute>). After downtime it catches up at most one missed run per
 * schedule: the latest. Times are local (TZ), like cron. Owns the cron parser. */
#ifndef EZ_SCHEDULER_H
#define EZ_SCHEDULER_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct config;
struct scheduler;

struct scheduler_cron {
    uint64_t minutes;            /* bit per minute 0..59 */
    uint32_t hours;              /* 0..23 */
    uint32_t days;               /* day of month 1..31 */
    uint32_t months;             /* 1..12 */
    uint32_t weekdays;           /* 0..6, Sunday = 0 (7 is accepted as Sunday) */
    int days_any, weekdays_any;  /* "*": cron ORs the two day fields only when both are set */
};

/* Five fields: numbers, names (jan, mon), *, a-b, lists, /step; or @hourly, @daily (@midnight),
 * @weekly, @monthly, @yearly (@annually). 0, or -1 with the reason in err. */
int scheduler_cron_parse(const char *expr, struct scheduler_cron *out, char *err, size_t errlen);
/* First fire time strictly after t / the latest at or before t (seconds since the epoch,
 * minute-aligned); -1 when none within ~5 years (e.g. "0 0 31 2 *"). */
int64_t scheduler_cron_next(const struct scheduler_cron *c, int64_t t);
int64_t scheduler_cron_prev(const struct scheduler_cron *c, int64_t t);

/* The config table's check of one schedules entry (name and expression). */
int scheduler_validate(const char *name, const char *expr, char *err, size_t errlen);

/* notify(ud) runs after events were stored (the service passes engine_notify_events). */
struct scheduler *scheduler_new(struct event_base *base, struct store *st,
                                const struct config *cfg, void (*notify)(void *ud), void *ud);
/* Emits what is due (the catch-up run included) and arms the timer. */
int scheduler_start(struct scheduler *s);
void scheduler_stop(struct scheduler *s);
void scheduler_free(struct scheduler *s);
/* Emits the events due at `now` (seconds); returns how many, or -1. For tests and start. */
int scheduler_tick(struct scheduler *s, int64_t now);

#endif
