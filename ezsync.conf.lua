-- ezsync configuration. This file is Lua evaluated in a sandbox: it can only build and return a
-- table. Secrets never go in this file: env "NAME" reads them from the environment (an unset
-- variable is an error naming it; env("NAME", false) makes one optional).
-- `ezsync help config` lists every key with its type, default and meaning.
return {
  server = {
    listen       = "0.0.0.0:8080",     -- webhooks only
    admin_listen = "127.0.0.1:8081",   -- health, metrics, API, dashboard
    admin_token  = env "EZSYNC_ADMIN_TOKEN",
  },
  store = { path = "ezsync.db" },
  rules = { dir = "rules" },
  shopify = {
    shop                    = "example.myshopify.com",
    api_version             = "2026-10",
    access_token            = env "SHOPIFY_ACCESS_TOKEN",
    webhook_secret          = env "SHOPIFY_WEBHOOK_SECRET",
    previous_webhook_secret = env("SHOPIFY_PREVIOUS_WEBHOOK_SECRET", false),
  },
  orderez = {
    base_url = "https://api-staging.orderez.co",
    token    = env "ORDEREZ_TOKEN",
    rate     = 10,
  },
  log = { level = "info", format = "logfmt" },
}
