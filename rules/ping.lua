-- ping: a liveness rule. On the schedule/ping event it logs and asks OrderEZ for the warehouse
-- list, which proves the whole path (scheduler, rule host, rate limiter, OrderEZ auth) works.
local orderez = require "orderez"

return {
  name = "ping",
  on = {
    ["schedule/ping"] = function(event)
      ez.log.info("ping", { event = event.id })
      local res = ez.orderez.request("GET", orderez.path("warehouses"))
      local n = type(res.body) == "table" and type(res.body.data) == "table" and #res.body.data or 0
      ez.log.info("pong", { status = res.status, warehouses = n })
      return res.status
    end,
  },
  self_check = function()
    assert(orderez.path("warehouses") == "/distributor/warehouses")
    assert(orderez.path("order", 820982911946154508) == "/distributor/orders/820982911946154508")
  end,
}
