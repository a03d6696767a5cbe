// In-memory Shopify shop: orders, fulfillment orders, fulfillments, refunds, inventory,
// products, customers, metafields, subscriptions. Every change calls `emit(topic, payload,
// eventId)` with the REST-shaped webhook payload built at trigger time (rest.mjs).
// Ids are decimal strings (int64, above 2^53); GIDs are built from them. The mutation-side
// operations live in store-ops.mjs.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { catalog, PRODUCT_DEFS, LOCATIONS, CUSTOMERS, initialStock, prng, randomCustomer } from '../lib/seed.mjs';
import { toCents, fmt, allocate, pct } from './money.mjs';
import * as rest from './rest.mjs';
import { ops } from './store-ops.mjs';

export const QTY_NAMES = ['available', 'committed', 'reserved', 'damaged', 'safety_stock', 'quality_control', 'incoming'];
const ON_HAND_PARTS = ['available', 'committed', 'reserved', 'damaged', 'safety_stock', 'quality_control'];
export const REASONS = ['correction', 'cycle_count_available', 'damaged', 'movement_created', 'movement_updated', 'movement_received',
  'movement_canceled', 'other', 'promotion', 'quality_control', 'received', 'reservation_created', 'reservation_deleted',
  'reservation_updated', 'restock', 'safety_stock', 'shrinkage'];
const TAX_BP = { CA: 1300, US: 0 };
export const CARRIER_URLS = {
  UPS: 'https://www.ups.com/WebTracking?loc=en_US&requester=ST&trackNums=',
  USPS: 'https://tools.usps.com/go/TrackConfirmAction?tLabels=',
  FedEx: 'https://www.fedex.com/fedextrack/?trknbr=',
  'Canada Post': 'https://www.canadapost-postescanada.ca/track-reperage/en#/search?searchFor=',
  'DHL Express': 'https://www.dhl.com/en/express/tracking.html?AWB=',
};

export class UserErr extends Error {
  constructor(message, field = null, code = null) { super(message); this.field = field; this.code = code; }
}

export const gid = (type, id) => `gid://shopify/${type}/${id}`;
export function parseGid(g, type) {
  const m = /^gid:\/\/shopify\/([A-Za-z]+)\/(\d+)(\?.*)?$/.exec(String(g ?? ''));
  if (!m || (type && m[1] !== type)) return null;
  return m[2];
}

export class Store {
  constructor({ shop = 'demo.myshopify.com', seed = 42, emit = () => {}, log } = {}) {
    this.shopDomain = shop;
    this.seed = seed;
    this.emit = emit;
    this.log = log;
    this.reset();
  }

  reset() {
    this.rng = prng(this.seed);
    this.idRng = prng(this.seed + 1);
    this.nextId = 820982911946154508n;
    this.orderNumber = 1001;
    this.customerSerial = 1;
    this.locations = new Map(); this.products = new Map(); this.variants = new Map(); this.items = new Map();
    this.levels = new Map(); this.customers = new Map(); this.orders = new Map(); this.fulfillmentOrders = new Map();
    this.fulfillments = new Map(); this.refunds = new Map(); this.jobs = new Map(); this.bulkOps = new Map();
    this.subscriptions = new Map(); this.idempotency = new Map(); this.adjustmentGroups = new Map();
    this.createdAt = Date.now();
    this.seedData();
  }

  newId() { this.nextId += BigInt(1000 + this.idRng.int(0, 8999)); return this.nextId.toString(); }
  now() { return Date.now(); }

  seedData() {
    for (const l of LOCATIONS) {
      const id = this.newId();
      this.locations.set(id, { id, ...l, isActive: true, createdAt: this.createdAt, updatedAt: this.createdAt });
    }
    const cat = catalog();
    for (const def of PRODUCT_DEFS) {
      const vs = cat.filter((v) => v.product === def.handle);
      this.createProductInternal({
        title: def.title, handle: def.handle, vendor: def.vendor, productType: def.productType, status: 'ACTIVE',
        tags: ['seed'], options: def.options,
        variants: vs.map((v) => ({ sku: v.sku, barcode: v.barcode, price: v.price, grams: v.grams, title: v.title, optionValues: v.optionValues })),
      }, { stock: true, silent: true });
    }
    for (const c of CUSTOMERS) this.createCustomerInternal(c, { silent: true });
  }

