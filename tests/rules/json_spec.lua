-- ez.json as rules see it (the same C code, through ezhost.json).
local json = require("ezhost").json

describe("ez.json", function()
  it("keeps 64-bit ids exact both ways", function()
    local t = json.decode('{"id":820982911946154508}')
    assert.are.equal("integer", math.type(t.id))
    assert.are.equal(820982911946154508, t.id)
    assert.are.equal('{"id":820982911946154508}', json.encode(t))
  end)

  it("tells [] from {} after a round trip", function()
    assert.are.equal('{"a":[],"b":{}}', json.encode(json.decode('{"a":[],"b":{}}')))
  end)

  it("maps null to the json.null sentinel", function()
    local t = json.decode('[null]')
    assert.are.equal(json.null, t[1])
    assert.are.equal("[null]", json.encode(t))
  end)

  it("keeps money strings strings", function()
    assert.are.equal("12.30", json.decode('{"p":"12.30"}').p)
  end)
end)

describe("rules/lib/orderez.lua", function()
  local orderez = require "orderez"
  it("builds paths from the profile", function()
    assert.are.equal("/distributor/orders/42/cancel", orderez.path("order_cancel", 42))
    assert.has_error(function() orderez.path("nope") end)
  end)

  it("puts only plain ids into a path", function()
    assert.are.equal("/distributor/orders/5f2c-9a_B/cancel", orderez.path("order_cancel", "5f2c-9a_B"))
    for _, bad in ipairs({ "../admin", "1?x=2", "1#f", "1/2", "%2e%2e", "", "a b" }) do
      local ok, err = pcall(orderez.path, "order_cancel", bad)
      assert.is_false(ok)
      assert.matches("is not a plain id", err, 1, true)
    end
  end)
end)
