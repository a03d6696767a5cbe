// OrderEZ data model and rules (ORDEREZ_PROFILE.md). Money is integer cents inside, decimal
// strings outside. Errors are thrown as ApiError and turned into envelopes by main.mjs.
import { catalog, LOCATIONS, OUTLETS, initialStock } from '../lib/seed.mjs';

export class ApiError extends Error {
  constructor(status, type, message, extra = {}) { super(message); Object.assign(this, { status, type, extra }); }
}
export class Invalid extends ApiError {
  constructor(fields) { super(422, 'UnprocessableEntity', 'Validation failed'); this.fields = fields; }
}

export const STATUSES = ['needs_approval', 'pending', 'accepted', 'partially_accepted', 'declined', 'scheduled', 'shipped', 'completed', 'action_needed', 'in_dispute', 'cancelled'];
export const CONTACT_TYPES = ['owner', 'ordering', 'finance', 'subscriber'];
const MONEY_RE = /^\d{1,9}(\.\d{1,2})?$/;
const EMAIL_RE = /^[^@\s]+@[^@\s]+\.[^@\s]+$/;
export const cents = (s) => { const [a, b = ''] = s.split('.'); return Number(a) * 100 + Number(b.padEnd(2, '0')); };
export const money = (c) => `${Math.floor(c / 100)}.${String(c % 100).padStart(2, '0')}`;
const iso = (ms) => (ms == null ? null : new Date(ms).toISOString());
const isInt = (v) => (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^\d+$/.test(v));
const toId = (v) => (v === undefined || v === null || v === '' ? null : isInt(v) ? Number(v) : NaN);

export class OrderEZStore {
  constructor() { this.reset(); }
  reset() {
    this.seq = { outlet: 100, contact: 500, product: 1000, order: 10000, line: 50000, shipment: 70000, warehouse: 0 };
    this.outlets = new Map(); this.contacts = new Map(); this.products = new Map(); this.orders = new Map();
    this.shipments = new Map(); this.warehouses = new Map(); this.stock = new Map();
    this.seed();
  }
  next(k) { return ++this.seq[k]; }
  now() { return Date.now(); }

  seed() {
    for (const l of LOCATIONS) this.addWarehouse({ name: l.name, code: l.code, address: { line1: l.address1, line2: null, city: l.city, state: l.provinceCode, postalCode: l.zip, country: l.countryCode } });
    for (const v of catalog()) {
      const p = this.createProduct({ name: v.name, sku: v.sku, barcode: v.barcode, price: v.price, unit: 'each', weightGrams: v.grams });
      for (const w of this.warehouses.values()) this.stockRow(p.sku, w.id, true).onHand = initialStock(p.sku, w.code);
    }
    for (const o of OUTLETS) {
      const out = this.createOutlet(o);
      this.createContact(out.id, { name: `${o.name} Buyer`, email: o.email, phone: o.phone, type: 'ordering', isPrimary: true });
    }
  }

  addWarehouse(w) {
    const id = this.next('warehouse');
    const row = { id, name: w.name, code: w.code ?? `WH-${id}`, address: w.address ?? null, active: w.active ?? true };
    this.warehouses.set(id, row);
    for (const p of this.products.values()) this.stockRow(p.sku, id, true);
    return row;
  }
  warehouse(idOrCode) {
    if (idOrCode == null) return null;
    const n = toId(idOrCode);
    if (Number.isInteger(n) && this.warehouses.has(n)) return this.warehouses.get(n);
    for (const w of this.warehouses.values()) if (w.code === idOrCode) return w;
    return null;
  }
  stockRow(sku, whId, create = false) {
    const k = `${sku}@${whId}`;
    let r = this.stock.get(k);
    if (!r && create) { r = { sku, warehouseId: whId, onHand: 0, reserved: 0, updatedAt: this.now() }; this.stock.set(k, r); }
    return r;
  }
  stockView(r) { return { sku: r.sku, warehouseId: r.warehouseId, onHand: r.onHand, reserved: r.reserved, available: r.onHand - r.reserved, updatedAt: iso(r.updatedAt) }; }

