/* libFuzzer target: a recording (JSON lines) as `ezsync dry-run --events` reads it, through the
 * full reader (events, calls, the jansson fallbacks for odd lines) and, line by line, through
 * the quick scan the read index uses. A bad line must come out as a problem, never a crash or
 * a leak (the sanitizers watch). */
#include "dryrun_read.h"
#include "dryrun_scan.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = size ? fmemopen((void *)data, size, "r") : NULL;
    if (f) {
        struct dryrun_reader *r = dryrun_reader_open(f, 0);
        struct dryrun_event *ev;
        while (r && (ev = dryrun_reader_next(r)) != NULL && !ev->problem) {}
        if (r) dryrun_reader_close(r);
        fclose(f);
    }
    struct dryrun_scan sc = { 0 };
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        (void)dryrun_scan_line(&sc, p, len);
        p += len + 1;
    }
    dryrun_scan_free(&sc);
    return 0;
}
