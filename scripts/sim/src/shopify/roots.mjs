// Root Query and Mutation resolvers: what ezsync uses. Anything else answers "not simulated".
import { execute, Kind, getNamedType } from 'graphql';
import { gid, parseGid, UserErr } from './store.mjs';
import * as V from './views.mjs';
import { matcher } from './search.mjs';
import { idempotentKey, selectOperation } from './gql.mjs';

const DATES = new Set(['updated_at', 'created_at', 'processed_at']);

export function topicToRest(e) {
  const multi = ['INVENTORY_LEVELS', 'INVENTORY_ITEMS', 'FULFILLMENT_ORDERS', 'FULFILLMENT_EVENTS', 'FULFILLMENT_HOLDS', 'BULK_OPERATIONS', 'DRAFT_ORDERS',
    'ORDER_TRANSACTIONS', 'CUSTOMER_GROUPS', 'CUSTOMER_PAYMENT_METHODS', 'SELLING_PLAN_GROUPS', 'SUBSCRIPTION_CONTRACTS', 'SUBSCRIPTION_BILLING_ATTEMPTS',
    'APP_SUBSCRIPTIONS', 'PAYMENT_TERMS', 'PRODUCT_LISTINGS', 'PRODUCT_FEEDS', 'CUSTOMER_ACCOUNT_SETTINGS', 'TAX_PARTNERS', 'TAX_SERVICES', 'PAYMENT_SCHEDULES', 'INVENTORY_TRANSFERS', 'INVENTORY_SHIPMENTS'];
  const p = multi.find((m) => e.startsWith(m + '_'));
  const head = p ?? e.split('_')[0];
  return `${head.toLowerCase()}/${e.slice(head.length + 1).toLowerCase()}`;
}

function payload(fn, key = 'userErrors', nulls = {}) {
  try { return { [key]: [], ...fn() }; } catch (e) {
    if (!(e instanceof UserErr)) throw e;
    const err = { field: e.field, message: e.message, code: e.code };
    if (e.elementIndex !== undefined) err.elementIndex = e.elementIndex;
    return { ...nulls, [key]: [err] };
  }
}

function stable(v) {
  if (Array.isArray(v)) return '[' + v.map(stable).join(',') + ']';
  if (v && typeof v === 'object') return '{' + Object.keys(v).sort().map((k) => JSON.stringify(k) + ':' + stable(v[k])).join(',') + '}';
  return JSON.stringify(v ?? null);
}

// @idempotent(key:) is mandatory for these mutations since 2026-04 (research §2.2).
function idempotent(name, args, info, ctx, run, rebuild) {
  const key = idempotentKey(ctx.schema, info.fieldNodes[0], info.variableValues);
  if (!key) throw V.gqlError(`The @idempotent directive is required for the ${name} mutation.`, 'IDEMPOTENCY_KEY_REQUIRED');
  const s = ctx.store;
  const fp = name + stable(args);
  const prev = s.idempotency.get(key);
  if (prev) {
    if (prev.fp !== fp) return { userErrors: [{ field: null, message: 'The same idempotency key cannot be used with different operation parameters.', code: 'IDEMPOTENCY_KEY_PARAMETER_MISMATCH' }] };
    if (prev.failed) return { userErrors: [{ field: null, message: 'A previous request with this idempotency key failed. Retry with a new idempotency key.', code: 'IDEMPOTENCY_PREVIOUS_ATTEMPT_FAILED' }] };
    ctx.idempotentReplay = true;
    return rebuild(prev.ref);
  }
  const out = run();
  s.idempotency.set(key, { fp, ref: out.ref ?? null, failed: out.userErrors?.length > 0, at: Date.now() });
  delete out.ref;
  return out;
}

