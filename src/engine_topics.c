/* engine_topics: the topic table that gives each event its priority and entity key. One row
 * per topic (or topic prefix, ending in '/' or '.'); the first match wins, so specific rows
 * come before their prefix. */
#include "engine.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct topic_rule {
    const char *topic;           /* exact topic, or a prefix ending in '/' or '.' */
    int priority;
    const char *kind;            /* entity key prefix; NULL: the event carries "entity" */
    const char *field;           /* dotted path of the id in the body */
    const char *field2;          /* a second id component (inventory levels) */
};

static const struct topic_rule topic_rules[] = {
    { "orders/create",            0, "shopify:order", "id", NULL },
    { "orders/edited",            1, "shopify:order", "order_edit.order_id", NULL },
    { "orders/",                  1, "shopify:order", "id", NULL },
    { "refunds/create",           1, "shopify:order", "order_id", NULL },
    { "order_transactions/",      1, "shopify:order", "order_id", NULL },
    { "fulfillments/",            1, "shopify:order", "order_id", NULL },
    { "fulfillment_events/",      1, "shopify:order", "order_id", NULL },
    { "inventory_levels/",        2, "shopify:inventory", "inventory_item_id", "location_id" },
    { "inventory_items/",         2, "shopify:inventory_item", "id", NULL },
    { "products/",                3, "shopify:product", "id", NULL },
    { "customers/",               3, "shopify:customer", "id", NULL },
    { "orderez/order.created",    0, NULL, NULL, NULL },
    { "orderez/order.",           1, NULL, NULL, NULL },
    { "orderez/shipment.",        1, NULL, NULL, NULL },
    { "orderez/stock.",           2, NULL, NULL, NULL },
    { "orderez/",                 3, NULL, NULL, NULL },
    { "schedule/",                4, "schedule", NULL, NULL },
};
#define NRULES (sizeof topic_rules / sizeof topic_rules[0])

static const struct topic_rule *find_rule(const char *topic)
{
    for (size_t i = 0; i < NRULES; i++) {
        const char *t = topic_rules[i].topic;
        size_t n = strlen(t);
        int prefix = t[n - 1] == '/' || t[n - 1] == '.';
        if (prefix ? strncmp(topic, t, n) == 0 : strcmp(topic, t) == 0) return &topic_rules[i];
    }
    return NULL;
}

static json_t *get_path(json_t *root, const char *path)
{
    char part[64];
    json_t *v = root;
    while (v && *path) {
        size_t n = strcspn(path, ".");
        if (n >= sizeof part) return NULL;
        memcpy(part, path, n);
        part[n] = '\0';
        v = json_is_object(v) ? json_object_get(v, part) : NULL;
        path += n + (path[n] == '.');
    }
    return v;
}

