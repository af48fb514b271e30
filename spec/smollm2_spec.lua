-- The real model: SmolLM2-135M-Instruct (models/, fetched by `make model`).
-- llama.cpp answers this question greedily with "The capital of France is Paris." and then
-- <|im_end|> (ids made with llama-cpp-python from PyPI).
local qora = require("qora")
local sampling = require("qora.sampling")
local S = dofile("spec/support.lua")

local model = assert(qora.load(S.SMOLLM2, { threads = 2 }))
local SYSTEM = "You are a helpful assistant."
local QUESTION = "What is the capital of France?"

describe("SmolLM2-135M-Instruct", function()
  it("describes itself", function()
    local i = model.info
    assert.equal("llama", i.arch)
    assert.same({ 30, 576, 1536, 9, 3, 64, 49152 },
                { i.n_layer, i.n_embd, i.n_ff, i.n_head, i.n_head_kv, i.head_dim, i.n_vocab })
    assert.is_true(i.tied_embeddings)
    assert.equal(210, i.tensor_types.Q4_1)
  end)

  it("answers the capital of France greedily with a sentence naming Paris, then stops", function()
    local chat = model:chat({ system = SYSTEM })
    local text = {}
    for piece in chat:reply(QUESTION, { greedy = true, max_tokens = 64 }) do
      text[#text + 1] = piece
    end
    local answer = table.concat(text)
    assert.truthy(answer:find("Paris"), answer)
    assert.equal("eog", chat.session.stats.stop)
    assert.equal(answer, chat.last_reply)
    assert.equal("", chat.last_reasoning)
  end)

  it("remembers the conversation on the next turn", function()
    local chat = model:chat({ system = SYSTEM })
    for _ in chat:reply(QUESTION, { greedy = true }) do end
    local first = chat.session:pos()
    for _ in chat:reply("And of Germany?", { greedy = true, max_tokens = 32 }) do end
    assert.is_true(chat.session.stats.prompt_tokens < 20)
    assert.is_true(chat.session:pos() > first)
  end)

  it("generates from a text prompt, sampling reproducibly for a seed", function()
    local function run(seed)
      local s = model:session({ ctx = 256 })
      local _, text = S.collect(s:generate({ prompt = "Once upon a time", max_tokens = 24,
                                             sampler = sampling.new({ seed = seed }) }))
      return text
    end
    local a = run(1)
    assert.equal(a, run(1))
    assert.truthy(utf8.len(a))
  end)
  -- n token ids spread over the vocabulary
  local function spread_ids(n)
    local ids = {}
    for i = 1, n do
      ids[i] = 100 + (i * 7919) % 40000
    end
    return ids
  end

  -- Fails at the first logit (floats packed in strings) that is not the same bits in both.
  local function same_logits(one, parts, how)
    for i = 1, #one, 4 do
      if one:sub(i, i + 3) ~= parts:sub(i, i + 3) then
        error(string.format("logit of id %d: %g in one batch, %g %s", (i - 1) // 4,
                            string.unpack("<f", one, i), string.unpack("<f", parts, i), how))
      end
    end
    assert.equal(#one, #parts)
  end

  -- The feed-forward part takes a batch 256 tokens at a time, in equal parts: 257 tokens go as
  -- 129 + 128 on the batch kernels, as a session with batches of 129 takes them.
  it("gives a 257-token prompt the same logits in one batch as in batches of 129", function()
    local ids = spread_ids(257)
    local function last_logits(batch)
      local s = model:session({ ctx = 512, batch = batch })
      local all = s:eval(ids, { all_logits = true })
      return all:sub(-4 * model.info.n_vocab)
    end
    same_logits(last_logits(512), last_logits(129), "in batches of 129")
  end)

  it("reads a 513-token prompt in even chunks of at most 256 with the logits of one batch",
     function()
    -- 256, 256 and 1 would end on a one-token chunk, which the decode kernels read
    local ids = spread_ids(513)
    local function logits(chunk)
      local s = model:session({ ctx = 1024, batch = 1024 })
      S.collect(s:generate({ prompt = ids, max_tokens = 0, prefill_chunk = chunk }))
      return s.core:logits()
    end
    same_logits(logits(nil), logits(256), "in chunks of 256")
  end)

  it("reads a 513-token prompt in the default batches (512) with the logits of one batch",
     function()
    -- 512 and 1 would end on a one-token batch; 257 and 256 do not
    local ids = spread_ids(513)
    local default, one = model:session({ ctx = 1024 }), model:session({ ctx = 1024, batch = 1024 })
    default:eval(ids)
    one:eval(ids)
    same_logits(one.core:logits(), default.core:logits(), "in the default batches")
  end)
end)
