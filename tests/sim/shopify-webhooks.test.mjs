// Shopify simulator: webhook payloads, signatures (checked with openssl), headers, int64
// ids written exactly, and every delivery mode.
import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startSim, gql, ctl, receiver, waitFor, sleep } from './helpers.mjs';
import { stringify, parse } from '../../scripts/sim/src/lib/json.mjs';

const SECRET = 'shpss_testsecret';
// Independent HMAC: openssl, not node:crypto.
function opensslHmac(secret, body) {
  const r = spawnSync('bash', ['-c', `openssl dgst -sha256 -hmac "$1" -binary | base64`, '_', secret], { input: body });
  assert.equal(r.status, 0, r.stderr?.toString());
  return r.stdout.toString().trim();
}

let sim, rx, respond = () => 200;
before(async () => {
  rx = await receiver((rec) => respond(rec));
  sim = await startSim('shopify', ['--port', '0', '--plan', 'enterprise', '--secret', SECRET, '--webhook-url', rx.url, '--shop', 'hooks-test.myshopify.com']);
});
after(async () => { await sim.stop(); await rx.close(); });
beforeEach(async () => {
  respond = () => 200;
  await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { mode: 'normal', concurrency: 8, responseTimeoutMs: 5000 });
  await ctl(sim.url, 'POST', '/_sim/webhooks/flush');
  rx.got.length = 0;
});
const flush = () => ctl(sim.url, 'POST', '/_sim/webhooks/flush');
const byTopic = (t) => rx.got.filter((g) => g.headers['x-shopify-topic'] === t);

test('HMAC test vector: openssl and the simulator agree', async () => {
  const body = '{"id":820982911946154508,"name":"#1001"}';
  assert.equal(opensslHmac(SECRET, body), 'Cpb1s9hB/iaH7ZiOZWOsSo6eDk862X7MR244j1d+m+k=');
  // the simulator's lossless serializer writes exactly this body, and reads it back exactly
  assert.equal(stringify({ id: 820982911946154508n, name: '#1001' }), body);
  assert.equal(parse(body).id, 820982911946154508n);
  assert.notEqual(JSON.stringify(JSON.parse(body)), body, 'plain JSON.parse would lose the id');
  const r = await fetch(`${sim.url}/_sim/webhooks/sign`, { method: 'POST', body });
  assert.equal((await r.json()).hmac, 'Cpb1s9hB/iaH7ZiOZWOsSo6eDk862X7MR244j1d+m+k=');
});

test('orders/create: all headers, valid signature, int64 ids exact in the raw body, REST shape', async () => {
  const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { customer: { first: 'Zoë', last: 'Müller', email: 'zm@example.de', address1: 'Schönhauser Allee 36', city: 'Berlin', zip: '10435', country: 'Germany', countryCode: 'DE' },
    lines: [{ sku: 'EZ-DRIPPER', quantity: 2 }, { sku: 'EZ-MATCHA', quantity: 1 }], discountPercent: 10, shippingLines: [{ title: 'Express', price: '24.50' }] });
  await flush();
  const [d] = byTopic('orders/create');
  assert.ok(d, 'orders/create delivered');
  const h = d.headers;
  assert.equal(h['x-shopify-hmac-sha256'], opensslHmac(SECRET, d.raw));
  assert.equal(h['x-shopify-shop-domain'], 'hooks-test.myshopify.com');
  assert.equal(h['x-shopify-api-version'], '2026-10');
  assert.match(h['x-shopify-webhook-id'], /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.ok(h['x-shopify-event-id']);
  assert.ok(!Number.isNaN(Date.parse(h['x-shopify-triggered-at'])));
  assert.equal(h['content-type'], 'application/json');
  // exact int64 in the raw text (a JS double would print 820982911946154500-style values)
  assert.ok(d.text.startsWith(`{"id":${o.legacyResourceId},`), d.text.slice(0, 60));
  assert.ok(BigInt(o.legacyResourceId) > 2n ** 53n);
  for (const li of o.lineItems) assert.ok(d.text.includes(`"id":${li.id.split('/').pop()},`), 'line item id exact');
  const p = JSON.parse(d.text);
  assert.equal(parse(d.text).id, BigInt(o.legacyResourceId));
  assert.equal(p.admin_graphql_api_id, o.id);
  assert.equal(p.customer.first_name, 'Zoë');
  assert.equal(p.shipping_address.address1, 'Schönhauser Allee 36');
  assert.equal(p.line_items.length, 2);
  assert.equal(p.shipping_lines[0].price, '24.50');
  assert.equal(p.discount_applications[0].value_type, 'percentage');
  assert.equal(typeof p.total_price, 'string');
  assert.equal(p.total_price_set.shop_money.amount, p.total_price);
  // 2 x 39.00 + 29.95 = 107.95; -10% = 10.80 (rounded) -> 97.15; no tax for DE; + 24.50 = 121.65
  assert.equal(p.subtotal_price, '97.15');
  assert.equal(p.total_price, '121.65');
  assert.match(p.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-05:00$/);
  assert.ok(d.raw.length > 2000, `realistic size (${d.raw.length} bytes)`);
  // same merchant action -> same event id on orders/paid
  const [paid] = byTopic('orders/paid');
  assert.equal(paid.headers['x-shopify-event-id'], h['x-shopify-event-id']);
  assert.notEqual(paid.headers['x-shopify-webhook-id'], h['x-shopify-webhook-id']);
  assert.ok(byTopic('inventory_levels/update').length >= 1);
  assert.ok(byTopic('customers/create').length === 1);
});