export function queryRoot(ctx) {
  const s = ctx.store;
  const all = (m) => [...m.values()];
  return {
    shop: () => V.shop(s, ctx),
    node: ({ id }) => nodeById(s, id, ctx),
    nodes: ({ ids }) => ids.map((id) => nodeById(s, id, ctx)),
    order: ({ id }) => V.order(s, s.orders.get(parseGid(id, 'Order')), ctx),
    orders: (args) => {
      const f = matcher(args.query, {
        updated_at: (o) => o.updatedAt, created_at: (o) => o.createdAt, processed_at: (o) => o.processedAt, name: (o) => [o.name, o.name.slice(1)],
        email: (o) => o.email, financial_status: (o) => o.financialStatus, fulfillment_status: (o) => s.fulfillmentStatus(o) === 'fulfilled' ? ['shipped', 'fulfilled'] : s.fulfillmentStatus(o) === 'partial' ? ['partial', 'unshipped'] : ['unshipped', 'unfulfilled'],
        status: (o) => (o.cancelledAt ? ['cancelled', 'closed', 'any'] : o.closedAt ? ['closed', 'any'] : ['open', 'any']), tag: (o) => o.tags, tag_not: (o) => o.tags,
        sku: (o) => o.lineItems.map((l) => l.sku), customer_id: (o) => o.customerId, id: (o) => o.id, source_name: (o) => o.sourceName, test: (o) => String(o.test),
        location_id: (o) => o.lineItems.map((l) => l.locationId), fulfillment_location_id: (o) => o.fulfillmentOrderIds.map((x) => s.fulfillmentOrders.get(x).locationId),
      }, (o) => `${o.name} ${o.email ?? ''}`, DATES);
      const sortKey = { PROCESSED_AT: 'processedAt', CREATED_AT: 'createdAt', UPDATED_AT: 'updatedAt', ID: null, ORDER_NUMBER: 'number' }[args.sortKey];
      let list = all(s.orders).filter(f);
      if (sortKey) list = list.map((o, i) => [o, i]).sort((a, b) => (a[0][sortKey] - b[0][sortKey]) || (a[1] - b[1])).map((x) => x[0]);
      return V.connection(list, args, ctx, (o) => V.order(s, o, ctx));
    },
    ordersCount: (args) => ({ count: all(s.orders).filter(matcher(args.query, { updated_at: (o) => o.updatedAt, created_at: (o) => o.createdAt }, () => '', DATES)).length, precision: 'EXACT' }),
    fulfillmentOrder: ({ id }) => V.fulfillmentOrder(s, s.fulfillmentOrders.get(parseGid(id, 'FulfillmentOrder')), ctx),
    fulfillmentOrders: (args) => V.connection(all(s.fulfillmentOrders).filter((f) => args.includeClosed || f.status !== 'CLOSED')
      .filter(matcher(args.query, { status: (f) => f.status, assigned_location_id: (f) => f.locationId, updated_at: (f) => f.updatedAt }, () => '', DATES)), args, ctx, (f) => V.fulfillmentOrder(s, f, ctx)),
    fulfillment: ({ id }) => V.fulfillment(s, s.fulfillments.get(parseGid(id, 'Fulfillment')), ctx),
    location: ({ id }) => V.location(s, id ? s.locations.get(parseGid(id, 'Location')) : s.primaryLocation(), ctx),
    locations: (args) => V.connection(all(s.locations).filter((l) => args.includeInactive || l.isActive)
      .filter(matcher(args.query, { name: (l) => l.name, id: (l) => l.id, active: (l) => String(l.isActive) }, (l) => l.name)), args, ctx, (l) => V.location(s, l, ctx)),
    inventoryItem: ({ id }) => V.inventoryItem(s, s.items.get(parseGid(id, 'InventoryItem')), ctx),
    inventoryItems: (args) => V.connection(all(s.items).filter(matcher(args.query, { sku: (i) => s.variants.get(i.variantId)?.sku, id: (i) => i.id, updated_at: (i) => i.updatedAt, created_at: (i) => i.createdAt }, (i) => s.variants.get(i.variantId)?.sku ?? '', DATES)), args, ctx, (i) => V.inventoryItem(s, i, ctx)),
    inventoryLevel: ({ id }) => {
      const m = /^gid:\/\/shopify\/InventoryLevel\/(\d+)\?inventory_item_id=(\d+)$/.exec(id);
      return m ? V.level(s, s.level(m[2], m[1]), ctx) : null;
    },
    inventoryProperties: () => ({ quantityNames: ['available', 'on_hand', 'committed', 'reserved', 'incoming', 'damaged', 'safety_stock', 'quality_control'].map((name) => ({
      name, displayName: name.replace(/_/g, ' ').replace(/^\w/, (c) => c.toUpperCase()), isInUse: true, belongsTo: name === 'on_hand' ? [] : name === 'incoming' ? [] : ['on_hand'],
      comprises: name === 'on_hand' ? ['available', 'committed', 'damaged', 'quality_control', 'reserved', 'safety_stock'] : [] })) }),
    product: ({ id }) => V.product(s, s.products.get(parseGid(id, 'Product')), ctx),
    products: (args) => V.connection(all(s.products).filter(matcher(args.query, { title: (p) => p.title, handle: (p) => p.handle, status: (p) => p.status, vendor: (p) => p.vendor,
      product_type: (p) => p.productType, tag: (p) => p.tags, sku: (p) => p.variantIds.map((v) => s.variants.get(v).sku), updated_at: (p) => p.updatedAt, created_at: (p) => p.createdAt, id: (p) => p.id },
    (p) => p.title, DATES)), args, ctx, (p) => V.product(s, p, ctx)),
    productsCount: (args) => ({ count: all(s.products).filter(matcher(args.query, { status: (p) => p.status })).length, precision: 'EXACT' }),
    productVariant: ({ id }) => V.variant(s, s.variants.get(parseGid(id, 'ProductVariant')), ctx),
    productVariants: (args) => V.connection(all(s.variants).filter(matcher(args.query, { sku: (v) => v.sku, barcode: (v) => v.barcode, product_id: (v) => v.productId,
      updated_at: (v) => v.updatedAt, id: (v) => v.id, title: (v) => v.title }, (v) => `${v.sku ?? ''} ${v.title}`, DATES)), args, ctx, (v) => V.variant(s, v, ctx)),
    customer: ({ id }) => V.customer(s, s.customers.get(parseGid(id, 'Customer')), ctx),
    customers: (args) => V.connection(all(s.customers).filter(matcher(args.query, { email: (c) => c.email, phone: (c) => c.phone, tag: (c) => c.tags,
      updated_at: (c) => c.updatedAt, created_at: (c) => c.createdAt, id: (c) => c.id, first_name: (c) => c.firstName, last_name: (c) => c.lastName, country: (c) => c.addresses.map((a) => a.country) },
    (c) => `${c.firstName ?? ''} ${c.lastName ?? ''} ${c.email ?? ''}`, DATES)), args, ctx, (c) => V.customer(s, c, ctx)),
    customersCount: () => ({ count: s.customers.size, precision: 'EXACT' }),
    job: ({ id }) => {
      const j = s.jobs.get(parseGid(id, 'Job'));
      return j ? { __typename: 'Job', id: gid('Job', j.id), done: j.done, query: () => queryRoot(ctx) } : null;
    },
    bulkOperation: ({ id }) => V.bulkOp(s, s.bulkOps.get(parseGid(id, 'BulkOperation'))),
    bulkOperations: (args) => V.connection(all(s.bulkOps).filter(matcher(args.query, { status: (b) => b.status, operation_type: () => 'QUERY' })).reverse(), args, ctx, (b) => V.bulkOp(s, b)),
    currentBulkOperation: () => V.bulkOp(s, all(s.bulkOps).at(-1)),
    webhookSubscription: ({ id }) => V.subscription(s, s.subscriptions.get(parseGid(id, 'WebhookSubscription'))),
    webhookSubscriptions: (args) => V.connection(all(s.subscriptions).filter((w) => (!args.topics || args.topics.includes(w.topic)) && (!args.uri || w.uri === args.uri)
      && (!args.callbackUrl || w.uri === args.callbackUrl) && (!args.format || w.format === args.format)), args, ctx, (w) => V.subscription(s, w)),
  };
}

