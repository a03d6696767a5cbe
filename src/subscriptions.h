/* subscriptions: keeps Shopify delivering. Shopify deletes an API-created webhook subscription
 * after 8 failed deliveries in a row (a few hours of downtime), and a new install has none. When
 * shopify.webhook_address is set, this module makes sure there is one subscription per Shopify
 * topic the rules handle, pointing at that address: at start-up and every
 * shopify.subscriptions_check_ms. It talks to Shopify through the engine's remotes (priority 4). */
#ifndef EZ_SUBSCRIPTIONS_H
#define EZ_SUBSCRIPTIONS_H

#include "engine.h"

struct config;
struct event_base;
struct rules;
struct subscriptions;

/* NULL when shopify.webhook_address is not set (nothing to do) or on out of memory. */
struct subscriptions *subscriptions_new(struct event_base *base, const struct config *cfg,
                                        struct rules *rules, const struct engine_remotes *remotes);
/* A check now (also what the timer runs); -1 while one is under way. */
int subscriptions_check(struct subscriptions *s);
/* Checks completed and subscriptions created so far (status, tests). */
void subscriptions_counts(const struct subscriptions *s, unsigned *checks, unsigned *created);
/* Call after the remotes can no longer call back. */
void subscriptions_free(struct subscriptions *s);

/* "orders/create" -> "ORDERS_CREATE" (Shopify's WebhookSubscriptionTopic); 0 or -1. */
int subscriptions_topic_enum(const char *topic, char *out, size_t len);

#endif
