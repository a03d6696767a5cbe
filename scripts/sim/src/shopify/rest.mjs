// REST-shaped webhook payloads (snake_case, int64 ids as BigInt so lib/json.mjs writes them
// as exact JSON integers, money as strings, times in the shop's UTC offset).
import { fmt } from './money.mjs';

const OFFSET_MIN = -300; // America/Bogota: UTC-05:00 all year, no DST
export function restTime(ms) {
  if (ms == null) return null;
  const d = new Date(ms + OFFSET_MIN * 60000);
  const sign = OFFSET_MIN < 0 ? '-' : '+';
  const a = Math.abs(OFFSET_MIN);
  return d.toISOString().slice(0, 19) + `${sign}${String(Math.floor(a / 60)).padStart(2, '0')}:${String(a % 60).padStart(2, '0')}`;
}
const big = (id) => (id == null ? null : BigInt(id));
const g = (type, id) => `gid://shopify/${type}/${id}`;
export const moneySet = (cents, cur) => ({ shop_money: { amount: fmt(cents), currency_code: cur }, presentment_money: { amount: fmt(cents), currency_code: cur } });

function address(a, extra = {}) {
  if (!a) return null;
  const name = [a.firstName, a.lastName].filter(Boolean).join(' ');
  return { first_name: a.firstName ?? null, address1: a.address1 ?? null, phone: a.phone ?? null, city: a.city ?? null, zip: a.zip ?? null,
    province: a.province ?? null, country: a.country ?? null, last_name: a.lastName ?? null, address2: a.address2 ?? null, company: a.company ?? null,
    latitude: null, longitude: null, name, country_code: a.countryCode ?? null, province_code: a.provinceCode ?? null, ...extra };
}

export function customer(s, c, { forOrder = false } = {}) {
  if (!c) return null;
  const da = c.addresses.find((a) => a.id === c.defaultAddressId);
  const out = {
    id: big(c.id), email: c.email, created_at: restTime(c.createdAt), updated_at: restTime(c.updatedAt), first_name: c.firstName, last_name: c.lastName,
    state: c.state.toLowerCase(), note: c.note, verified_email: c.verifiedEmail, multipass_identifier: null, tax_exempt: c.taxExempt,
    phone: c.phone, currency: 'CAD', tax_exemptions: [], admin_graphql_api_id: g('Customer', c.id),
    default_address: da ? address(da, { id: big(da.id), customer_id: big(c.id), country_name: da.country, default: true }) : null,
  };
  if (!forOrder) out.addresses = c.addresses.map((a) => address(a, { id: big(a.id), customer_id: big(c.id), country_name: a.country, default: a.id === c.defaultAddressId }));
  return out;
}

function lineItem(s, o, l) {
  const cur = o.currency;
  return {
    id: big(l.id), admin_graphql_api_id: g('LineItem', l.id), attributed_staffs: [], current_quantity: l.quantity - l.refundedQty,
    fulfillable_quantity: Math.max(0, l.quantity - l.refundedQty - l.fulfilledQty), fulfillment_service: 'manual',
    fulfillment_status: l.fulfilledQty === 0 ? null : (l.fulfilledQty >= l.quantity - l.refundedQty ? 'fulfilled' : 'partial'),
    gift_card: false, grams: l.grams, name: l.name, price: fmt(l.priceCents), price_set: moneySet(l.priceCents, cur), product_exists: s.products.has(l.productId),
    product_id: big(l.productId), properties: [], quantity: l.quantity, requires_shipping: l.requiresShipping, sku: l.sku, taxable: l.taxable,
    title: l.title, total_discount: '0.00', total_discount_set: moneySet(0, cur), variant_id: big(l.variantId), variant_inventory_management: 'shopify',
    variant_title: l.variantTitle, vendor: l.vendor,
    tax_lines: l.taxCents ? [{ channel_liable: false, price: fmt(l.taxCents), price_set: moneySet(l.taxCents, cur), rate: o.taxBp / 10000, title: 'HST' }] : [],
    duties: [],
    discount_allocations: l.discountCents ? [{ amount: fmt(l.discountCents), amount_set: moneySet(l.discountCents, cur), discount_application_index: 0 }] : [],
  };
}

function fulfillmentBody(s, f, o) {
  const loc = s.locations.get(f.locationId);
  const ti = f.trackingInfo;
  return {
    id: big(f.id), admin_graphql_api_id: g('Fulfillment', f.id), created_at: restTime(f.createdAt), location_id: big(f.locationId), name: f.name,
    order_id: big(f.orderId), origin_address: loc ? { address1: loc.address1, city: loc.city, zip: loc.zip, province_code: loc.provinceCode, country_code: loc.countryCode } : {},
    receipt: {}, service: 'manual', shipment_status: f.shipmentStatus, status: f.status.toLowerCase(),
    tracking_company: ti[0]?.company ?? null, tracking_number: ti[0]?.number ?? null, tracking_numbers: ti.map((x) => x.number),
    tracking_url: ti[0]?.url ?? null, tracking_urls: ti.map((x) => x.url).filter(Boolean), updated_at: restTime(f.updatedAt),
    line_items: f.lineItems.map((fl) => ({ ...lineItem(s, o, o.lineItems.find((l) => l.id === fl.lineItemId)), quantity: fl.quantity })),
  };
}

