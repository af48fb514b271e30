--- Argument checks shared by the Lua layer. Each raises "bad argument to 'fname' (what)" at
-- the caller of the public function that checks (level 3 seen from a checker), naming the
-- option and showing the value it got, strings quoted: "1" and 1 are told apart.
local M = {}

--- A value as a message shows it: 1, 1.5, "1" (a string), a table.
-- @param v any
-- @return string
function M.describe(v)
  local t = type(v)
  if t == "string" then
    local s = #v > 40 and v:sub(1, 37) .. "..." or v
    return ("%q (a string)"):format(s)
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  end
  return "a " .. t
end

--- Raises "bad argument to 'fname' (what)" at level, counted as error() counts from the caller
-- of fail (1: that caller; default 3).
function M.fail(fname, what, level)
  error(("bad argument to '%s' (%s)"):format(fname, what), (level or 3) + 1)
end

--- Checks that opts is nil or a table holding only the known keys; returns a table.
-- @param fname string the public function, for the message
-- @param opts table|nil
-- @param known table set of the option names
-- @param level integer|nil where the error points (default: the caller of the caller)
function M.options(fname, opts, known, level)
  level = level or 3
  if opts == nil then
    return {}
  elseif type(opts) ~= "table" then
    M.fail(fname, "options must be a table, got " .. M.describe(opts), level)
  end
  for k in pairs(opts) do
    if not known[k] then
      M.fail(fname, ("unknown option '%s'"):format(tostring(k)), level)
    end
  end
  return opts
end

--- Checks that v is nil or an integer (not a float, not a numeric string) from lo to hi.
-- @return v
function M.integer(fname, name, v, lo, hi, level)
  if v == nil or math.type(v) == "integer" and v >= lo and (hi == nil or v <= hi) then
    return v
  end
  local range
  if hi then
    range = ("an integer from %d to %d"):format(lo, hi)
  elseif lo == math.mininteger then
    range = "an integer"
  else
    range = ("an integer of at least %d"):format(lo)
  end
  M.fail(fname, ("%s must be %s, got %s"):format(name, range, M.describe(v)), level)
end

--- Checks that v is nil or a boolean: a string such as "no" is an error, not true.
-- @return v
function M.boolean(fname, name, v, level)
  if v ~= nil and type(v) ~= "boolean" then
    M.fail(fname, ("%s must be true or false, got %s"):format(name, M.describe(v)), level)
  end
  return v
end

return M
