/* admin_api: see admin_api.h. */
#include "admin_api.h"

#include "admin.h"
#include "engine.h"
#include "journal.h"
#include "log.h"
#include "metrics.h"
#include "remotes.h"
#include "rules.h"

#include <event2/http.h>
#include <sys/queue.h>
#include <event2/keyvalq_struct.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* GET /api/v1/jobs?state=dead&limit=50 */
static void jobs_list(struct evhttp_request *req, void *ud)
{
    struct admin_api *api = ud;
    struct evkeyvalq q;
    const char *state = NULL;
    int limit = 100;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    TAILQ_INIT(&q);
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        state = evhttp_find_header(&q, "state");
        const char *l = evhttp_find_header(&q, "limit");
        if (l) limit = atoi(l);
    }
    if (limit < 1 || limit > 1000) limit = 100;
    char *json = NULL;
    if (engine_jobs_list(api->engine, state, limit, &json)) {
        httpd_reply_error(req, 400, "unknown state (queued, running, retry_wait, done, dead, dropped)");
    } else {
        httpd_reply(req, 200, "application/json", json);
    }
    free(json);
    evhttp_clear_headers(&q);
}

/* POST /api/v1/jobs/{id}/retry */
static void job_retry(struct evhttp_request *req, void *ud)
{
    struct admin_api *api = ud;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    long long id = 0;
    int n = 0;
    if (!path || sscanf(path, "/api/v1/jobs/%lld/retry%n", &id, &n) != 1 || path[n] != '\0' ||
        id <= 0) {
        httpd_reply_error(req, 404, "use POST /api/v1/jobs/{id}/retry");
        return;
    }
    int rc = engine_job_retry(api->engine, id);
    if (rc == 1) httpd_reply_error(req, 404, "no dead job with that id");
    else if (rc) httpd_reply_error(req, 500, "could not requeue the job");
    else admin_reply_json(req, 200, json_pack("{s:I, s:s}", "id", (json_int_t)id, "state", "queued"));
}

/* POST /api/v1/reload: 200 with the serving version, or 422 with the reason (file:line) while
 * the old version keeps serving. */
static void reload(struct evhttp_request *req, void *ud)
{
    struct admin_api *api = ud;
    char err[1024] = "";
    int rc = rules_reload(api->rules, err, sizeof err);
    json_t *o = json_pack("{s:b, s:s}", "ok", rc == 0, "version", rules_version_id(api->rules));
    if (rc) json_object_set_new(o, "error", json_string(err));
    admin_reply_json(req, rc ? 422 : 200, o);
}

static json_t *rules_json(struct rules *r)
{
    struct rules_stats s;
    rules_stats(r, &s);
    return json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:i}", "version", s.version,
                     "last_error", s.last_error ? s.last_error : "", "loaded_at_ms",
                     (json_int_t)s.loaded_at_ms, "reloads_ok", (json_int_t)s.reloads_ok,
                     "reloads_failed", (json_int_t)s.reloads_failed, "runs", (json_int_t)s.runs,
                     "runs_failed", (json_int_t)s.runs_failed, "memory_bytes",
                     (json_int_t)s.memory_bytes, "runs_killed", (json_int_t)s.runs_killed,
                     "versions_alive", s.versions_alive);
}

static void rules_get(struct evhttp_request *req, void *ud)
{
    struct admin_api *api = ud;
    admin_reply_json(req, 200, rules_json(api->rules));
}

static int rules_ready(void *ud, char *why, size_t n)
{
    struct admin_api *api = ud;
    if (api->rules && rules_version_id(api->rules)) return 0;
    snprintf(why, n, "no rules loaded");
    return -1;
}

