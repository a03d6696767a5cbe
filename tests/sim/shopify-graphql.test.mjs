// Shopify simulator: transport, auth, schema validation and error shapes, queries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, gql, ctl, request } from './helpers.mjs';

let sim;
before(async () => { sim = await startSim('shopify', ['--port', '0', '--plan', 'plus']); });
after(async () => { const r = await sim.stop(); assert.equal(r.code, 0, 'exits 0 on SIGTERM'); });

test('ready line is exactly "ready http://127.0.0.1:PORT"', () => {
  assert.match(sim.line, /^ready http:\/\/127\.0\.0\.1:\d+$/);
});

test('missing or wrong access token -> 401 with Shopify body', async () => {
  for (const token of ['', 'wrong']) {
    const r = await gql(sim.url, '{ shop { name } }', undefined, { token });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { errors: '[API] Invalid API key or access token (unrecognized login or wrong password)' });
  }
});

test('undefined field -> HTTP 200, graphql-ruby style error with locations and code', async () => {
  const r = await gql(sim.url, '{ shop { name bogusField } }');
  assert.equal(r.status, 200);
  assert.equal(r.json.data, undefined);
  const [e] = r.json.errors;
  assert.equal(e.message, "Field 'bogusField' doesn't exist on type 'Shop'");
  assert.deepEqual(e.locations, [{ line: 1, column: 15 }]);
  assert.equal(e.extensions.code, 'undefinedField');
  assert.equal(r.json.extensions, undefined, 'no cost for an invalid document');
});

test('missing required argument and unknown argument are rejected', async () => {
  let r = await gql(sim.url, 'mutation { fulfillmentCreate { userErrors { message } } }');
  assert.equal(r.json.errors[0].extensions.code, 'missingRequiredArguments');
  assert.match(r.json.errors[0].message, /missing required arguments: fulfillment/);
  r = await gql(sim.url, '{ orders(first: 1, colour: "red") { nodes { id } } }');
  assert.equal(r.json.errors[0].extensions.code, 'argumentNotAccepted');
});

test('syntax error -> parseError with location', async () => {
  const r = await gql(sim.url, '{ shop { name ');
  assert.equal(r.status, 200);
  assert.equal(r.json.errors[0].extensions.code, 'parseError');
  assert.equal(r.json.errors[0].locations[0].line, 1);
});

test('deprecated-but-valid fields still validate; invalid enum literal does not', async () => {
  const ok = await gql(sim.url, '{ orders(first: 1, sortKey: UPDATED_AT) { nodes { id } } }');
  assert.equal(ok.json.errors, undefined);
  const bad = await gql(sim.url, '{ orders(first: 1, sortKey: NOPE) { nodes { id } } }');
  assert.ok(bad.json.errors.length >= 1);
});

test('bad variables are coerced with getVariableValues and reported like Shopify', async () => {
  let r = await gql(sim.url, 'query($id: ID!) { order(id: $id) { id } }', {});
  assert.equal(r.json.errors[0].message, 'Variable $id of type ID! was provided invalid value');
  assert.equal(r.json.errors[0].extensions.problems[0].explanation.includes('was not provided'), true);
  r = await gql(sim.url, 'query($n: Int) { orders(first: $n) { nodes { id } } }', { n: 'ten' });
  assert.equal(r.json.errors[0].message, 'Variable $n of type Int was provided invalid value');
  assert.equal(r.json.errors[0].extensions.value, 'ten');
});

test('valid operation outside the simulated set -> "not simulated: <field>" error, never a silent null', async () => {
  const r = await gql(sim.url, '{ shop { name } giftCards(first: 1) { nodes { id } } }');
  const e = r.json.errors.find((x) => x.extensions.code === 'NOT_SIMULATED');
  assert.ok(e, JSON.stringify(r.json));
  assert.equal(e.message, 'not simulated: QueryRoot.giftCards');
  assert.deepEqual(e.path, ['giftCards']);
  const r2 = await gql(sim.url, '{ shop { name resourceLimits { maxProductVariants } } }');
  assert.equal(r2.json.errors[0].message, 'not simulated: Shop.resourceLimits');
  assert.equal(r2.json.data, null, 'non-null field error propagates like graphql-js/Shopify');
});

