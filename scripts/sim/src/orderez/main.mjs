// OrderEZ REST simulator (ORDEREZ_PROFILE.md): bearer auth, data/meta/error envelopes,
// pagination, filters, uniqueness rules, token-bucket rate limit, faults, control API.
import http from 'node:http';
import { parseArgs, logger, announceReady } from '../lib/cli.mjs';
import { readBody, sendJSON, listen, closeServer, sleep, router } from '../lib/http.mjs';
import { OrderEZStore, ApiError, Invalid, STATUSES } from './store.mjs';

const opts = parseArgs(process.argv.slice(2), {
  port: { type: 'int', default: 0, min: 0, help: 'port on 127.0.0.1 (0 = pick a free one)' },
  token: { type: 'string', default: 'test-token', help: 'bearer token with full access' },
  'read-token': { type: 'string', default: undefined, help: 'bearer token limited to GET (writes answer 403)' },
  rate: { type: 'number', default: 10, min: 0.001, help: 'token-bucket refill, requests per second' },
  burst: { type: 'int', default: 20, min: 1, help: 'token-bucket size' },
  verbose: { type: 'bool', default: false, help: 'log every request' },
}, 'scripts/sim/orderez');
const log = logger('orderez-sim', opts.verbose);
const store = new OrderEZStore();
const tokens = new Map([[opts.token, 'full']]);
if (opts['read-token']) tokens.set(opts['read-token'], 'read');

// ---------- token bucket
const limiter = { rate: opts.rate, burst: opts.burst, tokens: opts.burst, last: Date.now() };
function take() {
  const now = Date.now();
  limiter.tokens = Math.min(limiter.burst, limiter.tokens + ((now - limiter.last) / 1000) * limiter.rate);
  limiter.last = now;
  if (limiter.tokens >= 1) { limiter.tokens -= 1; return 0; }
  return Math.max(1, Math.ceil((1 - limiter.tokens) / limiter.rate));
}

let faults = {};
let requests = [], seq = 0;
const err = (status, type, message, extra = {}) => ({ status, body: { error: { message, type, ...extra } } });

// ---------- pagination and filters
function page(q, list, view) {
  const f = {};
  const pg = q.page === undefined ? 1 : Number(q.page);
  const lim = q.limit === undefined ? 50 : Number(q.limit);
  if (!Number.isInteger(pg) || pg < 1) f.page = ['page must be a positive integer'];
  if (!Number.isInteger(lim) || lim < 1 || lim > 100) f.limit = ['limit must be an integer between 1 and 100'];
  if (Object.keys(f).length) throw new Invalid(f);
  const total = list.length;
  return { status: 200, body: { data: list.slice((pg - 1) * lim, pg * lim).map(view), meta: { page: pg, limit: lim, total, totalPages: Math.ceil(total / lim) } } };
}
function dateParam(q, name) {
  if (q[name] === undefined) return null;
  const t = Date.parse(q[name]);
  if (!/^\d{4}-\d{2}-\d{2}/.test(q[name]) || Number.isNaN(t)) throw new Invalid({ [name]: [`${name} must be a valid ISO 8601 date string`] });
  return t;
}
function boolParam(q, name) {
  if (q[name] === undefined) return null;
  if (q[name] !== 'true' && q[name] !== 'false') throw new Invalid({ [name]: [`${name} must be a boolean value`] });
  return q[name] === 'true';
}
function intParam(q, name) {
  if (q[name] === undefined) return null;
  if (!/^\d+$/.test(q[name])) throw new Invalid({ [name]: [`${name} must be an integer number`] });
  return Number(q[name]);
}
const ok = (data, status = 200) => ({ status, body: { data } });
const S = store;

