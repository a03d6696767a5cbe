-- Specs against the real rules host: `ezhost` is build/ezhost.so, the same C bindings the
-- daemon runs, loaded into busted's Lua. Each run goes through the real coroutine/yield path;
-- outbound calls are answered from fixtures and come back as a list.
local ezhost = require "ezhost"

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "/lib'"))
  return d
end

local function write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

describe("the spec runner", function()
  it("runs on Lua 5.4, not the 5.1 /usr/bin/busted would pick", function()
    assert.are.equal("Lua 5.4", _VERSION)
    assert.are.equal("integer", math.type(820982911946154508))
  end)
end)

describe("rules/ping.lua", function()
  local host
  before_each(function() host = assert(ezhost.open { dir = "rules" }) end)
  after_each(function() host:close() end)

  it("handles schedule/ping", function()
    assert.is_true(host:handles("schedule/ping"))
    assert.is_false(host:handles("schedule/pong"))
    assert.are.equal(12, #host:version())
  end)

  it("makes exactly one GET of the warehouses and logs the count", function()
    local r = host:run("schedule/ping", { id = 7, source = "schedule", topic = "schedule/ping",
                                          payload = {} }, {
      responses = { { status = 200, body = { data = { { id = "w1" }, { id = "w2" } } } } },
    })
    assert.are.equal("done", r.status, r.error)
    assert.are.same({ { kind = "orderez", method = "GET", path = "/distributor/warehouses",
                        seq = 1 } }, r.calls)
    assert.are.equal("pong", r.logs[2].msg)
    assert.are.same({ status = 200, warehouses = 2 }, r.logs[2].fields)
    assert.are.same({}, r.writes)
  end)

  it("fails transiently when OrderEZ cannot be reached", function()
    local r = host:run("schedule/ping", { id = 8 }, {
      responses = { { status = 0, error = "connection refused" } },
    })
    assert.are.equal("error", r.status)
    assert.are.equal("transient", r.error_kind)
    assert.matches("^transient: orderez: connection refused", r.error)
  end)
end)

describe("a mapping rule", function()
  local dir, host
  setup(function()
    dir = tmpdir()
    write(dir .. "/lib/map.lua", [[
local M = {}
function M.order(o)
  local lines = ez.json.array()
  for _, li in ipairs(o.line_items) do
    lines[#lines + 1] = { sku = li.sku, qty = li.quantity, price = li.price }
  end
  return { externalRef = tostring(o.id), lines = lines, total = o.total_price }
end
return M
]])
    write(dir .. "/orders.lua", [[
local map = require "map"
return {
  name = "orders",
  on = {
    ["shopify/orders/create"] = function(event)
      local o = event.payload
      if ez.idmap.get("order", o.id) then return end
      local res = ez.orderez.request("POST", "/distributor/orders", { body = map.order(o) })
      if res.status ~= 201 then error("orderez refused the order: " .. tostring(res.status)) end
      ez.idmap.put("order", o.id, res.body.data.id)
      ez.kv.put("orders:last", o.id)
    end,
  },
}
]])
    host = assert(ezhost.open { dir = dir })
  end)
  teardown(function()
    host:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  local order = { id = 820982911946154508, total_price = "12.30",
                  line_items = { { sku = "A-1", quantity = 2, price = "6.15" } } }

  it("sends the mapped order and records the link", function()
    local r = host:run("shopify/orders/create", { id = 1, payload = order }, {
      responses = function(call)
        assert.are.equal("/distributor/orders", call.path)
        return { status = 201, body = { data = { id = "oz-9" } } }
      end,
    })
    assert.are.equal("done", r.status, r.error)
    assert.are.equal(1, #r.calls)
    assert.are.equal('{"externalRef":"820982911946154508","lines":[{"price":"6.15","qty":2,'
                     .. '"sku":"A-1"}],"total":"12.30"}', r.calls[1].body)
    assert.are.same({
      { what = "idmap.put", kind = "order", shopify_id = "820982911946154508",
        orderez_id = "oz-9" },
      { what = "kv.put", key = "orders:last", value = 820982911946154508 },
    }, r.writes)
    assert.are.equal("oz-9", host:idmap_get("order", "820982911946154508"))
    assert.are.equal(820982911946154508, host:kv_get("orders:last"))
  end)

  it("does not create the order twice", function()
    local r = host:run("shopify/orders/create", { id = 2, payload = order })
    assert.are.equal("done", r.status, r.error)
    assert.are.same({}, r.calls)
  end)

  it("reports a rule error with file and line", function()
    local r = host:run("shopify/orders/create", { id = 3, payload = { id = 5, line_items = {} } },
                       { responses = { { status = 422, body = { error = "bad" } } } })
    assert.are.equal("error", r.status)
    assert.are.equal("rule", r.error_kind)
    assert.matches("orders.lua:%d+: orderez refused the order: 422", r.error)
  end)
end)

describe("limits through the host", function()
  local dir, host
  setup(function()
    dir = tmpdir()
    write(dir .. "/spin.lua", [[
return { on = {
  ["schedule/spin"] = function() while true do pcall(function() while true do end end) end end,
  ["schedule/eat"] = function() local s = string.rep("x", 1 << 30) return #s end,
  ["schedule/ok"] = function() end,
} }
]])
    host = assert(ezhost.open { dir = dir, budget = 100000, memory_mb = 8 })
  end)
  teardown(function()
    host:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)

  it("kills a runaway loop even through pcall, then runs the next event", function()
    assert.are.equal("killed", host:run("schedule/spin").status)
    assert.are.equal("done", host:run("schedule/ok").status)
  end)

  it("stops a rule at the memory cap, then runs the next event", function()
    local r = host:run("schedule/eat")
    assert.are.equal("nomem", r.status)
    assert.matches("memory cap", r.error)
    assert.are.equal("done", host:run("schedule/ok").status)
    assert.is_true(host:stats().memory_bytes <= 8 * 1024 * 1024)
  end)
end)

describe("reload", function()
  it("keeps the old version when the new one has a syntax error", function()
    local dir = tmpdir()
    write(dir .. "/a.lua", 'return { on = { ["schedule/a"] = function() end } }')
    local host = assert(ezhost.open { dir = dir })
    local v1 = host:version()
    write(dir .. "/a.lua", 'return { on = {\n ["schedule/a"] = function() if end } }')
    local ok, err = host:reload()
    assert.is_nil(ok)
    assert.matches("a.lua:2:", err)
    assert.are.equal(v1, host:version())
    assert.are.equal("done", host:run("schedule/a").status)
    assert.are.equal(1, host:stats().reloads_failed)
    host:close()
    os.execute("rm -rf '" .. dir .. "'")
  end)
end)
