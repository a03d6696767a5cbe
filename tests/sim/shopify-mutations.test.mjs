// Shopify simulator: mutations ezsync uses — @idempotent, changeFromQuantity, fulfillment,
// moves, cancel (async job), refunds, tags, metafields, products, customers, bulk.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startSim, gql, ctl, request, waitFor, sleep } from './helpers.mjs';

let sim, locs, dripper;
before(async () => {
  sim = await startSim('shopify', ['--port', '0', '--plan', 'enterprise']);
  const st = await ctl(sim.url, 'GET', '/_sim/state');
  locs = Object.fromEntries(st.locations.map((l) => [l.code, l.id]));
  dripper = st.products.flatMap((p) => p.variants).find((v) => v.sku === 'EZ-DRIPPER');
});
after(() => sim.stop());

const level = async (sku, code) => (await ctl(sim.url, 'GET', '/_sim/state')).inventory.find((x) => x.sku === sku && x.location === code);
const uuid = () => crypto.randomUUID();

const SET = `mutation Set($input: InventorySetQuantitiesInput!, $key: String!) {
  inventorySetQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id reason changes { name delta quantityAfterChange } }
    userErrors { field message code } } }`;
const ADJ = `mutation Adj($input: InventoryAdjustQuantitiesInput!, $key: String!) {
  inventoryAdjustQuantities(input: $input) @idempotent(key: $key) {
    inventoryAdjustmentGroup { id changes { name delta quantityAfterChange } } userErrors { field message code } } }`;

test('inventorySetQuantities without @idempotent fails at runtime', async () => {
  const r = await gql(sim.url, `mutation($input: InventorySetQuantitiesInput!) { inventorySetQuantities(input: $input) { userErrors { message } } }`,
    { input: { name: 'available', reason: 'correction', quantities: [{ inventoryItemId: dripper.inventoryItemId, locationId: locs['WH-MAIN'], quantity: 5, changeFromQuantity: null }] } });
  assert.equal(r.json.errors[0].extensions.code, 'IDEMPOTENCY_KEY_REQUIRED');
  assert.match(r.json.errors[0].message, /@idempotent/);
});

test('changeFromQuantity must be explicit; null skips the check; stale value -> CHANGE_FROM_QUANTITY_STALE', async () => {
  const q = (extra) => ({ input: { name: 'available', reason: 'correction', referenceDocumentUri: 'gid://ezsync/Sync/1', quantities: [{ inventoryItemId: dripper.inventoryItemId, locationId: locs['WH-EAST'], quantity: 40, ...extra }] }, key: uuid() });
  let r = await gql(sim.url, SET, q({}));
  assert.equal(r.json.data.inventorySetQuantities.userErrors[0].field.at(-1), 'changeFromQuantity');
  assert.equal(r.json.data.inventorySetQuantities.inventoryAdjustmentGroup, null);
  const cur = (await level('EZ-DRIPPER', 'WH-EAST')).available;
  r = await gql(sim.url, SET, q({ changeFromQuantity: cur + 7 }));
  assert.deepEqual(r.json.data.inventorySetQuantities.userErrors.map((e) => e.code), ['CHANGE_FROM_QUANTITY_STALE']);
  assert.equal((await level('EZ-DRIPPER', 'WH-EAST')).available, cur, 'nothing changed');
  r = await gql(sim.url, SET, q({ changeFromQuantity: cur }));
  assert.deepEqual(r.json.data.inventorySetQuantities.userErrors, []);
  const ch = r.json.data.inventorySetQuantities.inventoryAdjustmentGroup.changes.find((c) => c.name === 'available');
  assert.equal(ch.delta, 40 - cur);
  assert.equal(ch.quantityAfterChange, 40);
  r = await gql(sim.url, SET, q({ changeFromQuantity: null, quantity: 41 }));
  assert.deepEqual(r.json.data.inventorySetQuantities.userErrors, []);
  assert.equal((await level('EZ-DRIPPER', 'WH-EAST')).available, 41);
});