static void status(void *ud, json_t *st)
{
    struct admin_api *api = ud;
    json_object_set_new(st, "rules", rules_json(api->rules));
    struct engine_stats es;
    if (engine_stats(api->engine, &es) == 0) {
        json_t *by = json_object();
        for (int s = 0; s < STORE_JOB_NSTATES; s++) {
            int64_t total = 0;
            for (int p = 0; p < STORE_JOB_NPRIORITIES; p++) total += es.depth[s][p];
            json_object_set_new(by, store_job_state_name(s), json_integer(total));
        }
        json_object_set_new(st, "jobs", by);
        int64_t backlog = 0;
        for (int p = 0; p < STORE_JOB_NPRIORITIES; p++) backlog += es.backlog[p];
        json_object_set_new(st, "backlog", json_integer(backlog));
        json_object_set_new(st, "oldest_pending_ms", json_integer(es.oldest_pending_age_ms));
        json_object_set_new(st, "running", json_integer(es.running));
        json_t *down = json_array();
        for (int i = 0; i < ENGINE_NREMOTES; i++)
            if (es.remote_down[i]) json_array_append_new(down, json_string(journal_remote_name(i)));
        json_object_set_new(st, "remotes_down", down);
    }
    if (api->remotes) json_object_set_new(st, "remotes", remotes_status_json(api->remotes));
}

/* ---- metrics, refreshed once per scrape ---- */

