// Shopify simulator: calculated query cost, leaky bucket, THROTTLED, MAX_COST_EXCEEDED.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, gql, ctl, sleep } from './helpers.mjs';

let sim;
before(async () => { sim = await startSim('shopify', ['--port', '0']); });
after(() => sim.stop());
const cost = (r) => r.json.extensions.cost;

test('standard plan bucket: 2000 max, 100/s, printed as floats like Shopify', async () => {
  const r = await gql(sim.url, '{ shop { name } }');
  assert.equal(cost(r).requestedQueryCost, 1);
  assert.equal(cost(r).actualQueryCost, 1);
  assert.match(r.text, /"maximumAvailable":2000\.0,"currentlyAvailable":\d+,"restoreRate":100\.0/);
});

test('connection cost = 2 + first x node cost; actual cost counts returned nodes', async () => {
  let r = await gql(sim.url, '{ products(first: 10) { nodes { id title } } }');
  assert.equal(cost(r).requestedQueryCost, 12);
  assert.equal(r.json.data.products.nodes.length, 8);
  assert.equal(cost(r).actualQueryCost, 10);
  r = await gql(sim.url, '{ products(first: 10) { edges { cursor node { id variants(first: 5) { nodes { sku } } } } pageInfo { hasNextPage } } }');
  assert.equal(cost(r).requestedQueryCost, 2 + 10 * (1 + 2 + 5));
  const variants = r.json.data.products.edges.reduce((a, e) => a + e.node.variants.nodes.length, 0);
  assert.equal(variants, 16);
  assert.equal(cost(r).actualQueryCost, 2 + 8 * 3 + variants);
});

test('mutations cost 10', async () => {
  const r = await gql(sim.url, 'mutation { tagsAdd(id: "gid://shopify/Order/1", tags: ["x"]) { userErrors { message } } }');
  assert.equal(cost(r).requestedQueryCost, 10);
  assert.equal(cost(r).actualQueryCost, 10);
});

test('admission on requested cost, refund of the difference', async () => {
  const t0 = Date.now();
  await ctl(sim.url, 'POST', '/_sim/plan', { plan: 'standard', currentlyAvailable: 1000 });
  const r = await gql(sim.url, '{ products(first: 100) { nodes { id } } }');
  const elapsed = Date.now() - t0;
  const c = cost(r);
  assert.equal(c.requestedQueryCost, 102);
  assert.equal(c.actualQueryCost, 10);
  // 1000 - 10 charged, plus what 100 pts/s restored while the two requests ran
  const max = 990 + Math.ceil((elapsed / 1000) * 100);
  assert.ok(c.throttleStatus.currentlyAvailable >= 989 && c.throttleStatus.currentlyAvailable <= max, `${JSON.stringify(c)} elapsed ${elapsed}`);
});

test('THROTTLED: HTTP 200, error shape of research §3.1, actualQueryCost null', async () => {
  // a slow custom restore rate keeps this deterministic on a loaded machine
  await ctl(sim.url, 'POST', '/_sim/plan', { plan: 'standard', restoreRate: 20, currentlyAvailable: 0 });
  const r = await gql(sim.url, '{ products(first: 10) { nodes { id } } }');
  assert.equal(r.status, 200);
  assert.equal(r.headers['retry-after'], undefined);
  assert.deepEqual(r.json.errors, [{ message: 'Throttled', extensions: { code: 'THROTTLED', documentation: 'https://shopify.dev/api/usage/rate-limits' } }]);
  assert.equal(r.json.data, undefined);
  assert.equal(cost(r).requestedQueryCost, 12);
  assert.equal(cost(r).actualQueryCost, null);
  assert.equal(cost(r).throttleStatus.restoreRate, 20);
  assert.ok(cost(r).throttleStatus.currentlyAvailable < 12);
  // wait (requested - available) / restoreRate seconds, then it passes
  await sleep(((12 - cost(r).throttleStatus.currentlyAvailable) / 20) * 1000 + 60);
  const ok = await gql(sim.url, '{ products(first: 10) { nodes { id } } }');
  assert.equal(ok.json.errors, undefined);
  assert.equal(cost(ok).actualQueryCost, 10);
  await ctl(sim.url, 'POST', '/_sim/plan', { plan: 'standard' });
});

