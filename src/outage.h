/* outage: tells a remote that is down from a call that failed. Without it, a job that meets an
 * OrderEZ (or Shopify) outage spends one attempt per retry, and an outage longer than the
 * retry schedule (12 attempts, ~10 minutes) dead-letters every order that arrived during it:
 * nothing is lost, but a merchant has to retry each one by hand after an ordinary outage.
 *
 * The engine reports what each call to a remote came back with. Answers that say "the remote
 * is not there" -- no answer at all (connection refused, timeout), 502, 503, 504 -- count as
 * outage signals; any other answer (2xx, 4xx, 500, 429) shows the remote is up and resets the
 * count. After OUTAGE_AFTER signals in a row, or at once when a 503 says Retry-After, the
 * remote is down: a job that fails on it then waits for the remote instead of spending an
 * attempt (the engine refunds it), until the hold this module names. Holds double from
 * OUTAGE_PROBE_MIN_MS per failed probe round up to a cap, and never end before a Retry-After.
 * A 500 is not a signal: a request that always makes the remote fail must still dead-letter.
 * Pure logic with the clock passed in: the engine owns it, tests drive it. */
#ifndef EZ_OUTAGE_H
#define EZ_OUTAGE_H

#include <stdint.h>

#define OUTAGE_AFTER 3            /* signals in a row that mean "down" */
#define OUTAGE_PROBE_MIN_MS 1000  /* the first hold (or the cap, when shorter) */
#define OUTAGE_REMOTES 3          /* indexed by enum engine_io_kind */

struct outage_remote {
    int signals;                  /* outage signals since the last answer */
    int down;
    int level;                    /* failed probe rounds in this outage */
    int probing;                  /* a probe was let through; its failure ends the round */
    int64_t since;                /* ms; when it went down */
    int64_t hold_until;           /* ms; held jobs run again from then */
    int64_t holds;                /* jobs held, ever (metrics) */
    int64_t outages;              /* times it went down, ever */
};

struct outage {
    int64_t min_ms, cap_ms;       /* first and longest hold between two probe rounds */
    struct outage_remote r[OUTAGE_REMOTES];
};

/* cap_ms: the longest hold (> 0). */
void outage_init(struct outage *o, int64_t cap_ms);

/* 1 when status (0 = no answer) from a call that failed transiently means the remote is not
 * there, rather than that this request failed. */
int outage_is_signal(long status);

/* A call to remote got an answer that shows it up (any status but a signal). Returns how long
 * it was down in ms when this ends an outage, else -1. */
int64_t outage_answer(struct outage *o, int remote, int64_t now);

/* Before a call to remote is sent: while it is down and its hold has not ended, the time to
 * hold the job until instead of sending; else 0. The first call let through after a hold is
 * the round's probe: the calls after it wait for its answer (at most the first hold's
 * length, in case it never comes), so one job probes per round, not every held one. */
int64_t outage_gate(struct outage *o, int remote, int64_t now);

/* While one of the remotes in mask (bits by index) is down and its hold has not ended: the
 * latest such hold's end; else 0. */
int64_t outage_paused_until(const struct outage *o, unsigned mask, int64_t now);

/* A call to remote failed transiently with status (0 = no answer) and retry_after_s (<= 0:
 * none). Returns 0 when the job should retry as usual (spending an attempt), or the time (ms)
 * from which the job should run again without spending one: the remote is down. *went_down
 * is set to 1 when this call took it down. */
int64_t outage_failure(struct outage *o, int remote, long status, double retry_after_s,
                       int64_t now, int *went_down);

#endif
