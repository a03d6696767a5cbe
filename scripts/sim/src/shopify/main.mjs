// Shopify Admin GraphQL simulator: HTTP server, cost/throttle, control API under /_sim/.
import http from 'node:http';
import fs from 'node:fs';
import crypto from 'node:crypto';
import { execute } from 'graphql';
import { parseArgs, logger, announceReady } from '../lib/cli.mjs';
import { readBody, sendJSON, listen, closeServer, sleep } from '../lib/http.mjs';
import { stringify } from '../lib/json.mjs';
import { Store, gid, UserErr } from './store.mjs';
import { loadSchema, DocCache, selectOperation, coerceVariables, queryCost } from './gql.mjs';
import { fieldResolver } from './views.mjs';
import { queryRoot, mutationRoot } from './roots.mjs';
import { Webhooks } from './webhooks.mjs';
import * as V from './views.mjs';

const PLANS = { standard: 100, advanced: 200, plus: 1000, enterprise: 2000 };
const PLAN_NAMES = { standard: 'Basic', advanced: 'Advanced', plus: 'Shopify Plus', enterprise: 'Commerce Components' };
const VERSIONS = ['2025-10', '2026-01', '2026-04', '2026-07', '2026-10', 'unstable'];
const MAX_COST = 1000;

const opts = parseArgs(process.argv.slice(2), {
  port: { type: 'int', default: 0, min: 0, help: 'port on 127.0.0.1 (0 = pick a free one)' },
  token: { type: 'string', default: 'test-token', help: 'required X-Shopify-Access-Token' },
  secret: { type: 'string', default: 'shpss_testsecret', help: 'webhook signing secret' },
  'webhook-url': { type: 'string', default: undefined, help: 'deliver every topic here', check: (v) => (/^https?:\/\//.test(v) ? null : 'must be an http(s) URL') },
  shop: { type: 'string', default: 'demo.myshopify.com', help: 'shop domain', check: (v) => (/^[a-z0-9][a-z0-9-]*\.myshopify\.com$/.test(v) ? null : 'must look like NAME.myshopify.com') },
  plan: { type: 'string', default: 'standard', choices: Object.keys(PLANS), help: 'restore rate 100/200/1000/2000 pts/s, bucket 20x' },
  'api-version': { type: 'string', default: '2026-10', help: 'API version used for webhook payloads' },
  state: { type: 'string', default: undefined, help: 'persist the shop to this JSON file' },
  seed: { type: 'int', default: 42, help: 'seed for generated data' },
  concurrency: { type: 'int', default: 8, min: 1, help: 'concurrent webhook deliveries' },
  verbose: { type: 'bool', default: false, help: 'log every request' },
}, 'scripts/sim/shopify');

const log = logger('shopify-sim', opts.verbose);
const t0 = Date.now();
const schema = loadSchema();
log.info(`schema loaded in ${Date.now() - t0} ms`);
const docs = new DocCache(schema);

let webhooks;
const store = new Store({ shop: opts.shop, seed: opts.seed, log, emit: (topic, payload, ev) => { webhooks?.trigger(topic, payload, ev); scheduleSave(); } });
if (opts.state && fs.existsSync(opts.state)) { store.load(opts.state); log.info(`state loaded from ${opts.state}`); }
webhooks = new Webhooks({ secret: opts.secret, shop: opts.shop, apiVersion: opts['api-version'], store, webhookUrl: opts['webhook-url'], log, concurrency: opts.concurrency });

let saveTimer = null;
function scheduleSave() {
  if (!opts.state || saveTimer) return;
  saveTimer = setTimeout(() => { saveTimer = null; try { store.save(opts.state); } catch (e) { log.error(`save: ${e.message}`); } }, 200);
}

// ---------- leaky bucket
const bucket = { plan: opts.plan, restore: PLANS[opts.plan], max: PLANS[opts.plan] * 20, available: PLANS[opts.plan] * 20, last: Date.now() };
function refill() {
  const now = Date.now();
  bucket.available = Math.min(bucket.max, bucket.available + ((now - bucket.last) / 1000) * bucket.restore);
  bucket.last = now;
}
const f1 = (n) => (Number.isInteger(n) ? `${n}.0` : String(n));
function costJSON(requested, actual) {
  return `{"requestedQueryCost":${requested},"actualQueryCost":${actual ?? 'null'},"throttleStatus":{"maximumAvailable":${f1(bucket.max)},"currentlyAvailable":${Math.floor(bucket.available)},"restoreRate":${f1(bucket.restore)}}}`;
}

let faults = {};
let requests = [], reqSeq = 0;
function record(r) { r.seq = ++reqSeq; requests.push(r); if (requests.length > 20000) requests.splice(0, requests.length - 20000); }

let baseUrl = '';
const ctxBase = (version = opts['api-version']) => ({ store, schema, docs, apiVersion: VERSIONS.includes(version) ? version : opts['api-version'], plan: bucket.plan, planName: PLAN_NAMES[bucket.plan], baseUrl, log, cancelDelayMs: faults.cancelDelayMs ?? 50 });

async function graphql(req, res, version) {
  const started = process.hrtime.bigint();
  const rec = { at: new Date().toISOString(), version, operationName: null, operation: null, query: null, variables: null, status: 200, outcome: null, requestedQueryCost: null, actualQueryCost: null, currentlyAvailable: null, durationMs: 0 };
  const reply = (status, body, outcome, headers = {}) => {
    rec.status = status; rec.outcome = outcome; rec.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    record(rec);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'X-Shopify-API-Version': VERSIONS.includes(version) ? version : opts['api-version'], 'X-Request-Id': `sim-${reqSeq + 1}`, ...headers });
    res.end(body);
  };
  if (faults.latencyMs) await sleep(faults.latencyMs);
  if (req.headers['x-shopify-access-token'] !== opts.token) {
    await readBody(req).catch(() => {});
    return reply(401, '{"errors":"[API] Invalid API key or access token (unrecognized login or wrong password)"}', 'unauthorized');
  }
  if (faults.errorRate && Math.random() < faults.errorRate) {
    await readBody(req).catch(() => {});
    const st = faults.errorStatus ?? 503;
    return reply(st, JSON.stringify({ errors: st === 503 ? 'Service Unavailable' : 'Internal Server Error' }), 'fault_5xx');
  }
  let body;
  const rawReq = (await readBody(req)).toString('utf8');
  if (/^application\/graphql/i.test(req.headers['content-type'] ?? '')) body = { query: rawReq };
  else { try { body = JSON.parse(rawReq || '{}'); } catch { return reply(400, '{"errors":{"query":"Required parameter missing or invalid"}}', 'bad_request'); } }
  if (typeof body.query !== 'string' || !body.query.trim()) return reply(400, '{"errors":{"query":"Required parameter missing or invalid"}}', 'bad_request');
  rec.query = body.query.length > 4000 ? body.query.slice(0, 4000) + '…' : body.query;
  rec.variables = body.variables ?? null; rec.operationName = body.operationName ?? null;
  if (body.variables != null && (typeof body.variables !== 'object' || Array.isArray(body.variables))) {
    return reply(200, JSON.stringify({ errors: [{ message: 'Variables must be an object', extensions: { code: 'BAD_REQUEST' } }] }), 'invalid');
  }
  const d = docs.get(body.query);
  if (d.errors) return reply(200, JSON.stringify({ errors: d.errors }), 'invalid');
  const { op, error } = selectOperation(d.document, body.operationName);
  if (error) return reply(200, JSON.stringify({ errors: [error] }), 'invalid');
  rec.operation = op.operation;
  rec.operationName ??= op.name?.value ?? null;
  if (op.operation === 'subscription') return reply(200, JSON.stringify({ errors: [{ message: 'Subscriptions are not supported', extensions: { code: 'BAD_REQUEST' } }] }), 'invalid');
  const vars = coerceVariables(schema, op, body.variables);
  if (vars.errors) return reply(200, JSON.stringify({ errors: vars.errors }), 'invalid');
  const requested = queryCost(schema, d.document, op, vars.coerced);
  rec.requestedQueryCost = requested;
  if (requested > MAX_COST) {
    return reply(200, JSON.stringify({ errors: [{ message: `Query cost is ${requested}, which exceeds the single query max cost limit (${MAX_COST}).\n\nSee https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\ncost of a query is calculated.\n\nTo query larger amounts of data with fewer limits, bulk operations should be used instead.\nSee https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n`,
      extensions: { code: 'MAX_COST_EXCEEDED', cost: requested, maxCost: MAX_COST, documentation: 'https://shopify.dev/api/usage/rate-limits' } }] }), 'max_cost_exceeded');
  }
  refill();
  if (faults.throttle || requested > bucket.available) {
    rec.currentlyAvailable = Math.floor(bucket.available);
    return reply(200, `{"errors":[{"message":"Throttled","extensions":{"code":"THROTTLED","documentation":"https://shopify.dev/api/usage/rate-limits"}}],"extensions":{"cost":${costJSON(requested, null)}}}`, 'throttled');
  }
  bucket.available -= requested;
  const ctx = ctxBase(version);
  const rootValue = op.operation === 'mutation' ? mutationRoot(ctx) : queryRoot(ctx);
  let result;
  try {
    result = execute({ schema, document: d.document, rootValue, contextValue: ctx, variableValues: body.variables ?? {}, operationName: body.operationName, fieldResolver });
  } catch (e) {
    log.error(`execute: ${e.stack}`);
    bucket.available += requested;
    return reply(200, JSON.stringify({ errors: [{ message: `Internal error: ${e.message}`, extensions: { code: 'INTERNAL_SERVER_ERROR' } }] }), 'error');
  }
  const actual = Math.min(requested, queryCost(schema, d.document, op, vars.coerced, result.data ?? null));
  bucket.available = Math.min(bucket.max, bucket.available + (requested - actual));
  rec.actualQueryCost = actual; rec.currentlyAvailable = Math.floor(bucket.available);
  let out = '{';
  if (result.errors?.length) {
    rec.errors = result.errors.map((e) => e.extensions?.code ?? e.message);
    for (const e of result.errors) if (!e.extensions?.code && !e.originalError?.extensions?.code) log.error(`resolver: ${e.originalError?.stack ?? e.message}`);
    out += `"errors":${JSON.stringify(result.errors.map((e) => ({ message: e.message, locations: e.locations, path: e.path, extensions: { code: 'INTERNAL_SERVER_ERROR', ...(e.extensions ?? {}) } })))},`;
  }
  out += `"data":${JSON.stringify(result.data ?? null)},"extensions":{"cost":${costJSON(requested, actual)}}}`;
  if (op.operation === 'mutation') scheduleSave();
  reply(200, out, result.errors?.length ? 'partial_error' : 'ok');
}