function nodeById(s, id, ctx) {
  const m = /^gid:\/\/shopify\/(\w+)\/(\d+)/.exec(String(id));
  if (!m) return null;
  const [, type, n] = m;
  switch (type) {
    case 'Order': return V.order(s, s.orders.get(n), ctx);
    case 'Product': return V.product(s, s.products.get(n), ctx);
    case 'ProductVariant': return V.variant(s, s.variants.get(n), ctx);
    case 'Customer': return V.customer(s, s.customers.get(n), ctx);
    case 'Location': return V.location(s, s.locations.get(n), ctx);
    case 'InventoryItem': return V.inventoryItem(s, s.items.get(n), ctx);
    case 'FulfillmentOrder': return V.fulfillmentOrder(s, s.fulfillmentOrders.get(n), ctx);
    case 'Fulfillment': return V.fulfillment(s, s.fulfillments.get(n), ctx);
    case 'Refund': return V.refund(s, s.refunds.get(n), ctx);
    case 'BulkOperation': return V.bulkOp(s, s.bulkOps.get(n));
    case 'WebhookSubscription': return V.subscription(s, s.subscriptions.get(n));
    case 'InventoryLevel': { const q = /\?inventory_item_id=(\d+)/.exec(id); return q ? V.level(s, s.level(q[1], n), ctx) : null; }
    default: throw V.gqlError(`not simulated: node(id:) for ${type}`, 'NOT_SIMULATED');
  }
}

