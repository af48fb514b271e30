--- pyrepr: Python's repr() and str() of JSON-like Lua values.
-- SmolLM3's chat template prints each tool with Jinja's `string` filter, which is Python's
-- str(): a tool dictionary comes out as its repr, `{'type': 'function', ...}`. This module
-- reproduces that text from Lua values:
--   nil, the null value given by the caller          None
--   true, false                                      True, False
--   integer                                          12
--   float                                            Python's shortest repr: 1.0, 1e-05, inf
--   string (UTF-8)                                   'text', quoted and escaped as Python does
--   table with metatable __name "qora.json.array"    [a, b]
--   table with metatable __name "qora.json.object"   {'k': v} in the order of its keys list,
--                                                     then any other keys, sorted
--   other table                                      a list when it is a sequence 1..n (n > 0),
--                                                     otherwise a dict with sorted keys
-- qora.core.json_decode builds the two marked kinds of table, so decoded JSON keeps its order.
local check = require("qora.check")
local unprintable = require("qora.unprintable")

local M = {}

local format, concat, sort = string.format, table.concat, table.sort
local mtype = math.type


-- The errors of pyrepr's own refusals (a cycle, a function, bad UTF-8) are tables of this
-- metatable, so that they are told apart from errors raised by the caller's own code (a
-- metamethod of a key that sorting calls), which pass on as they are.
local Refusal = {}


local function refuse(why)
  error(setmetatable({ why = why }, Refusal), 0)
end


-- Python's str.isprintable() for one code point.
local function printable(cp)
  if cp < 0x80 then
    return cp >= 0x20 and cp < 0x7F
  end
  local lo, hi = 1, #unprintable // 2
  while lo <= hi do
    local mid = (lo + hi) // 2
    if cp < unprintable[2 * mid - 1] then
      hi = mid - 1
    elseif cp > unprintable[2 * mid] then
      lo = mid + 1
    else
      return false
    end
  end
  return true
end


local ESCAPES = { [9] = "\\t", [10] = "\\n", [13] = "\\r", [92] = "\\\\" }


-- Python's escape for a code point that is not printable.
local function escape(cp)
  if cp < 0x100 then
    return format("\\x%02x", cp)
  elseif cp < 0x10000 then
    return format("\\u%04x", cp)
  end
  return format("\\U%08x", cp)
end


