/* dlq: see dlq.h. Retry and drop only touch dead jobs; a running service picks a retried job
 * up on its next sweep (engine.sweep_ms) and runs it with the rules it has loaded now. */
#include "dlq.h"

#include "cli.h"
#include "store.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

const char dlq_usage[] =
    "usage: ezsync dlq list [--state STATE] [--limit N] [--json]\n"
    "       ezsync dlq show ID [--json]\n"
    "       ezsync dlq retry ID\n"
    "       ezsync dlq drop ID\n"
    "options (any subcommand):\n"
    "  -c, --config FILE   configuration (default $EZSYNC_CONFIG or ./ezsync.conf.lua)\n"
    "  -d, --db PATH       database file (default: store.path of the configuration)\n"
    "  -s, --state STATE   list: queued | running | retry_wait | done | dead | dropped | all\n"
    "                      (default dead)\n"
    "  -n, --limit N       list: at most N jobs, newest first (default 100)\n"
    "  -j, --json          machine-readable output\n"
    "list prints id, topic, entity, attempts, age and the first line of the last error.\n"
    "retry puts a dead job back in the queue with its attempts reset; it runs the current\n"
    "rules (steps its journal recorded are replayed, not re-sent). drop discards it (kept as\n"
    "'dropped' for the record). Exit 0 ok, 1 no such dead job or database error, 2 usage.\n";

/* Text that is JSON stays JSON (failed_request, event bodies); anything else is a string. */
static json_t *json_or_string(const char *s)
{
    if (!s) return json_null();
    json_t *v = json_loads(s, JSON_DECODE_ANY, NULL);
    return v ? v : json_string(s);
}

static json_t *job_json(const struct store_job *j, int64_t now)
{
    json_t *o = json_pack("{s:I, s:I, s:s, s:s?, s:s?, s:s?, s:i, s:i, s:I, s:s?, s:s?, s:o,"
                          " s:s?, s:I, s:I, s:I, s:I}",
                          "id", (json_int_t)j->id, "event_id", (json_int_t)j->event_id,
                          "state", store_job_state_name(j->state), "topic", j->topic,
                          "source", j->source, "entity", j->entity_key,
                          "priority", j->priority, "attempts", j->attempts,
                          "next_at", (json_int_t)j->next_at, "last_error", j->last_error,
                          "traceback", j->traceback,
                          "failed_request", json_or_string(j->failed_request),
                          "rules_version", j->rules_version,
                          "received_at", (json_int_t)j->received_at,
                          "created_at", (json_int_t)j->created_at,
                          "updated_at", (json_int_t)j->updated_at,
                          "age_ms", (json_int_t)(now - j->created_at));
    return o;
}

static int dump(json_t *v, char **out)
{
    *out = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(v);
    return *out ? 0 : -1;
}

int dlq_jobs_json(struct store *st, int state, int limit, char **out)
{
    struct store_job *jobs = NULL;
    size_t n = 0;
    *out = NULL;
    if (store_jobs_list(st, state, limit, &jobs, &n)) return -1;
    json_t *arr = json_array();
    int64_t now = store_now_ms();
    for (size_t i = 0; arr && i < n; i++) json_array_append_new(arr, job_json(&jobs[i], now));
    store_jobs_free(jobs, n);
    return dump(arr, out);
}

int dlq_job_json(struct store *st, int64_t id, char **out)
{
    struct store_job job;
    struct store_event ev;
    struct store_journal *steps = NULL;
    size_t n = 0;
    *out = NULL;
    memset(&ev, 0, sizeof ev);
    int rc = store_job_get(st, id, &job);
    if (rc) return rc;
    json_t *o = job_json(&job, store_now_ms());
    json_t *journal = json_array();
    if (store_event_get(st, job.event_id, &ev) == 0)
        json_object_set_new(o, "event", json_or_string(ev.body));
    if (store_journal_list(st, id, &steps, &n) == 0)
        for (size_t i = 0; i < n; i++)
            json_array_append_new(journal, json_pack("{s:i, s:s?, s:s?, s:o, s:i, s:o}",
                "step", steps[i].step, "remote", steps[i].remote, "hash", steps[i].request_hash,
                "request", json_or_string(steps[i].request), "status", steps[i].status,
                "response", json_or_string(steps[i].response)));
    json_object_set_new(o, "journal", journal);
    store_journals_free(steps, n);
    store_event_free(&ev);
    store_job_free(&job);
    return dump(o, out);
}

static void age_text(int64_t ms, char *out, size_t len)
{
    int64_t s = ms / 1000;
    if (s < 120) snprintf(out, len, "%" PRId64 "s", s);
    else if (s < 7200) snprintf(out, len, "%" PRId64 "m", s / 60);
    else if (s < 172800) snprintf(out, len, "%" PRId64 "h", s / 3600);
    else snprintf(out, len, "%" PRId64 "d", s / 86400);
}