static void collect(void *ud, struct metrics *m)
{
    struct admin_api *api = ud;
    struct engine_stats es;
    char labels[96];
    if (engine_stats(api->engine, &es) == 0) {
        for (int s = 0; s < STORE_JOB_NSTATES; s++)
            for (int p = 0; p < STORE_JOB_NPRIORITIES; p++) {
                snprintf(labels, sizeof labels, "state=\"%s\",priority=\"%d\"",
                         store_job_state_name(s), p);
                metrics_set(metrics_gauge(m, "ezsync_jobs", labels, "jobs by state and priority"),
                            (double)es.depth[s][p]);
            }
        double waiting = 0;
        for (int p = 0; p < STORE_JOB_NPRIORITIES; p++) {
            snprintf(labels, sizeof labels, "priority=\"%d\"", p);
            metrics_set(metrics_gauge(m, "ezsync_backlog_events", labels,
                                      "deliveries stored, waiting to become jobs"),
                        (double)es.backlog[p]);
            waiting += (double)(es.backlog[p] + es.depth[STORE_JOB_QUEUED][p] +
                                es.depth[STORE_JOB_RETRY_WAIT][p]);
        }
        metrics_set(metrics_gauge(m, "ezsync_queue_depth", NULL,
                                  "events waiting to run: backlog, queued and retry_wait jobs"),
                    waiting);
        metrics_set(metrics_gauge(m, "ezsync_queue_oldest_seconds", NULL,
                                  "age of the oldest waiting event"),
                    (double)es.oldest_pending_age_ms / 1000.0);
        metrics_set(metrics_gauge(m, "ezsync_jobs_running", NULL, "jobs in flight"), es.running);
        static const struct { const char *name, *help; size_t off; } counters[] = {
            { "ezsync_jobs_started_total", "job attempts started", offsetof(struct engine_stats, started) },
            { "ezsync_jobs_done_total", "jobs finished", offsetof(struct engine_stats, done) },
            { "ezsync_jobs_dead_total", "jobs dead-lettered", offsetof(struct engine_stats, dead) },
            { "ezsync_jobs_retried_total", "job retries scheduled", offsetof(struct engine_stats, retried) },
            { "ezsync_jobs_held_total", "job retries that waited for a remote that was down, attempt refunded", offsetof(struct engine_stats, held) },
            { "ezsync_journal_replayed_total", "calls answered from the journal", offsetof(struct engine_stats, replayed_steps) },
            { "ezsync_journal_sent_total", "calls sent", offsetof(struct engine_stats, sent_steps) },
            { "ezsync_journal_diverged_total", "journals that diverged from the rules", offsetof(struct engine_stats, diverged) },
        };
        for (size_t i = 0; i < sizeof counters / sizeof counters[0]; i++)
            metrics_set(metrics_counter(m, counters[i].name, NULL, counters[i].help),
                        (double)*(const uint64_t *)((const char *)&es + counters[i].off));
        for (int i = 0; i < ENGINE_NREMOTES; i++) {
            char rl[48];
            snprintf(rl, sizeof rl, "remote=\"%s\"", journal_remote_name(i));
            metrics_set(metrics_gauge(m, "ezsync_remote_down", rl,
                                      "1 while the remote is down (its jobs wait, spending no attempt)"),
                        es.remote_down[i]);
            metrics_set(metrics_counter(m, "ezsync_remote_outages_total", rl,
                                        "times the remote was found down"),
                        (double)es.remote_outages[i]);
        }
        double bounds[ENGINE_LATENCY_BUCKETS - 1], abounds[ENGINE_LATENCY_BUCKETS - 1];
        unsigned long long cum[ENGINE_LATENCY_BUCKETS], acum[ENGINE_LATENCY_BUCKETS], a = 0;
        for (int i = 0; i < ENGINE_LATENCY_BUCKETS - 1; i++) {
            bounds[i] = (double)engine_latency_bounds_ms[i] / 1000.0;
            abounds[i] = i + 1;
        }
        for (int i = 0; i < ENGINE_LATENCY_BUCKETS; i++) {
            cum[i] = es.latency_count[i];
            a += es.attempts_hist[i];
            acum[i] = a;
        }
        metrics_histogram_set(metrics_histogram(m, "ezsync_job_latency_seconds", NULL,
                                                "event received to job finished",
                                                bounds, ENGINE_LATENCY_BUCKETS - 1),
                              cum, es.latency_sum_ms / 1000.0);
        metrics_histogram_set(metrics_histogram(m, "ezsync_job_attempts", NULL,
                                                "attempts a finished job took",
                                                abounds, ENGINE_LATENCY_BUCKETS - 1),
                              acum, 0);
    }
    struct rules_stats rs;
    rules_stats(api->rules, &rs);
    metrics_set(metrics_counter(m, "ezsync_rules_reloads_total", "result=\"ok\"", "rules reloads"),
                (double)rs.reloads_ok);
    metrics_set(metrics_counter(m, "ezsync_rules_reloads_total", "result=\"failed\"", "rules reloads"),
                (double)rs.reloads_failed);
    metrics_set(metrics_gauge(m, "ezsync_rules_last_reload_failed", NULL,
                              "1 while the last reload failed (the old version serves)"),
                rs.last_error && *rs.last_error ? 1 : 0);
    metrics_set(metrics_counter(m, "ezsync_rule_runs_total", "result=\"ok\"", "rule runs"),
                (double)(rs.runs - rs.runs_failed - rs.runs_killed - rs.runs_nomem));
    metrics_set(metrics_counter(m, "ezsync_rule_runs_total", "result=\"failed\"", "rule runs"),
                (double)rs.runs_failed);
    metrics_set(metrics_counter(m, "ezsync_rule_runs_total", "result=\"killed\"", "rule runs"),
                (double)rs.runs_killed);
    metrics_set(metrics_counter(m, "ezsync_rule_runs_total", "result=\"nomem\"", "rule runs"),
                (double)rs.runs_nomem);
    metrics_set(metrics_gauge(m, "ezsync_rules_memory_bytes", NULL, "memory of the serving rules state"),
                (double)rs.memory_bytes);
    snprintf(labels, sizeof labels, "version=\"%s\"", rs.version ? rs.version : "");
    metrics_set(metrics_gauge(m, "ezsync_rules_info", labels, "the serving rules version"), 1);
    if (api->remotes) remotes_collect(api->remotes, m);
}

int admin_api_register(struct admin_api *api, struct admin *a)
{
    int rc = 0;
    rc |= admin_route(a, ADMIN_GET, "/api/v1/jobs", jobs_list, api);
    rc |= admin_route(a, ADMIN_POST, "/api/v1/jobs/*", job_retry, api);
    rc |= admin_route(a, ADMIN_POST, "/api/v1/reload", reload, api);
    rc |= admin_route(a, ADMIN_GET, "/api/v1/rules", rules_get, api);
    rc |= admin_ready_check(a, "rules", rules_ready, api);
    rc |= admin_status_add(a, status, api);
    rc |= metrics_on_collect(api->metrics, collect, api);
    return rc ? -1 : 0;
}
