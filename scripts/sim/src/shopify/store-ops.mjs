// Store operations behind the mutations: fulfillment, moves, cancel/refund, inventory, tags,
// metafields and webhook subscriptions. Installed on Store.prototype by store.mjs.
import crypto from 'node:crypto';
import { UserErr, gid, parseGid, QTY_NAMES, REASONS, CARRIER_URLS } from './store.mjs';
import { toCents } from './money.mjs';
import * as rest from './rest.mjs';

export const ops = {
  // ---------- fulfillment
  fulfillmentCreate(input, message) {
    const groups = input.lineItemsByFulfillmentOrder ?? [];
    if (!groups.length) throw new UserErr('Line items by fulfillment order must not be empty', ['fulfillment', 'lineItemsByFulfillmentOrder']);
    const fos = groups.map((g, i) => {
      const id = parseGid(g.fulfillmentOrderId, 'FulfillmentOrder');
      const fo = id && this.fulfillmentOrders.get(id);
      if (!fo) throw new UserErr('Fulfillment order does not exist.', ['fulfillment', 'lineItemsByFulfillmentOrder', String(i), 'fulfillmentOrderId']);
      return fo;
    });
    if (new Set(fos.map((f) => f.orderId)).size > 1) throw new UserErr('All fulfillment orders must belong to the same order.', ['fulfillment', 'lineItemsByFulfillmentOrder']);
    if (new Set(fos.map((f) => f.locationId)).size > 1) throw new UserErr('All fulfillment orders must be assigned to the same location.', ['fulfillment', 'lineItemsByFulfillmentOrder']);
    const order = this.orders.get(fos[0].orderId);
    if (order.cancelledAt) throw new UserErr('Order has been cancelled.', ['fulfillment']);
    for (const fo of fos) if (!['OPEN', 'IN_PROGRESS'].includes(fo.status)) throw new UserErr(`Fulfillment order ${gid('FulfillmentOrder', fo.id)} has an unfulfillable status= ${fo.status.toLowerCase()}.`, ['fulfillment']);
    const take = [];
    groups.forEach((g, gi) => {
      const fo = fos[gi];
      const wanted = g.fulfillmentOrderLineItems?.length ? g.fulfillmentOrderLineItems : fo.lineItems.filter((x) => x.remainingQuantity > 0).map((x) => ({ id: gid('FulfillmentOrderLineItem', x.id), quantity: x.remainingQuantity }));
      wanted.forEach((w, wi) => {
        const li = fo.lineItems.find((x) => x.id === parseGid(w.id, 'FulfillmentOrderLineItem'));
        const field = ['fulfillment', 'lineItemsByFulfillmentOrder', String(gi), 'fulfillmentOrderLineItems', String(wi)];
        if (!li) throw new UserErr('Fulfillment order line item does not exist.', [...field, 'id']);
        if (!Number.isInteger(w.quantity) || w.quantity <= 0 || w.quantity > li.remainingQuantity) throw new UserErr('Invalid fulfillment order line item quantity requested.', [...field, 'quantity']);
        take.push({ fo, li, quantity: w.quantity });
      });
    });
    if (!take.length) throw new UserErr('No remaining line items to fulfill.', ['fulfillment']);
    const tracking = this.normTracking(input.trackingInfo);
    const ev = this.action(); const t = this.now();
    const f = { id: this.newId(), orderId: order.id, locationId: fos[0].locationId, name: `${order.name}.${order.fulfillmentIds.length + 1}`,
      status: 'SUCCESS', displayStatus: tracking.length ? 'IN_TRANSIT' : 'FULFILLED', shipmentStatus: null, trackingInfo: tracking,
      notifyCustomer: !!input.notifyCustomer, message: message ?? null, fulfillmentOrderIds: [...new Set(fos.map((x) => x.id))],
      lineItems: take.map((x) => ({ id: this.newId(), lineItemId: x.li.lineItemId, quantity: x.quantity })), createdAt: t, updatedAt: t };
    const touched = new Set();
    for (const x of take) {
      x.li.remainingQuantity -= x.quantity;
      const line = order.lineItems.find((l) => l.id === x.li.lineItemId);
      line.fulfilledQty += x.quantity;
      const lv = this.level(line.inventoryItemId, x.fo.locationId, true);
      this.changeQty(lv, 'committed', -x.quantity, t);
      touched.add(lv);
    }
    for (const fo of fos) { fo.status = fo.lineItems.every((x) => x.remainingQuantity === 0) ? 'CLOSED' : 'IN_PROGRESS'; fo.updatedAt = t; }
    this.fulfillments.set(f.id, f);
    order.fulfillmentIds.push(f.id);
    this.touchOrder(order, t);
    this.emit('fulfillments/create', rest.fulfillment(this, f), ev);
    const fs_ = this.fulfillmentStatus(order);
    if (fs_ === 'fulfilled') { order.closedAt = t; this.emit('orders/fulfilled', rest.order(this, order), ev); }
    else this.emit('orders/partially_fulfilled', rest.order(this, order), ev);
    this.emit('orders/updated', rest.order(this, order), ev);
    return f;
  },
  normTracking(ti) {
    if (!ti) return [];
    if (ti.url && ti.urls) throw new UserErr('Cannot specify both url and urls.', ['fulfillment', 'trackingInfo']);
    if (ti.number && ti.numbers) throw new UserErr('Cannot specify both number and numbers.', ['fulfillment', 'trackingInfo']);
    const numbers = ti.numbers ?? (ti.number ? [ti.number] : []);
    const urls = ti.urls ?? (ti.url ? [ti.url] : []);
    if (urls.length && !numbers.length) throw new UserErr('Tracking number must be provided when a tracking URL is given.', ['fulfillment', 'trackingInfo', 'number']);
    return numbers.map((n, i) => ({ company: ti.company ?? null, number: n,
      url: urls[i] ?? (CARRIER_URLS[ti.company] ? CARRIER_URLS[ti.company] + encodeURIComponent(n) : null) }));
  },
  trackingUpdate(fidGid, ti, notify) {
    const id = parseGid(fidGid, 'Fulfillment');
    const f = id && this.fulfillments.get(id);
    if (!f) throw new UserErr('Fulfillment does not exist.', ['fulfillmentId']);
    if (f.status === 'CANCELLED') throw new UserErr('Fulfillment is cancelled.', ['fulfillmentId']);
    f.trackingInfo = this.normTracking(ti);
    f.displayStatus = f.trackingInfo.length ? 'IN_TRANSIT' : f.displayStatus;
    f.notifyCustomer = !!notify;
    const t = this.now();
    f.updatedAt = t;
    const order = this.orders.get(f.orderId);
    this.touchOrder(order, t);
    const ev = this.action();
    this.emit('fulfillments/update', rest.fulfillment(this, f), ev);
    this.emit('orders/updated', rest.order(this, order), ev);
    return f;
  },
  fulfillmentOrderMove(foGid, locGid, lines) {
    const id = parseGid(foGid, 'FulfillmentOrder');
    const fo = id && this.fulfillmentOrders.get(id);
    if (!fo) throw new UserErr('Fulfillment order does not exist.', ['id']);
    const loc = this.locations.get(parseGid(locGid, 'Location'));
    if (!loc) throw new UserErr('Location does not exist.', ['newLocationId']);
    if (!['OPEN', 'IN_PROGRESS'].includes(fo.status)) throw new UserErr(`Cannot move a fulfillment order with status ${fo.status}.`, ['id']);
    if (fo.locationId === loc.id) throw new UserErr('Fulfillment order is already assigned to this location.', ['newLocationId']);
    const order = this.orders.get(fo.orderId);
    const moving = lines?.length
      ? lines.map((w, i) => {
        const li = fo.lineItems.find((x) => x.id === parseGid(w.id, 'FulfillmentOrderLineItem'));
        if (!li) throw new UserErr('Fulfillment order line item does not exist.', ['fulfillmentOrderLineItems', String(i), 'id']);
        if (w.quantity <= 0 || w.quantity > li.remainingQuantity) throw new UserErr('Invalid quantity.', ['fulfillmentOrderLineItems', String(i), 'quantity']);
        return { li, quantity: w.quantity };
      })
      : fo.lineItems.filter((x) => x.remainingQuantity > 0).map((li) => ({ li, quantity: li.remainingQuantity }));
    for (const m of moving) {
      const line = order.lineItems.find((l) => l.id === m.li.lineItemId);
      if (!this.level(line.inventoryItemId, loc.id)) throw new UserErr(`${line.name} is not stocked at ${loc.name}.`, ['newLocationId']);
    }
    const t = this.now(); const ev = this.action();
    const whole = fo.status === 'OPEN' && moving.length === fo.lineItems.length && moving.every((m) => m.quantity === m.li.totalQuantity);
    const touched = [];
    for (const m of moving) {
      const line = order.lineItems.find((l) => l.id === m.li.lineItemId);
      const from = this.level(line.inventoryItemId, fo.locationId, true), to = this.level(line.inventoryItemId, loc.id, true);
      this.changeQty(from, 'committed', -m.quantity, t); this.changeQty(from, 'available', m.quantity, t);
      this.changeQty(to, 'committed', m.quantity, t); this.changeQty(to, 'available', -m.quantity, t);
      line.locationId = loc.id;
      touched.push(from, to);
    }
    const srcLoc = fo.locationId;
    let moved, remaining = null;
    if (whole) {
      fo.locationId = loc.id; fo.updatedAt = t; moved = fo;
    } else {
      moved = { id: this.newId(), orderId: order.id, locationId: loc.id, status: 'OPEN', requestStatus: 'UNSUBMITTED', createdAt: t, updatedAt: t,
        lineItems: moving.map((m) => ({ id: this.newId(), lineItemId: m.li.lineItemId, totalQuantity: m.quantity, remainingQuantity: m.quantity })) };
      for (const m of moving) { m.li.remainingQuantity -= m.quantity; m.li.totalQuantity -= m.quantity; }
      fo.lineItems = fo.lineItems.filter((x) => x.totalQuantity > 0);
      if (!fo.lineItems.some((x) => x.remainingQuantity > 0)) fo.status = 'CLOSED'; else remaining = fo;
      fo.updatedAt = t;
      this.fulfillmentOrders.set(moved.id, moved);
      order.fulfillmentOrderIds.push(moved.id);
    }
    this.touchOrder(order, t);
    this.emit('fulfillment_orders/moved', rest.foMoved(this, fo, moved, srcLoc, loc.id, moving), ev);
    for (const lv of new Set(touched)) this.emitLevel(lv, ev);
    return { original: fo, moved, remaining };
  },

  // ---------- cancel and refund
  orderCancel({ orderId, reason, restock, notifyCustomer, refundMethod, staffNote }, delayMs = 50) {
    const id = parseGid(orderId, 'Order');
    const o = id && this.orders.get(id);
    if (!o) throw new UserErr('Order does not exist', ['orderId'], 'NOT_FOUND');
    if (o.cancelledAt) throw new UserErr('Order has already been cancelled', ['orderId'], 'INVALID');
    if (o.pendingCancel) throw new UserErr('Order cancellation is already in progress', ['orderId'], 'INVALID');
    const job = { id: this.newId(), done: false, createdAt: this.now() };
    this.jobs.set(job.id, job);
    o.pendingCancel = true;
    const refund = refundMethod?.originalPaymentMethodsRefund === true || refundMethod?.storeCreditRefund != null;
    setTimeout(() => { try { this.applyCancel(o, reason, restock, refund, staffNote); } finally { job.done = true; delete o.pendingCancel; } }, delayMs);
    return job;
  },
  applyCancel(o, reason, restock, refund, staffNote) {
    const t = this.now(); const ev = this.action();
    o.cancelledAt = t; o.cancelReason = String(reason).toLowerCase(); o.closedAt = t; o.staffNote = staffNote ?? null;
    const touched = [];
    const rli = [];
    for (const fo of o.fulfillmentOrderIds.map((x) => this.fulfillmentOrders.get(x))) {
      for (const li of fo.lineItems) {
        if (li.remainingQuantity <= 0) continue;
        const line = o.lineItems.find((l) => l.id === li.lineItemId);
        const lv = this.level(line.inventoryItemId, fo.locationId, true);
        this.changeQty(lv, 'committed', -li.remainingQuantity, t);
        if (restock) { this.changeQty(lv, 'available', li.remainingQuantity, t); touched.push(lv); }
        rli.push({ line, quantity: li.remainingQuantity, locationId: fo.locationId });
        li.remainingQuantity = 0;
      }
      if (fo.status !== 'CLOSED') fo.status = 'CLOSED';
      fo.updatedAt = t;
    }
    let refundObj = null;
    if (refund && o.financialStatus !== 'pending') {
      refundObj = this.makeRefund(o, rli.map((r) => ({ line: r.line, quantity: r.quantity, restockType: restock ? 'CANCEL' : 'NO_RESTOCK', locationId: r.locationId })), { fullShipping: true, note: 'Order cancelled', transactions: 'full' }, t);
      o.financialStatus = 'refunded';
    } else if (o.financialStatus === 'pending' || o.financialStatus === 'authorized') o.financialStatus = 'voided';
    this.touchOrder(o, t);
    this.emit('orders/cancelled', rest.order(this, o), ev);
    this.emit('orders/updated', rest.order(this, o), ev);
    if (refundObj) this.emit('refunds/create', rest.refund(this, refundObj), ev);
    for (const lv of new Set(touched)) this.emitLevel(lv, ev);
  },
  makeRefund(o, items, { fullShipping = false, shippingCents = 0, note = null, transactions = null } = {}, t = this.now()) {
    let sub = 0, tax = 0;
    const rlis = items.map((it) => {
      const l = it.line;
      const disc = l.quantity ? Math.round((l.discountCents * it.quantity) / l.quantity) : 0;
      const lt = l.quantity ? Math.round((l.taxCents * it.quantity) / l.quantity) : 0;
      const s = l.priceCents * it.quantity - disc;
      sub += s; tax += lt;
      l.refundedQty += it.quantity;
      return { id: this.newId(), lineItemId: l.id, quantity: it.quantity, restockType: it.restockType, locationId: it.locationId ?? null, subtotalCents: s, taxCents: lt };
    });
    const ship = fullShipping ? o.shippingLines.reduce((s, x) => s + x.priceCents, 0) - o.refundIds.reduce((s, id) => s + this.refunds.get(id).shippingCents, 0) : shippingCents;
    // refundCreate moves money only through `transactions` (no transactions = restock/record only);
    // orderCancel with a refund method refunds everything (transactions === 'full').
    const amount = transactions === 'full' ? sub + tax + ship : (transactions ?? []).reduce((s, x) => s + toCents(x.amount), 0);
    const r = { id: this.newId(), orderId: o.id, note, createdAt: t, processedAt: t, refundLineItems: rlis, shippingCents: ship, amountCents: amount,
      transactions: amount > 0 ? [{ id: this.newId(), kind: 'refund', status: 'success', gateway: Array.isArray(transactions) ? transactions[0]?.gateway ?? 'shopify_payments' : 'shopify_payments', amountCents: amount, createdAt: t }] : [] };
    this.refunds.set(r.id, r);
    o.refundIds.push(r.id);
    return r;
  },
  refundCreate(input) {
    const id = parseGid(input.orderId, 'Order');
    const o = id && this.orders.get(id);
    if (!o) throw new UserErr('Order does not exist', ['orderId']);
    const items = (input.refundLineItems ?? []).map((r, i) => {
      const line = o.lineItems.find((l) => l.id === parseGid(r.lineItemId, 'LineItem'));
      if (!line) throw new UserErr('Line item does not exist', ['refundLineItems', String(i), 'lineItemId']);
      if (r.quantity <= 0 || r.quantity > line.quantity - line.refundedQty) throw new UserErr(`Quantity cannot refund more items than were purchased`, ['refundLineItems', String(i), 'quantity']);
      const loc = r.locationId ? parseGid(r.locationId, 'Location') : line.locationId;
      if (r.locationId && !this.locations.has(loc)) throw new UserErr('Location does not exist', ['refundLineItems', String(i), 'locationId']);
      return { line, quantity: r.quantity, restockType: r.restockType ?? 'NO_RESTOCK', locationId: loc };
    });
    const t = this.now(); const ev = this.action();
    const touched = [];
    for (const it of items) {
      const unfulfilled = it.line.quantity - it.line.refundedQty - it.line.fulfilledQty;
      if (it.restockType === 'CANCEL' || (it.restockType !== 'RETURN' && unfulfilled > 0)) {
        // Removing unfulfilled units releases their commitment at the assigned location.
        const q = Math.min(it.quantity, Math.max(unfulfilled, 0));
        if (q > 0) {
          const lv = this.level(it.line.inventoryItemId, it.line.locationId, true);
          this.changeQty(lv, 'committed', -q, t);
          if (it.restockType === 'CANCEL' || it.restockType === 'LEGACY_RESTOCK') { this.changeQty(lv, 'available', q, t); touched.push(lv); }
          this.reduceFoRemaining(o, it.line.id, q, t);
        }
      } else if (it.restockType === 'RETURN' || it.restockType === 'LEGACY_RESTOCK') {
        const lv = this.level(it.line.inventoryItemId, it.locationId, true);
        this.changeQty(lv, 'available', it.quantity, t); touched.push(lv);
      }
    }
    const shippingCents = input.shipping?.fullRefund ? undefined : (input.shipping?.shippingRefundAmount ? toCents(input.shipping.shippingRefundAmount.amount) : 0);
    const r = this.makeRefund(o, items, { fullShipping: !!input.shipping?.fullRefund, shippingCents, note: input.note ?? null, transactions: input.transactions ?? [] }, t);
    const tot = this.totals(o);
    if (tot.refunded > 0) o.financialStatus = tot.refunded >= tot.total ? 'refunded' : 'partially_refunded';
    this.touchOrder(o, t);
    this.emit('refunds/create', rest.refund(this, r), ev);
    this.emit('orders/updated', rest.order(this, o), ev);
    for (const lv of new Set(touched)) this.emitLevel(lv, ev);
    return r;
  },
  reduceFoRemaining(o, lineId, q, t) {
    for (const foId of o.fulfillmentOrderIds) {
      const fo = this.fulfillmentOrders.get(foId);
      for (const li of fo.lineItems) {
        if (li.lineItemId !== lineId || q <= 0) continue;
        const d = Math.min(q, li.remainingQuantity);
        li.remainingQuantity -= d; li.totalQuantity -= d; q -= d;
        fo.updatedAt = t;
      }
      if (fo.status !== 'CLOSED' && fo.lineItems.every((x) => x.remainingQuantity === 0)) fo.status = 'CLOSED';
    }
  },

  // ---------- inventory (name: available|on_hand for set; any state for adjust)
  inventorySet(input) {
    if (!['available', 'on_hand'].includes(input.name)) throw new UserErr("The quantity name must be either 'available' or 'on_hand'.", ['input', 'name'], 'INVALID_NAME');
    if (!REASONS.includes(input.reason)) throw new UserErr('The specified reason is invalid.', ['input', 'reason'], 'INVALID_REASON');
    this.checkRefDoc(input.referenceDocumentUri);
    const seen = new Set();
    const plan = input.quantities.map((q, i) => {
      const field = ['input', 'quantities', String(i)];
      const { item, loc } = this.itemAndLoc(q, field);
      if (seen.has(`${item.id}:${loc.id}`)) throw new UserErr('The combination of inventoryItemId and locationId must be unique.', field, 'NO_DUPLICATE_INVENTORY_ITEM_ID_GROUP_ID_PAIR');
      seen.add(`${item.id}:${loc.id}`);
      if (!('changeFromQuantity' in q)) throw new UserErr('changeFromQuantity must be given for each quantity; pass null to skip the compare-and-set check.', [...field, 'changeFromQuantity'], 'COMPARE_QUANTITY_REQUIRED');
      if (q.quantity < 0 && input.name === 'on_hand') throw new UserErr("The quantity can't be negative.", [...field, 'quantity'], 'INVALID_QUANTITY_NEGATIVE');
      if (q.quantity > 1000000000) throw new UserErr("The quantity can't be higher than 1,000,000,000.", [...field, 'quantity'], 'INVALID_QUANTITY_TOO_HIGH');
      const lv = this.level(item.id, loc.id, true);
      const cur = this.qty(lv, input.name);
      if (q.changeFromQuantity !== null && q.changeFromQuantity !== cur) {
        throw new UserErr(`The specified compare quantity does not match the current quantity (${cur}).`, [...field, 'changeFromQuantity'], 'CHANGE_FROM_QUANTITY_STALE');
      }
      return { lv, delta: q.quantity - cur };
    });
    return this.applyInventory(input, plan.map((p) => ({ lv: p.lv, name: input.name, delta: p.delta })));
  },
  inventoryAdjust(input) {
    const names = ['available', 'on_hand', ...QTY_NAMES];
    if (!names.includes(input.name)) throw new UserErr('The quantity name is invalid.', ['input', 'name'], 'INVALID_QUANTITY_NAME');
    if (!REASONS.includes(input.reason)) throw new UserErr('The specified reason is invalid.', ['input', 'reason'], 'INVALID_REASON');
    this.checkRefDoc(input.referenceDocumentUri);
    const plan = input.changes.map((c, i) => {
      const field = ['input', 'changes', String(i)];
      const { item, loc } = this.itemAndLoc(c, field);
      if (input.name !== 'available' && !c.ledgerDocumentUri) throw new UserErr('A ledger document URI is required for this quantity name.', [...field, 'ledgerDocumentUri'], 'INVALID_LEDGER_DOCUMENT');
      if (input.name === 'available' && c.ledgerDocumentUri) throw new UserErr('A ledger document URI is not allowed when adjusting available.', [...field, 'ledgerDocumentUri'], 'INVALID_AVAILABLE_DOCUMENT');
      if (c.ledgerDocumentUri && /^gid:\/\/shopify\//.test(c.ledgerDocumentUri)) throw new UserErr('The ledger document URI must not be a Shopify GID.', [...field, 'ledgerDocumentUri'], 'INTERNAL_LEDGER_DOCUMENT');
      const lv = this.level(item.id, loc.id, true);
      const cur = this.qty(lv, input.name);
      if (c.changeFromQuantity != null && c.changeFromQuantity !== cur) {
        throw new UserErr(`The specified compare quantity does not match the current quantity (${cur}).`, [...field, 'changeFromQuantity'], 'CHANGE_FROM_QUANTITY_STALE');
      }
      if (Math.abs(cur + c.delta) > 1000000000) throw new UserErr('The quantity is out of range.', [...field, 'delta'], cur + c.delta > 0 ? 'INVALID_QUANTITY_TOO_HIGH' : 'INVALID_QUANTITY_TOO_LOW');
      return { lv, name: input.name, delta: c.delta, ledger: c.ledgerDocumentUri ?? null };
    });
    return this.applyInventory(input, plan);
  },
  checkRefDoc(uri) {
    if (uri != null && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(uri)) throw new UserErr('The reference document URI is invalid.', ['input', 'referenceDocumentUri'], 'INVALID_REFERENCE_DOCUMENT');
  },
  itemAndLoc(q, field) {
    const item = this.items.get(parseGid(q.inventoryItemId, 'InventoryItem'));
    if (!item) throw new UserErr('The specified inventory item could not be found.', [...field, 'inventoryItemId'], 'INVALID_INVENTORY_ITEM');
    const loc = this.locations.get(parseGid(q.locationId, 'Location'));
    if (!loc) throw new UserErr('The specified location could not be found.', [...field, 'locationId'], 'INVALID_LOCATION');
    return { item, loc };
  },
  applyInventory(input, plan) {
    const t = this.now(); const ev = this.action();
    const changes = [];
    for (const p of plan) {
      this.changeQty(p.lv, p.name, p.delta, t);
      changes.push({ name: p.name, delta: p.delta, itemId: p.lv.itemId, locationId: p.lv.locationId, quantityAfterChange: this.qty(p.lv, p.name), ledgerDocumentUri: p.ledger ?? null });
      if (p.name === 'available' || p.name === 'on_hand') {
        if (p.name === 'on_hand') changes.push({ name: 'available', delta: p.delta, itemId: p.lv.itemId, locationId: p.lv.locationId, quantityAfterChange: p.lv.q.available, ledgerDocumentUri: null });
        else changes.push({ name: 'on_hand', delta: p.delta, itemId: p.lv.itemId, locationId: p.lv.locationId, quantityAfterChange: this.onHand(p.lv), ledgerDocumentUri: null });
      } else if (p.name !== 'incoming') {
        changes.push({ name: 'on_hand', delta: p.delta, itemId: p.lv.itemId, locationId: p.lv.locationId, quantityAfterChange: this.onHand(p.lv), ledgerDocumentUri: null });
      }
    }
    const group = { id: this.newId(), createdAt: t, reason: input.reason, referenceDocumentUri: input.referenceDocumentUri ?? null, changes };
    this.adjustmentGroups.set(group.id, group);
    for (const p of plan) if (p.delta !== 0 && (p.name === 'available' || p.name === 'on_hand')) this.emitLevel(p.lv, ev);
    return group;
  },
  // Control API: set available by sku/location directly.
  setStock(sku, location, { available, delta }) {
    const v = this.variantBySku(sku);
    if (!v) throw new UserErr(`unknown sku '${sku}'`, ['sku']);
    const loc = location ? this.locationByCode(location) : this.primaryLocation();
    if (!loc) throw new UserErr(`unknown location '${location}'`, ['location']);
    const lv = this.level(v.inventoryItemId, loc.id, true);
    const d = available !== undefined ? available - lv.q.available : delta;
    this.changeQty(lv, 'available', d);
    if (d !== 0) this.emitLevel(lv, this.action());
    return lv;
  },

  // ---------- tags and metafields
  taggable(g) {
    const m = /^gid:\/\/shopify\/(Order|Customer|Product)\/(\d+)$/.exec(String(g));
    if (!m) return null;
    const map = { Order: this.orders, Customer: this.customers, Product: this.products };
    const obj = map[m[1]].get(m[2]);
    return obj ? { type: m[1], obj } : null;
  },
  tagsChange(g, tags, add) {
    const r = this.taggable(g);
    if (!r) throw new UserErr('Object does not exist or is not taggable', ['id']);
    const norm = tags.flatMap((t) => String(t).split(',')).map((t) => t.trim()).filter(Boolean);
    if (add) { for (const t of norm) if (!r.obj.tags.includes(t)) r.obj.tags.push(t); } else r.obj.tags = r.obj.tags.filter((t) => !norm.includes(t));
    r.obj.updatedAt = this.now();
    const ev = this.action();
    if (r.type === 'Order') this.emit('orders/updated', rest.order(this, r.obj), ev);
    if (r.type === 'Customer') this.emit('customers/update', rest.customer(this, r.obj), ev);
    if (r.type === 'Product') this.emit('products/update', rest.product(this, r.obj), ev);
    return r;
  },
  metafieldOwner(g) {
    const m = /^gid:\/\/shopify\/(Order|Customer|Product|ProductVariant|Shop)\/(\d+)$/.exec(String(g));
    if (!m) return null;
    if (m[1] === 'Shop') { this.shopMetafields ??= []; return { type: 'Shop', obj: { metafields: this.shopMetafields } }; }
    const map = { Order: this.orders, Customer: this.customers, Product: this.products, ProductVariant: this.variants };
    const obj = map[m[1]].get(m[2]);
    return obj ? { type: m[1], obj } : null;
  },
  metafieldsSet(list) {
    if (list.length > 25) throw new UserErr('Exceeded the maximum metafields input limit of 25.', ['metafields'], 'LESS_THAN_OR_EQUAL_TO');
    const owners = list.map((m, i) => {
      const o = this.metafieldOwner(m.ownerId);
      if (!o) throw Object.assign(new UserErr('Owner does not exist.', ['metafields', String(i), 'ownerId'], 'INVALID'), { elementIndex: i });
      if (!/^[a-zA-Z0-9_-]{2,64}$/.test(m.key)) throw Object.assign(new UserErr('Key is invalid.', ['metafields', String(i), 'key'], 'INVALID'), { elementIndex: i });
      const ns = m.namespace ?? '$app';
      const existing = o.obj.metafields.find((x) => x.namespace === ns && x.key === m.key);
      if (!existing && !m.type) throw Object.assign(new UserErr("Type can't be blank.", ['metafields', String(i), 'type'], 'BLANK'), { elementIndex: i });
      if (m.compareDigest != null && (!existing || existing.compareDigest !== m.compareDigest)) {
        throw Object.assign(new UserErr('The resource has been updated since it was loaded. Try again with an updated `compareDigest` value.', ['metafields', String(i)], 'STALE_OBJECT'), { elementIndex: i });
      }
      if (m.type === 'number_integer' && !/^-?\d+$/.test(m.value)) throw Object.assign(new UserErr('Value must be an integer.', ['metafields', String(i), 'value'], 'INVALID_VALUE'), { elementIndex: i });
      return { o, ns, existing };
    });
    const t = this.now();
    return list.map((m, i) => {
      const { o, ns, existing } = owners[i];
      const mf = existing ?? { id: this.newId(), namespace: ns, key: m.key, createdAt: t, ownerId: m.ownerId };
      mf.type = m.type ?? mf.type; mf.value = m.value; mf.updatedAt = t;
      mf.compareDigest = crypto.createHash('sha256').update(`${mf.id}:${mf.value}:${t}`).digest('hex');
      if (!existing) o.obj.metafields.push(mf);
      return mf;
    });
  },

  // ---------- webhook subscriptions (API-created; the CLI --webhook-url one lives in webhooks.mjs)
  subscriptionCreate(topic, input, apiVersion) {
    const uri = input.uri;
    if (!uri) throw new UserErr("Address can't be blank", ['webhookSubscription', 'uri']);
    if (!/^https?:\/\/[^\s]+$/.test(uri)) throw new UserErr('Address is invalid', ['webhookSubscription', 'uri']);
    for (const s of this.subscriptions.values()) if (s.topic === topic && s.uri === uri) throw new UserErr('Address for this topic has already been taken', ['webhookSubscription', 'uri']);
    if (input.name != null && !/^[A-Za-z0-9_-]{1,50}$/.test(input.name)) throw new UserErr('Name is invalid', ['webhookSubscription', 'name']);
    const t = this.now();
    const s = { id: this.newId(), topic, uri, format: input.format ?? 'JSON', includeFields: input.includeFields ?? [], filter: input.filter ?? null,
      name: input.name ?? null, metafieldNamespaces: input.metafieldNamespaces ?? [], apiVersion, createdAt: t, updatedAt: t, source: 'api', failures: 0 };
    this.subscriptions.set(s.id, s);
    return s;
  },

};