export function fulfillment(s, f) {
  const o = s.orders.get(f.orderId);
  const out = fulfillmentBody(s, f, o);
  out.destination = address(o.shippingAddress);
  out.email = o.email;
  return out;
}

function refundBody(s, r, o) {
  const cur = o.currency;
  return {
    id: big(r.id), admin_graphql_api_id: g('Refund', r.id), created_at: restTime(r.createdAt), note: r.note, order_id: big(r.orderId),
    processed_at: restTime(r.processedAt), restock: r.refundLineItems.some((x) => x.restockType !== 'NO_RESTOCK'), total_duties_set: moneySet(0, cur),
    user_id: null, order_adjustments: [], duties: [], return: null, refund_shipping_lines: [],
    transactions: r.transactions.map((t) => ({ id: big(t.id), admin_graphql_api_id: g('OrderTransaction', t.id), amount: fmt(t.amountCents), authorization: null,
      created_at: restTime(t.createdAt), currency: cur, device_id: null, error_code: null, gateway: t.gateway, kind: t.kind, location_id: null,
      message: null, order_id: big(r.orderId), parent_id: null, processed_at: restTime(t.createdAt), source_name: 'ezsync', status: t.status, test: false, user_id: null })),
    refund_line_items: r.refundLineItems.map((x) => {
      const l = o.lineItems.find((y) => y.id === x.lineItemId);
      // subtotal is a JSON number in Shopify's payload (research §1.5); written from cents exactly.
      return { id: big(x.id), line_item_id: big(x.lineItemId), location_id: big(x.locationId), quantity: x.quantity, restock_type: x.restockType.toLowerCase(),
        subtotal: Number(fmt(x.subtotalCents)), subtotal_set: moneySet(x.subtotalCents, cur), total_tax: Number(fmt(x.taxCents)), total_tax_set: moneySet(x.taxCents, cur),
        line_item: lineItem(s, o, l) };
    }),
  };
}
export function refund(s, r) { return refundBody(s, r, s.orders.get(r.orderId)); }

export function order(s, o) {
  const t = s.totals(o);
  const cur = o.currency;
  const c = o.customerId ? s.customers.get(o.customerId) : null;
  const disc = o.discountCodes.map((d) => ({ code: d.code, amount: fmt(d.amountCents), type: d.type }));
  return {
    id: big(o.id), admin_graphql_api_id: g('Order', o.id), app_id: 580111n, browser_ip: o.browserIp, buyer_accepts_marketing: false,
    cancel_reason: o.cancelReason, cancelled_at: restTime(o.cancelledAt), cart_token: null, checkout_id: null, checkout_token: null,
    client_details: { accept_language: 'en-CA', browser_height: null, browser_ip: o.browserIp, browser_width: null, session_hash: null, user_agent: 'Mozilla/5.0' },
    closed_at: restTime(o.closedAt), confirmation_number: o.confirmationNumber, confirmed: true, contact_email: o.email,
    created_at: restTime(o.createdAt), currency: cur, current_subtotal_price: fmt(t.currentSubtotal), current_subtotal_price_set: moneySet(t.currentSubtotal, cur),
    current_total_discounts: fmt(t.currentDiscounts), current_total_discounts_set: moneySet(t.currentDiscounts, cur),
    current_total_price: fmt(t.currentTotal), current_total_price_set: moneySet(t.currentTotal, cur),
    current_total_tax: fmt(t.currentTax), current_total_tax_set: moneySet(t.currentTax, cur), customer_locale: 'en', device_id: null,
    discount_codes: disc, email: o.email, estimated_taxes: false, financial_status: o.financialStatus,
    fulfillment_status: s.fulfillmentStatus(o), landing_site: null, location_id: null, name: o.name, note: o.note,
    note_attributes: [], number: o.number - 1000, order_number: o.number, order_status_url: `https://${s.shopDomain}/orders/${o.token}/authenticate?key=${o.token.slice(0, 16)}`,
    payment_gateway_names: ['shopify_payments'], phone: o.phone, po_number: null, presentment_currency: cur, processed_at: restTime(o.processedAt),
    reference: null, referring_site: null, source_identifier: null, source_name: o.sourceName, subtotal_price: fmt(t.subtotal),
    subtotal_price_set: moneySet(t.subtotal, cur), tags: o.tags.join(', '), tax_exempt: false,
    tax_lines: t.tax ? [{ price: fmt(t.tax), rate: o.taxBp / 10000, title: 'HST', price_set: moneySet(t.tax, cur), channel_liable: false }] : [],
    taxes_included: false, test: o.test, token: o.token, total_discounts: fmt(t.discounts), total_discounts_set: moneySet(t.discounts, cur),
    total_line_items_price: fmt(t.lineItemsSubtotal), total_line_items_price_set: moneySet(t.lineItemsSubtotal, cur), total_outstanding: '0.00',
    total_price: fmt(t.total), total_price_set: moneySet(t.total, cur), total_shipping_price_set: moneySet(t.shipping, cur), total_tax: fmt(t.tax),
    total_tax_set: moneySet(t.tax, cur), total_tip_received: '0.00', total_weight: t.weight, updated_at: restTime(o.updatedAt), user_id: null,
    billing_address: address(o.billingAddress), customer: customer(s, c, { forOrder: true }),
    discount_applications: o.discountApplications.map((d) => ({ target_type: d.targetType, type: d.type, value: d.value, value_type: d.valueType,
      allocation_method: d.allocationMethod, target_selection: d.targetSelection, code: d.code })),
    fulfillments: o.fulfillmentIds.map((id) => fulfillmentBody(s, s.fulfillments.get(id), o)),
    line_items: o.lineItems.map((l) => lineItem(s, o, l)),
    payment_terms: null, refunds: o.refundIds.map((id) => refundBody(s, s.refunds.get(id), o)),
    shipping_address: address(o.shippingAddress),
    shipping_lines: o.shippingLines.map((x) => ({ id: big(x.id), carrier_identifier: null, code: x.code, discounted_price: fmt(x.priceCents),
      discounted_price_set: moneySet(x.priceCents, cur), is_removed: false, phone: null, price: fmt(x.priceCents), price_set: moneySet(x.priceCents, cur),
      requested_fulfillment_service_id: null, source: x.source, title: x.title, tax_lines: [], discount_allocations: [] })),
  };
}