  // ---------- lookups
  primaryLocation() { return this.locations.values().next().value; }
  locationByCode(code) { for (const l of this.locations.values()) if (l.code === code || l.name === code || l.id === code) return l; return null; }
  variantBySku(sku) { for (const v of this.variants.values()) if (v.sku === sku) return v; return null; }
  level(itemId, locId, create = false) {
    const k = `${itemId}:${locId}`;
    let l = this.levels.get(k);
    if (!l && create) {
      const t = this.now();
      l = { itemId, locationId: locId, q: Object.fromEntries(QTY_NAMES.map((n) => [n, 0])), createdAt: t, updatedAt: t };
      this.levels.set(k, l);
    }
    return l;
  }
  onHand(l) { return ON_HAND_PARTS.reduce((s, n) => s + l.q[n], 0); }
  qty(l, name) { return name === 'on_hand' ? this.onHand(l) : l.q[name]; }
  levelsOfItem(itemId) { return [...this.levels.values()].filter((l) => l.itemId === itemId); }
  inventoryQuantity(variant) { return this.levelsOfItem(variant.inventoryItemId).reduce((s, l) => s + l.q.available, 0); }

  action() { return crypto.randomUUID(); }

  // Change one quantity state at a level; keeps on_hand consistent. Returns the delta applied.
  changeQty(l, name, delta, t = this.now()) {
    if (name === 'on_hand') name = 'available';
    l.q[name] += delta;
    l.updatedAt = t;
    const item = this.items.get(l.itemId);
    if (item) item.updatedAt = t;
    return delta;
  }
  emitLevel(l, ev) { this.emit('inventory_levels/update', rest.inventoryLevel(this, l), ev); }

  // ---------- products
  createProductInternal(p, { stock = false, silent = false, ev } = {}) {
    const t = this.now();
    const id = this.newId();
    const handle = p.handle || String(p.title || 'product').toLowerCase().normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
    const prod = {
      id, title: p.title ?? '', handle: this.uniqueHandle(handle), vendor: p.vendor ?? this.shopName(), productType: p.productType ?? '',
      status: p.status ?? 'ACTIVE', tags: [...(p.tags ?? [])], descriptionHtml: p.descriptionHtml ?? '', options: p.options ?? ['Title'],
      variantIds: [], metafields: [], createdAt: t, updatedAt: t, publishedAt: p.status === 'DRAFT' ? null : t,
    };
    this.products.set(id, prod);
    const vs = p.variants?.length ? p.variants : [{ title: 'Default Title', price: '0.00', optionValues: ['Default Title'] }];
    vs.forEach((v, i) => this.addVariant(prod, v, i + 1, stock));
    if (!silent) this.emit('products/create', rest.product(this, prod), ev ?? this.action());
    return prod;
  }
  uniqueHandle(h) {
    const taken = new Set([...this.products.values()].map((p) => p.handle));
    if (!taken.has(h)) return h;
    for (let i = 1; ; i++) if (!taken.has(`${h}-${i}`)) return `${h}-${i}`;
  }
  addVariant(prod, v, position, stock) {
    const t = this.now();
    const id = this.newId(), itemId = this.newId();
    const variant = {
      id, productId: prod.id, sku: v.sku ?? null, barcode: v.barcode ?? null, price: fmt(toCents(v.price ?? '0.00')),
      compareAtPrice: v.compareAtPrice ?? null, title: v.title ?? (v.optionValues || ['Default Title']).join(' / '),
      optionValues: v.optionValues ?? ['Default Title'], position, grams: v.grams ?? 0, taxable: true,
      inventoryPolicy: 'DENY', inventoryItemId: itemId, createdAt: t, updatedAt: t, metafields: [],
    };
    this.variants.set(id, variant);
    this.items.set(itemId, { id: itemId, variantId: id, tracked: true, requiresShipping: true, cost: null, createdAt: t, updatedAt: t });
    prod.variantIds.push(id);
    if (stock) {
      for (const loc of this.locations.values()) {
        const n = v.sku ? initialStock(v.sku, loc.code) : 0;
        const l = this.level(itemId, loc.id, true);
        l.q.available = n;
      }
    }
    return variant;
  }
  shopName() { return this.shopDomain.replace(/\.myshopify\.com$/, '').replace(/(^|-)([a-z])/g, (_, a, b) => (a ? ' ' : '') + b.toUpperCase()); }

