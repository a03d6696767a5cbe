/* dryrun: see dryrun.h. The recording is streamed (one event in memory at a time), so a week of
 * traffic replays in constant memory. */
#include "dryrun.h"

#include "cli.h"
#include "dryrun_report.h"
#include "log.h"
#include "rules.h"
#include "rules_runner.h"
#include "store.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the recording ---- */

static int kind_parse(const char *s)
{
    if (!s) return -1;
    if (strcmp(s, "shopify") == 0) return RULES_IO_SHOPIFY;
    if (strcmp(s, "orderez") == 0) return RULES_IO_ORDEREZ;
    if (strcmp(s, "notify") == 0) return RULES_IO_NOTIFY;
    return -1;
}

static const char *kind_name(int k)
{
    return k == RULES_IO_SHOPIFY ? "shopify" : k == RULES_IO_ORDEREZ ? "orderez" : "notify";
}

static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* The calls of one recorded event (borrowed from its parsed line). */
struct rec_calls {
    json_t *arr;
    char *used;
    size_t n;
};

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Reads anywhere in the recording, by request: built on the first read an event's own
 * recording cannot answer. Jobs ran concurrently when the traffic was recorded, so an event
 * may find a product already mapped that the sequential replay still has to look up, and the
 * lookup was recorded under another (possibly later) event. Only reads are answered this way:
 * a write is never borrowed from another event. */
struct read_index {
    const char *path;
    json_t *map;                 /* signature -> recorded call */
    int built;
};

static int is_read(int kind, const char *method, const char *body)
{
    return dryrun_is_read(kind_name(kind), method, body);
}

static char *signature(int kind, const char *method, const char *path, const char *body)
{
    char *sig = NULL;
    if (asprintf(&sig, "%d\x1f%s\x1f%s\x1f%s", kind, method ? method : "",
                 kind == RULES_IO_SHOPIFY ? "" : (path ? path : ""), body ? body : "") < 0)
        return NULL;
    return sig;
}

static void index_build(struct read_index *ix)
{
    ix->built = 1;
    ix->map = json_object();
    FILE *f = fopen(ix->path, "r");
    if (!f) return;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    while ((len = getline(&buf, &cap, f)) > 0) {
        json_t *line = json_loadb(buf, (size_t)len, 0, NULL);
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(line, "calls"), i, c) {
            int kind = kind_parse(jstr(c, "kind"));
            if (!is_read(kind, jstr(c, "method"), jstr(c, "body"))) continue;
            char *sig = signature(kind, jstr(c, "method"), jstr(c, "path"), jstr(c, "body"));
            if (sig) json_object_set(ix->map, sig, c);
            free(sig);
        }
        json_decref(line);
    }
    free(buf);
    fclose(f);
}

static json_t *index_find(struct read_index *ix, const struct rules_io *io)
{
    if (!is_read((int)io->kind, io->method, io->body) || !ix->path) return NULL;
    if (!ix->built) index_build(ix);
    char *sig = signature((int)io->kind, io->method, io->path, io->body);
    json_t *c = sig ? json_object_get(ix->map, sig) : NULL;
    free(sig);
    return c;
}

/* "mutation OrderWriteback" from a GraphQL request body, or "" (not GraphQL / no name). */
static void operation_name(const char *body, char *out, size_t n)
{
    out[0] = '\0';
    json_t *b = body ? json_loads(body, 0, NULL) : NULL;
    const char *q = b ? json_string_value(json_object_get(b, "query")) : NULL;
    if (q) {
        while (*q == ' ' || *q == '\n' || *q == '\t') q++;
        size_t len = strcspn(q, "({");
        while (len > 0 && (q[len - 1] == ' ' || q[len - 1] == '\n')) len--;
        snprintf(out, n, "%.*s", (int)(len < n ? len : n - 1), q);
    }
    json_decref(b);
}

/* How the dry-run answers a call: the recording, same request; the recording, same step and
 * endpoint but another body (the rule changed what it sends); the same read recorded under
 * another event; a fixture; or nothing. */