export function inventoryLevel(s, l) {
  return { inventory_item_id: big(l.itemId), location_id: big(l.locationId), available: l.q.available, updated_at: restTime(l.updatedAt),
    admin_graphql_api_id: `gid://shopify/InventoryLevel/${l.locationId}?inventory_item_id=${l.itemId}` };
}

export function product(s, p) {
  const variants = p.variantIds.map((id) => s.variants.get(id));
  return {
    admin_graphql_api_id: g('Product', p.id), body_html: p.descriptionHtml, created_at: restTime(p.createdAt), handle: p.handle, id: big(p.id),
    product_type: p.productType, published_at: restTime(p.publishedAt), template_suffix: null, title: p.title, updated_at: restTime(p.updatedAt),
    vendor: p.vendor, status: p.status.toLowerCase(), published_scope: 'global', tags: p.tags.join(', '),
    variants: variants.slice(0, 100).map((v) => ({
      admin_graphql_api_id: g('ProductVariant', v.id), barcode: v.barcode, compare_at_price: v.compareAtPrice, created_at: restTime(v.createdAt),
      id: big(v.id), inventory_policy: v.inventoryPolicy.toLowerCase(), position: v.position, price: v.price, product_id: big(p.id), sku: v.sku,
      taxable: v.taxable, title: v.title, updated_at: restTime(v.updatedAt), option1: v.optionValues[0] ?? null, option2: v.optionValues[1] ?? null,
      option3: v.optionValues[2] ?? null, image_id: null, inventory_item_id: big(v.inventoryItemId), inventory_quantity: s.inventoryQuantity(v),
      old_inventory_quantity: s.inventoryQuantity(v) })),
    options: p.options.map((name, i) => ({ name, id: big(BigInt(p.id) + BigInt(i + 1)), product_id: big(p.id), position: i + 1,
      values: [...new Set(variants.map((v) => v.optionValues[i]).filter(Boolean))] })),
    images: [], image: null, media: [], variant_gids: variants.map((v) => ({ admin_graphql_api_id: g('ProductVariant', v.id), updated_at: new Date(v.updatedAt).toISOString() })),
    has_variants_that_requires_components: false, category: null,
  };
}

export function foMoved(s, original, moved, srcLoc, dstLoc, moving) {
  return {
    original_fulfillment_order: { id: g('FulfillmentOrder', original.id), status: original.status.toLowerCase(), assigned_location_id: g('Location', original === moved ? srcLoc : original.locationId) },
    moved_fulfillment_order: { id: g('FulfillmentOrder', moved.id), status: moved.status.toLowerCase(), assigned_location_id: g('Location', dstLoc) },
    destination_location_id: g('Location', dstLoc),
    fulfillment_order_line_items_requested: moving.map((m) => ({ id: g('FulfillmentOrderLineItem', m.li.id), quantity: m.quantity })),
    source_location: { id: g('Location', srcLoc) },
  };
}
