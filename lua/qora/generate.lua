--- Generation: session:generate(opts) as an iterator for a `for` loop, built on a coroutine.
--
--   for id, piece in s:generate({ prompt = "Hello", max_tokens = 64 }) do io.write(piece) end
--
-- Each step samples a token, evaluates it (one decode) and yields its id and its text piece;
-- pieces hold only whole UTF-8 characters. Every yielded id is in the cache when the caller
-- sees it, so leaving the loop early leaves the session consistent and ready to continue:
-- another generate without a prompt goes on from there. Prompt evaluation yields to the
-- caller's own coroutine between chunks only when prefill_chunk is given.
local core = require("qora.core")
local sampling = require("qora.sampling")

local M = {}

-- Yielded by the generator's coroutine between prompt chunks; never seen by callers.
local PREFILL = setmetatable({}, { __name = "qora.prefill" })

local OPTIONS = {
  prompt = true, max_tokens = true, sampler = true, special = true, prefill_chunk = true,
  ignore_eog = true, parse_special = true, bos = true,
}

local function bad(what)
  error("bad argument #1 to 'generate' (" .. what .. ")", 4)
end

-- The policy as a function(cands, history) -> id.
local function sampler_fn(sampler)
  if sampler == nil then
    sampler = sampling.greedy()
  end
  if type(sampler) == "function" then
    return sampler
  end
  local mt = getmetatable(sampler)
  if type(sampler) == "table" and type(sampler.sample) == "function"
     or mt and type(mt.__index) == "table" and type(mt.__index.sample) == "function" then
    return function(c, history) return sampler:sample(c, history) end
  end
  bad("sampler must be a policy from qora.sampling or a function(cands, history)")
end

local function check(opts)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    bad("options must be a table, got " .. type(opts))
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      bad(("unknown option '%s'"):format(tostring(k)))
    end
  end
  local p = opts.prompt
  if p ~= nil and type(p) ~= "string" and type(p) ~= "table" then
    bad("prompt must be a string or an array of token ids")
  end
  for _, k in ipairs({ "max_tokens", "prefill_chunk" }) do
    local v = opts[k]
    if v ~= nil and (math.type(v) ~= "integer" or v < (k == "max_tokens" and 0 or 1)) then
      bad(("%s must be a %s integer, got %s")
          :format(k, k == "max_tokens" and "non-negative" or "positive", tostring(v)))
    end
  end
  return opts
end

-- The prompt's ids: text is tokenized (special tokens recognised unless parse_special is
-- false; BOS, when the vocabulary asks for it, only at the start of an empty cache).
local function prompt_ids(session, opts)
  local p = opts.prompt
  if type(p) == "string" then
    local bos = opts.bos ~= false and session:pos() == 0
    return session.model.core:tokenize(p, opts.parse_special ~= false, bos)
  end
  return p or {}
end

-- Evaluates ids, in chunks with a PREFILL yield between them when chunk is given.
local function prefill(session, ids, chunk)
  if chunk == nil or chunk >= #ids then
    session:eval(ids)
    return
  end
  for i = 1, #ids, chunk do
    local last = math.min(i + chunk - 1, #ids)
    session:eval(table.move(ids, i, last, 1, {}))
    if last < #ids then
      coroutine.yield(PREFILL)
    end
  end
end

-- Makes the logits follow the last cached id again (after a rewind, say).
local function refresh(session)
  local n = session:pos()
  local last = session.tokens[n]
  session:rewind(n - 1)
  session:eval(last)
end

-- The coroutine's body: prefill, then one decode per yielded token.
local function run(session, opts, ids, pick, stats)
  local model, c = session.model.core, session.core
  local max, ignore_eog = opts.max_tokens or 256, opts.ignore_eog
  local stream = model:stream(opts.special ~= false)
  local history, ctx = session.tokens, c:ctx()
  local now = core.now

  local t0 = now()
  if #ids > 0 then
    prefill(session, ids, opts.prefill_chunk)
  elseif not session.fresh then
    refresh(session)
  end
  stats.prompt_tokens, stats.prompt_seconds = #ids, now() - t0

  local function sample()
    local id = pick(c:candidates(), history)
    if math.type(id) ~= "integer" then
      error("the sampler returned " .. tostring(id) .. ", not a token id", 0)
    end
    return id
  end

  local started = now()
  local id = max > 0 and sample() or nil
  stats.stop = "length"
  for step = 1, max do
    if not ignore_eog and model:is_eog(id) then
      stats.stop = "eog"
      break
    elseif c:pos() >= ctx then
      stats.stop = "context"
      break
    end
    local t_eval = now()
    session:eval(id)
    stats.decode_seconds = stats.decode_seconds + (now() - t_eval)
    local nxt
    local last = step == max or c:pos() >= ctx
    if not last then
      nxt = sample()
      last = not ignore_eog and model:is_eog(nxt)
    end
    local piece = stream:push(id)
    if last then
      piece = piece .. stream:flush()  -- held bytes of a cut character come out as U+FFFD
    end
    stats.tokens, stats.seconds = step, stats.seconds + (now() - started)
    local expected = c:pos()
    coroutine.yield(id, piece)
    if c:pos() ~= expected then
      error("the session changed while its generator waited (position " .. c:pos()
            .. ", expected " .. expected .. "); start a new generate", 0)
    end
    started = now()
    id = nxt
  end
end

--- Generates tokens after a prompt.
-- @param opts table|nil {
--   prompt = string or array of ids (nil: continue from the cache),
--   max_tokens = 256, sampler = a qora.sampling policy (default greedy) or a function,
--   special = true (control tokens appear in pieces as their text),
--   prefill_chunk = nil (evaluate the prompt in chunks of this size, yielding between),
--   ignore_eog = false, parse_special = true (for a string prompt), bos = true }
-- @return an iterator yielding id, piece; the session's `stats` field describes the run:
--   prompt_tokens, prompt_seconds, tokens, seconds (generating, waits for the caller left out),
--   decode_seconds (the part of seconds spent evaluating; the rest is sampling and
--   streaming), stop ("eog", "length" or "context")
function M.generate(session, opts)
  opts = check(opts)
  local pick = sampler_fn(opts.sampler)
  local ids = prompt_ids(session, opts)
  if #ids == 0 and session:pos() == 0 then
    error("generate needs a prompt: the session holds no tokens yet", 2)
  end
  local stats = { prompt_tokens = 0, prompt_seconds = 0, tokens = 0, seconds = 0,
                  decode_seconds = 0 }
  session.generation = session.generation + 1
  session.stats = stats
  local generation = session.generation
  local co = coroutine.create(run)
  local started = false

  local function step()
    if coroutine.status(co) == "dead" then
      return nil
    elseif session.generation ~= generation then
      error("this generator was replaced by a newer generate on the same session", 2)
    end
    while true do
      local ok, a, b
      if started then
        ok, a, b = coroutine.resume(co)
      else
        started = true
        ok, a, b = coroutine.resume(co, session, opts, ids, pick, stats)
      end
      if not ok then
        error(a, 0)
      elseif a ~= PREFILL then
        return a, b
      elseif coroutine.isyieldable() then
        coroutine.yield()  -- between prompt chunks: the caller's scheduler may run others
      end
    end
  end

  -- Closed when a for loop ends or breaks: frees the coroutine now rather than at collection.
  local closer = setmetatable({}, { __close = function() coroutine.close(co) end })
  return step, nil, nil, closer
end

return M
