/* admin: see admin.h. Auth is checked before routing, so an unauthenticated caller learns
 * nothing, not even which paths exist. */
#include "admin.h"

#include "config.h"
#include "log.h"
#include "metrics.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h" /* generated: EZ_VERSION from git describe */

static int path_matches(const char *pattern, const char *path)
{
    size_t n = strlen(pattern);
    if (n && pattern[n - 1] == '*') return strncmp(pattern, path, n - 1) == 0;
    return strcmp(pattern, path) == 0;
}

const struct admin_route *admin_match(const struct admin *a, int method, const char *path,
                                      int *path_known)
{
    *path_known = 0;
    for (size_t i = 0; i < a->nroutes; i++) {
        if (!path_matches(a->routes[i].path, path)) continue;
        *path_known = 1;
        if (a->routes[i].methods & method) return &a->routes[i];
    }
    return NULL;
}

int admin_route(struct admin *a, int methods, const char *path, httpd_handler fn, void *ud)
{
    for (size_t i = 0; i < a->nroutes; i++)
        if (strcmp(a->routes[i].path, path) == 0 && a->routes[i].methods == methods) {
            a->routes[i].fn = fn;
            a->routes[i].ud = ud;
            return 0;
        }
    if (a->nroutes == ADMIN_MAX_ROUTES) return -1;
    a->routes[a->nroutes++] = (struct admin_route){ methods, path, fn, ud };
    return 0;
}

int admin_ready_check(struct admin *a, const char *name, admin_ready_fn fn, void *ud)
{
    if (a->nchecks == ADMIN_MAX_CHECKS) return -1;
    a->checks[a->nchecks].name = name;
    a->checks[a->nchecks].fn = fn;
    a->checks[a->nchecks].ud = ud;
    a->nchecks++;
    return 0;
}

int admin_status_add(struct admin *a, admin_status_fn fn, void *ud)
{
    if (a->nstatus == ADMIN_MAX_STATUS) return -1;
    a->status[a->nstatus].fn = fn;
    a->status[a->nstatus].ud = ud;
    a->nstatus++;
    return 0;
}

void admin_reply_json(struct evhttp_request *req, int code, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        httpd_reply_error(req, 500, "out of memory");
        return;
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 2);
    if (line) {
        line[n] = '\n';
        line[n + 1] = '\0';
        text = line;
    }
    httpd_reply(req, code, "application/json", text);
    free(text);
}

static void on_healthz(struct evhttp_request *req, void *ud)
{
    (void)ud;
    httpd_reply(req, 200, NULL, "ok\n");
}

static void on_readyz(struct evhttp_request *req, void *ud)
{
    struct admin *a = ud;
    char body[1024] = "", why[256];
    size_t len = 0;
    for (size_t i = 0; i < a->nchecks; i++) {
        why[0] = '\0';
        if (a->checks[i].fn(a->checks[i].ud, why, sizeof why) == 0) continue;
        int n = snprintf(body + len, sizeof body - len, "%s: %s\n", a->checks[i].name,
                         why[0] ? why : "not ready");
        if (n > 0) len = len + (size_t)n < sizeof body ? len + (size_t)n : sizeof body - 1;
    }
    if (len) httpd_reply(req, 503, NULL, body);
    else httpd_reply(req, 200, NULL, "ready\n");
}

static void on_metrics(struct evhttp_request *req, void *ud)
{
    struct admin *a = ud;
    size_t len = 0;
    char *text = metrics_render(a->metrics, &len);
    if (!text) {
        httpd_reply_error(req, 500, "out of memory");
        return;
    }
    httpd_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8", text);
    free(text);
}

static void on_status(struct evhttp_request *req, void *ud)
{
    struct admin *a = ud;
    json_t *st = json_object(), *listeners = json_object();
    json_object_set_new(st, "version", json_string(EZ_VERSION));
    json_object_set_new(st, "uptime_s", json_integer((json_int_t)metrics_uptime(a->metrics)));
    json_object_set_new(listeners, "admin", json_string(a->listener.addr));
    json_object_set_new(st, "listeners", listeners);
    for (size_t i = 0; i < a->nstatus; i++) a->status[i].fn(a->status[i].ud, st);
    admin_reply_json(req, 200, st);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct admin *a = arg;
    char path[256];
    int known;
    if (!httpd_bearer_ok(req, a->token)) {
        /* Basic makes a browser ask (the dashboard; the token is the password); API clients
         * send Bearer. */
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                          "Basic realm=\"ezsync admin\", charset=\"UTF-8\"");
        httpd_reply_error(req, 401, "missing or wrong bearer token");
        return;
    }
    int method = (int)evhttp_request_get_command(req);
    /* HEAD is answered like GET (evhttp leaves the body out). */
    int as = method == EVHTTP_REQ_HEAD ? EVHTTP_REQ_GET : method;
    const struct admin_route *r = admin_match(a, as, httpd_path(req, path, sizeof path), &known);
    if (r) r->fn(req, r->ud);
    else if (known) httpd_reply_error(req, 405, "method not allowed");
    else httpd_reply_error(req, 404, "not found");
}

int admin_start(struct admin *a, struct event_base *base, const struct config *cfg,
                struct metrics *m, char *err, size_t errlen)
{
    a->token = cfg->server_admin_token;
    a->metrics = m;
    admin_route(a, ADMIN_GET, "/healthz", on_healthz, a);
    admin_route(a, ADMIN_GET, "/readyz", on_readyz, a);
    admin_route(a, ADMIN_GET, "/metrics", on_metrics, a);
    admin_route(a, ADMIN_GET, "/api/v1/status", on_status, a);
    if (!a->token || !*a->token) {
        log_warn("admin listener not started: server.admin_token is not set",
                 "addr", cfg->server_admin_listen);
        return 0;
    }
    if (httpd_listen(&a->listener, base, "admin", cfg->server_admin_listen,
                     cfg->server_timeout_ms, 64 * 1024, on_request, a, m, err, errlen))
        return -1;
    a->started = 1;
    return 0;
}

void admin_stop_accepting(struct admin *a)
{
    if (a->started) httpd_stop_accepting(&a->listener);
}

void admin_close(struct admin *a)
{
    if (a->started) httpd_close(&a->listener);
    a->started = 0;
}