static json_t *find_answer(struct rec_calls *rc, struct read_index *ix, struct dryrun_fixtures *fx,
                           const struct rules_io *io, const char **how)
{
    for (size_t i = 0; i < rc->n; i++) {
        json_t *c = json_array_get(rc->arr, i);
        if (rc->used[i] || kind_parse(jstr(c, "kind")) != (int)io->kind) continue;
        if (streq(jstr(c, "method"), io->method) && streq(jstr(c, "body"), io->body) &&
            (io->kind == RULES_IO_SHOPIFY || streq(jstr(c, "path"), io->path))) {
            rc->used[i] = 1;
            *how = "recorded";
            return c;
        }
    }
    /* The same endpoint with another body: the rule changed what it sends. For GraphQL the
     * endpoint is the operation (its name), not the URL. */
    char op[128];
    operation_name(io->kind == RULES_IO_SHOPIFY ? io->body : NULL, op, sizeof op);
    for (size_t i = 0; i < rc->n; i++) {
        json_t *c = json_array_get(rc->arr, i);
        if (rc->used[i] || kind_parse(jstr(c, "kind")) != (int)io->kind ||
            !streq(jstr(c, "method"), io->method))
            continue;
        char cop[128];
        operation_name(io->kind == RULES_IO_SHOPIFY ? jstr(c, "body") : NULL, cop, sizeof cop);
        if (io->kind == RULES_IO_SHOPIFY ? strcmp(op, cop) == 0 : streq(jstr(c, "path"), io->path)) {
            rc->used[i] = 1;
            *how = "recorded, request differs";
            return c;
        }
    }
    json_t *other = index_find(ix, io);
    if (other) {
        *how = "recorded, another event";
        return other;
    }
    json_t *f = dryrun_fixture_find(fx, kind_name((int)io->kind), io->method, io->path, io->body);
    if (f) {
        *how = "fixture";
        return f;
    }
    *how = "unanswered";
    return NULL;
}

struct run_notes {
    json_t *writes, *emits;
};

static void on_trace(void *ud, const char *what, const char *json)
{
    struct run_notes *n = ud;
    if (strcmp(what, "log") == 0) return;
    json_t *v = json_loads(json, JSON_DECODE_ANY, NULL);
    json_t *o = json_object();
    json_object_set_new(o, "what", json_string(what));
    if (v) json_object_update(o, v);
    json_decref(v);
    json_array_append_new(n->writes, o);
}

static void on_emit(void *ud, const char *topic, const char *payload)
{
    struct run_notes *n = ud;
    json_t *o = json_object();
    json_object_set_new(o, "topic", json_string(topic));
    json_t *p = json_loads(payload, JSON_DECODE_ANY, NULL);
    json_object_set_new(o, "payload", p ? p : json_string(payload));
    json_array_append_new(n->emits, o);
}

