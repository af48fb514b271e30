-- Tokenizing, detokenizing and streaming text through the Lua module, with Llama 3's
-- vocabulary (../shared/vectors/tokenizer: llama.cpp's test cases and expected ids).
local qora = require("qora")
local S = dofile("spec/support.lua")

local vocab = assert(qora.load(S.VOCAB))

-- The cases of llama-bpe.inp (split on the separator line) and their expected ids.
local function cases()
  local inp = S.read(S.VEC .. "tokenizer/llama-bpe.inp")
  local out = {}
  for line in io.lines(S.VEC .. "tokenizer/llama-bpe.out") do
    local ids = {}
    for n in line:gmatch("%d+") do ids[#ids + 1] = math.tointeger(tonumber(n)) end
    out[#out + 1] = { ids = ids }
  end
  local i, from = 1, 1
  local sep = "\n__ggml_vocab_test__\n"
  while true do
    local a, b = inp:find(sep, from, true)
    if not a then break end
    out[i].text = inp:sub(from, a - 1)
    i, from = i + 1, b + 1
  end
  return out
end

-- byte value -> id of the token that stands for that one byte
local function byte_tokens(model)
  local map = {}
  for id = 0, model.info.n_vocab - 1 do
    local bytes, kind = model:token(id)
    if #bytes == 1 and kind ~= "control" and map[bytes:byte()] == nil then
      map[bytes:byte()] = id
    end
  end
  return map
end

describe("tokens", function()
  it("are llama.cpp's for all 46 cases of llama-bpe, and detokenize back", function()
    local all = cases()
    assert.equal(46, #all)
    for n, case in ipairs(all) do
      S.same_ids(case.ids, vocab:tokenize(case.text), "case " .. n)
      assert.equal(case.text, vocab:detokenize(case.ids), "case " .. n)
    end
  end)

  it("recognise special tokens in text only when asked", function()
    local bot = vocab:token_id("<|begin_of_text|>")
    assert.equal(128000, bot)
    assert.same({ bot, 15339 }, vocab:tokenize("<|begin_of_text|>hello", { special = true }))
    assert.is_true(#vocab:tokenize("<|begin_of_text|>hello") > 2)
    assert.same({ "<|begin_of_text|>", "control" }, { vocab:token(bot) })
    assert.equal("", vocab:detokenize({ bot }))
    assert.equal("<|begin_of_text|>hello", vocab:detokenize({ bot, 15339 }, { special = true }))
  end)

  it("know the end-of-generation tokens by their vocabulary entries", function()
    assert.is_true(vocab:is_eog(vocab:token_id("<|eot_id|>")))
    assert.is_true(vocab:is_eog(vocab:token_id("<|end_of_text|>")))
    assert.is_false(vocab:is_eog(15339))
  end)

  it("refuse text that is not UTF-8, naming the byte counted from 1 as Lua does", function()
    local ok, err = pcall(vocab.tokenize, vocab, "caf\xe9 au lait")
    assert.is_false(ok)
    assert.truthy(tostring(err):find("not valid UTF-8 at byte 4 (0xe9)", 1, true), err)
  end)

  it("stream as whole characters, holding the bytes of a split one", function()
    local b = byte_tokens(vocab)
    local st = vocab.core:stream(true)
    -- é is C3 A9; the emoji U+1F642 is F0 9F 99 82
    assert.equal("", st:push(b[0xC3]))
    assert.equal("é", st:push(b[0xA9]))
    assert.equal("", st:push(b[0xF0]))
    assert.equal("", st:push(b[0x9F]))
    assert.equal("", st:push(b[0x99]))
    assert.equal("🙂", st:push(b[0x82]))
    assert.equal("a", st:push(b[0x61]))
    assert.equal("", st:flush())
  end)

  it("stream held bytes out as U+FFFD at the end, and after a broken sequence", function()
    local b = byte_tokens(vocab)
    local st = vocab.core:stream(true)
    assert.equal("", st:push(b[0xE2]))
    assert.equal("", st:push(b[0x82]))
    assert.equal("\u{FFFD}", st:flush())
    assert.equal("", st:push(b[0xC3]))
    local out = st:push(b[0x61])
    assert.equal("\u{FFFD}a", out)
    assert.equal("x", st:push(b[0x78]))
  end)

  it("stream control tokens as text only when special", function()
    local bot = vocab:token_id("<|begin_of_text|>")
    assert.equal("<|begin_of_text|>", vocab.core:stream(true):push(bot))
    assert.equal("", vocab.core:stream(false):push(bot))
    assert.has_error(function() vocab.core:stream():push(-1) end)
    assert.has_error(function() vocab.core:stream():push("a") end)
  end)
end)
