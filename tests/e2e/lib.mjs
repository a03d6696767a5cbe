// Shared helpers for the end-to-end tests: start the real binary on port 0 with a temporary
// config and database, find its ports through --ready-file, sign and send webhook deliveries,
// and read the database through the sqlite3 CLI. Node built-ins only.
import { spawn, execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = process.env.EZSYNC_BIN || new URL('../../build/ezsync', import.meta.url).pathname;
export const SHOP = 'e2e-test.myshopify.com';
export const SECRET = 'shpss_e2e_webhook_secret_value';
export const ADMIN_TOKEN = 'e2e-admin-token-value-0123456789';
export const ACCESS_TOKEN = 'shpat_e2e_access_token_value';
export const ORDEREZ_TOKEN = 'oez_e2e_bearer_token_value';
export const ROOT = new URL('../..', import.meta.url).pathname.replace(/\/$/, '');
// Where outbound calls go when a test does not start simulators: the discard port, which
// refuses connections (the engine retries; nothing leaves the machine).
const NOWHERE = 'http://127.0.0.1:9';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(fn, { timeout = 10000, interval = 20, what = 'condition' } = {}) {
  const end = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(interval);
  }
}

export function sign(body, secret = SECRET) {
  return createHmac('sha256', secret).update(body).digest('base64');
}

// Lua config text; secrets always come from the environment, as in production.
function configText(dir, opts) {
  const lua = (v) => (typeof v === 'string' ? JSON.stringify(v) : String(v));
  const server = {
    listen: '127.0.0.1:0', admin_listen: '127.0.0.1:0',
    max_body: opts.maxBody ?? 65536, timeout_ms: opts.timeoutMs ?? 2000,
  };
  const lines = [
    'return {',
    '  server = {',
    ...Object.entries(server).map(([k, v]) => `    ${k} = ${lua(v)},`),
    opts.adminToken === null ? '' : '    admin_token = env "EZSYNC_ADMIN_TOKEN",',
    '  },',
    `  store = { path = ${lua(opts.db)} },`,
    `  rules = { dir = ${lua(opts.rulesDir ?? join(ROOT, 'rules'))} },`,
    '  shopify = {',
    `    shop = ${lua(opts.shop ?? SHOP)},`,
    `    endpoint = ${lua(opts.shopifyUrl ?? NOWHERE)},`,
    '    access_token = env "SHOPIFY_ACCESS_TOKEN",',
    '    webhook_secret = env "SHOPIFY_WEBHOOK_SECRET",',
    '    previous_webhook_secret = env("SHOPIFY_PREVIOUS_WEBHOOK_SECRET", false),',
    `    plan_restore_rate = ${lua(opts.shopifyRestore ?? 100)},`,
    opts.shopifyExtra ?? '',
    '  },',
    '  orderez = {',
    `    base_url = ${lua(opts.orderezUrl ?? NOWHERE)},`,
    '    token = env "ORDEREZ_TOKEN",',
    `    rate = ${lua(opts.orderezRate ?? 10)}, burst = ${lua(opts.orderezBurst ?? 20)},`,
    '  },',
    // pollers off unless a test asks: they would poll the discard port
    `  poller = { orderez_interval_ms = ${lua(opts.orderezPollMs ?? 0)}, shopify_interval_ms = ${lua(opts.shopifyPollMs ?? 0)} },`,
    `  engine = { concurrency = ${lua(opts.concurrency ?? 16)}, retry_base_ms = ${lua(opts.retryBaseMs ?? 500)},`
      + ` retry_cap_ms = ${lua(opts.retryCapMs ?? 300000)}, max_attempts = ${lua(opts.maxAttempts ?? 12)} },`,
    `  log = { level = ${lua(opts.logLevel ?? 'info')} },`,
    opts.extra ?? '',
    '}',
  ];
  return lines.join('\n') + '\n';
}

