/* config: see config.h. The option table below is the single source of truth: loading,
 * validation, defaults, `ezsync help config` and the README reference all derive from it. */
#include "config.h"

#include "log.h"
#include "scheduler.h"

#include <errno.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include <stdlib.h>
#include <string.h>

#define OFF(f) offsetof(struct config, f)

const struct config_option config_options[] = {
    { "server.listen", CFG_STRING, "0.0.0.0:8080", OFF(server_listen), 0,
      "public listener (webhooks only), host:port" },
    { "server.admin_listen", CFG_STRING, "127.0.0.1:8081", OFF(server_admin_listen), 0,
      "admin listener (health, metrics, API, dashboard), host:port" },
    { "server.admin_token", CFG_STRING, NULL, OFF(server_admin_token), 1,
      "bearer token the admin listener requires; without it the admin listener stays off" },
    { "server.max_body", CFG_INT, "1048576", OFF(server_max_body), 0,
      "largest webhook body accepted, bytes (larger: 413)" },
    { "server.timeout_ms", CFG_INT, "10000", OFF(server_timeout_ms), 0,
      "read/write timeout for slow or idle connections, ms" },
    { "store.path", CFG_STRING, "ezsync.db", OFF(store_path), 0,
      "SQLite database file" },
    { "rules.dir", CFG_STRING, "rules", OFF(rules_dir), 0,
      "directory of the Lua rules" },
    { "rules.instruction_budget", CFG_INT, "10000000", OFF(rules_instruction_budget), 0,
      "Lua instructions one rule run may execute before it is killed" },
    { "rules.memory_mb", CFG_INT, "64", OFF(rules_memory_mb), 0,
      "memory cap of one rules state, MiB" },
    { "shopify.shop", CFG_STRING, NULL, OFF(shopify_shop), 0,
      "the shop's domain, e.g. example.myshopify.com (webhooks from others are refused)" },
    { "shopify.api_version", CFG_STRING, "2026-10", OFF(shopify_api_version), 0,
      "Admin GraphQL API version" },
    { "shopify.endpoint", CFG_STRING, NULL, OFF(shopify_endpoint), 0,
      "base URL override (e.g. the simulator); default https://<shop>" },
    { "shopify.access_token", CFG_STRING, NULL, OFF(shopify_access_token), 1,
      "Admin API access token" },
    { "shopify.webhook_secret", CFG_STRING, NULL, OFF(shopify_webhook_secret), 1,
      "app client secret that signs webhooks" },
    { "shopify.previous_webhook_secret", CFG_STRING, NULL, OFF(shopify_previous_webhook_secret), 1,
      "the old secret, accepted too while a rotation is under way" },
    { "shopify.webhook_address", CFG_STRING, NULL, OFF(shopify_webhook_address), 0,
      "public URL of the webhook receiver (https://.../webhooks/shopify); when set, ezsync keeps one "
      "subscription per Shopify topic the rules handle (Shopify deletes one after 8 failed deliveries)" },
    { "shopify.subscriptions_check_ms", CFG_INT, "3600000", OFF(shopify_subscriptions_check_ms), 0,
      "how often the webhook subscriptions are checked (and at start-up), ms" },
    { "orderez.base_url", CFG_STRING, "https://api.orderez.co", OFF(orderez_base_url), 0,
      "OrderEZ API base URL (sandbox: https://api-staging.orderez.co)" },
    { "orderez.token", CFG_STRING, NULL, OFF(orderez_token), 1,
      "OrderEZ bearer token" },
    { "orderez.rate", CFG_NUMBER, "10", OFF(orderez_rate), 0,
      "OrderEZ requests per second (adapts down on 429)" },
    { "orderez.burst", CFG_INT, "20", OFF(orderez_burst), 0,
      "OrderEZ token-bucket size" },
    { "orderez.min_rate", CFG_NUMBER, "1", OFF(orderez_min_rate), 0,
      "floor the OrderEZ rate never adapts below, requests per second" },
    { "orderez.max_429_retries", CFG_INT, "5", OFF(orderez_max_429_retries), 0,
      "429s one OrderEZ call waits out (Retry-After) and resends before it fails as transient" },
    { "shopify.plan_restore_rate", CFG_NUMBER, "100", OFF(shopify_plan_restore_rate), 0,
      "GraphQL cost points restored per second (plan), used until Shopify reports throttleStatus" },
    { "shopify.max_throttle_retries", CFG_INT, "10", OFF(shopify_max_throttle_retries), 0,
      "THROTTLED answers one GraphQL call waits out and resends before it fails as transient" },
    { "http.timeout_ms", CFG_INT, "30000", OFF(http_timeout_ms), 0,
      "outbound request timeout (whole request), ms" },
    { "http.connect_timeout_ms", CFG_INT, "5000", OFF(http_connect_timeout_ms), 0,
      "outbound connect timeout (TCP + TLS handshake), ms" },
    { "http.max_connections", CFG_INT, "8", OFF(http_max_connections), 0,
      "parallel keep-alive connections per remote host" },
    { "http.ca_file", CFG_STRING, NULL, OFF(http_ca_file), 0,
      "extra CA bundle (PEM) for outbound TLS; verification itself cannot be turned off" },
    { "notify.slack_webhook_url", CFG_STRING, NULL, OFF(notify_slack_webhook_url), 1,
      "Slack incoming-webhook URL (the URL is the credential)" },
    { "notify.smtp_url", CFG_STRING, NULL, OFF(notify_smtp_url), 0,
      "mail server, smtp://host:587 (STARTTLS) or smtps://host:465" },
    { "notify.smtp_user", CFG_STRING, NULL, OFF(notify_smtp_user), 0,
      "SMTP login; with a login, TLS is required" },
    { "notify.smtp_password", CFG_STRING, NULL, OFF(notify_smtp_password), 1,
      "SMTP password" },
    { "notify.email_from", CFG_STRING, NULL, OFF(notify_email_from), 0,
      "sender address of notification e-mails" },
    { "notify.email_to", CFG_STRING, NULL, OFF(notify_email_to), 0,
      "recipients of notification e-mails, comma-separated" },
    { "notify.rate", CFG_NUMBER, "1", OFF(notify_rate), 0,
      "notifications per second per channel (burst 5)" },
    { "engine.concurrency", CFG_INT, "16", OFF(engine_concurrency), 0,
      "jobs running at once" },
    { "engine.retry_base_ms", CFG_INT, "500", OFF(engine_retry_base_ms), 0,
      "first retry backoff, ms (full jitter, doubling)" },
    { "engine.retry_cap_ms", CFG_INT, "300000", OFF(engine_retry_cap_ms), 0,
      "longest retry backoff, ms (also, up to 30 s, between probes of a remote that is down)" },
    { "engine.max_attempts", CFG_INT, "12", OFF(engine_max_attempts), 0,
      "attempts before a transiently failing job is dead-lettered (a remote that is down costs none)" },
    { "engine.sweep_ms", CFG_INT, "1000", OFF(engine_sweep_ms), 0,
      "how often the engine looks for work no hook announced (dead letters retried from the CLI)" },
    { "poller.orderez_interval_ms", CFG_INT, "15000", OFF(poller_orderez_interval_ms), 0,
      "OrderEZ change polling period, ms (0 = off)" },
    { "poller.shopify_interval_ms", CFG_INT, "300000", OFF(poller_shopify_interval_ms), 0,
      "Shopify catch-up polling period (missed webhooks, downtime), ms (0 = off)" },
    { "poller.overlap_ms", CFG_INT, "120000", OFF(poller_overlap_ms), 0,
      "how far before the last watermark each poll looks again (clock skew, late commits), ms" },
    { "schedules", CFG_MAP, NULL, OFF(schedules), 0,
      "cron schedules emitting schedule/<name> events: { name = \"m h dom mon dow\", ... }" },
    { "log.level", CFG_STRING, "info", OFF(log_level), 0,
      "debug | info | warn | error" },
    { "log.format", CFG_STRING, "logfmt", OFF(log_format), 0,
      "logfmt | json" },
};
const size_t config_noptions = sizeof config_options / sizeof config_options[0];

