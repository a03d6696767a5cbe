-- rules/orders.lua through the real host: given an event and the remote answers, the rule makes
-- exactly these calls. OrderEZ and Shopify answers come from a small in-spec fake that keeps
-- state the way the remotes do (ids, uniqueness), so multi-step flows read naturally.
local ezhost = require "ezhost"
local decode = ezhost.json_decode

local function fake_remotes()
  local f = { outlets = {}, contacts = {}, products = {}, orders = {}, next_id = 100,
              shopify = {} }
  f.products[#f.products + 1] = { id = 11, sku = "TEA-1", name = "Green tea", price = "6.00" }
  f.products[#f.products + 1] = { id = 12, sku = "CUP-2", name = "Cup", price = "4.50" }
  local function id() f.next_id = f.next_id + 1 return f.next_id end
  local function qs(path)
    local p, q = path:match("^([^?]*)%??(.*)$")
    local t = {}
    for k, v in q:gmatch("([^&=]+)=([^&]*)") do
      t[k] = v:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)
    end
    return p, t
  end
  local function ok(data, meta) return { status = 200, body = { data = data, meta = meta } } end
  function f.answer(call)
    if call.kind == "shopify" then
      f.shopify[#f.shopify + 1] = decode(call.body)
      return { status = 200, body = { data = {
        metafieldsSet = { metafields = {}, userErrors = {} },
        tagsAdd = { node = { id = "x" }, userErrors = {} } } } }
    end
    local path, q = qs(call.path)
    local body = call.body and decode(call.body)
    if call.method == "GET" and path == "/distributor/outlets" then
      local out = {}
      for _, o in ipairs(f.outlets) do
        if (q.externalRef and o.externalRef == q.externalRef) or
           (q.search and (o.email == q.search or o.name == q.search)) then
          out[#out + 1] = o
        elseif q.search then
          for _, c in ipairs(f.contacts) do
            if c.outletId == o.id and c.email == q.search then out[#out + 1] = o break end
          end
        end
      end
      return ok(out, { page = 1, limit = 20, total = #out, totalPages = 1 })
    end
    local oid = path:match("^/distributor/outlets/(%d+)/contacts$")
    if oid and call.method == "GET" then
      local out = {}
      for _, c in ipairs(f.contacts) do if c.outletId == tonumber(oid) then out[#out + 1] = c end end
      return ok(out)
    end
    if oid and call.method == "POST" then
      for _, c in ipairs(f.contacts) do
        if c.email == body.email then
          return { status = 422, body = { error = { fields = { email = { "email must be unique" } },
                                                    type = "UnprocessableEntity" } } }
        end
      end
      body.id = id(); body.outletId = tonumber(oid)
      f.contacts[#f.contacts + 1] = body
      return ok(body)
    end
    if call.method == "POST" and path == "/distributor/outlets" then
      body.id = id()
      f.outlets[#f.outlets + 1] = body
      return ok(body)
    end
    if call.method == "GET" and path == "/distributor/products" then
      for _, p in ipairs(f.products) do if p.sku == q.sku then return ok({ p }) end end
      return ok({})
    end
    if call.method == "POST" and path == "/distributor/products" then
      body.id = id()
      f.products[#f.products + 1] = body
      return ok(body)
    end
    if call.method == "POST" and path == "/distributor/orders" then
      for _, o in ipairs(f.orders) do
        if o.externalRef == body.externalRef then
          return { status = 409, body = { error = { type = "conflict", message = "exists",
                                                    existingId = o.id } } }
        end
      end
      body.id = id()
      for i, l in ipairs(body.lineItems) do l.id = body.id * 100 + i end
      f.orders[#f.orders + 1] = body
      return ok(body)
    end
    return { status = 404, body = { error = { type = "not_found", message = "no route " .. path } } }
  end
  return f
end

local next_line = 487817672276298554
local function order(o)
  o = o or {}
  local lines = {}
  for i, l in ipairs(o.lines or { { sku = "TEA-1", qty = 2, price = "6.00" } }) do
    next_line = next_line + 1
    lines[i] = { id = next_line, variant_id = l.variant_id or (39072856 + i), sku = l.sku,
                 name = l.name or ("Item " .. i), title = l.name or ("Item " .. i),
                 quantity = l.qty, price = l.price, discount_allocations = l.discounts or {} }
  end
  local id = o.id or 820982911946154508
  return {
    id = id, admin_graphql_api_id = "gid://shopify/Order/" .. id, name = o.name or "#1001",
    email = "jon@example.com", created_at = "2026-11-20T19:00:00-05:00", currency = "EUR",
    financial_status = o.financial_status or "paid", test = o.test or false,
    cancelled_at = ezhost.json_decode("null"), note = o.note,
    customer = o.customer == false and ezhost.json_decode("null") or (o.customer or {
      id = 115310627314723954, email = "jon@example.com", first_name = "Jon", last_name = "Snow",
      phone = "+3212345678" }),
    shipping_address = o.shipping_address or { address1 = "1 Main St", city = "Gent",
      zip = "9000", country_code = "BE", province_code = ezhost.json_decode("null"),
      company = ezhost.json_decode("null") },
    line_items = lines,
    shipping_lines = o.shipping_lines or { { price = "5.00", discounted_price = "5.00" } },
    note_attributes = o.note_attributes or {},
  }
end

local function run(host, f, topic, payload, opts)
  opts = opts or {}
  return host:run(topic, { id = opts.event_id or 1, source = "shopify", topic = topic,
                           payload = payload }, { responses = f.answer, job_id = opts.job_id })
end

local function calls_summary(r)
  local out = {}
  for i, c in ipairs(r.calls) do
    out[i] = c.kind == "shopify" and "shopify graphql" or (c.method .. " " .. c.path)
  end
  return out
end

describe("rules/orders.lua", function()
  local host, f
  before_each(function()
    host = assert(ezhost.open { dir = "rules" })
    f = fake_remotes()
  end)
  after_each(function() host:close() end)

  it("creates outlet, primary ordering contact and order for a new customer", function()
    local r = run(host, f, "shopify/orders/create", order())
    assert.are.equal("done", r.status, r.error)
    assert.are.same({
      "GET /distributor/outlets?limit=20&search=jon%40example.com",
      "GET /distributor/outlets?externalRef=gid%3A%2F%2Fshopify%2FCustomer%2F115310627314723954&limit=1",
      "POST /distributor/outlets",
      "POST /distributor/outlets/101/contacts",
      "GET /distributor/products?limit=1&sku=TEA-1",
      "POST /distributor/orders",
      "shopify graphql",
    }, calls_summary(r))
    local outlet = f.outlets[1]
    assert.are.equal("Jon Snow", outlet.name)
    assert.are.equal("gid://shopify/Customer/115310627314723954", outlet.externalRef)
    assert.are.same({ line1 = "1 Main St", city = "Gent", postalCode = "9000", country = "BE" },
                    outlet.address)
    local contact = f.contacts[1]
    assert.are.same({ "ordering", true, "jon@example.com" }, { contact.type, contact.isPrimary, contact.email })
    local o = f.orders[1]
    assert.are.equal("gid://shopify/Order/820982911946154508", o.externalRef)
    assert.are.equal(101, o.outletId)
    assert.are.equal("paid", o.paymentStatus)
    assert.are.equal("5.00", o.deliveryFee)
    assert.are.equal("2026-11-22", o.requestedDeliveryDate)
    assert.are.same({ { productId = 11, sku = "TEA-1", name = "Item 1", quantity = 2,
                        unitPrice = "6.00", lineTotal = "12.00", id = o.id * 100 + 1 } }, o.lineItems)
    -- the ID map: customer, variant, order and line
    assert.are.equal("101", host:idmap_get("customer", "115310627314723954"))
    assert.are.equal(tostring(o.id), host:idmap_get("order", "820982911946154508"))
    assert.are.equal(tostring(o.id * 100 + 1), host:idmap_get("line", tostring(next_line)))
    assert.are.same({ synced = tostring(o.id) }, r.result)
    -- the write-back: metafield and tag on the Shopify order
    local wb = f.shopify[1]
    assert.are.equal("gid://shopify/Order/820982911946154508", wb.variables.id)
    assert.are.same({ "orderez:" .. o.id }, wb.variables.tags)
    assert.are.equal(tostring(o.id), wb.variables.metafields[1].value)
    assert.are.equal("ezsync", wb.variables.metafields[1].namespace)
  end)

  it("reuses the outlet of a returning customer through the ID map", function()
    assert.are.equal("done", run(host, f, "shopify/orders/create", order()).status)
    local r = run(host, f, "shopify/orders/create", order({ id = 820982911946154600, name = "#1002" }))
    assert.are.equal("done", r.status, r.error)
    -- outlet and product both come from the ID map now
    assert.are.same({ "POST /distributor/orders", "shopify graphql" }, calls_summary(r))
    assert.are.equal(1, #f.outlets)
    assert.are.equal(f.orders[1].outletId, f.orders[2].outletId)
  end)

  it("matches an existing OrderEZ contact by e-mail", function()
    f.outlets[1] = { id = 55, name = "Snow Catering", email = "office@snow.example" }
    f.contacts[1] = { id = 56, outletId = 55, email = "jon@example.com", type = "ordering" }
    local r = run(host, f, "shopify/orders/create", order())
    assert.are.equal("done", r.status, r.error)
    assert.are.same({ "GET /distributor/outlets?limit=20&search=jon%40example.com",
                      "GET /distributor/outlets/55/contacts",
                      "GET /distributor/products?limit=1&sku=TEA-1", "POST /distributor/orders",
                      "shopify graphql" }, calls_summary(r))
    assert.are.equal(55, f.orders[1].outletId)
    assert.are.equal("55", host:idmap_get("customer", "115310627314723954"))
  end)

  it("dead-letters an unknown SKU with an error naming it", function()
    local r = run(host, f, "shopify/orders/create",
                  order({ lines = { { sku = "NOPE-9", qty = 1, price = "1.00", name = "Mystery" } } }))
    assert.are.equal("error", r.status)
    assert.are.equal("rule", r.error_kind)
    assert.matches("unknown SKU 'NOPE%-9' %(line 'Mystery'%)", r.error)
    assert.are.equal(0, #f.orders)
    assert.is_nil(host:idmap_get("order", "820982911946154508"))
  end)

  it("maps several lines with discounts and shipping exactly", function()
    local r = run(host, f, "shopify/orders/create", order({
      lines = {
        { sku = "TEA-1", qty = 3, price = "6.00", discounts = { { amount = "1.00" } } },
        { sku = "CUP-2", qty = 2, price = "4.50", discounts = { { amount = "0.45" }, { amount = "0.45" } } },
      },
      shipping_lines = { { price = "7.95", discounted_price = "3.95" }, { price = "1.10" } },
    }))
    assert.are.equal("done", r.status, r.error)
    local lines = f.orders[1].lineItems
    assert.are.same({ "17.00", "5.67" }, { lines[1].lineTotal, lines[1].unitPrice })
    assert.are.same({ "8.10", "4.05" }, { lines[2].lineTotal, lines[2].unitPrice })
    assert.are.equal("5.05", f.orders[1].deliveryFee)
  end)

  it("gives each order the delivery date of its own day, one state for many orders", function()
    -- the rule keeps the dates it computed: a kept one must never answer for another day
    local days = { { "2026-11-20T19:00:00-05:00", "2026-11-22" }, { "2026-12-30T08:00:00Z", "2027-01-01" },
                   { "2026-11-20T23:59:59-05:00", "2026-11-22" }, { "2028-02-28T10:00:00Z", "2028-03-01" },
                   { "2026-12-30T01:00:00+01:00", "2027-01-01" }, { "2026-1-2T01:00:00Z", "2026-01-04" } }
    for i, d in ipairs(days) do
      local o = order({ id = 820982911946154600 + i, name = "#" .. (1100 + i) })
      o.created_at = d[1]
      local r = run(host, f, "shopify/orders/create", o)
      assert.are.equal("done", r.status, r.error)
      assert.are.equal(d[2], f.orders[i].requestedDeliveryDate, d[1])
    end
  end)

  it("keeps ids above 2^53 exact end to end", function()
    local big = 9007199254740993 -- 2^53 + 1: a double would make it ...992
    local r = run(host, f, "shopify/orders/create", order({ id = big, customer = {
      id = 9007199254740995, email = "big@example.com", first_name = "Big", last_name = "Id" } }))
    assert.are.equal("done", r.status, r.error)
    assert.are.equal("gid://shopify/Order/9007199254740993", f.orders[1].externalRef)
    assert.truthy(r.calls[#r.calls - 1].body:find('"externalRef":"gid://shopify/Order/9007199254740993"', 1, true))
    assert.is_not_nil(host:idmap_get("order", "9007199254740993"))
    assert.is_not_nil(host:idmap_get("customer", "9007199254740995"))
    assert.is_nil(host:idmap_get("order", "9007199254740992"))
  end)

  it("carries non-ASCII names and addresses unchanged", function()
    local r = run(host, f, "shopify/orders/create", order({
      customer = { id = 42, email = "zoe@example.com", first_name = "Zoë", last_name = "Ångström" },
      shipping_address = { address1 = "Straße des 17. Juni 1", city = "Zürich", zip = "8001",
                           country_code = "CH", company = "Café Ünïcode 東京" },
    }))
    assert.are.equal("done", r.status, r.error)
    assert.are.equal("Café Ünïcode 東京", f.outlets[1].name)
    assert.are.equal("Zoë Ångström", f.contacts[1].name)
    assert.are.equal("Straße des 17. Juni 1", f.orders[1].shippingAddress.line1)
    assert.are.equal("Zürich", f.orders[1].shippingAddress.city)
  end)

  it("treats orders/updated before orders/create as the create (upsert), once", function()
    local r1 = run(host, f, "shopify/orders/updated", order())
    assert.are.equal("done", r1.status, r1.error)
    assert.are.equal(1, #f.orders)
    local r2 = run(host, f, "shopify/orders/create", order())
    assert.are.equal("done", r2.status, r2.error)
    assert.are.same({}, r2.calls)
    assert.matches("already synced", r2.result.skipped)
    assert.are.equal(1, #f.orders)
  end)

  it("sends nothing for a duplicate delivery", function()
    assert.are.equal("done", run(host, f, "shopify/orders/create", order()).status)
    local r = run(host, f, "shopify/orders/create", order(), { event_id = 2 })
    assert.are.same({}, r.calls)
    assert.are.equal(1, #f.orders)
  end)

  it("finds the order a crashed run created (409 conflict) and still writes back", function()
    f.orders[1] = { id = 777, externalRef = "gid://shopify/Order/820982911946154508", lineItems = {} }
    local r = run(host, f, "shopify/orders/create", order())
    assert.are.equal("done", r.status, r.error)
    assert.are.equal(1, #f.orders)
    assert.are.equal("777", host:idmap_get("order", "820982911946154508"))
    assert.are.same({ "orderez:777" }, f.shopify[1].variables.tags)
  end)

  it("skips test orders with a reason and makes no call", function()
    local r = run(host, f, "shopify/orders/create", order({ test = true }))
    assert.are.equal("done", r.status, r.error)
    assert.are.same({}, r.calls)
    assert.are.same({ skipped = "test order" }, r.result)
  end)

  it("maps the payment status through the table", function()
    run(host, f, "shopify/orders/create", order({ financial_status = "pending" }))
    assert.are.equal("unpaid", f.orders[1].paymentStatus)
  end)

  it("reads the whole order when the catch-up poller brings only its id", function()
    local gql_order = {
      id = "gid://shopify/Order/820982911946154999", legacyResourceId = "820982911946154999",
      name = "#1077", email = "mia@example.com", createdAt = "2026-11-20T10:00:00Z",
      test = false, displayFinancialStatus = "PARTIALLY_PAID", currencyCode = "EUR",
      cancelledAt = ezhost.json_decode("null"), customAttributes = {},
      customer = { legacyResourceId = "115310627314729999", firstName = "Mia", lastName = "Kovač",
                   defaultEmailAddress = { emailAddress = "mia@example.com" },
                   defaultPhoneNumber = ezhost.json_decode("null"),
                   defaultAddress = { address1 = "Ilica 1", city = "Zagreb", zip = "10000",
                                      countryCodeV2 = "HR" } },
      shippingAddress = { address1 = "Ilica 1", city = "Zagreb", zip = "10000", countryCodeV2 = "HR" },
      lineItems = { nodes = { { id = "gid://shopify/LineItem/9", sku = "CUP-2", name = "Cup", title = "Cup",
        quantity = 4, variant = { legacyResourceId = "77" },
        originalUnitPriceSet = { shopMoney = { amount = "4.50" } },
        discountAllocations = { { allocatedAmountSet = { shopMoney = { amount = "1.00" } } } } } } },
      shippingLines = { nodes = { { originalPriceSet = { shopMoney = { amount = "6.00" } },
                                    discountedPriceSet = { shopMoney = { amount = "6.00" } } } } },
    }
    local first = true
    local r = host:run("shopify/orders/updated", { id = 9, source = "shopify", payload = {
      id = 820982911946154999, admin_graphql_api_id = "gid://shopify/Order/820982911946154999",
      updated_at = "2026-11-20T10:05:00Z", ezsync_catchup = true } }, { responses = function(call)
        if call.kind == "shopify" and first then
          first = false
          assert.matches("^query EzsyncOrder", decode(call.body).query)
          return { status = 200, body = { data = { order = gql_order } } }
        end
        return f.answer(call)
      end })
    assert.are.equal("done", r.status, r.error)
    local o = f.orders[1]
    assert.are.equal("gid://shopify/Order/820982911946154999", o.externalRef)
    assert.are.equal("partially_paid", o.paymentStatus)
    assert.are.same({ "CUP-2", 4, "17.00", "4.25" },
                    { o.lineItems[1].sku, o.lineItems[1].quantity, o.lineItems[1].lineTotal, o.lineItems[1].unitPrice })
    assert.are.equal("6.00", o.deliveryFee)
    assert.are.equal("Mia Kovač", f.outlets[1].name)
    assert.are.equal(tostring(o.id), host:idmap_get("order", "820982911946154999"))
    assert.are.equal("101", host:idmap_get("customer", "115310627314729999"))
  end)

  it("handles a guest checkout (no customer) by e-mail", function()
    local r = run(host, f, "shopify/orders/create", order({ customer = false }))
    assert.are.equal("done", r.status, r.error)
    assert.are.equal(1, #f.outlets)
    assert.are.equal("jon@example.com", f.outlets[1].email)
  end)
  -- Bug: the Shopify catch-up poller's orders/updated carries only {id, admin_graphql_api_id,
  -- updated_at}; the rule mapped that stub as an order (no lines, no customer), created a
  -- nameless outlet and dead-lettered on OrderEZ's 422. It must fetch the order first.
  it("fetches the order for a catch-up event that carries only its id (catch-up stub bug)", function()
    local gql_order = {
      id = "gid://shopify/Order/820982911946154508", legacyResourceId = "820982911946154508",
      name = "#1001", note = ezhost.json_decode("null"), email = "jon@example.com",
      phone = ezhost.json_decode("null"), test = false, createdAt = "2026-11-20T19:00:00-05:00",
      cancelledAt = ezhost.json_decode("null"), currencyCode = "EUR",
      displayFinancialStatus = "PAID", customAttributes = {},
      customer = { legacyResourceId = "115310627314723954", email = "jon@example.com",
                   firstName = "Jon", lastName = "Snow", phone = ezhost.json_decode("null"),
                   defaultAddress = ezhost.json_decode("null") },
      shippingAddress = { address1 = "1 Main St", address2 = ezhost.json_decode("null"),
                          city = "Gent", provinceCode = ezhost.json_decode("null"), zip = "9000",
                          countryCodeV2 = "BE", company = ezhost.json_decode("null") },
      shippingLines = { nodes = { { originalPriceSet = { shopMoney = { amount = "5.0" } },
                                    discountedPriceSet = { shopMoney = { amount = "5.0" } } } } },
      lineItems = { nodes = { { id = "gid://shopify/LineItem/487817672276298999", sku = "TEA-1",
        name = "Green tea", title = "Green tea", quantity = 2,
        originalUnitPriceSet = { shopMoney = { amount = "6.0" } },
        variant = { legacyResourceId = "39072856" }, discountAllocations = {} } } },
    }
    local answer = f.answer
    f.answer = function(call)
      if call.kind == "shopify" and decode(call.body).query:match("^query EzsyncOrder") then
        f.fetched = decode(call.body).variables.id
        return { status = 200, body = { data = { order = gql_order } } }
      end
      return answer(call)
    end
    local r = run(host, f, "shopify/orders/updated", { id = 820982911946154508,
      admin_graphql_api_id = "gid://shopify/Order/820982911946154508",
      updated_at = "2026-11-20T19:00:05-05:00", ezsync_catchup = true })
    assert.are.equal("done", r.status, r.error)
    assert.are.equal("gid://shopify/Order/820982911946154508", f.fetched)
    assert.are.equal(1, #f.orders)
    local o = f.orders[1]
    assert.are.equal("gid://shopify/Order/820982911946154508", o.externalRef)
    assert.are.equal("paid", o.paymentStatus)
    assert.are.equal("5.00", o.deliveryFee)
    assert.are.same({ { productId = 11, sku = "TEA-1", name = "Green tea", quantity = 2,
                        unitPrice = "6.00", lineTotal = "12.00", id = o.id * 100 + 1 } }, o.lineItems)
    assert.are.equal("Jon Snow", f.outlets[1].name)
    assert.are.equal("101", host:idmap_get("customer", "115310627314723954"))
    assert.are.equal(tostring(o.id * 100 + 1), host:idmap_get("line", "487817672276298999"))
    -- a catch-up event for an order already synced costs no call at all
    local again = run(host, f, "shopify/orders/updated", { id = 820982911946154508,
      admin_graphql_api_id = "gid://shopify/Order/820982911946154508", ezsync_catchup = true },
      { event_id = 2 })
    assert.are.equal("done", again.status, again.error)
    assert.are.same({}, calls_summary(again))
  end)
end)