  // ---------- outlets and contacts
  validateOutlet(b, partial) {
    const f = {};
    if (!partial || b.name !== undefined) { if (typeof b.name !== 'string' || !b.name.trim()) f.name = ['name should not be empty', 'name must be a string']; }
    if (b.email != null && (typeof b.email !== 'string' || !EMAIL_RE.test(b.email))) f.email = ['email must be an email'];
    if (b.externalRef != null && typeof b.externalRef !== 'string') f.externalRef = ['externalRef must be a string'];
    if (b.active !== undefined && typeof b.active !== 'boolean') f.active = ['active must be a boolean value'];
    if (b.address != null && (typeof b.address !== 'object' || Array.isArray(b.address))) f.address = ['address must be an object'];
    if (Object.keys(f).length) throw new Invalid(f);
  }
  createOutlet(b) {
    this.validateOutlet(b, false);
    const t = this.now();
    const o = { id: this.next('outlet'), name: b.name.trim(), externalRef: b.externalRef ?? null, email: b.email ?? null, phone: b.phone ?? null,
      address: normAddress(b.address), active: b.active ?? true, createdAt: t, updatedAt: t };
    this.outlets.set(o.id, o);
    return o;
  }
  outlet(id) {
    const o = this.outlets.get(toId(id));
    if (!o) throw new ApiError(404, 'not_found', `Outlet ${id} not found`);
    return o;
  }
  updateOutlet(id, b) {
    const o = this.outlet(id);
    this.validateOutlet(b, true);
    for (const k of ['name', 'externalRef', 'email', 'phone', 'active']) if (b[k] !== undefined) o[k] = b[k];
    if (b.address !== undefined) o.address = normAddress(b.address);
    o.updatedAt = this.now();
    return o;
  }
  createContact(outletId, b) {
    const o = this.outlet(outletId);
    const f = {};
    if (typeof b.name !== 'string' || !b.name.trim()) f.name = ['name should not be empty'];
    if (typeof b.email !== 'string' || !b.email) f.email = ['email should not be empty', 'email must be an email'];
    else if (!EMAIL_RE.test(b.email)) f.email = ['email must be an email'];
    else if ([...this.contacts.values()].some((c) => c.email.toLowerCase() === b.email.toLowerCase())) f.email = ['email already exists'];
    if (b.type !== undefined && !CONTACT_TYPES.includes(b.type)) f.type = [`type must be one of the following values: ${CONTACT_TYPES.join(', ')}`];
    if (b.isPrimary !== undefined && typeof b.isPrimary !== 'boolean') f.isPrimary = ['isPrimary must be a boolean value'];
    if (Object.keys(f).length) throw new Invalid(f);
    const mine = [...this.contacts.values()].filter((c) => c.outletId === o.id);
    const primary = b.isPrimary ?? mine.length === 0;
    if (primary) for (const c of mine) c.isPrimary = false;
    const c = { id: this.next('contact'), outletId: o.id, name: b.name.trim(), email: b.email, phone: b.phone ?? null, type: b.type ?? 'ordering', isPrimary: primary };
    this.contacts.set(c.id, c);
    return c;
  }

  // ---------- products
  validateProduct(b, partial, selfId) {
    const f = {};
    if (!partial || b.name !== undefined) { if (typeof b.name !== 'string' || !b.name.trim()) f.name = ['name should not be empty']; }
    if (!partial || b.sku !== undefined) {
      if (typeof b.sku !== 'string' || !b.sku.trim()) f.sku = ['sku should not be empty'];
      else if ([...this.products.values()].some((p) => p.sku === b.sku && p.id !== selfId)) f.sku = ['sku already exists'];
    }
    if (b.price !== undefined && (typeof b.price !== 'string' || !MONEY_RE.test(b.price))) f.price = ['price must be a decimal string with at most 2 decimals, e.g. "12.50"'];
    if (b.weightGrams != null && !(Number.isInteger(b.weightGrams) && b.weightGrams >= 0)) f.weightGrams = ['weightGrams must be a non-negative integer'];
    if (b.active !== undefined && typeof b.active !== 'boolean') f.active = ['active must be a boolean value'];
    if (Object.keys(f).length) throw new Invalid(f);
  }
  createProduct(b) {
    this.validateProduct(b, false);
    const p = { id: this.next('product'), name: b.name.trim(), sku: b.sku, barcode: b.barcode ?? null, price: money(cents(b.price ?? '0.00')),
      unit: b.unit ?? 'each', weightGrams: b.weightGrams ?? null, categoryId: b.categoryId ?? null, active: b.active ?? true, updatedAt: this.now() };
    this.products.set(p.id, p);
    for (const w of this.warehouses.values()) this.stockRow(p.sku, w.id, true);
    return p;
  }
  product(id) {
    const p = this.products.get(toId(id));
    if (!p) throw new ApiError(404, 'not_found', `Product ${id} not found`);
    return p;
  }
  productBySku(sku) { for (const p of this.products.values()) if (p.sku === sku) return p; return null; }
  updateProduct(id, b) {
    const p = this.product(id);
    this.validateProduct(b, true, p.id);
    const oldSku = p.sku;
    for (const k of ['name', 'sku', 'barcode', 'unit', 'weightGrams', 'categoryId', 'active']) if (b[k] !== undefined) p[k] = b[k];
    if (b.price !== undefined) p.price = money(cents(b.price));
    if (p.sku !== oldSku) for (const r of [...this.stock.values()]) if (r.sku === oldSku) { this.stock.delete(`${oldSku}@${r.warehouseId}`); r.sku = p.sku; this.stock.set(`${p.sku}@${r.warehouseId}`, r); }
    p.updatedAt = this.now();
    return p;
  }