static void *field(struct config *cfg, const struct config_option *o)
{
    return (char *)cfg + o->offset;
}

static const struct config_option *find_option(const char *key)
{
    for (size_t i = 0; i < config_noptions; i++)
        if (strcmp(config_options[i].key, key) == 0) return &config_options[i];
    return NULL;
}

/* Parse text into the option's field; used for defaults and (through tostring) values. */
static int set_from_text(struct config *cfg, const struct config_option *o, const char *text)
{
    char *end;
    switch (o->type) {
    case CFG_STRING: {
        char **p = field(cfg, o);
        free(*p);
        *p = text ? strdup(text) : NULL;
        return 0;
    }
    case CFG_INT: {
        long v = strtol(text, &end, 10);
        if (*end) return -1;
        *(long *)field(cfg, o) = v;
        return 0;
    }
    case CFG_NUMBER: {
        double v = strtod(text, &end);
        if (*end) return -1;
        *(double *)field(cfg, o) = v;
        return 0;
    }
    case CFG_BOOL:
        *(int *)field(cfg, o) = strcmp(text, "true") == 0;
        return 0;
    case CFG_MAP:
        return -1;
    }
    return -1;
}

static void map_free(struct config_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->keys[i]);
        free(m->values[i]);
    }
    free(m->keys);
    free(m->values);
    memset(m, 0, sizeof *m);
}

