-- Money as exact decimal strings. Amounts are converted to integer minor units (Lua 5.4
-- integers, 64-bit) for arithmetic and back to strings; never through floating point.
local M = {}

local SCALE = 100          -- two decimal places: every currency Shopify and OrderEZ exchange here

-- Amounts already seen, both ways: a shop's prices repeat (a catalog has few distinct ones),
-- and a table read costs a fraction of a pattern match or of formatting a number. Each memo
-- starts over when it reaches MEMO_MAX entries, so odd traffic cannot grow it without bound.
local MEMO_MAX = 4096
local parsed, nparsed = {}, 0
local formatted, nformatted = {}, 0

local mtype = math.type

local function parse(s)
  if type(s) ~= "string" then error("money: expected a decimal string, got " .. type(s), 3) end
  -- the usual shape, "12.50", by a simpler pattern first (the general one costs twice as much)
  local units, cents = s:match("^(%d+)%.(%d%d)$")
  if units then return tonumber(units) * SCALE + tonumber(cents) end
  local sign, int, frac = s:match("^%s*([-+]?)(%d+)%.?(%d*)%s*$")
  if not int then error("money: not a decimal amount: '" .. s .. "'", 3) end
  if #frac > 2 then
    if frac:sub(3):match("[^0]") then error("money: more than 2 decimals: '" .. s .. "'", 3) end
    frac = frac:sub(1, 2)
  end
  frac = frac .. string.rep("0", 2 - #frac)
  local v = tonumber(int) * SCALE + tonumber(frac)
  if sign == "-" then v = -v end
  return v
end

-- "12.5" -> 1250, "-3" -> -300, "0.005" is an error (more precision than the scale can hold).
function M.parse(s)
  local v = parsed[s] -- only strings are kept (a number is never found here)
  if v then return v end
  if mtype(s) == "integer" then return s * SCALE end
  v = parse(s) -- raises unless s is a string
  if nparsed >= MEMO_MAX then parsed, nparsed = {}, 0 end
  parsed[s], nparsed = v, nparsed + 1
  return v
end

-- "00" to "99": the minor units as format writes them, made once (string.format cost more
-- than the rest of format)
local MINOR = {}
for m = 0, SCALE - 1 do MINOR[m] = string.format("%02d", m) end

-- 1250 -> "12.50"
function M.format(v)
  local text = formatted[v]
  -- an integral float finds its integer's entry (Lua's keys are so): it must still fail
  if text and mtype(v) == "integer" then return text end
  assert(mtype(v) == "integer", "money.format needs integer minor units")
  local sign = v < 0 and "-" or ""
  local a = math.abs(v)
  text = sign .. (a // SCALE) .. "." .. MINOR[a % SCALE]
  if nformatted >= MEMO_MAX then formatted, nformatted = {}, 0 end
  formatted[v], nformatted = text, nformatted + 1
  return text
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
