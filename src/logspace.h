/* logspace: keeps the space ahead of an append-only log's writes already written (zeros) and
 * synced, from a thread of its own, so that the log's synced appends overwrite blocks the file
 * already has. An append that extends a file makes its sync write the file's metadata too (the
 * new size, the block allocation) — on this project's disks twice the latency of a sync that
 * overwrites: 210-280 us against 110-140 us for a group commit's ~50 KB. On a file system
 * mounted with discard (a thin virtual disk), blocks a file gives back cost the host an
 * allocation when written again, and an appending log stalls for that too. PostgreSQL's WAL
 * (segments zero-filled, then recycled) and InnoDB's redo log (preallocated) do the same.
 *
 * The filler writes only at or past the log's write end as last announced (logspace_claim), in
 * pieces; a write that would overlap the piece in progress waits for it. So zeros never land
 * where a record is or is about to be: the filler changes how fast the log syncs, never what it
 * holds. How far ahead it fills grows with the log (the size written since it started over,
 * from LOGSPACE_AHEAD_MIN up to LOGSPACE_AHEAD_MAX), so a log holding a few deliveries costs
 * about a megabyte of disk and a burst finds tens of megabytes ready.
 *
 * The writes of the log itself should sync their own range only (pwritev2 with RWF_DSYNC, see
 * logspace_write): an fdatasync of the whole file would also wait for the filler's zeros. */
#ifndef EZ_LOGSPACE_H
#define EZ_LOGSPACE_H

#include <stddef.h>
#include <stdint.h>

#define LOGSPACE_PIECE (256L << 10)
#define LOGSPACE_AHEAD_MIN (1L << 20)
#define LOGSPACE_AHEAD_MAX (64L << 20)

struct logspace;

/* Starts filling ahead of the log open at fd (which the caller keeps open until
 * logspace_stop). What the file holds now counts as written once it is synced here. NULL with
 * err when the thread cannot start (the log then works as before, only slower). */
struct logspace *logspace_start(int fd, const char *name, char *err, size_t errlen);
/* Stops the thread (after the piece in progress) and frees ls; NULL is fine. */
void logspace_stop(struct logspace *ls);

/* Announces a write of [off, off + len) — the log's next append, or its first after starting
 * over from 0 — and waits, if need be, for the filler's piece in progress to end when it
 * overlaps that range. The filler then fills only past off + len. ls may be NULL. */
void logspace_claim(struct logspace *ls, int64_t off, int64_t len);

/* Writes n bytes at off and makes them durable (the range only, with RWF_DSYNC where the
 * kernel has it; else a write and fdatasync). 0, or -1 with errno. */
int logspace_write(int fd, const void *buf, size_t n, int64_t off);

/* Cuts the file back to size bytes when it is larger (after waiting for the piece in
 * progress), and the filled space with it. ls may be NULL (then only the file is cut). 0, or
 * -1 with errno. */
int logspace_truncate(struct logspace *ls, int fd, int64_t size);

/* The end of the space known written and synced (what the tests check). */
int64_t logspace_ready(struct logspace *ls);

#endif
