-- A small pure-Lua JSON codec for the standalone side of the rules bench (same semantics the
-- bench needs from ez.json: null sentinel, array marker, integers kept, sorted keys).
local M = {}
M.null = setmetatable({}, { __tostring = function() return "null" end })
local array_mt = {}
function M.array(t) return setmetatable(t or {}, array_mt) end

local esc = { ['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
              ['\r'] = '\\r', ['\t'] = '\\t' }
local function enc_str(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return esc[c] or string.format("\\u%04x", c:byte()) end) .. '"'
end

local encode
local function enc_table(t, out)
  if getmetatable(t) == array_mt or (next(t) ~= nil and #t > 0) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode(t[i], out)
    end
    out[#out + 1] = "]"
    return
  end
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = enc_str(k)
    out[#out + 1] = ":"
    encode(t[k], out)
  end
  out[#out + 1] = "}"
end

function encode(v, out)
  local ty = type(v)
  if v == nil or v == M.null then out[#out + 1] = "null"
  elseif ty == "boolean" then out[#out + 1] = tostring(v)
  elseif ty == "number" then
    out[#out + 1] = math.type(v) == "integer" and string.format("%d", v) or string.format("%.17g", v)
  elseif ty == "string" then out[#out + 1] = enc_str(v)
  elseif ty == "table" then enc_table(v, out)
  else error("cannot encode " .. ty) end
end

function M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

local decode_value
local function skip(s, i) return s:find("[^ \t\r\n]", i) or #s + 1 end

local function decode_string(s, i)
  local out, j = {}, i + 1
  while true do
    local a, b = s:find('[\\"]', j)
    if not a then error("unterminated string") end
    out[#out + 1] = s:sub(j, a - 1)
    if s:sub(a, a) == '"' then return table.concat(out), b + 1 end
    local c = s:sub(a + 1, a + 1)
    if c == "u" then
      out[#out + 1] = utf8.char(tonumber(s:sub(a + 2, a + 5), 16))
      j = a + 6
    else
      out[#out + 1] = ({ b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" })[c] or c
      j = a + 2
    end
  end
end

function decode_value(s, i)
  i = skip(s, i)
  local c = s:sub(i, i)
  if c == "{" then
    local t = {}
    i = skip(s, i + 1)
    if s:sub(i, i) == "}" then return t, i + 1 end
    while true do
      local k
      k, i = decode_string(s, skip(s, i))
      i = skip(s, i) + 1 -- ':'
      t[k], i = decode_value(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      i = i + 1
      if d == "}" then return t, i end
    end
  elseif c == "[" then
    local t = M.array()
    i = skip(s, i + 1)
    if s:sub(i, i) == "]" then return t, i + 1 end
    while true do
      t[#t + 1], i = decode_value(s, i)
      i = skip(s, i)
      local d = s:sub(i, i)
      i = i + 1
      if d == "]" then return t, i end
    end
  elseif c == '"' then return decode_string(s, i)
  elseif s:sub(i, i + 3) == "true" then return true, i + 4
  elseif s:sub(i, i + 4) == "false" then return false, i + 5
  elseif s:sub(i, i + 3) == "null" then return M.null, i + 4
  else
    local num = s:match("^-?%d+%.?%d*[eE]?[-+]?%d*", i)
    return math.tointeger(tonumber(num)) or tonumber(num), i + #num
  end
end

function M.decode(s) return (decode_value(s, 1)) end
return M
