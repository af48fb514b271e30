-- qora.load, model.info, sessions and their lifetimes, and how wrong calls fail.
-- Expected shapes are those the vectors README gives for the tiny SmolLM3 model.
local qora = require("qora")
local S = dofile("spec/support.lua")

local function tiny_prompt()
  return S.read_ids(S.TINY .. "prompts/raw.ids")
end

describe("qora.load", function()
  it("takes one thread per core the process may run on, as taskset limits them", function()
    if os.execute("command -v taskset >/dev/null 2>&1") ~= true then
      pending("no taskset")
      return
    end
    local code = ("local q = require('qora'); local m = assert(q.load(%q)); "
                  .. "io.write(q.core.cores(), ' ', m.info.threads)"):format(S.tiny("f32"))
    -- the first CPU this process may run on: CPU 0 may be outside a container's cpuset
    local first = [=[$(sed -n 's/^Cpus_allowed_list:[[:space:]]*\([0-9]*\).*/\1/p' ]=]
                  .. "/proc/self/status)"
    local p = assert(io.popen(("taskset -c %s lua5.4 -e %s 2>&1"):format(first, S.quote(code))))
    local out = p:read("a")
    p:close()
    assert.equal("1 1", out)
  end)

  it("describes the tiny SmolLM3 model as its README does", function()
    local m = assert(qora.load(S.tiny("f32"), { threads = 2 }))
    local i = m.info
    assert.equal("smollm3", i.arch)
    assert.is_true(i.has_weights)
    assert.same({ 4, 256, 512, 8, 2, 32, 462 },
                { i.n_layer, i.n_embd, i.n_ff, i.n_head, i.n_head_kv, i.head_dim, i.n_vocab })
    assert.is_true(i.tied_embeddings)
    assert.equal(5e6, i.rope_theta)
    assert.near(1e-6, i.norm_eps, 1e-12)
    -- embeddings 462 x 256, per layer q, o 256 x 256, k, v 64 x 256, gate, up, down 512 x 256
    -- and two norms of 256, and the output norm
    local per_layer = 2 * 256 * 256 + 2 * 64 * 256 + 3 * 512 * 256 + 2 * 256
    assert.equal(462 * 256 + 4 * per_layer + 256, i.n_params)
    assert.equal(4 * i.n_params, i.weight_bytes)
    assert.same({ F32 = 4 * 9 + 2 }, i.tensor_types)
    assert.equal(2, i.threads)
    assert.equal("<|im_end|>", (m:token(i.eos_id)))
    assert.is_string(i.chat_template)
    assert.truthy(i.chat_template:find("<|im_start|>", 1, true))
  end)

  it("counts the tensors of each type of a mixed file", function()
    local m = assert(qora.load(S.tiny("q4_k_m")))
    local total = 0
    for name, n in pairs(m.info.tensor_types) do
      assert.is_string(name)
      total = total + n
    end
    assert.equal(38, total)
    assert.is_true((m.info.tensor_types.Q4_K or 0) > 0)
    assert.is_true(m.info.weight_bytes < 4 * m.info.n_params / 4)
  end)

  it("loads a vocabulary-only file as a tokenizer that cannot open sessions", function()
    local m = assert(qora.load(S.VOCAB))
    assert.is_false(m.info.has_weights)
    assert.equal(128256, m.info.n_vocab)
    local ok, err = pcall(m.session, m)
    assert.is_false(ok)
    assert.truthy(tostring(err):find(S.VOCAB .. ": a vocabulary without weights (the file has "
                                     .. "no tensors); it can tokenize but not run", 1, true),
                  err)
  end)

  it("names the vocabulary-only file it refuses to save, as the loader names files", function()
    local m = assert(qora.load(S.VOCAB))
    local path = S.temp_name(".gguf")
    local ok, err = m:save(path)
    assert.is_nil(ok)
    assert.equal(S.VOCAB .. ": a vocabulary without weights (the file has no tensors); there "
                 .. "is nothing to save", err)
    assert.is_nil(io.open(path), "a file was written")
  end)

  describe("returns nil and a message for a file it cannot use:", function()
    local good = S.read(S.tiny("q8_0"))
    local cases = {
      { "a missing file", "/nonexistent/model.gguf" },
      { "a directory", "." },
      { "an empty file", S.write_temp("") },
      { "a text file", S.write_temp("this is not a model\n") },
      { "a wrong magic", S.write_temp("GGUX" .. good:sub(5)) },
    }
    for _, cut in ipairs({ 4, 8, 24, 100, 1000, 10000, #good // 2, #good - 1 }) do
      cases[#cases + 1] = { "a file cut at byte " .. cut, S.write_temp(good:sub(1, cut)) }
    end
    teardown(function()
      for i = 3, #cases do os.remove(cases[i][2]) end
    end)
    it("an empty path, saying that none was given", function()
      local m, err = qora.load("")
      assert.is_nil(m)
      assert.truthy(err:find("no model path given", 1, true), err)
    end)
    for _, case in ipairs(cases) do
      it(case[1], function()
        local m, err = qora.load(case[2])
        assert.is_nil(m)
        assert.is_string(err)
        assert.truthy(#err > 10, "message too short: " .. err)
        if case[2] ~= "." then  -- a folder is a checkpoint: its message names the config.json
          local at = err:find(case[2], 1, true)
          assert.truthy(at and not err:find(case[2], at + 1, true),
                        "the message should name the file once: " .. err)
        end
      end)
    end
  end)

  it("refuses wrong arguments", function()
    assert.has_error(function() qora.load() end)
    assert.has_error(function() qora.load(42) end)
    assert.has_error(function() qora.load(S.tiny("f32"), 2) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { threads = "two" }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { threads = -1 }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { thread = 2 }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { threads = 2.0 }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { threads = "2" }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { progress = "no" }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { repack = 0 }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { huge_pages = "yes" }) end)
    assert.has_error(function() qora.load(S.tiny("f32"), { threads = 257 }) end,
                     "bad argument to 'load' (threads must be an integer from 0 to 256, got "
                     .. "257)")
    assert.has_error(function() qora.load("a\0b") end)
    assert.has_error(function() qora.core.load({}) end)
  end)
end)

describe("a model", function()
  local m = assert(qora.load(S.tiny("f32"), { threads = 2 }))

  it("answers token questions and refuses ids outside the vocabulary", function()
    local bytes, kind = m:token(460)
    assert.equal("<|im_start|>", bytes)
    assert.equal("control", kind)
    assert.equal(460, m:token_id("<|im_start|>"))
    assert.is_nil(m:token_id("no such token at all"))
    assert.is_true(m:is_eog(461))
    assert.is_false(m:is_eog(460))
    assert.is_nil(m:meta("no.such.key"))
    assert.equal("smollm3", m:meta("general.architecture"))
    -- the engine reads keys up to a NUL: this one answered general.architecture's value
    assert.has_error(function() m:meta("general.architecture\0x") end,
                     "bad argument #1 to 'meta' (the key contains a NUL byte)")
    assert.is_nil(m:token_id("<|im_start|>\0"))
    for _, bad in ipairs({ -1, 462, 1e9, "x", 1.5 }) do
      assert.has_error(function() m:token(bad) end)
      assert.has_error(function() m:is_eog(bad) end)
    end
    assert.has_error(function() m:is_eog() end)
    assert.has_error(function() m:detokenize("x") end)
    assert.has_error(function() m:detokenize({ -1 }) end)
    -- the same words as s:eval, with the ids that would have been right
    assert.has_error(function() m:detokenize({ 9, 462 }) end, "bad argument #1 to 'detokenize' "
                     .. "(element 2 is token id 462, outside the vocabulary (0 to 461))")
    assert.has_error(function() m:detokenize({ 1, "a" }) end)
    assert.has_error(function() m:detokenize({ 1 }, { specials = true }) end)
    assert.has_error(function() m:tokenize(nil) end)
    assert.has_error(function() m:tokenize("x", "special") end)
    assert.has_error(function() m:token_id(nil) end)
    assert.has_error(function() m.core.info(nil) end)
    assert.has_error(function() m.core.info(qora.rng(1)) end)
  end)

  it("takes only integers as token ids and only booleans as switches", function()
    for _, bad in ipairs({ "1", " 460", 1.0, "0x1" }) do
      assert.has_error(function() m:token(bad) end)
      assert.has_error(function() m:is_eog(bad) end)
      assert.has_error(function() m:detokenize({ bad }) end)
      assert.has_error(function() m.core:stream(true):push(bad) end)
    end
    local ok, err = pcall(m.detokenize, m, { 1, "2" })
    assert.is_false(ok)
    assert.truthy(err:find("element 2 is not a token id", 1, true), err)
    assert.has_error(function() m:tokenize("x", { special = "no" }) end,
                     'bad argument to \'tokenize\' (special must be true or false, got "no" '
                     .. '(a string))')
    assert.has_error(function() m:tokenize("x", { bos = 1 }) end)
    -- not "did you mean 'bos'?": the way to an ending EOS is another one
    assert.has_error(function() m:tokenize("x", { eos = true }) end,
                     "bad argument to 'tokenize' (eos is not an option of tokenize; to end with "
                     .. "the EOS token, append model.info.eos_id to the ids it returns)")
    assert.has_error(function() m:detokenize({ 1 }, { special = "yes" }) end)
    assert.has_error(function() m.core:tokenize("x", "no") end)
    assert.has_error(function() m.core:stream("no") end)
    assert.has_error(function() m:session():eval({ 1 }, { all_logits = "no" }) end)
  end)

  it("leaves control tokens out of detokenized text unless asked", function()
    assert.equal("", m:detokenize({ 460 }))
    assert.equal("<|im_start|>", m:detokenize({ 460 }, { special = true }))
  end)

  it("detokenizes to the raw bytes, a cut character kept, where a stream gives U+FFFD",
     function()
    -- byte-level BPE writes byte 0xC3 as "Ã" (U+00C3) and 0xA9 as "©" (U+00A9)
    local c3, a9 = m:token_id("Ã"), m:token_id("©")
    assert.equal("\xC3", m:detokenize({ c3 }))
    assert.equal("é", m:detokenize({ c3, a9 }))
    local st = m.core:stream(false)
    assert.equal("", st:push(c3))
    assert.equal("\u{FFFD}", st:flush())
  end)

  -- The u32 value of a GGUF metadata key, read from the file's first bytes.
  local function gguf_u32(path, key)
    local f = assert(io.open(path, "rb"))
    local head = f:read(1 << 16)
    f:close()
    local at = assert(head:find(key, 1, true), key)
    local type_id, value = string.unpack("<I4I4", head, at + #key)
    assert.equal(4, type_id)   -- GGUF_TYPE_UINT32
    return value
  end

  it("gives the training context in info, and opens a longer session without a word",
     function()
    assert.equal(gguf_u32(S.tiny("f32"), "smollm3.context_length"), m.info.n_ctx_train)
    assert.equal(4096, m.info.n_ctx_train)
    local smollm2 = assert(qora.load(S.SMOLLM2, { repack = false }))
    assert.equal(gguf_u32(S.SMOLLM2, "llama.context_length"), smollm2.info.n_ctx_train)
    assert.equal(8192, smollm2.info.n_ctx_train)   -- max_position_embeddings in its config
    smollm2:close()

    local code = ("local m = assert(require('qora').load(%q)); "
                  .. "io.write(m:session({ ctx = 9000 }):ctx())"):format(S.tiny("f32"))
    local out, err, rc = S.sh("lua5.4 -e " .. S.quote(code))
    assert.equal(0, rc, err)
    assert.equal("9000", out)
    assert.equal("", err)
  end)

  it("opens sessions with the options given", function()
    local s = m:session({ ctx = 64, batch = 8, kv_type = "f32" })
    assert.equal(64, s:ctx())
    assert.equal(0, s:pos())
    assert.equal(4096, m:session():ctx())
    for _, bad in ipairs({ { ctx = 0 }, { ctx = "big" }, { batch = 1.5 }, { kv_type = "q8" },
                           { context = 4 } }) do
      assert.has_error(function() m:session(bad) end)
    end
    assert.has_error(function() m:session(64) end)
    assert.has_error(function() m.core:session(-4) end)
    assert.has_error(function() m:session({ ctx = 1 << 30 }) end)
  end)
end)

describe("a session", function()
  local m = assert(qora.load(S.tiny("f32"), { threads = 2 }))

  -- A damaged copy of the tiny F32 model: one weight of token 100's embedding row (tied, so
  -- also its output row) set to 3e38, which makes its logit overflow at some positions only.
  -- token_embd.weight opens the file's tensor data, at byte 16960, 256 floats a row.
  local function damaged_tiny()
    local good = S.read(S.tiny("f32"))
    local at = 16960 + 100 * 256 * 4
    local path = S.write_temp(good:sub(1, at) .. string.pack("<f", 3e38) .. good:sub(at + 5))
    local damaged = assert(qora.load(path, { threads = 2 }))
    os.remove(path)
    return damaged
  end

  it("returns every position's logits, as llama.cpp computes them", function()
    local ids = tiny_prompt()
    local s = m:session()
    local rows = s:eval(ids, { all_logits = true })
    local want = S.read(S.TINY .. "logits/f32_raw.f32")
    assert.equal(#want, #rows)
    local worst, at = 0, 0
    for k = 1, #want // 4 do
      local at_k = 4 * k - 3
      local d = math.abs(string.unpack("<f", rows, at_k) - string.unpack("<f", want, at_k))
      if d > worst then worst, at = d, k end
    end
    assert(worst < 0.06, ("max abs difference %g at float %d"):format(worst, at))
    assert.equal(#ids, s:pos())
    assert.same(ids, s.tokens)
    assert.equal(string.sub(rows, -462 * 4), s.core:logits())
  end)

  it("decodes token by token as llama.cpp does, weights repacked or not", function()
    local ids = tiny_prompt()
    local want = S.read(S.TINY .. "logits/q4_k_m_raw.f32")
    local row = #want // #ids
    for _, repack in ipairs({ true, false }) do
      local s = assert(qora.load(S.tiny("q4_k_m"), { threads = 2, repack = repack })):session()
      for i, id in ipairs(ids) do
        s:eval(id)
        local got = s.core:logits()
        for k = 1, row // 4 do
          local at = (i - 1) * row + 4 * k - 3
          local d = math.abs(string.unpack("<f", got, 4 * k - 3) - string.unpack("<f", want, at))
          assert(d < 0.3, ("repack %s, position %d, logit %d: off by %g"):format(
            tostring(repack), i, k, d))
        end
      end
    end
  end)

  it("gives the same logits bit for bit with the repacked weights on huge pages or not",
     function()
    local ids = tiny_prompt()
    local logits = {}
    for _, huge in ipairs({ true, false }) do
      local s = assert(qora.load(S.tiny("q4_k_m"), { threads = 2, huge_pages = huge })):session()
      s:eval(ids)
      logits[#logits + 1] = s.core:logits()
    end
    assert.equal(logits[1], logits[2])
  end)

  it("evaluates one id or an array, and rewinds", function()
    local s = m:session()
    assert.is_nil(s.core:logits())
    assert.has_error(function() s:candidates() end,
                     "no logits yet: evaluate tokens before sampling")
    s:eval({ 1, 2, 3 })
    s:eval(4)
    s:eval({})
    assert.equal(4, s:pos())
    assert.same({ 1, 2, 3, 4 }, s.tokens)
    assert.equal(462, s:candidates():count())
    s:rewind(2)
    assert.equal(2, s:pos())
    assert.same({ 1, 2 }, s.tokens)
    s:rewind(0)
    assert.equal(0, s:pos())
  end)

  it("keeps its cache and tokens as they were when an evaluation fails past its first batch",
     function()
    local damaged = damaged_tiny()
    local ids = S.read_ids(S.TINY .. "prompts/chat.ids")
    local head, rest = table.move(ids, 1, 8, 1, {}), table.move(ids, 9, #ids, 1, {})
    local s = damaged:session({ batch = 8 })
    s:eval(head)
    local ok, err = pcall(s.eval, s, rest)
    assert.is_false(ok, "the damaged model evaluated the whole prompt")
    assert.truthy(tostring(err):find("not a number", 1, true), err)
    assert.equal(8, s:pos())
    assert.same(head, s.tokens)
    -- and generation goes on from the cache: the sampler sees the logits after the same 8
    -- ids, the last one evaluated again (the failed evaluation overwrote them); it answers
    -- the prompt's next id, which this model evaluates without overflowing
    local seen
    S.collect(s:generate({ max_tokens = 1, sampler = function()
      seen = s.core:logits()
      return ids[9]
    end }))
    local t = damaged:session()
    t:eval(table.move(head, 1, 7, 1, {}))
    t:eval(head[8])
    assert.equal(t.core:logits(), seen)
    assert.equal(9, s:pos())
  end)

  it("refuses every row of all_logits that is not finite, not only the last", function()
    -- after the chat prompt's first 16 ids the last logits are finite, but the 14th row's
    -- logit of token 100 overflows
    local damaged = damaged_tiny()
    local ids = table.move(S.read_ids(S.TINY .. "prompts/chat.ids"), 1, 16, 1, {})
    local s = damaged:session()
    s:eval(ids)
    s:rewind(0)
    local ok, err = pcall(s.eval, s, ids, { all_logits = true })
    assert.is_false(ok, "all_logits returned a row that is not finite")
    assert.truthy(tostring(err):find("not a number (id 100)", 1, true), err)
    assert.equal(0, s:pos())
  end)

  it("reuses one candidate set, loaded afresh each time", function()
    local s = m:session()
    s:eval({ 1, 2 })
    local c = s:candidates()
    c:top_k(3)
    assert.equal(3, c:count())
    assert.equal(c, s:candidates())
    assert.equal(462, c:count())
  end)

  it("refuses wrong arguments and ids that do not fit", function()
    local s = m:session({ ctx = 8 })
    for _, bad in ipairs({ "x", { 1.5 }, { -1 }, { 462 }, 462, -1, { "a" }, true }) do
      assert.has_error(function() s:eval(bad) end)
    end
    assert.has_error(function() s:eval({ 1 }, true) end)
    assert.has_error(function() s:eval({ 1, 2, 3, 4, 5, 6, 7, 8, 9 }) end)
    assert.equal(0, s:pos())
    assert.same({}, s.tokens)
    s:eval({ 1, 2 })
    assert.has_error(function() s:rewind(-1) end)
    assert.has_error(function() s:rewind(3) end)
    assert.has_error(function() s:rewind("a") end)
    assert.has_error(function() s.core.pos(m.core) end)
    assert.equal(2, s:pos())
  end)

  it("keeps its model alive after the model is dropped", function()
    local s = (function()
      local mm = assert(qora.load(S.tiny("f32")))
      return mm:session()
    end)()
    collectgarbage()
    collectgarbage()
    s:eval(tiny_prompt())
    assert.equal(#tiny_prompt(), s:pos())
  end)

  it("generates, tokenizes and chats after its model is closed, even inside a loop", function()
    local mm = assert(qora.load(S.tiny("f32")))
    local s = mm:session()
    local chat = mm:chat({ template = "smollm3-llamacpp", think = false })
    local it = mm:session():generate({ prompt = tiny_prompt(), max_tokens = 6,
                                       ignore_eog = true })
    local first = it()
    mm:close()
    local ok, err = pcall(mm.tokenize, mm, "x")
    assert.is_false(ok)
    assert.truthy(err:find("the model is closed", 1, true), err)
    assert.equal(first, S.read_ids(S.TINY .. "greedy/f32_raw.ids")[1])
    local rest = S.collect(it)
    assert.equal(5, #rest)
    local ids = S.collect(s:generate({ prompt = "Once upon a time", max_tokens = 3,
                                       ignore_eog = true }))
    assert.equal(3, #ids)
    assert.same(s.core:tokenize("Once upon a time"), table.move(s.tokens, 1, s:pos() - 3, 1,
                                                                 {}))
    local _, text = S.collect(chat:reply("Hello", { greedy = true, max_tokens = 3 }))
    assert.is_string(text)
    assert.equal(2, #chat.messages)
    chat:close()
    s:close()
  end)

  it("says the session is closed, not which argument was bad", function()
    local s = m:session()
    s:close()
    for _, call in ipairs({ s.pos, s.ctx, s.candidates, function(x) return x:eval(1) end }) do
      local ok, err = pcall(call, s)
      assert.is_false(ok)
      assert.truthy(err:find("the session is closed", 1, true), err)
      assert.falsy(err:find("bad self", 1, true), err)
    end
  end)

  it("outlives an explicit close of its model; the model is closed to new calls", function()
    local mm = assert(qora.load(S.tiny("f32")))
    local s = mm:session()
    mm:close()
    s:eval({ 1, 2, 3 })
    assert.equal(3, s:pos())
    assert.has_error(function() mm:session() end)
    assert.has_error(function() mm:token(1) end)
    s:close()
    s:close()
    assert.has_error(function() s:pos() end)
    assert.has_error(function() s:eval({ 1 }) end)
    assert.equal("qora.Session (closed)", tostring(s.core))
  end)

  it("refuses numeric strings and floats where it takes positions or ids, cache untouched",
     function()
    local s = m:session({ ctx = 16 })
    s:eval({ 1, 2, 3, 4 })
    local function unchanged(what)
      assert.equal(4, s:pos(), what)
      assert.same({ 1, 2, 3, 4 }, s.tokens, what)
    end
    for _, bad in ipairs({ "0", "2", " 1 ", 1.0, 2.5, -1, 5, math.maxinteger, true, {}, nil }) do
      local what = "rewind(" .. tostring(bad) .. ")"
      assert.has_error(function() s:rewind(bad) end, nil, what)
      unchanged(what)
      assert.has_error(function() s.core:rewind(bad) end, nil, what)
      unchanged(what)
    end
    for _, bad in ipairs({ "1", { "1" }, 1.0, { 1.0 }, { 1, "2" }, { 2 ^ 40 } }) do
      assert.has_error(function() s:eval(bad) end)
      unchanged("eval")
    end
    local ok, err = pcall(s.rewind, s, "0")
    assert.is_false(ok)
    assert.truthy(err:find('position must be an integer from 0 to 4, got "0" (a string)', 1,
                           true), err)
  end)

  it("says how many more ids do not fit, one in the singular", function()
    local s = m:session({ ctx = 4 })
    s:eval({ 1, 2, 3, 4 })
    local ok, err = pcall(s.eval, s, 1)
    assert.is_false(ok)
    assert.truthy(err:find("1 more token does not fit: the context holds 4 and 4 are used; "
                           .. "make a session", 1, true), err)
    s:rewind(1)
    ok, err = pcall(s.eval, s, { 1, 2, 3, 4 })
    assert.is_false(ok)
    assert.truthy(err:find("4 more tokens do not fit: the context holds 4 and 1 is used;", 1,
                           true), err)
  end)

  it("keeps its id list in step with the cache whatever fails", function()
    local s = m:session({ ctx = 8 })
    local want = {}
    local steps = {
      function() s:eval({ 1, 2, 3 }); table.move({ 1, 2, 3 }, 1, 3, #want + 1, want) end,
      function() s:eval({ 1, 2, 3, 4, 5, 6, 7, 8, 9 }) end,   -- does not fit
      function() s:eval({ 4, "5" }) end,
      function() s:rewind("1") end,
      function() s:rewind(2); want[3] = nil end,
      function() s:eval(7); want[#want + 1] = 7 end,
      function() s:eval({ 9, 462 }) end,                     -- outside the vocabulary
      function() s:rewind(4) end,
      function() s:eval({ 1, 1, 1, 1, 1, 1 }) end,           -- one too many
      function() s:eval({ 1, 1, 1, 1, 1 }, { all_logits = "yes" }) end,
      function() s:rewind(0); want = {} end,
    }
    for i, step in ipairs(steps) do
      pcall(step)
      assert.equal(#want, s:pos(), "after step " .. i)
      assert.same(want, s.tokens, "after step " .. i)
    end
  end)

  it("names the allowed range of a session option", function()
    local function message(opts)
      local ok, err = pcall(m.session, m, opts)
      assert.is_false(ok)
      return err
    end
    assert.truthy(message({ batch = 100000 }):find("batch must be an integer from 1 to 65536, "
                                                   .. "got 100000", 1, true))
    assert.truthy(message({ ctx = 0 }):find("ctx must be an integer from 1 to 16777216", 1,
                                            true))
    assert.truthy(message({ ctx = "64" }):find('got "64" (a string)', 1, true))
  end)

  it("closes when a <close> variable goes out of scope", function()
    local s2
    do
      local s <close> = m:session()
      s2 = s
      s:eval({ 1 })
    end
    assert.has_error(function() s2:pos() end)
  end)
end)