  productCreate(input) {
    if (!input.title || !String(input.title).trim()) throw new UserErr("Title can't be blank", ['title']);
    if (input.handle && [...this.products.values()].some((p) => p.handle === input.handle)) {
      throw new UserErr(`Handle '${input.handle}' has already been taken`, ['handle']);
    }
    return this.createProductInternal({
      title: input.title, handle: input.handle, vendor: input.vendor, productType: input.productType, status: input.status,
      tags: input.tags, descriptionHtml: input.descriptionHtml,
      options: input.productOptions?.map((o) => o.name),
      variants: input.productOptions?.length ? [{ title: input.productOptions.map((o) => o.values?.[0]?.name ?? 'Default').join(' / '), optionValues: input.productOptions.map((o) => o.values?.[0]?.name ?? 'Default'), price: '0.00' }] : undefined,
    });
  }
  productUpdate(input) {
    const id = parseGid(input.id, 'Product');
    const p = id && this.products.get(id);
    if (!p) throw new UserErr('Product does not exist', ['id']);
    for (const k of ['title', 'handle', 'vendor', 'productType', 'status', 'descriptionHtml']) if (input[k] !== undefined && input[k] !== null) p[k] = input[k];
    if (input.tags) p.tags = [...input.tags];
    p.updatedAt = this.now();
    this.emit('products/update', rest.product(this, p), this.action());
    return p;
  }
  productDelete(idGid) {
    const id = parseGid(idGid, 'Product');
    const p = id && this.products.get(id);
    if (!p) throw new UserErr('Product does not exist', ['id']);
    for (const vid of p.variantIds) {
      const v = this.variants.get(vid);
      for (const l of this.levelsOfItem(v.inventoryItemId)) this.levels.delete(`${l.itemId}:${l.locationId}`);
      this.items.delete(v.inventoryItemId); this.variants.delete(vid);
    }
    this.products.delete(id);
    this.emit('products/delete', { id: BigInt(id) }, this.action());
    return id;
  }
  variantsBulkUpdate(productGid, variants) {
    const pid = parseGid(productGid, 'Product');
    const p = pid && this.products.get(pid);
    if (!p) throw new UserErr('Product does not exist', ['productId'], 'PRODUCT_DOES_NOT_EXIST');
    const out = [];
    const t = this.now();
    variants.forEach((vi, i) => {
      const vid = parseGid(vi.id, 'ProductVariant');
      const v = vid && this.variants.get(vid);
      if (!v || v.productId !== pid) throw new UserErr('Product variant does not exist', ['variants', String(i), 'id'], 'PRODUCT_VARIANT_DOES_NOT_EXIST');
      if (vi.price != null) v.price = fmt(toCents(vi.price));
      if (vi.compareAtPrice !== undefined) v.compareAtPrice = vi.compareAtPrice == null ? null : fmt(toCents(vi.compareAtPrice));
      if (vi.barcode !== undefined) v.barcode = vi.barcode;
      if (vi.taxable != null) v.taxable = vi.taxable;
      if (vi.inventoryPolicy) v.inventoryPolicy = vi.inventoryPolicy;
      if (vi.inventoryItem?.sku !== undefined) v.sku = vi.inventoryItem.sku;
      if (vi.inventoryItem?.tracked != null) this.items.get(v.inventoryItemId).tracked = vi.inventoryItem.tracked;
      v.updatedAt = t;
      out.push(v);
    });
    p.updatedAt = t;
    this.emit('products/update', rest.product(this, p), this.action());
    return { product: p, variants: out };
  }