// ---------- control API
function stateView() {
  const g = (t, id) => gid(t, id);
  const sku = (itemId) => store.variants.get(store.items.get(itemId)?.variantId)?.sku ?? null;
  return {
    shop: { domain: opts.shop, plan: bucket.plan, apiVersion: opts['api-version'] },
    locations: [...store.locations.values()].map((l) => ({ id: g('Location', l.id), legacyResourceId: l.id, code: l.code, name: l.name })),
    products: [...store.products.values()].map((p) => ({ id: g('Product', p.id), legacyResourceId: p.id, title: p.title, handle: p.handle, status: p.status, vendor: p.vendor, tags: p.tags,
      metafields: p.metafields, updatedAt: V.iso(p.updatedAt),
      variants: p.variantIds.map((vid) => { const v = store.variants.get(vid); return { id: g('ProductVariant', v.id), legacyResourceId: v.id, sku: v.sku, barcode: v.barcode, price: v.price, title: v.title, inventoryItemId: g('InventoryItem', v.inventoryItemId) }; }) })),
    inventory: [...store.levels.values()].map((l) => ({ sku: sku(l.itemId), inventoryItemId: g('InventoryItem', l.itemId), locationId: g('Location', l.locationId),
      location: store.locations.get(l.locationId)?.code, ...l.q, on_hand: store.onHand(l), updatedAt: V.iso(l.updatedAt) })),
    customers: [...store.customers.values()].map((c) => ({ id: g('Customer', c.id), legacyResourceId: c.id, firstName: c.firstName, lastName: c.lastName, email: c.email, phone: c.phone,
      tags: c.tags, note: c.note, metafields: c.metafields, ordersCount: c.ordersCount, updatedAt: V.iso(c.updatedAt) })),
    orders: [...store.orders.values()].map((o) => {
      const t = store.totals(o);
      return { id: g('Order', o.id), legacyResourceId: o.id, name: o.name, email: o.email, customerId: o.customerId ? g('Customer', o.customerId) : null,
        financialStatus: o.financialStatus, fulfillmentStatus: store.fulfillmentStatus(o), cancelledAt: V.iso(o.cancelledAt), cancelReason: o.cancelReason,
        tags: o.tags, note: o.note, metafields: o.metafields.map((m) => ({ namespace: m.namespace, key: m.key, type: m.type, value: m.value })),
        totalPrice: V.money(t.total).amount, currentTotalPrice: V.money(t.currentTotal).amount, createdAt: V.iso(o.createdAt), updatedAt: V.iso(o.updatedAt),
        lineItems: o.lineItems.map((l) => ({ id: g('LineItem', l.id), sku: l.sku, quantity: l.quantity, fulfilled: l.fulfilledQty, refunded: l.refundedQty, price: V.money(l.priceCents).amount, location: store.locations.get(l.locationId)?.code })),
        fulfillmentOrders: o.fulfillmentOrderIds.map((id) => { const f = store.fulfillmentOrders.get(id); return { id: g('FulfillmentOrder', f.id), status: f.status, location: store.locations.get(f.locationId)?.code,
          locationId: g('Location', f.locationId), lineItems: f.lineItems.map((x) => ({ id: g('FulfillmentOrderLineItem', x.id), lineItemId: g('LineItem', x.lineItemId), totalQuantity: x.totalQuantity, remainingQuantity: x.remainingQuantity })) }; }),
        fulfillments: o.fulfillmentIds.map((id) => { const f = store.fulfillments.get(id); return { id: g('Fulfillment', f.id), name: f.name, status: f.status, trackingInfo: f.trackingInfo, notifyCustomer: f.notifyCustomer,
          location: store.locations.get(f.locationId)?.code, lineItems: f.lineItems.map((x) => ({ lineItemId: g('LineItem', x.lineItemId), quantity: x.quantity })) }; }),
        refunds: o.refundIds.map((id) => { const r = store.refunds.get(id); return { id: g('Refund', r.id), amount: V.money(r.amountCents).amount, lineItems: r.refundLineItems.map((x) => ({ lineItemId: g('LineItem', x.lineItemId), quantity: x.quantity, restockType: x.restockType })) }; }) };
    }),
    webhookSubscriptions: [...store.subscriptions.values()].map((w) => ({ id: g('WebhookSubscription', w.id), topic: w.topic, uri: w.uri, failures: w.failures ?? 0 })),
    bucket: { maximumAvailable: bucket.max, currentlyAvailable: Math.floor(bucket.available), restoreRate: bucket.restore },
    faults, webhookModes: webhooks.modes(),
  };
}