test('connections require first or last', async () => {
  const r = await gql(sim.url, '{ products { nodes { id } } }');
  assert.equal(r.json.errors[0].message, 'you must provide one of first or last');
});

test('introspection works against the real schema', async () => {
  const r = await gql(sim.url, '{ __type(name: "FulfillmentTrackingInput") { inputFields { name } } }');
  assert.deepEqual(r.json.data.__type.inputFields.map((f) => f.name).sort(), ['company', 'number', 'numbers', 'url', 'urls']);
});

test('orders: int64 GIDs above 2^53, paging with cursors, updated_at filter', async () => {
  await ctl(sim.url, 'POST', '/_sim/reset');
  const made = await ctl(sim.url, 'POST', '/_sim/orders', { count: 5 });
  assert.equal(made.orders.length, 5);
  for (const o of made.orders) {
    const n = BigInt(o.legacyResourceId);
    assert.ok(n > 2n ** 53n, `id ${n} above 2^53`);
    assert.equal(o.id, `gid://shopify/Order/${o.legacyResourceId}`);
  }
  const Q = 'query($after: String, $q: String) { orders(first: 2, after: $after, query: $q) { edges { cursor node { id name legacyResourceId } } pageInfo { hasNextPage endCursor } } }';
  const seen = [];
  let after = null;
  for (let i = 0; i < 5; i++) {
    const r = await gql(sim.url, Q, { after, q: 'updated_at:>2000-01-01T00:00:00Z' });
    const c = r.json.data.orders;
    seen.push(...c.edges.map((e) => e.node.name));
    if (!c.pageInfo.hasNextPage) break;
    after = c.pageInfo.endCursor;
  }
  assert.deepEqual(seen, ['#1001', '#1002', '#1003', '#1004', '#1005']);
  const future = await gql(sim.url, Q, { after: null, q: `updated_at:>'${new Date(Date.now() + 3600e3).toISOString()}'` });
  assert.equal(future.json.data.orders.edges.length, 0);
  const one = await gql(sim.url, 'query($id: ID!) { order(id: $id) { name legacyResourceId lineItems(first: 10) { nodes { sku quantity originalUnitPriceSet { shopMoney { amount currencyCode } } } } } }', { id: made.orders[0].id });
  assert.equal(one.json.data.order.legacyResourceId, made.orders[0].legacyResourceId);
  for (const li of one.json.data.order.lineItems.nodes) assert.match(li.originalUnitPriceSet.shopMoney.amount, /^\d+\.\d{2}$/);
});

test('productVariants(query:"sku:…") and customers(query:"email:…")', async () => {
  const v = await gql(sim.url, '{ productVariants(first: 5, query: "sku:EZ-DRIPPER") { nodes { sku price inventoryItem { id } product { title } } } }');
  assert.deepEqual(v.json.data.productVariants.nodes.map((n) => [n.sku, n.price, n.product.title]), [['EZ-DRIPPER', '39.00', 'Ceramic Pour-Over Dripper']]);
  const c = await gql(sim.url, '{ customers(first: 5, query: "email:zoe.mueller@example.de") { nodes { firstName lastName defaultEmailAddress { emailAddress } } } }');
  assert.deepEqual(c.json.data.customers.nodes, [{ firstName: 'Zoë', lastName: 'Müller', defaultEmailAddress: { emailAddress: 'zoe.mueller@example.de' } }]);
});

test('application/graphql bodies and malformed JSON', async () => {
  const r = await request('POST', `${sim.url}/admin/api/2026-10/graphql.json`, { body: '{ shop { name } }', headers: { 'Content-Type': 'application/graphql', 'X-Shopify-Access-Token': 'test-token' } });
  assert.equal(r.json.data.shop.name, 'Demo');
  const bad = await request('POST', `${sim.url}/admin/api/2026-10/graphql.json`, { body: '{"query": ', headers: { 'X-Shopify-Access-Token': 'test-token' } });
  assert.equal(bad.status, 400);
  assert.deepEqual(bad.json, { errors: { query: 'Required parameter missing or invalid' } });
});

test('unknown path -> 404, GET on graphql -> 405', async () => {
  assert.equal((await request('GET', `${sim.url}/admin/api/2026-10/graphql.json`)).status, 405);
  assert.equal((await request('GET', `${sim.url}/nope`)).status, 404);
});