  // ---------- customers
  createCustomerInternal(c, { silent = false, ev } = {}) {
    const t = this.now();
    const id = this.newId();
    const cust = {
      id, firstName: c.first ?? c.firstName ?? null, lastName: c.last ?? c.lastName ?? null, email: c.email ?? null, phone: c.phone ?? null,
      note: c.note ?? null, tags: [...(c.tags ?? [])], taxExempt: false, state: 'ENABLED', verifiedEmail: true, locale: 'en',
      addresses: [], defaultAddressId: null, metafields: [], ordersCount: 0, totalSpentCents: 0, lastOrderId: null, createdAt: t, updatedAt: t,
    };
    if (c.address1) {
      const aid = this.newId();
      cust.addresses.push({ id: aid, firstName: cust.firstName, lastName: cust.lastName, company: c.company ?? null, address1: c.address1, address2: c.address2 ?? null,
        city: c.city, province: c.province ?? null, provinceCode: c.provinceCode ?? null, zip: c.zip, country: c.country, countryCode: c.countryCode, phone: c.phone ?? null });
      cust.defaultAddressId = aid;
    }
    this.customers.set(id, cust);
    if (!silent) this.emit('customers/create', rest.customer(this, cust), ev ?? this.action());
    return cust;
  }
  customerByEmail(email) {
    if (!email) return null;
    const e = email.toLowerCase();
    for (const c of this.customers.values()) if (c.email && c.email.toLowerCase() === e) return c;
    return null;
  }
  customerCreate(input) {
    if (!input.email && !input.phone && !input.firstName && !input.lastName) throw new UserErr('Customer must have a name, phone number or email address', null);
    if (input.email && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(input.email)) throw new UserErr('Email is invalid', ['email']);
    if (this.customerByEmail(input.email)) throw new UserErr('Email has already been taken', ['email']);
    if (input.phone && [...this.customers.values()].some((c) => c.phone === input.phone)) throw new UserErr('Phone has already been taken', ['phone']);
    const c = this.createCustomerInternal({ firstName: input.firstName, lastName: input.lastName, email: input.email, phone: input.phone, note: input.note, tags: input.tags });
    return c;
  }
  customerUpdate(input) {
    const id = parseGid(input.id, 'Customer');
    const c = id && this.customers.get(id);
    if (!c) throw new UserErr('Customer does not exist', ['id']);
    if (input.email !== undefined && input.email !== c.email) {
      const o = this.customerByEmail(input.email);
      if (o && o.id !== c.id) throw new UserErr('Email has already been taken', ['email']);
    }
    for (const k of ['firstName', 'lastName', 'email', 'phone', 'note', 'taxExempt', 'locale']) if (input[k] !== undefined) c[k] = input[k];
    if (input.tags) c.tags = [...input.tags];
    c.updatedAt = this.now();
    this.emit('customers/update', rest.customer(this, c), this.action());
    return c;
  }