static int cmd_list(struct store *st, int state, int limit, int as_json)
{
    struct store_job *jobs = NULL;
    size_t n = 0;
    if (as_json) {
        char *out = NULL;
        if (dlq_jobs_json(st, state, limit, &out)) return EXIT_RUNTIME;
        printf("%s\n", out);
        free(out);
        return EXIT_OK;
    }
    if (store_jobs_list(st, state, limit, &jobs, &n)) return EXIT_RUNTIME;
    int64_t now = store_now_ms();
    printf("%-8s %-28s %-36s %8s %6s  %s\n", "ID", "TOPIC", "ENTITY", "ATTEMPTS", "AGE",
           "LAST ERROR");
    for (size_t i = 0; i < n; i++) {
        char age[32];
        const char *err = jobs[i].last_error ? jobs[i].last_error : "";
        age_text(now - jobs[i].created_at, age, sizeof age);
        printf("%-8" PRId64 " %-28s %-36s %8d %6s  %.*s\n", jobs[i].id,
               jobs[i].topic ? jobs[i].topic : "", jobs[i].entity_key ? jobs[i].entity_key : "",
               jobs[i].attempts, age, (int)strcspn(err, "\n"), err);
    }
    if (n == 0) printf("(no %s jobs)\n", state >= 0 ? store_job_state_name(state) : "");
    store_jobs_free(jobs, n);
    return EXIT_OK;
}

static int cmd_show(struct store *st, int64_t id, int as_json)
{
    char *out = NULL;
    int rc = dlq_job_json(st, id, &out);
    if (rc == STORE_NOTFOUND) {
        fprintf(stderr, "ezsync dlq: no job %" PRId64 "\n", id);
        return EXIT_RUNTIME;
    }
    if (rc) return EXIT_RUNTIME;
    if (as_json) {
        printf("%s\n", out);
    } else {
        json_t *o = json_loads(out, 0, NULL);
        char *pretty = o ? json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", pretty ? pretty : out);
        free(pretty);
        json_decref(o);
    }
    free(out);
    return EXIT_OK;
}

static int cmd_change(struct store *st, const char *what, int64_t id)
{
    int rc = strcmp(what, "retry") == 0 ? store_job_retry(st, id) : store_job_drop(st, id);
    if (rc == STORE_NOTFOUND) {
        fprintf(stderr, "ezsync dlq %s: no dead job %" PRId64 "\n", what, id);
        return EXIT_RUNTIME;
    }
    if (rc) return EXIT_RUNTIME;
    char entity[32];
    snprintf(entity, sizeof entity, "job:%" PRId64, id);
    store_audit_add(st, id, entity, strcmp(what, "retry") == 0 ? "dlq_retry" : "dlq_drop",
                    "from the command line");
    printf("job %" PRId64 " %s\n", id, strcmp(what, "retry") == 0
           ? "queued again (a running service picks it up on its next sweep)" : "dropped");
    return EXIT_OK;
}

static int parse_id(const char *s, int64_t *id)
{
    char *end;
    long long v = s ? strtoll(s, &end, 10) : 0;
    if (!s || !*s || *end || v <= 0) return -1;
    *id = v;
    return 0;
}

int dlq_cmd(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "config", required_argument, 0, 'c' }, { "db", required_argument, 0, 'd' },
        { "state", required_argument, 0, 's' }, { "limit", required_argument, 0, 'n' },
        { "json", no_argument, 0, 'j' }, { 0, 0, 0, 0 } };
    const char *config = cli_default_config(), *db = NULL, *sub;
    int c, as_json = 0, state = STORE_JOB_DEAD, limit = 100, rc = EXIT_USAGE;
    int64_t id = 0;
    struct store *st = NULL;
    struct config cfg;
    int have_cfg = 0;
    char err[1024];
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:d:s:n:j", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'd': db = optarg; break;
        case 'j': as_json = 1; break;
        case 'n': limit = atoi(optarg); break;
        case 's':
            state = strcmp(optarg, "all") == 0 ? -1 : store_job_state_parse(optarg);
            if (state < -1 || (state == -1 && strcmp(optarg, "all") != 0)) {
                fprintf(stderr, "ezsync dlq: unknown state '%s'\n", optarg);
                return EXIT_USAGE;
            }
            break;
        default: fputs(dlq_usage, stderr); return EXIT_USAGE;
        }
    }
    sub = optind < argc ? argv[optind] : NULL;
    int want_id = sub && strcmp(sub, "list") != 0;
    if (!sub || (strcmp(sub, "list") && strcmp(sub, "show") && strcmp(sub, "retry") &&
                 strcmp(sub, "drop"))) {
        fprintf(stderr, "ezsync dlq: %s\n%s", sub ? "unknown subcommand" : "missing subcommand",
                dlq_usage);
        return EXIT_USAGE;
    }
    if (argc - optind != (want_id ? 2 : 1) || (want_id && parse_id(argv[optind + 1], &id)) ||
        limit < 1) {
        fprintf(stderr, "ezsync dlq %s: %s\n", sub, want_id ? "expects one job ID (a positive "
                "integer)" : "takes no arguments (and --limit must be positive)");
        return EXIT_USAGE;
    }
    if (!db) {
        if ((rc = cli_load_config(&cfg, config)) != EXIT_OK) return rc;
        have_cfg = 1;
        db = cfg.store_path;
    }
    rc = EXIT_RUNTIME;
    if (access(db, F_OK) != 0) {
        fprintf(stderr, "ezsync dlq: no database at %s\n", db);
        goto cleanup;
    }
    if (store_open(&st, db, 0, err, sizeof err)) {
        fprintf(stderr, "ezsync dlq: %s\n", err);
        goto cleanup;
    }
    if (strcmp(sub, "list") == 0) rc = cmd_list(st, state, limit, as_json);
    else if (strcmp(sub, "show") == 0) rc = cmd_show(st, id, as_json);
    else rc = cmd_change(st, sub, id);
    if (rc == EXIT_RUNTIME && store_errmsg(st)[0])
        fprintf(stderr, "ezsync dlq: %s\n", store_errmsg(st));
cleanup:
    store_close(st);
    if (have_cfg) config_free(&cfg);
    return rc;
}
