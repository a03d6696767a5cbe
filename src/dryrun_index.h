/* dryrun_index: the recording's reads by request, for the dry-run. Jobs ran concurrently when the
 * traffic was recorded, so an event may find a product already mapped that the sequential
 * replay still has to look up, and the lookup was recorded under another (possibly later)
 * event. Only reads are answered this way: a write is never borrowed from another event. A read
 * is answered by its last recording in the file, so what the index answers never depends on
 * when it is built.
 *
 * The file is indexed in chunks, from the last one backwards: the last one by the first lookup,
 * the others by builder threads that start when a lookup needs more than the last chunk (with
 * a second core), or by the caller's lookups (without one). A lookup looks
 * through the chunks from the last and waits only for those it has to read: the reads an
 * event's own recording lacks were mostly recorded by events shortly after it, or by the
 * traffic's last ones, so the replay does not wait for a pass over the whole file (0.7 s of a
 * 6.3 s run over 100,000 events, with two threads over halves) unless a read was recorded
 * nowhere. A lookup waiting for a chunk no builder has taken builds it itself. Built chunks
 * merge into one map from the end, so a read recorded in every chunk is held about once. */
#ifndef EZ_DRYRUN_INDEX_H
#define EZ_DRYRUN_INDEX_H

#include "dryrun_read.h"

#define DRYRUN_INDEX_CHUNKS 16
#define DRYRUN_INDEX_THREADS 2

struct dryrun_index;

/* The index of the recording at path (size bytes; < 0: unknown, one chunk). threads: builder
 * threads to start once a lookup needs more than the last chunk (0: chunks are built by
 * lookups). NULL on no memory. */
struct dryrun_index *dryrun_index_new(const char *path, long size, int threads);
/* The last recording of this read (kind an enum rules_io_kind), or NULL: not a read, or
 * recorded nowhere. Valid until dryrun_index_free. Not thread-safe: one caller. */
const struct dryrun_call *dryrun_index_find(struct dryrun_index *ix, int kind, const char *method,
                                            const char *path, const char *body);
/* Stops the builders (after the chunk each is on) and frees everything. */
void dryrun_index_free(struct dryrun_index *ix);

#endif