  // ---------- orders
  // spec: {email?, customer?{first,last,email,...}, lines:[{sku, quantity, price?, location?}], shippingLines?, discountCode?,
  //        discountPercent?, financialStatus?, tags?, note?, currency?, sourceName?}
  createOrder(spec) {
    const ev = this.action();
    const t = this.now();
    const cspec = spec.customer ?? (spec.email ? { email: spec.email } : null);
    let customer = null, newCustomer = false;
    if (cspec) {
      customer = this.customerByEmail(cspec.email);
      if (!customer) { customer = this.createCustomerInternal(cspec, { silent: true }); newCustomer = true; }
    }
    const addrSrc = customer ? (customer.addresses.find((a) => a.id === customer.defaultAddressId) ?? null) : null;
    const ship = spec.shippingAddress ?? (addrSrc ? { ...addrSrc } : { firstName: cspec?.first ?? 'Guest', lastName: cspec?.last ?? 'Buyer', address1: '1 Main St', city: 'Ottawa', province: 'Ontario', provinceCode: 'ON', zip: 'K1A 0A1', country: 'Canada', countryCode: 'CA' });
    delete ship.id;
    if (!spec.lines?.length) throw new UserErr('order needs at least one line', ['lines']);
    const lines = spec.lines.map((ln, i) => {
      const v = ln.sku ? this.variantBySku(ln.sku) : this.variants.get(parseGid(ln.variantId, 'ProductVariant') ?? ln.variantId);
      if (!v) throw new UserErr(`unknown sku '${ln.sku ?? ln.variantId}'`, ['lines', String(i)]);
      const q = Number(ln.quantity ?? 1);
      if (!Number.isInteger(q) || q < 1) throw new UserErr('quantity must be a positive integer', ['lines', String(i), 'quantity']);
      const p = this.products.get(v.productId);
      let loc = ln.location ? this.locationByCode(ln.location) : null;
      if (ln.location && !loc) throw new UserErr(`unknown location '${ln.location}'`, ['lines', String(i), 'location']);
      if (!loc) loc = [...this.locations.values()].find((l) => (this.level(v.inventoryItemId, l.id)?.q.available ?? 0) >= q) ?? this.primaryLocation();
      return { id: this.newId(), variantId: v.id, productId: p.id, inventoryItemId: v.inventoryItemId, sku: v.sku, title: p.title,
        variantTitle: v.title === 'Default Title' ? null : v.title, name: v.title === 'Default Title' ? p.title : `${p.title} - ${v.title}`,
        vendor: p.vendor, quantity: q, priceCents: toCents(ln.price ?? v.price), grams: v.grams, taxable: v.taxable, requiresShipping: true,
        locationId: loc.id, fulfilledQty: 0, refundedQty: 0, discountCents: 0, taxCents: 0 };
    });
    const subtotalBefore = lines.reduce((s, l) => s + l.priceCents * l.quantity, 0);
    const discountApplications = [], discountCodes = [];
    const bp = spec.discountPercent != null ? Math.round(Number(spec.discountPercent) * 100) : 0;
    if (bp > 0) {
      const code = spec.discountCode ?? `SAVE${bp / 100}`;
      const amount = pct(subtotalBefore, bp);
      allocate(amount, lines.map((l) => l.priceCents * l.quantity)).forEach((a, i) => { lines[i].discountCents = a; });
      discountApplications.push({ type: 'discount_code', code, value: (bp / 100).toFixed(1), valueType: 'percentage', allocationMethod: 'across', targetSelection: 'all', targetType: 'line_item' });
      discountCodes.push({ code, amountCents: amount, type: 'percentage' });
    }
    const country = ship.countryCode ?? 'CA';
    const taxBp = TAX_BP[country] ?? 0;
    for (const l of lines) l.taxCents = l.taxable ? pct(l.priceCents * l.quantity - l.discountCents, taxBp) : 0;
    const shippingLines = (spec.shippingLines ?? [{ title: 'Standard Shipping', price: '9.99', code: 'STANDARD' }]).map((s) => ({
      id: this.newId(), title: s.title, code: s.code ?? s.title, priceCents: toCents(s.price ?? '0.00'), source: 'shopify' }));
    const number = this.orderNumber++;
    const order = {
      id: this.newId(), number, name: `#${number}`, email: customer?.email ?? spec.email ?? null, phone: customer?.phone ?? null,
      customerId: customer?.id ?? null, createdAt: t, updatedAt: t, processedAt: t, cancelledAt: null, cancelReason: null, closedAt: null,
      currency: spec.currency ?? 'CAD', financialStatus: spec.financialStatus ?? 'paid', note: spec.note ?? null, tags: [...(spec.tags ?? [])],
      sourceName: spec.sourceName ?? 'web', test: false, taxBp, shippingAddress: ship, billingAddress: { ...ship },
      lineItems: lines, shippingLines, discountApplications, discountCodes, metafields: [], fulfillmentOrderIds: [], fulfillmentIds: [],
      refundIds: [], token: crypto.randomBytes(16).toString('hex'), confirmationNumber: crypto.randomBytes(5).toString('hex').toUpperCase().slice(0, 9),
      browserIp: `198.51.100.${this.rng.int(1, 254)}`,
    };
    this.orders.set(order.id, order);
    // One fulfillment order per assigned location; commit stock there.
    const byLoc = new Map();
    for (const l of lines) { if (!byLoc.has(l.locationId)) byLoc.set(l.locationId, []); byLoc.get(l.locationId).push(l); }
    const touched = [];
    for (const [locId, ls] of byLoc) {
      const fo = { id: this.newId(), orderId: order.id, locationId: locId, status: 'OPEN', requestStatus: 'UNSUBMITTED', createdAt: t, updatedAt: t,
        lineItems: ls.map((l) => ({ id: this.newId(), lineItemId: l.id, totalQuantity: l.quantity, remainingQuantity: l.quantity })) };
      this.fulfillmentOrders.set(fo.id, fo);
      order.fulfillmentOrderIds.push(fo.id);
      for (const l of ls) {
        const lv = this.level(l.inventoryItemId, locId, true);
        this.changeQty(lv, 'available', -l.quantity, t);
        this.changeQty(lv, 'committed', l.quantity, t);
        touched.push(lv);
      }
    }
    if (customer) { customer.ordersCount++; customer.totalSpentCents += this.totals(order).total; customer.lastOrderId = order.id; customer.updatedAt = t; }
    if (newCustomer) this.emit('customers/create', rest.customer(this, customer), ev);
    this.emit('orders/create', rest.order(this, order), ev);
    if (order.financialStatus === 'paid') this.emit('orders/paid', rest.order(this, order), ev);
    for (const lv of new Set(touched)) this.emitLevel(lv, ev);
    for (const pid of new Set(lines.map((l) => l.productId))) this.emit('products/update', rest.product(this, this.products.get(pid)), ev);
    return order;
  }

