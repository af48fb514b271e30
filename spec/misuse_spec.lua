-- Every C method called with every kind of wrong argument, and with a wrong self: each call
-- returns or raises an error with a message; none crashes the process (which would end the
-- run here).
local qora = require("qora")
local core = require("qora.core")
local S = dofile("spec/support.lua")

local model = assert(qora.load(S.tiny("q8_0")))
local session = model:session({ ctx = 16 })
session:eval({ 1, 2, 3 })

local BAD = {
  false, true, 0, -1, 1, 461, 462, 2 ^ 53, math.maxinteger, math.mininteger, 1.5, 0 / 0,
  math.huge, "", "x", "\0\255", {}, { 1, 2, 3 }, { "a" }, { -5 }, { 1.5 }, print,
  coroutine.create(print), io.stdout,
}

-- One of each userdata, made afresh for each method (a call may close or clear it).
local function makers()
  return {
    [S.tiny("q8_0")] = function() return assert(core.load(S.tiny("q8_0"))) end,
    session = function()
      local s = model.core:session(16)
      s:eval({ 1, 2 })
      return s
    end,
    candidates = function() return core.candidates({ 1, 2, 3, 4 }) end,
    rng = function() return core.rng(1) end,
    stream = function() return model.core:stream(true) end,
  }
end