void config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < config_noptions; i++)
        if (config_options[i].def) set_from_text(cfg, &config_options[i], config_options[i].def);
}

void config_free(struct config *cfg)
{
    for (size_t i = 0; i < config_noptions; i++) {
        if (config_options[i].type == CFG_MAP) map_free(field(cfg, &config_options[i]));
        if (config_options[i].type != CFG_STRING) continue;
        char **p = field(cfg, &config_options[i]);
        free(*p);
        *p = NULL;
    }
}

static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t *row = malloc((lb + 1) * sizeof *row);
    if (!row) return (size_t)-1;
    for (size_t j = 0; j <= lb; j++) row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            if (up + 1 < best) best = up + 1;
            row[j] = best;
            diag = up;
        }
    }
    size_t d = row[lb];
    free(row);
    return d;
}

static const char *nearest_key(const char *key)
{
    const char *best = config_options[0].key;
    size_t bestd = (size_t)-1;
    for (size_t i = 0; i < config_noptions; i++) {
        size_t d = edit_distance(key, config_options[i].key);
        if (d < bestd) { bestd = d; best = config_options[i].key; }
    }
    return best;
}

/* Is prefix + "." the start of some option key?  Then a table there is a section. */
static int is_section(const char *prefix)
{
    size_t n = strlen(prefix);
    for (size_t i = 0; i < config_noptions; i++)
        if (strncmp(config_options[i].key, prefix, n) == 0 && config_options[i].key[n] == '.')
            return 1;
    return 0;
}

static const char *type_name(enum config_type t)
{
    switch (t) {
    case CFG_STRING: return "a string";
    case CFG_INT: return "an integer";
    case CFG_NUMBER: return "a number";
    case CFG_BOOL: return "a boolean";
    case CFG_MAP: return "a table of strings";
    }
    return "?";
}

/* The entry check of each CFG_MAP option (0, or -1 with the reason in err). */
static const struct {
    const char *key;
    int (*check)(const char *name, const char *value, char *err, size_t errlen);
} map_checks[] = {
    { "schedules", scheduler_validate },
};

