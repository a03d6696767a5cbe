-- The OrderEZ API profile: every path, field name and status string ezsync uses for OrderEZ
-- lives in this one file. OrderEZ documents its envelope, auth and ten operations; the paths,
-- field names and everything beyond those operations are PROVISIONAL (see README.md, "The
-- OrderEZ API"). When the real contract is known, correcting it is an edit here, not in C.
--
-- Rules speak in canonical tables (see build_* below); this module turns them into wire bodies
-- and wire answers back into canonical values.
local M = {}

M.paths = {
  outlets          = "/distributor/outlets",                 -- D (operation), P (path)
  outlet           = "/distributor/outlets/%s",              -- D/P
  outlet_contacts  = "/distributor/outlets/%s/contacts",     -- D/P
  products         = "/distributor/products",                -- D/P
  product          = "/distributor/products/%s",             -- D/P
  orders           = "/distributor/orders",                  -- D (list) / P (create)
  order            = "/distributor/orders/%s",               -- D/P
  order_cancel     = "/distributor/orders/%s/cancel",        -- P
  order_shipments  = "/distributor/orders/%s/shipments",     -- P
  warehouses       = "/distributor/warehouses",              -- P
  stock            = "/distributor/stock",                   -- P
  stock_adjust     = "/distributor/stock/adjustments",       -- P
}

-- Order status wire values (display names documented, wire spelling provisional).
M.status = {
  needs_approval = "needs_approval", pending = "pending", accepted = "accepted",
  partially_accepted = "partially_accepted", declined = "declined", scheduled = "scheduled",
  shipped = "shipped", completed = "completed", action_needed = "action_needed",
  in_dispute = "in_dispute", cancelled = "cancelled",
}

M.contact_types = { owner = "owner", ordering = "ordering", finance = "finance",
                    subscriber = "subscriber" }

-- M.path("order", 42) --> "/distributor/orders/42". An id goes into the path as it is, so it
-- must be one: letters, digits, "-" and "_" (OrderEZ's are digits or uuids). Anything else
-- ("../", "?", "#", "/", "%", a space) would reach another endpoint or a wrong one.
function M.path(name, ...)
  local p = M.paths[name]
  if not p then error("orderez profile: unknown path '" .. tostring(name) .. "'", 2) end
  local args = table.pack(...)
  for i = 1, args.n do
    args[i] = tostring(args[i])
    if not args[i]:match("^[%w_%-]+$") then
      error(string.format("orderez profile: id %q for path '%s' is not a plain id", args[i], name), 2)
    end
  end
  return string.format(p, table.unpack(args, 1, args.n))
end
local path = M.path

-- OrderEZ ids are integers (provisional; strings accepted): ids kept as strings in the ID map go
-- back on the wire as integers when they are numeric.
-- Made ones are kept (ids recur: every order of an outlet, every line of a product), up to 4096.
local ids, nids = {}, 0
function M.id(v)
  local n = ids[v]
  if n then return n end
  if type(v) == "string" and v:match("^%d+$") then
    n = math.tointeger(tonumber(v))
    if n then
      if nids >= 4096 then ids, nids = {}, 0 end
      ids[v], nids = n, nids + 1
      return n
    end
  end
  return v
end

-- Raises an error naming the call and OrderEZ's message (the job dead-letters with it).
local function failure(method, p, res, level)
  local err = type(res.body) == "table" and res.body.error or nil
  local msg = err and (err.message or err.type) or res.error or "no error body"
  if err and err.fields then
    local parts = {}
    for field, msgs in pairs(err.fields) do
      parts[#parts + 1] = field .. ": " .. table.concat(msgs, ", ")
    end
    table.sort(parts)
    msg = msg .. " (" .. table.concat(parts, "; ") .. ")"
  end
  error(string.format("OrderEZ %s %s answered %d: %s", method, p, res.status, msg), level or 3)
end

-- Calls OrderEZ; returns the decoded `data` and `meta` of a 2xx answer. A status listed in
-- `accept` is returned as (nil, nil, res) for the caller to handle; anything else fails.
function M.call(method, p, opts, accept)
  local res = ez.orderez.request(method, p, opts)
  if res.status >= 200 and res.status < 300 then
    local body = res.body or {}
    return body.data, body.meta, res
  end
  if accept and accept[res.status] then return nil, nil, res end
  failure(method, p, res)
end

-- Lists every page of a collection (page/limit paging, provisional).
function M.list_all(p, query, max_pages)
  local out, page = {}, 1
  repeat
    local q = { page = page, limit = 100 }
    for k, v in pairs(query or {}) do q[k] = v end
    local data, meta = M.call("GET", p, { query = q })
    for _, x in ipairs(data or {}) do out[#out + 1] = x end
    page = page + 1
  until not meta or page > (meta.totalPages or 0) or page > (max_pages or 50)
  return out
end

---------------------------------------------------------------------------------------------
-- Outlets and contacts

function M.find_outlet_by_ref(external_ref)
  local data = M.call("GET", M.paths.outlets, { query = { externalRef = external_ref, limit = 1 } })
  return data and data[1] or nil
end

-- An outlet one of whose contacts (or the outlet itself) has this e-mail. OrderEZ has no
-- contact search, so: outlets matching the e-mail by `search`, then their contacts.
function M.find_outlet_by_email(email)
  local wanted = email:lower()
  local outlets = M.call("GET", M.paths.outlets, { query = { search = email, limit = 20 } }) or {}
  for _, o in ipairs(outlets) do
    if type(o.email) == "string" and o.email:lower() == wanted then return o end
    local contacts = M.call("GET", path("outlet_contacts", o.id)) or {}
    for _, c in ipairs(contacts) do
      if type(c.email) == "string" and c.email:lower() == wanted then return o, c end
    end
  end
  return nil
end

-- canonical outlet: {name, external_ref, email, phone, address = canonical address}
local function wire_address(a)
  if not a then return nil end
  return { line1 = a.line1, line2 = a.line2, city = a.city, state = a.state,
           postalCode = a.postal_code, country = a.country }
end
M.wire_address = wire_address

function M.create_outlet(o)
  local data = M.call("POST", M.paths.outlets, { body = {
    name = o.name, externalRef = o.external_ref, email = o.email, phone = o.phone,
    address = wire_address(o.address) } })
  return data
end

-- A duplicate e-mail (422 on `email`) means the contact exists already: not an error here.
function M.create_contact(outlet_id, c)
  local data, _, res = M.call("POST", path("outlet_contacts", outlet_id), { body = {
    name = c.name, email = c.email, phone = c.phone,
    type = M.contact_types[c.type or "ordering"], isPrimary = c.primary and true or false } },
    { [422] = true })
  if res and res.status == 422 then
    local fields = type(res.body) == "table" and res.body.error and res.body.error.fields or {}
    if not fields.email then failure("POST", path("outlet_contacts", outlet_id), res, 2) end
    return nil
  end
  return data
end

---------------------------------------------------------------------------------------------
-- Products

function M.find_product_by_sku(sku)
  local data = M.call("GET", M.paths.products, { query = { sku = sku, limit = 1 } })
  return data and data[1] or nil
end

-- canonical product: {name, sku, barcode, price (decimal string), weight_grams, active}
function M.create_product(p)
  return M.call("POST", M.paths.products, { body = {
    name = p.name, sku = p.sku, barcode = p.barcode, price = p.price,
    weightGrams = p.weight_grams, active = p.active ~= false } })
end

---------------------------------------------------------------------------------------------
-- Orders

-- canonical order: {external_ref, outlet_id, requested_delivery_date, notes, currency,
--   payment_status, delivery_fee, shipping_address, lines = {{product_id, sku, name, quantity,
--   unit_price, line_total}}}
function M.order_body(o)
  local lines = {}
  for i, l in ipairs(o.lines) do
    lines[i] = { productId = M.id(l.product_id), sku = l.sku, name = l.name, quantity = l.quantity,
                 unitPrice = l.unit_price, lineTotal = l.line_total }
  end
  return {
    externalRef = o.external_ref, outletId = M.id(o.outlet_id),
    requestedDeliveryDate = o.requested_delivery_date, notes = o.notes, currency = o.currency,
    paymentStatus = o.payment_status, deliveryFee = o.delivery_fee,
    shippingAddress = wire_address(o.shipping_address), lineItems = ez.json.array(lines),
  }
end

-- Creates the order; a 409 conflict on externalRef (a create that already happened, e.g.
-- before a crash) answers with the existing order's id: that is the idempotency hook.
-- Returns the order id and the created order (nil when it already existed).
function M.create_order(o)
  local data, _, res = M.call("POST", M.paths.orders, { body = M.order_body(o) }, { [409] = true })
  if data then return data.id, data end
  local err = type(res.body) == "table" and res.body.error or {}
  local existing = err.existingId or (err.existing and err.existing.id)
  if existing then return existing, nil, true end
  local found = M.call("GET", M.paths.orders, { query = { externalRef = o.external_ref, limit = 1 } })
  if found and found[1] then return found[1].id, found[1], true end
  error("OrderEZ reported a conflict for " .. o.external_ref .. " but no such order exists")
end

function M.get_order(id)
  return M.call("GET", path("order", id))
end

function M.cancel_order(id, reason, restock)
  return M.call("POST", path("order_cancel", id), { body = { reason = reason,
    restock = restock and true or false } })
end

return M
