// OrderEZ simulator: the REST profile, every error shape, pagination, filters, rate limit,
// faults and the control API.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startSim, request, ctl, sleep, waitFor } from './helpers.mjs';

let sim;
const A = { Authorization: 'Bearer test-token' };
const api = (method, p, body, headers = A) => request(method, `${sim.url}${p}`, { body, headers });
before(async () => { sim = await startSim('orderez', ['--port', '0', '--rate', '1000', '--burst', '1000', '--read-token', 'ro-token']); });
after(() => sim.stop());

test('401 unauthorized: missing and wrong bearer token', async () => {
  let r = await api('GET', '/distributor/products', undefined, {});
  assert.equal(r.status, 401);
  assert.deepEqual(r.json, { error: { message: 'Missing bearer token', type: 'unauthorized' } });
  r = await api('GET', '/distributor/products', undefined, { Authorization: 'Bearer nope' });
  assert.equal(r.status, 401);
  assert.equal(r.json.error.type, 'unauthorized');
});

test('403 forbidden: a read-only token cannot write', async () => {
  const ro = { Authorization: 'Bearer ro-token' };
  assert.equal((await api('GET', '/distributor/products?limit=1', undefined, ro)).status, 200);
  const r = await api('POST', '/distributor/products', { name: 'X', sku: 'X-1' }, ro);
  assert.equal(r.status, 403);
  assert.equal(r.json.error.type, 'forbidden');
  assert.equal(typeof r.json.error.message, 'string');
});

test('404 not_found for unknown ids and routes', async () => {
  for (const p of ['/distributor/orders/999999', '/distributor/products/1', '/distributor/outlets/5', '/distributor/nope']) {
    const r = await api('GET', p);
    assert.equal(r.status, 404, p);
    assert.equal(r.json.error.type, 'not_found');
  }
  const r = await api('DELETE', '/distributor/products');
  assert.equal(r.status, 405);
  assert.equal(r.json.error.type, 'method_not_allowed');
  const bad = await api('POST', '/distributor/outlets', '[1, 2]');
  assert.deepEqual([bad.status, bad.json.error.type], [400, 'bad_request']);
});

test('pagination: page/limit, meta {page, limit, total, totalPages}, limit <= 100', async () => {
  const all = await api('GET', '/distributor/products?limit=100');
  const total = all.json.meta.total;
  assert.equal(total, 16);
  const seen = [];
  for (let page = 1; page <= 4; page++) {
    const r = await api('GET', `/distributor/products?page=${page}&limit=5`);
    assert.deepEqual(r.json.meta, { page, limit: 5, total, totalPages: 4 });
    seen.push(...r.json.data.map((p) => p.sku));
  }
  assert.equal(new Set(seen).size, 16);
  const beyond = await api('GET', '/distributor/products?page=9&limit=5');
  assert.deepEqual(beyond.json.data, []);
  const r = await api('GET', '/distributor/products?limit=101');
  assert.equal(r.status, 422);
  assert.deepEqual(r.json, { error: { fields: { limit: ['limit must be an integer between 1 and 100'] }, type: 'UnprocessableEntity' } });
});

