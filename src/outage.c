/* outage: see outage.h. */
#include "outage.h"

#include <string.h>

void outage_init(struct outage *o, int64_t cap_ms)
{
    memset(o, 0, sizeof *o);
    o->cap_ms = cap_ms > 0 ? cap_ms : 1;
    o->min_ms = o->cap_ms < OUTAGE_PROBE_MIN_MS ? o->cap_ms : OUTAGE_PROBE_MIN_MS;
}

int outage_is_signal(long status)
{
    return status == 0 || status == 502 || status == 503 || status == 504;
}

static struct outage_remote *remote_of(struct outage *o, int remote)
{
    return remote >= 0 && remote < OUTAGE_REMOTES ? &o->r[remote] : NULL;
}

int64_t outage_answer(struct outage *o, int remote, int64_t now)
{
    struct outage_remote *r = remote_of(o, remote);
    if (!r) return -1;
    int64_t was = r->down ? now - r->since : -1;
    r->signals = 0;
    r->down = 0;
    r->level = 0;
    r->probing = 0;
    r->hold_until = 0;
    return was;
}

int64_t outage_gate(struct outage *o, int remote, int64_t now)
{
    struct outage_remote *r = remote_of(o, remote);
    if (!r || !r->down) return 0;
    if (now < r->hold_until) return r->hold_until;
    r->probing = 1;
    r->hold_until = now + o->min_ms;
    return 0;
}

int64_t outage_paused_until(const struct outage *o, unsigned mask, int64_t now)
{
    int64_t until = 0;
    for (int i = 0; i < OUTAGE_REMOTES; i++) {
        const struct outage_remote *r = &o->r[i];
        if ((mask >> i & 1u) && r->down && now < r->hold_until && r->hold_until > until)
            until = r->hold_until;
    }
    return until;
}

int64_t outage_failure(struct outage *o, int remote, long status, double retry_after_s,
                       int64_t now, int *went_down)
{
    struct outage_remote *r = remote_of(o, remote);
    *went_down = 0;
    if (!r) return 0;
    if (!outage_is_signal(status)) {
        /* A 429 or a 500 is an answer: the remote is there, this request failed. */
        outage_answer(o, remote, now);
        return 0;
    }
    r->signals++;
    /* A remote that says when to come back is believed at once (clamped: a Retry-After of a
     * day must not park the queue for a day; the holds probe at the cap instead). */
    int64_t after = 0;
    if (retry_after_s > 0) {
        double ms = retry_after_s * 1000.0;
        after = now + (ms > (double)o->cap_ms ? o->cap_ms : (int64_t)ms);
    }
    if (!r->down) {
        if (r->signals < OUTAGE_AFTER && !(status == 503 && after)) return 0;
        r->down = 1;
        r->since = now;
        r->level = 0;
        r->outages++;
        r->hold_until = now + o->min_ms;
        *went_down = 1;
    } else if (r->probing || now >= r->hold_until) {
        /* The round's probe failed (or, without a gate, the jobs released at hold_until found
         * it still down): the next hold is longer. Calls sent before the outage was known
         * fail within the hold and do not count again. */
        r->probing = 0;
        if (r->level < 30) r->level++;
        int64_t hold = o->min_ms << r->level;
        r->hold_until = now + (hold > o->cap_ms ? o->cap_ms : hold);
    }
    if (after > r->hold_until) r->hold_until = after;
    r->holds++;
    return r->hold_until;
}
