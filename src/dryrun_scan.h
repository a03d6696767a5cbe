/* dryrun_scan: a quick look at one line of a recording. The journal index (dryrun_index) needs
 * only each line's calls, not its event, yet decoding a line whole unescapes and copies it all,
 * ~9 KB of it the webhook body. The scan checks the line against JSON's grammar without
 * building anything and notes where each call's fields are (and, for the reader, where the
 * event's are), so the caller unescapes just those, straight from the line's text.
 *
 * It vouches only for lines it checked completely and that the full read takes the same way:
 * on anything unusual (a \u0000, a number jansson might refuse, a key written with escapes, a
 * repeated "calls", deep nesting, a line that is not an object, "calls" that is not an array of
 * objects, any syntax error) it says so, and the caller reads that line the full way. So what a
 * line yields never depends on which way it was read. */
#ifndef EZ_DRYRUN_SCAN_H
#define EZ_DRYRUN_SCAN_H

#include <stddef.h>

/* The text of a value in the line (a string with its quotes); s NULL when absent. */
struct dryrun_span {
    const char *s;
    size_t n;
};

enum { DRYRUN_F_KIND, DRYRUN_F_METHOD, DRYRUN_F_PATH, DRYRUN_F_BODY, DRYRUN_F_RESPONSE,
       DRYRUN_F_STATUS, DRYRUN_NFIELDS };

struct dryrun_scan_call {
    struct dryrun_span f[DRYRUN_NFIELDS]; /* a repeated member: the last one, as decoded */
};

/* The "event" object's fields (dryrun_scan_event_line only). */
enum { DRYRUN_E_ID, DRYRUN_E_RECEIVED_AT, DRYRUN_E_SOURCE, DRYRUN_E_TOPIC, DRYRUN_E_BODY,
       DRYRUN_NEVENT };

struct dryrun_scan {
    struct dryrun_scan_call *calls;       /* the elements of "calls", in order */
    size_t ncalls, cap;
    struct dryrun_span event[DRYRUN_NEVENT]; /* dryrun_scan_event_line: the last "event" */
    struct dryrun_span job_id;            /* and the last "job"'s "id" (none: not an object) */
};

/* 1: the line (len bytes, need not be terminated) is vouched for and sc holds its calls;
 * 0: read it the full way (also when out of memory). */
int dryrun_scan_line(struct dryrun_scan *sc, const char *line, size_t len);
/* The same for a line read whole: vouches only when "event" is an object whose source, topic
 * and body are strings (anything else is a problem the full read words), and also notes the
 * event's fields and the job's id. */
int dryrun_scan_event_line(struct dryrun_scan *sc, const char *line, size_t len);
void dryrun_scan_free(struct dryrun_scan *sc);

#endif