/* Runs one event; fills the report entry. */
static void replay_event(struct rules *rules, struct store *mem, struct read_index *ix,
                         struct dryrun_fixtures *fx, json_t *line, struct dryrun_entry *out)
{
    json_t *ev = json_object_get(line, "event"), *job = json_object_get(line, "job");
    struct rec_calls rc = { json_object_get(line, "calls"), NULL, 0 };
    rc.n = json_array_size(rc.arr);
    rc.used = calloc(rc.n + 1, 1);
    const char *source = jstr(ev, "source"), *body = jstr(ev, "body");
    rules_runner_topic(source, jstr(ev, "topic"), out->topic, sizeof out->topic);
    out->event_id = json_integer_value(json_object_get(ev, "id"));
    out->recorded = rc.arr;
    struct run_notes notes = { json_array(), json_array() };
    out->writes = notes.writes;
    out->emits = notes.emits;
    if (!rules_handles(rules, out->topic)) {
        out->status = "no rule";
        free(rc.used);
        return;
    }
    size_t cap = strlen(body) + strlen(out->topic) + strlen(source) + 96;
    char *env = malloc(cap);
    snprintf(env, cap, "{\"id\":%lld,\"source\":\"%s\",\"topic\":\"%s\",\"payload\":%s}",
             (long long)out->event_id, source, out->topic, body);
    /* The recorded job id keeps ez.uuid() and everything derived from it as recorded. */
    int64_t job_id = json_integer_value(json_object_get(job, "id"));
    struct rules_ctx ctx = { mem, job_id ? job_id : out->event_id, on_emit, &notes,
                             json_integer_value(json_object_get(ev, "received_at")), on_trace };
    struct rules_run *run = NULL;
    enum rules_status st = rules_run_start(rules, out->topic, env, &ctx, &run);
    free(env);
    while (run && st == RULES_YIELD) {
        const struct rules_io *io = rules_run_io(run);
        const char *how;
        json_t *ans = find_answer(&rc, ix, fx, io, &how);
        dryrun_entry_add_call(out, kind_name((int)io->kind), io->method, io->path, io->body,
                              io->seq, how);
        struct rules_io_result res = { 0, NULL, "dry-run: no recorded answer for this call" };
        if (ans) {
            res.status = (int)json_integer_value(json_object_get(ans, "status"));
            res.body = jstr(ans, "response");
            res.error = NULL;
            if (!res.status) res.status = 200;
        } else {
            out->unanswered++;
        }
        st = rules_run_resume(run, &res);
    }
    out->status = run ? rules_status_name(st) : "nomem";
    if (run && st != RULES_DONE) out->error = strdup(rules_run_error(run) ? rules_run_error(run) : "");
    if (run && rules_run_result(run)) out->result = json_loads(rules_run_result(run), JSON_DECODE_ANY, NULL);
    rules_run_free(run);
    free(rc.used);
}

static const char usage[] =
    "usage: ezsync dry-run --events FILE [--rules DIR] [-c FILE] [--fixtures FILE]\n"
    "                      [--expect FILE] [--diff] [--json] [--quiet]\n"
    "  -e, --events FILE    recording from `ezsync record` (JSON lines)\n"
    "  -r, --rules DIR      rules to run (default: rules.dir of the configuration, else rules/)\n"
    "  -c, --config FILE    configuration (optional; only rules.* is used)\n"
    "  -F, --fixtures FILE  extra answers: JSON lines {kind, method, path, [body], status, response}\n"
    "  -x, --expect FILE    compare with a golden file (the --json output); exit 1 on any difference\n"
    "  -d, --diff           show how the calls differ from what was done when recorded\n"
    "  -j, --json           one JSON object per event, then a summary object\n"
    "  -q, --quiet          only the summary\n"
    "No request is sent to any API and the service database is not touched. Exit 0; 1 when\n"
    "--expect finds a difference; 2 on bad arguments, rules or recording.\n";