/* An id as text: integers exactly (jansson keeps int64), strings as they are. */
static int id_text(json_t *v, char *out, size_t len)
{
    if (json_is_integer(v)) {
        snprintf(out, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return 0;
    }
    if (json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < len) {
        snprintf(out, len, "%s", json_string_value(v));
        return 0;
    }
    return -1;
}

static int field_text(json_t *body, const char *topic, const char *field, char *out,
                      size_t len, char *err, size_t errlen)
{
    if (id_text(get_path(body, field), out, len) == 0) return 0;
    snprintf(err, errlen, "%s payload has no usable %s (an integer or string id)", topic, field);
    return -1;
}

/* Events without a table row (rule-emitted topics, Shopify topics not listed): the body's
 * "entity", else <resource>:<id>, else the event alone (no ordering constraint). */
static char *fallback_entity(json_t *body, const char *topic, int64_t event_id)
{
    char id[128], buf[320];
    json_t *ent = json_object_get(body, "entity");
    if (json_is_string(ent) && json_string_length(ent) > 0) return strdup(json_string_value(ent));
    if (id_text(json_object_get(body, "id"), id, sizeof id) == 0) {
        /* By resource ("products"), not topic: creates and updates of one record stay in
         * order. */
        snprintf(buf, sizeof buf, "%.*s:%s", (int)strcspn(topic, "/"), topic, id);
        return strdup(buf);
    }
    snprintf(buf, sizeof buf, "event:%" PRId64, event_id);
    return strdup(buf);
}

/* Orders run in order per buyer, not per order: two first orders of one customer must not
 * both find no outlet and both create one (seen in a flash sale). The customer id, else the
 * e-mail of a guest checkout; an order with neither keeps its order key. A buyer's orders/create
 * and orders/updated share the key, so per-order ordering is kept too. */
static void buyer_key(json_t *root, char *key, size_t len)
{
    char id[128];
    json_t *cust = json_object_get(root, "customer");
    if (json_is_object(cust) && id_text(json_object_get(cust, "id"), id, sizeof id) == 0) {
        snprintf(key, len, "shopify:buyer:%s", id);
        return;
    }
    const char *email = json_string_value(json_object_get(root, "email"));
    if (email && *email && strlen(email) < 200) {
        int n = snprintf(key, len, "shopify:buyer:");
        for (const char *p = email; *p && (size_t)n + 1 < len; p++)
            key[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        key[n] = '\0';
    }
}

void engine_topics_free(struct engine_topic_class *c)
{
    free(c->entity);
    free(c->order_id);
    free(c->order_updated_at);
    memset(c, 0, sizeof *c);
}

int engine_topics_classify(int64_t event_id, const char *topic, const char *body,
                           size_t body_len, struct engine_topic_class *out, char *err,
                           size_t errlen)
{
    json_error_t jerr;
    json_t *root = NULL;
    char id[128], id2[128], key[400];
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (errlen) err[0] = '\0';
    const struct topic_rule *r = find_rule(topic ? topic : "");
    out->priority = r ? r->priority : 3;
    if (r && r->kind && strcmp(r->kind, "schedule") == 0) {
        /* Schedule events are keyed by their name: two runs of one schedule never overlap. */
        snprintf(key, sizeof key, "schedule:%s", topic + strlen("schedule/"));
        out->entity = strdup(key);
        rc = out->entity ? 0 : -1;
        goto cleanup;
    }
    root = json_loadb(body ? body : "", body_len, JSON_DECODE_ANY, &jerr);
    if (!root) {
        snprintf(err, errlen, "event %" PRId64 " (%s): body is not valid JSON: %s (line %d, "
                 "column %d)", event_id, topic, jerr.text, jerr.line, jerr.column);
        goto cleanup;
    }
    if (!json_is_object(root)) {
        snprintf(err, errlen, "event %" PRId64 " (%s): body is not a JSON object", event_id,
                 topic);
        goto cleanup;
    }
    if (!r || !r->kind) {
        out->entity = fallback_entity(root, topic, event_id);
    } else {
        if (field_text(root, topic, r->field, id, sizeof id, err, errlen)) goto cleanup;
        if (r->field2) {
            if (field_text(root, topic, r->field2, id2, sizeof id2, err, errlen)) goto cleanup;
            snprintf(key, sizeof key, "%s:%s:%s", r->kind, id, id2);
        } else {
            snprintf(key, sizeof key, "%s:%s", r->kind, id);
        }
        if (strncmp(topic, "orders/", 7) == 0) buyer_key(root, key, sizeof key);
        out->entity = strdup(key);
        if (strncmp(topic, "orders/", 7) == 0 && strcmp(r->field, "id") == 0) {
            json_t *u = json_object_get(root, "updated_at");
            if (json_is_string(u)) {
                out->order_id = strdup(id);
                out->order_updated_at = strdup(json_string_value(u));
            }
        }
    }
    rc = out->entity ? 0 : -1;
cleanup:
    if (rc && !out->entity && err[0] == '\0') snprintf(err, errlen, "out of memory");
    json_decref(root);
    return rc;
}
