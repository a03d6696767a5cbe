/* remotes: the outbound side as one unit: the shared HTTP client and the Shopify, OrderEZ and
 * notification adapters (each with its own rate limiter), offered to the engine as its
 * `engine_remotes`, with their status and Prometheus series. */
#ifndef EZ_REMOTES_H
#define EZ_REMOTES_H

#include <jansson.h>
#include <stddef.h>

struct config;
struct engine_remotes;
struct event_base;
struct metrics;
struct remotes;

/* Returns 0, or -1 with the reason (e.g. a missing token) in err. */
int remotes_new(struct remotes **out, struct event_base *base, const struct config *cfg,
                char *err, size_t errlen);
/* Fills the engine's interface; r must outlive the engine's use of it. */
void remotes_engine(struct remotes *r, struct engine_remotes *out);
json_t *remotes_status_json(struct remotes *r);
void remotes_collect(struct remotes *r, struct metrics *m);
/* Calls in flight or waiting on a limiter. */
size_t remotes_pending(struct remotes *r);
/* Cancels what is pending (their callbacks run with TRANSIENT "cancelled"). */
void remotes_free(struct remotes *r);

#endif