test('@idempotent: same key + same input returns the stored result once; different input -> mismatch', async () => {
  const key = uuid();
  const vars = { key, input: { name: 'available', reason: 'received', changes: [{ inventoryItemId: dripper.inventoryItemId, locationId: locs['WH-WEST'], delta: 3 }] } };
  const before_ = (await level('EZ-DRIPPER', 'WH-WEST')).available;
  const a = await gql(sim.url, ADJ, vars);
  const b = await gql(sim.url, ADJ, vars);
  assert.deepEqual(a.json.data.inventoryAdjustQuantities.userErrors, []);
  assert.deepEqual(b.json.data, a.json.data, 'replay returns the original result');
  assert.equal((await level('EZ-DRIPPER', 'WH-WEST')).available, before_ + 3, 'applied exactly once');
  const c = await gql(sim.url, ADJ, { ...vars, input: { ...vars.input, changes: [{ ...vars.input.changes[0], delta: 4 }] } });
  assert.deepEqual(c.json.data.inventoryAdjustQuantities.userErrors.map((e) => e.code), ['IDEMPOTENCY_KEY_PARAMETER_MISMATCH']);
  assert.equal((await level('EZ-DRIPPER', 'WH-WEST')).available, before_ + 3);
});

test('inventoryAdjustQuantities: non-available names need a ledger URI; on_hand follows', async () => {
  const vars = (extra) => ({ key: uuid(), input: { name: 'damaged', reason: 'damaged', changes: [{ inventoryItemId: dripper.inventoryItemId, locationId: locs['WH-MAIN'], delta: 2, ...extra }] } });
  let r = await gql(sim.url, ADJ, vars({}));
  assert.equal(r.json.data.inventoryAdjustQuantities.userErrors[0].code, 'INVALID_LEDGER_DOCUMENT');
  const before_ = await level('EZ-DRIPPER', 'WH-MAIN');
  r = await gql(sim.url, ADJ, vars({ ledgerDocumentUri: 'ezsync://ledger/1' }));
  assert.deepEqual(r.json.data.inventoryAdjustQuantities.userErrors, []);
  const after_ = await level('EZ-DRIPPER', 'WH-MAIN');
  assert.equal(after_.damaged, before_.damaged + 2);
  assert.equal(after_.on_hand, before_.on_hand + 2);
  assert.equal(after_.available, before_.available);
});

