/* dryrun_read: reads a recording from `ezsync record` (format in record.c) for the dry-run, one
 * event at a time, optionally on a second thread that parses lines ahead while the caller runs
 * the rules. Lines are decoded by lua_json's direct decoder into a private Lua state and copied
 * into reused buffers, so a steady replay allocates nothing per event. What a line yields, and
 * the reason a line is refused, are the same as when it was read with jansson. */
#ifndef EZ_DRYRUN_READ_H
#define EZ_DRYRUN_READ_H

#include "json_tape.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* One recorded call. A field that is absent, null or not of its type reads NULL / 0. */
struct dryrun_call {
    int kind;                     /* enum rules_io_kind, or -1 */
    const char *kind_name, *method, *path, *body, *response;
    int64_t status;
    int used;                     /* the replay already answered a call with it */
    char op[128];                 /* the GraphQL operation of body ("" none); valid when op_set */
    int op_set;
};

/* A text made ahead and its tape, which the replay lends to the rules (rules_ctx.event_lend)
 * rather than having them copied: a document may then hold it after its event, so it is
 * counted. refs: one for the slot that made it (which makes a new one when a document still
 * holds it), one for each holder (dryrun_doc_lend); freed at 0, on whichever thread. */
struct dryrun_doc {
    atomic_int refs;
    char *text;                   /* len 0: nothing made */
    size_t len, cap;
    struct json_tape tape;        /* of text; tape.text NULL: none */
};

/* rules_ctx.event_lend for a struct dryrun_doc (owner). */
void dryrun_doc_lend(void *owner, int delta);

/* What the caller made of an event ahead, on the reader's thread (dryrun_reader_open_prep). */
struct dryrun_prep {
    struct dryrun_doc *doc;       /* its own (refs 1) when prepare is called */
    struct json_tape *responses;  /* [i]: of calls[i].response, for i < nresponses (text NULL: none) */
    size_t nresponses, responses_cap;
};

struct dryrun_event {
    long lineno;                  /* 1-based line of the recording */
    long offset;                  /* bytes read up to the end of this line (progress bar) */
    const char *problem;          /* non-NULL: the line is unusable, this says why */
    int64_t id, received_at, job_id;
    const char *source, *topic, *body;
    struct dryrun_call *calls;
    size_t ncalls;
    const struct dryrun_prep *prep; /* NULL: no prepare function, or the line has a problem */
};

struct dryrun_reader;

/* Reads in from its current position. threaded: parse on a second thread. NULL on no memory. */
struct dryrun_reader *dryrun_reader_open(FILE *in, int threaded);
/* The same, and prepare(ev, p) is called for each event without a problem once it is read (on
 * the reader's thread when threaded), p being the event's own (reused from event to event):
 * work on an event done while the caller runs the one before. */
typedef void (*dryrun_prepare)(const struct dryrun_event *ev, struct dryrun_prep *p);
struct dryrun_reader *dryrun_reader_open_prep(FILE *in, int threaded, dryrun_prepare prepare);
/* The next event, or NULL at the end of the input; valid until the next call. */
struct dryrun_event *dryrun_reader_next(struct dryrun_reader *r);
/* Unthreaded: reads only the lines that start in [start, end) of the file (end < 0: to its
 * end); line numbers then count from there. For splitting a pass over the file. */
int dryrun_reader_range(struct dryrun_reader *r, long start, long end);
/* For a pass that needs only some calls (the journal index): from then on an event may carry
 * only the calls want(kind, method, body) accepts, and nothing else of its line (no event
 * fields, no problem); a line may also come whole, as without a filter. The calls it carries
 * are read exactly as without a filter. Lines are then mostly scanned (dryrun_scan) rather
 * than decoded: ~9 KB of webhook body per line need not be unescaped and copied. */
typedef int (*dryrun_call_filter)(int kind, const char *method, const char *body);
void dryrun_reader_only_calls(struct dryrun_reader *r, dryrun_call_filter want);
/* Stops the reader thread (also midway) and frees everything; does not close the file. */
void dryrun_reader_close(struct dryrun_reader *r);

/* "mutation OrderWriteback" from a GraphQL request body {"query": ...}, or "" (not GraphQL,
 * no name). L is a scratch Lua state for decoding (left as it was found). */
struct lua_State;
void dryrun_operation_name(struct lua_State *L, const char *body, char *out, size_t n);

#endif
