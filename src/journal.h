/* journal: the record of every outbound call a job makes, by step, so that a retried or
 * resumed job replays recorded responses instead of sending again. Owns the request hash,
 * the idempotency-key format and the replay / divergence decision; the rows live in the store
 * (store_journal_*). Used by the engine. */
#ifndef EZ_JOURNAL_H
#define EZ_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

struct store;

#define JOURNAL_HASH_LEN 64      /* hex sha256 */
#define JOURNAL_IDEM_KEY_LEN 48

/* One outbound call as the journal sees it (mirrors struct engine_io). */
struct journal_request {
    int kind;                    /* 0 shopify graphql, 1 orderez rest, 2 notify */
    const char *method, *path, *body;
};

/* "shopify", "orderez", "notify" (the journal's remote column). */
const char *journal_remote_name(int kind);

/* sha256 over kind, method, path and body (NUL-separated, so no two requests collide by
 * shifting bytes between fields), as lowercase hex. */
void journal_hash(const struct journal_request *req, char out[JOURNAL_HASH_LEN + 1]);

/* "ezsync-ev<event>-<step>": the same for every attempt of a step, so a request re-sent after
 * a crash between its response and the journal commit is recognised by the remote. By the
 * job's event (one job per event), not the job: the event is synced before its 200, the job
 * is made later in a commit the loop does not sync, so a power loss can take back a job that
 * had already sent, and the job made again for the event has another id. */
void journal_idem_key(int64_t event_id, int step, char out[JOURNAL_IDEM_KEY_LEN]);

/* The request as a JSON object {kind, remote, method, path, body}; malloc'd, NULL on OOM. */
char *journal_request_json(const struct journal_request *req);
/* What a dead letter keeps of the call that failed: {request, status, response (at most
 * body_max bytes, cut on a UTF-8 boundary), error}; malloc'd, NULL on OOM. */
char *journal_failed_request_json(const struct journal_request *req, long status,
                                  const char *body, const char *error, size_t body_max);

enum journal_match {
    JOURNAL_MISS,                /* never completed: send it */
    JOURNAL_REPLAY,              /* recorded with the same hash: *status, *response filled */
    JOURNAL_DIVERGED,            /* recorded with another hash: the tail was dropped, send */
};

/* Decides what to do with step `step` of a job. On JOURNAL_DIVERGED the recorded steps from
 * `step` on are deleted and an audit entry for `entity` says so, in one transaction.
 * Returns an enum journal_match, or -1 on a store error. *response is malloc'd on REPLAY. */
int journal_lookup(struct store *st, int64_t job_id, int step, const char *hash,
                   const char *entity, int *status, char **response);

/* Records a completed step (committed before the job's run is resumed). */
int journal_record(struct store *st, int64_t job_id, int step,
                   const struct journal_request *req, const char *hash, int status,
                   const char *response);

#endif
