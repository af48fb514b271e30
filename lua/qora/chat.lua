--- chat: the chat templates of the SmolLM family, rendered in Lua (no Jinja).
--
-- Templates, by name:
--   "smollm3"           SmolLM3's official template (the Hugging Face one, which the model was
--                       tuned with), byte for byte: think / no-think, the system prompt flags
--                       /think /no_think /system_override, xml_tools and python_tools, the date.
--   "smollm3-llamacpp"  llama.cpp's edited copy of it, which GGUF files may embed: no date, no
--                       tools, no /system_override, and the system turn always closed.
--   "chatml"            SmolLM2's ChatML template, with its default system prompt.
--
-- Messages are a sequence of { role = "system" | "user" | "assistant" | "tool", content = s }.
-- An empty one renders what comes before a first message (SmolLM3: the default system turn).
-- Options of render (all optional):
--   add_generation_prompt  boolean: end with the opening of the assistant's turn
--   enable_thinking        boolean (default true): SmolLM3's reasoning mode
--   xml_tools, python_tools  SmolLM3 only: a sequence of tools (tables, or strings printed as
--                          they are) or a JSON array as a string; printed with Python's repr,
--                          keys in order when the tables come from qora.core.json_decode
--   today                  the date string SmolLM3 shows, default today as "04 December 2026"
-- ChatML has no reasoning mode and no date (enable_thinking and today are ignored), and no
-- place for tools (giving them is an error, as it is for llama.cpp's copy).
local check = require("qora.check")
local pyrepr = require("qora.pyrepr")

local M = {}

local find, format, concat = string.find, string.format, table.concat

local SMOLLM2_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"

local THINK_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face. "
  .. "Your role as an assistant involves thoroughly exploring questions through a systematic "
  .. "thinking process before providing the final precise and accurate solutions. This "
  .. "requires engaging in a comprehensive cycle of analysis, summarizing, exploration, "
  .. "reassessment, reflection, backtracking, and iteration to develop well-considered "
  .. "thinking process. Please structure your response into two main sections: Thought and "
  .. "Solution using the specified format: <think> Thought section </think> Solution section. "
  .. "In the Thought section, detail your reasoning process in steps. Each step should include "
  .. "detailed considerations such as analysing questions, summarizing relevant findings, "
  .. "brainstorming new ideas, verifying the accuracy of the current steps, refining any "
  .. "errors, and revisiting previous steps. In the Solution section, based on various "
  .. "attempts, explorations, and reflections from the Thought section, systematically "
  .. "present the final solution that you deem correct. The Solution section should be "
  .. "logical, accurate, and concise and detail necessary steps needed to reach the "
  .. "conclusion."

local NO_THINK_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face."

local XML_TOOLS_HEAD = "You may call one or more functions to assist with the user query.\n"
  .. "You are provided with function signatures within <tools></tools> XML tags:\n\n<tools>\n"

local XML_TOOLS_TAIL = "</tools>\n\nFor each function call, return a json object with "
  .. "function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
  .. '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'

local PYTHON_TOOLS_HEAD = "When you send a message containing Python code between '<code>' "
  .. "and '</code>' tags, it will be executed in a stateful Jupyter notebook environment, and "
  .. "you will then be given the output to continued reasoning in an agentic loop.\n\n"
  .. "You can use the following tools in your python code like regular functions:\n<tools>\n"

local PYTHON_TOOLS_TAIL = "</tools>\n\nThe state persists between code executions: so "
  .. "variables that you define in one step are still available thereafter."

local MONTHS = { "January", "February", "March", "April", "May", "June", "July", "August",
                 "September", "October", "November", "December" }

local OPTIONS = { add_generation_prompt = "boolean", enable_thinking = "boolean",
                  xml_tools = "tools", python_tools = "tools", today = "string" }


--- Today's date as SmolLM3's template prints it (strftime "%d %B %Y", English month).
-- @tparam[opt] integer time seconds since the epoch, default now (local time)
-- @treturn string e.g. "04 December 2026"
function M.today(time)
  local t = os.date("*t", time)
  return format("%02d %s %d", t.day, MONTHS[t.month], t.year)
end


-- Python's str.replace(old, "") for a literal old.
local function remove(s, old)
  local out, from = {}, 1
  while true do
    local i, j = find(s, old, from, true)
    if not i then
      out[#out + 1] = s:sub(from)
      return concat(out)
    end
    out[#out + 1] = s:sub(from, i - 1)
    from = j + 1
  end
end


-- The code points of Python's str.isspace() beyond ASCII.
local WIDE_SPACE = { [0x85] = true, [0xA0] = true, [0x1680] = true, [0x2028] = true,
                     [0x2029] = true, [0x202F] = true, [0x205F] = true, [0x3000] = true }
for cp = 0x2000, 0x200A do
  WIDE_SPACE[cp] = true
end


-- Python's str.rstrip() with no argument: strips Unicode whitespace, not only ASCII.
local function rstrip(s)
  local n = #s
  while n > 0 do
    local b = s:byte(n)
    if b == 0x20 or (b >= 0x09 and b <= 0x0D) or (b >= 0x1C and b <= 0x1F) then
      n = n - 1
    elseif b >= 0x80 then
      local start = n
      while start > n - 3 and start > 1 and s:byte(start) & 0xC0 == 0x80 do
        start = start - 1
      end
      local ok, cp = pcall(utf8.codepoint, s, start)
      if not (ok and utf8.offset(s, 2, start) == n + 1 and WIDE_SPACE[cp]) then
        break
      end
      n = start - 1
    else
      break
    end
  end
  return s:sub(1, n)
end


-- ===========================================================================================
-- Checking the arguments
-- ===========================================================================================

local function check_options(opts)
  if opts == nil then
    return {}
  elseif type(opts) ~= "table" then
    check.error("chat: options must be a table, got " .. type(opts))
  end
  for k, v in pairs(opts) do
    local want = OPTIONS[k]
    if want == nil then
      check.error("chat: " .. check.unknown_option(k, OPTIONS))
    elseif want ~= "tools" and type(v) ~= want then
      check.error(format("chat: option %s must be a %s, got %s", k, want, type(v)))
    end
  end
  return opts
end


local function check_messages(messages)
  if type(messages) ~= "table" then
    check.error("chat: messages must be a sequence of { role = ..., content = ... }, got "
                .. type(messages))
  end
  for i, m in ipairs(messages) do
    if type(m) ~= "table" or type(m.role) ~= "string" then
      check.error(format("chat: message %d must be a table with a string role", i))
    end
  end
end


-- A tools option as a sequence, decoded when it is JSON text; nil and why when it is neither.
local function tool_sequence(tools, name)
  if type(tools) == "string" then
    local decoded, err = require("qora.core").json_decode(tools)
    if decoded == nil then
      return nil, format("%s is not valid JSON: %s", name, err)
    end
    tools = decoded
  end
  local mt = type(tools) == "table" and getmetatable(tools)
  if type(tools) ~= "table" or (type(mt) == "table" and rawget(mt, "__name") == "qora.json.object")
      or (next(tools) ~= nil and #tools == 0) then
    return nil, format("%s must be a sequence of tools or a JSON array", name)
  end
  return tools
end


-- ===========================================================================================
-- SmolLM3
-- ===========================================================================================

-- Text of the tools section, or "" without tools (tools: each option's tools, printed).
local function tools_block(tools)
  if #tools.xml_tools == 0 and #tools.python_tools == 0 then
    return ""
  end
  local out = { "### Tools\n\n" }
  for _, part in ipairs({ { tools.xml_tools, XML_TOOLS_HEAD, XML_TOOLS_TAIL },
                          { tools.python_tools, PYTHON_TOOLS_HEAD, PYTHON_TOOLS_TAIL } }) do
    local printed, head, tail = part[1], part[2], part[3]
    if #printed > 0 then
      out[#out + 1] = head
      for _, text in ipairs(printed) do
        out[#out + 1] = text .. "\n"
      end
      out[#out + 1] = tail
    end
  end
  out[#out + 1] = "\n\n<|im_end|>\n"
  return concat(out)
end


-- The system turn and the reasoning mode ("/think" or "/no_think").
local function smollm3_system(messages, opts, tools, official)
  local mode = opts.enable_thinking == false and "/no_think" or "/think"
  local first, instructions = messages[1], nil
  if first and first.role == "system" then
    local text = first.content
    if type(text) ~= "string" then
      check.error("chat: the system message's content must be a string, got " .. type(text))
    end
    if find(text, "/no_think", 1, true) then
      mode = "/no_think"
    elseif find(text, "/think", 1, true) then
      mode = "/think"
    end
    instructions = rstrip(remove(remove(text, "/no_think"), "/think"))
    if official and find(text, "/system_override", 1, true) then
      return "<|im_start|>system\n" .. rstrip(remove(instructions, "/system_override"))
             .. "<|im_end|>\n", mode
    end
  end

  local out = { "<|im_start|>system\n## Metadata\n\nKnowledge Cutoff Date: June 2025\n" }
  if official then
    out[#out + 1] = "Today Date: " .. (opts.today or M.today()) .. "\n"
  end
  out[#out + 1] = "Reasoning Mode: " .. mode .. "\n\n## Custom Instructions\n\n"
  if instructions and instructions ~= "" then
    out[#out + 1] = instructions
  else
    out[#out + 1] = mode == "/think" and THINK_SYSTEM or NO_THINK_SYSTEM
  end
  out[#out + 1] = "\n\n"
  if official then
    out[#out + 1] = tools_block(tools)
  else
    out[#out + 1] = "<|im_end|>\n"
  end
  return concat(out), mode
end


-- No messages give the system turn alone (and the generation prompt), as ChatML gives the
-- generation prompt alone: the Jinja templates raise there only for reading messages[0].
local function render_smollm3(tpl, messages, opts, tools)
  local system, mode = smollm3_system(messages, opts, tools, tpl.name == "smollm3")
  local think = mode == "/think"
  local out = { system }
  for i, m in ipairs(messages) do
    local content = type(m.content) == "string" and m.content or ""
    if m.role == "user" or m.role == "tool" then
      out[#out + 1] = "<|im_start|>user\n"
      out[#out + 1] = { text = content }
      out[#out + 1] = "<|im_end|>\n"
    elseif m.role == "assistant" then
      out[#out + 1] = "<|im_start|>assistant\n" .. (think and "" or "<think>\n\n</think>\n")
                      .. content:gsub("^\n+", "") .. "<|im_end|>\n"
    elseif m.role ~= "system" or i > 1 then
      check.error(format("chat: message %d has role %q; the smollm3 template takes system (first "
                         .. "only), user, assistant and tool", i, m.role))
    end
  end
  if opts.add_generation_prompt then
    out[#out + 1] = "<|im_start|>assistant\n" .. (think and "" or "<think>\n\n</think>\n")
  end
  return out
end


-- ===========================================================================================
-- ChatML
-- ===========================================================================================

local function render_chatml(tpl, messages, opts)
  local out = {}
  for i, m in ipairs(messages) do
    if type(m.content) ~= "string" then
      check.error(format("chat: message %d's content must be a string, got %s", i,
                         type(m.content)))
    end
    if i == 1 and m.role ~= "system" and tpl.default_system then
      out[#out + 1] = "<|im_start|>system\n" .. tpl.default_system .. "<|im_end|>\n"
    end
    if m.role == "user" or m.role == "tool" then
      out[#out + 1] = "<|im_start|>" .. m.role .. "\n"
      out[#out + 1] = { text = m.content }
      out[#out + 1] = "<|im_end|>\n"
    else
      out[#out + 1] = "<|im_start|>" .. m.role .. "\n" .. m.content .. "<|im_end|>\n"
    end
  end
  if opts.add_generation_prompt then
    out[#out + 1] = "<|im_start|>assistant\n"
  end
  return out
end


-- ===========================================================================================
-- Templates
-- ===========================================================================================

local Template = {}
Template.__index = Template


--- Checks a tools option for the template and prints it: the text SmolLM3's template writes
-- for each tool, Python's str() of it. Tools are refused when they are not a sequence or a
-- JSON array, when Python's repr would not print them, and when the template has no tools
-- section (then even an empty list).
-- @param tools nil, a JSON array as a string, or a sequence of tools (tables or strings)
-- @tparam string name how a message names the option: "tools" gives "tools is not valid
-- JSON: ...", "tools: a table contains itself"
-- @treturn table|nil the text of each tool, in order; empty when tools is nil or empty
-- @treturn string when nil: what is wrong, naming the option as name does
function Template:check_tools(tools, name)
  if tools == nil then
    return {}
  elseif not self.tools then
    return nil, format("%s: the %s template has no tools section%s", name, self.name,
                       self.name == "smollm3-llamacpp" and '; use "smollm3"' or "")
  end
  local sequence, why = tool_sequence(tools, name)
  if sequence == nil then
    return nil, why
  end
  local printed, null = {}, require("qora.core").json_null
  for i, tool in ipairs(sequence) do
    local text, refused = pyrepr.try_str(tool, null)
    if text == nil then
      return nil, format("%s: %s", name, refused)
    end
    printed[i] = text
  end
  return printed
end


-- The parts of a rendering (see render_parts), its arguments checked at the user's line.
local function render_parts(tpl, messages, opts)
  opts = check_options(opts)
  check_messages(messages)
  local tools = {}
  for _, name in ipairs({ "xml_tools", "python_tools" }) do
    local printed, why = tpl:check_tools(opts[name], "option " .. name)
    if printed == nil then
      check.error("chat: " .. why)
    end
    tools[name] = printed
  end
  return tpl.renderer(tpl, messages, opts, tools)
end


--- Renders a conversation as the prompt text the model expects.
-- @tparam table messages sequence of { role = string, content = string }
-- @tparam[opt] table opts see the top of this file
-- @treturn string
function Template:render(messages, opts)
  local parts = render_parts(self, messages, opts)
  for i, p in ipairs(parts) do
    if type(p) == "table" then
      parts[i] = p.text
    end
  end
  return concat(parts)
end


--- Renders a conversation as parts whose concatenation is render's text: strings written by
-- the template (its markers such as <|im_start|>, system and assistant turns) and tables
-- { text = content } for the content of user and tool messages, which came from outside and
-- should not be read for special tokens.
-- @tparam table messages as for render
-- @tparam[opt] table opts as for render
-- @treturn table array of strings and { text = string }
function Template:render_parts(messages, opts)
  return render_parts(self, messages, opts)
end


--- Splits an answer into reasoning and reply (reasoning is "" for templates without it).
-- @tparam string text
-- @treturn string reasoning
-- @treturn string reply
function Template:split_reasoning(text)
  if self.reasoning then
    return M.split_reasoning(text)
  end
  return "", text
end


check.methods(Template, "qora.Template", "template")


local function template(fields)
  return setmetatable(fields, Template)
end


local NAMED = {
  smollm3 = { renderer = render_smollm3, reasoning = true, tools = true },
  ["smollm3-llamacpp"] = { renderer = render_smollm3, reasoning = true },
  chatml = { renderer = render_chatml, reasoning = false, default_system = SMOLLM2_SYSTEM },
}


--- The template of a name: "smollm3", "smollm3-llamacpp" or "chatml".
-- Fields: name, reasoning (true when answers hold a <think> block), tools (true when it has a
-- tools section), default_system (ChatML), fallback (true when guessed from an unknown
-- template); methods render, render_parts, check_tools, split_reasoning.
-- @tparam string name
-- @treturn table the template
function M.get(name)
  local t = NAMED[name]
  if type(name) ~= "string" then
    check.error("chat: the template must be a name (smollm3, smollm3-llamacpp, chatml), got "
                .. type(name))
  elseif t == nil then
    check.error(format("chat: unknown template %q (known: smollm3, smollm3-llamacpp, chatml)",
                       tostring(name)))
  end
  return template({ name = name, renderer = t.renderer, reasoning = t.reasoning,
                    tools = t.tools, default_system = t.default_system })
end


-- The default system prompt a ChatML template writes as a literal, if it writes one.
local function literal_system(text)
  local from = 1
  while true do
    local _, e = find(text, "<|im_start|>system", from, true)
    if not e then
      return nil
    end
    local body = text:match("^\n(.-)<|im_end|>", e + 1) or text:match("^\\n(.-)<|im_end|>", e + 1)
    if body and body ~= "" and not find(body, "['\"{}+%%\\]") then
      return body
    end
    from = e + 1
  end
end


--- Picks the template for a model.
-- SmolLM3's templates (the official one and llama.cpp's copy) give "smollm3"; SmolLM2's and
-- other templates that use <|im_start|> give "chatml" (with the default system prompt the
-- template writes, if any); a model without a template but with arch "smollm3" gives
-- "smollm3". A name, as source or as the second argument, picks that template instead.
-- @tparam table|string source model info (fields chat_template, arch), a template string or
-- a name
-- @tparam[opt] string name overrides what the source says
-- @treturn table|nil the template
-- @treturn string when nil: what is wrong
function M.for_model(source, name)
  if name ~= nil then
    return M.get(name)
  elseif type(source) == "string" and NAMED[source] then
    return M.get(source)
  end
  local text, arch
  if type(source) == "table" then
    text, arch = source.chat_template, source.arch
  elseif type(source) == "string" then
    text = source
  else
    check.error("chat.for_model: expected model info, a template string or a name, got "
                .. type(source))
  end
  if text == nil then
    if arch == "smollm3" then
      return M.get("smollm3")
    end
    return nil, "the model has no chat template: name one (\"smollm3\" or \"chatml\"), "
                .. "or give the prompt raw"
  elseif find(text, "Reasoning Mode", 1, true) and find(text, "/no_think", 1, true) then
    return M.get("smollm3")
  elseif find(text, "<|im_start|>", 1, true) then
    local t = M.get("chatml")
    t.default_system = literal_system(text)
    t.fallback = t.default_system ~= SMOLLM2_SYSTEM or nil
    return t
  end
  return nil, "unknown chat template (neither SmolLM3's nor ChatML with <|im_start|>): "
              .. "name one (\"smollm3\" or \"chatml\"), or give the prompt raw"
end


--- Renders with a template chosen by name (default "smollm3").
-- @tparam table messages sequence of { role = string, content = string }
-- @tparam[opt] table opts the options at the top of this file, and template = name
-- @treturn string
function M.render(messages, opts)
  local name = "smollm3"
  if type(opts) == "table" and opts.template ~= nil then
    local rest = {}
    for k, v in pairs(opts) do
      rest[k] = v
    end
    name, rest.template = opts.template, nil
    opts = rest
  end
  return M.get(name):render(messages, opts)
end


--- Splits a SmolLM3 answer into its reasoning and its reply.
-- The reasoning is the text of a leading <think>...</think> block (all the text after <think>
-- when </think> never came; "" for the empty no-think block or when there is no block), with
-- surrounding whitespace removed; the reply is what follows, without leading whitespace. Text
-- that only closes a block (the prompt opened it) splits at </think>.
-- @tparam string text the generated text
-- @treturn string reasoning
-- @treturn string reply
function M.split_reasoning(text)
  if type(text) ~= "string" then
    check.error("chat.split_reasoning: expected a string, got " .. type(text))
  end
  local open = text:match("^%s*()<think>")
  local body = open and open + #"<think>" or 1
  local close, close_end = find(text, "</think>", body, true)
  if not open and not close then
    return "", text
  elseif not close then
    return text:sub(body):match("^%s*(.-)%s*$"), ""
  end
  local reasoning = text:sub(body, close - 1):match("^%s*(.-)%s*$")
  return reasoning, text:sub(close_end + 1):match("^%s*(.*)$")
end


return M