int dryrun_cmd(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "events", required_argument, 0, 'e' }, { "rules", required_argument, 0, 'r' },
        { "config", required_argument, 0, 'c' }, { "fixtures", required_argument, 0, 'F' },
        { "expect", required_argument, 0, 'x' }, { "diff", no_argument, 0, 'd' },
        { "json", no_argument, 0, 'j' }, { "quiet", no_argument, 0, 'q' }, { 0, 0, 0, 0 } };
    struct dryrun_opts o = { 0 };
    const char *events = NULL, *rules_dir = NULL, *conf = NULL, *fixtures = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "e:r:c:F:x:djq", longopts, NULL)) != -1) {
        switch (c) {
        case 'e': events = optarg; break;
        case 'r': rules_dir = optarg; break;
        case 'c': conf = optarg; break;
        case 'F': fixtures = optarg; break;
        case 'x': o.expect = optarg; break;
        case 'd': o.diff = 1; break;
        case 'j': o.json = 1; break;
        case 'q': o.quiet = 1; break;
        default: fputs(usage, stderr); return EXIT_USAGE;
        }
    }
    if (!events || optind < argc) {
        fprintf(stderr, "ezsync dry-run: %s\n%s", events ? "unexpected argument" : "--events is required", usage);
        return EXIT_USAGE;
    }
    struct config cfg;
    int rc;
    if (conf) {
        if ((rc = cli_load_config(&cfg, conf))) return rc;
    } else {
        config_defaults(&cfg);
        log_setup(LOG_WARN, LOG_LOGFMT, NULL);
    }
    if (rules_dir) {
        free(cfg.rules_dir);
        cfg.rules_dir = strdup(rules_dir);
    }
    char err[1024];
    struct rules *rules = NULL;
    struct store *mem = NULL;
    struct dryrun_fixtures *fx = NULL;
    FILE *in = NULL;
    rc = EXIT_USAGE;
    if (rules_open(&rules, &cfg, err, sizeof err)) {
        fprintf(stderr, "ezsync dry-run: rules: %s\n", err);
        goto done;
    }
    if (fixtures && dryrun_fixtures_load(&fx, fixtures, err, sizeof err)) {
        fprintf(stderr, "ezsync dry-run: %s\n", err);
        goto done;
    }
    if (store_open(&mem, ":memory:", 0, err, sizeof err)) {
        fprintf(stderr, "ezsync dry-run: %s\n", err);
        rc = EXIT_RUNTIME;
        goto done;
    }
    in = strcmp(events, "-") == 0 ? stdin : fopen(events, "r");
    if (!in) {
        fprintf(stderr, "ezsync dry-run: cannot read %s: %m\n", events);
        goto done;
    }
    struct dryrun_report *rep = dryrun_report_new(&o, events, rules_version_id(rules), err, sizeof err);
    if (!rep) {
        fprintf(stderr, "ezsync dry-run: %s\n", err);
        goto done;
    }
    struct read_index ix = { in == stdin ? NULL : events, NULL, 0 };
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, in_size = -1;
    if (in != stdin && fseek(in, 0, SEEK_END) == 0) {
        in_size = ftell(in);
        rewind(in);
    }
    rc = EXIT_OK;
    while ((len = getline(&buf, &cap, in)) > 0) {
        lineno++;
        if (len == 1 && buf[0] == '\n') continue;
        json_error_t jerr;
        json_t *line = json_loadb(buf, (size_t)len, 0, &jerr);
        const char *problem = NULL;
        json_t *ev = line ? json_object_get(line, "event") : NULL;
        if (!line) problem = jerr.text;
        else if (!json_is_object(ev)) problem = "no \"event\" object";
        else if (!jstr(ev, "source") || !jstr(ev, "topic") || !jstr(ev, "body"))
            problem = "event needs string source, topic and body";
        else if (strspn(jstr(ev, "source"), "abcdefghijklmnopqrstuvwxyz_") != strlen(jstr(ev, "source")))
            problem = "event source must be a lower-case name";
        else if (json_object_get(line, "calls") && !json_is_array(json_object_get(line, "calls")))
            problem = "\"calls\" must be an array";
        if (problem) {
            fprintf(stderr, "ezsync dry-run: %s:%ld: %s\n", events, lineno, problem);
            json_decref(line);
            rc = EXIT_USAGE;
            break;
        }
        struct dryrun_entry entry;
        memset(&entry, 0, sizeof entry);
        replay_event(rules, mem, &ix, fx, line, &entry);
        dryrun_report_add(rep, &entry);
        if (in_size > 0) dryrun_report_progress(rep, ftell(in), in_size);
        dryrun_entry_free(&entry);
        json_decref(line);
    }
    free(buf);
    json_decref(ix.map);
    int diff_rc = dryrun_report_finish(rep);
    if (rc == EXIT_OK) rc = diff_rc;
    dryrun_report_free(rep);
done:
    if (in && in != stdin) fclose(in);
    dryrun_fixtures_free(fx);
    store_close(mem);
    rules_close(rules);
    config_free(&cfg);
    return rc;
}
