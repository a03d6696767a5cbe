-- Money as exact decimal strings. Amounts are converted to integer minor units (Lua 5.4
-- integers, 64-bit) for arithmetic and back to strings; never through floating point.
local M = {}

local SCALE = 100          -- two decimal places: every currency Shopify and OrderEZ exchange here

-- "12.5" -> 1250, "-3" -> -300, "0.005" is an error (more precision than the scale can hold).
function M.parse(s)
  if math.type(s) == "integer" then return s * SCALE end
  if type(s) ~= "string" then error("money: expected a decimal string, got " .. type(s), 2) end
  -- the usual shape, "12.50", by a simpler pattern first (the general one costs twice as much)
  local units, cents = s:match("^(%d+)%.(%d%d)$")
  if units then return tonumber(units) * SCALE + tonumber(cents) end
  local sign, int, frac = s:match("^%s*([-+]?)(%d+)%.?(%d*)%s*$")
  if not int then error("money: not a decimal amount: '" .. s .. "'", 2) end
  if #frac > 2 then
    if frac:sub(3):match("[^0]") then error("money: more than 2 decimals: '" .. s .. "'", 2) end
    frac = frac:sub(1, 2)
  end
  frac = frac .. string.rep("0", 2 - #frac)
  local v = tonumber(int) * SCALE + tonumber(frac)
  if sign == "-" then v = -v end
  return v
end

-- "00" to "99": the minor units as format writes them, made once (string.format cost more
-- than the rest of format)
local MINOR = {}
for m = 0, SCALE - 1 do MINOR[m] = string.format("%02d", m) end

-- 1250 -> "12.50"
function M.format(v)
  assert(math.type(v) == "integer", "money.format needs integer minor units")
  local sign = v < 0 and "-" or ""
  v = math.abs(v)
  return sign .. (v // SCALE) .. "." .. MINOR[v % SCALE]
end

function M.sum(list, field)
  local total = 0
  for _, x in ipairs(list or {}) do
    total = total + M.parse(field and x[field] or x)
  end
  return total
end

-- Splits a total into n parts that differ by at most one minor unit and add up exactly.
function M.split(total, n)
  local base, rest = total // n, total % n
  local parts = {}
  for i = 1, n do parts[i] = base + (i <= rest and 1 or 0) end
  return parts
end

return M
