// Reliability: the engine's promises under crashes and remote failures, with real processes
// (ezsync + the Shopify and OrderEZ simulators). Timings are compressed (fast simulator rates,
// short backoff caps); scripts/bench/drain and scripts/bench/burst measure the real-rate side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { admin, start, sql, sleep, waitFor } from './lib.mjs';
import { shopifySim, orderezSim, ctl, subscribe } from './sims.mjs';

// A port that was free a moment ago: ezsync must come back on the same address after a crash,
// or Shopify's subscription would point nowhere.
function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

// `server` again at the end of the config table: Lua keeps the last value of a repeated key.
const fixedListen = (port) => `  server = { listen = "127.0.0.1:${port}", admin_listen = "127.0.0.1:0",`
  + ' admin_token = env "EZSYNC_ADMIN_TOKEN", timeout_ms = 2000 },';

// Work outstanding: jobs waiting or running, and deliveries still in the backlog.
const pendingJobs = (db) => sql(db,
  "SELECT (SELECT count(*) FROM jobs WHERE state IN ('queued','running','retry_wait'))"
  + ' + (SELECT count(*) FROM backlog) AS n')[0].n;
const deadJobs = (db) => sql(db,
  "SELECT id, topic, attempts, last_error FROM jobs WHERE state = 'dead'");

// Every Shopify order is in OrderEZ exactly once, linked in the ID map, tagged back in Shopify.
async function assertExactlyOnce(shop, oez, db, expected) {
  const sstate = await ctl(shop.url, '/_sim/state');
  const gids = sstate.orders.map((o) => o.id);
  assert.equal(gids.length, expected, 'Shopify orders');
  const ostate = await ctl(oez.url, '/_sim/state');
  const refs = ostate.orders.map((o) => o.externalRef);
  const counts = new Map();
  for (const r of refs) counts.set(r, (counts.get(r) ?? 0) + 1);
  const dups = [...counts].filter(([, n]) => n > 1);
  assert.deepEqual(dups, [], 'no OrderEZ order twice');
  assert.deepEqual([...new Set(refs)].sort(), [...gids].sort(), 'OrderEZ externalRefs = Shopify order GIDs');
  // idmap: every Shopify order id -> the OrderEZ order carrying its GID
  const byRef = new Map(ostate.orders.map((o) => [o.externalRef, String(o.id)]));
  const links = sql(db, "SELECT shopify_id, orderez_id FROM idmap WHERE kind = 'order'");
  const idmap = new Map(links.map((r) => [String(r.shopify_id), String(r.orderez_id)]));
  for (const gid of gids) {
    const id = gid.slice(gid.lastIndexOf('/') + 1);
    assert.equal(idmap.get(id), byRef.get(gid), `idmap order ${id}`);
  }
  assert.equal(idmap.size, expected, 'idmap has one link per order');
  return { sstate, ostate };
}

test('kill -9 five times during a 2,000-order flash sale: every order exactly once', { timeout: 200000 }, async () => {
  const N = 2000;
  const shop = await shopifySim(['--plan', 'enterprise']);
  const oez = await orderezSim(['--rate', '3000', '--burst', '300']);
  const dir = mkdtempSync(join(tmpdir(), 'ezsync-rel-'));
  const port = await freePort();
  const opts = {
    dir, shopifyUrl: shop.url, orderezUrl: oez.url, orderezRate: 3000, orderezBurst: 300,
    shopifyRestore: 2000, concurrency: 32, retryBaseMs: 100, retryCapMs: 2000,
    shopifyPollMs: 1000, extra: fixedListen(port),
  };
  let svc = await start(opts);
  const t0 = Date.now();
  try {
    // Shopify retries failed deliveries (8 retries, compressed to ~15 s in all); deliveries it
    // gives up on, and a subscription it removes, are what the catch-up poller is for.
    await ctl(shop.url, '/_sim/webhooks/mode', { mode: 'retry', retryFactor: 1000, concurrency: 16 });
    await subscribe(shop, `http://127.0.0.1:${port}/webhooks/shopify`);
    const sale = ctl(shop.url, '/_sim/orders', { count: N });
    const kills = [];
    for (let k = 0; k < 5; k++) {
      await sleep(1500 + 400 * k);
      const before = sql(svc.db, "SELECT count(*) AS n FROM jobs WHERE state = 'done'")[0].n;
      svc.proc.kill('SIGKILL');
      const ex = await svc.exited;
      assert.equal(ex.signal, 'SIGKILL');
      kills.push(before);
      await sleep(150 + 100 * k); // down long enough for deliveries to fail
      svc = await start(opts);
    }
    await sale;
    const oezCount = async () => (await ctl(oez.url, '/_sim/state')).orders.length;
    await waitFor(async () => pendingJobs(svc.db) === 0 && (await oezCount()) >= N,
      { timeout: 150000, interval: 1000, what: `${N} orders in OrderEZ` });
    // one more poll cycle must find nothing new to do
    await sleep(1500);
    await waitFor(() => pendingJobs(svc.db) === 0, { timeout: 30000, interval: 250, what: 'idle' });
    const { sstate } = await assertExactlyOnce(shop, oez, svc.db, N);
    assert.deepEqual(deadJobs(svc.db), [], 'nothing in dead letters');
    // the write-back reached every Shopify order once: one orderez: tag each
    const untagged = sstate.orders.filter((o) => (o.tags ?? []).filter((t) => t.startsWith('orderez:')).length !== 1);
    assert.equal(untagged.length, 0, 'one orderez: tag per Shopify order');
    const deliveries = (await ctl(shop.url, '/_sim/webhooks?since=0')).deliveries ?? [];
    const failed = deliveries.filter((d) => !(d.status >= 200 && d.status < 300)).length;
    const catchup = sql(svc.db, "SELECT count(*) AS n FROM events WHERE dedupe_key LIKE 'shopify:catchup:%'")[0].n;
    console.log(`kill -9 x5 at done=${kills.join(',')}; ${N} orders in ${((Date.now() - t0) / 1000).toFixed(1)} s;`
      + ` failed deliveries ${failed}, catch-up events ${catchup}`);
  } finally {
    await svc.stop('SIGKILL');
    await shop.stop();
    await oez.stop();
    svc.cleanup();
  }
});