const api = router([
  ['GET', '/distributor/outlets', (p, q) => {
    const search = q.search?.toLowerCase();
    return page(q, [...S.outlets.values()].filter((o) => (!search || o.name.toLowerCase().includes(search) || (o.email ?? '').toLowerCase().includes(search))
      && (q.externalRef === undefined || o.externalRef === q.externalRef)), (o) => S.outletView(o));
  }],
  ['POST', '/distributor/outlets', (p, q, b) => ok(S.outletView(S.createOutlet(b)), 201)],
  ['GET', '/distributor/outlets/:id', (p) => ok(S.outletView(S.outlet(p.id)))],
  ['PATCH', '/distributor/outlets/:id', (p, q, b) => ok(S.outletView(S.updateOutlet(p.id, b)))],
  ['GET', '/distributor/outlets/:id/contacts', (p, q) => { const o = S.outlet(p.id); return page(q, [...S.contacts.values()].filter((c) => c.outletId === o.id), (c) => c); }],
  ['POST', '/distributor/outlets/:id/contacts', (p, q, b) => ok(S.createContact(p.id, b), 201)],
  ['GET', '/distributor/products', (p, q) => {
    const search = q.search?.toLowerCase();
    const active = boolParam(q, 'active');
    return page(q, [...S.products.values()].filter((x) => (!search || x.name.toLowerCase().includes(search) || x.sku.toLowerCase().includes(search))
      && (q.sku === undefined || x.sku === q.sku) && (active === null || x.active === active)), (x) => S.productView(x));
  }],
  ['POST', '/distributor/products', (p, q, b) => ok(S.productView(S.createProduct(b)), 201)],
  ['GET', '/distributor/products/:id', (p) => ok(S.productView(S.product(p.id)))],
  ['PATCH', '/distributor/products/:id', (p, q, b) => ok(S.productView(S.updateProduct(p.id, b)))],
  ['GET', '/distributor/orders', (p, q) => {
    const statuses = q.status?.split(',');
    if (statuses) for (const s of statuses) if (!STATUSES.includes(s)) throw new Invalid({ status: [`status must be one of the following values: ${STATUSES.join(', ')}`] });
    const outletId = intParam(q, 'outletId');
    const from = dateParam(q, 'from'), to = dateParam(q, 'to'), since = dateParam(q, 'updatedSince');
    return page(q, [...S.orders.values()].filter((o) => (!statuses || statuses.includes(o.status)) && (outletId === null || o.outletId === outletId)
      && (from === null || o.createdAt >= from) && (to === null || o.createdAt <= to) && (since === null || o.updatedAt >= since)
      && (q.externalRef === undefined || o.externalRef === q.externalRef)), (o) => S.orderView(o));
  }],
  ['POST', '/distributor/orders', (p, q, b) => ok(S.orderView(S.createOrder(b)), 201)],
  ['GET', '/distributor/orders/:id', (p) => ok(S.orderView(S.order(p.id)))],
  ['POST', '/distributor/orders/:id/cancel', (p, q, b) => ok(S.orderView(S.cancelOrder(p.id, b)))],
  ['GET', '/distributor/orders/:id/shipments', (p, q) => { const o = S.order(p.id); return page(q, [...S.shipments.values()].filter((s) => s.orderId === o.id), (s) => S.shipmentView(s)); }],
  ['GET', '/distributor/warehouses', (p, q) => page(q, [...S.warehouses.values()], (w) => w)],
  ['GET', '/distributor/stock', (p, q) => {
    const wh = intParam(q, 'warehouseId');
    const since = dateParam(q, 'updatedSince');
    return page(q, [...S.stock.values()].filter((r) => (q.sku === undefined || r.sku === q.sku) && (wh === null || r.warehouseId === wh) && (since === null || r.updatedAt >= since))
      .sort((a, b) => (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : a.warehouseId - b.warehouseId)), (r) => S.stockView(r));
  }],
  ['POST', '/distributor/stock/adjustments', (p, q, b) => ok(S.stockView(S.adjustStock(b)), 201)],
  ['GET', '/distributor/categories', (p, q) => page(q, [{ id: 1, name: 'Coffee & Tea' }, { id: 2, name: 'Beverages' }, { id: 3, name: 'Apparel & Accessories' }, { id: 4, name: 'Equipment' }], (c) => c)],
]);

