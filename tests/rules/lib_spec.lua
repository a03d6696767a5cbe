-- rules/lib's pure helpers: money and the OrderEZ profile's ids. Both keep what they made (a
-- memo, for speed); these specs check that a kept answer is always the answer the helper would
-- make again, and that refusals are never kept.
local money = require "money"
local oez = require "orderez"

describe("rules/lib/money.lua", function()
  it("parses and formats exact decimal strings", function()
    assert.are.equal(1250, money.parse("12.50"))
    assert.are.equal(1250, money.parse("12.5"))
    assert.are.equal(-300, money.parse("-3"))
    assert.are.equal(500, money.parse(5))
    assert.are.equal("12.50", money.format(1250))
    assert.are.equal("-0.05", money.format(-5))
    assert.are.equal("0.00", money.format(0))
  end)

  it("answers a repeated amount as the first time, both ways", function()
    for _ = 1, 3 do
      assert.are.equal(3250, money.parse("32.50"))
      assert.are.equal("32.50", money.format(3250))
      assert.are.equal(500, money.parse("5"))
      assert.are.equal(500, money.parse(5))
    end
  end)

  it("refuses bad amounts every time, even once an equal good one was kept", function()
    for _ = 1, 2 do
      assert.has_error(function() money.parse("12,50") end, "money: not a decimal amount: '12,50'")
      assert.has_error(function() money.parse("0.005") end, "money: more than 2 decimals: '0.005'")
      assert.has_error(function() money.parse(nil) end, "money: expected a decimal string, got nil")
    end
    assert.are.equal("12.50", money.format(1250))
    -- 1250.0 finds 1250's entry as a table key: it must still be refused
    assert.has_error(function() money.format(1250.0) end)
    assert.has_error(function() money.parse(12.5) end)
  end)

  it("stays right past the memo's bound", function()
    for i = 1, 10000 do
      local s = string.format("%d.%02d", i, i % 100)
      assert.are.equal(i * 100 + i % 100, money.parse(s))
      assert.are.equal(s, money.format(i * 100 + i % 100))
    end
    assert.are.equal(1250, money.parse("12.50"))
  end)
end)

describe("rules/lib/orderez.lua", function()
  it("sends numeric ids as integers and anything else as it is, every time", function()
    for _ = 1, 2 do
      assert.are.equal(1005, oez.id("1005"))
      assert.are.equal("integer", math.type(oez.id("1005")))
      assert.are.equal(42, oez.id(42))
      assert.are.equal("a-uuid-1", oez.id("a-uuid-1"))
      assert.are.equal("12a", oez.id("12a"))
      -- beyond 64 bits there is no integer: kept as the string it was
      assert.are.equal("99999999999999999999", oez.id("99999999999999999999"))
    end
    for i = 1, 5000 do assert.are.equal(i, oez.id(tostring(i))) end
  end)
end)
