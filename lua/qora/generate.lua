--- Generation: session:generate(opts) as an iterator for a `for` loop, built on a coroutine.
--
--   for id, piece in s:generate({ prompt = "Hello", max_tokens = 64 }) do io.write(piece) end
--
-- Each step samples a token, evaluates it (one decode) and yields its id and its text piece;
-- pieces hold only whole UTF-8 characters. Every yielded id is in the cache when the caller
-- sees it, so leaving the loop early leaves the session consistent and ready to continue:
-- another generate without a prompt goes on from there. Prompt evaluation yields to the
-- caller's own coroutine between chunks only when prefill_chunk is given.
--
-- A sampler may yield: its yield passes through to the coroutine that runs the for loop (a
-- scheduler sees the sampler's values, and what it resumes with is what the sampler's yield
-- returns). Outside any coroutine there is nowhere to yield to, and generate raises an error.
local core = require("qora.core")
local sampling = require("qora.sampling")
local check = require("qora.check")
local describe = check.describe

local M = {}

-- Tags of the generator's own yields (a prompt chunk done, a token ready); never seen by
-- callers. Any other yield comes from the sampler and goes on to the caller's coroutine.
local PREFILL = setmetatable({}, { __name = "qora.prefill" })
local TOKEN = setmetatable({}, { __name = "qora.token" })

local OPTIONS = {
  prompt = true, max_tokens = true, sampler = true, special = true, prefill_chunk = true,
  ignore_eog = true, parse_special = true, bos = true,
}

local function bad(what)
  check.error("bad argument #1 to 'generate' (" .. what .. ")")
end

-- The policy as a function(cands, history) -> id, and true when it is one of qora.sampling's.
local function sampler_fn(sampler)
  if sampler == nil then
    sampler = sampling.greedy()
  end
  if type(sampler) == "function" then
    return sampler, false
  end
  local mt = getmetatable(sampler)
  if type(sampler) == "table" and type(sampler.sample) == "function"
     or mt and type(mt.__index) == "table" and type(mt.__index.sample) == "function" then
    return function(c, history) return sampler:sample(c, history) end,
           mt ~= nil and rawget(mt, "__name") == "qora.Policy"
  end
  local got = type(sampler) == "table" and "a table without a sample method" or type(sampler)
  bad("sampler must be a policy from qora.sampling or a function(cands, history), got " .. got)
end

-- For an option of sampling.new (or close to one) given to generate, where it goes.
local function sampling_hint(k)
  local name = check.suggest(k, sampling.OPTIONS)   -- the name itself too
  if not name then
    return ""
  end
  return ('; %s is a sampling option: give sampler = require("qora.sampling").new({ %s = ... })')
         :format(name, name)
end

local function check_options(opts)
  if opts == nil then
    return {}
  end
  if type(opts) ~= "table" then
    bad("options must be a table, got " .. type(opts))
  end
  for k in pairs(opts) do
    if not OPTIONS[k] then
      bad(check.unknown_option(k, OPTIONS) .. sampling_hint(k))
    end
  end
  local p = opts.prompt
  if p ~= nil and type(p) ~= "string" and type(p) ~= "table" then
    bad("prompt must be a string or an array of token ids, got " .. type(p))
  end
  for _, k in ipairs({ "max_tokens", "prefill_chunk" }) do
    local why = opts[k] ~= nil and check.not_integer(k, opts[k], k == "max_tokens" and 0 or 1)
    if why then
      bad(why)
    end
  end
  for _, k in ipairs({ "special", "ignore_eog", "parse_special", "bos" }) do
    if opts[k] ~= nil and type(opts[k]) ~= "boolean" then
      bad(("%s must be true or false, got %s"):format(k, describe(opts[k])))
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
    return check.call(function()
      return session.core:tokenize(p, opts.parse_special ~= false, bos)
    end)
  end
  return p or {}
end

-- The prompt's checks, made at the user's line: the engine makes them too, but in the
-- coroutine, where an error has no line of the user's to name.

-- Raises unless every id of the prompt is a token id.
local function check_ids(session, ids)
  local n_vocab = session.model.info.n_vocab
  for i = 1, #ids do
    local id = ids[i]
    if math.type(id) ~= "integer" or id < 0 or id >= n_vocab then
      bad(("prompt element %d is not a token id (0 to %d), got %s")
          :format(i, n_vocab - 1, describe(id)))
    end
  end
end

-- Raises unless n more ids fit in the cache.
local function check_room(session, n)
  local ctx, pos = session:ctx(), session:pos()
  if n > ctx - pos then
    check.error(("%d more %s not fit: the context holds %d and %d %s used; make a session "
                 .. "with a larger context or rewind")
                :format(n, n == 1 and "token does" or "tokens do", ctx, pos,
                        pos == 1 and "is" or "are"))
  end
