/* engine_topics: the topic table that gives each event its priority and entity key. One row
 * per topic (or topic prefix, ending in '/' or '.'); the first match wins, so specific rows
 * come before their prefix. */
#include "engine.h"

#include "log.h"
#include "poller.h"

#include <inttypes.h>
#include <yajl/yajl_parse.h>
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

int engine_topics_priority(const char *topic)
{
    const struct topic_rule *r = topic ? find_rule(topic) : NULL;
    return r ? r->priority : 3;
}

/* ---- reading the few ids a job needs, without building the document ----
 * Classification runs for every event that becomes a job (a batch of webhook deliveries at a
 * time, on the event loop), so it must cost little: a SAX pass (yajl) that validates the whole body but keeps only the values at the wanted paths
 * (one or two levels deep), instead of a jansson tree of a 3–15 KB order. Numbers arrive as
 * their text, so ids stay exact at any size. */

enum peek_type { PV_NONE, PV_INT, PV_STRING, PV_OTHER };

/* Keys are matched when they are read, not per value: each key at depth 1 or 2 costs a length
 * compare per wanted path, and the members of objects no path goes into cost nothing. */
struct peek {
    struct engine_peek_field *f;
    size_t n;
    int depth;                   /* containers open; 1 = inside the root */
    int is_map[3];               /* is_map[d]: the container at depth d is an object */
    int match[3];                /* match[d]: field the current key at depth d names, or -1 */
    int into;                    /* the current depth-1 key is the parent of some path */
    int parent_ok;               /* the object at depth 2 is such a parent */
    const unsigned char *key1;   /* that depth-1 key (valid until the next depth-1 key) */
    size_t key1len;
    char key1buf[64];            /* yajl's key buffer is reused: the parent key is copied */
    int not_object;
};

/* The field whose path names the value about to be read at the current depth, or NULL. */
static struct engine_peek_field *peek_slot(struct peek *p)
{
    if (p->depth == 1 && p->is_map[1] && p->match[1] >= 0) return &p->f[p->match[1]];
    if (p->depth == 2 && p->is_map[2] && p->parent_ok && p->match[2] >= 0)
        return &p->f[p->match[2]];
    return NULL;
}

/* A value that is no usable id (null, boolean, real, object, array, or too long). The last
 * occurrence of a repeated key wins, as with jansson. */
static int peek_other(void *ctx)
{
    struct peek *p = ctx;
    if (p->depth == 0) {
        p->not_object = 1;
        return 0;                /* cancels the parse: the body is not an object */
    }
    struct engine_peek_field *f = peek_slot(p);
    if (f) f->type = PV_OTHER;
    return 1;
}

static int peek_text(struct peek *p, enum peek_type t, const char *s, size_t len)
{
    if (p->depth == 0) return peek_other(p);
    struct engine_peek_field *f = peek_slot(p);
    if (!f) return 1;
    if (len >= sizeof f->text || memchr(s, '\0', len)) {
        f->type = PV_OTHER;
        return 1;
    }
    memcpy(f->text, s, len);
    f->text[len] = '\0';
    f->type = t;
    return 1;
}

static int peek_null(void *ctx) { return peek_other(ctx); }
static int peek_bool(void *ctx, int v) { (void)v; return peek_other(ctx); }

static int peek_number(void *ctx, const char *s, size_t len)
{
    /* An integer has no fraction or exponent; "1.5" is no id. */
    for (size_t i = 0; i < len; i++)
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E') return peek_other(ctx);
    return peek_text(ctx, PV_INT, s, len);
}

static int peek_string(void *ctx, const unsigned char *s, size_t len)
{
    return peek_text(ctx, PV_STRING, (const char *)s, len);
}

static int peek_open(void *ctx, int map)
{
    struct peek *p = ctx;
    if (p->depth == 0 && !map) return peek_other(ctx);
    if (p->depth > 0) peek_other(ctx);   /* a container is never an id */
    p->depth++;
    if (p->depth < 3) {
        p->is_map[p->depth] = map;
        p->match[p->depth] = -1;
        if (p->depth == 2) p->parent_ok = map && p->is_map[1] && p->into;
    }
    return 1;
}