  // Flash sale: `count` orders with varied customers (some returning), SKUs from the catalog.
  flashSale(count, opts = {}) {
    const skus = [...this.variants.values()].filter((v) => v.sku).map((v) => v.sku);
    const known = [...this.customers.values()];
    const out = [];
    for (let i = 0; i < count; i++) {
      let customer;
      if (known.length && this.rng.chance(0.35)) {
        const c = this.rng.pick(known);
        customer = { email: c.email };
      } else {
        customer = randomCustomer(this.rng, this.customerSerial++);
      }
      const n = this.rng.int(1, 4);
      const picked = this.rng.shuffle([...skus]).slice(0, n);
      const spec = {
        customer, lines: picked.map((sku) => ({ sku, quantity: this.rng.int(1, 3) })),
        discountPercent: this.rng.chance(0.3) ? this.rng.pick([10, 15, 20]) : undefined,
        shippingLines: [this.rng.pick([{ title: 'Standard Shipping', price: '9.99', code: 'STANDARD' }, { title: 'Express', price: '24.50', code: 'EXPRESS' }, { title: 'Free Shipping', price: '0.00', code: 'FREE' }])],
        tags: opts.tags ?? ['flash-sale'],
        note: this.rng.chance(0.15) ? this.rng.pick(['Please gift wrap 🎁', 'Leave at the back door', 'Livraison après 17 h, merci !']) : null,
      };
      if (customer.first && this.rng.chance(0.3)) spec.customer = { ...customer, address1: customer.address1 };
      out.push(this.createOrder(spec));
    }
    return out;
  }

