-- Orders in: every new Shopify order becomes an OrderEZ order.
--
-- On shopify/orders/create — and on shopify/orders/updated when the create was missed (an
-- upsert) — this rule resolves the customer to an OrderEZ outlet (ID map, else a contact with the
-- same e-mail, else a new outlet with its primary "ordering" contact), resolves each line's
-- product by SKU, creates the order with externalRef = the Shopify order GID, records the ID
-- links, and writes the OrderEZ id back to Shopify as a metafield and a tag.
--
-- To change what goes where, edit the tables in the SETTINGS and MAPPING sections only.
local oez = require "orderez"
local shopify = require "shopify"
local money = require "money"

local null = ez.json.null -- JSON's null as decoded payloads carry it (one constant value)

---------------------------------------------------------------------------------------------
-- SETTINGS

local settings = {
  skip_test_orders = true,          -- Shopify test orders (payload.test) are not sent
  create_unknown_products = false,  -- true: a SKU OrderEZ lacks is created; false: dead letter
  delivery_days = 2,                -- requested delivery = order date + N days ...
  delivery_date_attribute = "delivery_date", -- ... unless this cart attribute (YYYY-MM-DD) is set
  tag_prefix = "orderez:",          -- Shopify tag written on synced orders
}

-- Shopify financial_status -> OrderEZ payment status
local payment_status = {
  pending = "unpaid", authorized = "authorized", partially_paid = "partially_paid",
  paid = "paid", partially_refunded = "partially_refunded", refunded = "refunded",
  voided = "voided", expired = "unpaid",
}

-- Orders for which a filter returns a reason are skipped (audited, nothing sent).
local filters = {
  function(o) if settings.skip_test_orders and o.test then return "test order" end end,
  function(o) if o.cancelled_at and o.cancelled_at ~= null then return "cancelled before sync" end end,
}

---------------------------------------------------------------------------------------------
-- MAPPING: canonical field = Shopify payload key, or a function of the payload.

local address_map = {
  line1 = "address1", line2 = "address2", city = "city", state = "province_code",
  postal_code = "zip", country = "country_code",
}

local function str(v) if v == null then return nil end return v end

-- A mapping as map_with walks it: its entries in a list, each {field, from, from is a function},
-- made the first time the mapping is used (walking the table itself cost a call to `next` and
-- one to `type` an entry, for every line of every order).
local walks = {}