static int peek_start_map(void *ctx) { return peek_open(ctx, 1); }
static int peek_start_array(void *ctx) { return peek_open(ctx, 0); }

static int peek_close(void *ctx)
{
    struct peek *p = ctx;
    p->depth--;
    return 1;
}

static int peek_key(void *ctx, const unsigned char *s, size_t len)
{
    struct peek *p = ctx;
    if (p->depth == 1) {
        p->match[1] = -1;
        p->into = 0;
        for (size_t i = 0; i < p->n; i++) {
            const struct engine_peek_field *f = &p->f[i];
            if (f->alen != len || memcmp(f->path, s, len) != 0) continue;
            if (!f->b) p->match[1] = (int)i;
            else p->into = 1;
        }
        if (p->into) {
            /* yajl may hand keys from a buffer it reuses; parent keys are short. */
            if (len > sizeof p->key1buf) {
                p->into = 0;
            } else {
                memcpy(p->key1buf, s, len);
                p->key1 = (const unsigned char *)p->key1buf;
                p->key1len = len;
            }
        }
    } else if (p->depth == 2 && p->parent_ok) {
        p->match[2] = -1;
        for (size_t i = 0; i < p->n; i++) {
            const struct engine_peek_field *f = &p->f[i];
            if (f->b && f->blen == len && memcmp(f->b, s, len) == 0 && f->alen == p->key1len &&
                memcmp(f->path, p->key1, p->key1len) == 0)
                p->match[2] = (int)i;
        }
    }
    return 1;
}

static const yajl_callbacks peek_callbacks = {
    .yajl_null = peek_null,
    .yajl_boolean = peek_bool,
    .yajl_number = peek_number,
    .yajl_string = peek_string,
    .yajl_start_map = peek_start_map,
    .yajl_map_key = peek_key,
    .yajl_end_map = peek_close,
    .yajl_start_array = peek_start_array,
    .yajl_end_array = peek_close,
};

/* Fills f[0..n) from body. Returns 0, or -1 with the reason (invalid JSON, not an object). */
static int peek_fields(const char *body, size_t len, struct engine_peek_field *f, size_t n,
                       char *err, size_t errlen)
{
    struct peek p = { .f = f, .n = n };
    for (size_t i = 0; i < n; i++) {
        const char *dot = strchr(f[i].path, '.');
        f[i].type = PV_NONE;
        f[i].alen = dot ? (size_t)(dot - f[i].path) : strlen(f[i].path);
        f[i].b = dot ? dot + 1 : NULL;
        f[i].blen = dot ? strlen(dot + 1) : 0;
    }
    yajl_handle h = yajl_alloc(&peek_callbacks, NULL, &p);
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    yajl_status st = yajl_parse(h, (const unsigned char *)body, len);
    if (st == yajl_status_ok) st = yajl_complete_parse(h);
    int rc = 0;
    if (p.not_object) {
        snprintf(err, errlen, "body is not a JSON object");
        rc = -1;
    } else if (st != yajl_status_ok) {
        unsigned char *msg = yajl_get_error(h, 0, (const unsigned char *)body, len);
        /* yajl's message starts "parse error: " or "lexical error: "; one line is enough. */
        const char *m = msg ? (const char *)msg : "parse error";
        snprintf(err, errlen, "body is not valid JSON: %.*s", (int)strcspn(m, "\n"), m);
        if (msg) yajl_free_error(h, msg);
        rc = -1;
    }
    yajl_free(h);
    return rc;
}

static const struct engine_peek_field *field_at(const struct engine_peek_field *f, size_t n,
                                                const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(f[i].path, path) == 0) return &f[i];
    return NULL;
}

