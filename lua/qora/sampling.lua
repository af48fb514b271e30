--- Sampling policies: chains of steps over a candidate set (qora.core's Candidates).
--
-- A step is a function(cands, history) that narrows or reshapes the set in place and returns
-- nil, or chooses and returns a token id, which ends the chain. Every step calls a C
-- primitive that does the per-vocabulary work: no policy builds a Lua table of the whole
-- vocabulary. history is the array of ids already in the session (prompt and output).
--
--   local sampling = require("qora.sampling")
--   local greedy = sampling.greedy()
--   local creative = sampling.new{ temperature = 0.6, top_p = 0.95, seed = 7 }
--   local custom = sampling.chain{ sampling.top_k(20), sampling.temperature(0.7),
--                                  sampling.dist(7) }
--
-- The defaults of sampling.new are those of the qora command and of chat:reply: temperature
-- 0.6 and top-p 0.95 (what SmolLM's authors recommend), top-k 40 and min-p 0.05 (llama.cpp's);
-- temperature 0 or greedy = true takes the most likely token. session:generate without a
-- sampler is greedy.
local core = require("qora.core")
local check = require("qora.check")
local describe = check.describe

local M = {}

local Policy = {}
Policy.__index = Policy

--- Chooses the next token.
-- @param cands Candidates loaded with the logits of the last position
-- @param history table array of the ids in the session (read, not changed)
-- @return integer the chosen id
function Policy:sample(cands, history)
  for i = 1, #self.steps do
    local id = self.steps[i](cands, history)
    if id then
      return id
    end
  end
  check.error("the sampling chain ended without choosing a token: end it with "
              .. "sampling.dist() or sampling.argmax()")
end

Policy.__call = Policy.sample
check.methods(Policy, "qora.Policy", "policy")

--- Composes steps into a policy, applied in order.
-- @param steps table array of step functions
-- @return policy
function M.chain(steps)
  if type(steps) ~= "table" or #steps == 0 then
    check.error("bad argument #1 to 'chain' (expected a non-empty array of steps)")
  end
  for i, step in ipairs(steps) do
    if type(step) ~= "function" then
      check.error(("bad argument #1 to 'chain' (step %d is a %s, not a function)")
                  :format(i, type(step)))
    end
  end
  return setmetatable({ steps = steps }, Policy)
end

-- The largest float32: the engine computes with floats, where a larger number is infinite.
local FLOAT_MAX = 3.4028234663852886e38

-- A bound as a message shows it.
local function bound(x)
  return x == FLOAT_MAX and "3.4e38" or x == -FLOAT_MAX and "-3.4e38" or tostring(x)
end

local function check_number(name, value, lo, hi)
  if type(value) ~= "number" or value ~= value or value < lo or value > hi then
    local range = hi == math.huge and (lo == -math.huge and "a number"
                                       or ("a number of at least %s"):format(lo))
                  or ("a number from %s to %s"):format(bound(lo), bound(hi))
    check.error(("sampling: %s must be %s, got %s"):format(name, range, describe(value)))
  end
  return value
end

local function check_integer(name, value, lo)
  local why = check.not_integer(name, value, lo)
  if why then
    check.error("sampling: " .. why)
  end
  return value
end

-- The names of the penalties' options in penalties and in new, in the same order: each
-- message names an option as the function called takes it.
local PENALTY_NAMES = { "repeat_penalty", "frequency", "presence", "last_n" }
local NEW_PENALTY_NAMES = { "repeat_penalty", "frequency_penalty", "presence_penalty",
                            "repeat_last_n" }

-- Why k, a penalty's name in the other function, is not an option of fname ("penalties" or
-- "new"), naming fname's own; nil for any other k.
local function other_name(fname, k)
  local theirs, ours, other = NEW_PENALTY_NAMES, PENALTY_NAMES, "new"
  if fname == "new" then
    theirs, ours, other = PENALTY_NAMES, NEW_PENALTY_NAMES, "penalties"
  end
  for i, name in ipairs(theirs) do
    if k == name and ours[i] ~= name then
      return ("unknown option '%s' (the name in sampling.%s); %s calls it '%s'")
             :format(k, other, fname, ours[i])
    end
  end
  return nil
end

