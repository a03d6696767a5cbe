/* config: the service configuration. Owns the option table (every key declared once with its
 * type, default and help) and evaluates ezsync.conf.lua in a sandboxed Lua state that can only
 * build and return a table; secrets come from the environment through env "NAME". */
#ifndef EZ_CONFIG_H
#define EZ_CONFIG_H

#include <stddef.h>
#include <stdio.h>

/* A table of string values by name (e.g. schedules = { reconcile = "0 3 * * *" }). */
struct config_map {
    size_t n;
    char **keys, **values;
};

struct config {
    /* server */
    char *server_listen;
    char *server_admin_listen;
    char *server_admin_token;       /* secret */
    long server_max_body;           /* bytes */
    long server_timeout_ms;
    /* store */
    char *store_path;
    /* rules */
    char *rules_dir;
    long rules_instruction_budget;
    long rules_memory_mb;
    /* shopify */
    char *shopify_shop;
    char *shopify_api_version;
    char *shopify_endpoint;
    char *shopify_access_token;     /* secret */
    char *shopify_webhook_secret;   /* secret */
    char *shopify_previous_webhook_secret; /* secret */
    char *shopify_webhook_address;
    long shopify_subscriptions_check_ms;
    /* orderez */
    char *orderez_base_url;
    char *orderez_token;            /* secret */
    double orderez_rate;
    long orderez_burst;
    double orderez_min_rate;
    long orderez_max_429_retries;
    double shopify_plan_restore_rate;
    long shopify_max_throttle_retries;
    /* http (outbound) */
    long http_timeout_ms;
    long http_connect_timeout_ms;
    long http_max_connections;
    char *http_ca_file;
    /* notify */
    char *notify_slack_webhook_url; /* secret: the URL is the credential */
    char *notify_smtp_url;
    char *notify_smtp_user;
    char *notify_smtp_password;     /* secret */
    char *notify_email_from;
    char *notify_email_to;
    double notify_rate;
    /* engine */
    long engine_concurrency;
    long engine_retry_base_ms;
    long engine_retry_cap_ms;
    long engine_max_attempts;
    long engine_sweep_ms;
    /* poller */
    long poller_orderez_interval_ms;
    long poller_shopify_interval_ms;
    long poller_overlap_ms;
    /* schedules: name -> cron expression */
    struct config_map schedules;
    /* log */
    char *log_level;
    char *log_format;
};

enum config_type { CFG_STRING, CFG_INT, CFG_NUMBER, CFG_BOOL, CFG_MAP };

struct config_option {
    const char *key;            /* dotted, e.g. "server.listen" */
    enum config_type type;
    const char *def;            /* default as text; NULL = no default (unset) */
    size_t offset;              /* into struct config */
    int secret;                 /* never printed, never logged, never stored */
    const char *help;
};

extern const struct config_option config_options[];
extern const size_t config_noptions;

/* Defaults only (no file). */
void config_defaults(struct config *cfg);

/* Evaluate the file. Returns 0, or -1 with a message naming the problem in err. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/* Same, from a string (tests, `ezsync check -e`). name is used in messages. */
int config_load_string(struct config *cfg, const char *src, const char *name,
                       char *err, size_t errlen);

/* Registers every non-empty secret with the log so it is scrubbed from all output. */
void config_register_secrets(const struct config *cfg);

void config_free(struct config *cfg);

/* `ezsync help config`: the option table as text. */
void config_print_help(FILE *out);

/* The effective configuration, secrets shown as "(set)" / "(unset)". */
void config_print(const struct config *cfg, FILE *out);

#endif