async function handleApi(req, res, url) {
  const started = process.hrtime.bigint();
  const q = Object.fromEntries(url.searchParams);
  const rec = { at: new Date().toISOString(), method: req.method, path: url.pathname, query: q, body: null, status: 0, rateLimited: false, fault: null, durationMs: 0 };
  const raw = await readBody(req).catch(() => Buffer.alloc(0));
  if (raw.length) { try { rec.body = JSON.parse(raw.toString('utf8')); } catch { rec.body = raw.toString('utf8').slice(0, 2000); } }
  const send = (r, headers = {}) => {
    rec.status = r.status; rec.durationMs = Number(process.hrtime.bigint() - started) / 1e6;
    rec.seq = ++seq; requests.push(rec);
    if (requests.length > 50000) requests.splice(0, requests.length - 50000);
    sendJSON(res, r.status, r.body, headers);
  };
  const now = Date.now();
  if (faults.outageUntil > now) { rec.fault = 'outage'; return send(err(503, 'internal', 'Service temporarily unavailable'), { 'Retry-After': String(Math.ceil((faults.outageUntil - now) / 1000)) }); }
  if (faults.stormUntil > now) {
    rec.rateLimited = true; rec.fault = 'storm';
    const after = Math.max(1, Math.ceil((faults.stormUntil - now) / 1000));
    return send(err(429, 'rate_limited', `Too many requests, retry in ${after} seconds`), { 'Retry-After': String(after) });
  }
  const wait = take();
  if (wait) { rec.rateLimited = true; return send(err(429, 'rate_limited', `Rate limit of ${limiter.rate} requests per second exceeded, retry in ${wait} seconds`), { 'Retry-After': String(wait) }); }
  if (faults.latencyMs) await sleep(faults.latencyMs);
  const auth = req.headers.authorization ?? '';
  const m = /^Bearer\s+(\S+)$/i.exec(auth);
  const scope = m ? tokens.get(m[1]) : undefined;
  if (!scope) return send(err(401, 'unauthorized', m ? 'Invalid access token' : 'Missing bearer token'), { 'WWW-Authenticate': 'Bearer' });
  if (faults.errorRate && Math.random() < faults.errorRate) { rec.fault = '5xx'; return send(err(faults.errorStatus ?? 500, 'internal', 'Internal server error')); }
  const route = api(req.method, url.pathname);
  if (!route) return send(err(404, 'not_found', `No route for ${req.method} ${url.pathname}`));
  if (route.methodNotAllowed) return send(err(405, 'method_not_allowed', `Method ${req.method} not allowed on ${url.pathname}`));
  if (scope === 'read' && req.method !== 'GET') return send(err(403, 'forbidden', 'This token is not allowed to modify resources'));
  let body = {};
  if (['POST', 'PATCH', 'PUT'].includes(req.method) && raw.length) {
    if (typeof rec.body !== 'object' || rec.body === null || Array.isArray(rec.body)) return send(err(400, 'bad_request', 'Request body must be a JSON object'));
    body = rec.body;
  }
  try {
    send(route.handler(route.params, q, body));
  } catch (e) {
    if (e instanceof Invalid) return send({ status: 422, body: { error: { fields: e.fields, type: 'UnprocessableEntity' } } });
    if (e instanceof ApiError) return send(err(e.status, e.type, e.message, e.extra));
    log.error(`${req.method} ${url.pathname}: ${e.stack}`);
    send(err(500, 'internal', 'Internal server error'));
  }
}

// ---------- control API
let port = 0;
function outage(seconds, mode) {
  const ms = seconds * 1000;
  if (mode === '503') { faults.outageUntil = Date.now() + ms; return; }
  // Connection refused: stop listening (control API too) and listen again on the same port.
  server.close();
  server.closeAllConnections();
  setTimeout(() => server.listen(port, '127.0.0.1', () => log.info('outage over, listening again')), ms);
}