-- The names of the functions of class that keep(name) accepts, sorted.
local function function_names(class, keep)
  local out = {}
  for name, f in pairs(class) do
    if type(f) == "function" and keep(name) then
      out[#out + 1] = name
    end
  end
  table.sort(out)
  return out
end

-- The functions of an object's metatable but __gc and __index, metamethods included. save
-- would write files named by the bad arguments; hf_spec.lua tests its misuse.
local function methods(obj)
  return function_names(getmetatable(obj), function(name)
    return name ~= "__gc" and name ~= "__index" and name ~= "save"
  end)
end

describe("misuse", function()
  for kind, make in pairs(makers()) do
    it("of " .. (kind:match("[^/]+$")) .. " methods raises errors, never crashes", function()
      local calls, errors = 0, 0
      for _, name in ipairs(methods(make())) do
        for _, a in ipairs(BAD) do
          local seconds = { n = 4, nil, 2, "y", {} }
          for k = 1, seconds.n do
            local b = seconds[k]
            local obj = make()
            local f = getmetatable(obj)[name]
            for _, args in ipairs({ { obj, a, b }, { a, obj, b }, { obj, 1, a, b } }) do
              calls = calls + 1
              local ok, err = pcall(f, table.unpack(args, 1, 4))
              if not ok then
                errors = errors + 1
                assert(type(err) == "string", name .. " raised a " .. type(err))
              end
            end
          end
        end
      end
      assert.is_true(calls > 100 and errors > 0)
    end)
  end

  it("of module functions raises errors, never crashes", function()
    for _, name in ipairs({ "load", "candidates", "rng", "isatty", "cores", "stat" }) do
      for _, a in ipairs(BAD) do
        pcall(core[name], a)
        pcall(core[name], a, a)
      end
    end
    for _, a in ipairs(BAD) do
      pcall(qora.load, a)
      pcall(qora.load, S.tiny("q8_0"), a)
      pcall(model.session, model, a)
      pcall(model.tokenize, model, a)
      pcall(model.tokenize, model, "x", a)
      pcall(model.detokenize, model, a)
      pcall(model.chat, model, a)
      pcall(session.eval, session, a)
      pcall(session.eval, session, { 1 }, a)
      pcall(session.rewind, session, a)
      pcall(session.generate, session, a)
      pcall(session.generate, session, { prompt = a, max_tokens = 1 })
    end
    -- the session stays usable after all this
    session:rewind(0)
    session:eval({ 1, 2 })
    assert.equal(2, session:pos())
  end)
end)

-- Runs code as a chunk named "user" with the names of env; returns the error it raises.
local function raise(code, env)
  local f = assert(load(code, "=user", "t", setmetatable(env, { __index = _G })))
  local ok, err = pcall(f)
  assert(not ok, code .. " raised no error")
  return tostring(err)
end

describe("misuse of an argument", function()
  it("is reported at the caller's line, not inside lua/qora", function()
    local m = assert(qora.load(S.tiny("q8_0")))
    local s = m:session({ ctx = 16 })
    local chat = m:chat()
    local closed = assert(qora.load(S.tiny("q8_0")))
    closed:close()
    local gone = m:session({ ctx = 16 })
    gone:close()
    local env = { m = m, s = s, chat = chat, closed = closed, gone = gone, qora = qora,
                  core = core,
                  sampling = require("qora.sampling"), templates = require("qora.chat") }
    local cases = {
      -- code, a part of the message
      { "m:chat(5)", "bad argument to 'chat'" },
      { "m:chat({ template = 'nope' })", "unknown template" },
      { "m:chat({ system = 'ok \\255' })",
        "bad argument to 'chat' (system is not valid UTF-8 at byte 4; convert it to UTF-8 "
        .. "first)" },
      { "m:chat({ date = '01 \\255' })", "(date is not valid UTF-8 at byte 4; convert it" },
      { "m:chat({ tools = '[\"\\255\"]' })", "(tools is not valid UTF-8 at byte 3; convert it" },
      { "m:chat({ tools = { { name = 'f', description = 'a\\255' } } })",
        "(tools[1].description is not valid UTF-8 at byte 2; convert it to UTF-8 first)" },
      { "local t = {} t[1] = t m:chat({ tools = t })", "(tools: a table contains itself)" },
      { "m:chat({ tools = 'not json {' })", "(tools is not valid JSON: " },
      { "chat:reply(5)", "bad argument #1 to 'reply' (string expected, got number)" },
      { "chat:reply('\\255')",
        "bad argument #1 to 'reply' (the message is not valid UTF-8 at byte 1; convert it to "
        .. "UTF-8 first)" },
      { "chat:prompt_ids('a\\255')", "bad argument #1 to 'prompt_ids' (the message is not "
        .. "valid UTF-8 at byte 2; convert it to UTF-8 first)" },
      { "chat:reply('x', { temperature = -1 })", "temperature" },
      { "chat:reply('x', { seed = 1.5 })", "seed" },
      { "chat:reply('x', { top_k = -1 })", "top_k" },
      { "chat:reply('x', { sampler = 5 })", "sampler" },
      { "for _ in chat:reply('x', { sampler = function() return 'x' end }) do end",
        "the sampler returned \"x\"" },
      { "sampling.new({ seed = 1.5 })", "seed" },
      { "sampling.new({ top_k = -1 })", "top_k" },
      { "templates.render({ { role = 'user', content = 5 } }, { template = 'chatml' })",
        "content" },
      { "templates.get('chatml'):render({}, { xml_tools = {} })",
        "chat: option xml_tools: the chatml template has no tools section" },
      { "local t = {} t[1] = t templates.render({ { role = 'user', content = 'x' } }, "
        .. "{ python_tools = t })", "chat: option python_tools: a table contains itself" },
      { "templates.get('smollm3'):render({ { role = 'user', content = 'x' } }, "
        .. "{ xml_tools = { { f = print } } })",
        "chat: option xml_tools: cannot print a function value as Python would" },
      { "m:tokenize('\\255')", "not valid UTF-8" },
      { "m:tokenize(123)", "bad argument #1 to 'tokenize' (string expected, got number)" },
      { "m:token_id(123)", "bad argument #1 to 'token_id' (string expected, got number)" },
      { "m:meta(1)", "bad argument #1 to 'meta' (string expected, got number)" },
      { "m.core:tokenize(1.5)", "bad argument #1 to 'tokenize' (string expected, got number)" },
      { "s.core:tokenize(7)", "bad argument #1 to 'tokenize' (string expected, got number)" },
      { "s.core:token_id(7)", "bad argument #1 to 'token_id' (string expected, got number)" },
      { "m.core:save(1)", "bad argument #1 to 'save' (string expected, got number)" },
      { "m.core:session(16, 4, 1)", "bad argument #3 to 'session' (string expected, got number)" },
      { "core.load(1)", "bad argument #1 to 'load' (string expected, got number)" },
      { "core.load('nowhere', 0, 1)", "bad argument #3 to 'load' (string expected, got number)" },
      { "core.stat(1)", "bad argument #1 to 'stat' (string expected, got number)" },
      { "core.json_decode(1)", "bad argument #1 to 'json_decode' (string expected, got number)" },
      { "core.candidates({ 1 }):load(1234)",
        "bad argument #1 to 'load' (string expected, got number)" },
      { "m:detokenize({ 'a' })", "bad argument #1 to 'detokenize'" },
      { "m:token(-1)", "bad argument #1 to 'token'" },
      { "m:token_id({})", "bad argument #1 to 'token_id'" },
      { "m:is_eog('x')", "bad argument #1 to 'is_eog'" },
      { "m:meta({})", "bad argument #1 to 'meta'" },
      { "m:save('a\\0b')", "NUL" },
      { "qora.load('a\\0b')", "NUL" },
      { "s:eval({ 1e9 })", "bad argument #1 to 'eval'" },
      { "s:eval(math.maxinteger)",
        "bad argument #1 to 'eval' (token id 9223372036854775807 is outside the vocabulary" },
      { "m.core:stream(true):push(-1)", "(token id -1 is outside the vocabulary (0 to 461))" },
      { "s:eval('x')", "bad argument #1 to 'eval'" },
      { "local t = {} for i = 1, 17 do t[i] = 1 end s:eval(t)", "do not fit" },
      { "s:generate({ prompt = '\\255' })", "not valid UTF-8" },
      { "for _ in s:generate({ prompt = { 1e9 } }) do end", "not a token id" },
      { "for _ in s:generate({ prompt = ('a '):rep(40) }) do end", "do not fit" },
      { "chat:prompt_ids('\\255')", "not valid UTF-8" },
      { "closed:tokenize('x')", "the model is closed" },
      { "closed:session()", "the model is closed" },
      { "gone:eval(1)", "the session is closed" },
      { "gone:pos()", "the session is closed" },
      { "gone:generate({ prompt = 'x' })", "the session is closed" },
      -- an unknown option, with the names that would have been right
      { "qora.load('x', { bad_option = 1 })", "bad argument to 'load' (unknown option "
        .. "'bad_option'; known: huge_pages, progress, quant, repack, threads)" },
      { "m:chat({ thinking = false })", "bad argument to 'chat' (unknown option 'thinking'; "
        .. "did you mean 'think'? known: batch, ctx, date, parse_special, system, template, "
        .. "think, tools)" },
      { "m:session({ context = 8 })",
        "bad argument to 'session' (unknown option 'context'; known: batch, ctx, kv_type)" },
      { "chat:reply('x', { temp = 1 })", "bad argument to 'reply' (unknown option 'temp'; "
        .. "did you mean 'temperature'? known: frequency_penalty, greedy, max_tokens, min_p, "
        .. "prefill_chunk, presence_penalty, repeat_last_n, repeat_penalty, sampler, seed, "
        .. "temperature, top_k, top_p)" },
      { "s:generate({ promt = 'x' })", "bad argument #1 to 'generate' (unknown option 'promt'; "
        .. "did you mean 'prompt'? known: bos, ignore_eog, max_tokens, parse_special, "
        .. "prefill_chunk, prompt, sampler, special)" },
      -- a sampling option given to generate, which takes them in its sampler
      { "s:generate({ temp = 1 })", "bad argument #1 to 'generate' (unknown option 'temp'; "
        .. "known: bos, ignore_eog, max_tokens, parse_special, prefill_chunk, prompt, sampler, "
        .. "special; temperature is a sampling option: give sampler = "
        .. "require(\"qora.sampling\").new({ temperature = ... }))" },
      { "s:generate({ seed = 1 })", "(unknown option 'seed'; known: bos, ignore_eog, "
        .. "max_tokens, parse_special, prefill_chunk, prompt, sampler, special; seed is a "
        .. "sampling option: give sampler = require(\"qora.sampling\").new({ seed = ... }))" },
      { "m:tokenize('x', { bos = true, eos = true })",
        "bad argument to 'tokenize' (eos is not an option of tokenize; to end with the EOS "
        .. "token, append model.info.eos_id to the ids it returns)" },
      { "m:tokenize('x', { spec = true })", "bad argument to 'tokenize' (unknown option 'spec'; "
        .. "did you mean 'special'? known: bos, special)" },
      { "m:tokenize('x', { [1] = true })",
        "bad argument to 'tokenize' (unknown option '1'; known: bos, special)" },
    }
    local wrong = {}
    for _, c in ipairs(cases) do
      local err = raise(c[1], env)
      if err:find("user:1: ", 1, true) ~= 1 or not err:find(c[2], 1, true) then
        wrong[#wrong + 1] = c[1] .. " raised " .. err
      end
    end
    assert(#wrong == 0, table.concat(wrong, "\n"))
  end)
end)

-- The functions of a class (or a userdata's metatable) that are methods, not metamethods.
local function public_methods(class)
  return function_names(class, function(name) return name:sub(1, 2) ~= "__" end)
end

describe("a method called with a dot", function()
  local chat = model:chat()
  -- each public object: the noun of the hint, the object, the type the message names
  local objects = {
    { "model", model, "qora.Model" },
    { "session", session, "qora.Session" },
    { "chat", chat, "qora.Conversation" },
    { "policy", require("qora.sampling").greedy(), "qora.Policy" },
    { "template", require("qora.chat").get("chatml"), "qora.Template" },
    { "model", model.core, "qora.Model" },
    { "session", session.core, "qora.Session" },
    { "cands", core.candidates({ 1, 2 }), "qora.Candidates" },
    { "rng", core.rng(1), "qora.Rng" },
    { "stream", model.core:stream(true), "qora.TextStream" },
  }

  local WANT = "user:1: calling '%s' on bad self (%s expected, got %s; call it as %s:%s(...))"

  for _, o in ipairs(objects) do
    local noun, obj, tname = o[1], o[2], o[3]
    local kind = tname .. (type(obj) == "userdata" and " of qora.core" or "")
    it("of a " .. kind .. " names the method and the call with a colon", function()
      local names = public_methods(getmetatable(obj))
      assert.is_true(#names > 0)
      for _, name in ipairs(names) do
        local env = { [noun] = obj }
        assert.equal(WANT:format(name, tname, "no value", noun, name),
                     raise(("%s.%s()"):format(noun, name), env))
        assert.equal(WANT:format(name, tname, "string", noun, name),
                     raise(("%s.%s('x')"):format(noun, name), env))
      end
    end)
  end

  it("names the type of an object of another class", function()
    assert.equal("user:1: calling 'session' on bad self (qora.Model expected, got "
                 .. "qora.Session; call it as model:session(...))",
                 raise("model.session(s)", { model = model, s = session }))
  end)
end)
