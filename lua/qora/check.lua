--- Argument checks shared by the Lua layer. Each raises "bad argument to 'fname' (what)" at
-- the user's line (see M.error), naming the option and showing the value it got, strings
-- quoted: "1" and 1 are told apart.
local M = {}

-- The folder of qora's Lua files as debug.getinfo writes a source ("@/.../qora/"), or nil
-- when they were not loaded from files.
local LIBRARY = debug.getinfo(1, "S").source:match("^@.*[/\\]")

--- Raises msg at the user's line: the first Lua function on the stack outside qora's Lua
-- files, C functions such as pcall passed over. Misuse is then reported where it was made,
-- however deep in the library it was found. Inside generate's coroutine there is no such
-- function, and the message has no position until generate raises it again at the user's.
-- @param msg string
function M.error(msg)
  local level = 2
  while LIBRARY do
    local info = debug.getinfo(level, "S")
    if info == nil or info.what ~= "C" and info.source:sub(1, #LIBRARY) ~= LIBRARY then
      break
    end
    level = level + 1
  end
  error(msg, level)
end

-- err without a leading position in the file short_src ("init.lua:87: "), or err as it is.
local function without_position(err, short_src)
  local at = short_src .. ":"
  if type(err) == "string" and err:sub(1, #at) == at then
    return (err:sub(#at + 1):gsub("^%d+: ", "", 1))
  end
  return err
end

--- The message of err, an error that ended the coroutine co, when it is qora's own: every Lua
-- function on co's stack is in qora's Lua files. A leading position into one of them is
-- taken off, to be replaced by the user's line. nil when a function of the user's was running
-- (the error is the user's, to pass as it is), or when err is not a string.
-- @param co thread a coroutine ended by an error
-- @param err any the error
-- @return string|nil
function M.own_error(co, err)
  if LIBRARY == nil or type(err) ~= "string" then
    return nil
  end
  local msg = err
  local level = 0
  local info = debug.getinfo(co, level, "S")
  while info do
    if info.what ~= "C" then
      if info.source:sub(1, #LIBRARY) ~= LIBRARY then
        return nil
      end
      if msg == err then
        msg = without_position(err, info.short_src)
      end
    end
    level = level + 1
    info = debug.getinfo(co, level, "S")
  end
  return msg
end

-- Returns what f returned, or raises its error at the user's line in place of f's.
local function pass(f, ok, ...)
  if ok then
    return ...
  end
  M.error(without_position((...), debug.getinfo(f, "S").short_src))
end

--- Calls f, a function that passes the user's arguments to one qora.core method, and raises
-- that method's error (a misused argument, a closed model) at the user's line. Raised by the
-- C function itself, the error would name the line that called it: f's, in lua/qora/.
-- @param f function
-- @return what f returns
function M.call(f)
  return pass(f, pcall(f))
end

-- The type of a value as a message names it: its metatable's __name ("qora.Session"), or its
-- type ("no value" when none was given).
local function type_name(n, v)
  local mt = getmetatable(v)
  if n == 0 then
    return "no value"
  elseif type(mt) == "table" and type(rawget(mt, "__name")) == "string" then
    return mt.__name
  end
  return type(v)
end

--- Makes each method of class (a function field whose name does not start with "__") check
-- its self: called on anything else, as obj.method() for obj:method(), it raises "calling
-- 'method' on bad self (qora.Model expected, got no value; call it as model:method(...))".
-- To run once the class has all its methods.
-- @param class table the metatable (and __index) of the objects
-- @param tname string the objects' type, set as class.__name
-- @param noun string how the hint names an object ("model")
function M.methods(class, tname, noun)
  class.__name = tname
  for name, f in pairs(class) do
    if type(f) == "function" and name:sub(1, 2) ~= "__" then
      class[name] = function(...)
        local self = ...
        if getmetatable(self) ~= class then
          M.error(("calling '%s' on bad self (%s expected, got %s; call it as %s:%s(...))")
                  :format(name, tname, type_name(select("#", ...), self), noun, name))
        end
        return f(...)
      end
    end
  end
end

--- Why s is not text: "where is not valid UTF-8 at byte N; convert it to UTF-8 first", the
-- byte counted from 1 as Lua counts, or nil when s is UTF-8. One wording for every refusal.
-- @param s string
-- @param where string how the message names s ("system", "the message")
-- @return string|nil
function M.not_utf8(s, where)
  local ok, bad = utf8.len(s)
  if ok then
    return nil
  end
  return ("%s is not valid UTF-8 at byte %d; convert it to UTF-8 first"):format(where, bad)
end

--- A value as a message shows it: 1, 1.5, "1" (a string), a table.
-- @param v any
-- @return string
function M.describe(v)
  local t = type(v)
  if t == "string" then
    local s = #v > 40 and v:sub(1, 37) .. "..." or v
    return ("%q (a string)"):format(s)
  elseif v ~= v then
    return "nan"   -- tostring gives "-nan" or "nan", as the C library prints it
  elseif t == "number" or t == "boolean" or t == "nil" then
    return tostring(v)
  end
  return "a " .. t
end

--- Raises "bad argument to 'fname' (what)" at the user's line, or at level when it is given,
-- counted as error() counts from the caller of fail.
function M.fail(fname, what, level)
  local msg = ("bad argument to '%s' (%s)"):format(fname, what)
  if level then
    error(msg, level + 1)
  end
  M.error(msg)
end

-- The edit distance of a and b: insertions, deletions, substitutions and swaps of two
-- neighbouring bytes each count 1 (the optimal string alignment distance).
local function distance(a, b)
  local d = {}
  for i = 0, #a do
    d[i] = { [0] = i }
  end
  for j = 1, #b do
    d[0][j] = j
  end
  for i = 1, #a do
    for j = 1, #b do
      local x, y = a:byte(i), b:byte(j)
      local v = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (x == y and 0 or 1))
      if i > 1 and j > 1 and x == b:byte(j - 1) and a:byte(i - 1) == y then
        v = math.min(v, d[i - 2][j - 2] + 1)
      end
      d[i][j] = v
    end
  end
  return d[#a][#b]
end

local MAX_TYPO = 2     -- edits that still make a near miss
local LONGEST = 64     -- longer keys are not compared (the distance costs their length squared)

local MIN_PREFIX = 3   -- a shorter start (--n, --f) says too little of the name meant

-- The one name of names that k begins (k of MIN_PREFIX bytes or more) or that begins k with
-- the same word going on (thinking, not prompt-file: a word added names another thing), or
-- nil (none, or several).
local function by_prefix(k, names)
  local found
  for _, name in ipairs(names) do
    local shortens = #k >= MIN_PREFIX and name:sub(1, #k) == k
    local extends = k:sub(1, #name) == name and not k:sub(#name + 1):find("^[-_]")
    if shortens or extends then
      if found then
        return nil
      end
      found = name
    end
  end
  return found
end

--- The one name of names that k most likely misspells, or nil: k with its words joined by
-- the other separator (top_k for top-k, and back), the one name that k begins or that begins
-- k (a shortened or extended name: temp, thinking), or else the closest within two edits
-- (fewer edits than k has bytes). Two names as close, or none close: nil.
-- @param k any the name given
-- @tparam table names array of the known names
-- @treturn string|nil
function M.suggest(k, names)
  if type(k) ~= "string" or k == "" or #k > LONGEST then
    return nil
  end
  for _, name in ipairs(names) do
    if k:gsub("_", "-") == name or k:gsub("-", "_") == name then
      return name
    end
  end
  local prefixed = by_prefix(k, names)
  if prefixed then
    return prefixed
  end
  local best, best_d, tie = nil, MAX_TYPO + 1, false
  for _, name in ipairs(names) do
    local d = distance(k, name)
    if d < best_d then
      best, best_d, tie = name, d, false
    elseif d == best_d then
      tie = true
    end
  end
  return best and not tie and best_d < #k and best or nil
end

--- Why k is not an option: "unknown option 'k'; known: a, b, c", the names of known (a set)
-- in alphabetical order, so that a misspelt option shows its right spelling; with "did you
-- mean 'x'?" before the list when one of them is close (see suggest).
-- @param k any the key given
-- @tparam table known set of the option names
-- @treturn string
function M.unknown_option(k, known)
  local names = {}
  for name in pairs(known) do
    names[#names + 1] = name
  end
  table.sort(names)
  local near = M.suggest(k, names)
  return ("unknown option '%s'; %sknown: %s"):format(tostring(k),
    near and ("did you mean '%s'? "):format(near) or "", table.concat(names, ", "))
end

--- Checks that opts is nil or a table holding only the known keys; returns a table.
-- @param fname string the public function, for the message
-- @param opts table|nil
-- @param known table set of the option names
-- @param level integer|nil where the error points, as for fail (default: the user's line)
function M.options(fname, opts, known, level)
  if opts == nil then
    return {}
  elseif type(opts) ~= "table" then
    M.fail(fname, "options must be a table, got " .. M.describe(opts), level)
  end
  for k in pairs(opts) do
    if not known[k] then
      M.fail(fname, M.unknown_option(k, known), level)
    end
  end
  return opts
end

--- Why v is not an integer (not a float, not a numeric string) from lo to hi, in the words
-- every check of an integer uses: "top_k must be an integer of at least 0, got 1.5".
-- @tparam string name the option
-- @param v the value
-- @tparam integer lo the least allowed (math.mininteger: no bound)
-- @tparam[opt] integer hi the greatest allowed
-- @treturn string|nil nil when v is such an integer
function M.not_integer(name, v, lo, hi)
  if math.type(v) == "integer" and v >= lo and (hi == nil or v <= hi) then
    return nil
  end
  local range
  if hi then
    range = ("an integer from %d to %d"):format(lo, hi)
  elseif lo == math.mininteger then
    range = "an integer"
  else
    range = ("an integer of at least %d"):format(lo)
  end
  return ("%s must be %s, got %s"):format(name, range, M.describe(v))
end

--- Checks that v is nil or an integer (not a float, not a numeric string) from lo to hi.
-- @return v
function M.integer(fname, name, v, lo, hi, level)
  local why = v ~= nil and M.not_integer(name, v, lo, hi)
  if why then
    M.fail(fname, why, level)
  end
  return v
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