/* A table of strings; each entry validated, errors name the entry ("schedules.nightly"). */
static int set_map(struct config_map *m, const struct config_option *o, lua_State *L, int idx,
                   char *err, size_t errlen)
{
    int tbl = lua_absindex(L, idx), rc = -1;
    char why[256];
    map_free(m);
    lua_pushnil(L);
    while (lua_next(L, tbl)) { /* stack: key, value */
        if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING) {
            snprintf(err, errlen, "%s: entries must be name = \"string\" (found a %s = %s)",
                     o->key, lua_typename(L, lua_type(L, -2)), lua_typename(L, lua_type(L, -1)));
            lua_pop(L, 2);
            goto cleanup;
        }
        const char *name = lua_tostring(L, -2), *value = lua_tostring(L, -1);
        int bad = 0;
        for (size_t i = 0; i < sizeof map_checks / sizeof map_checks[0]; i++)
            if (strcmp(map_checks[i].key, o->key) == 0)
                bad = map_checks[i].check(name, value, why, sizeof why);
        if (bad) {
            snprintf(err, errlen, "%s.%s: %s", o->key, name, why);
            lua_pop(L, 2);
            goto cleanup;
        }
        char **k = realloc(m->keys, (m->n + 1) * sizeof *k);
        if (k) m->keys = k;
        char **v = realloc(m->values, (m->n + 1) * sizeof *v);
        if (v) m->values = v;
        if (!k || !v) {
            snprintf(err, errlen, "%s: out of memory", o->key);
            lua_pop(L, 2);
            goto cleanup;
        }
        m->keys[m->n] = strdup(name);
        m->values[m->n] = strdup(value);
        m->n++;
        lua_pop(L, 1);
    }
    rc = 0;
cleanup:
    if (rc) map_free(m);
    return rc;
}

static int set_from_lua(struct config *cfg, const struct config_option *o, lua_State *L, int idx,
                        char *err, size_t errlen)
{
    int t = lua_type(L, idx);
    int ok = 0;
    switch (o->type) {
    case CFG_STRING:
        if (t == LUA_TSTRING) {
            char **p = field(cfg, o);
            free(*p);
            *p = strdup(lua_tostring(L, idx));
            ok = 1;
        }
        break;
    case CFG_INT:
        if (t == LUA_TNUMBER && lua_isinteger(L, idx)) {
            *(long *)field(cfg, o) = (long)lua_tointeger(L, idx);
            ok = 1;
        }
        break;
    case CFG_NUMBER:
        if (t == LUA_TNUMBER) {
            *(double *)field(cfg, o) = lua_tonumber(L, idx);
            ok = 1;
        }
        break;
    case CFG_BOOL:
        if (t == LUA_TBOOLEAN) {
            *(int *)field(cfg, o) = lua_toboolean(L, idx);
            ok = 1;
        }
        break;
    case CFG_MAP:
        if (t == LUA_TTABLE) return set_map(field(cfg, o), o, L, idx, err, errlen);
        break;
    }
    if (!ok) {
        /* Never echo the value: it may be a secret. */
        snprintf(err, errlen, "%s must be %s, not %s", o->key, type_name(o->type),
                 lua_typename(L, t));
        return -1;
    }
    return 0;
}

