/* dryrun: see dryrun.h. The recording is streamed (one event in memory at a time), so a week of
 * traffic replays in constant memory. */
#include "dryrun.h"

#include "cli.h"
#include "dryrun_index.h"
#include "dryrun_read.h"
#include "dryrun_report.h"
#include "dryrun_state.h"
#include "log.h"
#include "rules.h"
#include "rules_runner.h"

#include <getopt.h>
#include <jansson.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- the recording ---- */

static const char *kind_name(int k)
{
    return k == RULES_IO_SHOPIFY ? "shopify" : k == RULES_IO_ORDEREZ ? "orderez" : "notify";
}

static int streq(const char *a, const char *b) { return (!a && !b) || (a && b && !strcmp(a, b)); }

/* A call's answer: recorded or from a fixture. */
struct answer {
    int status;
    const char *response;
    const struct json_tape *tape;   /* NULL, or the response's tape (prepare_event) */
};

/* How the dry-run answers a call: the recording, same request; the recording, same step and
 * endpoint but another body (the rule changed what it sends); the same read recorded under
 * another event; a fixture; or nothing. Returns 0 when unanswered. */
static int find_answer(struct dryrun_event *ev, struct dryrun_index *ix, struct dryrun_fixtures *fx,
                       lua_State *scratch, const struct rules_io *io, const char **how,
                       struct answer *ans)
{
    const struct dryrun_call *found = NULL;
    size_t at = 0; /* found = &ev->calls[at - 1] */
    for (size_t i = 0; i < ev->ncalls && !found; i++) {
        struct dryrun_call *c = &ev->calls[i];
        if (c->used || c->kind != (int)io->kind) continue;
        if (streq(c->method, io->method) && streq(c->body, io->body) &&
            (io->kind == RULES_IO_SHOPIFY || streq(c->path, io->path))) {
            c->used = 1;
            *how = "recorded";
            found = c;
            at = i + 1;
        }
    }
    /* The same endpoint with another body: the rule changed what it sends. For GraphQL the
     * endpoint is the operation (its name), not the URL. */
    char op[128] = "";
    if (!found && io->kind == RULES_IO_SHOPIFY)
        dryrun_operation_name(scratch, io->body, op, sizeof op);
    for (size_t i = 0; i < ev->ncalls && !found; i++) {
        struct dryrun_call *c = &ev->calls[i];
        if (c->used || c->kind != (int)io->kind || !streq(c->method, io->method)) continue;
        if (io->kind == RULES_IO_SHOPIFY && !c->op_set) { /* once per recorded call */
            dryrun_operation_name(scratch, c->body, c->op, sizeof c->op);
            c->op_set = 1;
        }
        if (io->kind == RULES_IO_SHOPIFY ? strcmp(op, c->op) == 0 : streq(c->path, io->path)) {
            c->used = 1;
            *how = "recorded, request differs";
            found = c;
            at = i + 1;
        }
    }
    if (!found && (found = dryrun_index_find(ix, (int)io->kind, io->method, io->path, io->body)))
        *how = "recorded, another event";
    if (found) {
        ans->status = (int)found->status;
        ans->response = found->response;
        ans->tape = at && ev->prep && at <= ev->prep->nresponses ? &ev->prep->responses[at - 1] : NULL;
        return 1;
    }
    json_t *f = dryrun_fixture_find(fx, kind_name((int)io->kind), io->method, io->path, io->body);
    if (f) {
        *how = "fixture";
        ans->status = (int)json_integer_value(json_object_get(f, "status"));
        ans->response = json_string_value(json_object_get(f, "response"));
        ans->tape = NULL;
        return 1;
    }
    *how = "unanswered";
    return 0;
}

/* Logs are not reported (the context says so, and they are not even traced) */
static void on_trace(void *ud, const char *what, const char *json)
{
    if (strcmp(what, "log") != 0) dryrun_entry_add_write(ud, what, json);
}

static void on_emit(void *ud, const char *topic, const char *payload)
{
    dryrun_entry_add_emit(ud, topic, payload);
}

/* What the replay loop keeps between events, so an event allocates no buffers of its own. */
struct replay {
    struct rules *rules;
    struct dryrun_state *state;  /* ez.idmap / ez.kv of the run, in memory */
    struct dryrun_index *ix;
    struct dryrun_fixtures *fx;
    lua_State *scratch;          /* decodes GraphQL bodies for their operation names */
    char *env;                   /* the event envelope handed to the rule */
    size_t env_cap;
    /* the report shows the state writes (idmap, kv): --json, --expect. Otherwise they are not
     * traced at all (each is described as JSON: ~2.5 % of a quiet run's rule thread) */
    int trace;
    /* the report shows each event's result (--json, --expect, the text report); otherwise
     * only whether it says "skipped" counts, and one that cannot is not parsed */
    int results;
};

/* The event as its rule gets it, {"id":..,"source":..,"topic":..,"payload":<body>}, into *buf
 * (grown to *cap); its length, 0 on no memory. topic: the rule's topic (rules_runner_topic). */
