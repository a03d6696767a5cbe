/* libFuzzer target: a webhook body as the engine classifies it when it makes its job (the
 * entity key and priority, read straight from the text without parsing it whole). The first
 * byte picks the topic; anything the peek cannot use must come out as an error naming it. */
#include "engine.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const topics[] = {
    "orders/create", "orders/updated", "orders/cancelled", "orders/paid", "refunds/create",
    "fulfillments/create", "products/update", "products/create", "inventory_levels/update",
    "customers/create", "customers/update", "app/uninstalled", "orderez/order.status_changed",
    "orderez/stock.changed", "schedule/reconcile", "unknown/topic",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const char *topic = topics[data[0] % (sizeof topics / sizeof *topics)];
    struct engine_topic_class c;
    char err[256];
    if (engine_topics_classify(1, topic, (const char *)data + 1, size - 1, &c, err, sizeof err) &&
        !err[0]) {
        fprintf(stderr, "fuzz_peek: refused without saying why\n");
        abort();
    }
    engine_topics_free(&c);    /* as its caller does, whatever the outcome */
    return 0;
}
