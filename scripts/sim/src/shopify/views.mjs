// GraphQL views over the store: plain objects whose properties are values or (args) => value.
// A field a view does not define answers "not simulated: Type.field" (see fieldResolver).
import { GraphQLError } from 'graphql';
import { gid, parseGid } from './store.mjs';
import { fmt } from './money.mjs';
import { matcher } from './search.mjs';

export const iso = (ms) => (ms == null ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'));
export const money = (cents, cur = 'CAD') => ({ amount: fmt(cents), currencyCode: cur });
export const bag = (cents, cur = 'CAD') => ({ shopMoney: money(cents, cur), presentmentMoney: money(cents, cur) });
const count = (n) => ({ count: n, precision: 'EXACT' });

export function gqlError(message, code, extra = {}) { return new GraphQLError(message, { extensions: { code, ...extra } }); }

export function fieldResolver(source, args, ctx, info) {
  const v = source?.[info.fieldName];
  if (typeof v === 'function') return v.call(source, args, ctx, info);
  if (v === undefined) {
    throw gqlError(`not simulated: ${info.parentType.name}.${info.fieldName}`, 'NOT_SIMULATED', { typeName: info.parentType.name, fieldName: info.fieldName });
  }
  return v;
}

const cursorOf = (id) => Buffer.from(JSON.stringify({ last_id: String(id) })).toString('base64');
const idOfCursor = (c) => { try { return JSON.parse(Buffer.from(c, 'base64').toString()).last_id; } catch { return null; } };

// Relay connection over `list` (array of store objects with .id or {key}); `map` builds the view.
export function connection(list, args, ctx, map, keyOf = (x) => x.id) {
  const bulk = ctx?.bulk;
  if (!bulk) {
    if (args.first == null && args.last == null) throw gqlError('you must provide one of first or last', 'BAD_REQUEST');
    if (args.first != null && args.last != null) throw gqlError('providing both first and last is not supported', 'BAD_REQUEST');
    for (const k of ['first', 'last']) {
      if (args[k] != null && (args[k] < 0 || args[k] > 250)) throw gqlError(`The '${k}' argument must be between 0 and 250.`, 'BAD_REQUEST');
    }
  }
  let items = args.reverse ? [...list].reverse() : list;
  let start = 0, end = items.length;
  const find = (c) => {
    const id = idOfCursor(c);
    const i = id == null ? -1 : items.findIndex((x) => String(keyOf(x)) === id);
    if (i < 0) throw gqlError('Invalid cursor for current pagination sort.', 'BAD_REQUEST');
    return i;
  };
  if (args.after) start = find(args.after) + 1;
  if (args.before) end = find(args.before);
  let slice = items.slice(start, Math.max(start, end));
  let hasNext = end < items.length, hasPrev = start > 0;
  if (args.first != null && !bulk) { if (slice.length > args.first) hasNext = true; slice = slice.slice(0, args.first); }
  if (args.last != null && !bulk) { if (slice.length > args.last) hasPrev = true; slice = slice.slice(Math.max(0, slice.length - args.last)); }
  let nodes;
  const getNodes = () => (nodes ??= slice.map(map));
  return {
    edges: () => getNodes().map((n, i) => ({ cursor: cursorOf(keyOf(slice[i])), node: n })),
    nodes: getNodes,
    pageInfo: { hasNextPage: hasNext, hasPreviousPage: hasPrev, startCursor: slice.length ? cursorOf(keyOf(slice[0])) : null, endCursor: slice.length ? cursorOf(keyOf(slice[slice.length - 1])) : null },
  };
}
const firstN = (list, args) => (args?.first != null ? list.slice(0, args.first) : list);

function metafieldsOf(owner, ctx) {
  return {
    metafield: ({ namespace, key }) => { const m = owner.metafields?.find((x) => x.namespace === (namespace ?? '$app') && x.key === key); return m ? metafield(m) : null; },
    metafields: (args) => connection((owner.metafields ?? []).filter((m) => (!args.namespace || m.namespace === args.namespace) && (!args.keys || args.keys.includes(`${m.namespace}.${m.key}`))), args, ctx, metafield),
  };
}
export function metafield(m) {
  return { __typename: 'Metafield', id: gid('Metafield', m.id), legacyResourceId: m.id, namespace: m.namespace, key: m.key, value: m.value, type: m.type,
    jsonValue: () => { try { return JSON.parse(m.value); } catch { return m.value; } }, compareDigest: m.compareDigest, createdAt: iso(m.createdAt), updatedAt: iso(m.updatedAt),
    ownerType: /\/(\w+)\/\d+$/.exec(m.ownerId)?.[1]?.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase() ?? 'SHOP' };
}

export function address(a, id) {
  if (!a) return null;
  const name = [a.firstName, a.lastName].filter(Boolean).join(' ');
  return { __typename: 'MailingAddress', id: `gid://shopify/MailingAddress/${id ?? a.id ?? '0'}?model_name=${id || a.id ? 'CustomerAddress' : 'Address'}`,
    address1: a.address1 ?? null, address2: a.address2 ?? null, city: a.city ?? null, company: a.company ?? null, country: a.country ?? null,
    countryCodeV2: a.countryCode ?? null, province: a.province ?? null, provinceCode: a.provinceCode ?? null, zip: a.zip ?? null,
    firstName: a.firstName ?? null, lastName: a.lastName ?? null, name, phone: a.phone ?? null, latitude: null, longitude: null, coordinatesValidated: false, timeZone: null, validationResultSummary: null,
    formatted: () => [a.address1, a.address2, [a.city, a.provinceCode, a.zip].filter(Boolean).join(' '), a.country].filter(Boolean),
    formattedArea: [a.city, a.province, a.country].filter(Boolean).join(', ') };
}

export function shop(s, ctx) {
  return { __typename: 'Shop', id: gid('Shop', '67328213107'), name: s.shopName(), email: `owner@${s.shopDomain}`, contactEmail: `support@${s.shopDomain}`,
    myshopifyDomain: s.shopDomain, url: `https://${s.shopDomain}`, currencyCode: 'CAD', ianaTimezone: 'America/Bogota', timezoneAbbreviation: '-05',
    timezoneOffset: '-0500', timezoneOffsetMinutes: -300, weightUnit: 'GRAMS', unitSystem: 'METRIC_SYSTEM', taxesIncluded: false, taxShipping: false,
    enabledPresentmentCurrencies: ['CAD'], description: null, setupRequired: false, shipsToCountries: ['CA', 'US'], shopOwnerName: `${s.shopName()} Owner`,
    checkoutApiSupported: true, transactionalSmsDisabled: false, marketingSmsConsentEnabledAtCheckout: false, customerAccounts: 'OPTIONAL',
    richTextEditorUrl: `https://admin.shopify.com/store/${s.shopDomain.split('.')[0]}/rich_text_editor`, createdAt: iso(s.createdAt), updatedAt: iso(s.createdAt), orderNumberFormatPrefix: '#', orderNumberFormatSuffix: '',
    plan: { publicDisplayName: ctx.planName, partnerDevelopment: false, shopifyPlus: ['plus', 'enterprise'].includes(ctx.plan) },
    primaryDomain: { id: gid('Domain', '1000001'), host: s.shopDomain, url: `https://${s.shopDomain}`, sslEnabled: true },
    ...metafieldsOf({ metafields: s.shopMetafields ?? [] }, ctx) };
}

export function location(s, l, ctx) {
  if (!l) return null;
  return { __typename: 'Location', id: gid('Location', l.id), legacyResourceId: l.id, name: l.name, isActive: l.isActive, fulfillsOnlineOrders: true,
    shipsInventory: true, hasActiveInventory: true, isFulfillmentService: false, activatable: false, deactivatable: true, deletable: false, addressVerified: true,
    deactivatedAt: null, hasUnfulfilledOrders: () => [...s.fulfillmentOrders.values()].some((f) => f.locationId === l.id && f.status !== 'CLOSED'),
    createdAt: iso(l.createdAt), updatedAt: iso(l.updatedAt), fulfillmentService: null,
    address: { address1: l.address1, address2: null, city: l.city, province: l.province, provinceCode: l.provinceCode, zip: l.zip, country: l.country,
      countryCode: l.countryCode, phone: l.phone, latitude: null, longitude: null, formatted: [l.address1, `${l.city} ${l.provinceCode} ${l.zip}`, l.country] },
    inventoryLevel: ({ inventoryItemId }) => level(s, s.level(parseGid(inventoryItemId, 'InventoryItem'), l.id), ctx),
    inventoryLevels: (args) => connection([...s.levels.values()].filter((x) => x.locationId === l.id), args, ctx, (x) => level(s, x, ctx), (x) => `${x.itemId}`),
    ...metafieldsOf({ metafields: [] }, ctx) };
}

export function level(s, l, ctx) {
  if (!l) return null;
  const lid = `gid://shopify/InventoryLevel/${l.locationId}?inventory_item_id=${l.itemId}`;
  return { __typename: 'InventoryLevel', id: lid, isActive: true, canDeactivate: true, deactivationAlert: null, createdAt: iso(l.createdAt), updatedAt: iso(l.updatedAt),
    item: () => inventoryItem(s, s.items.get(l.itemId), ctx), location: () => location(s, s.locations.get(l.locationId), ctx),
    quantities: ({ names }) => names.map((name) => {
      const known = ['available', 'on_hand', 'committed', 'reserved', 'incoming', 'damaged', 'safety_stock', 'quality_control'];
      if (!known.includes(name)) throw gqlError(`Invalid quantity name: ${name}`, 'BAD_REQUEST');
      return { __typename: 'InventoryQuantity', id: `gid://shopify/InventoryQuantity/${l.locationId}?inventory_item_id=${l.itemId}&name=${name}`, name, quantity: s.qty(l, name), updatedAt: iso(l.updatedAt) };
    }) };
}

export function inventoryItem(s, it, ctx) {
  if (!it) return null;
  const v = s.variants.get(it.variantId);
  return { __typename: 'InventoryItem', id: gid('InventoryItem', it.id), legacyResourceId: it.id, sku: v?.sku ?? null, tracked: it.tracked,
    requiresShipping: it.requiresShipping, createdAt: iso(it.createdAt), updatedAt: iso(it.updatedAt), unitCost: null, countryCodeOfOrigin: null,
    provinceCodeOfOrigin: null, harmonizedSystemCode: null, inventoryHistoryUrl: null, duplicateSkuCount: () => (v?.sku ? [...s.variants.values()].filter((x) => x.sku === v.sku).length - 1 : 0),
    measurement: { id: gid('InventoryItemMeasurement', it.id), weight: { unit: 'GRAMS', value: v?.grams ?? 0 } },
    locationsCount: () => count(s.levelsOfItem(it.id).length),
    variant: () => variant(s, v, ctx), variants: (args) => connection(v ? [v] : [], args, ctx, (x) => variant(s, x, ctx)),
    inventoryLevel: ({ locationId }) => level(s, s.level(it.id, parseGid(locationId, 'Location')), ctx),
    inventoryLevels: (args) => {
      let ls = s.levelsOfItem(it.id);
      if (args.query) ls = ls.filter(matcher(args.query, { location_id: (x) => x.locationId, updated_at: (x) => x.updatedAt }, () => '', new Set(['updated_at'])));
      return connection(ls, args, ctx, (x) => level(s, x, ctx), (x) => x.locationId);
    } };
}

export function variant(s, v, ctx) {
  if (!v) return null;
  const p = s.products.get(v.productId);
  return { __typename: 'ProductVariant', id: gid('ProductVariant', v.id), legacyResourceId: v.id, sku: v.sku, barcode: v.barcode, title: v.title,
    displayName: `${p.title} - ${v.title}`, price: v.price, compareAtPrice: v.compareAtPrice, position: v.position, taxable: v.taxable,
    inventoryPolicy: v.inventoryPolicy, availableForSale: () => s.inventoryQuantity(v) > 0 || v.inventoryPolicy === 'CONTINUE',
    inventoryQuantity: () => s.inventoryQuantity(v), sellableOnlineQuantity: () => s.inventoryQuantity(v), createdAt: iso(v.createdAt), updatedAt: iso(v.updatedAt),
    inventoryItem: () => inventoryItem(s, s.items.get(v.inventoryItemId), ctx), product: () => product(s, p, ctx), requiresComponents: false, showUnitPrice: false, defaultCursor: cursorOf(v.id), unitPrice: null, unitPriceMeasurement: null,
    selectedOptions: p.options.map((name, i) => ({ name, value: v.optionValues[i] ?? null, optionValue: { id: gid('ProductOptionValue', `${v.id}${i}`), name: v.optionValues[i] ?? '', hasVariants: true, linkedMetafieldValue: null } })),
    ...metafieldsOf(v, ctx) };
}

export function product(s, p, ctx) {
  if (!p) return null;
  const vs = () => p.variantIds.map((id) => s.variants.get(id));
  return { __typename: 'Product', id: gid('Product', p.id), legacyResourceId: p.id, title: p.title, handle: p.handle, status: p.status, vendor: p.vendor,
    productType: p.productType, tags: p.tags, descriptionHtml: p.descriptionHtml, description: () => p.descriptionHtml.replace(/<[^>]*>/g, ''),
    createdAt: iso(p.createdAt), updatedAt: iso(p.updatedAt), publishedAt: iso(p.publishedAt), isGiftCard: false, onlineStoreUrl: null, onlineStorePreviewUrl: null,
    featuredMedia: null, templateSuffix: null, combinedListingRole: null, defaultCursor: cursorOf(p.id), hasVariantsThatRequiresComponents: false, requiresSellingPlan: false, giftCardTemplateSuffix: null, hasOnlyDefaultVariant: () => vs().length === 1 && vs()[0].title === 'Default Title',
    hasOutOfStockVariants: () => vs().some((v) => s.inventoryQuantity(v) <= 0), tracksInventory: true,
    totalInventory: () => vs().reduce((a, v) => a + s.inventoryQuantity(v), 0), variantsCount: () => count(p.variantIds.length),
    seo: { title: null, description: null },
    options: (args) => firstN(p.options.map((name, i) => ({ id: gid('ProductOption', `${p.id}${i + 1}`), name, position: i + 1, linkedMetafield: null,
      values: [...new Set(vs().map((v) => v.optionValues[i]).filter(Boolean))],
      optionValues: [...new Set(vs().map((v) => v.optionValues[i]).filter(Boolean))].map((n, j) => ({ id: gid('ProductOptionValue', `${p.id}${i + 1}${j}`), name: n, hasVariants: true, linkedMetafieldValue: null })) })), args),
    variants: (args) => connection(vs(), args, ctx, (v) => variant(s, v, ctx)),
    ...metafieldsOf(p, ctx) };
}

export function customer(s, c, ctx) {
  if (!c) return null;
  const da = c.addresses.find((a) => a.id === c.defaultAddressId);
  return { __typename: 'Customer', id: gid('Customer', c.id), legacyResourceId: c.id, firstName: c.firstName, lastName: c.lastName,
    displayName: [c.firstName, c.lastName].filter(Boolean).join(' ') || c.email || c.phone || '', email: c.email, phone: c.phone, note: c.note, tags: c.tags,
    state: c.state, verifiedEmail: c.verifiedEmail, taxExempt: c.taxExempt, taxExemptions: [], locale: c.locale, createdAt: iso(c.createdAt), updatedAt: iso(c.updatedAt),
    numberOfOrders: String(c.ordersCount), amountSpent: money(c.totalSpentCents), canDelete: c.ordersCount === 0, dataSaleOptOut: false, multipassIdentifier: null,
    lifetimeDuration: 'about 1 hour', productSubscriberStatus: 'NEVER_SUBSCRIBED',
    defaultEmailAddress: c.email ? { emailAddress: c.email, marketingState: 'NOT_SUBSCRIBED', marketingOptInLevel: null, marketingUpdatedAt: null, validFormat: true } : null,
    defaultPhoneNumber: c.phone ? { phoneNumber: c.phone } : null,
    defaultAddress: address(da, da?.id), addresses: () => c.addresses.map((a) => address(a, a.id)),
    addressesV2: (args) => connection(c.addresses, args, ctx, (a) => address(a, a.id)),
    lastOrder: () => (c.lastOrderId ? order(s, s.orders.get(c.lastOrderId), ctx) : null),
    orders: (args) => connection([...s.orders.values()].filter((o) => o.customerId === c.id), args, ctx, (o) => order(s, o, ctx)),
    ...metafieldsOf(c, ctx) };
}

export function lineItem(s, o, l, ctx) {
  const cur = o.currency;
  const current = l.quantity - l.refundedQty;
  return { __typename: 'LineItem', id: gid('LineItem', l.id), name: l.name, title: l.title, sku: l.sku, vendor: l.vendor, variantTitle: l.variantTitle,
    quantity: l.quantity, currentQuantity: current, unfulfilledQuantity: Math.max(0, current - l.fulfilledQty), refundableQuantity: current,
    nonFulfillableQuantity: l.refundedQty, fulfillableQuantity: Math.max(0, current - l.fulfilledQty), requiresShipping: l.requiresShipping, taxable: l.taxable,
    isGiftCard: false, restockable: true, merchantEditable: true, customAttributes: [],
    fulfillmentStatus: l.fulfilledQty === 0 ? 'unfulfilled' : l.fulfilledQty >= current ? 'fulfilled' : 'partial',
    originalUnitPriceSet: bag(l.priceCents, cur), discountedUnitPriceSet: bag(l.priceCents - Math.floor(l.discountCents / l.quantity), cur),
    discountedUnitPriceAfterAllDiscountsSet: bag(l.priceCents - Math.floor(l.discountCents / l.quantity), cur),
    originalTotalSet: bag(l.priceCents * l.quantity, cur), discountedTotalSet: () => bag(l.priceCents * l.quantity - l.discountCents, cur),
    totalDiscountSet: bag(l.discountCents, cur), discountAllocations: l.discountCents ? [{ allocatedAmountSet: bag(l.discountCents, cur) }] : [],
    taxLines: l.taxCents ? [{ title: 'HST', rate: o.taxBp / 10000, ratePercentage: o.taxBp / 100, priceSet: bag(l.taxCents, cur), channelLiable: false, source: 'Shopify' }] : [],
    variant: () => variant(s, s.variants.get(l.variantId), ctx), product: () => product(s, s.products.get(l.productId), ctx) };
}

const FIN = { paid: 'PAID', pending: 'PENDING', authorized: 'AUTHORIZED', partially_paid: 'PARTIALLY_PAID', partially_refunded: 'PARTIALLY_REFUNDED', refunded: 'REFUNDED', voided: 'VOIDED' };

export function order(s, o, ctx) {
  if (!o) return null;
  const cur = o.currency;
  const t = () => (o._t ??= s.totals(o));
  const fs_ = s.fulfillmentStatus(o);
  return { __typename: 'Order', id: gid('Order', o.id), legacyResourceId: o.id, name: o.name, number: o.number, email: o.email, phone: o.phone,
    createdAt: iso(o.createdAt), updatedAt: iso(o.updatedAt), processedAt: iso(o.processedAt), cancelledAt: iso(o.cancelledAt),
    cancelReason: o.cancelReason ? o.cancelReason.toUpperCase() : null, closed: !!o.closedAt, closedAt: iso(o.closedAt), confirmed: true,
    confirmationNumber: o.confirmationNumber, currencyCode: cur, presentmentCurrencyCode: cur, note: o.note, tags: o.tags, test: o.test, sourceName: o.sourceName,
    displayFinancialStatus: FIN[o.financialStatus] ?? null, fullyPaid: o.financialStatus !== 'pending', unpaid: o.financialStatus === 'pending',
    displayFulfillmentStatus: fs_ === 'fulfilled' ? 'FULFILLED' : fs_ === 'partial' ? 'PARTIALLY_FULFILLED' : 'UNFULFILLED',
    fulfillable: !o.cancelledAt && fs_ !== 'fulfilled', requiresShipping: true, restockable: true, refundable: o.financialStatus !== 'refunded',
    canMarkAsPaid: o.financialStatus === 'pending', capturable: false, edited: false, customerAcceptsMarketing: false, customerLocale: 'en', clientIp: o.browserIp,
    paymentGatewayNames: ['shopify_payments'], discountCodes: o.discountCodes.map((d) => d.code), discountCode: o.discountCodes[0]?.code ?? null,
    customAttributes: [], poNumber: null, canNotifyCustomer: true, cartToken: null, checkoutToken: null, dutiesIncluded: false, estimatedTaxes: false,
    hasTimelineComment: false, merchantEditable: !o.cancelledAt, merchantEditableErrors: o.cancelledAt ? ['Order is cancelled'] : [], productNetwork: false,
    registeredSourceUrl: null, returnStatus: 'NO_RETURN', sourceIdentifier: null, taxExempt: false, taxesIncluded: false, statusPageUrl: `https://${s.shopDomain}/orders/${o.token}`,
    subtotalLineItemsQuantity: () => t().qty, currentSubtotalLineItemsQuantity: () => t().currentQty, totalWeight: () => String(t().weight), currentTotalWeight: () => String(t().weight),
    totalPriceSet: () => bag(t().total, cur), originalTotalPriceSet: () => bag(t().total, cur), subtotalPriceSet: () => bag(t().subtotal, cur),
    totalTaxSet: () => bag(t().tax, cur), totalDiscountsSet: () => bag(t().discounts, cur), totalShippingPriceSet: () => bag(t().shipping, cur),
    totalRefundedSet: () => bag(t().refunded, cur), totalReceivedSet: () => bag(t().received, cur), totalOutstandingSet: () => bag(0, cur),
    netPaymentSet: () => bag(t().received - t().refunded, cur), currentTotalPriceSet: () => bag(t().currentTotal, cur), currentSubtotalPriceSet: () => bag(t().currentSubtotal, cur),
    currentTotalTaxSet: () => bag(t().currentTax, cur), currentTotalDiscountsSet: () => bag(t().currentDiscounts, cur), currentShippingPriceSet: () => bag(t().shipping, cur),
    taxLines: () => (t().tax ? [{ title: 'HST', rate: o.taxBp / 10000, ratePercentage: o.taxBp / 100, priceSet: bag(t().tax, cur), channelLiable: false, source: 'Shopify' }] : []),
    customer: () => (o.customerId ? customer(s, s.customers.get(o.customerId), ctx) : null),
    shippingAddress: address(o.shippingAddress, null), billingAddress: address(o.billingAddress, null), displayAddress: address(o.shippingAddress, null),
    billingAddressMatchesShippingAddress: true,
    shippingLine: o.shippingLines[0] ? shippingLine(o.shippingLines[0], cur) : null,
    shippingLines: (args) => connection(o.shippingLines, args, ctx, (x) => shippingLine(x, cur)),
    lineItems: (args) => connection(o.lineItems, args, ctx, (l) => lineItem(s, o, l, ctx)),
    fulfillmentOrders: (args) => {
      let fos = o.fulfillmentOrderIds.map((id) => s.fulfillmentOrders.get(id));
      if (args.query) fos = fos.filter(matcher(args.query, { status: (f) => f.status, assigned_location_id: (f) => f.locationId, id: (f) => f.id }));
      return connection(fos, args, ctx, (f) => fulfillmentOrder(s, f, ctx));
    },
    fulfillments: (args) => firstN(o.fulfillmentIds.map((id) => fulfillment(s, s.fulfillments.get(id), ctx)), args),
    fulfillmentsCount: () => count(o.fulfillmentIds.length),
    refunds: (args) => firstN(o.refundIds.map((id) => refund(s, s.refunds.get(id), ctx)), args),
    discountApplications: (args) => connection(o.discountApplications, args, ctx, (d) => ({ __typename: 'DiscountCodeApplication', code: d.code, allocationMethod: 'ACROSS',
      targetSelection: 'ALL', targetType: 'LINE_ITEM', index: 0, value: { __typename: 'PricingPercentageValue', percentage: Number(d.value) } }), (d) => d.code),
    transactions: (args) => firstN(transactions(s, o), args),
    suggestedRefund: (args) => suggestedRefund(s, o, args, ctx),
    ...metafieldsOf(o, ctx) };
}

// The order's sale plus its refunds, as OrderTransaction views (the sale id is derived from the order id).
function saleTxnId(o) { return (BigInt(o.id) + 7n).toString(); }
function txn(id, kind, status, cents, at, cur, parent = null) {
  return { __typename: 'OrderTransaction', id: gid('OrderTransaction', id), kind, status, gateway: 'shopify_payments', formattedGateway: 'Shopify Payments',
    amountSet: bag(cents, cur), createdAt: iso(at), processedAt: iso(at), test: false, errorCode: null, manualPaymentGateway: false, manuallyCapturable: false,
    multiCapturable: false, fees: [], accountNumber: '•••• 4242', parentTransaction: parent, paymentId: `sim-${id}` };
}
function transactions(s, o) {
  const cur = o.currency;
  if (o.financialStatus === 'pending') return [];
  const sale = txn(saleTxnId(o), 'SALE', 'SUCCESS', s.totals(o).total, o.processedAt, cur);
  const refunds = o.refundIds.flatMap((id) => s.refunds.get(id).transactions.map((t) => txn(t.id, 'REFUND', 'SUCCESS', t.amountCents, t.createdAt, cur, sale)));
  return [sale, ...refunds];
}
function suggestedRefund(s, o, args, ctx) {
  const cur = o.currency;
  const t = s.totals(o);
  let sub = 0, tax = 0, disc = 0;
  const items = (args.refundLineItems ?? []).map((r) => {
    const l = o.lineItems.find((x) => x.id === parseGid(r.lineItemId, 'LineItem'));
    if (!l) throw gqlError(`Line item ${r.lineItemId} does not exist`, 'BAD_REQUEST');
    const q = Math.min(r.quantity, l.quantity - l.refundedQty);
    const d = Math.round((l.discountCents * q) / l.quantity), x = Math.round((l.taxCents * q) / l.quantity);
    sub += l.priceCents * q - d; tax += x; disc += d;
    return { id: null, quantity: q, restockType: r.restockType ?? 'NO_RESTOCK', restocked: false, location: null, lineItem: lineItem(s, o, l, ctx),
      priceSet: bag(l.priceCents, cur), subtotalSet: bag(l.priceCents * q - d, cur), totalTaxSet: bag(x, cur) };
  });
  const shippingLeft = t.shipping - o.refundIds.reduce((a, id) => a + s.refunds.get(id).shippingCents, 0);
  const ship = args.suggestFullRefund || args.refundShipping ? shippingLeft : args.shippingAmount ? Math.min(shippingLeft, Math.round(Number(args.shippingAmount) * 100)) : 0;
  if (args.suggestFullRefund) { sub = t.currentSubtotal; tax = t.currentTax; }
  const maxRefundable = Math.max(0, t.received - t.refunded);
  const amount = Math.min(maxRefundable, sub + tax + ship);
  return { amountSet: bag(amount, cur), subtotalSet: bag(sub, cur), discountedSubtotalSet: bag(sub, cur), totalTaxSet: bag(tax, cur), totalCartDiscountAmountSet: bag(0, cur),
    totalDutiesSet: bag(0, cur), maximumRefundableSet: bag(maxRefundable, cur), refundDuties: [], refundLineItems: items, suggestedRefundMethods: [],
    shipping: { amountSet: bag(ship, cur), maximumRefundableSet: bag(shippingLeft, cur), taxSet: bag(0, cur) },
    suggestedTransactions: amount > 0 ? [{ gateway: 'shopify_payments', formattedGateway: 'Shopify Payments', kind: 'SUGGESTED_REFUND', accountNumber: '•••• 4242', paymentDetails: null,
      amountSet: bag(amount, cur), maximumRefundableSet: bag(maxRefundable, cur), parentTransaction: transactions(s, o)[0] ?? null }] : [] };
}
function shippingLine(x, cur) {
  return { __typename: 'ShippingLine', id: gid('ShippingLine', x.id), title: x.title, code: x.code, source: x.source, carrierIdentifier: null, custom: false,
    isRemoved: false, phone: null, deliveryCategory: null, shippingRateHandle: null, originalPriceSet: bag(x.priceCents, cur), discountedPriceSet: bag(x.priceCents, cur),
    currentDiscountedPriceSet: bag(x.priceCents, cur), taxLines: [], discountAllocations: [] };
}

export function fulfillmentOrder(s, f, ctx) {
  if (!f) return null;
  const o = s.orders.get(f.orderId);
  const loc = s.locations.get(f.locationId);
  const open = ['OPEN', 'IN_PROGRESS'].includes(f.status);
  const sa = o.shippingAddress;
  return { __typename: 'FulfillmentOrder', id: gid('FulfillmentOrder', f.id), status: f.status, requestStatus: f.requestStatus, orderId: gid('Order', o.id),
    orderName: o.name, orderProcessedAt: iso(o.processedAt), createdAt: iso(f.createdAt), updatedAt: iso(f.updatedAt), fulfillAt: iso(f.createdAt), fulfillBy: null,
    fulfillmentHolds: [], internationalDuties: null,
    supportedActions: open ? ['CREATE_FULFILLMENT', 'MOVE', 'HOLD', 'SPLIT'].map((action) => ({ action, externalUrl: null })) : [],
    order: () => order(s, o, ctx),
    assignedLocation: { name: loc.name, address1: loc.address1, address2: null, city: loc.city, countryCode: loc.countryCode, province: loc.province,
      zip: loc.zip, phone: loc.phone, location: () => location(s, loc, ctx) },
    destination: { id: gid('FulfillmentOrderDestination', f.id), address1: sa.address1, address2: sa.address2 ?? null, city: sa.city, company: sa.company ?? null,
      countryCode: sa.countryCode, email: o.email, firstName: sa.firstName, lastName: sa.lastName, phone: sa.phone ?? null, province: sa.province ?? null, zip: sa.zip, location: null },
    deliveryMethod: { id: gid('DeliveryMethod', f.id), methodType: 'SHIPPING', presentedName: o.shippingLines[0]?.title ?? null, serviceCode: o.shippingLines[0]?.code ?? null,
      minDeliveryDateTime: null, maxDeliveryDateTime: null, sourceReference: null },
    lineItems: (args) => connection(f.lineItems, args, ctx, (li) => foLineItem(s, o, li, ctx)),
    fulfillments: (args) => connection([...s.fulfillments.values()].filter((x) => x.fulfillmentOrderIds.includes(f.id)), args, ctx, (x) => fulfillment(s, x, ctx)),
    locationsForMove: (args) => connection([...s.locations.values()].filter((l) => l.id !== f.locationId), args, ctx, (l) => ({
      location: location(s, l, ctx), movable: true, message: null, availableLineItemsCount: count(f.lineItems.length), unavailableLineItemsCount: count(0) })),
    merchantRequests: (args) => connection([], args, ctx, (x) => x) };
}

function foLineItem(s, o, li, ctx) {
  const l = o.lineItems.find((x) => x.id === li.lineItemId);
  return { __typename: 'FulfillmentOrderLineItem', id: gid('FulfillmentOrderLineItem', li.id), totalQuantity: li.totalQuantity, remainingQuantity: li.remainingQuantity,
    sku: l.sku, productTitle: l.title, variantTitle: l.variantTitle, vendor: l.vendor, requiresShipping: true, inventoryItemId: gid('InventoryItem', l.inventoryItemId),
    warnings: [], image: null, weight: { unit: 'GRAMS', value: l.grams },
    lineItem: () => lineItem(s, o, l, ctx), variant: () => variant(s, s.variants.get(l.variantId), ctx) };
}

export function fulfillment(s, f, ctx) {
  if (!f) return null;
  const o = s.orders.get(f.orderId);
  return { __typename: 'Fulfillment', id: gid('Fulfillment', f.id), legacyResourceId: f.id, name: f.name, status: f.status, displayStatus: f.displayStatus,
    createdAt: iso(f.createdAt), updatedAt: iso(f.updatedAt), deliveredAt: null, estimatedDeliveryAt: null, inTransitAt: f.trackingInfo.length ? iso(f.createdAt) : null,
    requiresShipping: true, totalQuantity: f.lineItems.reduce((a, x) => a + x.quantity, 0), service: null,
    trackingInfo: (args) => firstN(f.trackingInfo.map((x) => ({ company: x.company, number: x.number, url: x.url })), args),
    location: () => location(s, s.locations.get(f.locationId), ctx), order: () => order(s, o, ctx),
    originAddress: null,
    fulfillmentLineItems: (args) => connection(f.lineItems, args, ctx, (x) => {
      const l = o.lineItems.find((y) => y.id === x.lineItemId);
      return { id: gid('FulfillmentLineItem', x.id), quantity: x.quantity, lineItem: lineItem(s, o, l, ctx),
        originalTotalSet: bag(l.priceCents * x.quantity, o.currency), discountedTotalSet: bag(l.priceCents * x.quantity - Math.round((l.discountCents * x.quantity) / l.quantity), o.currency) };
    }),
    fulfillmentOrders: (args) => connection(f.fulfillmentOrderIds.map((id) => s.fulfillmentOrders.get(id)), args, ctx, (x) => fulfillmentOrder(s, x, ctx)),
    events: (args) => connection([], args, ctx, (x) => x) };
}

export function refund(s, r, ctx) {
  if (!r) return null;
  const o = s.orders.get(r.orderId);
  const cur = o.currency;
  return { __typename: 'Refund', id: gid('Refund', r.id), legacyResourceId: r.id, note: r.note, createdAt: iso(r.createdAt), processedAt: iso(r.processedAt),
    updatedAt: iso(r.createdAt), duties: [], return: null, staffMember: null, totalRefundedSet: bag(r.amountCents, cur), order: () => order(s, o, ctx),
    refundLineItems: (args) => connection(r.refundLineItems, args, ctx, (x) => {
      const l = o.lineItems.find((y) => y.id === x.lineItemId);
      return { id: gid('RefundLineItem', x.id), quantity: x.quantity, restockType: x.restockType, restocked: x.restockType !== 'NO_RESTOCK',
        location: x.locationId ? location(s, s.locations.get(x.locationId), ctx) : null, lineItem: lineItem(s, o, l, ctx), priceSet: bag(l.priceCents, cur),
        subtotalSet: bag(x.subtotalCents, cur), totalTaxSet: bag(x.taxCents, cur) };
    }),
    refundShippingLines: (args) => connection([], args, ctx, (x) => x),
    orderAdjustments: (args) => connection([], args, ctx, (x) => x),
    transactions: (args) => connection(r.transactions, args, ctx, (t) => ({ __typename: 'OrderTransaction', id: gid('OrderTransaction', t.id), kind: t.kind.toUpperCase(),
      status: t.status.toUpperCase(), gateway: t.gateway, formattedGateway: 'Shopify Payments', amountSet: bag(t.amountCents, cur), createdAt: iso(t.createdAt),
      processedAt: iso(t.createdAt), test: false, errorCode: null, manualPaymentGateway: false, manuallyCapturable: false, multiCapturable: false, fees: [], parentTransaction: null })) };
}

export function adjustmentGroup(s, g, ctx) {
  if (!g) return null;
  return { __typename: 'InventoryAdjustmentGroup', id: gid('InventoryAdjustmentGroup', g.id), createdAt: iso(g.createdAt), reason: g.reason,
    referenceDocumentUri: g.referenceDocumentUri, app: null, staffMember: null,
    changes: (args) => g.changes.filter((c) => (!args.inventoryItemIds || args.inventoryItemIds.includes(gid('InventoryItem', c.itemId)))
      && (!args.locationIds || args.locationIds.includes(gid('Location', c.locationId))) && (!args.quantityNames || args.quantityNames.includes(c.name)))
      .map((c) => ({ name: c.name, delta: c.delta, quantityAfterChange: c.quantityAfterChange, ledgerDocumentUri: c.ledgerDocumentUri,
        item: () => inventoryItem(s, s.items.get(c.itemId), ctx), location: () => location(s, s.locations.get(c.locationId), ctx) })) };
}

export function subscription(s, w) {
  if (!w) return null;
  return { __typename: 'WebhookSubscription', id: gid('WebhookSubscription', w.id), legacyResourceId: w.id, topic: w.topic, uri: w.uri, callbackUrl: w.uri,
    endpoint: { __typename: 'WebhookHttpEndpoint', callbackUrl: w.uri }, format: w.format, includeFields: w.includeFields, filter: w.filter, name: w.name,
    metafieldNamespaces: w.metafieldNamespaces, metafields: [], createdAt: iso(w.createdAt), updatedAt: iso(w.updatedAt),
    apiVersion: { handle: w.apiVersion, displayName: w.apiVersion, supported: true } };
}

export function bulkOp(s, b) {
  if (!b) return null;
  return { __typename: 'BulkOperation', id: gid('BulkOperation', b.id), status: b.status, errorCode: b.errorCode ?? null, createdAt: iso(b.createdAt),
    completedAt: iso(b.completedAt), objectCount: String(b.objectCount ?? 0), rootObjectCount: String(b.rootObjectCount ?? 0),
    fileSize: b.fileSize == null ? null : String(b.fileSize), url: b.url ?? null, partialDataUrl: null, query: b.query, type: 'QUERY' };
}