static size_t envelope(const struct dryrun_event *ev, const char *topic, char **buf, size_t *cap)
{
    size_t blen = strlen(ev->body), need = blen + strlen(topic) + strlen(ev->source) + 96;
    if (need > *cap) {
        char *e = realloc(*buf, need);
        if (!e) return 0;
        *buf = e;
        *cap = need;
    }
    /* the body (~9 KB) by memcpy: through snprintf's %s it cost ~7k instructions an event */
    int head = snprintf(*buf, need, "{\"id\":%lld,\"source\":\"%s\",\"topic\":\"%s\",\"payload\":",
                        (long long)ev->id, ev->source, topic);
    memcpy(*buf + (size_t)head, ev->body, blen);
    memcpy(*buf + (size_t)head + blen, "}", 2);
    return (size_t)head + blen + 1;
}

/* On the reader's thread, while the rules run the event before: the envelope and its tape,
 * so that the rule thread neither writes nor parses it (parsing the payload was ~40 % of its
 * time), and a tape of each recorded response, which the rule gets decoded when its call is
 * answered from this event's recording. A text the tape refuses is decoded from the text, as
 * without a tape. */
static void prepare_event(const struct dryrun_event *ev, struct dryrun_prep *p)
{
    char topic[sizeof ((struct dryrun_entry *)0)->topic];
    struct dryrun_doc *d = p->doc;
    rules_runner_topic(ev->source, ev->topic, topic, sizeof topic);
    d->len = envelope(ev, topic, &d->text, &d->cap);
    if (!d->len || json_tape_parse(&d->tape, d->text, d->len)) d->tape.text = NULL;
    p->nresponses = 0;
    if (ev->ncalls > p->responses_cap) {
        struct json_tape *t = realloc(p->responses, ev->ncalls * sizeof *t);
        if (!t) return; /* no tapes: the responses are decoded from their text */
        memset(t + p->responses_cap, 0, (ev->ncalls - p->responses_cap) * sizeof *t);
        p->responses = t;
        p->responses_cap = ev->ncalls;
    }
    for (size_t i = 0; i < ev->ncalls; i++) {
        const char *r = ev->calls[i].response;
        if (!r || json_tape_parse(&p->responses[i], r, strlen(r))) p->responses[i].text = NULL;
    }
    p->nresponses = ev->ncalls;
}

/* Runs one event; fills the report entry. The first attempt runs unmetered (rules.h); one
 * that must run again metered (RULES_RETRY: rare, a slow or runaway event) leaves no trace:
 * its state writes are undone, its entry cleared and its recorded calls unused again. */
static void replay_event(struct replay *rp, struct dryrun_event *ev, struct dryrun_entry *out)
{
    const char *env = rp->env;
    const struct json_tape *tape = NULL;
    struct dryrun_doc *doc = NULL; /* lent to the rules with its tape: not copied */
    int unmetered = 1;
again:
    rules_runner_topic(ev->source, ev->topic, out->topic, sizeof out->topic);
    out->event_id = ev->id;
    out->recorded = ev->calls;
    out->nrecorded = ev->ncalls;
    if (!rules_handles(rp->rules, out->topic)) {
        out->status = "no rule";
        return;
    }
    if (ev->prep && ev->prep->doc->len) { /* made ahead by prepare_event, with the same topic */
        doc = ev->prep->doc;
        env = doc->text;
        tape = doc->tape.text ? &doc->tape : NULL;
    } else if (envelope(ev, out->topic, &rp->env, &rp->env_cap)) {
        env = rp->env;
    } else {
        out->status = "nomem";
        return;
    }
    /* The recorded job id keeps ez.uuid() and everything derived from it as recorded. */
    struct rules_ctx ctx = { NULL, ev->job_id ? ev->job_id : out->event_id, on_emit, out,
                             ev->received_at, rp->trace ? on_trace : NULL, &dryrun_state_ops,
                             rp->state, 1, tape,
                             unmetered, tape ? dryrun_doc_lend : NULL, doc };
    struct rules_run *run = NULL;
    dryrun_state_begin(rp->state);
    enum rules_status st = rules_run_start(rp->rules, out->topic, env, &ctx, &run);
    while (run && st == RULES_YIELD) {
        const struct rules_io *io = rules_run_io(run);
        const char *how;
        struct answer ans;
        int answered = find_answer(ev, rp->ix, rp->fx, rp->scratch, io, &how, &ans);
        dryrun_entry_add_call(out, kind_name((int)io->kind), io->method, io->path, io->body,
                              io->seq, how);
        struct rules_io_result res = { 0, NULL, "dry-run: no recorded answer for this call", NULL };
        if (answered) {
            res.status = ans.status ? ans.status : 200;
            res.body = ans.response;
            res.body_tape = ans.tape;
            res.error = NULL;
        } else {
            out->unanswered++;
        }
        st = rules_run_resume(run, &res);
    }
    if (run && st == RULES_RETRY) {
        rules_run_free(run);
        dryrun_state_rollback(rp->state);
        dryrun_entry_clear(out);
        out->rerun = 1;
        for (size_t i = 0; i < ev->ncalls; i++) ev->calls[i].used = 0;
        unmetered = 0;
        goto again;
    }
    dryrun_state_commit(rp->state);
    out->status = run ? rules_status_name(st) : "nomem";
    if (run && st != RULES_DONE) out->error = strdup(rules_run_error(run) ? rules_run_error(run) : "");
    const char *res = run ? rules_run_result(run) : NULL;
    if (res && (rp->results || strstr(res, "\"skipped\"")))
        out->result = json_loads(res, JSON_DECODE_ANY, NULL);
    rules_run_free(run);
}

