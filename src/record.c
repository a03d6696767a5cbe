/* record: see record.h. One line per event:
 *   {"event":{"id","source","topic","received_at","body"},
 *    "job":{"id","state","attempts","rules_version"} | null,
 *    "calls":[{"step","kind","method","path","body","status","response"}]}
 * Bodies and responses are kept as the exact text that crossed the wire (JSON strings), so a
 * replay matches requests byte for byte and int64 ids never pass through a double. */
#include "record.h"

#include "cli.h"
#include "log.h"
#include "store.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t record_stop;

static void on_signal(int sig)
{
    (void)sig;
    record_stop = 1; /* --follow ends at the next poll; the output stays line-complete */
}

static json_t *calls_json(struct store *st, int64_t job_id)
{
    struct store_journal *js = NULL;
    size_t n = 0;
    json_t *calls = json_array();
    if (job_id <= 0 || store_journal_list(st, job_id, &js, &n)) return calls;
    for (size_t i = 0; i < n; i++) {
        json_t *req = json_loads(js[i].request ? js[i].request : "{}", 0, NULL);
        json_t *c = json_object();
        json_object_set_new(c, "step", json_integer(js[i].step));
        json_object_set_new(c, "kind", json_string(js[i].remote ? js[i].remote : "?"));
        if (req) {
            json_object_set(c, "method", json_object_get(req, "method"));
            json_object_set(c, "path", json_object_get(req, "path"));
            json_t *b = json_object_get(req, "body");
            json_object_set(c, "body", b ? b : json_null());
            json_decref(req);
        }
        json_object_set_new(c, "status", json_integer(js[i].status));
        json_object_set_new(c, "response", json_string(js[i].response ? js[i].response : ""));
        json_array_append_new(calls, c);
    }
    store_journals_free(js, n);
    return calls;
}

/* One event as a recording line; NULL when the event vanished. Bodies that are not valid
 * UTF-8 cannot be a JSON string: they are recorded with a note instead of being dropped. */
static char *event_line(struct store *st, int64_t id)
{
    struct store_event ev;
    if (store_event_get(st, id, &ev)) return NULL;
    json_t *e = json_object();
    json_object_set_new(e, "id", json_integer(ev.id));
    json_object_set_new(e, "source", json_string(ev.source ? ev.source : ""));
    json_object_set_new(e, "topic", json_string(ev.topic ? ev.topic : ""));
    json_object_set_new(e, "received_at", json_integer(ev.received_at));
    json_t *body = json_stringn(ev.body, ev.body_len);
    json_object_set_new(e, "body", body ? body : json_string("<body is not valid UTF-8>"));
    json_t *line = json_object();
    json_object_set_new(line, "event", e);
    struct store_job job;
    if (store_job_by_event(st, id, &job) == 0) {
        json_t *j = json_object();
        json_object_set_new(j, "id", json_integer(job.id));
        json_object_set_new(j, "state", json_string(store_job_state_name(job.state)));
        json_object_set_new(j, "attempts", json_integer(job.attempts));
        json_object_set_new(j, "rules_version",
                            job.rules_version ? json_string(job.rules_version) : json_null());
        json_object_set_new(line, "job", j);
        json_object_set_new(line, "calls", calls_json(st, job.id));
        store_job_free(&job);
    } else {
        json_object_set_new(line, "job", json_null());
        json_object_set_new(line, "calls", json_array());
    }
    char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(line);
    store_event_free(&ev);
    return s;
}

const char record_usage[] =
    "usage: ezsync record --out FILE [-c FILE] [--since EVENT_ID] [--limit N] [--follow]\n"
    "  -o, --out FILE      recording to write (JSON lines; - for stdout)\n"
    "  -c, --config FILE   configuration (its store.path is the service database)\n"
    "  -s, --since ID      only events after this event id (default: all)\n"
    "  -n, --limit N       at most N events\n"
    "  -f, --follow        keep tapping new events until interrupted\n"
    "Reads the service database read-only; safe while the service runs.\n";

int record_cmd(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "out", required_argument, 0, 'o' }, { "config", required_argument, 0, 'c' },
        { "since", required_argument, 0, 's' }, { "limit", required_argument, 0, 'n' },
        { "follow", no_argument, 0, 'f' }, { 0, 0, 0, 0 } };
    const char *out_path = NULL, *conf = cli_default_config();
    int64_t since = 0;
    long limit = -1;
    int follow = 0, c;
    char *end;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:c:s:n:f", longopts, NULL)) != -1) {
        switch (c) {
        case 'o': out_path = optarg; break;
        case 'c': conf = optarg; break;
        case 's':
            since = strtoll(optarg, &end, 10);
            if (*end || since < 0) { fprintf(stderr, "ezsync record: --since needs an event id\n"); return EXIT_USAGE; }
            break;
        case 'n':
            limit = strtol(optarg, &end, 10);
            if (*end || limit < 1) { fprintf(stderr, "ezsync record: --limit needs a positive number\n"); return EXIT_USAGE; }
            break;
        case 'f': follow = 1; break;
        default: fputs(record_usage, stderr); return EXIT_USAGE;
        }
    }
    if (!out_path || optind < argc) {
        fprintf(stderr, "ezsync record: %s\n%s", out_path ? "unexpected argument" : "--out is required", record_usage);
        return EXIT_USAGE;
    }
    struct config cfg;
    int rc = cli_load_config(&cfg, conf);
    if (rc) return rc;
    char err[1024];
    struct store *st = NULL;
    if (access(cfg.store_path, R_OK)) {
        fprintf(stderr, "ezsync record: no service database at %s\n", cfg.store_path);
        config_free(&cfg);
        return EXIT_RUNTIME;
    }
    if (store_open(&st, cfg.store_path, STORE_READONLY, err, sizeof err)) {
        fprintf(stderr, "ezsync record: %s\n", err);
        config_free(&cfg);
        return EXIT_RUNTIME;
    }
    FILE *out = strcmp(out_path, "-") == 0 ? stdout : fopen(out_path, "w");
    if (!out) {
        fprintf(stderr, "ezsync record: cannot write %s: %m\n", out_path);
        store_close(st);
        config_free(&cfg);
        return EXIT_RUNTIME;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    long written = 0;
    rc = EXIT_OK;
    int64_t ids[256];
    while (!record_stop && (limit < 0 || written < limit)) {
        size_t n = 0;
        if (store_events_after(st, since, 256, ids, &n)) {
            fprintf(stderr, "ezsync record: %s\n", store_errmsg(st));
            rc = EXIT_RUNTIME;
            break;
        }
        for (size_t i = 0; i < n && (limit < 0 || written < limit); i++) {
            char *line = event_line(st, ids[i]);
            since = ids[i];
            if (!line) continue;
            fputs(line, out);
            fputc('\n', out);
            free(line);
            written++;
        }
        if (n == 0) {
            if (!follow) break;
            fflush(out);
            usleep(300 * 1000); /* a CLI tap, not the daemon: a short poll is the simple way */
        }
    }
    if (fflush(out) || (out != stdout && fclose(out))) {
        fprintf(stderr, "ezsync record: writing %s failed: %m\n", out_path);
        rc = EXIT_RUNTIME;
    }
    fprintf(stderr, "ezsync record: %ld event(s) written to %s\n", written, out_path);
    store_close(st);
    config_free(&cfg);
    return rc;
}
