-- Shopify Admin GraphQL helpers: the documents rules send (each validates against the pinned
-- Admin schema; the simulator rejects any that does not) and small conveniences around them.
local M = {}

M.docs = {}

-- Links a Shopify order to its OrderEZ order: a metafield (machine-readable) and a tag (visible
-- in the admin and filterable). One request, two mutations.
M.docs.order_writeback = [[
mutation OrderWriteback($metafields: [MetafieldsSetInput!]!, $id: ID!, $tags: [String!]!) {
  metafieldsSet(metafields: $metafields) {
    metafields { id key namespace value }
    userErrors { field message code }
  }
  tagsAdd(id: $id, tags: $tags) {
    node { id }
    userErrors { field message }
  }
}]]

-- Everything rules/orders.lua reads of an order, for events that carry only its id (the
-- catch-up poller's orders/updated). Cost: about 2 + 50 x 8 requested, far less charged.
M.docs.order_for_sync = [[
query OrderForSync($id: ID!) {
  order(id: $id) {
    id legacyResourceId name note email phone test createdAt cancelledAt currencyCode
    displayFinancialStatus
    customAttributes { key value }
    customer {
      legacyResourceId email firstName lastName phone
      defaultAddress { address1 address2 city provinceCode zip countryCodeV2 company }
    }
    shippingAddress { address1 address2 city provinceCode zip countryCodeV2 company }
    shippingLines(first: 10) {
      nodes { originalPriceSet { shopMoney { amount } } discountedPriceSet { shopMoney { amount } } }
    }
    lineItems(first: 50) {
      nodes {
        id sku name title quantity
        originalUnitPriceSet { shopMoney { amount } }
        variant { legacyResourceId }
        discountAllocations { allocatedAmountSet { shopMoney { amount } } }
      }
    }
  }
}]]

function M.gid(kind, id)
  if type(id) == "string" and id:match("^gid://") then return id end
  return string.format("gid://shopify/%s/%s", kind, tostring(id))
end

-- Numeric id of a GID as a string (exact: never through a float).
function M.gid_id(gid)
  return type(gid) == "string" and gid:match("/(%d+)$") or tostring(gid)
end

-- Sends a document; raises on transport-level GraphQL errors (schema, cost) and returns data.
-- userErrors are returned to the caller, per mutation, through collect_user_errors.
function M.graphql(doc, vars)
  local res = ez.shopify.graphql(doc, vars)
  if res.errors and #res.errors > 0 then
    local msgs = {}
    for _, e in ipairs(res.errors) do msgs[#msgs + 1] = e.message or "?" end
    error("Shopify GraphQL error: " .. table.concat(msgs, "; "), 2)
  end
  return res.data or {}
end

function M.user_errors(data)
  local out = {}
  for name, payload in pairs(data or {}) do
    if type(payload) == "table" and type(payload.userErrors) == "table" then
      for _, e in ipairs(payload.userErrors) do
        out[#out + 1] = name .. ": " .. tostring(e.message)
      end
    end
  end
  table.sort(out)
  return out
end

function M.writeback_order(order_gid, orderez_id, tag_prefix)
  local data = M.graphql(M.docs.order_writeback, {
    metafields = { { ownerId = order_gid, namespace = "ezsync", key = "orderez_order_id",
                     type = "single_line_text_field", value = tostring(orderez_id) } },
    id = order_gid,
    tags = { (tag_prefix or "orderez:") .. tostring(orderez_id) },
  })
  local errs = M.user_errors(data)
  if #errs > 0 then error("Shopify rejected the write-back: " .. table.concat(errs, "; "), 2) end
  return data
end

local function rest_address(a)
  if not a or a == ez.json.null then return nil end
  return { address1 = a.address1, address2 = a.address2, city = a.city,
           province_code = a.provinceCode, zip = a.zip, country_code = a.countryCodeV2,
           company = a.company }
end

local function amount(set)
  return set and set ~= ez.json.null and set.shopMoney and set.shopMoney.amount or "0"
end

-- The order as a REST-shaped table (the webhook payload's keys that rules/orders.lua reads),
-- fetched by GID; nil when Shopify has no such order.
function M.fetch_order_rest(order_gid)
  local o = M.graphql(M.docs.order_for_sync, { id = order_gid }).order
  if not o or o == ez.json.null then return nil end
  local out = {
    id = o.legacyResourceId, admin_graphql_api_id = o.id, name = o.name, note = o.note,
    email = o.email, phone = o.phone, test = o.test, created_at = o.createdAt,
    cancelled_at = o.cancelledAt, currency = o.currencyCode,
    financial_status = type(o.displayFinancialStatus) == "string"
      and o.displayFinancialStatus:lower() or nil,
    note_attributes = {}, shipping_lines = {}, line_items = {},
    shipping_address = rest_address(o.shippingAddress),
  }
  for _, a in ipairs(o.customAttributes or {}) do
    out.note_attributes[#out.note_attributes + 1] = { name = a.key, value = a.value }
  end
  local c = o.customer
  if c and c ~= ez.json.null then
    out.customer = { id = c.legacyResourceId, email = c.email, first_name = c.firstName,
                     last_name = c.lastName, phone = c.phone,
                     default_address = rest_address(c.defaultAddress) }
  end
  for _, s in ipairs(o.shippingLines and o.shippingLines.nodes or {}) do
    out.shipping_lines[#out.shipping_lines + 1] = { price = amount(s.originalPriceSet),
      discounted_price = amount(s.discountedPriceSet) }
  end
  for _, l in ipairs(o.lineItems and o.lineItems.nodes or {}) do
    local allocs = {}
    for _, a in ipairs(l.discountAllocations or {}) do
      allocs[#allocs + 1] = { amount = amount(a.allocatedAmountSet) }
    end
    local v = l.variant ~= ez.json.null and l.variant or nil
    out.line_items[#out.line_items + 1] = {
      id = M.gid_id(l.id), sku = l.sku, name = l.name, title = l.title, quantity = l.quantity,
      price = amount(l.originalUnitPriceSet), variant_id = v and v.legacyResourceId or nil,
      discount_allocations = allocs }
  end
  return out
end

return M