test('fulfillmentCreate: partial quantities, tracking, location rule, remaining quantities', async () => {
  const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { customer: { email: 'olivia.martin@example.com' },
    lines: [{ sku: 'EZ-DRIPPER', quantity: 3, location: 'WH-MAIN' }, { sku: 'EZ-MATCHA', quantity: 1, location: 'WH-EAST' }] });
  assert.equal(o.fulfillmentOrders.length, 2);
  const FO = `query($id: ID!) { order(id: $id) { displayFulfillmentStatus fulfillmentOrders(first: 5) { nodes { id status assignedLocation { location { id } } lineItems(first: 5) { nodes { id sku remainingQuantity totalQuantity } } } } } }`;
  let r = await gql(sim.url, FO, { id: o.id });
  const fos = r.json.data.order.fulfillmentOrders.nodes;
  const main = fos.find((f) => f.assignedLocation.location.id === locs['WH-MAIN']);
  const east = fos.find((f) => f.assignedLocation.location.id === locs['WH-EAST']);
  const CREATE = `mutation($f: FulfillmentInput!) { fulfillmentCreate(fulfillment: $f) { fulfillment { id name status trackingInfo(first: 5) { company number url } fulfillmentLineItems(first: 5) { nodes { quantity lineItem { sku } } } } userErrors { field message } } }`;
  // lines spanning fulfillment orders of two locations are rejected
  r = await gql(sim.url, CREATE, { f: { lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: main.id }, { fulfillmentOrderId: east.id }] } });
  assert.equal(r.json.data.fulfillmentCreate.fulfillment, null);
  assert.match(r.json.data.fulfillmentCreate.userErrors[0].message, /same location/);
  // too many
  r = await gql(sim.url, CREATE, { f: { lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: main.id, fulfillmentOrderLineItems: [{ id: main.lineItems.nodes[0].id, quantity: 4 }] }] } });
  assert.match(r.json.data.fulfillmentCreate.userErrors[0].message, /quantity/);
  // partial: 2 of 3 with tracking
  const committedBefore = (await level('EZ-DRIPPER', 'WH-MAIN')).committed;
  r = await gql(sim.url, CREATE, { f: { notifyCustomer: true, trackingInfo: { company: 'UPS', number: '1Z999AA10123456784', url: 'https://track.example/1Z999AA10123456784' },
    lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: main.id, fulfillmentOrderLineItems: [{ id: main.lineItems.nodes[0].id, quantity: 2 }] }] } });
  const f = r.json.data.fulfillmentCreate.fulfillment;
  assert.deepEqual(r.json.data.fulfillmentCreate.userErrors, []);
  assert.equal(f.status, 'SUCCESS');
  assert.deepEqual(f.trackingInfo, [{ company: 'UPS', number: '1Z999AA10123456784', url: 'https://track.example/1Z999AA10123456784' }]);
  assert.deepEqual(f.fulfillmentLineItems.nodes, [{ quantity: 2, lineItem: { sku: 'EZ-DRIPPER' } }]);
  assert.equal((await level('EZ-DRIPPER', 'WH-MAIN')).committed, committedBefore - 2);
  r = await gql(sim.url, FO, { id: o.id });
  const main2 = r.json.data.order.fulfillmentOrders.nodes.find((x) => x.id === main.id);
  assert.equal(main2.status, 'IN_PROGRESS');
  assert.equal(main2.lineItems.nodes[0].remainingQuantity, 1);
  assert.equal(r.json.data.order.displayFulfillmentStatus, 'PARTIALLY_FULFILLED');
  // tracking update
  r = await gql(sim.url, `mutation($id: ID!, $t: FulfillmentTrackingInput!) { fulfillmentTrackingInfoUpdate(fulfillmentId: $id, trackingInfoInput: $t, notifyCustomer: false) { fulfillment { trackingInfo { company number url } } userErrors { message } } }`,
    { id: f.id, t: { company: 'Canada Post', number: '7023210039414604' } });
  assert.deepEqual(r.json.data.fulfillmentTrackingInfoUpdate.fulfillment.trackingInfo[0].number, '7023210039414604');
  assert.match(r.json.data.fulfillmentTrackingInfoUpdate.fulfillment.trackingInfo[0].url, /canadapost/);
  // omit line items = everything remaining of that fulfillment order
  r = await gql(sim.url, CREATE, { f: { lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: main.id }] } });
  assert.equal(r.json.data.fulfillmentCreate.fulfillment.fulfillmentLineItems.nodes[0].quantity, 1);
  r = await gql(sim.url, CREATE, { f: { lineItemsByFulfillmentOrder: [{ fulfillmentOrderId: east.id }] } });
  r = await gql(sim.url, FO, { id: o.id });
  assert.equal(r.json.data.order.displayFulfillmentStatus, 'FULFILLED');
  assert.ok(r.json.data.order.fulfillmentOrders.nodes.every((x) => x.status === 'CLOSED'));
});

test('fulfillmentOrderMove: whole move in place, partial move splits, stock follows', async () => {
  const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-TOTE-NAVY', quantity: 4, location: 'WH-MAIN' }] });
  const fo = o.fulfillmentOrders[0];
  const st = await ctl(sim.url, 'GET', '/_sim/state');
  const foli = st.orders.find((x) => x.id === o.id).fulfillmentOrders[0].lineItems[0].id;
  const MOVE = `mutation($id: ID!, $loc: ID!, $li: [FulfillmentOrderLineItemInput!]) { fulfillmentOrderMove(id: $id, newLocationId: $loc, fulfillmentOrderLineItems: $li) {
    movedFulfillmentOrder { id assignedLocation { location { id } } lineItems(first: 5) { nodes { totalQuantity } } } originalFulfillmentOrder { id } remainingFulfillmentOrder { id lineItems(first: 5) { nodes { remainingQuantity } } } userErrors { message } } }`;
  const eastBefore = await level('EZ-TOTE-NAVY', 'WH-EAST');
  let r = await gql(sim.url, MOVE, { id: fo, loc: locs['WH-EAST'], li: [{ id: foli, quantity: 1 }] });
  let p = r.json.data.fulfillmentOrderMove;
  assert.deepEqual(p.userErrors, []);
  assert.notEqual(p.movedFulfillmentOrder.id, fo);
  assert.equal(p.movedFulfillmentOrder.assignedLocation.location.id, locs['WH-EAST']);
  assert.equal(p.movedFulfillmentOrder.lineItems.nodes[0].totalQuantity, 1);
  assert.equal(p.remainingFulfillmentOrder.lineItems.nodes[0].remainingQuantity, 3);
  const eastAfter = await level('EZ-TOTE-NAVY', 'WH-EAST');
  assert.equal(eastAfter.committed, eastBefore.committed + 1);
  assert.equal(eastAfter.available, eastBefore.available - 1);
  r = await gql(sim.url, MOVE, { id: fo, loc: locs['WH-MAIN'] });
  assert.match(r.json.data.fulfillmentOrderMove.userErrors[0].message, /already assigned/);
});