test('changes emit what Shopify would: fulfillments, partial/fulfilled, refunds, inventory, products, customers', async () => {
  const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-BEANS-COLO', quantity: 2, location: 'WH-MAIN' }] });
  await flush(); rx.got.length = 0;
  const fo = o.fulfillmentOrders[0];
  const st = await ctl(sim.url, 'GET', '/_sim/state');
  const foli = st.orders.find((x) => x.id === o.id).fulfillmentOrders[0].lineItems[0].id;
  const C = 'mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id } userErrors { message } } }';
  await gql(sim.url, C, { f: { lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: fo, fulfillmentOrderLineItems: [{ id: foli, quantity: 1 }] }], trackingInfo: { company: 'UPS', number: '1ZTEST' } } });
  await flush();
  assert.deepEqual(rx.got.map((g) => g.headers['x-shopify-topic']).sort(), ['fulfillments/create', 'orders/partially_fulfilled', 'orders/updated']);
  const f = JSON.parse(byTopic('fulfillments/create')[0].text);
  assert.equal(f.tracking_number, '1ZTEST');
  assert.equal(f.line_items[0].quantity, 1);
  assert.ok(byTopic('fulfillments/create')[0].text.includes(`"order_id":${o.legacyResourceId}`));
  rx.got.length = 0;
  await gql(sim.url, C, { f: { lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: fo }] } });
  await flush();
  assert.equal(byTopic('orders/fulfilled').length, 1);
  assert.equal(JSON.parse(byTopic('orders/fulfilled')[0].text).fulfillment_status, 'fulfilled');
  rx.got.length = 0;
  await gql(sim.url, 'mutation($i: RefundInput!) { refundCreate(input: $i) @idempotent(key: "k-refund-1") { refund { id } userErrors { message } } }',
    { i: { orderId: o.id, refundLineItems: [{ lineItemId: o.lineItems[0].id, quantity: 1, restockType: 'RETURN', locationId: st.locations[0].id }] } });
  await flush();
  const rf = JSON.parse(byTopic('refunds/create')[0].text);
  assert.equal(rf.refund_line_items[0].restock_type, 'return');
  assert.equal(typeof rf.refund_line_items[0].subtotal, 'number');
  assert.equal(byTopic('inventory_levels/update').length, 1);
  const inv = byTopic('inventory_levels/update')[0];
  assert.match(inv.text, /^\{"inventory_item_id":\d{18},"location_id":\d{18},"available":\d+,"updated_at":"[^"]+","admin_graphql_api_id":"gid:\/\/shopify\/InventoryLevel\/\d+\?inventory_item_id=\d+"\}$/);
  rx.got.length = 0;
  await gql(sim.url, 'mutation { productCreate(product: { title: "Hook Test" }) { product { id } userErrors { message } } }');
  await gql(sim.url, 'mutation { customerCreate(input: { email: "hook@example.com", firstName: "Hook" }) { customer { id } userErrors { message } } }');
  await flush();
  assert.equal(byTopic('products/create').length, 1);
  assert.equal(byTopic('customers/create').length, 1);
});

test('mode duplicate: each delivery twice with the same webhook id', async () => {
  await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { mode: 'duplicate' });
  await ctl(sim.url, 'POST', '/_sim/inventory', { sku: 'EZ-TOTE-NATU', location: 'WH-MAIN', available: 77 });
  await flush();
  assert.equal(rx.got.length, 2);
  assert.equal(rx.got[0].headers['x-shopify-webhook-id'], rx.got[1].headers['x-shopify-webhook-id']);
  assert.equal(rx.got[0].text, rx.got[1].text);
  const log = (await ctl(sim.url, 'GET', '/_sim/webhooks')).deliveries.slice(-2);
  assert.deepEqual(log.map((d) => d.duplicate), [false, true]);
});

