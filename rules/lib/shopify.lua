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

-- One order with what the order rules map, for events that carry only its id (the catch-up
-- poller's orders/updated). Cost stays under Shopify's 1000-point ceiling at 100 lines.
M.docs.order = [[
query EzsyncOrder($id: ID!) {
  order(id: $id) {
    id legacyResourceId name email phone createdAt updatedAt cancelledAt test note
    displayFinancialStatus currencyCode
    customAttributes { key value }
    customer {
      legacyResourceId firstName lastName
      defaultEmailAddress { emailAddress }
      defaultPhoneNumber { phoneNumber }
      defaultAddress { address1 address2 city provinceCode zip countryCodeV2 company }
    }
    shippingAddress { address1 address2 city provinceCode zip countryCodeV2 company name }
    lineItems(first: 100) {
      nodes {
        id sku name title quantity
        variant { legacyResourceId }
        originalUnitPriceSet { shopMoney { amount } }
        discountAllocations { allocatedAmountSet { shopMoney { amount } } }
      }
    }
    shippingLines(first: 20) {
      nodes { originalPriceSet { shopMoney { amount } } discountedPriceSet { shopMoney { amount } } }
    }
  }
}
]]

local function money(set)
  return set and set ~= ez.json.null and set.shopMoney and set.shopMoney.amount or nil
end

local function present(v) return v ~= nil and v ~= ez.json.null end

local function nodes(conn)
  return conn and conn ~= ez.json.null and conn.nodes or {}
end

local function rest_address(a)
  if not a or a == ez.json.null then return ez.json.null end
  return { address1 = a.address1, address2 = a.address2, city = a.city,
           province_code = a.provinceCode, zip = a.zip, country_code = a.countryCodeV2,
           company = a.company, name = a.name }
end

-- The GraphQL order in the REST webhook shape (the shape every order rule maps), so a rule has
-- one mapping whichever way the order arrived.
function M.order_as_rest(g)
  local c = g.customer
  local customer = ez.json.null
  if c and c ~= ez.json.null then
    customer = {
      id = math.tointeger(tonumber(c.legacyResourceId)) or c.legacyResourceId,
      email = present(c.defaultEmailAddress) and c.defaultEmailAddress.emailAddress or nil,
      phone = present(c.defaultPhoneNumber) and c.defaultPhoneNumber.phoneNumber or nil,
      first_name = c.firstName, last_name = c.lastName, default_address = rest_address(c.defaultAddress),
    }
  end
  local lines = {}
  for i, l in ipairs(nodes(g.lineItems)) do
    local allocs = {}
    for j, a in ipairs(l.discountAllocations or {}) do allocs[j] = { amount = money(a.allocatedAmountSet) } end
    lines[i] = { id = math.tointeger(tonumber(M.gid_id(l.id))) or l.id, sku = l.sku, name = l.name,
                 title = l.title, quantity = l.quantity, price = money(l.originalUnitPriceSet),
                 variant_id = present(l.variant) and
                              (math.tointeger(tonumber(l.variant.legacyResourceId))
                               or l.variant.legacyResourceId) or nil,
                 discount_allocations = allocs }
  end
  local shipping = {}
  for i, sl in ipairs(nodes(g.shippingLines)) do
    shipping[i] = { price = money(sl.originalPriceSet), discounted_price = money(sl.discountedPriceSet) }
  end
  local attrs = {}
  for i, a in ipairs(g.customAttributes or {}) do attrs[i] = { name = a.key, value = a.value } end
  return {
    id = math.tointeger(tonumber(g.legacyResourceId)) or g.legacyResourceId,
    admin_graphql_api_id = g.id, name = g.name, email = g.email, phone = g.phone,
    created_at = g.createdAt, updated_at = g.updatedAt, cancelled_at = g.cancelledAt or ez.json.null,
    test = g.test, note = g.note, currency = g.currencyCode,
    financial_status = type(g.displayFinancialStatus) == "string" and g.displayFinancialStatus:lower() or nil,
    customer = customer, shipping_address = rest_address(g.shippingAddress),
    line_items = lines, shipping_lines = shipping, note_attributes = attrs,
  }
end

-- nil when the order no longer exists
function M.fetch_order(gid)
  local data = M.graphql(M.docs.order, { id = gid })
  if not data.order or data.order == ez.json.null then return nil end
  return M.order_as_rest(data.order)
end

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

return M