test('orderCancel returns a Job; effects (cancel, restock) arrive asynchronously', async () => {
  const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-BEANIE-RUST', quantity: 2, location: 'WH-MAIN' }] });
  const avail = (await level('EZ-BEANIE-RUST', 'WH-MAIN')).available;
  const r = await gql(sim.url, `mutation($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER, restock: true, notifyCustomer: false, refundMethod: { originalPaymentMethodsRefund: true }) { job { id done } orderCancelUserErrors { code message } } }`, { id: o.id });
  const job = r.json.data.orderCancel.job;
  assert.equal(job.done, false);
  assert.match(job.id, /^gid:\/\/shopify\/Job\/\d+$/);
  const st0 = await ctl(sim.url, 'GET', '/_sim/state');
  assert.equal(st0.orders.find((x) => x.id === o.id).cancelledAt, null, 'not cancelled yet');
  await waitFor(async () => (await gql(sim.url, 'query($id: ID!) { job(id: $id) { done } }', { id: job.id })).json.data.job.done);
  const q = await gql(sim.url, 'query($id: ID!) { order(id: $id) { cancelledAt cancelReason displayFinancialStatus } }', { id: o.id });
  assert.equal(q.json.data.order.cancelReason, 'CUSTOMER');
  assert.ok(q.json.data.order.cancelledAt);
  assert.equal(q.json.data.order.displayFinancialStatus, 'REFUNDED');
  assert.equal((await level('EZ-BEANIE-RUST', 'WH-MAIN')).available, avail + 2);
  const again = await gql(sim.url, `mutation($id: ID!) { orderCancel(orderId: $id, reason: CUSTOMER, restock: true) { job { id } orderCancelUserErrors { code } } }`, { id: o.id });
  assert.equal(again.json.data.orderCancel.orderCancelUserErrors[0].code, 'INVALID');
});

test('suggestedRefund + refundCreate: @idempotent, replay by key, money only via transactions, restock', async () => {
  const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-COLDBREW-DARK', quantity: 3, location: 'WH-MAIN' }] });
  const avail = (await level('EZ-COLDBREW-DARK', 'WH-MAIN')).available;
  const sug = await gql(sim.url, `query($id: ID!, $li: [RefundLineItemInput!]!) { order(id: $id) { transactions(first: 5) { id kind amountSet { shopMoney { amount } } }
    suggestedRefund(refundLineItems: $li) { amountSet { shopMoney { amount } } suggestedTransactions { kind gateway amountSet { shopMoney { amount } } parentTransaction { id } } } } }`,
  { id: o.id, li: [{ lineItemId: o.lineItems[0].id, quantity: 1 }] });
  const sr = sug.json.data.order.suggestedRefund;
  // 18.75 + 13% HST = 21.19 (integer cents)
  assert.equal(sr.amountSet.shopMoney.amount, '21.19');
  const sale = sug.json.data.order.transactions[0];
  assert.equal(sale.kind, 'SALE');
  assert.equal(sr.suggestedTransactions[0].parentTransaction.id, sale.id);
  const R = `mutation($input: RefundInput!, $key: String!) { refundCreate(input: $input) @idempotent(key: $key) { refund { id totalRefundedSet { shopMoney { amount } } } order { displayFinancialStatus } userErrors { field message } } }`;
  const input = { orderId: o.id, refundLineItems: [{ lineItemId: o.lineItems[0].id, quantity: 1, restockType: 'CANCEL', locationId: locs['WH-MAIN'] }],
    transactions: [{ orderId: o.id, parentId: sale.id, gateway: 'shopify_payments', kind: 'REFUND', amount: sr.suggestedTransactions[0].amountSet.shopMoney.amount }] };
  const noKey = await gql(sim.url, 'mutation($input: RefundInput!) { refundCreate(input: $input) { userErrors { message } } }', { input });
  assert.equal(noKey.json.errors[0].extensions.code, 'IDEMPOTENCY_KEY_REQUIRED');
  const key = uuid();
  const a = await gql(sim.url, R, { input, key });
  const b = await gql(sim.url, R, { input, key });
  assert.deepEqual(a.json.data.refundCreate.userErrors, []);
  assert.equal(a.json.data.refundCreate.refund.id, b.json.data.refundCreate.refund.id);
  assert.equal(a.json.data.refundCreate.refund.totalRefundedSet.shopMoney.amount, '21.19');
  assert.equal(a.json.data.refundCreate.order.displayFinancialStatus, 'PARTIALLY_REFUNDED');
  assert.equal((await level('EZ-COLDBREW-DARK', 'WH-MAIN')).available, avail + 1, 'CANCEL restock returns the unit');
  const st = await ctl(sim.url, 'GET', '/_sim/state');
  assert.equal(st.orders.find((x) => x.id === o.id).refunds.length, 1, 'created once');
  // without transactions: restock/record only, no money moves
  const c = await gql(sim.url, R, { key: uuid(), input: { orderId: o.id, refundLineItems: [{ lineItemId: o.lineItems[0].id, quantity: 1, restockType: 'NO_RESTOCK' }] } });
  assert.equal(c.json.data.refundCreate.refund.totalRefundedSet.shopMoney.amount, '0.00');
  const over = await gql(sim.url, R, { key: uuid(), input: { orderId: o.id, refundLineItems: [{ lineItemId: o.lineItems[0].id, quantity: 2 }] } });
  assert.equal(over.json.data.refundCreate.userErrors[0].field.at(-1), 'quantity');
});