test('continuous restoration over time at the restore rate', async () => {
  const t0 = Date.now();
  await ctl(sim.url, 'POST', '/_sim/plan', { plan: 'standard', currentlyAvailable: 0 });
  const t1 = Date.now();
  await sleep(500);
  const t2 = Date.now();
  const r = await gql(sim.url, '{ shop { name } }');
  const t3 = Date.now();
  const avail = cost(r).throttleStatus.currentlyAvailable;
  const lo = Math.floor(((t2 - t1) / 1000) * 100) - 2, hi = Math.ceil(((t3 - t0) / 1000) * 100);
  assert.ok(avail >= lo && avail <= hi, `expected ${lo}..${hi} restored at 100/s, got ${avail}`);
});

test('restoration never exceeds maximumAvailable; plans set restore rate and bucket', async () => {
  for (const [plan, rate] of [['advanced', 200], ['plus', 1000], ['enterprise', 2000]]) {
    await ctl(sim.url, 'POST', '/_sim/plan', { plan });
    await sleep(20);
    const r = await gql(sim.url, '{ shop { name } }');
    assert.equal(cost(r).throttleStatus.restoreRate, rate);
    assert.equal(cost(r).throttleStatus.maximumAvailable, rate * 20);
    assert.equal(cost(r).throttleStatus.currentlyAvailable, rate * 20 - 1);
  }
  await ctl(sim.url, 'POST', '/_sim/plan', { plan: 'standard' });
});

test('MAX_COST_EXCEEDED over 1000, no top-level cost, bucket untouched', async () => {
  const before_ = cost(await gql(sim.url, '{ shop { name } }')).throttleStatus.currentlyAvailable;
  const r = await gql(sim.url, '{ orders(first: 250) { nodes { id lineItems(first: 250) { nodes { sku } } } } }');
  assert.equal(r.status, 200);
  const e = r.json.errors[0];
  assert.equal(e.extensions.code, 'MAX_COST_EXCEEDED');
  assert.equal(e.extensions.cost, 2 + 250 * (1 + 2 + 250));
  assert.equal(e.extensions.maxCost, 1000);
  assert.match(e.message, /^Query cost is 63252, which exceeds the single query max cost limit \(1000\)\./);
  assert.equal(r.json.extensions, undefined);
  const after_ = cost(await gql(sim.url, '{ shop { name } }')).throttleStatus.currentlyAvailable;
  assert.ok(after_ >= before_ - 1);
});

test('forced throttling via /_sim/faults, and the request log records cost and outcome', async () => {
  await ctl(sim.url, 'POST', '/_sim/faults', { throttle: true });
  const r = await gql(sim.url, '{ shop { name } }');
  assert.equal(r.json.errors[0].extensions.code, 'THROTTLED');
  await ctl(sim.url, 'POST', '/_sim/faults', { clear: true });
  const ok = await gql(sim.url, 'query Named { shop { name } }');
  assert.equal(ok.json.data.shop.name, 'Demo');
  const log = (await ctl(sim.url, 'GET', '/_sim/requests')).requests;
  const last = log.at(-1), prev = log.at(-2);
  assert.equal(last.outcome, 'ok');
  assert.equal(last.operationName, 'Named');
  assert.equal(last.requestedQueryCost, 1);
  assert.equal(last.actualQueryCost, 1);
  assert.equal(prev.outcome, 'throttled');
});

test('5xx fault injection', async () => {
  await ctl(sim.url, 'POST', '/_sim/faults', { errorRate: 1, errorStatus: 503 });
  const r = await gql(sim.url, '{ shop { name } }');
  assert.equal(r.status, 503);
  await ctl(sim.url, 'POST', '/_sim/faults', { clear: true, latencyMs: 150 });
  const t = Date.now();
  const ok = await gql(sim.url, '{ shop { name } }');
  assert.equal(ok.status, 200);
  assert.ok(Date.now() - t >= 140);
  await ctl(sim.url, 'POST', '/_sim/faults', { clear: true });
});
