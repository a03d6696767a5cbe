/* intake: the webhook receiver's acknowledgement log, an append-only file beside the database
 * (`<store.path>-intake`). A delivery is acknowledged once its record is written here and
 * fdatasync'd: one sequential write per batch, where a commit into `events` costs ~10 KB of
 * write-ahead log per delivery (the row, its backlog entry and, for Shopify's random webhook
 * ids, a random page of the dedupe index) and as much again at the checkpoint. The webhook
 * writer moves records into `events` afterwards (intake_move), in transactions that also record
 * the last record moved (the store's intake mark), so a crash replays exactly the records not
 * yet moved (intake_recover), and a record is never in both or in neither.
 *
 * Records: a 24-byte header (magic, payload length, sequence number, CRC-32 of the rest) and the
 * event's fields, padded to 64 bytes (8 before 2026-12-07: recovery still reads such a log, its
 * records found one by one). Sequence numbers grow across the file's reuses: once every record
 * is moved the file is written from its start again, and recovery stops at the first record
 * that is torn, fails its CRC or does not follow its predecessor's number.
 *
 * The file's space is recycled, not given back and asked for again: a thread (logspace.h)
 * writes zeros ahead of the appends, so a group commit's sync overwrites blocks the file has
 * (about half the latency of one that extends it), and after a burst the file is cut back to
 * INTAKE_KEEP_BYTES, not to nothing.
 *
 * Records not yet moved are also found by dedupe key (intake_holds): a 22-bit hash tag and the
 * record's offset per entry, 6 bytes; a matching tag is confirmed against the file. One thread
 * owns an intake (the webhook writer). Uses store, logspace. */
#ifndef EZ_INTAKE_H
#define EZ_INTAKE_H

#include <stddef.h>
#include <stdint.h>

struct intake;
struct store;
struct store_event;

/* After a reuse, a file grown past this is cut back to it (a burst's disk given back, the
 * first of it kept written for the next). */
#define INTAKE_KEEP_BYTES (64L << 20)
/* One move transaction reads at most this much of the file (and at least one record). */
#define INTAKE_MOVE_BYTES (512L << 10)
/* Record offsets are kept in 26 bits of 64-byte units: the file never grows past this. */
#define INTAKE_MAX_BYTES ((int64_t)1 << 32)

/* Opens (creating) the log at path; reads nothing yet (intake_recover does). NULL with err. */
struct intake *intake_open(const char *path, char *err, size_t errlen);
void intake_close(struct intake *ik);

/* Startup, before any append: moves every record past the store's intake mark into events,
 * then starts the file over. Returns the number of records moved, or -1 with err (the file is
 * left as it was, to be replayed next time). A damaged record (not a torn last one) loses
 * itself but not the records after it: they are moved too, and err says what was lost (with
 * a return of 0 or more). */
long intake_recover(struct intake *ik, struct store *st, char *err, size_t errlen);

/* 1 when a record with this dedupe key is in the log (not yet moved) or staged; 0 when not;
 * -1 when the file could not be read (err set). */
int intake_holds(struct intake *ik, const char *dedupe_key, char *err, size_t errlen);

/* Stages ev as the next record (its received_at and lane as set; received_at 0 means now).
 * The caller has checked that it is new (intake_holds, the store). 0, or -1 with err. */
int intake_stage(struct intake *ik, const struct store_event *ev, char *err, size_t errlen);
/* Writes what is staged and syncs the file: 0 when every staged record is durable; -1 with
 * err when not, and then none of them counts as appended. Either way nothing stays staged. */
int intake_commit(struct intake *ik, char *err, size_t errlen);
/* Drops what is staged (the batch failed before its commit). */
void intake_abort(struct intake *ik);

/* Moves up to max of the oldest records into events (each into its backlog lane; a duplicate
 * of a stored row is dropped) in one transaction on st that also sets the intake mark.
 * Returns the number of records moved (0 when none is waiting) and in *inserted how many rows
 * were created, their ids in [*first_id, *last_id]; -1 with err when nothing moved. */
long intake_move(struct intake *ik, struct store *st, size_t max, size_t *inserted,
                 int64_t *first_id, int64_t *last_id, char *err, size_t errlen);

/* Records appended and not yet moved, and the bytes they take in the file. */
size_t intake_pending(const struct intake *ik);
int64_t intake_pending_bytes(const struct intake *ik);

#endif
