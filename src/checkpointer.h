/* checkpointer: keeps the store's write-ahead log short from a thread and connection of its
 * own, so no commit ever carries a checkpoint. Left to SQLite, the commit that takes the log
 * past ~1000 pages copies all of it into the database and syncs it before it returns: for the
 * webhook receiver that was an acknowledgement stalled for tens of ms every ~300 deliveries,
 * and on the event loop's connection a stalled loop. A process that runs a checkpointer turns
 * automatic checkpoints off on all its connections (store_set_autocheckpoint(st, 0)). */
#ifndef EZ_CHECKPOINTER_H
#define EZ_CHECKPOINTER_H

#include <stddef.h>

struct checkpointer;

/* Passive checkpoints every CHECKPOINTER_INTERVAL_MS while the log grows (backing off to
 * CHECKPOINTER_IDLE_MS while it does not): they never block the writer, and one that
 * copies the whole log lets the next commit start it from the beginning (the file is reused,
 * not grown). Under sustained load commits land during every checkpoint, so the log is never
 * completely copied and would grow without bound (a restarting checkpoint from here starves
 * on the writer's lock). Past CHECKPOINTER_BEHIND_PAGES the checkpointer says it is behind;
 * the writer then runs one passive checkpoint itself between two batches, which only has the
 * last few commits left to copy and cannot race a commit, and the log restarts. */
/* Short: each checkpoint ends with a sync of the database file, which delays the webhook
 * commits' syncs of the log on the same disk; many small ones (5 ms) kept the p99 of a
 * delivery at half the maximum rate near 3.5 ms, where 20 ms gave 5.5 ms and 100 ms 10 ms. */
#define CHECKPOINTER_INTERVAL_MS 5
#define CHECKPOINTER_IDLE_MS 320
#define CHECKPOINTER_BEHIND_PAGES 2000

struct checkpointer *checkpointer_start(const char *path, char *err, size_t errlen);
/* Stops the thread (after one last passive checkpoint) and closes its connection. */
void checkpointer_stop(struct checkpointer *c);
/* 1 when the last checkpoint found the log past CHECKPOINTER_BEHIND_PAGES (any thread). */
int checkpointer_behind(struct checkpointer *c);
/* The caller (the writer, between two commits) copied the whole log itself: no longer behind
 * until the checkpointer finds the log past the limit again. Without it the writer read the
 * stale flag after each of its next commits, until the checkpointer's next run, and ran a
 * checkpoint (two syncs, while no commit can start) after each: most stalls of the p99. */
void checkpointer_caught_up(struct checkpointer *c);
/* Checkpoints run so far and the log's size at the last one (tests). */
void checkpointer_stats(struct checkpointer *c, long *runs, int *log_pages);

#endif