-- Python's repr() of a string (see M.str_repr).
local function str_repr(s)
  local why = check.not_utf8(s, "string")
  if why then
    refuse(why)
  end
  local quote = (s:find("'", 1, true) and not s:find('"', 1, true)) and '"' or "'"
  local out = { quote }
  for _, cp in utf8.codes(s) do
    local e = ESCAPES[cp]
    if e then
      out[#out + 1] = e
    elseif cp == 39 and quote == "'" then
      out[#out + 1] = "\\'"
    elseif printable(cp) then
      out[#out + 1] = utf8.char(cp)
    else
      out[#out + 1] = escape(cp)
    end
  end
  out[#out + 1] = quote
  return concat(out)
end


-- Shortest decimal digits that read back as x (x finite, positive): digits, exponent of the
-- first digit. Among equally short candidates the nearest wins, as in Python's repr.
local function shortest(x)
  for prec = 1, 17 do
    local s = format("%." .. (prec - 1) .. "e", x)
    if tonumber(s) == x then
      local m, e = s:match("^(%d[%.%d]*)e([-+]%d+)$")
      return (m:gsub("%.", "")), tonumber(e)
    end
    -- At a power of two the gap above x is twice the gap below, so a neighbour of the nearest
    -- string can read back as x when the nearest does not.
    local m, e = s:match("^(%d[%.%d]*)e([-+]%d+)$")
    local d = math.tointeger(tonumber((m:gsub("%.", ""))))
    for _, n in ipairs({ d - 1, d + 1 }) do
      local digits = tostring(n)
      if #digits == prec and tonumber(digits .. "e" .. (tonumber(e) - prec + 1)) == x then
        return digits, tonumber(e)
      end
    end
  end
  error("repr: no round-trip form for " .. tostring(x))
end


--- Python's repr() of a float.
-- @tparam number x
-- @treturn string e.g. "1.0", "0.0001", "1e-05", "1e+16", "-inf", "nan"
function M.float_repr(x)
  if x ~= x then
    return "nan"
  elseif x == math.huge or x == -math.huge then
    return x > 0 and "inf" or "-inf"
  elseif x == 0 then
    return 1 / x < 0 and "-0.0" or "0.0"
  end
  local sign = x < 0 and "-" or ""
  local digits, exp = shortest(math.abs(x))
  digits = digits:gsub("0+$", "")
  if digits == "" then digits = "0" end
  local point = exp + 1  -- digits before the decimal point
  if point > 16 or point <= -4 then
    local frac = #digits > 1 and ("." .. digits:sub(2)) or ""
    return format("%s%s%se%s%02d", sign, digits:sub(1, 1), frac, exp < 0 and "-" or "+",
                  math.abs(exp))
  elseif point <= 0 then
    return sign .. "0." .. ("0"):rep(-point) .. digits
  elseif point >= #digits then
    return sign .. digits .. ("0"):rep(point - #digits) .. ".0"
  end
  return sign .. digits:sub(1, point) .. "." .. digits:sub(point + 1)
end


local repr


-- The kind of a table: "list" with its length, or "dict".
local function table_kind(t)
  local mt = getmetatable(t)
  local name = type(mt) == "table" and rawget(mt, "__name")
  if name == "qora.json.array" then
    return "list", #t
  elseif name == "qora.json.object" then
    return "dict"
  end
  local count, max = 0, 0
  for k in next, t do
    if mtype(k) ~= "integer" or k < 1 then
      return "dict"
    end
    count, max = count + 1, math.max(max, k)
  end
  if count > 0 and count == max then
    return "list", count
  end
  return "dict"
end


-- Python orders nothing for us here: keys outside the keys list are sorted, numbers before
-- strings, so that the same table always prints the same way.
local function key_less(a, b)
  local ta, tb = type(a), type(b)
  if ta ~= tb then
    return ta < tb
  elseif ta == "number" or ta == "string" then
    return a < b
  end
  return tostring(a) < tostring(b)
end


-- The keys of a dict table in print order.
local function dict_keys(t)
  local mt = getmetatable(t)
  local listed = type(mt) == "table" and rawget(mt, "keys") or {}
  local keys, seen, rest = {}, {}, {}
  for _, k in ipairs(listed) do
    if rawget(t, k) ~= nil and not seen[k] then
      keys[#keys + 1], seen[k] = k, true
    end
  end
  for k in next, t do
    if not seen[k] then
      rest[#rest + 1] = k
    end
  end
  sort(rest, key_less)
  table.move(rest, 1, #rest, #keys + 1, keys)
  return keys
end


local function table_repr(t, ctx)
  if ctx.open[t] then
    refuse("a table contains itself")
  end
  ctx.open[t] = true
  local kind, n = table_kind(t)
  local parts = {}
  if kind == "list" then
    for i = 1, n do
      parts[i] = repr(rawget(t, i), ctx)
    end
  else
    for i, k in ipairs(dict_keys(t)) do
      parts[i] = repr(k, ctx) .. ": " .. repr(rawget(t, k), ctx)
    end
  end
  ctx.open[t] = nil
  if kind == "list" then
    return "[" .. concat(parts, ", ") .. "]"
  end
  return "{" .. concat(parts, ", ") .. "}"
end


function repr(v, ctx)
  local tv = type(v)
  if v == nil or (ctx.null ~= nil and rawequal(v, ctx.null)) then
    return "None"
  elseif tv == "boolean" then
    return v and "True" or "False"
  elseif tv == "number" then
    return mtype(v) == "integer" and format("%d", v) or M.float_repr(v)
  elseif tv == "string" then
    return str_repr(v)
  elseif tv == "table" then
    return table_repr(v, ctx)
  end
  refuse("cannot print a " .. tv .. " value as Python would")
end


local function str(v, null)
  if type(v) == "string" then
    return v
  end
  return repr(v, { null = null, open = {} })
end


-- What f(...) returns, or nil and why when pyrepr refuses the value; other errors pass on.
local function attempt(f, ...)
  local ok, s = pcall(f, ...)
  if ok then
    return s
  elseif getmetatable(s) == Refusal then
    return nil, s.why
  end
  error(s, 0)
end


-- What f(...) returns, or pyrepr's refusal raised at the user's line.
local function raising(f, ...)
  local s, why = attempt(f, ...)
  if s == nil then
    check.error("repr: " .. why)
  end
  return s
end


--- Python's repr() of a string.
-- @tparam string s UTF-8 text
-- @treturn string the quoted form, e.g. `'it\'s'` is written `"it's"`
function M.str_repr(s)
  return raising(str_repr, s)
end


--- Python's repr() of a JSON-like value.
-- @param v the value
-- @param[opt] null the value that stands for JSON null (qora.core.json_null)
-- @treturn string
function M.repr(v, null)
  return raising(repr, v, { null = null, open = {} })
end


--- Python's str(): a string as it is, anything else as its repr.
-- @param v the value
-- @param[opt] null the value that stands for JSON null
-- @treturn string
function M.str(v, null)
  return raising(str, v, null)
end


--- Python's str() of a value, or nil and why Python's repr would not meet it ("a table
-- contains itself"). Errors that the caller's own code raises while the value is read (a
-- metamethod) pass on as they are.
-- @param v the value
-- @param[opt] null the value that stands for JSON null
-- @treturn string|nil
-- @treturn string when nil: what is wrong
function M.try_str(v, null)
  return attempt(str, v, null)
end


return M
