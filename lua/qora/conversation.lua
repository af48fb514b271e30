--- A conversation with a chat model: model:chat(opts) and chat:reply(text, opts).
--
--   local chat = model:chat({ system = "Answer in one sentence.", think = false })
--   for piece in chat:reply("What is the capital of France?", { seed = 7 }) do
--     io.write(piece)
--   end
--   print(chat.last_reply)
--
-- The conversation keeps one session. Each reply renders the whole conversation with the
-- model's template (qora.chat), finds the longest prefix the cache already holds, rewinds to
-- it and evaluates only the rest: earlier turns are not evaluated again.
--
-- The text of user and tool messages is read without special tokens: "<|im_end|>" typed by a
-- user stays text, and only the template's own markers delimit turns (parse_special = true
-- reads them in all the text, as Hugging Face's and llama.cpp's chat do).
--
-- A reply that cannot start (text that is not UTF-8, a conversation that no longer fits the
-- context, a closed conversation) raises before anything changes. One that fails later (a
-- sampler's error) leaves the messages as they were; the cache keeps what it evaluated, which
-- the next reply reuses as far as it matches. A reply started while another is unfinished
-- (inside its loop, say) ends that one first, its answer so far kept; the older loop then
-- raises at its next step.
local chat = require("qora.chat")
local sampling = require("qora.sampling")
local check = require("qora.check")

local M = {}

local Conversation = {}
Conversation.__index = Conversation
M.Conversation = Conversation

local NEW = { system = true, think = true, template = true, tools = true, date = true,
              ctx = true, batch = true, parse_special = true }

local REPLY = {
  max_tokens = true, sampler = true, prefill_chunk = true, temperature = true, top_k = true,
  top_p = true, min_p = true, seed = true, greedy = true, repeat_penalty = true,
  repeat_last_n = true, frequency_penalty = true, presence_penalty = true,
}

-- Options of sampling.new among a reply's options.
local SAMPLING = { "temperature", "top_k", "top_p", "min_p", "seed", "greedy", "repeat_penalty",
                   "repeat_last_n", "frequency_penalty", "presence_penalty" }

-- Why v is not text for the prompt: check.not_utf8's message for the first string
-- in it (v itself, or a key or value of its tables, which where names as "tools[1].name"),
-- the byte counted in that string; nil when every string is UTF-8.
local function not_utf8(v, where, seen)
  if type(v) == "string" then
    return check.not_utf8(v, where)
  elseif type(v) ~= "table" or seen[v] then
    return nil
  end
  seen[v] = true
  for k, x in pairs(v) do
    local why = not_utf8(k, "a key of " .. where, seen)
    if why then
      return why
    end
    local below = type(k) == "string" and where .. "." .. k or ("%s[%s]"):format(where, k)
    why = not_utf8(x, below, seen)
    if why then
      return why
    end
  end
end

--- Starts a conversation.
-- @param model Model
-- @param opts table|nil { system = nil (a system prompt), think = nil (SmolLM3's reasoning
--   mode, on unless false; true with a template that has none, ChatML, is an error),
--   template = nil (by the model's metadata; or "smollm3", "smollm3-llamacpp",
--   "chatml"), tools = nil (JSON array string or tables, SmolLM3; printed as the chat is
--   made, so later changes to the tables do not reach the prompt), date = today
--   ("04 December 2026"), ctx = 4096, batch = 512, parse_special = false (recognise special
--   tokens written in user and tool messages) }
-- @return Conversation
function M.new(model, opts)
  opts = check.options("chat", opts, NEW)
  check.boolean("chat", "think", opts.think)
  check.boolean("chat", "parse_special", opts.parse_special)
  if opts.system ~= nil and type(opts.system) ~= "string" then
    check.fail("chat", "system must be a string")
  end
  if opts.date ~= nil and type(opts.date) ~= "string" then
    check.fail("chat", "date must be a string such as \"04 December 2026\"")
  end
  -- the template copies these into the prompt, where the tokenizer would refuse them only at
  -- the first reply, counting the bad byte in the whole prompt
  for _, name in ipairs({ "system", "date", "tools" }) do
    local why = not_utf8(opts[name], name, {})
    if why then
      check.fail("chat", why)
    end
  end
  local template, err = chat.for_model(model.info, opts.template)
  if not template then
    check.error(err)
  end
  -- No template qora knows always reasons, so think = false is always met: switched off, or
  -- never on. think = true is not, on a template whose answers never reason.
  if opts.think == true and not template.reasoning then
    check.fail("chat", ("think = true, but the %s template has no reasoning mode: its "
                        .. "answers hold no <think> block; leave think out (reasoning takes "
                        .. "a model trained for it, such as SmolLM3)")
                       :format(template.name))
  end
  -- refused now, not at the first reply, and named as the user named them
  local tools, why = template:check_tools(opts.tools, "tools")
  if tools == nil then
    check.fail("chat", why)
  end
  local self = setmetatable({
    model = model,
    template = template,
    messages = {},
    think = opts.think ~= false,
    tools = #tools > 0 and tools or nil,   -- the text of each tool, which the template copies
    date = opts.date,
    parse_special = opts.parse_special == true,
  }, Conversation)
  if opts.system then
    self.messages[1] = { role = "system", content = opts.system }
  end
  self.session = model:session({ ctx = opts.ctx, batch = opts.batch })
  return self
end

-- The template's options for the conversation as it stands.
function Conversation:render_options()
  return { add_generation_prompt = true, enable_thinking = self.think, today = self.date,
           xml_tools = self.tools }
end

--- The prompt text of the conversation so far, ending with the assistant's opening.
function Conversation:prompt()
  return self.template:render(self.messages, self:render_options())
end

--- Frees the conversation's KV cache now rather than at collection; later replies raise.
function Conversation:close()
  self.closed = true
  self.session:close()
end

-- The ids of the parts of a rendered conversation: the template's text with its special
-- tokens, content as plain text. The text is cut only at the template's special tokens, as
-- the tokenizer itself cuts at them, so the ids are those of the whole text when the content
-- holds no special token.
local function tokenize_parts(tk, parts)
  local ids, pending = {}, {}
  local function flush()
    local t = tk:tokenize(table.concat(pending))
    table.move(t, 1, #t, #ids + 1, ids)
    pending = {}
  end
  for _, part in ipairs(parts) do
    if type(part) == "table" then
      pending[#pending + 1] = part.text
    else
      local from = 1
      for _, id in ipairs(tk:tokenize(part, true)) do
        local text, kind = tk:token(id)
        if kind == "control" or kind == "user_defined" then
          local i, j = part:find(text, from, true)
          pending[#pending + 1] = part:sub(from, i - 1)
          flush()
          ids[#ids + 1] = id
          from = j + 1
        end
      end
      pending[#pending + 1] = part:sub(from)
    end
  end
  flush()
  return ids
end

-- Raises, at the user's line, unless the conversation is open and text (which fname takes
-- as its argument #1, nil allowed when optional) is a message: a string of UTF-8.
local function check_message(self, fname, text, optional)
  if type(text) ~= "string" and not (optional and text == nil) then
    check.error(("bad argument #1 to '%s' (string expected, got %s)"):format(fname, type(text)))
  elseif self.closed then
    check.error("the conversation is closed: start a new one with model:chat()")
  end
  local why = check.not_utf8(text or "", "the message")
  if why then
    check.error(("bad argument #1 to '%s' (%s)"):format(fname, why))
  end
end

-- The ids of the conversation so far and text, unless nil, as the next user message.
local function ids_with(self, text)
  local messages = self.messages
  if text ~= nil then
    messages = table.move(messages, 1, #messages, 1, {})
    messages[#messages + 1] = { role = "user", content = text }
  end
  local tk, opts = self.session.core, self:render_options()
  if self.parse_special then
    return tk:tokenize(self.template:render(messages, opts), true)
  end
  return tokenize_parts(tk, self.template:render_parts(messages, opts))
end

--- The ids a reply to text would have in the cache before the answer: the conversation so
-- far and text as the next user message, rendered and tokenized (nothing changes).
-- @param text string|nil the next user message (nil: the conversation as it stands)
-- @return table array of ids
function Conversation:prompt_ids(text)
  check_message(self, "prompt_ids", text, true)
  return ids_with(self, text)
end
Conversation.__close = Conversation.close

-- How many leading ids a and b share.
local function common_prefix(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    if a[i] ~= b[i] then
      return i - 1
    end
  end
  return n
end

-- The sampling policy of a reply: opts.sampler, or sampling.new with the reply's sampling
-- options (its defaults: temperature 0.6 and top-p 0.95, as the model's authors recommend).
local function policy(opts)
  if opts.sampler ~= nil then
    return opts.sampler
  end
  local o = {}
  for _, k in ipairs(SAMPLING) do
    o[k] = opts[k]
  end
  return sampling.new(o)
end

-- Raises, at the user's line, when the reply's arguments are wrong (nothing has changed yet);
-- returns the options as a table.
local function check_reply(self, text, opts)
  check_message(self, "reply", text)
  opts = check.options("reply", opts, REPLY)
  check.integer("reply", "max_tokens", opts.max_tokens, 0)
  check.integer("reply", "prefill_chunk", opts.prefill_chunk, 1)
  return opts
end

-- The ids a reply to text (a checked message) starts from; raises, at the user's line, when
-- they leave the session's context no room for an answer.
local function reply_ids(self, text)
  local ids = ids_with(self, text)
  local ctx = self.session:ctx()
  if #ids >= ctx then
    check.error(("the conversation with this message takes %d tokens, and the session's "
                 .. "context holds %d, leaving no room for an answer; start a chat with a "
                 .. "larger ctx"):format(#ids, ctx))
  end
  return ids
end

-- What the loop of a reply that a newer reply ended raises.
local REPLACED = "this reply was replaced by a newer reply of the same chat, which kept its "
                 .. "answer so far; end a reply's loop before starting the next"

--- Answers text: an iterator of text pieces (and their ids) for a `for` loop.
-- When the loop ends (or breaks), the answer joins the conversation and last_reasoning and
-- last_reply hold its two parts (reasoning is "" without a <think> block). A reply that
-- raises leaves the messages as they were (see the top of this file). Another reply started
-- before the loop ends ends this one, keeping its answer so far; this loop then raises.
-- @param text string the user's message
-- @param opts table|nil { max_tokens = 1024, sampler = a policy, or sampling options:
--   temperature = 0.6, top_p = 0.95, top_k = 40, min_p = 0.05, seed (nil or -1: a new one,
--   which chat.session.stats.seed shows afterwards), greedy, repeat_penalty, ...;
--   prefill_chunk }
function Conversation:reply(text, opts)
  opts = check_reply(self, text, opts)
  local ids = reply_ids(self, text)
  local sampler = policy(opts)
  if self.pending then
    self.pending()  -- an earlier reply left unfinished: keep what it said
    ids = reply_ids(self, text)  -- the conversation grew by that answer
  end
  local messages, s = self.messages, self.session
  local keep = common_prefix(s.tokens, ids)
  -- generate checks its options now and runs at the first step: made before the rewind, a
  -- wrong sampler raises while the cache is still untouched
  local gen, _, _, gen_closer = s:generate({ prompt = table.move(ids, keep + 1, #ids, 1, {}),
                                            max_tokens = opts.max_tokens or 1024,
                                            sampler = sampler,
                                            prefill_chunk = opts.prefill_chunk })
  if keep < s:pos() then
    s:rewind(keep)
  end
  messages[#messages + 1] = { role = "user", content = text }
  local turn = #messages

  local parts, finished, replaced = {}, false, false
  local pending
  local function finish()
    if finished then return end
    finished = true
    local _ <close> = gen_closer  -- generate's own end: a reply cut short says "cancelled"
    if self.pending == pending then
      self.pending = nil
    end
    local answer = table.concat(parts)
    messages[#messages + 1] = { role = "assistant", content = answer }
    self.last_reasoning, self.last_reply = self.template:split_reasoning(answer)
  end
  -- a newer reply ends this one (as a newer generate does a generator): its answer so far
  -- stays, and its loop, if it goes on, raises rather than ending as if the answer were done
  pending = function()
    replaced = true
    finish()
  end
  self.pending = pending

  local function step()
    if replaced then
      check.error(REPLACED)
    elseif finished then
      return nil
    end
    local ok, id, piece = pcall(gen)
    if not ok and replaced then  -- ended by a newer reply while this loop waited
      check.error(REPLACED)
    elseif not ok then  -- the reply failed: take back the user's message
      local _ <close> = gen_closer
      finished = true
      if self.pending == pending then
        self.pending = nil
      end
      if messages[turn] ~= nil and #messages == turn then
        messages[turn] = nil
      end
      error(id, 0)
    elseif id == nil then
      finish()
      return nil
    end
    parts[#parts + 1] = piece
    return piece, id
  end
  return step, nil, nil, setmetatable({}, { __close = finish })
end

check.methods(Conversation, "qora.Conversation", "chat")

return M