test('mode delayed: deliveries wait delayMs', async () => {
  await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { mode: 'delayed', delayMs: 400 });
  const t = Date.now();
  await ctl(sim.url, 'POST', '/_sim/inventory', { sku: 'EZ-TOTE-NATU', location: 'WH-MAIN', available: 70 });
  await sleep(150);
  assert.equal(rx.got.length, 0, 'not yet');
  await waitFor(() => rx.got.length === 1);
  assert.ok(rx.got[0].at - t >= 390, `${rx.got[0].at - t} ms`);
  assert.ok(Date.now() - Date.parse(rx.got[0].headers['x-shopify-triggered-at']) >= 390, 'Triggered-At is the trigger time');
});

test('mode out_of_order: a window is shuffled (never the trigger order)', async () => {
  await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { mode: 'out_of_order', window: 6, concurrency: 1 });
  await ctl(sim.url, 'POST', '/_sim/inventory', { changes: [1, 2, 3, 4, 5, 6].map((n) => ({ sku: 'EZ-TOTE-NATU', location: 'WH-MAIN', available: n * 10 })) });
  await flush();
  const seen = rx.got.map((g) => JSON.parse(g.text).available);
  assert.equal(seen.length, 6);
  assert.deepEqual([...seen].sort((a, b) => a - b), [10, 20, 30, 40, 50, 60]);
  assert.notDeepEqual(seen, [10, 20, 30, 40, 50, 60]);
});

test('mode retry: non-2xx is retried with the same webhook id and body, new Triggered-At', async () => {
  await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { mode: 'retry', retryFactor: 20000 });
  let n = 0;
  respond = () => (++n <= 2 ? 500 : 200);
  await ctl(sim.url, 'POST', '/_sim/inventory', { sku: 'EZ-TOTE-NATU', location: 'WH-MAIN', available: 5 });
  await flush();
  assert.equal(rx.got.length, 3);
  assert.equal(new Set(rx.got.map((g) => g.headers['x-shopify-webhook-id'])).size, 1);
  assert.equal(new Set(rx.got.map((g) => g.text)).size, 1);
  assert.equal(new Set(rx.got.map((g) => g.headers['x-shopify-hmac-sha256'])).size, 1);
  const tr = rx.got.map((g) => Date.parse(g.headers['x-shopify-triggered-at']));
  assert.ok(tr[1] > tr[0] && tr[2] > tr[1], 'Triggered-At moves forward on retries');
  // backoff: retry n waits 60 s * 2^(n-1) / factor -> 3 ms then 6 ms at least
  assert.ok(rx.got[2].at - rx.got[0].at >= 9);
  const log = (await ctl(sim.url, 'GET', '/_sim/webhooks')).deliveries.slice(-3);
  assert.deepEqual(log.map((d) => [d.attempt, d.status]), [[1, 500], [2, 500], [3, 200]]);
});

test('timeout: a receiver slower than the response timeout counts as a failure', async () => {
  await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { mode: 'normal', responseTimeoutMs: 300 });
  respond = () => 'hang';
  await ctl(sim.url, 'POST', '/_sim/inventory', { sku: 'EZ-TOTE-NATU', location: 'WH-MAIN', available: 6 });
  await flush();
  const d = (await ctl(sim.url, 'GET', '/_sim/webhooks')).deliveries.at(-1);
  assert.equal(d.status, null);
  assert.match(d.error, /timeout/);
  assert.ok(d.latencyMs >= 290 && d.latencyMs < 1500, String(d.latencyMs));
});

test('API-created subscription: receives its topic only, removed after 8 consecutive failures', async () => {
  const bad = await receiver(() => 503);
  try {
    const r = await gql(sim.url, 'mutation($u: String!) { webhookSubscriptionCreate(topic: INVENTORY_LEVELS_UPDATE, webhookSubscription: { uri: $u, format: JSON }) { webhookSubscription { id topic uri } userErrors { message } } }', { u: bad.url });
    const sub = r.json.data.webhookSubscriptionCreate.webhookSubscription;
    assert.equal(sub.topic, 'INVENTORY_LEVELS_UPDATE');
    const dup = await gql(sim.url, 'mutation($u: String!) { webhookSubscriptionCreate(topic: INVENTORY_LEVELS_UPDATE, webhookSubscription: { uri: $u }) { userErrors { message } } }', { u: bad.url });
    assert.match(dup.json.data.webhookSubscriptionCreate.userErrors[0].message, /already been taken/);
    await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { subscriptionId: sub.id, mode: 'retry', retryFactor: 100000 });
    await gql(sim.url, 'mutation { customerCreate(input: { email: "only-cli@example.com" }) { userErrors { message } } }');
    await ctl(sim.url, 'POST', '/_sim/inventory', { sku: 'EZ-TOTE-NATU', location: 'WH-MAIN', available: 9 });
    await flush();
    assert.equal(bad.got.length, 8, 'first attempt + retries until the 8th consecutive failure');
    assert.ok(bad.got.every((g) => g.headers['x-shopify-topic'] === 'inventory_levels/update'));
    const list = await gql(sim.url, '{ webhookSubscriptions(first: 10) { nodes { id } } }');
    assert.deepEqual(list.json.data.webhookSubscriptions.nodes, []);
    const log = (await ctl(sim.url, 'GET', '/_sim/webhooks')).deliveries;
    assert.ok(log.some((d) => d.event === 'subscription_removed' && d.subscriptionId === sub.id));
    assert.ok(byTopic('customers/create').length === 1, 'the --webhook-url subscription still gets everything');
  } finally { await bad.close(); }
});

