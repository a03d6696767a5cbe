/* rules_runner: the engine's runner (engine.h) implemented by the rule host (rules.h). Turns a
 * job into a rule run (topic naming, the event envelope, the run context: store, job id, emit),
 * translates yields into engine calls and back, and audits what a handler returns. */
#ifndef EZ_RULES_RUNNER_H
#define EZ_RULES_RUNNER_H

#include "engine.h"

struct rules;
struct store;

struct rules_runner {
    struct rules *rules;
    struct store *store;
    /* ez.emit: the new event is stored at once (same store); then this is called so the
     * engine picks it up. May be NULL. */
    void (*on_emit)(void *ud);
    void *emit_ud;
};

/* Fills *out with the callbacks; rr must outlive the engine. */
void rules_runner_init(struct rules_runner *rr, struct engine_runner *out);

/* "orders/create" from source "shopify" -> "shopify/orders/create"; a topic that already
 * starts with its source ("orderez/order.created", "schedule/ping") is kept. */
void rules_runner_topic(const char *source, const char *topic, char *out, size_t outlen);

#endif