export function mutationRoot(ctx) {
  const s = ctx.store;
  return {
    fulfillmentCreate: ({ fulfillment, message }) => payload(() => ({ fulfillment: V.fulfillment(s, s.fulfillmentCreate(fulfillment, message), ctx) }), 'userErrors', { fulfillment: null }),
    fulfillmentTrackingInfoUpdate: ({ fulfillmentId, trackingInfoInput, notifyCustomer }) => payload(() => ({ fulfillment: V.fulfillment(s, s.trackingUpdate(fulfillmentId, trackingInfoInput, notifyCustomer), ctx) }), 'userErrors', { fulfillment: null }),
    fulfillmentOrderMove: ({ id, newLocationId, fulfillmentOrderLineItems }) => payload(() => {
      const r = s.fulfillmentOrderMove(id, newLocationId, fulfillmentOrderLineItems);
      return { movedFulfillmentOrder: V.fulfillmentOrder(s, r.moved, ctx), originalFulfillmentOrder: V.fulfillmentOrder(s, r.original, ctx), remainingFulfillmentOrder: V.fulfillmentOrder(s, r.remaining, ctx) };
    }, 'userErrors', { movedFulfillmentOrder: null, originalFulfillmentOrder: null, remainingFulfillmentOrder: null }),
    inventorySetQuantities: (args, _c, info) => idempotent('inventorySetQuantities', args, info, ctx,
      () => { const r = payload(() => { const g = s.inventorySet(args.input); return { ref: g.id, inventoryAdjustmentGroup: V.adjustmentGroup(s, g, ctx) }; }, 'userErrors', { inventoryAdjustmentGroup: null }); return r; },
      (ref) => ({ userErrors: [], inventoryAdjustmentGroup: V.adjustmentGroup(s, s.adjustmentGroups.get(ref), ctx) })),
    inventoryAdjustQuantities: (args, _c, info) => idempotent('inventoryAdjustQuantities', args, info, ctx,
      () => payload(() => { const g = s.inventoryAdjust(args.input); return { ref: g.id, inventoryAdjustmentGroup: V.adjustmentGroup(s, g, ctx) }; }, 'userErrors', { inventoryAdjustmentGroup: null }),
      (ref) => ({ userErrors: [], inventoryAdjustmentGroup: V.adjustmentGroup(s, s.adjustmentGroups.get(ref), ctx) })),
    refundCreate: (args, _c, info) => idempotent('refundCreate', args, info, ctx,
      () => payload(() => { const r = s.refundCreate(args.input); return { ref: r.id, refund: V.refund(s, r, ctx), order: V.order(s, s.orders.get(r.orderId), ctx) }; }, 'userErrors', { refund: null, order: null }),
      (ref) => { const r = s.refunds.get(ref); return { userErrors: [], refund: V.refund(s, r, ctx), order: V.order(s, s.orders.get(r.orderId), ctx) }; }),
    productCreate: (args) => {
      if (args.input && !args.product) throw V.gqlError('not simulated: productCreate(input:) is deprecated; use productCreate(product:)', 'NOT_SIMULATED');
      return payload(() => ({ product: V.product(s, s.productCreate(args.product ?? {}), ctx), shop: V.shop(s, ctx) }), 'userErrors', { product: null, shop: V.shop(s, ctx) });
    },
    productUpdate: (args) => {
      if (args.input && !args.product) throw V.gqlError('not simulated: productUpdate(input:) is deprecated; use productUpdate(product:)', 'NOT_SIMULATED');
      return payload(() => ({ product: V.product(s, s.productUpdate(args.product ?? {}), ctx) }), 'userErrors', { product: null });
    },
    productDelete: ({ input }) => payload(() => ({ deletedProductId: gid('Product', s.productDelete(input.id)), shop: V.shop(s, ctx), productDeleteOperation: null }), 'userErrors', { deletedProductId: null, shop: V.shop(s, ctx), productDeleteOperation: null }),
    productVariantsBulkUpdate: ({ productId, variants }) => payload(() => {
      const r = s.variantsBulkUpdate(productId, variants);
      return { product: V.product(s, r.product, ctx), productVariants: r.variants.map((v) => V.variant(s, v, ctx)) };
    }, 'userErrors', { product: null, productVariants: null }),
    customerCreate: ({ input }) => payload(() => ({ customer: V.customer(s, s.customerCreate(input), ctx) }), 'userErrors', { customer: null }),
    customerUpdate: ({ input }) => payload(() => ({ customer: V.customer(s, s.customerUpdate(input), ctx) }), 'userErrors', { customer: null }),
    orderCancel: (args) => payload(() => {
      const j = s.orderCancel(args, ctx.cancelDelayMs);
      const job = { __typename: 'Job', id: gid('Job', j.id), done: () => j.done, query: () => queryRoot(ctx) };
      return { job, jobResult: { __typename: 'OrderCancelJobResult', id: gid('OrderCancelJobResult', j.id), done: () => j.done, status: () => (j.done ? 'COMPLETED' : 'IN_PROGRESS'), errors: [], order: () => V.order(s, s.orders.get(parseGid(args.orderId, 'Order')), ctx) }, userErrors: [] };
    }, 'orderCancelUserErrors', { job: null, jobResult: null, userErrors: [] }),
    tagsAdd: ({ id, tags }) => payload(() => ({ node: nodeById(s, gid(s.tagsChange(id, tags, true).type, parseGid(id)), ctx) }), 'userErrors', { node: null }),
    tagsRemove: ({ id, tags }) => payload(() => ({ node: nodeById(s, gid(s.tagsChange(id, tags, false).type, parseGid(id)), ctx) }), 'userErrors', { node: null }),
    metafieldsSet: ({ metafields }) => payload(() => ({ metafields: s.metafieldsSet(metafields).map(V.metafield) }), 'userErrors', { metafields: null }),
    webhookSubscriptionCreate: ({ topic, webhookSubscription }) => payload(() => ({ webhookSubscription: V.subscription(s, s.subscriptionCreate(topic, webhookSubscription, ctx.apiVersion)) }), 'userErrors', { webhookSubscription: null }),
    webhookSubscriptionDelete: ({ id }) => payload(() => {
      const n = parseGid(id, 'WebhookSubscription');
      if (!n || !s.subscriptions.delete(n)) throw new UserErr('Webhook subscription does not exist', ['id']);
      return { deletedWebhookSubscriptionId: id };
    }, 'userErrors', { deletedWebhookSubscriptionId: null }),
    bulkOperationRunQuery: ({ query }) => payload(() => ({ bulkOperation: V.bulkOp(s, startBulk(ctx, query)) }), 'userErrors', { bulkOperation: null }),
  };
}

