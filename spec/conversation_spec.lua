-- model:chat and chat:reply on the tiny SmolLM3 model. Its chat prompt in the vectors
-- (prompts/chat.txt) was rendered with llama.cpp's copy of SmolLM3's template in no-think
-- mode, and greedy/f32_chat.ids is llama.cpp's greedy answer to it.
local qora = require("qora")
local S = dofile("spec/support.lua")

local model = assert(qora.load(S.tiny("f32"), { threads = 2 }))
local QUESTION = "What is the capital of France?"

local function llamacpp_chat()
  return model:chat({ template = "smollm3-llamacpp", think = false })
end

describe("a conversation", function()
  it("renders the prompt llama.cpp rendered and answers with its greedy ids", function()
    local chat = llamacpp_chat()
    local ids, text = {}, {}
    for piece, id in chat:reply(QUESTION, { greedy = true, max_tokens = 32 }) do
      ids[#ids + 1] = id
      text[#text + 1] = piece
    end
    S.same_ids(S.read_ids(S.TINY .. "prompts/chat.ids"), table.move(chat.session.tokens, 1, 191,
                                                                    1, {}), "prompt")
    S.same_ids(S.read_ids(S.TINY .. "greedy/f32_chat.ids"), ids, "answer")
    assert.equal(table.concat(text), chat.messages[2].content)
    assert.equal("assistant", chat.messages[2].role)
    assert.equal("", chat.last_reasoning)
    assert.equal(chat.messages[2].content:match("^%s*(.*)$"), chat.last_reply)
  end)

  it("gives the prompt text of the conversation so far", function()
    local chat = llamacpp_chat()
    chat.messages[1] = { role = "user", content = QUESTION }
    assert.equal(S.read(S.TINY .. "prompts/chat.txt"), chat:prompt())
  end)

  it("evaluates only what the cache lacks on the next turn", function()
    local chat = llamacpp_chat()
    for _ in chat:reply(QUESTION, { greedy = true, max_tokens = 8 }) do end
    local before = table.move(chat.session.tokens, 1, chat.session:pos(), 1, {})
    for _ in chat:reply("And of Italy?", { greedy = true, max_tokens = 8 }) do end
    -- the conversation up to the new answer, as ids, and what it shares with the old cache
    chat.messages[#chat.messages] = nil
    local want = model:tokenize(chat:prompt(), { special = true })
    local shared = 0
    while before[shared + 1] ~= nil and before[shared + 1] == want[shared + 1] do
      shared = shared + 1
    end
    assert.is_true(shared >= 191, "shared only " .. shared)
    assert.equal(#want - shared, chat.session.stats.prompt_tokens)
    S.same_ids(want, table.move(chat.session.tokens, 1, #want, 1, {}), "cache")
  end)

  it("answers the same on a reused cache as a fresh conversation with the same history",
     function()
    local a = llamacpp_chat()
    for _ in a:reply(QUESTION, { greedy = true, max_tokens = 12 }) do end
    local _, second = S.collect(a:reply("Tell me more.", { greedy = true, max_tokens = 12 }))

    local b = llamacpp_chat()
    b.messages = { a.messages[1], a.messages[2] }
    local _, fresh = S.collect(b:reply("Tell me more.", { greedy = true, max_tokens = 12 }))
    assert.equal(fresh, second)
  end)

  it("keeps a broken-off answer in the conversation", function()
    local chat = llamacpp_chat()
    local pieces = {}
    for piece in chat:reply(QUESTION, { greedy = true, max_tokens = 20 }) do
      pieces[#pieces + 1] = piece
      if #pieces == 3 then break end
    end
    assert.equal(2, #chat.messages)
    assert.equal(table.concat(pieces), chat.messages[2].content)
    for _ in chat:reply("Go on.", { greedy = true, max_tokens = 2 }) do end
    assert.equal(4, #chat.messages)
  end)

  it("samples reproducibly for a seed", function()
    local function answer()
      local _, text = S.collect(llamacpp_chat():reply(QUESTION, { seed = 5, max_tokens = 16,
                                                                  temperature = 1.2 }))
      return text
    end
    assert.equal(answer(), answer())
  end)

  it("splits SmolLM3 reasoning from the reply", function()
    local chat = model:chat({ template = "smollm3", think = true, date = "04 December 2026" })
    local sampler = function(c)
      return c:argmax()
    end
    for _ in chat:reply(QUESTION, { sampler = sampler, max_tokens = 4 }) do end
    assert.is_string(chat.last_reasoning)
    assert.is_string(chat.last_reply)
  end)

  it("puts the tools and the date in SmolLM3's system turn", function()
    local chat = model:chat({ template = "smollm3", think = false, date = "01 March 2026",
                              tools = '[{"name": "get_weather", "parameters": {}}]' })
    chat.messages[1] = { role = "user", content = QUESTION }
    local p = chat:prompt()
    assert.truthy(p:find("Today Date: 01 March 2026", 1, true), p)
    assert.truthy(p:find("{'name': 'get_weather', 'parameters': {}}", 1, true), p)
    assert.truthy(p:find("/no_think", 1, true))
  end)

  it("closes its session", function()
    local chat = llamacpp_chat()
    chat:close()
    assert.has_error(function() chat.session:pos() end)
  end)

  it("refuses bad arguments", function()
    assert.has_error(function() model:chat("x") end)
    assert.has_error(function() model:chat({ sytem = "x" }) end)
    assert.has_error(function() model:chat({ system = 5 }) end)
    assert.has_error(function() model:chat({ template = "jinja" }) end)
    assert.has_error(function() model:chat({ date = 2026 }) end)
    local chat = llamacpp_chat()
    assert.has_error(function() chat:reply() end)
    assert.has_error(function() chat:reply(5) end)
    assert.has_error(function() chat:reply("x", { temprature = 1 }) end)
    assert.has_error(function() chat:reply("x", { top_p = 7 }) end)
    assert.has_error(function() model:chat({ template = "chatml", tools = "[{}]" }):reply("x") end)
  end)
end)
