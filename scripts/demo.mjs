// The demo driver (see scripts/demo). Everything it starts listens on 127.0.0.1 only, with
// throw-away demo secrets, and stops when it stops.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(new URL('..', import.meta.url).pathname);
const BIN = process.env.EZSYNC_BIN ?? join(ROOT, 'ezsync');
const DIR = join(ROOT, 'var', 'demo');
const ORDERS = Number(process.env.DEMO_ORDERS ?? 25);
const ONESHOT = process.env.DEMO_ONESHOT === '1';
const secrets = {
  EZSYNC_ADMIN_TOKEN: process.env.EZSYNC_ADMIN_TOKEN ?? 'demo-admin-token',
  SHOPIFY_ACCESS_TOKEN: 'demo-shopify-token', SHOPIFY_WEBHOOK_SECRET: 'shpss_demo_secret',
  ORDEREZ_TOKEN: 'demo-orderez-token',
};
const procs = [];
let stopping = false;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function startProc(name, cmd, args, env = {}) {
  const p = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  p.stderr.on('data', (d) => { log += d; if (log.length > 200000) log = log.slice(-100000); });
  procs.push({ name, p, log: () => log });
  return p;
}

function readyLine(p, name) {
  return new Promise((res, rej) => {
    let out = '';
    const t = setTimeout(() => rej(new Error(`${name} did not start`)), 30000);
    p.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^ready (\S+)/m);
      if (m) { clearTimeout(t); res(m[1]); }
    });
    p.on('exit', (c) => rej(new Error(`${name} exited with ${c}`)));
  });
}

async function json(url, body, headers = {}) {
  const r = await fetch(url, { method: body === undefined ? 'GET' : 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body) });
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

async function stopAll(code) {
  stopping = true;
  for (const { p } of procs.reverse()) if (p.exitCode === null) p.kill('SIGTERM');
  await sleep(500);
  process.exit(code);
}