// ---------- bulk operations: validate, run in the background, serve JSONL with __parentId lines.
function startBulk(ctx, query) {
  const s = ctx.store;
  const d = ctx.docs.get(query);
  if (d.errors) throw new UserErr(`Invalid bulk query: ${d.errors[0].message}`, ['query'], 'INVALID');
  const { op, error } = selectOperation(d.document, undefined);
  if (error || op.operation !== 'query') throw new UserErr('Invalid bulk query: must be a single query operation', ['query'], 'INVALID');
  let conns = 0, maxDepth = 0;
  const walk = (sel, type, depth) => {
    for (const f of sel.selections) {
      if (f.kind !== Kind.FIELD) { if (f.selectionSet) walk(f.selectionSet, f.typeCondition ? ctx.schema.getType(f.typeCondition.name.value) : type, depth); continue; }
      const def = type.getFields?.()[f.name.value];
      if (!def || !f.selectionSet) continue;
      const named = getNamedType(def.type);
      const isConn = named.name.endsWith('Connection');
      if (isConn) { conns++; maxDepth = Math.max(maxDepth, depth + 1); }
      walk(f.selectionSet, named, depth + (isConn ? 1 : 0));
    }
  };
  walk(op.selectionSet, ctx.schema.getQueryType(), 0);
  if (conns === 0) throw new UserErr('Bulk queries must contain at least one connection.', ['query'], 'INVALID');
  if (conns > 5) throw new UserErr('Bulk queries cannot contain more than 5 connections.', ['query'], 'INVALID');
  if (maxDepth > 2) throw new UserErr('Bulk queries cannot contain connections with a nesting depth greater than 2.', ['query'], 'INVALID');
  const running = [...s.bulkOps.values()].filter((b) => b.status === 'CREATED' || b.status === 'RUNNING').length;
  if (running >= 5) throw new UserErr('A bulk query operation for this app and shop is already in progress.', null, 'OPERATION_IN_PROGRESS');
  const b = { id: s.newId(), status: 'CREATED', query, createdAt: Date.now() };
  s.bulkOps.set(b.id, b);
  setTimeout(() => runBulk(ctx, b, d.document), ctx.bulkDelayMs ?? 30);
  return b;
}