  totals(o) {
    let sub = 0, disc = 0, tax = 0, curSub = 0, curTax = 0, curDisc = 0, qty = 0, curQty = 0, weight = 0;
    for (const l of o.lineItems) {
      const gross = l.priceCents * l.quantity;
      sub += gross - l.discountCents; disc += l.discountCents; tax += l.taxCents; qty += l.quantity;
      const cq = l.quantity - l.refundedQty;
      curQty += cq; weight += l.grams * cq;
      const share = (x) => (l.quantity ? Math.round((x * cq) / l.quantity) : 0);
      curSub += l.priceCents * cq - share(l.discountCents); curDisc += share(l.discountCents); curTax += share(l.taxCents);
    }
    const shipping = o.shippingLines.reduce((s, x) => s + x.priceCents, 0);
    const shipRefunded = o.refundIds.reduce((s, id) => s + (this.refunds.get(id)?.shippingCents ?? 0), 0);
    const refunded = o.refundIds.reduce((s, id) => s + (this.refunds.get(id)?.amountCents ?? 0), 0);
    const total = sub + shipping + tax;
    const curTotal = o.cancelledAt && o.financialStatus === 'refunded' ? 0 : curSub + shipping - shipRefunded + curTax;
    return { subtotal: sub, discounts: disc, tax, shipping, total, lineItemsSubtotal: sub + disc, currentSubtotal: curSub, currentTax: curTax,
      currentDiscounts: curDisc, currentTotal: curTotal, qty, currentQty: curQty, weight, refunded, received: o.financialStatus === 'pending' ? 0 : total };
  }
  fulfillmentStatus(o) {
    const total = o.lineItems.reduce((s, l) => s + l.quantity - l.refundedQty, 0);
    const done = o.lineItems.reduce((s, l) => s + l.fulfilledQty, 0);
    if (done === 0) return null;
    return done >= total ? 'fulfilled' : 'partial';
  }
  touchOrder(o, t = this.now()) { o.updatedAt = t; }

  // ---------- persistence
  toJSON() {
    const arr = (m) => [...m.values()];
    return { version: 1, nextId: this.nextId.toString(), orderNumber: this.orderNumber, customerSerial: this.customerSerial, createdAt: this.createdAt,
      locations: arr(this.locations), products: arr(this.products), variants: arr(this.variants), items: arr(this.items), levels: arr(this.levels),
      customers: arr(this.customers), orders: arr(this.orders), fulfillmentOrders: arr(this.fulfillmentOrders), fulfillments: arr(this.fulfillments),
      refunds: arr(this.refunds), subscriptions: arr(this.subscriptions), shopMetafields: this.shopMetafields ?? [],
      idempotency: [...this.idempotency.entries()], adjustmentGroups: arr(this.adjustmentGroups), jobs: arr(this.jobs) };
  }
  load(file) {
    const s = JSON.parse(fs.readFileSync(file, 'utf8'));
    const m = (a, key = (x) => x.id) => new Map(a.map((x) => [key(x), x]));
    this.nextId = BigInt(s.nextId); this.orderNumber = s.orderNumber; this.customerSerial = s.customerSerial; this.createdAt = s.createdAt;
    this.locations = m(s.locations); this.products = m(s.products); this.variants = m(s.variants); this.items = m(s.items);
    this.levels = m(s.levels, (l) => `${l.itemId}:${l.locationId}`); this.customers = m(s.customers); this.orders = m(s.orders);
    this.fulfillmentOrders = m(s.fulfillmentOrders); this.fulfillments = m(s.fulfillments); this.refunds = m(s.refunds);
    this.subscriptions = m(s.subscriptions); this.shopMetafields = s.shopMetafields; this.idempotency = new Map(s.idempotency);
    this.adjustmentGroups = m(s.adjustmentGroups); this.jobs = m(s.jobs.map((j) => ({ ...j, done: true })));
  }
  save(file) {
    const tmp = `${file}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(this.toJSON()));
    fs.renameSync(tmp, file);
  }
}

Object.assign(Store.prototype, ops);