  // ---------- orders
  createOrder(b, { status = 'accepted' } = {}) {
    const f = {};
    if (b.externalRef != null && (typeof b.externalRef !== 'string' || !b.externalRef)) f.externalRef = ['externalRef must be a non-empty string'];
    if (b.externalRef) {
      const dup = [...this.orders.values()].find((o) => o.externalRef === b.externalRef);
      if (dup) throw new ApiError(409, 'conflict', `An order with externalRef '${b.externalRef}' already exists`, { existingId: dup.id });
    }
    const outletId = toId(b.outletId);
    if (b.outletId == null) f.outletId = ['outletId should not be empty'];
    else if (!Number.isInteger(outletId) || !this.outlets.has(outletId)) f.outletId = [`outlet ${b.outletId} does not exist`];
    let wh = null;
    if (b.warehouseId != null) { wh = this.warehouse(b.warehouseId); if (!wh) f.warehouseId = [`warehouse ${b.warehouseId} does not exist`]; }
    if (b.deliveryFee != null && (typeof b.deliveryFee !== 'string' || !MONEY_RE.test(b.deliveryFee))) f.deliveryFee = ['deliveryFee must be a decimal string with at most 2 decimals'];
    if (b.requestedDeliveryDate != null && !/^\d{4}-\d{2}-\d{2}$/.test(b.requestedDeliveryDate)) f.requestedDeliveryDate = ['requestedDeliveryDate must be a date YYYY-MM-DD'];
    if (b.currency != null && !/^[A-Z]{3}$/.test(b.currency)) f.currency = ['currency must be an ISO 4217 code'];
    const lines = [];
    if (!Array.isArray(b.lineItems) || b.lineItems.length === 0) f.lineItems = ['lineItems must contain at least 1 elements'];
    else b.lineItems.forEach((l, i) => {
      const p = l.productId != null ? this.products.get(toId(l.productId)) : l.sku ? this.productBySku(l.sku) : null;
      if (!p) f[`lineItems.${i}.sku`] = [l.productId != null ? `product ${l.productId} does not exist` : l.sku ? `sku ${l.sku} does not exist` : 'sku or productId should not be empty'];
      else if (!p.active) f[`lineItems.${i}.sku`] = [`product ${p.sku} is not active`];
      if (!Number.isInteger(l.quantity) || l.quantity < 1) f[`lineItems.${i}.quantity`] = ['quantity must be a positive integer'];
      if (l.unitPrice != null && (typeof l.unitPrice !== 'string' || !MONEY_RE.test(l.unitPrice))) f[`lineItems.${i}.unitPrice`] = ['unitPrice must be a decimal string with at most 2 decimals'];
      if (p) lines.push({ p, quantity: l.quantity, unitCents: cents(l.unitPrice ?? p.price) });
    });
    if (Object.keys(f).length) throw new Invalid(f);
    wh ??= this.warehouses.values().next().value;
    const t = this.now();
    const id = this.next('order');
    const items = lines.map((l) => ({ id: this.next('line'), productId: l.p.id, sku: l.p.sku, name: l.p.name, quantity: l.quantity, unitCents: l.unitCents, lineCents: l.unitCents * l.quantity }));
    const sub = items.reduce((s, l) => s + l.lineCents, 0);
    const fee = cents(b.deliveryFee ?? '0.00');
    const o = { id, orderNumber: `EZ-${String(id).padStart(6, '0')}`, externalRef: b.externalRef ?? null, outletId, status, requestedDeliveryDate: b.requestedDeliveryDate ?? null,
      scheduledDeliveryDate: null, warehouseId: wh.id, notes: b.notes ?? null, currency: b.currency ?? 'CAD', subtotalCents: sub, feeCents: fee,
      shippingAddress: normAddress(b.shippingAddress) ?? this.outlets.get(outletId).address, lineItems: items, createdAt: t, updatedAt: t, cancelledAt: null, cancelReason: null };
    this.orders.set(id, o);
    for (const l of items) { const r = this.stockRow(l.sku, wh.id, true); r.reserved += l.quantity; r.updatedAt = t; }
    return o;
  }
  order(id) {
    const o = this.orders.get(toId(id));
    if (!o) throw new ApiError(404, 'not_found', `Order ${id} not found`);
    return o;
  }
  shippedQty(o, lineId) {
    let n = 0;
    for (const s of this.shipments.values()) if (s.orderId === o.id && s.status !== 'scheduled') for (const l of s.lines) if (l.orderLineId === lineId) n += l.quantity;
    return n;
  }
  allocatedQty(o, lineId) {
    let n = 0;
    for (const s of this.shipments.values()) if (s.orderId === o.id) for (const l of s.lines) if (l.orderLineId === lineId) n += l.quantity;
    return n;
  }
  cancelOrder(id, b) {
    const o = this.order(id);
    if (o.status === 'cancelled') return o;
    if (['shipped', 'completed', 'declined'].includes(o.status)) throw new Invalid({ status: [`order in status ${o.status} cannot be cancelled`] });
    if (b.reason != null && typeof b.reason !== 'string') throw new Invalid({ reason: ['reason must be a string'] });
    if (b.restock != null && typeof b.restock !== 'boolean') throw new Invalid({ restock: ['restock must be a boolean value'] });
    const t = this.now();
    for (const l of o.lineItems) {
      const open = l.quantity - this.shippedQty(o, l.id);
      const r = this.stockRow(l.sku, o.warehouseId, true);
      r.reserved = Math.max(0, r.reserved - open);
      if (b.restock) r.onHand += this.shippedQty(o, l.id);
      r.updatedAt = t;
    }
    o.status = 'cancelled'; o.cancelledAt = t; o.cancelReason = b.reason ?? null; o.restock = !!b.restock; o.updatedAt = t;
    return o;
  }
  setStatus(id, status, extra = {}) {
    const o = this.order(id);
    if (!STATUSES.includes(status)) throw new Invalid({ status: [`status must be one of the following values: ${STATUSES.join(', ')}`] });
    if (status === 'cancelled') return this.cancelOrder(id, { reason: extra.reason ?? 'cancelled by supplier', restock: extra.restock ?? false });
    o.status = status;
    if (extra.scheduledDeliveryDate !== undefined) o.scheduledDeliveryDate = extra.scheduledDeliveryDate;
    else if (status === 'scheduled' && !o.scheduledDeliveryDate) o.scheduledDeliveryDate = new Date(this.now() + 2 * 86400000).toISOString().slice(0, 10);
    o.updatedAt = this.now();
    return o;
  }
  addShipment(orderId, b) {
    const o = this.order(orderId);
    if (o.status === 'cancelled' || o.status === 'declined') throw new Invalid({ orderId: [`order in status ${o.status} cannot be shipped`] });
    const status = b.status ?? 'shipped';
    if (!['scheduled', 'shipped', 'delivered'].includes(status)) throw new Invalid({ status: ['status must be one of the following values: scheduled, shipped, delivered'] });
    const want = b.lines?.length ? b.lines : o.lineItems.map((l) => ({ orderLineId: l.id, quantity: l.quantity - this.allocatedQty(o, l.id) })).filter((x) => x.quantity > 0);
    const f = {};
    const lines = want.map((w, i) => {
      const l = w.orderLineId != null ? o.lineItems.find((x) => x.id === toId(w.orderLineId)) : o.lineItems.find((x) => x.sku === w.sku);
      if (!l) { f[`lines.${i}`] = ['no such order line']; return null; }
      const left = l.quantity - this.allocatedQty(o, l.id);
      if (!Number.isInteger(w.quantity) || w.quantity < 1 || w.quantity > left) f[`lines.${i}.quantity`] = [`quantity must be between 1 and ${left}`];
      return { orderLineId: l.id, sku: l.sku, quantity: w.quantity };
    });
    if (!lines.length) f.lines = ['nothing left to ship'];
    if (Object.keys(f).length) throw new Invalid(f);
    const t = this.now();
    const s = { id: this.next('shipment'), orderId: o.id, status, carrier: b.carrier ?? null, trackingNumber: b.trackingNumber ?? null, trackingUrl: b.trackingUrl ?? null,
      shippedAt: status === 'scheduled' ? null : iso(b.shippedAt ? Date.parse(b.shippedAt) : t), lines, createdAt: t };
    this.shipments.set(s.id, s);
    if (status !== 'scheduled') this.applyShipped(o, s, t);
    this.afterShipment(o, t);
    return s;
  }
  applyShipped(o, s, t) {
    for (const l of s.lines) { const r = this.stockRow(l.sku, o.warehouseId, true); r.onHand -= l.quantity; r.reserved = Math.max(0, r.reserved - l.quantity); r.updatedAt = t; }
  }
  updateShipment(id, b) {
    const s = this.shipments.get(toId(id));
    if (!s) throw new ApiError(404, 'not_found', `Shipment ${id} not found`);
    const o = this.orders.get(s.orderId);
    const t = this.now();
    if (b.status && !['scheduled', 'shipped', 'delivered'].includes(b.status)) throw new Invalid({ status: ['status must be one of the following values: scheduled, shipped, delivered'] });
    if (b.status && b.status !== 'scheduled' && s.status === 'scheduled') { this.applyShipped(o, s, t); s.shippedAt = iso(t); }
    for (const k of ['status', 'carrier', 'trackingNumber', 'trackingUrl']) if (b[k] !== undefined) s[k] = b[k];
    this.afterShipment(o, t);
    return s;
  }
  afterShipment(o, t) {
    const all = o.lineItems.every((l) => this.shippedQty(o, l.id) >= l.quantity);
    const ships = [...this.shipments.values()].filter((s) => s.orderId === o.id);
    if (all && ships.length && ships.every((s) => s.status === 'delivered')) o.status = 'completed';
    else if (all) o.status = 'shipped';
    o.updatedAt = t;
  }
  adjustStock(b) {
    const f = {};
    if (typeof b.sku !== 'string' || !b.sku) f.sku = ['sku should not be empty'];
    else if (!this.productBySku(b.sku)) f.sku = [`sku ${b.sku} does not exist`];
    const wh = this.warehouse(b.warehouseId);
    if (b.warehouseId == null) f.warehouseId = ['warehouseId should not be empty'];
    else if (!wh) f.warehouseId = [`warehouse ${b.warehouseId} does not exist`];
    const hasDelta = b.delta !== undefined, hasSet = b.setTo !== undefined;
    if (hasDelta === hasSet) f.delta = ['exactly one of delta or setTo must be given'];
    else if (hasDelta && !Number.isInteger(b.delta)) f.delta = ['delta must be an integer'];
    else if (hasSet && !(Number.isInteger(b.setTo) && b.setTo >= 0)) f.setTo = ['setTo must be a non-negative integer'];
    if (b.reason != null && typeof b.reason !== 'string') f.reason = ['reason must be a string'];
    if (Object.keys(f).length) throw new Invalid(f);
    const r = this.stockRow(b.sku, wh.id, true);
    const next = hasSet ? b.setTo : r.onHand + b.delta;
    if (next < 0) throw new Invalid({ delta: [`onHand would become negative (${next})`] });
    r.onHand = next; r.updatedAt = this.now();
    return r;
  }

