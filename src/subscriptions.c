/* subscriptions: see subscriptions.h. One check = list the subscriptions (one page of 100, far
 * more than the topics an integration uses), then create the missing ones one at a time. */
#include "subscriptions.h"

#include "config.h"
#include "log.h"
#include "rules.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char list_doc[] =
    "query EzsyncSubscriptions { webhookSubscriptions(first: 100) {"
    " nodes { id topic uri } } }";
static const char create_doc[] =
    "mutation EzsyncSubscribe($topic: WebhookSubscriptionTopic!,"
    " $sub: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $topic,"
    " webhookSubscription: $sub) { webhookSubscription { id } userErrors { field message } } }";

struct subscriptions {
    struct event_base *base;
    struct rules *rules;
    struct engine_remotes remotes;
    char *address;
    long interval_ms;
    struct event *timer;
    int busy;
    char **missing;              /* topic enums still to create in this check */
    size_t nmissing, next;
    unsigned checks, created;
};

int subscriptions_topic_enum(const char *topic, char *out, size_t len)
{
    size_t n = strlen(topic);
    if (n == 0 || n >= len) return -1;
    for (size_t i = 0; i <= n; i++) {
        char c = topic[i];
        if (c == '/' || c == '.') c = '_';
        else if (c >= 'a' && c <= 'z') c = (char)(c - 32);
        else if (c && !(c == '_' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return -1;
        out[i] = c;
    }
    return 0;
}

static void free_missing(struct subscriptions *s)
{
    for (size_t i = 0; i < s->nmissing; i++) free(s->missing[i]);
    free(s->missing);
    s->missing = NULL;
    s->nmissing = s->next = 0;
}

static void finish(struct subscriptions *s, const char *error)
{
    if (error) log_warn("webhook subscriptions not checked", "error", error);
    free_missing(s);
    s->busy = 0;
    s->checks++;
}

static void create_next(struct subscriptions *s);

static void on_created(void *ud, int cls, long status, const char *body, const char *error,
                       double retry_after_s)
{
    (void)retry_after_s;
    struct subscriptions *s = ud;
    const char *topic = s->missing[s->next - 1];
    json_t *r = body ? json_loads(body, 0, NULL) : NULL;
    json_t *errs = json_object_get(json_object_get(json_object_get(r, "data"),
                                                   "webhookSubscriptionCreate"), "userErrors");
    if (cls != ENGINE_CALL_OK || !r || json_object_get(r, "errors") || json_array_size(errs)) {
        char *e = r ? json_dumps(json_object_get(r, "errors") ? json_object_get(r, "errors") : errs,
                                 JSON_COMPACT) : NULL;
        char st[16];
        snprintf(st, sizeof st, "%ld", status);
        log_warn("cannot subscribe to a webhook topic", "topic", topic, "status", st,
                 "error", e ? e : (error ? error : "no answer"));
        free(e);
    } else {
        s->created++;
        log_info("webhook subscription created", "topic", topic, "address", s->address);
    }
    json_decref(r);
    create_next(s);
}

static void create_next(struct subscriptions *s)
{
    if (s->next >= s->nmissing) {
        finish(s, NULL);
        return;
    }
    const char *topic = s->missing[s->next++];
    json_t *req = json_pack("{s:s, s:{s:s, s:{s:s, s:s}}}", "query", create_doc, "variables",
                            "topic", topic, "sub", "uri", s->address, "format", "JSON");
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    struct engine_io io = { ENGINE_IO_SHOPIFY, "POST", "/graphql.json", body };
    if (!body || s->remotes.send(s->remotes.ud, &io, 4, NULL, on_created, s)) finish(s, "cannot send");
    free(body);
}

static void on_listed(void *ud, int cls, long status, const char *body, const char *error,
                      double retry_after_s)
{
    (void)retry_after_s;
    (void)status;
    struct subscriptions *s = ud;
    json_t *r = body ? json_loads(body, 0, NULL) : NULL;
    json_t *nodes = json_object_get(json_object_get(json_object_get(r, "data"),
                                                    "webhookSubscriptions"), "nodes");
    if (cls != ENGINE_CALL_OK || !json_is_array(nodes)) {
        json_decref(r);
        finish(s, error ? error : "unexpected answer to webhookSubscriptions");
        return;
    }
    const char *const *topics;
    size_t n = rules_topics(s->rules, &topics);
    s->missing = calloc(n + 1, sizeof *s->missing);
    for (size_t i = 0; s->missing && i < n; i++) {
        char en[128];
        if (strncmp(topics[i], "shopify/", 8) ||
            subscriptions_topic_enum(topics[i] + 8, en, sizeof en))
            continue;
        int have = 0;
        size_t j;
        json_t *node;
        json_array_foreach(nodes, j, node) {
            const char *t = json_string_value(json_object_get(node, "topic"));
            const char *u = json_string_value(json_object_get(node, "uri"));
            if (t && u && !strcmp(t, en) && !strcmp(u, s->address)) have = 1;
        }
        if (!have) s->missing[s->nmissing++] = strdup(en);
    }
    json_decref(r);
    create_next(s);
}

int subscriptions_check(struct subscriptions *s)
{
    if (s->busy) return -1;
    s->busy = 1;
    json_t *req = json_pack("{s:s}", "query", list_doc);
    char *body = req ? json_dumps(req, JSON_COMPACT) : NULL;
    json_decref(req);
    struct engine_io io = { ENGINE_IO_SHOPIFY, "POST", "/graphql.json", body };
    int rc = body && s->remotes.send(s->remotes.ud, &io, 4, NULL, on_listed, s) == 0 ? 0 : -1;
    free(body);
    if (rc) finish(s, "cannot send");
    return rc;
}

static void on_timer(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    struct subscriptions *s = ud;
    subscriptions_check(s);
    struct timeval tv = { s->interval_ms / 1000, (s->interval_ms % 1000) * 1000 };
    evtimer_add(s->timer, &tv);
}

struct subscriptions *subscriptions_new(struct event_base *base, const struct config *cfg,
                                        struct rules *rules, const struct engine_remotes *remotes)
{
    if (!cfg->shopify_webhook_address || !*cfg->shopify_webhook_address) return NULL;
    struct subscriptions *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->base = base;
    s->rules = rules;
    s->remotes = *remotes;
    s->address = strdup(cfg->shopify_webhook_address);
    s->interval_ms = cfg->shopify_subscriptions_check_ms > 0 ? cfg->shopify_subscriptions_check_ms
                                                              : 3600000;
    s->timer = evtimer_new(base, on_timer, s);
    if (!s->address || !s->timer) {
        subscriptions_free(s);
        return NULL;
    }
    struct timeval now = { 0, 0 }; /* the first check on the next loop turn */
    evtimer_add(s->timer, &now);
    return s;
}

void subscriptions_counts(const struct subscriptions *s, unsigned *checks, unsigned *created)
{
    *checks = s ? s->checks : 0;
    *created = s ? s->created : 0;
}

void subscriptions_free(struct subscriptions *s)
{
    if (!s) return;
    if (s->timer) event_free(s->timer);
    free_missing(s);
    free(s->address);
    free(s);
}
