/* dryrun_report: what `ezsync dry-run` prints (text, JSON lines, --diff against the recording,
 * --expect against a golden file, the progress bar) and its fixtures file. Split from dryrun.c
 * so the replay loop reads on its own. */
#ifndef EZ_DRYRUN_REPORT_H
#define EZ_DRYRUN_REPORT_H

#include "dryrun_read.h"
#include "strbuf.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct dryrun_opts {
    const char *expect;
    int diff, json, quiet;
};

/* One replayed event. Its calls, writes and emits are kept as text in one buffer reused from
 * event to event; JSON trees are made only for the outputs that print them. recorded is
 * borrowed. Zero-initialise, fill, dryrun_report_add(), then dryrun_entry_clear() for the next
 * event (keeps the buffers) or dryrun_entry_free(). */
struct dryrun_entry_call {
    int step;
    size_t kind, method, path, body, answer;   /* offsets in text; DRYRUN_NONE: NULL */
};
struct dryrun_entry_note {
    size_t what, json;                         /* offsets in text */
};
#define DRYRUN_NONE ((size_t)-1)

struct dryrun_entry {
    int64_t event_id;
    char topic[200];
    const char *status;          /* "done", "error", "killed", "nomem", "no rule", ... */
    char *error;
    json_t *result;
    const struct dryrun_call *recorded;  /* what the recording has for the event */
    size_t nrecorded;
    int unanswered;
    int rerun;                   /* run again metered (RULES_RETRY, see rules_ctx.unmetered) */
    struct strbuf text;
    struct dryrun_entry_call *calls;
    struct dryrun_entry_note *writes, *emits;
    size_t ncalls, nwrites, nemits, capcalls, capwrites, capemits;
    int oom;                     /* a note was lost: out of memory */
    json_t *calls_json;          /* made from calls when an output needs it */
};

/* A call that only reads (OrderEZ GET, a GraphQL query): kind is "shopify"/"orderez"/"notify". */
int dryrun_is_read(const char *kind, const char *method, const char *body);

void dryrun_entry_add_call(struct dryrun_entry *e, const char *kind, const char *method,
                           const char *path, const char *body, int step, const char *answer);
/* A state write (ctx.trace: what, JSON) and an emitted event (topic, payload JSON). */
void dryrun_entry_add_write(struct dryrun_entry *e, const char *what, const char *json);
void dryrun_entry_add_emit(struct dryrun_entry *e, const char *topic, const char *payload);
void dryrun_entry_clear(struct dryrun_entry *e);
void dryrun_entry_free(struct dryrun_entry *e);

struct dryrun_report;
struct dryrun_report *dryrun_report_new(const struct dryrun_opts *o, const char *events_path,
                                        const char *rules_version, char *err, size_t errlen);
void dryrun_report_add(struct dryrun_report *r, struct dryrun_entry *e);
/* Tells the progress bar how far the input is read (bytes). */
void dryrun_report_progress(struct dryrun_report *r, long done, long total);
/* Prints the summary; returns the exit code (1 when --expect found a difference). */
int dryrun_report_finish(struct dryrun_report *r);
void dryrun_report_free(struct dryrun_report *r);

struct dryrun_fixtures;
int dryrun_fixtures_load(struct dryrun_fixtures **out, const char *path, char *err,
                         size_t errlen);
/* An object {status, response (string)} or NULL. body NULL in the fixture matches any body. */
json_t *dryrun_fixture_find(struct dryrun_fixtures *fx, const char *kind, const char *method,
                            const char *path, const char *body);
void dryrun_fixtures_free(struct dryrun_fixtures *fx);

#endif