/* Walk the table at the top of the stack; prefix is the dotted path so far. */
static int walk(struct config *cfg, lua_State *L, const char *prefix, char *err, size_t errlen)
{
    int tbl = lua_gettop(L);
    lua_pushnil(L);
    while (lua_next(L, tbl)) {
        char key[256];
        if (lua_type(L, -2) != LUA_TSTRING) {
            snprintf(err, errlen, "%s%skeys must be names, found a %s key",
                     prefix, *prefix ? ": " : "", lua_typename(L, lua_type(L, -2)));
            lua_pop(L, 2);
            return -1;
        }
        snprintf(key, sizeof key, "%s%s%s", prefix, *prefix ? "." : "", lua_tostring(L, -2));
        const struct config_option *o = find_option(key);
        if (o) {
            if (set_from_lua(cfg, o, L, -1, err, errlen)) { lua_pop(L, 2); return -1; }
        } else if (lua_istable(L, -1) && is_section(key)) {
            if (walk(cfg, L, key, err, errlen)) { lua_pop(L, 2); return -1; }
        } else {
            snprintf(err, errlen, "unknown key '%s' (did you mean '%s'?)", key, nearest_key(key));
            lua_pop(L, 2);
            return -1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* env("NAME") -> value; unset is an error naming the variable. env("NAME", default) -> default
 * when unset (pass false for "optional, no value"). */
static int l_env(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    const char *v = getenv(name);
    if (v && *v) {
        lua_pushstring(L, v);
        return 1;
    }
    if (lua_gettop(L) >= 2) {
        if (lua_toboolean(L, 2)) lua_pushvalue(L, 2);
        else lua_pushnil(L);
        return 1;
    }
    return luaL_error(L, "environment variable %s is not set", name);
}

#define CONFIG_MAX_INSTRUCTIONS 10000000

static void count_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    luaL_error(L, "configuration ran too long (endless loop?)");
}

static int traceback(lua_State *L)
{
    luaL_traceback(L, L, lua_tostring(L, 1), 1);
    return 1;
}

/* A state that has only base (without file loaders), string, table and math. */
static lua_State *sandbox_new(void)
{
    lua_State *L = luaL_newstate();
    if (!L) return NULL;
    static const luaL_Reg libs[] = {
        { LUA_GNAME, luaopen_base }, { LUA_STRLIBNAME, luaopen_string },
        { LUA_TABLIBNAME, luaopen_table }, { LUA_MATHLIBNAME, luaopen_math }, { NULL, NULL } };
    for (const luaL_Reg *lib = libs; lib->func; lib++) {
        luaL_requiref(L, lib->name, lib->func, 1);
        lua_pop(L, 1);
    }
    static const char *removed[] = { "dofile", "loadfile", "load", "require", "collectgarbage",
                                     NULL };
    for (const char **r = removed; *r; r++) {
        lua_pushnil(L);
        lua_setglobal(L, *r);
    }
    lua_pushcfunction(L, l_env);
    lua_setglobal(L, "env");
    lua_sethook(L, count_hook, LUA_MASKCOUNT, CONFIG_MAX_INSTRUCTIONS);
    return L;
}

int config_load_string(struct config *cfg, const char *src, const char *name, char *err,
                       size_t errlen)
{
    lua_State *L = sandbox_new();
    int rc = -1;
    if (!L) {
        snprintf(err, errlen, "%s: out of memory", name);
        return -1;
    }
    char chunk[300];
    snprintf(chunk, sizeof chunk, "@%s", name);
    lua_pushcfunction(L, traceback);
    /* "t": text only, never precompiled bytecode. */
    if (luaL_loadbufferx(L, src, strlen(src), chunk, "t") != LUA_OK) {
        snprintf(err, errlen, "%s", lua_tostring(L, -1));
        goto done;
    }
    if (lua_pcall(L, 0, 1, 1) != LUA_OK) {
        const char *m = lua_tostring(L, -1);
        /* First line only: the traceback of a config file is noise for the user. */
        size_t n = strcspn(m ? m : "", "\n");
        snprintf(err, errlen, "%.*s", (int)n, m ? m : "error");
        goto done;
    }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "%s: must return a table (return { server = {...}, ... })", name);
        goto done;
    }
    char werr[512];
    if (walk(cfg, L, "", werr, sizeof werr)) {
        snprintf(err, errlen, "%s: %s", name, werr);
        goto done;
    }
    enum log_level lv;
    enum log_format lf;
    if (log_level_parse(cfg->log_level, &lv)) {
        snprintf(err, errlen, "%s: log.level must be debug, info, warn or error", name);
        goto done;
    }
    if (log_format_parse(cfg->log_format, &lf)) {
        snprintf(err, errlen, "%s: log.format must be logfmt or json", name);
        goto done;
    }
    if (cfg->orderez_rate <= 0 || cfg->orderez_burst < 1 || cfg->engine_concurrency < 1 ||
        cfg->server_max_body < 1 || cfg->rules_memory_mb < 1 || cfg->engine_max_attempts < 1) {
        snprintf(err, errlen, "%s: orderez.rate, orderez.burst, engine.concurrency, "
                 "engine.max_attempts, server.max_body and rules.memory_mb must be positive", name);
        goto done;
    }
    if (cfg->engine_sweep_ms < 1 || cfg->poller_orderez_interval_ms < 0 ||
        cfg->poller_shopify_interval_ms < 0 || cfg->poller_overlap_ms < 0) {
        snprintf(err, errlen, "%s: engine.sweep_ms must be positive; poller.orderez_interval_ms, "
                 "poller.shopify_interval_ms and poller.overlap_ms must not be negative", name);
        goto done;
    }
    if (cfg->orderez_min_rate <= 0 || cfg->shopify_plan_restore_rate <= 0 ||
        cfg->http_timeout_ms < 1 || cfg->http_connect_timeout_ms < 1 ||
        cfg->http_max_connections < 1 || cfg->notify_rate <= 0 ||
        cfg->orderez_max_429_retries < 0 || cfg->shopify_max_throttle_retries < 0) {
        snprintf(err, errlen, "%s: orderez.min_rate, shopify.plan_restore_rate, http.*, "
                 "notify.rate must be positive, the retry counts not negative", name);
        goto done;
    }
    rc = 0;
done:
    lua_close(L);
    return rc;
}