async function control(req, res, url) {
  const path = url.pathname;
  const q = Object.fromEntries(url.searchParams);
  let b = {};
  const raw = await readBody(req);
  if (raw.length) { try { b = JSON.parse(raw.toString('utf8')); } catch (e) { return sendJSON(res, 400, { error: `invalid JSON: ${e.message}` }); } }
  const reply = (o, st = 200) => sendJSON(res, st, o);
  let m;
  try {
    if (req.method === 'GET' && path === '/_sim/health') return reply({ ok: true });
    if (req.method === 'GET' && path === '/_sim/requests') return reply({ requests: requests.filter((r) => r.seq > Number(q.since ?? 0)) });
    if (req.method === 'GET' && path === '/_sim/state') {
      return reply({ outlets: [...S.outlets.values()].map((o) => S.outletView(o)), contacts: [...S.contacts.values()], products: [...S.products.values()].map((p) => S.productView(p)),
        orders: [...S.orders.values()].map((o) => ({ ...S.orderView(o), shipments: [...S.shipments.values()].filter((s) => s.orderId === o.id).map((s) => S.shipmentView(s)) })),
        warehouses: [...S.warehouses.values()], stock: [...S.stock.values()].map((r) => S.stockView(r)),
        rateLimit: { rate: limiter.rate, burst: limiter.burst, tokens: Math.floor(limiter.tokens) }, faults });
    }
    if (req.method === 'POST' && path === '/_sim/reset') { S.reset(); requests = []; seq = 0; faults = {}; Object.assign(limiter, { tokens: limiter.burst, last: Date.now() }); return reply({ reset: true }); }
    if (req.method === 'POST' && path === '/_sim/faults') {
      if (b.clear) faults = {};
      if (b.latencyMs !== undefined) faults.latencyMs = Number(b.latencyMs);
      if (b.errorRate !== undefined) faults.errorRate = Number(b.errorRate);
      if (b.errorStatus !== undefined) faults.errorStatus = Number(b.errorStatus);
      if (b.storm429Seconds) faults.stormUntil = Date.now() + Number(b.storm429Seconds) * 1000;
      const reported = { ...faults };
      if (b.outageSeconds) {
        const mode = b.outageMode ?? 'refuse';
        if (!['refuse', '503'].includes(mode)) return reply({ error: 'outageMode must be refuse or 503' }, 422);
        reported.outage = { seconds: b.outageSeconds, mode };
        if (mode === 'refuse') { res.on('finish', () => outage(Number(b.outageSeconds), mode)); res.shouldKeepAlive = false; }
        else outage(Number(b.outageSeconds), mode);
      }
      return reply({ faults: reported });
    }
    if (req.method === 'POST' && path === '/_sim/ratelimit') {
      if (b.rate !== undefined) limiter.rate = Number(b.rate);
      if (b.burst !== undefined) limiter.burst = Number(b.burst);
      limiter.tokens = b.tokens !== undefined ? Number(b.tokens) : limiter.burst; limiter.last = Date.now();
      return reply({ rate: limiter.rate, burst: limiter.burst, tokens: limiter.tokens });
    }
    if (req.method === 'POST' && path === '/_sim/tokens') {
      if (!b.token || !['full', 'read'].includes(b.scope ?? 'full')) return reply({ error: 'need {token, scope: full|read}' }, 422);
      tokens.set(b.token, b.scope ?? 'full');
      return reply({ tokens: [...tokens.values()].length });
    }
    if (req.method === 'POST' && path === '/_sim/orders') {
      const o = S.createOrder({ outletId: b.outletId ?? S.outlets.keys().next().value, ...b, lineItems: b.lineItems ?? b.lines }, { status: b.status ?? 'pending' });
      return reply({ data: S.orderView(o) }, 201);
    }
    if (req.method === 'POST' && (m = /^\/_sim\/orders\/(\d+)\/status$/.exec(path))) return reply({ data: S.orderView(S.setStatus(m[1], b.status, b)) });
    if (req.method === 'POST' && (m = /^\/_sim\/orders\/(\d+)\/shipments$/.exec(path))) {
      const s = S.addShipment(m[1], b);
      return reply({ data: S.shipmentView(s), order: S.orderView(S.order(m[1])) }, 201);
    }
    if ((req.method === 'POST' || req.method === 'PATCH') && (m = /^\/_sim\/shipments\/(\d+)$/.exec(path))) return reply({ data: S.shipmentView(S.updateShipment(m[1], b)) });
    if (req.method === 'POST' && path === '/_sim/stock') {
      const wh = S.warehouse(b.warehouseId ?? b.warehouse);
      const r = S.adjustStock({ sku: b.sku, warehouseId: wh?.id ?? b.warehouseId ?? b.warehouse, ...(b.onHand !== undefined ? { setTo: b.onHand } : { delta: b.delta }) });
      if (b.reserved !== undefined) r.reserved = Number(b.reserved);
      return reply({ data: S.stockView(r) });
    }
    if (req.method === 'POST' && path === '/_sim/warehouses') return reply({ data: S.addWarehouse(b) }, 201);
    if (req.method === 'POST' && path === '/_sim/products') {
      const p = S.createProduct(b);
      for (const [wh, n] of Object.entries(b.stock ?? {})) S.adjustStock({ sku: p.sku, warehouseId: S.warehouse(wh)?.id ?? wh, setTo: n });
      return reply({ data: S.productView(p) }, 201);
    }
    if (req.method === 'POST' && path === '/_sim/outlets') return reply({ data: S.outletView(S.createOutlet(b)) }, 201);
    return reply({ error: `no such control endpoint: ${req.method} ${path}` }, 404);
  } catch (e) {
    if (e instanceof Invalid) return reply({ error: { fields: e.fields, type: 'UnprocessableEntity' } }, 422);
    if (e instanceof ApiError) return reply({ error: { message: e.message, type: e.type, ...e.extra } }, e.status);
    log.error(`control ${path}: ${e.stack}`);
    return reply({ error: e.message }, 500);
  }
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  log.debug(`${req.method} ${url.pathname}`);
  try {
    if (url.pathname.startsWith('/_sim/')) return await control(req, res, url);
    await handleApi(req, res, url);
  } catch (e) {
    log.error(`${req.method} ${url.pathname}: ${e.stack}`);
    if (!res.headersSent) sendJSON(res, 500, { error: { message: 'Internal server error', type: 'internal' } });
  }
});
server.keepAliveTimeout = 65000;
port = await listen(server, opts.port);
const base = `http://127.0.0.1:${port}`;
log.info(`listening on ${base} rate=${limiter.rate}/s burst=${limiter.burst}`);
announceReady(base, () => closeServer(server), log);