  orderView(o) {
    return { id: o.id, orderNumber: o.orderNumber, externalRef: o.externalRef, outletId: o.outletId, status: o.status, requestedDeliveryDate: o.requestedDeliveryDate,
      scheduledDeliveryDate: o.scheduledDeliveryDate, warehouseId: o.warehouseId, notes: o.notes, currency: o.currency, subtotal: money(o.subtotalCents),
      deliveryFee: money(o.feeCents), total: money(o.subtotalCents + o.feeCents), shippingAddress: o.shippingAddress,
      lineItems: o.lineItems.map((l) => ({ id: l.id, productId: l.productId, sku: l.sku, name: l.name, quantity: l.quantity, unitPrice: money(l.unitCents), lineTotal: money(l.lineCents) })),
      createdAt: iso(o.createdAt), updatedAt: iso(o.updatedAt), cancelledAt: iso(o.cancelledAt), cancelReason: o.cancelReason };
  }
  outletView(o) { return { ...o, createdAt: iso(o.createdAt), updatedAt: iso(o.updatedAt) }; }
  productView(p) { return { ...p, updatedAt: iso(p.updatedAt) }; }
  shipmentView(s) { const { createdAt, ...rest } = s; return rest; }
}

function normAddress(a) {
  if (a == null) return null;
  return { line1: a.line1 ?? null, line2: a.line2 ?? null, city: a.city ?? null, state: a.state ?? null, postalCode: a.postalCode ?? null, country: a.country ?? null };
}