// Starts `ezsync serve`; resolves once the ready file names both listeners.
export async function start(opts = {}) {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'ezsync-e2e-'));
  const db = opts.db ?? join(dir, 'ezsync.db');
  const conf = join(dir, 'ezsync.conf.lua');
  const ready = join(dir, `ready-${Date.now()}-${Math.random().toString(16).slice(2)}.json`);
  writeFileSync(conf, configText(dir, { ...opts, db }));
  const env = { ...process.env, SHOPIFY_WEBHOOK_SECRET: opts.secret ?? SECRET,
    EZSYNC_ADMIN_TOKEN: ADMIN_TOKEN, SHOPIFY_ACCESS_TOKEN: ACCESS_TOKEN, ORDEREZ_TOKEN: ORDEREZ_TOKEN };
  if (opts.previousSecret) env.SHOPIFY_PREVIOUS_WEBHOOK_SECRET = opts.previousSecret;
  else delete env.SHOPIFY_PREVIOUS_WEBHOOK_SECRET;
  const proc = spawn(BIN, ['serve', '-c', conf, '--ready-file', ready], { env,
    stdio: ['ignore', 'pipe', 'pipe'] });
  const out = [];
  proc.stdout.on('data', (d) => out.push(d.toString()));
  proc.stderr.on('data', (d) => out.push(d.toString()));
  const exited = new Promise((resolve) => proc.on('exit', (code, signal) => resolve({ code, signal })));
  let gone = null;
  exited.then((v) => { gone = v; });
  const info = await waitFor(() => {
    if (gone) throw new Error(`ezsync exited early (${JSON.stringify(gone)}):\n${out.join('')}`);
    if (!existsSync(ready)) return null;
    return JSON.parse(readFileSync(ready, 'utf8'));
  }, { what: 'ezsync ready file' });
  const split = (a) => (a ? { host: a.slice(0, a.lastIndexOf(':')), port: +a.slice(a.lastIndexOf(':') + 1) } : null);
  return {
    dir, db, proc, info, exited,
    public: split(info.public),
    admin: split(info.admin),
    logs: () => out.join(''),
    async stop(signal = 'SIGTERM') {
      if (!gone) proc.kill(signal);
      return exited;
    },
    cleanup() { rmSync(dir, { recursive: true, force: true }); },
  };
}

// One HTTP request on its own connection (no pooling, so concurrency is real).
export function request(addr, { method = 'GET', path = '/', headers = {}, body } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: addr.host, port: addr.port, method, path, headers,
      agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers,
        body: Buffer.concat(chunks).toString() }));
    });
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

let seq = 0;
export function webhookId() {
  seq += 1;
  return `e2e-${process.pid}-${Date.now()}-${seq}`;
}

// A signed orders/create delivery; opts override any header (null removes it).
export function deliver(addr, { body = '{"id":820982911946154508,"name":"#1001"}', secret = SECRET,
  id = webhookId(), headers = {}, method = 'POST', path = '/webhooks/shopify' } = {}) {
  const h = {
    'Content-Type': 'application/json',
    'X-Shopify-Hmac-Sha256': sign(body, secret),
    'X-Shopify-Topic': 'orders/create',
    'X-Shopify-Shop-Domain': SHOP,
    'X-Shopify-Webhook-Id': id,
    'X-Shopify-API-Version': '2026-10',
    'X-Shopify-Event-Id': `evt-${id}`,
    'X-Shopify-Triggered-At': '2026-11-26T10:00:00.000Z',
  };
  for (const [k, v] of Object.entries(headers)) {
    for (const key of Object.keys(h)) if (key.toLowerCase() === k.toLowerCase()) delete h[key];
    if (v !== null) h[k] = v;
  }
  return request(addr, { method, path, headers: h, body }).then((r) => ({ ...r, id }));
}

export function admin(server, path, { token = ADMIN_TOKEN, method = 'GET' } = {}) {
  const headers = token === null ? {} : { Authorization: `Bearer ${token}` };
  return request(server.admin, { method, path, headers });
}

// Rows as objects (sqlite3 -json); [] for no rows.
export function sql(db, query) {
  const out = execFileSync('sqlite3', ['-json', db, query], { encoding: 'utf8' });
  return out.trim() ? JSON.parse(out) : [];
}

export function eventCount(db) {
  return sql(db, 'SELECT count(*) AS n FROM events')[0].n;
}