-- Checks that opts is nil or a table of options of known (a set), as fname takes them; a
-- penalty given under the other function's name is told its name here.
local function check_options(fname, opts, known)
  if opts == nil then
    return {}
  elseif type(opts) ~= "table" then
    check.error(("bad argument #1 to '%s' (expected a table of options, got %s)")
                :format(fname, describe(opts)))
  end
  for k in pairs(opts) do
    if not known[k] then
      check.error("sampling: " .. (other_name(fname, k) or check.unknown_option(k, known)))
    end
  end
  return opts
end

local PENALTY_OPTIONS = { repeat_penalty = true, frequency = true, presence = true,
                          last_n = true }

-- The penalties' values, checked (finite as floats: inf - inf, or 0 * inf, would make NaN
-- logits): repeat, frequency, presence, last_n; names says what the options are called.
local function check_penalties(names, rep, freq, pres, last_n)
  return check_number(names[1], rep or 1, 1e-6, FLOAT_MAX),
         check_number(names[2], freq or 0, -FLOAT_MAX, FLOAT_MAX),
         check_number(names[3], pres or 0, -FLOAT_MAX, FLOAT_MAX),
         check_integer(names[4], last_n or 64, 0)
end

--- Repetition penalties over the last last_n ids of the history (llama.cpp's rule). new takes
-- the same options as frequency_penalty, presence_penalty and repeat_last_n.
-- @param opts table { repeat_penalty = 1.1, frequency = 0, presence = 0, last_n = 64 }
function M.penalties(opts)
  opts = check_options("penalties", opts, PENALTY_OPTIONS)
  local rep, freq, pres, last_n = check_penalties(PENALTY_NAMES, opts.repeat_penalty,
                                                  opts.frequency, opts.presence, opts.last_n)
  return function(c, history)
    c:penalize(history, rep, freq, pres, last_n)
  end
end

--- Keeps the k most likely tokens (k <= 0 keeps all).
function M.top_k(k)
  check_integer("top_k", k, 0)
  return function(c) c:top_k(k) end
end

--- Keeps the most likely tokens whose probabilities add up to p.
function M.top_p(p, min_keep)
  check_number("top_p", p, 0, 1)
  min_keep = check_integer("min_keep", min_keep or 1, 1)
  return function(c) c:top_p(p, min_keep) end
end

--- Keeps the tokens at least p times as likely as the most likely one.
function M.min_p(p, min_keep)
  check_number("min_p", p, 0, 1)
  min_keep = check_integer("min_keep", min_keep or 1, 1)
  return function(c) c:min_p(p, min_keep) end
end

--- Divides the logits by t (t <= 0 keeps only the most likely token).
function M.temperature(t)
  check_number("temperature", t, 0, math.huge)
  return function(c) c:temperature(t) end
end

--- Chooses the most likely token (the smallest id among equals).
function M.argmax()
  return function(c) return c:argmax() end
end

-- Policies made without /dev/urandom, counted: two made in the same microsecond differ.
local unseeded = 0

--- A new seed, from 0 to math.maxinteger: 8 bytes of /dev/urandom, or where it cannot be
-- read the clocks, so that two runs started together (two processes) differ. What
-- sampling.dist(nil) takes; a program that shows it lets its user repeat a run.
-- @return integer
function M.new_seed()
  local f = io.open("/dev/urandom", "rb")
  local bytes = f and f:read(8)
  if f then
    f:close()
  end
  if bytes and #bytes == 8 then
    return string.unpack("<i8", bytes) & math.maxinteger
  end
  unseeded = unseeded + 1
  return (math.floor(core.now() * 1e6) ~ (os.time() << 20) ~ unseeded) & math.maxinteger
end

-- Raises unless seed is an integer from 0 to math.maxinteger, or nil or -1 (a new one).
local function check_seed(seed)
  if seed ~= nil and seed ~= -1 and (math.type(seed) ~= "integer" or seed < 0) then
    check.error(("sampling: seed must be an integer from 0 to %d, or -1 (or nil) for a new "
                 .. "one, got %s"):format(math.maxinteger, describe(seed)))
  end
end

-- The seed to draw with: seed itself (from 0 to math.maxinteger), or a new one for nil or -1
-- (as the qora command's --seed -1); anything else raises.
local function seed_of(seed)
  check_seed(seed)
  if seed == nil or seed == -1 then
    return M.new_seed()
  end
  return seed
end

-- The metatable of core.rng's objects: dist refuses any other userdata when the step is made,
-- not at its first token.
local RNG = getmetatable(core.rng(0))

--- Draws a token from the probabilities with a seeded random source.
-- @param seed integer from 0 to math.maxinteger, an Rng from qora.rng, or nil or -1 for a new
--   seed (sampling.new keeps the seed it drew in policy.seed)
function M.dist(seed)
  if type(seed) == "userdata" and getmetatable(seed) ~= RNG then
    local mt = getmetatable(seed)
    local name = type(mt) == "table" and rawget(mt, "__name")
    check.error(("bad argument #1 to 'dist' (a seed or a qora.Rng expected, got %s)")
                :format(type(name) == "string" and name or "userdata"))
  end
  local rng = type(seed) == "userdata" and seed or core.rng(seed_of(seed))
  return function(c) return c:sample(rng) end
end

--- Greedy decoding: always the most likely token.
function M.greedy()
  return M.chain({ M.argmax() })
end

--- The defaults of sampling.new (read only; the qora command's help shows them).
M.DEFAULTS = { temperature = 0.6, top_k = 40, top_p = 0.95, min_p = 0.05 }

local KNOWN = {
  temperature = true, top_k = true, top_p = true, min_p = true, seed = true,
  repeat_penalty = true, repeat_last_n = true, frequency_penalty = true,
  presence_penalty = true, greedy = true,
}

--- The names of new's options, in alphabetical order.
M.OPTIONS = {}
for name in pairs(KNOWN) do
  M.OPTIONS[#M.OPTIONS + 1] = name
end
table.sort(M.OPTIONS)

--- A policy in llama.cpp's order: penalties, top-k, top-p, min-p, temperature, draw.
-- @param opts table { temperature = 0.6, top_k = 40, top_p = 0.95, min_p = 0.05,
--   repeat_penalty = 1, repeat_last_n = 64, frequency_penalty = 0, presence_penalty = 0,
--   seed = nil, greedy = false }; temperature 0 or greedy = true picks the most likely token;
--   a seed of nil or -1 takes a new one each policy
-- @return policy, whose field seed is the seed it draws with (a new one's too, so that
--   seed = policy.seed repeats the run); nil for a policy that never draws at random
function M.new(opts)
  opts = check_options("new", opts, KNOWN)
  -- Every option is checked, those that others leave unused too (top_k when greedy): a wrong
  -- value is refused before anything runs, whatever the others.
  local rep, freq, pres, last_n = check_penalties(NEW_PENALTY_NAMES, opts.repeat_penalty,
                                                  opts.frequency_penalty,
                                                  opts.presence_penalty, opts.repeat_last_n)
  local t = check_number("temperature", opts.temperature or M.DEFAULTS.temperature, 0,
                         math.huge)
  local top_k = check_integer("top_k", opts.top_k or M.DEFAULTS.top_k, 0)
  local top_p = check_number("top_p", opts.top_p or M.DEFAULTS.top_p, 0, 1)
  local min_p = check_number("min_p", opts.min_p or M.DEFAULTS.min_p, 0, 1)
  check_seed(opts.seed)
  if opts.greedy ~= nil and type(opts.greedy) ~= "boolean" then
    check.error("sampling: greedy must be true or false, got " .. describe(opts.greedy))
  end

  local steps = {}
  if rep ~= 1 or freq ~= 0 or pres ~= 0 then
    steps[#steps + 1] = M.penalties({ repeat_penalty = rep, frequency = freq,
                                      presence = pres, last_n = last_n })
  end
  if t <= 0 or opts.greedy then
    steps[#steps + 1] = M.argmax()
    return M.chain(steps)
  end

  steps[#steps + 1] = M.top_k(top_k)
  steps[#steps + 1] = M.top_p(top_p)
  steps[#steps + 1] = M.min_p(min_p)
  steps[#steps + 1] = M.temperature(t)
  local seed = seed_of(opts.seed)
  steps[#steps + 1] = M.dist(seed)
  local policy = M.chain(steps)
  policy.seed = seed
  return policy
end

return M