test('bounded concurrency and flush under a flash sale', async () => {
  await ctl(sim.url, 'POST', '/_sim/webhooks/mode', { mode: 'normal', concurrency: 4 });
  let inflight = 0, peak = 0;
  respond = async () => { inflight++; peak = Math.max(peak, inflight); await sleep(5); inflight--; return 200; };
  const made = await ctl(sim.url, 'POST', '/_sim/orders', { count: 30 });
  assert.equal(made.orders.length, 30);
  const fl = await ctl(sim.url, 'POST', '/_sim/webhooks/flush');
  assert.equal(fl.flushed, true);
  assert.equal(byTopic('orders/create').length, 30);
  assert.ok(peak <= 4 && peak >= 2, `peak concurrency ${peak}`);
  const names = byTopic('orders/create').map((g) => JSON.parse(g.text).customer?.first_name ?? '');
  assert.ok(names.some((n) => /[^\x00-\x7f]/.test(n)), 'some non-ASCII customer names');
  const emails = byTopic('orders/create').map((g) => JSON.parse(g.text).email);
  assert.ok(new Set(emails).size < emails.length, 'some returning customers');
});

test('API-created subscription: version of the creating request, includeFields, name header', async () => {
  const rx2 = await receiver(() => 200);
  try {
    const r = await gql(sim.url, 'mutation($u: String!) { webhookSubscriptionCreate(topic: ORDERS_CREATE, webhookSubscription: { uri: $u, includeFields: ["id", "name", "updated_at"], name: "ezsync-orders" }) { webhookSubscription { id apiVersion { handle } includeFields } userErrors { message } } }',
      { u: rx2.url }, { version: '2026-07' });
    assert.equal(r.json.data.webhookSubscriptionCreate.webhookSubscription.apiVersion.handle, '2026-07');
    const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-MATCHA', quantity: 1 }] });
    await flush();
    assert.equal(rx2.got.length, 1);
    const d = rx2.got[0];
    assert.equal(d.headers['x-shopify-api-version'], '2026-07');
    assert.equal(d.headers['x-shopify-name'], 'ezsync-orders');
    assert.match(d.text, new RegExp(`^\\{"id":${o.legacyResourceId},"name":"#\\d+","updated_at":"[^"]+"\\}$`));
    assert.equal(d.headers['x-shopify-hmac-sha256'], opensslHmac(SECRET, d.raw));
    await gql(sim.url, 'mutation($id: ID!) { webhookSubscriptionDelete(id: $id) { deletedWebhookSubscriptionId userErrors { message } } }', { id: r.json.data.webhookSubscriptionCreate.webhookSubscription.id });
  } finally { await rx2.close(); }
});

test('reset while deliveries are in flight: flush still resolves, old deliveries are dropped', async () => {
  const slow = await receiver(async () => { await sleep(150); return 200; });
  const s = await startSim('shopify', ['--port', '0', '--webhook-url', slow.url]);
  try {
    await ctl(s.url, 'POST', '/_sim/orders', { count: 3 });
    await sleep(30);
    await ctl(s.url, 'POST', '/_sim/reset');
    await sleep(300);
    await ctl(s.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-MATCHA', quantity: 1 }] });
    const f = await ctl(s.url, 'POST', '/_sim/webhooks/flush?timeoutMs=5000');
    assert.deepEqual(f, { flushed: true, pending: 0 });
    const topics = (await ctl(s.url, 'GET', '/_sim/webhooks')).deliveries.map((d) => d.topic);
    assert.equal(topics.filter((t) => t === 'orders/create').length, 1, 'only the post-reset order is logged');
  } finally { await s.stop(); await slow.close(); }
});
