-- OrderEZ API profile: every path the rules use, in one table.
-- OrderEZ's public API is only partly documented (research/orderez-api.md, ORDEREZ_PROFILE.md):
-- the paths below beyond the documented operations are provisional. Correcting one is an edit
-- here, not a C change.
local M = {}

M.paths = {
  warehouses       = "/distributor/warehouses",
  outlets          = "/distributor/outlets",
  outlet           = "/distributor/outlets/%s",
  outlet_contacts  = "/distributor/outlets/%s/contacts",
  products         = "/distributor/products",
  product          = "/distributor/products/%s",
  orders           = "/distributor/orders",
  order            = "/distributor/orders/%s",
  order_cancel     = "/distributor/orders/%s/cancel",
  order_shipments  = "/distributor/orders/%s/shipments",
  stock            = "/distributor/stock",
  stock_adjust     = "/distributor/stock/adjustments",
}

-- M.path("order", 42) --> "/distributor/orders/42"; ids are URL-safe (digits, uuids).
function M.path(name, ...)
  local p = M.paths[name]
  if not p then error("orderez profile: unknown path '" .. tostring(name) .. "'", 2) end
  local args = table.pack(...)
  for i = 1, args.n do args[i] = tostring(args[i]) end
  return string.format(p, table.unpack(args, 1, args.n))
end

return M