async function control(req, res, path, url) {
  const rawBody = req.method === 'POST' ? await readBody(req) : Buffer.alloc(0);
  if (path === '/_sim/webhooks/sign' && req.method === 'POST') {
    return sendJSON(res, 200, { hmac: crypto.createHmac('sha256', opts.secret).update(rawBody).digest('base64') });
  }
  let body = {};
  try { body = rawBody.length ? JSON.parse(rawBody.toString('utf8')) : {}; } catch (e) { return sendJSON(res, 400, { error: `invalid JSON: ${e.message}` }); }
  const q = Object.fromEntries(url.searchParams);
  const ok = (o, st = 200) => sendJSON(res, st, o);
  try {
    switch (`${req.method} ${path}`) {
      case 'GET /_sim/health': return ok({ ok: true });
      case 'POST /_sim/orders': {
        const list = body.count ? store.flashSale(Number(body.count), body) : [store.createOrder(body)];
        scheduleSave();
        return ok({ orders: list.map((o) => ({ id: gid('Order', o.id), legacyResourceId: o.id, name: o.name, email: o.email,
          fulfillmentOrders: o.fulfillmentOrderIds.map((f) => gid('FulfillmentOrder', f)), lineItems: o.lineItems.map((l) => ({ id: gid('LineItem', l.id), sku: l.sku, quantity: l.quantity })) })) }, 201);
      }
      case 'POST /_sim/products': {
        const p = store.createProductInternal({ ...body, variants: body.variants ?? [{ sku: body.sku, price: body.price ?? '0.00', barcode: body.barcode }] }, { stock: false });
        for (const [loc, n] of Object.entries(body.stock ?? {})) for (const vid of p.variantIds) store.setStock(store.variants.get(vid).sku, loc, { available: n });
        scheduleSave();
        return ok({ id: gid('Product', p.id), legacyResourceId: p.id, variants: p.variantIds.map((v) => ({ id: gid('ProductVariant', v), sku: store.variants.get(v).sku, inventoryItemId: gid('InventoryItem', store.variants.get(v).inventoryItemId) })) }, 201);
      }
      case 'POST /_sim/inventory': {
        const changes = body.changes ?? [body];
        const out = changes.map((c) => { const l = store.setStock(c.sku, c.location, c); return { sku: c.sku, location: store.locations.get(l.locationId).code, available: l.q.available, on_hand: store.onHand(l) }; });
        scheduleSave();
        return ok({ levels: out });
      }
      case 'GET /_sim/state': return ok(stateView());
      case 'GET /_sim/requests': return ok({ requests: requests.filter((r) => r.seq > Number(q.since ?? 0)) });
      case 'GET /_sim/webhooks': return ok({ pending: webhooks.pending, deliveries: webhooks.deliveries({ topic: q.topic, since: Number(q.since ?? 0), body: q.body === '1' || q.body === 'true' }) });
      case 'POST /_sim/webhooks/flush': { const done = await webhooks.flush(Number(q.timeoutMs ?? body.timeoutMs ?? 60000)); return ok({ flushed: done, pending: webhooks.pending }, done ? 200 : 504); }
      case 'POST /_sim/webhooks/mode': return ok(webhooks.setMode(body));
      case 'POST /_sim/faults': {
        faults = { ...(body.clear ? {} : faults), ...body };
        delete faults.clear;
        if (body.drain) { refill(); bucket.available = 0; delete faults.drain; }
        if (body.available !== undefined) { refill(); bucket.available = Math.min(bucket.max, Number(body.available)); delete faults.available; }
        return ok({ faults });
      }
      case 'POST /_sim/plan': {
        if (body.plan && !PLANS[body.plan]) return ok({ error: `plan must be one of ${Object.keys(PLANS).join(', ')}` }, 422);
        refill();
        if (body.plan) { bucket.plan = body.plan; bucket.restore = PLANS[body.plan]; bucket.max = bucket.restore * 20; }
        if (body.restoreRate) bucket.restore = Number(body.restoreRate);
        if (body.maximumAvailable) bucket.max = Number(body.maximumAvailable);
        bucket.available = body.currentlyAvailable !== undefined ? Number(body.currentlyAvailable) : bucket.max;
        return ok({ plan: bucket.plan, maximumAvailable: bucket.max, currentlyAvailable: Math.floor(bucket.available), restoreRate: bucket.restore });
      }
      case 'POST /_sim/reset': {
        store.reset(); webhooks.reset(); faults = {}; requests = []; reqSeq = 0; docs.map.clear();
        bucket.available = bucket.max; bucket.last = Date.now();
        scheduleSave();
        return ok({ reset: true });
      }
      default: {
        const m = /^\/_sim\/bulk\/(\d+)\.jsonl$/.exec(path);
        if (req.method === 'GET' && m) {
          const b = store.bulkOps.get(m[1]);
          if (!b || b.jsonl == null) return ok({ error: 'not found' }, 404);
          res.writeHead(200, { 'Content-Type': 'application/jsonl', 'Content-Length': Buffer.byteLength(b.jsonl) });
          return res.end(b.jsonl);
        }
        return ok({ error: `no such control endpoint: ${req.method} ${path}` }, 404);
      }
    }
  } catch (e) {
    if (e instanceof UserErr) return ok({ error: e.message, field: e.field }, 422);
    if (e instanceof SyntaxError) return ok({ error: `invalid JSON: ${e.message}` }, 400);
    log.error(`control ${path}: ${e.stack}`);
    return ok({ error: e.message }, 500);
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const path = url.pathname;
  log.debug(`${req.method} ${path}`);
  try {
    if (path.startsWith('/_sim/')) return await control(req, res, path, url);
    const m = /^\/admin\/api\/([^/]+)\/graphql\.json$/.exec(path);
    if (m) {
      if (req.method !== 'POST') return sendJSON(res, 405, { errors: 'Method Not Allowed' }, { Allow: 'POST' });
      if (!/^(\d{4}-\d{2}|unstable)$/.test(m[1])) return sendJSON(res, 404, { errors: 'Not Found' });
      return await graphql(req, res, m[1]);
    }
    if (path.startsWith('/admin/')) return sendJSON(res, 404, { errors: 'Not Found' });
    sendJSON(res, 404, { errors: 'Not Found' });
  } catch (e) {
    log.error(`${req.method} ${path}: ${e.stack}`);
    if (!res.headersSent) sendJSON(res, 500, { errors: 'Internal Server Error' });
  }
});
server.keepAliveTimeout = 65000;

const port = await listen(server, opts.port);
baseUrl = `http://127.0.0.1:${port}`;
log.info(`listening on ${baseUrl} shop=${opts.shop} plan=${bucket.plan} webhook-url=${opts['webhook-url'] ?? '-'}`);
announceReady(baseUrl, async () => {
  await closeServer(server);
  if (opts.state) { clearTimeout(saveTimer); store.save(opts.state); }
}, log);