end

-- Evaluates ids, in chunks of at most chunk tokens with a PREFILL yield between them when
-- chunk is given. The chunks are as even as can be (10 ids in chunks of 3: 3, 3, 2, 2): a
-- chunk of one token would take the decode kernels, whose logits differ in the last bits
-- from the prompt kernels' (chunks of 4 or more give the logits of one batch, bit for bit).
local function prefill(session, ids, chunk)
  if chunk == nil or chunk >= #ids then
    session:eval(ids)
    return
  end
  local n = (#ids + chunk - 1) // chunk
  local base, extra = #ids // n, #ids % n
  local i = 1
  for k = 1, n do
    local last = i + base - 1 + (k <= extra and 1 or 0)
    session:eval(table.move(ids, i, last, 1, {}))
    if last < #ids then
      coroutine.yield(PREFILL)
    end
    i = last + 1
  end
end

-- Makes the logits follow the last cached id again (after a rewind, say).
local function refresh(session)
  local n = session:pos()
  local last = session.tokens[n]
  session:rewind(n - 1)
  session:eval(last)
end

-- The sampler's choice, checked: an id of the vocabulary, from the logits it was given.
local function sampler(session, pick)
  local c, history = session.core, session.tokens
  local n_vocab = session.model.info.n_vocab
  return function()
    local pos = c:pos()
    local id = pick(c:candidates(), history)
    if math.type(id) ~= "integer" or id < 0 or id >= n_vocab then
      error(("the sampler returned %s, which is not a token id (0 to %d)")
            :format(describe(id), n_vocab - 1), 0)
    elseif c:pos() ~= pos then
      error("the session changed while its sampler ran (position " .. c:pos() .. ", expected "
            .. pos .. "); start a new generate", 0)
    end
    return id
  end
end

-- The coroutine's body: prefill, then one decode per yielded token. Between two steps the
-- next id is already sampled, so that the last piece of a run can flush its held bytes.
-- progress.reading is true while the prompt is read, progress.pos0 the position before it;
-- progress.last is true while the caller holds the run's last token.
local function run(session, opts, ids, pick, stats, progress)
  local c = session.core
  local max, ignore_eog = opts.max_tokens or 256, opts.ignore_eog
  local stream = c:stream(opts.special ~= false)
  local ctx = c:ctx()
  local now = core.now
  local sample = sampler(session, pick)

  local t0 = now()
  progress.pos0, progress.reading = c:pos(), true
  if #ids > 0 then
    prefill(session, ids, opts.prefill_chunk)
  elseif not session.fresh then
    refresh(session)
  end
  progress.reading = false
  stats.prompt_tokens, stats.prompt_seconds = #ids, now() - t0

  local started = now()
  local id = max > 0 and c:pos() < ctx and sample() or nil
  stats.stop = max > 0 and c:pos() >= ctx and "context" or "length"
  for step = 1, max do
    if id == nil then
      break
    elseif not ignore_eog and c:is_eog(id) then
      stats.stop = "eog"
      break
    end
    local t_eval = now()
    session:eval(id)
    stats.decode_seconds = stats.decode_seconds + (now() - t_eval)
    local nxt
    if step < max and c:pos() < ctx then
      nxt = sample()
    elseif step < max then
      stats.stop = "context"  -- no room for the next token (set before the caller sees this one)
    end
    local piece = stream:push(id)
    progress.last = nxt == nil or (not ignore_eog and c:is_eog(nxt))
    if progress.last then
      piece = piece .. stream:flush()  -- held bytes of a cut character come out as U+FFFD
      stats.stop = nxt ~= nil and "eog" or stats.stop
    end
    stats.tokens, stats.seconds = step, stats.seconds + (now() - started)
    local expected = c:pos()
    coroutine.yield(TOKEN, id, piece)
    if c:pos() ~= expected then
      error("the session changed while its generator waited (position " .. c:pos()
            .. ", expected " .. expected .. "); start a new generate", 0)
    end
    started = now()
    id = nxt
  end
end

-- A run that ended before its last token (how: "cancelled", its loop ended first; "error", it
-- raised): stop says so, and a prompt cut off while it was read is rewound, so that the
-- session holds what it held before rather than the first chunks of a prompt.
local function cut_short(session, stats, progress, how)
  stats.stop = how
  local open, pos = pcall(session.pos, session)   -- a closed session holds nothing to rewind
  if open and progress.reading and pos > progress.pos0 then
    session:rewind(progress.pos0)
  end
end

-- Raises err, which ended generate's coroutine co. qora's own errors, raised in the coroutine
-- where no line of the user's was on the stack, are raised at the user's line (the for
-- loop's); the errors of the user's own sampler (users is true) or of a function of the user's
-- that a policy called pass as they are.
local function fail(co, err, users)
  local own = not users and check.own_error(co, err)
  if not own then
    error(err, 0)
  end
  check.error(own)
end

--- Generates tokens after a prompt.
-- @param opts table|nil {
--   prompt = string or array of ids (nil: continue from the cache),
--   max_tokens = 256, sampler = a qora.sampling policy (default greedy) or a function,
--   special = true (control tokens appear in pieces as their text),
--   prefill_chunk = nil (evaluate the prompt in chunks of at most this size, as even as can
--   be, yielding between),
--   ignore_eog = false, parse_special = true (for a string prompt), bos = true }
--   A sampler is a function(cands, history) -> id or a policy; it must return an id of the
--   vocabulary, and may yield (see the top of this file).
-- @return an iterator yielding id, piece; the session's `stats` field describes the run:
--   prompt_tokens, prompt_seconds, tokens, seconds (generating, waits for the caller left out),
--   decode_seconds (the part of seconds spent evaluating; the rest is sampling and
--   streaming), stop ("eog"; "length": max_tokens reached; "context": the cache is full;
--   "cancelled": the loop ended before the last token, by a break, an error in its body or
--   its coroutine closed; "error": generate itself raised; a prompt cut off either way while
--   it was read is rewound, prompt_tokens 0; nil while the prompt is read),
--   seed (the seed a qora.sampling policy draws with, a new one's too; nil for other samplers
--   and for a policy that never draws)
function M.generate(session, opts)
  opts = check_options(opts)
  local pick, ours = sampler_fn(opts.sampler)
  local ids = prompt_ids(session, opts)
  check_ids(session, ids)
  if #ids == 0 and session:pos() == 0 then
    check.error("generate needs a prompt: the session holds no tokens yet")
  end
  local stats = { prompt_tokens = 0, prompt_seconds = 0, tokens = 0, seconds = 0,
                  decode_seconds = 0, seed = ours and opts.sampler and opts.sampler.seed or nil }
  session.generation = session.generation + 1
  session.stats = stats
  local generation = session.generation
  -- true while the user's own sampler runs: an error that ends the coroutine then is its own
  local picking = false
  local guarded = ours and pick or function(c, history)
    picking = true
    local id = pick(c, history)
    picking = false
    return id
  end
  local co = coroutine.create(run)
  local started, closed = false, false
  local progress = { reading = false }

  -- Resumes the run with what a yield to the caller brought back, unless the generator was
  -- closed meanwhile (chat:reply's end, when a newer reply of the chat ended this one).
  local function resume(back)
    if closed then
      check.error("this generator was closed while its loop waited; start a new generate")
    end
    return table.pack(coroutine.resume(co, table.unpack(back, 1, back.n)))
  end

  local function step()
    if coroutine.status(co) == "dead" then
      return nil
    elseif session.generation ~= generation then
      check.error("this generator was replaced by a newer generate on the same session")
    elseif not started then
      check_room(session, #ids)  -- now, after any rewind made since generate (chat:reply's)
      started = true
    end
    local r = table.pack(coroutine.resume(co, session, opts, ids, guarded, stats, progress))
    while true do
      if not r[1] then
        if session.generation == generation then
          cut_short(session, stats, progress, "error")
        end
        fail(co, r[2], picking)
      elseif coroutine.status(co) == "dead" then
        return nil
      elseif r[2] == TOKEN then
        return r[3], r[4]
      elseif r[2] == PREFILL then
        if coroutine.isyieldable() then
          coroutine.yield()  -- between prompt chunks: the caller's scheduler may run others
        end
        r = resume({ n = 0 })
      elseif coroutine.isyieldable() then  -- the sampler yielded: pass it on, and back
        r = resume(table.pack(coroutine.yield(table.unpack(r, 2, r.n))))
      else
        if session.generation == generation then
          cut_short(session, stats, progress, "error")
        end
        coroutine.close(co)
        check.error("the sampler yielded, but generate runs outside any coroutine: run the "
                    .. "for loop inside a coroutine, or give a sampler that does not yield")
      end
    end
  end

  -- Closed when a for loop ends or breaks: frees the coroutine now rather than at collection.
  -- A run closed from inside itself (its sampler ending this chat reply) is left to go on: it
  -- then finds its session changed.
  local closer = setmetatable({}, { __close = function()
    local status = coroutine.status(co)
    if status == "suspended" and started and not progress.last
       and session.generation == generation then
      cut_short(session, stats, progress, "cancelled")
    end
    if status == "suspended" or status == "dead" then
      closed = true
      coroutine.close(co)
    end
  end })
  return step, nil, nil, closer
end

return M
