/* libFuzzer target: the small values that come from outside and steer timing — a remote's
 * times (the pollers' watermarks), a Retry-After header, a cron expression from the
 * configuration, a topic turned into Shopify's enum. Oracles: a time that parses formats and
 * parses back to the same instant; a Retry-After is a finite wait or -1; a cron that parses
 * names a minute in range. The first byte picks the parser. */
#include "http_client.h"
#include "poller.h"
#include "scheduler.h"
#include "subscriptions.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what, const char *in)
{
    fprintf(stderr, "fuzz_values: %s: \"%s\"\n", what, in);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256) return 0;
    char in[260], out[300], err[256];
    memcpy(in, data + 1, size - 1);
    in[size - 1] = '\0';
    switch (data[0] % 4) {
    case 0: {
        int64_t ms, back;
        if (poller_time_parse(in, &ms)) break;
        /* 1970..9998 both ways (formatting before year 1 is not a time the APIs send) */
        if (ms < 0 || ms >= 253370764800000LL) break;
        poller_time_format(ms, out, sizeof out);
        if (poller_time_parse(out, &back) || back != ms) fail("time does not round-trip", in);
        break;
    }
    case 1: {
        double s = http_client_parse_retry_after(in, 1700000000);
        if (!(s == -1 || (s >= 0 && isfinite(s)))) fail("retry-after not a finite wait", in);
        break;
    }
    case 2: {
        struct scheduler_cron c;
        (void)scheduler_cron_parse(in, &c, err, sizeof err);
        (void)scheduler_validate("fuzz", in, err, sizeof err);
        break;
    }
    default:
        (void)subscriptions_topic_enum(in, out, sizeof out);
        break;
    }
    return 0;
}