int config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open configuration: %s", path, strerror(errno));
        return -1;
    }
    char *src = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[8192];
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            char *p = realloc(src, cap);
            if (!p) { free(src); fclose(f); snprintf(err, errlen, "%s: out of memory", path); return -1; }
            src = p;
        }
        memcpy(src + len, chunk, n);
        len += n;
    }
    fclose(f);
    if (!src) src = calloc(1, 1);
    else src[len] = '\0';
    if (memchr(src, '\0', len)) {
        free(src);
        snprintf(err, errlen, "%s: not a text file", path);
        return -1;
    }
    int rc = config_load_string(cfg, src, path, err, errlen);
    free(src);
    return rc;
}

void config_register_secrets(const struct config *cfg)
{
    for (size_t i = 0; i < config_noptions; i++) {
        const struct config_option *o = &config_options[i];
        if (!o->secret) continue;
        char *const *p = (char *const *)((const char *)cfg + o->offset);
        if (*p) log_add_secret(*p);
    }
}

static const char *type_word(enum config_type t)
{
    switch (t) {
    case CFG_STRING: return "string";
    case CFG_INT: return "integer";
    case CFG_NUMBER: return "number";
    case CFG_BOOL: return "boolean";
    case CFG_MAP: return "table";
    }
    return "?";
}

void config_print_help(FILE *out)
{
    fprintf(out, "Configuration keys (ezsync.conf.lua returns a table; nested tables are sections):\n\n");
    for (size_t i = 0; i < config_noptions; i++) {
        const struct config_option *o = &config_options[i];
        fprintf(out, "  %-34s %-8s default %s%s\n      %s\n", o->key, type_word(o->type),
                o->def ? o->def : "(none)", o->secret ? "  [secret: use env \"NAME\"]" : "",
                o->help);
    }
}

void config_print(const struct config *cfg, FILE *out)
{
    for (size_t i = 0; i < config_noptions; i++) {
        const struct config_option *o = &config_options[i];
        const void *p = (const char *)cfg + o->offset;
        fprintf(out, "%s = ", o->key);
        switch (o->type) {
        case CFG_STRING: {
            const char *s = *(char *const *)p;
            if (o->secret) fprintf(out, "%s\n", s ? "(set)" : "(unset)");
            else fprintf(out, "%s\n", s ? s : "(unset)");
            break;
        }
        case CFG_INT: fprintf(out, "%ld\n", *(const long *)p); break;
        case CFG_NUMBER: fprintf(out, "%g\n", *(const double *)p); break;
        case CFG_BOOL: fprintf(out, "%s\n", *(const int *)p ? "true" : "false"); break;
        case CFG_MAP: {
            const struct config_map *m = p;
            fprintf(out, "%s\n", m->n ? "" : "(none)");
            for (size_t k = 0; k < m->n; k++)
                fprintf(out, "  %s.%s = \"%s\"\n", o->key, m->keys[k], m->values[k]);
            break;
        }
        }
    }
}