local function entries(map)
  local list = {}
  for field, from in pairs(map) do list[#list + 1] = { field, from, type(from) == "function" } end
  walks[map] = list
  return list
end

-- The canonical table of src by a mapping: each field its function of src, or src's key.
local function map_with(map, src)
  if not src or src == null then return nil end
  local list = walks[map] or entries(map)
  local out = {}
  for i = 1, #list do
    local e = list[i]
    local from = e[2]
    if e[3] then
      out[e[1]] = from(src)
    else
      local v = src[from]
      if v ~= null then out[e[1]] = v end
    end
  end
  return out
end

local function full_name(p)
  if not p or p == null then return nil end
  local name = table.concat({ str(p.first_name) or "", str(p.last_name) or "" }, " "):match("^%s*(.-)%s*$")
  return name ~= "" and name or str(p.name)
end

-- order date -> requested delivery date, as computed below: orders of a day share it, and the C
-- library's time conversions cost more than the rest of an order's mapping
local delivery_dates, ndelivery_dates = {}, 0

local function requested_delivery_date(o)
  for _, a in ipairs(o.note_attributes or {}) do
    if a.name == settings.delivery_date_attribute and tostring(a.value):match("^%d%d%d%d%-%d%d%-%d%d$") then
      return a.value
    end
  end
  local y, m, d = tostring(o.created_at or ""):match("^(%d+)-(%d+)-(%d+)")
  if not y then return nil end
  local day = y .. "-" .. m .. "-" .. d
  local date = delivery_dates[day]
  if date then return date end
  -- noon avoids a daylight-saving shift moving the date
  local t = os.time({ year = tonumber(y), month = tonumber(m), day = tonumber(d) + settings.delivery_days, hour = 12 })
  date = os.date("%Y-%m-%d", t)
  if ndelivery_dates >= 1000 then delivery_dates, ndelivery_dates = {}, 0 end
  delivery_dates[day], ndelivery_dates = date, ndelivery_dates + 1
  return date
end

local function delivery_fee(o)
  local total = 0
  for _, s in ipairs(o.shipping_lines or {}) do
    total = total + money.parse(str(s.discounted_price) or s.price)
  end
  return money.format(total)
end

local order_map = {
  external_ref = function(o) return str(o.admin_graphql_api_id) or shopify.gid("Order", o.id) end,
  currency = "currency",
  notes = function(o)
    local note = str(o.note)
    return "Shopify " .. tostring(o.name) .. (note and (": " .. note) or "")
  end,
  requested_delivery_date = requested_delivery_date,
  payment_status = function(o) return payment_status[o.financial_status] or "unknown" end,
  delivery_fee = delivery_fee,
  shipping_address = function(o) return map_with(address_map, o.shipping_address) end,
}

-- A line's total after its discounts; the unit price is that total over the quantity, rounded
-- to the cent when it does not divide (line_total stays exact).
local line_map = {
  sku = function(l) return str(l.sku) end,
  name = function(l) return str(l.name) or str(l.title) end,
  quantity = "quantity",
  line_total = function(l)
    local total = money.parse(l.price) * l.quantity
    for _, a in ipairs(l.discount_allocations or {}) do total = total - money.parse(a.amount) end
    return money.format(total)
  end,
  unit_price = function(l)
    local total = money.parse(l.price) * l.quantity
    for _, a in ipairs(l.discount_allocations or {}) do total = total - money.parse(a.amount) end
    return money.format((total * 2 + l.quantity) // (2 * l.quantity))
  end,
}

local outlet_map = {
  name = function(c, o)
    local company = o.shipping_address ~= null and o.shipping_address and str(o.shipping_address.company)
    return company or full_name(c) or str(c.email) or ("Shopify customer " .. tostring(c.id))
  end,
  email = function(c, o) return str(c.email) or str(o.email) end,
  phone = function(c, o) return str(c.phone) or str(o.phone) end,
  address = function(c, o)
    local a = (c.default_address ~= null and c.default_address) or o.shipping_address
    return map_with(address_map, a)
  end,
}

---------------------------------------------------------------------------------------------
-- FLOW

local function resolve_outlet(o)
  local c = (o.customer ~= null and o.customer) or { email = str(o.email) }
  local cid = c.id and tostring(c.id)
  if cid then
    local known = ez.idmap.get("customer", cid)
    if known then return known end
  end
  local email = str(c.email) or str(o.email)
  local outlet
  if email then outlet = oez.find_outlet_by_email(email) end
  if not outlet and cid then
    -- a create that happened before a crash is found by its external reference
    outlet = oez.find_outlet_by_ref(shopify.gid("Customer", cid))
  end
  if not outlet then
    local fields = {}
    for k, f in pairs(outlet_map) do fields[k] = f(c, o) end
    fields.external_ref = cid and shopify.gid("Customer", cid) or nil
    outlet = oez.create_outlet(fields)
    if fields.email then
      oez.create_contact(outlet.id, { name = full_name(c) or fields.name, email = fields.email,
                                      phone = fields.phone, type = "ordering", primary = true })
    end
    ez.log.info("outlet created", { outlet = outlet.id, customer = cid })
  end
  if cid then ez.idmap.put("customer", cid, tostring(outlet.id)) end
  return tostring(outlet.id)
end

local function resolve_product(l)
  local sku = str(l.sku)
  if not sku or sku == "" then
    error(string.format("line '%s' has no SKU: OrderEZ needs one", tostring(l.name or l.title)))
  end
  local vid = l.variant_id and l.variant_id ~= null and tostring(l.variant_id)
  if vid then
    local known = ez.idmap.get("variant", vid)
    if known then return known end
  end
  local p = oez.find_product_by_sku(sku)
  if not p then
    if not settings.create_unknown_products then
      error(string.format("unknown SKU '%s' (line '%s'): add it to OrderEZ or set create_unknown_products",
                          sku, tostring(l.name or l.title)))
    end
    p = oez.create_product({ name = str(l.title) or sku, sku = sku, price = l.price,
                             weight_grams = l.grams })
  end
  if vid then ez.idmap.put("variant", vid, tostring(p.id)) end
  return tostring(p.id)
end

local function sync_order(event)
  local o = event.payload
  local order_key = tostring(o.id)
  local existing = ez.idmap.get("order", order_key)
  if existing then
    -- a run that failed after creating the order (say, the write-back timed out) finishes here
    if not ez.kv.get("writeback:" .. order_key) then
      shopify.writeback_order(str(o.admin_graphql_api_id) or shopify.gid("Order", o.id), existing,
                              settings.tag_prefix)
      ez.kv.put("writeback:" .. order_key, existing)
      return { synced = existing, resumed = true }
    end
    return { skipped = "already synced as OrderEZ order " .. existing }
  end
  if o.ezsync_catchup or not o.line_items then
    -- the catch-up poller's orders/updated carries only the order's id: read it whole
    local gid = str(o.admin_graphql_api_id) or shopify.gid("Order", o.id)
    o = shopify.fetch_order(gid)
    if not o then return { skipped = "order " .. gid .. " not found in Shopify" } end
  end
  for _, f in ipairs(filters) do
    local why = f(o)
    if why then return { skipped = why } end
  end

  local order = map_with(order_map, o)
  order.outlet_id = resolve_outlet(o)
  order.lines = {}
  for i, l in ipairs(o.line_items or {}) do
    local line = map_with(line_map, l)
    line.product_id = resolve_product(l)
    order.lines[i] = line
  end

  local id, created = oez.create_order(order)
  id = tostring(id)
  ez.idmap.put("order", order_key, id)
  if created and created.lineItems then
    for i, l in ipairs(o.line_items or {}) do
      local ol = created.lineItems[i]
      if ol and ol.id and (ol.sku == nil or ol.sku == str(l.sku)) then
        ez.idmap.put("line", tostring(l.id), tostring(ol.id))
      end
    end
  end
  shopify.writeback_order(order.external_ref, id, settings.tag_prefix)
  ez.kv.put("writeback:" .. order_key, id)
  ez.log.info("order synced", { shopify = o.name, orderez = id })
  return { synced = id }
end

return {
  name = "orders",
  on = {
    ["shopify/orders/create"] = sync_order,
    -- an update for an order we never saw created is the create we missed: upsert
    ["shopify/orders/updated"] = sync_order,
  },
  description = "Shopify orders -> OrderEZ orders (customer -> outlet, lines by SKU, ID map)",
  self_check = function()
    for _, v in pairs(payment_status) do assert(type(v) == "string", "payment_status values are strings") end
    assert(money.format(money.parse("12.5")) == "12.50", "money round trip")
    assert(math.type(settings.delivery_days) == "integer", "settings.delivery_days must be an integer")
  end,
}
