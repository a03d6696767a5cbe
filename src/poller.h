/* poller: change detection for remotes without (reliable) webhooks. The OrderEZ poller lists
 * orders (and the shipments of changed orders) and stock levels updated since a watermark
 * minus an overlap, diffs each record against its snapshot and emits orderez/... events; the
 * Shopify catch-up poller lists orders updated since its watermark and emits
 * shopify/orders/updated for those newer than anything received, covering missed webhooks
 * and downtime. Polls go through the engine's remotes interface at priority 4, never through
 * rules; snapshot, event and watermark of a change are written in one transaction. */
#ifndef EZ_POLLER_H
#define EZ_POLLER_H

#include "engine.h"

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct store;
struct config;
struct poller;

/* Reads poller.orderez_interval_ms, poller.shopify_interval_ms (0 disables either) and
 * poller.overlap_ms. notify(notify_ud) runs after a cycle stored new events (the service
 * passes engine_notify_events). */
struct poller *poller_new(struct event_base *base, struct store *st, const struct config *cfg,
                          const struct engine_remotes *remotes, void (*notify)(void *ud),
                          void *notify_ud);
/* Arms both pollers; the first cycles start on the next loop turn. */
int poller_start(struct poller *p);
/* No new cycles; a response still in flight is dropped when it arrives. */
void poller_stop(struct poller *p);
/* Call after the remotes adapter can no longer call a done callback. */
void poller_free(struct poller *p);

/* One cycle now (tests, an admin "poll now"); done(ud, ok) when it ends. -1 when a cycle of
 * that poller is already running. */
int poller_run_orderez(struct poller *p, void (*done)(void *ud, int ok), void *ud);
int poller_run_shopify(struct poller *p, void (*done)(void *ud, int ok), void *ud);

/* The engine reports each Shopify order event it jobs (id, updated_at), so the catch-up
 * poller emits only orders newer than what webhooks already brought. */
int poller_shopify_seen(struct store *st, const char *order_id, const char *updated_at);

/* ISO-8601 ("2024-05-01T10:00:00Z", "...T10:00:00.123-05:00") <-> ms since the epoch. */
int poller_time_parse(const char *iso, int64_t *ms);
void poller_time_format(int64_t ms, char *out, size_t len);   /* UTC, millisecond precision */

#endif
