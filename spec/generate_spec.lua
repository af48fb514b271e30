-- session:generate on the tiny SmolLM3 model, against llama.cpp's greedy ids
-- (../shared/vectors/tiny-smollm3/greedy/f32_*.ids: 32 ids after each prompt).
local qora = require("qora")
local S = dofile("spec/support.lua")

local model = assert(qora.load(S.tiny("f32"), { threads = 2 }))
local EOS = model.info.eos_id

local function prompt(name)
  return S.read_ids(S.TINY .. "prompts/" .. name .. ".ids")
end

local function greedy(name)
  return S.read_ids(S.TINY .. "greedy/f32_" .. name .. ".ids")
end

local function slice(t, i, j)
  return table.move(t, i, j, 1, {})
end

describe("generate", function()
  for _, name in ipairs({ "raw", "mixed", "chat" }) do
    it("gives llama.cpp's greedy ids after the " .. name .. " prompt", function()
      local s = model:session()
      local ids = S.collect(s:generate({ prompt = prompt(name), max_tokens = 32,
                                         ignore_eog = true }))
      S.same_ids(greedy(name), ids, name)
      assert.equal(#prompt(name) + 32, s:pos())
      assert.equal("length", s.stats.stop)
      assert.equal(32, s.stats.tokens)
      assert.equal(#prompt(name), s.stats.prompt_tokens)
      assert.is_true(s.stats.decode_seconds > 0 and s.stats.decode_seconds <= s.stats.seconds)
    end)
  end

  it("shows in stats.seed the seed its policy draws with, a new one's too", function()
    local policy = require("qora.sampling").new({ temperature = 1.5, top_p = 1, seed = -1 })
    local s = model:session()
    local ids = S.collect(s:generate({ prompt = prompt("raw"), max_tokens = 12,
                                       sampler = policy, ignore_eog = true }))
    assert.equal("integer", math.type(s.stats.seed))
    assert.equal(policy.seed, s.stats.seed)
    local chat = model:chat({ think = false })
    local _, text = S.collect(chat:reply("Hi", { seed = -1, temperature = 1.5, max_tokens = 12 }))
    local seed = chat.session.stats.seed
    assert.equal("integer", math.type(seed))

    -- that seed repeats the run
    local again = model:session()
    S.same_ids(ids, (S.collect(again:generate({ prompt = prompt("raw"), max_tokens = 12,
      sampler = require("qora.sampling").new({ temperature = 1.5, top_p = 1,
                                               seed = s.stats.seed }), ignore_eog = true }))))
    local chat2 = model:chat({ think = false })
    local _, text2 = S.collect(chat2:reply("Hi", { seed = seed, temperature = 1.5,
                                                  max_tokens = 12 }))
    assert.equal(text, text2)

    -- no seed without a policy that draws
    s:rewind(0)
    S.collect(s:generate({ prompt = prompt("raw"), max_tokens = 2 }))
    assert.is_nil(s.stats.seed)
  end)

  it("says cancelled after a break, keeps the tokens so far, and continues from them",
     function()
    local s = model:session()
    local got = {}
    for id in s:generate({ prompt = prompt("mixed"), max_tokens = 32, ignore_eog = true }) do
      got[#got + 1] = id
      if #got == 5 then break end
    end
    assert.equal("cancelled", s.stats.stop)
    assert.equal(5, s.stats.tokens)
    assert.equal(#prompt("mixed"), s.stats.prompt_tokens)
    assert.equal(#prompt("mixed") + 5, s:pos())
    local rest = S.collect(s:generate({ max_tokens = 27, ignore_eog = true }))
    table.move(rest, 1, #rest, 6, got)
    S.same_ids(greedy("mixed"), got)
  end)

  it("continues after a rewind by evaluating the last cached token again", function()
    local s = model:session()
    local p = prompt("raw")
    S.collect(s:generate({ prompt = p, max_tokens = 10, ignore_eog = true }))
    s:rewind(#p + 4)
    local rest = S.collect(s:generate({ max_tokens = 28, ignore_eog = true }))
    S.same_ids(slice(greedy("raw"), 5, 32), rest)
  end)

  it("continues after a rewind to the current position, which forgets nothing", function()
    local s = model:session()
    local p = prompt("raw")
    S.collect(s:generate({ prompt = p, max_tokens = 10, ignore_eog = true }))
    s:rewind(s:pos())
    local rest = S.collect(s:generate({ max_tokens = 22, ignore_eog = true }))
    S.same_ids(slice(greedy("raw"), 11, 32), rest)
  end)

  it("gives each of two interleaved sessions the tokens it gives alone", function()
    local a, b = model:session(), model:session()
    local ga = a:generate({ prompt = prompt("raw"), max_tokens = 32, ignore_eog = true })
    local gb = b:generate({ prompt = prompt("chat"), max_tokens = 32, ignore_eog = true })
    local ia, ib = {}, {}
    for _ = 1, 32 do
      ia[#ia + 1] = ga()
      ib[#ib + 1] = gb()
    end
    S.same_ids(greedy("raw"), ia, "raw")
    S.same_ids(greedy("chat"), ib, "chat")
  end)

  it("yields to a scheduler between prompt chunks, interleaving coroutines", function()
    local results, yields = {}, { raw = 0, mixed = 0 }
    local tasks = {}
    for _, name in ipairs({ "raw", "mixed" }) do
      local s = model:session()
      tasks[#tasks + 1] = { name = name, co = coroutine.create(function()
        local out = {}
        for id in s:generate({ prompt = prompt(name), max_tokens = 32, ignore_eog = true,
                               prefill_chunk = 3 }) do
          out[#out + 1] = id
          coroutine.yield("token")
        end
        results[name] = out
      end) }
    end
    repeat  -- round robin until both are done
      local alive = false
      for _, t in ipairs(tasks) do
        if coroutine.status(t.co) == "suspended" then
          local ok, what = coroutine.resume(t.co)
          assert(ok, what)
          if what == nil and coroutine.status(t.co) == "suspended" then
            yields[t.name] = yields[t.name] + 1  -- a plain yield: between prompt chunks
          end
          alive = true
        end
      end
    until not alive
    S.same_ids(greedy("raw"), results.raw, "raw")
    S.same_ids(greedy("mixed"), results.mixed, "mixed")
    assert.equal(math.ceil(#prompt("raw") / 3) - 1, yields.raw)
    assert.equal(math.ceil(#prompt("mixed") / 3) - 1, yields.mixed)
  end)

  it("never yields on its own inside a coroutine without prefill_chunk", function()
    local s = model:session()
    local co = coroutine.create(function()
      return #S.collect(s:generate({ prompt = prompt("raw"), max_tokens = 4 }))
    end)
    local ok, n = coroutine.resume(co)
    assert.is_true(ok)
    assert.equal(4, n)
    assert.equal("dead", coroutine.status(co))
  end)

  it("evaluates in chunks outside any coroutine without yielding", function()
    local s = model:session()
    local ids = S.collect(s:generate({ prompt = prompt("raw"), max_tokens = 32,
                                       prefill_chunk = 2, ignore_eog = true }))
    S.same_ids(greedy("raw"), ids)
  end)

  it("stops before an end-of-generation token unless told to ignore it", function()
    local n = 0
    local function eos_third(c)
      n = n + 1
      return n % 3 == 0 and EOS or c:argmax()
    end
    local s = model:session()
    local ids = S.collect(s:generate({ prompt = prompt("raw"), max_tokens = 10,
                                       sampler = eos_third }))
    assert.equal(2, #ids)
    assert.equal("eog", s.stats.stop)
    assert.equal(#prompt("raw") + 2, s:pos())
    assert.is_true(model:is_eog(EOS))

    n = 0
    local all = S.collect(model:session():generate({ prompt = prompt("raw"), max_tokens = 6,
                                                     sampler = eos_third, ignore_eog = true }))
    assert.same(EOS, all[3])
    assert.equal(6, #all)
  end)

  it("says cancelled when the loop's body raises or its coroutine is closed", function()
    local s = model:session()
    local ok = pcall(function()
      for _ in s:generate({ prompt = prompt("raw"), max_tokens = 20 }) do error("boom") end
    end)
    assert.is_false(ok)
    assert.equal("cancelled", s.stats.stop)
    assert.equal(1, s.stats.tokens)

    local t = model:session()
    local co = coroutine.create(function()
      for _ in t:generate({ prompt = prompt("raw"), max_tokens = 20 }) do coroutine.yield() end
    end)
    assert.is_true((coroutine.resume(co)))   -- up to the first token's yield
    assert.is_true((coroutine.close(co)))
    assert.equal("cancelled", t.stats.stop)
    assert.equal(1, t.stats.tokens)
    assert.equal(#prompt("raw") + 1, t:pos())
  end)

  it("keeps length or eog when the loop breaks at the run's last token", function()
    local s = model:session()
    local n = 0
    for _ in s:generate({ prompt = prompt("raw"), max_tokens = 3, ignore_eog = true }) do
      n = n + 1
      if n == 3 then break end
    end
    assert.equal("length", s.stats.stop)

    local calls = 0
    local function eos_third(c)
      calls = calls + 1
      return calls == 3 and EOS or c:argmax()
    end
    n = 0
    for _ in s:generate({ prompt = prompt("raw"), max_tokens = 10, sampler = eos_third }) do
      n = n + 1
      if n == 2 then break end   -- the second token is the last: the third is EOS
    end
    assert.equal("eog", s.stats.stop)
  end)

  it("says error when its sampler raises", function()
    local s = model:session()
    local calls = 0
    local ok = pcall(function()
      for _ in s:generate({ prompt = prompt("raw"), max_tokens = 10, sampler = function(c)
        calls = calls + 1
        if calls == 2 then error("sampler broke") end
        return c:argmax()
      end }) do end
    end)
    assert.is_false(ok)
    assert.equal("error", s.stats.stop)
    assert.equal(#prompt("raw") + 1, s:pos())
  end)

  it("rewinds a prompt cancelled while it is read, leaving the session as it was", function()
    local s = model:session()
    s:eval(slice(prompt("raw"), 1, 4))
    local co = coroutine.create(function()
      for _ in s:generate({ prompt = prompt("mixed"), max_tokens = 5, prefill_chunk = 4 }) do
      end
    end)
    assert.is_true((coroutine.resume(co)))
    assert.is_true((coroutine.resume(co)))
    local read = s:pos() - 4                -- two chunks of the prompt are in the cache
    assert.is_true(read >= 6 and read < #prompt("mixed"), "read " .. read)
    assert.equal(nil, s.stats.stop)         -- not known while the prompt is read
    assert.is_true((coroutine.close(co)))
    assert.equal("cancelled", s.stats.stop)
    assert.equal(0, s.stats.prompt_tokens)
    assert.equal(4, s:pos())
    assert.same(slice(prompt("raw"), 1, 4), s.tokens)

    -- and the session goes on as if that prompt had never been given
    local ids = S.collect(s:generate({ prompt = slice(prompt("raw"), 5, #prompt("raw")),
                                       max_tokens = 32, ignore_eog = true }))
    S.same_ids(greedy("raw"), ids)
  end)

  it("stops when the context is full", function()
    local p = prompt("raw")
    local s = model:session({ ctx = #p + 5 })
    local ids = S.collect(s:generate({ prompt = p, max_tokens = 20, ignore_eog = true }))
    assert.equal(5, #ids)
    assert.equal("context", s.stats.stop)
    assert.equal(s:ctx(), s:pos())
  end)

  it("stops cleanly with stop = context when the answer fills the cache", function()
    local p = prompt("raw")
    local s = model:session({ ctx = #p + 5 })
    local ids, text = S.collect(s:generate({ prompt = p, max_tokens = 100 }))
    S.same_ids(slice(greedy("raw"), 1, 5), ids)
    assert.equal("context", s.stats.stop)
    assert.equal(5, s.stats.tokens)
    assert.equal(s:ctx(), s:pos())
    assert.is_true(utf8.len(text) ~= nil)

    local full = model:session({ ctx = #p })
    assert.same({}, (S.collect(full:generate({ prompt = p, max_tokens = 10 }))))
    assert.equal("context", full.stats.stop)

    local exact = model:session({ ctx = #p + 5 })
    assert.equal(5, #S.collect(exact:generate({ prompt = p, max_tokens = 5 })))
    assert.equal("length", exact.stats.stop)
  end)

  it("says how many more tokens do not fit, one in the singular", function()
    local s = model:session({ ctx = 4 })
    s:eval({ 1, 2, 3 })
    local function refusal(p)
      local ok, err = pcall(function() S.collect(s:generate({ prompt = p })) end)
      assert.is_false(ok)
      return err
    end
    assert.truthy(refusal({ 1, 2 }):find("2 more tokens do not fit: the context holds 4 and 3 "
                                         .. "are used; make a session", 1, true))
    s:rewind(1)
    local err = refusal({ 1, 2, 3, 4 })
    assert.truthy(err:find("4 more tokens do not fit: the context holds 4 and 1 is used;", 1,
                           true), err)
    s:eval({ 2, 3, 4 })
    err = refusal({ 1 })
    assert.truthy(err:find("1 more token does not fit: the context holds 4 and 4 are used;", 1,
                           true), err)
  end)

  it("stops at a full cache from a text prompt on the 10-token session of the review", function()
    local s = model:session({ ctx = 10 })
    local ids = S.collect(s:generate({ prompt = "Once upon a time", max_tokens = 100,
                                       ignore_eog = false }))
    assert.equal(10, s:pos())
    assert.equal(10 - #s.core:tokenize("Once upon a time", true, true), #ids)
    assert.equal("context", s.stats.stop)
  end)

  it("passes a sampler's yield through to the caller's coroutine, and its answer back",
     function()
    local s = model:session()
    local answers = {}
    local function asking(c)
      answers[#answers + 1] = coroutine.yield("which?", #answers + 1)
      return c:argmax()
    end
    local co = coroutine.create(function()
      return S.collect(s:generate({ prompt = prompt("raw"), max_tokens = 4, sampler = asking,
                                    ignore_eog = true }))
    end)
    local asked = 0
    local ok, a, b = coroutine.resume(co)
    while coroutine.status(co) == "suspended" do
      assert.is_true(ok, a)
      assert.equal("which?", a)
      asked = asked + 1
      assert.equal(asked, b)
      ok, a, b = coroutine.resume(co, "answer " .. asked)
    end
    assert.is_true(ok, a)
    S.same_ids(slice(greedy("raw"), 1, 4), a)   -- a holds the ids; no fake ids among them
    assert.equal(4, asked)
    assert.same({ "answer 1", "answer 2", "answer 3", "answer 4" }, answers)
  end)

  it("raises when a sampler yields outside any coroutine, and yields no fake ids", function()
    local s = model:session()
    local got = {}
    local ok, err = pcall(function()
      for id in s:generate({ prompt = prompt("raw"), max_tokens = 3, sampler = function(c)
        coroutine.yield("x")
        return c:argmax()
      end }) do
        got[#got + 1] = id
      end
    end)
    assert.is_false(ok)
    assert.truthy(err:find("the sampler yielded, but generate runs outside any coroutine", 1,
                           true), err)
    assert.same({}, got)
    assert.equal(#prompt("raw"), s:pos())
    assert.equal(s:pos(), #s.tokens)
    assert.equal("error", s.stats.stop)
  end)

  it("says so when the sampler returns something that is not a token id", function()
    for _, bad in ipairs({ -1, 10 ^ 9, 462, 1.0, "3", false }) do
      local s = model:session()
      local ok, err = pcall(S.collect, s:generate({ prompt = prompt("raw"), max_tokens = 2,
                                                    sampler = function() return bad end }))
      assert.is_false(ok)
      assert.truthy(err:find("the sampler returned", 1, true), err)
      assert.truthy(err:find("not a token id (0 to 461)", 1, true), err)
      assert.falsy(err:find("is_eog", 1, true), err)
      assert.equal(s:pos(), #s.tokens)
    end
  end)

  -- Runs code as a chunk named "user" that sees s (a new session), p (a prompt) and T (any
  -- value); returns the error it raises.
  local function raise(code, T)
    local env = setmetatable({ s = model:session(), p = prompt("raw"), T = T },
                             { __index = _G })
    local ok, err = pcall(assert(load(code, "=user", "t", env)))
    assert(not ok, code .. " raised no error")
    return err
  end

  it("raises its own errors at the line of the for loop, the sampler's as they are", function()
    local err = raise("for _ in s:generate({ prompt = p, sampler = function() return 'x' end })"
                      .. " do end")
    assert.truthy(err:find('^user:1: the sampler returned "x"'), err)
    err = raise("local chain = require('qora.sampling').chain({ function() end })\n"
                .. "for _ in s:generate({ prompt = p, sampler = chain }) do end")
    assert.truthy(err:find("^user:2: the sampling chain ended without choosing"), err)
    err = raise("for _ in s:generate({ prompt = p, max_tokens = 4 }) do\n  s:eval(5)\nend")
    assert.truthy(err:find("^user:1: the session changed while its generator waited"), err)
    err = raise("local co = coroutine.create(function()\n"
                .. "  for _ in s:generate({ prompt = p, sampler = function(c)\n"
                .. "    coroutine.yield()\n    return -1\n  end }) do end\nend)\n"
                .. "coroutine.resume(co)\nerror(select(2, coroutine.resume(co)), 0)")
    assert.truthy(err:find("^user:2: the sampler returned %-1"), err)  -- in a host's loop
    assert.equal("user:1: my sampler broke",
                 raise("local function f() error('my sampler broke') end\n"
                       .. "for _ in s:generate({ prompt = p, sampler = f }) do end"))
    assert.equal("plain", raise("for _ in s:generate({ prompt = p, sampler = function()\n"
                                .. "  error('plain', 0)\nend }) do end"))
    err = raise("for _ in s:generate({ prompt = p, sampler = function() return 'a:1: b' end })"
                .. " do end")   -- a position in the user's value is not one of qora's
    assert.truthy(err:find('^user:1: the sampler returned "a:1: b"'), err)
    assert.equal("user:1: my step broke",   -- a step of the user's in a chain of qora's
                 raise("local step = function() error('my step broke') end\n"
                       .. "local chain = require('qora.sampling').chain({ step })\n"
                       .. "for _ in s:generate({ prompt = p, sampler = chain }) do end"))
    local t = {}
    assert.equal(t, raise("for _ in s:generate({ prompt = p, sampler = function() error(T) end"
                          .. " }) do end", t))
  end)

  it("takes only booleans as switches", function()
    local s = model:session()
    for _, k in ipairs({ "ignore_eog", "special", "parse_special", "bos" }) do
      local ok, err = pcall(s.generate, s, { prompt = { 1 }, [k] = "no" })
      assert.is_false(ok)
      assert.truthy(err:find(k .. ' must be true or false, got "no" (a string)', 1, true), err)
    end
  end)

  it("generates nothing for max_tokens = 0 but evaluates the prompt", function()
    local s = model:session()
    assert.same({}, (S.collect(s:generate({ prompt = prompt("raw"), max_tokens = 0 }))))
    assert.equal(#prompt("raw"), s:pos())
  end)

  it("passes the session's ids to the sampler as the history", function()
    local s = model:session()
    local p = prompt("raw")
    local seen
    S.collect(s:generate({ prompt = p, max_tokens = 3, sampler = function(c, history)
      seen = #history
      return c:argmax()
    end }))
    assert.equal(#p + 2, seen)
    S.same_ids(p, slice(s.tokens, 1, #p))
  end)

  it("ends the iterator after a break, and a newer generate replaces an older one", function()
    local s = model:session()
    local it = s:generate({ prompt = prompt("raw"), max_tokens = 8 })
    assert.is_number(it())
    local newer = s:generate({ max_tokens = 2 })
    assert.has_error(function() it() end,
                     "this generator was replaced by a newer generate on the same session")
    assert.is_number(newer())
    for _ in s:generate({ max_tokens = 5 }) do break end
  end)

  it("refuses to go on when the session changed under it", function()
    local s = model:session()
    local it = s:generate({ prompt = prompt("raw"), max_tokens = 8 })
    it()
    s:eval(5)
    assert.has_error(function() it() end)
  end)

  it("refuses bad options", function()
    local s = model:session()
    assert.has_error(function() s:generate() end,
                     "generate needs a prompt: the session holds no tokens yet")
    assert.has_error(function() s:generate("hello") end)
    assert.has_error(function() s:generate({ promt = "x" }) end)
    assert.has_error(function() s:generate({ prompt = 5 }) end, "bad argument #1 to 'generate' "
                     .. "(prompt must be a string or an array of token ids, got number)")
    assert.has_error(function() s:generate({ prompt = { 1 }, max_tokens = -1 }) end,
                     "bad argument #1 to 'generate' (max_tokens must be an integer of at "
                     .. "least 0, got -1)")
    assert.has_error(function() s:generate({ prompt = { 1 }, max_tokens = 1.5 }) end)
    assert.has_error(function() s:generate({ prompt = { 1 }, prefill_chunk = 0 }) end,
                     "bad argument #1 to 'generate' (prefill_chunk must be an integer of at "
                     .. "least 1, got 0)")
    assert.has_error(function() s:generate({ prompt = { 1 }, sampler = 3 }) end,
                     "bad argument #1 to 'generate' (sampler must be a policy from "
                     .. "qora.sampling or a function(cands, history), got number)")
    assert.has_error(function() s:generate({ prompt = { 1 }, sampler = {} }) end,
                     "bad argument #1 to 'generate' (sampler must be a policy from "
                     .. "qora.sampling or a function(cands, history), got a table without a "
                     .. "sample method)")
    assert.has_error(function() S.collect(s:generate({ prompt = { "a" } })) end)
    assert.has_error(function() S.collect(s:generate({ prompt = { 1e9 } })) end)
    assert.has_error(function()
      S.collect(s:generate({ prompt = { 1 }, sampler = function() return "x" end }))
    end)
  end)
end)