async function main() {
  rmSync(DIR, { recursive: true, force: true });
  mkdirSync(DIR, { recursive: true });
  const shopUrl = await readyLine(startProc('shopify', `${ROOT}/scripts/sim/shopify`, ['--port', '0',
    '--plan', 'advanced', '--token', secrets.SHOPIFY_ACCESS_TOKEN, '--secret', secrets.SHOPIFY_WEBHOOK_SECRET,
    '--shop', 'demo.myshopify.com']), 'shopify simulator');
  const oezUrl = await readyLine(startProc('orderez', `${ROOT}/scripts/sim/orderez`, ['--port', '0',
    '--rate', '50', '--burst', '50', '--token', secrets.ORDEREZ_TOKEN]), 'orderez simulator');
  const conf = join(DIR, 'ezsync.conf.lua');
  writeFileSync(conf, `-- written by scripts/demo
return {
  server = { listen = "127.0.0.1:0", admin_listen = "127.0.0.1:0", admin_token = env "EZSYNC_ADMIN_TOKEN" },
  store = { path = "${DIR}/ezsync.db" },
  rules = { dir = "${ROOT}/rules" },
  shopify = { shop = "demo.myshopify.com", endpoint = "${shopUrl}", access_token = env "SHOPIFY_ACCESS_TOKEN",
              webhook_secret = env "SHOPIFY_WEBHOOK_SECRET", plan_restore_rate = 200 },
  orderez = { base_url = "${oezUrl}", token = env "ORDEREZ_TOKEN", rate = 50, burst = 50 },
  poller = { orderez_interval_ms = 5000 },
  log = { level = "warn" },
}
`);
  const ready = join(DIR, 'ready.json');
  const ez = startProc('ezsync', BIN, ['serve', '-c', conf, '--ready-file', ready], secrets);
  ez.on('exit', (c) => { if (!stopping) { console.error(`ezsync exited (${c}):\n${procs.find((x) => x.name === 'ezsync').log()}`); stopAll(1); } });
  for (let i = 0; !existsSync(ready); i++) { if (i > 200) throw new Error('ezsync did not start'); await sleep(50); }
  const info = JSON.parse(readFileSync(ready, 'utf8'));
  // What an installed app does: subscribe the receiver to the order topics.
  for (const topic of ['ORDERS_CREATE', 'ORDERS_UPDATED']) {
    await json(`${shopUrl}/admin/api/2026-10/graphql.json`, {
      query: 'mutation($t: WebhookSubscriptionTopic!, $s: WebhookSubscriptionInput!) { webhookSubscriptionCreate(topic: $t, webhookSubscription: $s) { userErrors { message } } }',
      variables: { t: topic, s: { uri: `http://${info.public}/webhooks/shopify`, format: 'JSON' } },
    }, { 'x-shopify-access-token': secrets.SHOPIFY_ACCESS_TOKEN });
  }
  console.log(`ezsync demo
  Shopify simulator  ${shopUrl}
  OrderEZ simulator  ${oezUrl}
  ezsync webhooks    http://${info.public}/webhooks/shopify
Placing ${ORDERS} orders in Shopify...`);
  const sale = await json(`${shopUrl}/_sim/orders`, { count: ORDERS });
  const wanted = new Set(sale.orders.map((o) => o.id));
  const t0 = Date.now();
  let orders = [];
  for (;;) {
    orders = (await json(`${oezUrl}/_sim/state`)).orders.filter((o) => wanted.has(o.externalRef));
    if (process.stdout.isTTY) process.stdout.write(`\r  ${orders.length}/${ORDERS} orders in OrderEZ`);
    if (orders.length >= ORDERS) break;
    if (Date.now() - t0 > 120000) { console.log('\n  (still arriving; see the admin API)'); break; }
    await sleep(300);
  }
  if (process.stdout.isTTY) process.stdout.write('\r');
  console.log(`  ${orders.length}/${ORDERS} orders in OrderEZ after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const state = await json(`${oezUrl}/_sim/state`);
  const outlet = (id) => state.outlets.find((o) => o.id === id)?.name ?? id;
  console.log('\nA few of them in OrderEZ:');
  for (const o of orders.slice(0, 5)) {
    const lines = o.lineItems.map((l) => `${l.quantity}× ${l.sku} @ ${l.unitPrice}`).join(', ');
    console.log(`  #${o.id}  ${o.externalRef.replace('gid://shopify/Order/', 'Shopify order ')}  outlet "${outlet(o.outletId)}"  ${lines}  total ${o.total} ${o.currency ?? ''}`);
  }
  const auth = { authorization: `Bearer ${secrets.EZSYNC_ADMIN_TOKEN}` };
  const st = await json(`http://${info.admin}/api/v1/status`, undefined, auth);
  console.log(`\nJobs: ${JSON.stringify(st.jobs)}   backlog ${st.backlog ?? 0}   rules version ${st.rules.version}`);
  console.log(`
Admin API (bearer token "${secrets.EZSYNC_ADMIN_TOKEN}"):
  http://${info.admin}/api/v1/status
  http://${info.admin}/metrics
  http://${info.admin}/api/v1/jobs?state=dead
  curl -H "Authorization: Bearer ${secrets.EZSYNC_ADMIN_TOKEN}" http://${info.admin}/api/v1/status
Try: place more orders   curl -XPOST ${shopUrl}/_sim/orders -d '{"count":10}'
     edit rules/orders.lua (it reloads by itself), or dry-run an edit on this traffic:
       ./ezsync record -c ${conf} --out /tmp/demo.jsonl && ./ezsync dry-run --events /tmp/demo.jsonl --diff`);
  if (ONESHOT) return stopAll(orders.length >= ORDERS ? 0 : 1);
  console.log('\nRunning; Ctrl-C stops everything.');
}

for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { stopping = true; console.log('\nstopping...'); stopAll(0); });
main().catch((e) => { console.error(`demo: ${e.message}`); stopping = true; stopAll(1); });