test('OrderEZ outage of 30 s and a 429 storm: all delivered, Retry-After honoured, no dead letters, no attempts spent on the outage', { timeout: 120000 }, async () => {
  const N = 300;
  const RATE = 200;
  const shop = await shopifySim(['--plan', 'enterprise']);
  const oez = await orderezSim(['--rate', String(RATE), '--burst', '20']);
  // Backoff compressed (cap 4 s: a down remote is probed every 4 s at most) with only 4
  // attempts, which the 30 s outage would exhaust several times over: the jobs that meet the
  // outage must wait for OrderEZ without spending them (src/outage.h).
  const svc = await start({ shopifyUrl: shop.url, orderezUrl: oez.url, orderezRate: RATE,
    orderezBurst: 20, shopifyRestore: 2000, concurrency: 32, retryBaseMs: 250, retryCapMs: 4000,
    maxAttempts: 4 });
  try {
    await ctl(shop.url, '/_sim/webhooks/mode', { concurrency: 16 });
    await subscribe(shop, `http://${svc.public.host}:${svc.public.port}/webhooks/shopify`);
    await ctl(shop.url, '/_sim/orders', { count: N });
    const oezCount = async () => (await ctl(oez.url, '/_sim/state')).orders.length;
    await waitFor(async () => (await oezCount()) >= 30, { timeout: 30000, interval: 100, what: 'first orders' });
    const storm = await ctl(oez.url, '/_sim/faults', { storm429Seconds: 3 });
    const stormUntil = storm.faults.stormUntil;
    await sleep(stormUntil - Date.now() + 200);
    const mid = await oezCount();
    await ctl(oez.url, '/_sim/faults', { outageSeconds: 30 });
    const outageStart = Date.now();
    // The service says OrderEZ is down (and the metric) while it is.
    await waitFor(async () => JSON.parse((await admin(svc, '/api/v1/status')).body).remotes_down?.includes('orderez'),
      { timeout: 10000, interval: 100, what: 'status: remotes_down = [orderez]' });
    assert.match((await admin(svc, '/metrics')).body, /^ezsync_remote_down\{remote="orderez"\} 1$/m);
    await sleep(outageStart + 30000 - Date.now());
    await waitFor(async () => { try { return (await oezCount()) >= 0; } catch { return false; } },
      { timeout: 5000, interval: 100, what: 'OrderEZ back' });
    await waitFor(async () => pendingJobs(svc.db) === 0 && (await oezCount()) >= N,
      { timeout: 60000, interval: 250, what: `${N} orders in OrderEZ` });
    const recovered = Date.now() - outageStart - 30000;
    await assertExactlyOnce(shop, oez, svc.db, N);
    assert.deepEqual(deadJobs(svc.db), [], 'nothing in dead letters');
    const status = JSON.parse((await admin(svc, '/api/v1/status')).body);
    assert.deepEqual(status.remotes_down, [], 'OrderEZ is up again');
    const held = Number((await admin(svc, '/metrics')).body.match(/^ezsync_jobs_held_total (\d+)/m)?.[1]);
    assert.ok(held > 0, 'jobs waited for the outage');

    // Retry-After: after a 429 answered at t with Retry-After s, no request may arrive before
    // t + s, except those already on the wire when the 429 went out (grace: 25 ms).
    const reqs = (await ctl(oez.url, '/_sim/requests?since=0')).requests;
    const limited = reqs.filter((r) => r.status === 429);
    assert.ok(limited.length > 0, 'the storm was seen');
    let violations = [];
    for (const r of limited) {
      const at = Date.parse(r.at);
      const ra = r.fault === 'storm' ? Math.max(1, Math.ceil((stormUntil - at) / 1000)) : 1;
      const until = at + ra * 1000;
      const early = reqs.filter((x) => { const t = Date.parse(x.at); return t > at + 25 + r.durationMs && t < until - 5; });
      if (early.length) violations.push({ at: r.at, retryAfter: ra, first: early[0].at, n: early.length });
    }
    assert.deepEqual(violations.slice(0, 5), [], 'no request before a Retry-After expired');
    const storm429 = limited.filter((r) => r.fault === 'storm').length;
    // While OrderEZ was down (refusing connections) one job probed per round (holds of 1, 2,
    // then 4 s here), after the ~32 calls in flight when it went down; without the gate every
    // waiting job (~250) would have called it each round.
    const metrics = (await admin(svc, '/metrics')).body;
    const during = Number(metrics.match(/^ezsync_outbound_calls_total\{remote="orderez",status="error"\} (\d+)/m)?.[1]);
    assert.ok(during < 70, `${during} calls to OrderEZ failed during the outage`);
    console.log(`outage 30 s + storm 3 s: ${mid} of ${N} orders before the outage, all ${N} done`
      + ` ${(recovered / 1000).toFixed(1)} s after it; 429s ${limited.length} (storm ${storm429}),`
      + ` requests ${reqs.length} (${during} during the outage); jobs held for the outage ${held}`);
  } finally {
    await svc.stop('SIGKILL');
    await shop.stop();
    await oez.stop();
    svc.cleanup();
  }
});