/* An id as text: an integer's digits exactly, a non-empty string as it is. */
static int id_text(const struct engine_peek_field *v, char *out, size_t len)
{
    if (!v || (v->type != PV_INT && v->type != PV_STRING) || !v->text[0] ||
        strlen(v->text) >= len)
        return -1;
    snprintf(out, len, "%s", v->text);
    return 0;
}

static int field_text(const struct engine_peek_field *f, size_t n, const char *topic, const char *field,
                      char *out, size_t len, char *err, size_t errlen)
{
    if (id_text(field_at(f, n, field), out, len) == 0) return 0;
    snprintf(err, errlen, "%s payload has no usable %s (an integer or string id)", topic, field);
    return -1;
}

/* Events without a table row (rule-emitted topics, Shopify topics not listed): the body's
 * "entity", else <resource>:<id>, else the event alone (no ordering constraint). */
static char *fallback_entity(const struct engine_peek_field *f, size_t n, const char *topic, int64_t event_id)
{
    char id[128], buf[320];
    const struct engine_peek_field *ent = field_at(f, n, "entity");
    if (ent && ent->type == PV_STRING && ent->text[0]) return strdup(ent->text);
    if (id_text(field_at(f, n, "id"), id, sizeof id) == 0) {
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
static void buyer_key(const struct engine_peek_field *f, size_t n, char *key, size_t len)
{
    char id[128];
    if (id_text(field_at(f, n, "customer.id"), id, sizeof id) == 0) {
        snprintf(key, len, "shopify:buyer:%s", id);
        return;
    }
    const struct engine_peek_field *em = field_at(f, n, "email");
    const char *email = em && em->type == PV_STRING ? em->text : NULL;
    if (email && *email && strlen(email) < 200) {
        int k = snprintf(key, len, "shopify:buyer:");
        for (const char *p = email; *p && (size_t)k + 1 < len; p++)
            key[k++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
        key[k] = '\0';
    }
}

void engine_topics_free(struct engine_topic_class *c)
{
    free(c->entity);
    free(c->order_id);
    free(c->order_updated_at);
    memset(c, 0, sizeof *c);
}

/* The paths a topic's job needs; returns how many (0 for schedules, which need none). */
static size_t wanted_paths(const struct topic_rule *r, const char *topic,
                           struct engine_peek_field *f)
{
    size_t n = 0;
    if (r && r->kind && strcmp(r->kind, "schedule") == 0) return 0;
    if (!r || !r->kind) {
        f[n++].path = "entity";
        f[n++].path = "id";
    } else {
        f[n++].path = r->field;
        if (r->field2) f[n++].path = r->field2;
        if (topic && strncmp(topic, "orders/", 7) == 0) {
            f[n++].path = "customer.id";
            f[n++].path = "email";
            f[n++].path = "updated_at";
        }
    }
    return n;
}

void engine_topics_peek(const char *topic, const char *body, size_t body_len,
                        struct engine_peek *pk)
{
    const struct topic_rule *r = find_rule(topic ? topic : "");
    pk->why[0] = '\0';
    pk->n = wanted_paths(r, topic, pk->f);
    pk->rc = pk->n ? peek_fields(body ? body : "", body ? body_len : 0, pk->f, pk->n, pk->why,
                                 sizeof pk->why)
                   : 0;
}

int engine_topics_classify_peeked(int64_t event_id, const char *topic,
                                  const struct engine_peek *pk, struct engine_topic_class *out,
                                  char *err, size_t errlen)
{
    const struct engine_peek_field *f = pk->f;
    size_t n = pk->n;
    char id[128], id2[128], key[400];
    int rc = -1;
    memset(out, 0, sizeof *out);
    if (errlen) err[0] = '\0';
    const struct topic_rule *r = find_rule(topic ? topic : "");
    out->priority = engine_topics_priority(topic);
    if (r && r->kind && strcmp(r->kind, "schedule") == 0) {
        /* Schedule events are keyed by their name: two runs of one schedule never overlap. */
        snprintf(key, sizeof key, "schedule:%s", topic + strlen("schedule/"));
        out->entity = strdup(key);
        return out->entity ? 0 : -1;
    }
    int orders = topic && strncmp(topic, "orders/", 7) == 0;
    if (pk->rc) {
        snprintf(err, errlen, "event %" PRId64 " (%s): %s", event_id, topic, pk->why);
        return -1;
    }
    if (!r || !r->kind) {
        out->entity = fallback_entity(f, n, topic, event_id);
    } else {
        if (field_text(f, n, topic, r->field, id, sizeof id, err, errlen)) return -1;
        if (r->field2) {
            if (field_text(f, n, topic, r->field2, id2, sizeof id2, err, errlen)) return -1;
            snprintf(key, sizeof key, "%s:%s:%s", r->kind, id, id2);
        } else {
            snprintf(key, sizeof key, "%s:%s", r->kind, id);
        }
        if (orders) buyer_key(f, n, key, sizeof key);
        out->entity = strdup(key);
        const struct engine_peek_field *u = field_at(f, n, "updated_at");
        if (orders && strcmp(r->field, "id") == 0 && u && u->type == PV_STRING) {
            out->order_id = strdup(id);
            out->order_updated_at = strdup(u->text);
        }
    }
    rc = out->entity ? 0 : -1;
    if (rc) snprintf(err, errlen, "out of memory");
    return rc;
}

int engine_topics_classify(int64_t event_id, const char *topic, const char *body,
                           size_t body_len, struct engine_topic_class *out, char *err,
                           size_t errlen)
{
    struct engine_peek pk;
    engine_topics_peek(topic, body, body_len, &pk);
    return engine_topics_classify_peeked(event_id, topic, &pk, out, err, errlen);
}

int engine_job_for_event(struct store *st, const struct store_event *ev,
                         const struct engine_peek *pk, int *dead)
{
    struct engine_topic_class c;
    char err[512], eid[24];      /* both outlive the branches: the insert below reads them */
    struct store_job job;
    memset(&job, 0, sizeof job);
    job.event_id = ev->id;
    job.topic = (char *)ev->topic;
    *dead = 0;
    int rc = pk ? engine_topics_classify_peeked(ev->id, ev->topic, pk, &c, err, sizeof err)
                : engine_topics_classify(ev->id, ev->topic, ev->body, ev->body_len, &c, err,
                                         sizeof err);
    if (rc == 0) {
        job.state = STORE_JOB_QUEUED;
        job.entity_key = c.entity;
        job.priority = c.priority;
        /* Best effort: a failed note only costs the catch-up poller a needless re-read. */
        if (c.order_id && poller_shopify_seen(st, c.order_id, c.order_updated_at))
            log_warn("cannot note order for the catch-up poller", "error", store_errmsg(st));
    } else {
        /* A body we cannot read now never becomes readable: dead at once, with why. */
        snprintf(eid, sizeof eid, "event:%" PRId64, ev->id);
        job.state = STORE_JOB_DEAD;
        job.priority = c.priority;
        job.entity_key = eid;
        job.last_error = err;
        log_warn("event cannot be processed: dead-lettered", "event_id", eid + 6, "topic",
                 ev->topic, "error", err);
        *dead = 1;
    }
    rc = store_job_insert(st, &job);
    engine_topics_free(&c);
    return rc;
}

int engine_event_store(struct store *st, struct store_event *ev, const struct engine_peek *pk,
                       int *inserted, int *dead)
{
    int d = 0;
    if (dead) *dead = 0;
    ev->lane = STORE_LANE_NONE;  /* its job comes with it, not from the backlog */
    if (store_begin(st)) return -1;
    if (store_event_insert(st, ev, inserted) || (*inserted && engine_job_for_event(st, ev, pk, &d))) {
        store_rollback(st);
        return -1;
    }
    if (store_commit(st)) return -1;
    if (dead) *dead = d;
    return 0;
}