test('catalog SKUs match the Shopify simulator seed; money is decimal strings', async () => {
  const r = await api('GET', '/distributor/products?sku=EZ-DRIPPER');
  assert.equal(r.json.data.length, 1);
  assert.equal(r.json.data[0].price, '39.00');
  assert.equal(typeof r.json.data[0].id, 'number');
  assert.match(r.json.data[0].updatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  const s = await api('GET', '/distributor/products?search=matcha&active=true');
  assert.deepEqual(s.json.data.map((p) => p.sku), ['EZ-MATCHA']);
});

test('products: sku unique (422 fields.sku), price format validated, PATCH deactivates', async () => {
  let r = await api('POST', '/distributor/products', { name: 'Dup', sku: 'EZ-DRIPPER', price: '1.00' });
  assert.equal(r.status, 422);
  assert.deepEqual(r.json.error.fields.sku, ['sku already exists']);
  r = await api('POST', '/distributor/products', { name: 'Bad', sku: 'EZ-BAD', price: 12.5 });
  assert.equal(r.status, 422);
  assert.ok(r.json.error.fields.price);
  r = await api('POST', '/distributor/products', { name: 'Bad', sku: 'EZ-BAD', price: '12.505' });
  assert.ok(r.json.error.fields.price);
  r = await api('POST', '/distributor/products', { name: 'Syrup', sku: 'EZ-SYRUP', price: '7.5' });
  assert.equal(r.status, 201);
  assert.equal(r.json.data.price, '7.50');
  const id = r.json.data.id;
  r = await api('PATCH', `/distributor/products/${id}`, { active: false, price: '8.00' });
  assert.equal(r.json.data.active, false);
  r = await api('GET', '/distributor/products?active=false');
  assert.deepEqual(r.json.data.map((p) => p.sku), ['EZ-SYRUP']);
});

test('outlets and contacts: create, search, externalRef, contact email unique -> 422 fields.email', async () => {
  let r = await api('POST', '/distributor/outlets', { name: 'Café Noir', externalRef: 'shopify-customer-77', email: 'noir@example.fr', address: { line1: '3 rue X', city: 'Paris', country: 'FR' } });
  assert.equal(r.status, 201);
  const o = r.json.data;
  r = await api('GET', '/distributor/outlets?externalRef=shopify-customer-77');
  assert.deepEqual(r.json.data.map((x) => x.id), [o.id]);
  r = await api('GET', '/distributor/outlets?search=café');
  assert.ok(r.json.data.some((x) => x.id === o.id));
  r = await api('POST', '/distributor/outlets', { email: 'not-an-email' });
  assert.equal(r.status, 422);
  assert.deepEqual(Object.keys(r.json.error.fields).sort(), ['email', 'name']);
  r = await api('POST', `/distributor/outlets/${o.id}/contacts`, { name: 'Anaïs', email: 'anais@example.fr', type: 'owner' });
  assert.equal(r.status, 201);
  assert.equal(r.json.data.isPrimary, true);
  r = await api('POST', `/distributor/outlets/${o.id}/contacts`, { name: 'Other', email: 'ANAIS@example.fr' });
  assert.equal(r.status, 422);
  assert.deepEqual(r.json, { error: { fields: { email: ['email already exists'] }, type: 'UnprocessableEntity' } });
  r = await api('POST', `/distributor/outlets/${o.id}/contacts`, { name: 'T', email: 't@example.fr', type: 'boss' });
  assert.ok(r.json.error.fields.type);
  r = await api('GET', `/distributor/outlets/${o.id}/contacts`);
  assert.equal(r.json.meta.total, 1);
  r = await api('PATCH', `/distributor/outlets/${o.id}`, { phone: '+33 1 23 45 67 89' });
  assert.equal(r.json.data.phone, '+33 1 23 45 67 89');
});

test('orders: create with integer-cent totals, externalRef unique -> 409 with existingId, filters', async () => {
  const body = { outletId: 101, externalRef: 'shopify-#1001', lineItems: [{ sku: 'EZ-COLDBREW-MEDI', quantity: 3 }, { sku: 'EZ-MATCHA', quantity: 1, unitPrice: '0.10' }], deliveryFee: '0.20' };
  let r = await api('POST', '/distributor/orders', body);
  assert.equal(r.status, 201);
  const o = r.json.data;
  assert.equal(o.status, 'accepted');
  assert.equal(o.subtotal, '56.35'); // 3 x 18.75 + 0.10, no float drift
  assert.equal(o.total, '56.55');
  assert.deepEqual(o.lineItems.map((l) => l.lineTotal), ['56.25', '0.10']);
  r = await api('POST', '/distributor/orders', body);
  assert.equal(r.status, 409);
  assert.equal(r.json.error.type, 'conflict');
  assert.equal(r.json.error.existingId, o.id);
  assert.equal(typeof r.json.error.message, 'string');
  r = await api('POST', '/distributor/orders', { outletId: 'abc', lineItems: [] });
  assert.equal(r.status, 422);
  assert.deepEqual(Object.keys(r.json.error.fields).sort(), ['lineItems', 'outletId']);
  r = await api('POST', '/distributor/orders', 'not json{');
  assert.equal(r.status, 400);
  r = await api('GET', '/distributor/orders?externalRef=shopify-%231001');
  assert.deepEqual(r.json.data.map((x) => x.id), [o.id]);
  r = await api('GET', `/distributor/orders?status=accepted&outletId=101&from=2000-01-01T00:00:00Z&to=${new Date(Date.now() + 60000).toISOString()}`);
  assert.ok(r.json.data.some((x) => x.id === o.id));
  r = await api('GET', `/distributor/orders?updatedSince=${new Date(Date.now() + 60000).toISOString()}`);
  assert.equal(r.json.meta.total, 0);
  r = await api('GET', '/distributor/orders?updatedSince=yesterday');
  assert.equal(r.status, 422);
  assert.ok(r.json.error.fields.updatedSince);
  r = await api('GET', '/distributor/orders?status=lost');
  assert.equal(r.status, 422);
});

test('control: status moves, split shipments with tracking, cancel rules, stock follows', async () => {
  let r = await api('POST', '/distributor/orders', { outletId: 102, lineItems: [{ sku: 'EZ-DRIPPER', quantity: 3 }, { sku: 'EZ-TOTE-NAVY', quantity: 1 }], warehouseId: 2 });
  const o = r.json.data;
  const stock0 = (await api('GET', '/distributor/stock?sku=EZ-DRIPPER&warehouseId=2')).json.data[0];
  assert.equal(stock0.reserved, 3);
  assert.equal(stock0.available, stock0.onHand - 3);
  const t0 = o.updatedAt;
  await sleep(5);
  r = await ctl(sim.url, 'POST', `/_sim/orders/${o.id}/status`, { status: 'scheduled' });
  assert.equal(r.data.status, 'scheduled');
  assert.ok(r.data.scheduledDeliveryDate);
  assert.ok(r.data.updatedAt > t0);
  r = await ctl(sim.url, 'POST', `/_sim/orders/${o.id}/shipments`, { carrier: 'UPS', trackingNumber: '1Z001', trackingUrl: 'https://ups.example/1Z001', lines: [{ sku: 'EZ-DRIPPER', quantity: 2 }] });
  assert.equal(r.order.status, 'scheduled', 'partial shipment keeps the status');
  r = await ctl(sim.url, 'POST', `/_sim/orders/${o.id}/shipments`, { carrier: 'Canada Post', trackingNumber: 'CP002' });
  assert.deepEqual(r.data.lines.map((l) => [l.sku, l.quantity]), [['EZ-DRIPPER', 1], ['EZ-TOTE-NAVY', 1]]);
  assert.equal(r.order.status, 'shipped');
  r = await api('GET', `/distributor/orders/${o.id}/shipments`);
  assert.deepEqual(r.json.data.map((s) => [s.carrier, s.trackingNumber, s.status]), [['UPS', '1Z001', 'shipped'], ['Canada Post', 'CP002', 'shipped']]);
  assert.deepEqual(r.json.meta, { page: 1, limit: 50, total: 2, totalPages: 1 });
  const stock1 = (await api('GET', '/distributor/stock?sku=EZ-DRIPPER&warehouseId=2')).json.data[0];
  assert.equal(stock1.onHand, stock0.onHand - 3);
  assert.equal(stock1.reserved, 0);
  r = await api('POST', `/distributor/orders/${o.id}/cancel`, { reason: 'too late' });
  assert.equal(r.status, 422);
  assert.ok(r.json.error.fields.status);
  r = await ctl(sim.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-MATCHA', quantity: 2 }] });
  assert.equal(r.data.status, 'pending');
  const c = await api('POST', `/distributor/orders/${r.data.id}/cancel`, { reason: 'customer asked', restock: true });
  assert.equal(c.json.data.status, 'cancelled');
  assert.equal(c.json.data.cancelReason, 'customer asked');
  assert.ok(c.json.data.cancelledAt);
});

test('stock: list with filters, adjustments by delta and setTo, validation', async () => {
  let r = await api('GET', '/distributor/warehouses');
  assert.deepEqual(r.json.data.map((w) => w.code), ['WH-MAIN', 'WH-EAST', 'WH-WEST']);
  r = await api('POST', '/distributor/stock/adjustments', { sku: 'EZ-BEANIE-CHAR', warehouseId: 1, setTo: 50, reason: 'cycle count', reference: 'shopify-sync-1' });
  assert.equal(r.status, 201);
  assert.equal(r.json.data.onHand, 50);
  const since = new Date(Date.now() - 1).toISOString();
  r = await api('POST', '/distributor/stock/adjustments', { sku: 'EZ-BEANIE-CHAR', warehouseId: 1, delta: -5 });
  assert.equal(r.json.data.onHand, 45);
  r = await api('GET', `/distributor/stock?updatedSince=${since}`);
  assert.deepEqual(r.json.data.map((x) => [x.sku, x.warehouseId, x.onHand]), [['EZ-BEANIE-CHAR', 1, 45]]);
  r = await api('POST', '/distributor/stock/adjustments', { sku: 'EZ-BEANIE-CHAR', warehouseId: 1, delta: 1, setTo: 2 });
  assert.equal(r.status, 422);
  r = await api('POST', '/distributor/stock/adjustments', { sku: 'EZ-BEANIE-CHAR', warehouseId: 1, delta: -1000 });
  assert.equal(r.status, 422);
  r = await ctl(sim.url, 'POST', '/_sim/stock', { sku: 'EZ-BEANIE-CHAR', warehouse: 'WH-EAST', onHand: 12 });
  assert.equal(r.data.onHand, 12);
  assert.equal(r.data.warehouseId, 2);
});

test('request log records method, path, query, body, status and rate limiting', async () => {
  const since = (await ctl(sim.url, 'GET', '/_sim/requests')).requests.at(-1).seq;
  await api('GET', '/distributor/products?limit=2&search=tee');
  await api('POST', '/distributor/stock/adjustments', { sku: 'EZ-TOTE-NAVY', warehouseId: 1, delta: 1 });
  const log = (await ctl(sim.url, 'GET', `/_sim/requests?since=${since}`)).requests;
  assert.equal(log.length, 2);
  assert.deepEqual([log[0].method, log[0].path, log[0].query, log[0].status, log[0].rateLimited], ['GET', '/distributor/products', { limit: '2', search: 'tee' }, 200, false]);
  assert.deepEqual(log[1].body, { sku: 'EZ-TOTE-NAVY', warehouseId: 1, delta: 1 });
});

test('token bucket: 429 rate_limited with Retry-After, recovers at the configured rate', async () => {
  await ctl(sim.url, 'POST', '/_sim/ratelimit', { rate: 2, burst: 3 });
  const codes = [];
  let limited;
  for (let i = 0; i < 5; i++) {
    const r = await api('GET', '/distributor/warehouses');
    codes.push(r.status);
    if (r.status === 429) limited = r;
  }
  assert.deepEqual(codes, [200, 200, 200, 429, 429]);
  assert.equal(limited.headers['retry-after'], '1');
  assert.equal(limited.json.error.type, 'rate_limited');
  const log = (await ctl(sim.url, 'GET', '/_sim/requests')).requests.slice(-2);
  assert.deepEqual(log.map((x) => x.rateLimited), [true, true]);
  await sleep(550);
  assert.equal((await api('GET', '/distributor/warehouses')).status, 200);
  await ctl(sim.url, 'POST', '/_sim/ratelimit', { rate: 1000, burst: 1000 });
});

test('faults: latency, 5xx rate, 429 storm', async () => {
  await ctl(sim.url, 'POST', '/_sim/faults', { latencyMs: 120 });
  let t = Date.now();
  assert.equal((await api('GET', '/distributor/warehouses')).status, 200);
  assert.ok(Date.now() - t >= 115);
  await ctl(sim.url, 'POST', '/_sim/faults', { clear: true, errorRate: 1, errorStatus: 502 });
  let r = await api('GET', '/distributor/warehouses');
  assert.equal(r.status, 502);
  assert.deepEqual(r.json, { error: { message: 'Internal server error', type: 'internal' } });
  await ctl(sim.url, 'POST', '/_sim/faults', { clear: true, storm429Seconds: 1 });
  r = await api('GET', '/distributor/warehouses');
  assert.equal(r.status, 429);
  assert.equal(r.headers['retry-after'], '1');
  await sleep(1050);
  assert.equal((await api('GET', '/distributor/warehouses')).status, 200);
  await ctl(sim.url, 'POST', '/_sim/faults', { clear: true });
});

test('outage 503 mode: 503 internal with Retry-After for N seconds', async () => {
  await ctl(sim.url, 'POST', '/_sim/faults', { outageSeconds: 1, outageMode: '503' });
  const r = await api('GET', '/distributor/warehouses');
  assert.equal(r.status, 503);
  assert.equal(r.json.error.type, 'internal');
  assert.equal(r.headers['retry-after'], '1');
  await sleep(1050);
  assert.equal((await api('GET', '/distributor/warehouses')).status, 200);
});

test('outage refuse mode: connection refused for N seconds, then back on the same port', async () => {
  const port = Number(new URL(sim.url).port);
  await ctl(sim.url, 'POST', '/_sim/faults', { outageSeconds: 1 });
  const tryConnect = () => new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve('open'); });
    s.once('error', (e) => resolve(e.code));
  });
  await waitFor(async () => (await tryConnect()) === 'ECONNREFUSED', { timeoutMs: 500 });
  await waitFor(async () => (await tryConnect()) === 'open', { timeoutMs: 3000, stepMs: 50 });
  assert.equal((await api('GET', '/distributor/warehouses')).status, 200);
});

test('reset restores the seed', async () => {
  await ctl(sim.url, 'POST', '/_sim/reset');
  const st = await ctl(sim.url, 'GET', '/_sim/state');
  assert.equal(st.orders.length, 0);
  assert.equal(st.products.length, 16);
  assert.equal(st.warehouses.length, 3);
  assert.equal(st.outlets.length, 3);
});
