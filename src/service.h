/* service: the long-running process. Owns the event loop and the lifetime of every
 * subsystem the daemon runs (store, listeners, rules, engine); `ezsync serve` enters here. */
#ifndef EZ_SERVICE_H
#define EZ_SERVICE_H

#include "config.h"

struct event_base;
struct store;
struct rules;

struct service {
    struct config *cfg;
    struct event_base *base;
    struct store *store;
    struct rules *rules;
    int stopping;
};

int service_cmd_serve(int argc, char **argv);

/* Open everything, run the loop until a stop signal, close everything. Returns an exit code. */
int service_run(struct service *svc);

#endif
