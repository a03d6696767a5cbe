/* admin: the admin listener (server.admin_listen). Owns the route table, bearer-token auth on
 * every request, readiness checks and the built-in routes /healthz, /readyz, /metrics and
 * /api/v1/status. Other subsystems add routes, readiness checks and status fields with one call
 * each. Uses httpd, metrics and jansson. */
#ifndef EZ_ADMIN_H
#define EZ_ADMIN_H

#include "httpd.h"

#include <jansson.h>
#include <stddef.h>

struct config;
struct event_base;

#define ADMIN_MAX_ROUTES 32
#define ADMIN_MAX_CHECKS 16
#define ADMIN_MAX_STATUS 16

/* Methods are the EVHTTP_REQ_* bits, or'ed. */
#define ADMIN_GET  (1 << 0)
#define ADMIN_POST (1 << 1)
#define ADMIN_PUT  (1 << 3)
#define ADMIN_DELETE (1 << 4)

/* 0 when ready; else -1 with a short reason in why (never a secret). */
typedef int (*admin_ready_fn)(void *ud, char *why, size_t whylen);
/* Adds this subsystem's fields to the /api/v1/status object. */
typedef void (*admin_status_fn)(void *ud, json_t *status);

struct admin_route {
    int methods;
    const char *path;          /* exact, or a prefix when it ends in an asterisk */
    httpd_handler fn;
    void *ud;
};

struct admin {
    struct httpd_listener listener;
    const char *token;                 /* server.admin_token; compared in constant time */
    struct metrics *metrics;
    struct admin_route routes[ADMIN_MAX_ROUTES];
    size_t nroutes;
    struct { const char *name; admin_ready_fn fn; void *ud; } checks[ADMIN_MAX_CHECKS];
    size_t nchecks;
    struct { admin_status_fn fn; void *ud; } status[ADMIN_MAX_STATUS];
    size_t nstatus;
    int started;                       /* 0 when no token is configured */
};

/* Registers the built-in routes and binds the listener. Without a token the listener does not
 * start (logged, returns 0 with a->started == 0); routes and checks can still be added. */
int admin_start(struct admin *a, struct event_base *base, const struct config *cfg,
                struct metrics *m, char *err, size_t errlen);
void admin_stop_accepting(struct admin *a);
void admin_close(struct admin *a);

/* One line per route, e.g. admin_route(a, ADMIN_GET, "/api/v1/jobs", jobs_list, engine).
 * A later registration of the same path replaces the earlier one. Returns -1 when full. */
int admin_route(struct admin *a, int methods, const char *path, httpd_handler fn, void *ud);
/* /readyz is 200 only when every check passes, e.g. admin_ready_check(a, "rules", fn, rules). */
int admin_ready_check(struct admin *a, const char *name, admin_ready_fn fn, void *ud);
int admin_status_add(struct admin *a, admin_status_fn fn, void *ud);

/* Route lookup, exposed for tests: the matching route, or NULL; *path_known is set when the
 * path exists under another method (405 rather than 404). */
const struct admin_route *admin_match(const struct admin *a, int method, const char *path,
                                      int *path_known);

/* Replies with a JSON value (takes the reference). */
void admin_reply_json(struct evhttp_request *req, int code, json_t *body);

#endif
