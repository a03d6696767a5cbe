/* admin_api: the admin listener's view of the engine and the rules: /api/v1/jobs (list, retry),
 * /api/v1/reload, /api/v1/rules, the "rules" readiness check, status fields, and the engine's,
 * the rules' and the rate limiters' Prometheus series (refreshed once per scrape). */
#ifndef EZ_ADMIN_API_H
#define EZ_ADMIN_API_H

struct admin;
struct engine;
struct metrics;
struct rules;
struct remotes;

struct admin_api {
    struct engine *engine;
    struct rules *rules;
    struct remotes *remotes;     /* may be NULL */
    struct metrics *metrics;
};

/* api must outlive the listener. */
int admin_api_register(struct admin_api *api, struct admin *a);

#endif