const char dryrun_usage[] =
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
        default: fputs(dryrun_usage, stderr); return EXIT_USAGE;
        }
    }
    if (!events || optind < argc) {
        fprintf(stderr, "ezsync dry-run: %s\n%s", events ? "unexpected argument" : "--events is required", dryrun_usage);
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
    struct dryrun_state *state = NULL;
    struct dryrun_fixtures *fx = NULL;
    FILE *in = NULL;
    rc = EXIT_USAGE;
    if (rules_open(&rules, &cfg, err, sizeof err)) {
        fprintf(stderr, "ezsync dry-run: rules: %s\n", err);
        goto done;
    }
    /* Each replayed event leaves its payload's tables (~800 values) as garbage and little
     * else lives: collecting when the heap has grown 4x (Lua's default: 2x) halves the
     * collector's cycles, ~4 % of the replay for ~0.6 MB more memory. The service keeps
     * Lua's default: its rules bench showed no gain. */
    rules_set_gc(rules, 400, 0);
    if (fixtures && dryrun_fixtures_load(&fx, fixtures, err, sizeof err)) {
        fprintf(stderr, "ezsync dry-run: %s\n", err);
        goto done;
    }
    if (!(state = dryrun_state_new())) {
        fprintf(stderr, "ezsync dry-run: out of memory\n");
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
    struct replay rp = { rules, state, NULL, fx, luaL_newstate(), NULL, 0, o.json || o.expect,
                         o.json || o.expect || !(o.quiet || o.diff) };
    long in_size = -1;
    if (in != stdin && fseek(in, 0, SEEK_END) == 0) {
        in_size = ftell(in);
        rewind(in);
    }
    /* A second core parses lines ahead; with one core a thread would only add switches.
     * EZSYNC_DRYRUN_THREADS=0 reads in this thread (tests compare both). */
    const char *threads = getenv("EZSYNC_DRYRUN_THREADS");
    int threaded = sysconf(_SC_NPROCESSORS_ONLN) > 1 && !(threads && strcmp(threads, "0") == 0);
    /* threaded, the reader also prepares each event's envelope and tape (prepare_event);
     * alone, that would be the same work in the same thread, plus the tape's */
    struct dryrun_reader *rd =
        rp.scratch ? dryrun_reader_open_prep(in, threaded, threaded ? prepare_event : NULL) : NULL;
    /* A read an event's own recording lacks is looked up in the rest of the file (stdin has
     * no rest to read); with a second core, threads build the index from the first lookup. */
    if (in != stdin)
        rp.ix = dryrun_index_new(events, in_size, threaded ? DRYRUN_INDEX_THREADS : 0);
    if (!rd || (in != stdin && !rp.ix)) {
        fprintf(stderr, "ezsync dry-run: out of memory\n");
        rc = EXIT_RUNTIME;
    } else {
        rc = EXIT_OK;
    }
    struct dryrun_event *ev;
    struct dryrun_entry entry; /* one, reused: its buffers are kept from event to event */
    memset(&entry, 0, sizeof entry);
    while (rc == EXIT_OK && (ev = dryrun_reader_next(rd)) != NULL) {
        if (ev->problem) {
            fprintf(stderr, "ezsync dry-run: %s:%ld: %s\n", events, ev->lineno, ev->problem);
            rc = EXIT_USAGE;
            break;
        }
        dryrun_entry_clear(&entry);
        replay_event(&rp, ev, &entry);
        if (entry.oom || entry.text.oom) {
            fprintf(stderr, "ezsync dry-run: out of memory\n");
            rc = EXIT_RUNTIME;
            break;
        }
        dryrun_report_add(rep, &entry);
        if (in_size > 0) dryrun_report_progress(rep, ev->offset, in_size);
    }
    dryrun_entry_free(&entry);
    dryrun_reader_close(rd);
    if (rp.scratch) lua_close(rp.scratch);
    free(rp.env);
    dryrun_index_free(rp.ix);
    int diff_rc = dryrun_report_finish(rep);
    if (rc == EXIT_OK) rc = diff_rc;
    dryrun_report_free(rep);
done:
    if (in && in != stdin) fclose(in);
    dryrun_fixtures_free(fx);
    dryrun_state_free(state);
    rules_close(rules);
    config_free(&cfg);
    return rc;
}
