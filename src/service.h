/* service: the long-running process. Owns the event loop and the lifetime of every
 * subsystem the daemon runs (store, listeners, rules, engine); `ezsync serve` enters here. */
#ifndef EZ_SERVICE_H
#define EZ_SERVICE_H

#include "config.h"

struct admin;
struct admin_api;
struct engine;
struct poller;
struct remotes;
struct rules_runner;
struct scheduler;
struct subscriptions;
struct event_base;
struct ingest;
struct metrics;
struct rules;
struct store;

struct service {
    struct config *cfg;
    struct event_base *base;
    struct store *store;
    struct rules *rules;         /* the serving rules version; reloads swap inside */
    struct remotes *remotes;     /* HTTP client + Shopify/OrderEZ/notify adapters */
    struct rules_runner *runner; /* the engine's runner over the rules */
    struct engine *engine;
    struct poller *poller;
    struct scheduler *scheduler;
    struct subscriptions *subscriptions; /* NULL unless shopify.webhook_address is set */
    struct admin_api *api;
    struct metrics *metrics;     /* every subsystem registers its series here */
    struct ingest *ingest;       /* public listener: webhooks (on_events_stored hook) */
    struct admin *admin;         /* admin listener: admin_route / admin_ready_check */
    const char *ready_file;      /* --ready-file: bound addresses as JSON, once listening */
    int stopping;
};

int service_cmd_serve(int argc, char **argv);

/* Open everything, run the loop until a stop signal, close everything. Returns an exit code. */
int service_run(struct service *svc);

#endif
