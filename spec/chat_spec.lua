-- qora.chat and qora.pyrepr: chat templates against what the real Jinja templates render.
local chat = require("qora.chat")
local pyrepr = require("qora.pyrepr")
local core = require("qora.core")

local REF = "../shared/reference/"  -- shared/ sits beside the project
local VECTORS = "../shared/vectors/"
local SMOLLM2 = "models/SmolLM2-135M-Instruct.Q4_1.gguf"
local TODAY = "04 December 2026"


local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end


-- A GGUF string value found by its key in the first megabytes of the file (no engine needed).
local function gguf_string(path, key)
  local data = read(path):sub(1, 4 << 20)
  local _, e = data:find(key, 1, true)
  assert(e, key)
  local kind, value = string.unpack("<I4s8", data, e + 1)
  assert(kind == 8, "not a string")
  return value
end


-- Fails with the first differing byte and the text around it on both sides.
local function same_bytes(expected, got, what)
  if expected == got then
    return
  end
  local i = 1
  while i <= #expected and expected:byte(i) == got:byte(i) do
    i = i + 1
  end
  local function around(s)
    return ("%q"):format(s:sub(math.max(1, i - 40), i + 40))
  end
  error(("%s: first difference at byte %d (expected %d bytes, got %d)\n expected: %s\n"
         .. " got:      %s"):format(what, i, #expected, #got, around(expected), around(got)), 2)
end


-- A decoded JSON object as plain options, plus extra fields.
local function options(obj, extra)
  local o = {}
  for k, v in pairs(obj) do
    o[k] = v
  end
  for k, v in pairs(extra or {}) do
    o[k] = v
  end
  return o
end


describe("chat.render with SmolLM3's official template", function()
  local examples = assert(core.json_decode(read(REF .. "smollm3-chat-examples.json")))
  for _, case in ipairs(examples) do
    it("reproduces the example '" .. case.name .. "' byte for byte", function()
      local got = chat.render(case.messages, options(case.options, { today = case.today }))
      same_bytes(case.rendered, got, case.name)
    end)
  end

  it("renders the examples the same through the template chosen for its text", function()
    local tpl = assert(chat.for_model(read(REF .. "SmolLM3-3B.official.jinja")))
    assert.are.equal("smollm3", tpl.name)
    for _, case in ipairs(examples) do
      local got = tpl:render(case.messages, options(case.options, { today = case.today }))
      same_bytes(case.rendered, got, case.name)
    end
  end)

  it("prints today's date in English when none is given", function()
    local text = chat.render({ { role = "user", content = "Hi" } })
    local date = text:match("Today Date: ([^\n]*)\n")
    assert.is_truthy(date:match("^%d%d [A-Z][a-z]+ %d%d%d%d$"), date)
    assert.are.equal(chat.today(), date)
  end)
end)


describe("chat.render against Jinja2", function()
  for _, case in ipairs(dofile("spec/fixtures/chat_cases.lua")) do
    it(case.template .. ": " .. case.name, function()
      local extra = { template = case.template }
      if case.template == "smollm3" then
        extra.today = TODAY
      end
      local opts = options(assert(core.json_decode(case.options)), extra)
      local got = chat.render(assert(core.json_decode(case.messages)), opts)
      same_bytes(case.rendered, got, case.name)
    end)
  end

  -- Jinja raises for SmolLM3's templates and no messages (messages[0] is undefined); qora
  -- writes the system turn they write before a first message, and nothing else
  it("renders no messages with SmolLM3's templates as one user message without its turn",
     function()
    local n = 0
    for _, case in ipairs(dofile("spec/fixtures/chat_cases.lua")) do
      local messages = assert(core.json_decode(case.messages))
      local m = messages[1]
      if case.template ~= "chatml" and #messages == 1 and m.role == "user" then
        local opts = options(assert(core.json_decode(case.options)),
                             { template = case.template, today = TODAY })
        local turn = "<|im_start|>user\n" .. m.content .. "<|im_end|>\n"
        local at = assert(case.rendered:find(turn, 1, true))
        same_bytes(case.rendered:sub(1, at - 1) .. case.rendered:sub(at + #turn),
                   chat.render({}, opts), case.name)
        n = n + 1
      end
    end
    assert.is_true(n >= 4, "only " .. n .. " cases")
  end)

  it("gives llama.cpp's own rendering of the tiny model's chat prompt", function()
    local want = read(VECTORS .. "tiny-smollm3/prompts/chat.txt")
    local got = chat.render({ { role = "user", content = "What is the capital of France?" } },
      { template = "smollm3-llamacpp", enable_thinking = false, add_generation_prompt = true })
    same_bytes(want, got, "chat.txt")
  end)
end)


describe("chat.for_model", function()
  it("picks ChatML with SmolLM2's default system prompt from the real model", function()
    local text = gguf_string(SMOLLM2, "tokenizer.chat_template")
    local tpl = assert(chat.for_model({ arch = "llama", chat_template = text }))
    assert.are.equal("chatml", tpl.name)
    assert.is_nil(tpl.fallback)
    same_bytes("<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by "
               .. "Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n"
               .. "<|im_start|>assistant\n",
               tpl:render({ { role = "user", content = "Hi" } }, { add_generation_prompt = true }),
               "SmolLM2")
  end)

  it("treats llama.cpp's copy as SmolLM3 and renders the official form", function()
    local text = gguf_string(VECTORS .. "tiny-smollm3/tiny-smollm3-f32.gguf",
                             "tokenizer.chat_template")
    assert.are.equal(read(REF .. "SmolLM3-3B.llama-cpp.jinja"), text)
    local tpl = assert(chat.for_model({ arch = "smollm3", chat_template = text }))
    assert.are.equal("smollm3", tpl.name)
    assert.is_true(tpl.reasoning)
    local llama = chat.for_model({ arch = "smollm3", chat_template = text }, "smollm3-llamacpp")
    assert.are.equal("smollm3-llamacpp", llama.name)
  end)

  it("takes a name as the source or as an override", function()
    assert.are.equal("chatml", chat.for_model("chatml").name)
    assert.are.equal("chatml", chat.for_model({ chat_template = "Reasoning Mode /no_think" },
                                              "chatml").name)
    assert.are.equal("smollm3", chat.for_model({ arch = "smollm3" }).name)
    assert.has_error(function() chat.for_model("chatml", "jinja") end,
                     'chat: unknown template "jinja" (known: smollm3, smollm3-llamacpp, chatml)')
    assert.has_error(function() chat.for_model("chatml", 1) end,
                     "chat: the template must be a name (smollm3, smollm3-llamacpp, chatml), "
                     .. "got number")
  end)

  it("falls back to ChatML for other <|im_start|> templates, with their literal system", function()
    local qwen = "{%- if messages[0]['role'] != 'system' %}{{- '<|im_start|>system\\nYou are "
                 .. "Qwen, a helpful assistant.<|im_end|>\\n' }}{%- endif %}{% for m in "
                 .. "messages %}{{ '<|im_start|>' + m.role + '\\n' + m.content }}{% endfor %}"
    local tpl = assert(chat.for_model(qwen))
    assert.are.equal("chatml", tpl.name)
    assert.is_true(tpl.fallback)
    assert.are.equal("You are Qwen, a helpful assistant.", tpl.default_system)
    local bare = assert(chat.for_model("{% for m in messages %}<|im_start|>{{ m.role }}"))
    assert.is_nil(bare.default_system)
    assert.are.equal("<|im_start|>user\nHi<|im_end|>\n",
                     bare:render({ { role = "user", content = "Hi" } }))
  end)

  it("returns nil and a message for templates it does not know", function()
    local tpl, err = chat.for_model("{{ bos_token }}{% for m in messages %}[INST]{% endfor %}")
    assert.is_nil(tpl)
    assert.is_truthy(err:find("unknown chat template", 1, true), err)
    tpl, err = chat.for_model({ arch = "llama" })
    assert.is_nil(tpl)
    assert.is_truthy(err:find("no chat template", 1, true), err)
    assert.has_error(function() chat.for_model(nil) end)
    assert.has_error(function() chat.for_model(42) end)
  end)
end)


describe("chat.render errors", function()
  local hi = { { role = "user", content = "Hi" } }
  local cyclic = {}
  cyclic.self = cyclic
  local cases = {
    { "an unknown option", hi, { enable_think = false }, "chat: unknown option 'enable_think'; "
      .. "did you mean 'enable_thinking'? known: add_generation_prompt, enable_thinking, "
      .. "python_tools, today, xml_tools" },
    { "an option close to none", hi, { style = 1 }, "chat: unknown option 'style'; known: "
      .. "add_generation_prompt, enable_thinking, python_tools, today, xml_tools" },
    { "an option of the wrong type", hi, { add_generation_prompt = "yes" },
      "option add_generation_prompt must be a boolean, got string" },
    { "options that are not a table", hi, "think", "options must be a table" },
    { "messages that are not a table", "Hi", nil, "messages must be a sequence" },
    { "a message without a role", { { content = "x" } }, nil, "message 1 must be a table" },
    { "an unknown role", { hi[1], { role = "robot", content = "x" } }, nil,
      'message 2 has role "robot"' },
    { "a system message after the first", { hi[1], { role = "system", content = "x" } }, nil,
      'message 2 has role "system"' },
    { "a system content that is not a string", { { role = "system" } }, nil,
      "system message's content must be a string" },
    { "tools in bad JSON", hi, { xml_tools = "[{" }, "option xml_tools is not valid JSON" },
    { "tools as one JSON object", hi, { python_tools = '{"name": "f"}' },
      "python_tools must be a sequence of tools or a JSON array" },
    { "tools as a Lua map", hi, { xml_tools = { name = "f" } }, "must be a sequence of tools" },
    { "tools with a function inside", hi, { xml_tools = { { f = print } } },
      "chat: option xml_tools: cannot print a function value as Python would" },
    { "tools that contain themselves", hi, { python_tools = { cyclic } },
      "chat: option python_tools: a table contains itself" },
    { "tools with invalid UTF-8", hi, { xml_tools = { "ok", { "\255" } } },
      "chat: option xml_tools: string is not valid UTF-8 at byte 1; convert it to UTF-8 first" },
    { "tools with the llama.cpp copy", hi, { template = "smollm3-llamacpp", xml_tools = "[1]" },
      "chat: option xml_tools: the smollm3-llamacpp template has no tools section; use "
      .. '"smollm3"' },
    { "tools with ChatML", hi, { template = "chatml", python_tools = "[1]" },
      "chat: option python_tools: the chatml template has no tools section" },
    { "a ChatML message without content", { { role = "user" } }, { template = "chatml" },
      "message 1's content must be a string, got nil" },
    { "an unknown template", hi, { template = "mistral" }, 'unknown template "mistral"' },
  }
  for _, c in ipairs(cases) do
    it("names " .. c[1], function()
      local ok, err = pcall(chat.render, c[2], c[3])
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find(c[4], 1, true), tostring(err))
    end)
  end
end)


describe("template:check_tools", function()
  local smollm3 = chat.get("smollm3")

  it("gives the text the template writes for each tool", function()
    -- Python 3.11: str({'name': 'f', 'parameters': {}}), str({'a': None})
    assert.are.same({ "{'name': 'f', 'parameters': {}}", "{'a': None}", "as it is" },
                    smollm3:check_tools('[{"name": "f", "parameters": {}}, {"a": null}, '
                                        .. '"as it is"]', "tools"))
    assert.are.same({ "{'name': 'f', 'parameters': {}}" },
                    smollm3:check_tools({ { name = "f", parameters = {} } }, "tools"))
    assert.are.same({}, smollm3:check_tools(nil, "tools"))
    assert.are.same({}, smollm3:check_tools("[]", "tools"))
  end)

  it("says what is wrong, naming the option as the caller does, without raising", function()
    local cyclic = {}
    cyclic[1] = cyclic
    local cases = {
      { smollm3, "[{", "%s is not valid JSON: " },
      { smollm3, '{"name": "f"}', "%s must be a sequence of tools or a JSON array" },
      { smollm3, { name = "f" }, "%s must be a sequence of tools or a JSON array" },
      { smollm3, 5, "%s must be a sequence of tools or a JSON array" },
      { smollm3, { cyclic }, "%s: a table contains itself" },
      { smollm3, { { f = print } }, "%s: cannot print a function value as Python would" },
      { smollm3, { "ok", { "a\255" } },
        "%s: string is not valid UTF-8 at byte 2; convert it to UTF-8 first" },
      { chat.get("chatml"), {}, "%s: the chatml template has no tools section" },
      { chat.get("smollm3-llamacpp"), "[]",
        '%s: the smollm3-llamacpp template has no tools section; use "smollm3"' },
    }
    for _, c in ipairs(cases) do
      for _, name in ipairs({ "tools", "option xml_tools" }) do
        local printed, why = c[1]:check_tools(c[2], name)
        local want = c[3]:format(name)
        assert.is_nil(printed)
        assert.are.equal(want, why:sub(1, #want))
      end
    end
  end)

  it("passes on, as they are, errors the caller's own tools raise while it reads them", function()
    local key = setmetatable({}, { __tostring = function() error("mine", 0) end })
    local lying = setmetatable({}, { __len = function() return 1 end,
                                     __index = function() error("also mine", 0) end })
    for _, c in ipairs({ { { { [key] = 1, [{}] = 2 } }, "mine" }, { lying, "also mine" } }) do
      local ok, err = pcall(smollm3.check_tools, smollm3, c[1], "tools")
      assert.is_false(ok)
      assert.are.equal(c[2], err)
    end
  end)
end)


describe("chat.today", function()
  it("writes the date as strftime('%d %B %Y') does in English", function()
    assert.are.equal("04 December 2026",
                     chat.today(os.time({ year = 2026, month = 12, day = 4, hour = 12 })))
    assert.are.equal("29 February 2028",
                     chat.today(os.time({ year = 2028, month = 2, day = 29, hour = 12 })))
  end)
end)


describe("chat.split_reasoning", function()
  local cases = {
    { "a closed block", "<think>\nStep 1.\nStep 2.\n</think>\nParis.", "Step 1.\nStep 2.",
      "Paris." },
    { "the empty no-think block", "<think>\n\n</think>\nParis.", "", "Paris." },
    { "a block that never closed", "<think>\nStill thinking", "Still thinking", "" },
    { "no block", "Paris.\n", "", "Paris.\n" },
    { "whitespace before the block", "\n <think>x</think> y", "x", "y" },
    { "a block opened by the prompt", "reasoning here\n</think>\n\nReply", "reasoning here",
      "Reply" },
    { "tags later in the reply", "<think>a</think>\nUse <think> tags", "a", "Use <think> tags" },
    { "nothing", "", "", "" },
  }
  for _, c in ipairs(cases) do
    it("splits " .. c[1], function()
      local reasoning, reply = chat.split_reasoning(c[2])
      assert.are.equal(c[3], reasoning)
      assert.are.equal(c[4], reply)
    end)
  end

  it("leaves ChatML answers whole and refuses non-strings", function()
    local reasoning, reply = chat.get("chatml"):split_reasoning("<think>x</think>y")
    assert.are.equal("", reasoning)
    assert.are.equal("<think>x</think>y", reply)
    assert.are.equal("x", (chat.get("smollm3"):split_reasoning("<think>x</think>y")))
    assert.has_error(function() chat.split_reasoning(nil) end)
  end)
end)


describe("pyrepr", function()
  local cases = dofile("spec/fixtures/pyrepr_cases.lua")

  it("prints " .. #cases .. " JSON values exactly as Python's repr does", function()
    for i, c in ipairs(cases) do
      local value = assert(core.json_decode(c[1]))
      same_bytes(c[2], pyrepr.repr(value, core.json_null), ("case %d %s"):format(i, c[1]))
    end
  end)

  -- The expectations below are what Python 3.11 prints for the same values written in Python.
  it("prints plain Lua tables: sequences as lists, others as dicts with sorted keys", function()
    assert.are.equal("{'a': [1, 2], 'b': 'x', 'c': {}}",
                     pyrepr.repr({ b = "x", a = { 1, 2 }, c = {} }))
    assert.are.equal("{1: 'a', 3: 'b', 'k': None}",
                     pyrepr.repr({ [1] = "a", [3] = "b", k = core.json_null }, core.json_null))
    assert.are.equal("[True, False, -0.0, 1e+16]", pyrepr.repr({ true, false, -0.0, 1e16 }))
    assert.are.equal("None", pyrepr.repr(nil))
    assert.are.equal("x'y", pyrepr.str("x'y"))
    assert.are.equal("{'a': 1}", pyrepr.str({ a = 1 }))
  end)

  it("refuses values Python's repr would not meet", function()
    local cyclic = {}
    cyclic[1] = cyclic
    assert.has_error(function() pyrepr.repr(cyclic) end, "repr: a table contains itself")
    assert.has_error(function() pyrepr.repr({ f = print }) end,
                     "repr: cannot print a function value as Python would")
    assert.has_error(function() pyrepr.repr("\237\160\128") end)
  end)

  it("raises what it refuses at the caller's line", function()
    local cyclic = {}
    cyclic[1] = cyclic
    for _, c in ipairs({
      { pyrepr.repr, { f = print }, "repr: cannot print a function value as Python would" },
      { pyrepr.str, cyclic, "repr: a table contains itself" },
      { pyrepr.str_repr, "\255",
        "repr: string is not valid UTF-8 at byte 1; convert it to UTF-8 first" },
    }) do
      local line = debug.getinfo(1, "l").currentline + 1
      local ok, err = pcall(function() return c[1](c[2]) end)
      assert.is_false(ok)
      assert.are.equal(("chat_spec.lua:%d: %s"):format(line, c[3]),
                       err:match("chat_spec%.lua:%d+: .*$"))
    end
  end)

  it("tells, without raising, why it cannot print a value", function()
    local cyclic = { a = {} }
    cyclic.a.b = cyclic
    assert.are.same({ nil, "a table contains itself" }, { pyrepr.try_str(cyclic) })
    assert.are.same({ nil, "cannot print a function value as Python would" },
                    { pyrepr.try_str({ 1, print }) })
    assert.are.same({ nil, "string is not valid UTF-8 at byte 2; convert it to UTF-8 first" },
                    { pyrepr.try_str({ "a\255" }) })
    -- Python 3.11: str({'name': 'f', 'parameters': {}}), str("it's")
    assert.are.same({ "{'name': 'f', 'parameters': {}}" },
                    { pyrepr.try_str({ name = "f", parameters = {} }) })
    assert.are.same({ "it's" }, { pyrepr.try_str("it's") })
  end)

  it("passes on, as they are, errors the caller's own code raises while it reads", function()
    local raises = setmetatable({}, { __tostring = function() error({ "mine" }) end })
    local keys = setmetatable({}, { __index = function() error("also mine", 0) end })
    for _, value in ipairs({ { [raises] = 1, [{}] = 2 },
                             setmetatable({ a = 1 }, { keys = keys }) }) do
      for _, f in ipairs({ pyrepr.try_str, pyrepr.str }) do
        local ok, err = pcall(f, value)
        assert.is_false(ok)
        assert.is_truthy(err == "also mine" or type(err) == "table" and err[1] == "mine",
                         tostring(err))
      end
    end
  end)
end)
