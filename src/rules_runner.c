/* rules_runner: see rules_runner.h. */
#include "rules_runner.h"

#include "engine.h"
#include "log.h"
#include "rules.h"
#include "store.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rr_run {
    struct rules_runner *rr;
    struct rules_run *run;
    int64_t job_id;
    char entity[160];
    int emits;
};

void rules_runner_topic(const char *source, const char *topic, char *out, size_t outlen)
{
    size_t n = strlen(source);
    if (strncmp(topic, source, n) == 0 && topic[n] == '/') snprintf(out, outlen, "%s", topic);
    else snprintf(out, outlen, "%s/%s", source, topic);
}

static void io_out(struct rules_run *run, struct engine_io *io)
{
    const struct rules_io *r = rules_run_io(run);
    io->kind = r->kind == RULES_IO_SHOPIFY ? ENGINE_IO_SHOPIFY
             : r->kind == RULES_IO_ORDEREZ ? ENGINE_IO_ORDEREZ : ENGINE_IO_NOTIFY;
    io->method = r->kind == RULES_IO_NOTIFY ? r->path : r->method; /* notify: method = channel */
    io->path = r->kind == RULES_IO_SHOPIFY ? "/graphql.json" : r->path;
    io->body = r->body;
}

/* The handler's return value goes to the audit trail: {"skipped": "test order"} is how a
 * filtered order stays explainable. */
static void audit_result(struct rr_run *x)
{
    const char *result = rules_run_result(x->run);
    if (!result) return;
    const char *action = strstr(result, "\"skipped\"") ? "skipped" : "done";
    if (store_audit_add(x->rr->store, x->job_id, x->entity, action, result))
        log_warn("audit write failed", "error", store_errmsg(x->rr->store));
}

static enum engine_run_status map_status(struct rr_run *x, enum rules_status st,
                                         struct engine_io *io)
{
    switch (st) {
    case RULES_YIELD: io_out(x->run, io); return ENGINE_RUN_WAIT;
    case RULES_DONE: audit_result(x); return ENGINE_RUN_DONE;
    default: return ENGINE_RUN_FAILED;
    }
}

/* ez.emit: a new event from a rule, stored now with a key unique to (job, n) so a replayed
 * job emits nothing twice. */
static void on_emit(void *ud, const char *topic, const char *payload)
{
    struct rr_run *x = ud;
    char key[96];
    snprintf(key, sizeof key, "emit:%" PRId64 ":%d", x->job_id, ++x->emits);
    struct store_event ev = { .source = "rule", .topic = topic, .dedupe_key = key,
                              .body = payload, .body_len = strlen(payload) };
    int inserted;
    if (engine_event_store(x->rr->store, &ev, NULL, &inserted, NULL))
        log_error("ez.emit: cannot store event", "topic", topic, "error",
                  store_errmsg(x->rr->store));
    else if (inserted && x->rr->on_emit) x->rr->on_emit(x->rr->emit_ud);
}

static enum engine_run_status rr_start(void *ud, const struct engine_job_info *job,
                                       const char *event_json, void **out,
                                       struct engine_io *io)
{
    struct rules_runner *rr = ud;
    char topic[200];
    *out = NULL;
    rules_runner_topic(job->source, job->topic, topic, sizeof topic);
    /* Topics no rule handles are done: Shopify sends more than a merchant needs to act on.
     * (This also keeps odd header-supplied topics out of the envelope below.) */
    if (!rules_handles(rr->rules, topic)) {
        log_debug("no rule for topic", "topic", topic);
        return ENGINE_RUN_DONE;
    }
    struct rr_run *x = calloc(1, sizeof *x);
    *out = x;
    if (!x) return ENGINE_RUN_FAILED;
    x->rr = rr;
    x->job_id = job->id;
    snprintf(x->entity, sizeof x->entity, "%s", job->entity_key ? job->entity_key : "");
    /* The envelope around the raw body, without re-parsing it (the engine has already
     * checked that it is JSON). */
    size_t blen = strlen(event_json);
    size_t cap = blen + strlen(topic) + strlen(job->source) + 128;
    char *env = malloc(cap);
    if (!env) return ENGINE_RUN_FAILED;
    snprintf(env, cap, "{\"id\":%" PRId64 ",\"source\":\"%s\",\"topic\":\"%s\",\"payload\":%s}",
             job->event_id, job->source, topic, event_json);
    struct rules_ctx ctx = { rr->store, job->id, on_emit, x, 0, NULL, NULL, NULL, 0, NULL, 0, NULL, NULL };
    enum rules_status st = rules_run_start(rr->rules, topic, env, &ctx, &x->run);
    free(env);
    if (!x->run) return ENGINE_RUN_FAILED;
    return map_status(x, st, io);
}

static enum engine_run_status rr_resume(void *ud, void *run, int status, const char *body,
                                        const char *transport_error, struct engine_io *io)
{
    (void)ud;
    struct rr_run *x = run;
    struct rules_io_result res = { status, body, transport_error, NULL };
    return map_status(x, rules_run_resume(x->run, &res), io);
}

static const char *rr_error(void *ud, void *run)
{
    (void)ud;
    struct rr_run *x = run;
    if (!x || !x->run) return "out of memory starting the rule run";
    const char *e = rules_run_error(x->run);
    if (rules_run_status(x->run) == RULES_NOHANDLER && !e) return "no rule handles this topic";
    return e ? e : rules_status_name(rules_run_status(x->run));
}

static int rr_transient(void *ud, void *run)
{
    (void)ud;
    struct rr_run *x = run;
    return x && x->run && rules_run_error_kind(x->run) == RULES_EK_TRANSIENT;
}

static const char *rr_version(void *ud)
{
    struct rules_runner *rr = ud;
    return rules_version_id(rr->rules);
}

static void rr_finish(void *ud, void *run)
{
    (void)ud;
    struct rr_run *x = run;
    if (!x) return;
    rules_run_free(x->run);
    free(x);
}

void rules_runner_init(struct rules_runner *rr, struct engine_runner *out)
{
    memset(out, 0, sizeof *out);
    out->ud = rr;
    out->start = rr_start;
    out->resume = rr_resume;
    out->error = rr_error;
    out->error_is_transient = rr_transient;
    out->version = rr_version;
    out->finish = rr_finish;
}