test('tagsAdd and metafieldsSet are visible in /_sim/state and GraphQL', async () => {
  const { orders: [o] } = await ctl(sim.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-MATCHA', quantity: 1 }] });
  let r = await gql(sim.url, 'mutation($id: ID!) { tagsAdd(id: $id, tags: ["oms-synced", "b2b"]) { node { id ... on Order { tags } } userErrors { message } } }', { id: o.id });
  assert.deepEqual(r.json.data.tagsAdd.node.tags, ['oms-synced', 'b2b']);
  r = await gql(sim.url, 'mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) { metafields { namespace key value compareDigest } userErrors { field message code } } }',
    { m: [{ ownerId: o.id, namespace: 'oms', key: 'order_id', type: 'single_line_text_field', value: '10001' }] });
  const mf = r.json.data.metafieldsSet.metafields[0];
  assert.equal(mf.value, '10001');
  r = await gql(sim.url, 'mutation($m: [MetafieldsSetInput!]!) { metafieldsSet(metafields: $m) { metafields { value } userErrors { code } } }',
    { m: [{ ownerId: o.id, namespace: 'oms', key: 'order_id', type: 'single_line_text_field', value: '10002', compareDigest: 'stale' }] });
  assert.equal(r.json.data.metafieldsSet.userErrors[0].code, 'STALE_OBJECT');
  r = await gql(sim.url, 'query($id: ID!) { order(id: $id) { tags metafield(namespace: "oms", key: "order_id") { value } } }', { id: o.id });
  assert.equal(r.json.data.order.metafield.value, '10001');
  const st = await ctl(sim.url, 'GET', '/_sim/state');
  const so = st.orders.find((x) => x.id === o.id);
  assert.deepEqual(so.tags, ['oms-synced', 'b2b']);
  assert.deepEqual(so.metafields, [{ namespace: 'oms', key: 'order_id', type: 'single_line_text_field', value: '10001' }]);
});

test('productCreate/productUpdate (product: input), productVariantsBulkUpdate, customers', async () => {
  let r = await gql(sim.url, 'mutation($p: ProductCreateInput!) { productCreate(product: $p) { product { id title status variants(first: 1) { nodes { id } } } userErrors { field message } } }',
    { p: { title: 'Gift Box', status: 'DRAFT', vendor: 'Northbound', tags: ['b2b'] } });
  const p = r.json.data.productCreate.product;
  assert.equal(p.status, 'DRAFT');
  r = await gql(sim.url, 'mutation($p: ProductUpdateInput!) { productUpdate(product: $p) { product { title status } userErrors { message } } }', { p: { id: p.id, title: 'Gift Box XL', status: 'ACTIVE' } });
  assert.deepEqual(r.json.data.productUpdate.product, { title: 'Gift Box XL', status: 'ACTIVE' });
  r = await gql(sim.url, 'mutation($id: ID!, $v: [ProductVariantsBulkInput!]!) { productVariantsBulkUpdate(productId: $id, variants: $v) { productVariants { sku price } userErrors { message } } }',
    { id: p.id, v: [{ id: p.variants.nodes[0].id, price: '49.90', inventoryItem: { sku: 'EZ-GIFTBOX' } }] });
  assert.deepEqual(r.json.data.productVariantsBulkUpdate.productVariants, [{ sku: 'EZ-GIFTBOX', price: '49.90' }]);
  r = await gql(sim.url, 'mutation($i: CustomerInput!) { customerCreate(input: $i) { customer { id displayName } userErrors { field message } } }', { i: { firstName: 'Ærøskøbing', lastName: 'Bütik', email: 'shop@aero.example' } });
  const c = r.json.data.customerCreate.customer;
  assert.equal(c.displayName, 'Ærøskøbing Bütik');
  r = await gql(sim.url, 'mutation($i: CustomerInput!) { customerCreate(input: $i) { customer { id } userErrors { field message } } }', { i: { email: 'shop@aero.example' } });
  assert.deepEqual(r.json.data.customerCreate.userErrors, [{ field: ['email'], message: 'Email has already been taken' }]);
  r = await gql(sim.url, 'mutation($i: CustomerInput!) { customerUpdate(input: $i) { customer { note tags } userErrors { message } } }', { i: { id: c.id, note: 'VIP', tags: ['wholesale'] } });
  assert.deepEqual(r.json.data.customerUpdate.customer, { note: 'VIP', tags: ['wholesale'] });
});

test('bulkOperationRunQuery: JSONL served by the simulator with __parentId lines', async () => {
  const inner = '{ productVariants { edges { node { id sku inventoryItem { inventoryLevels { edges { node { location { id } quantities(names: ["available"]) { name quantity } } } } } } } } }';
  let r = await gql(sim.url, 'mutation($q: String!) { bulkOperationRunQuery(query: $q) { bulkOperation { id status } userErrors { field message code } } }', { q: inner });
  const op = r.json.data.bulkOperationRunQuery.bulkOperation;
  assert.equal(op.status, 'CREATED');
  const done = await waitFor(async () => {
    const x = await gql(sim.url, 'query($id: ID!) { bulkOperation(id: $id) { status url objectCount rootObjectCount } }', { id: op.id });
    return x.json.data.bulkOperation.status === 'COMPLETED' && x.json.data.bulkOperation;
  });
  const file = await request('GET', done.url, { raw: true });
  const lines = file.text.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, Number(done.objectCount));
  const roots = lines.filter((l) => !l.__parentId);
  assert.equal(roots.length, Number(done.rootObjectCount));
  const ids = new Set(roots.map((l) => l.id));
  const children = lines.filter((l) => l.__parentId);
  assert.ok(children.length >= roots.length);
  for (const c of children) { assert.ok(ids.has(c.__parentId)); assert.equal(c.quantities[0].name, 'available'); }
  r = await gql(sim.url, 'mutation { bulkOperationRunQuery(query: "{ shop { name } }") { bulkOperation { id } userErrors { code message } } }');
  assert.equal(r.json.data.bulkOperationRunQuery.userErrors[0].code, 'INVALID');
});

test('--state persists the shop across restarts', async () => {
  const file = `/tmp/ezsync-sim-state-${process.pid}.json`;
  let s = await startSim('shopify', ['--port', '0', '--state', file]);
  const made = await ctl(s.url, 'POST', '/_sim/orders', { lines: [{ sku: 'EZ-DRIPPER', quantity: 1 }], tags: ['persisted'] });
  await sleep(300);
  await s.stop();
  s = await startSim('shopify', ['--port', '0', '--state', file]);
  const r = await gql(s.url, 'query($id: ID!) { order(id: $id) { name tags } }', { id: made.orders[0].id });
  assert.deepEqual(r.json.data.order, { name: '#1001', tags: ['persisted'] });
  await s.stop();
});