function runBulk(ctx, b, document) {
  const s = ctx.store;
  b.status = 'RUNNING';
  try {
    const bctx = { ...ctx, bulk: true };
    const r = execute({ schema: ctx.schema, document, rootValue: queryRoot(bctx), contextValue: bctx, fieldResolver: V.fieldResolver });
    if (r.errors?.length) throw new Error(r.errors[0].message);
    const lines = [];
    let roots = 0;
    const itemsOf = (c) => (Array.isArray(c.edges) ? c.edges.map((e) => e.node) : c.nodes ?? []);
    const isConn = (v) => v && typeof v === 'object' && !Array.isArray(v) && (Array.isArray(v.edges) || Array.isArray(v.nodes));
    const strip = (o, pending) => {
      const out = {};
      for (const [k, v] of Object.entries(o)) {
        if (isConn(v)) pending.push(v);
        else if (v && typeof v === 'object' && !Array.isArray(v)) out[k] = strip(v, pending);
        else out[k] = v;
      }
      return out;
    };
    const emit = (obj, parentId) => {
      const pending = [];
      const line = strip(obj, pending);
      if (parentId) line.__parentId = parentId;
      lines.push(JSON.stringify(line));
      for (const c of pending) for (const n of itemsOf(c)) emit(n, obj.id ?? parentId);
    };
    for (const v of Object.values(r.data)) {
      if (!isConn(v)) continue;
      for (const n of itemsOf(v)) { roots++; emit(n, null); }
    }
    b.jsonl = lines.length ? lines.join('\n') + '\n' : '';
    b.objectCount = lines.length; b.rootObjectCount = roots; b.fileSize = Buffer.byteLength(b.jsonl);
    b.url = lines.length ? `${ctx.baseUrl}/_sim/bulk/${b.id}.jsonl` : null;
    b.status = 'COMPLETED';
  } catch (e) {
    b.status = 'FAILED'; b.errorCode = 'INTERNAL_SERVER_ERROR'; ctx.log?.warn(`bulk ${b.id} failed: ${e.message}`);
  }
  b.completedAt = Date.now();
  s.emit('bulk_operations/finish', { admin_graphql_api_id: gid('BulkOperation', b.id), completed_at: new Date(b.completedAt).toISOString(), created_at: new Date(b.createdAt).toISOString(),
    error_code: b.errorCode ? b.errorCode.toLowerCase() : null, status: b.status.toLowerCase(), type: 'query' }, s.action());
}
