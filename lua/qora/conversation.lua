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
local chat = require("qora.chat")
local sampling = require("qora.sampling")
local qora_init = require("qora")

local M = {}

local Conversation = {}
Conversation.__index = Conversation
M.Conversation = Conversation

local NEW = { system = true, think = true, template = true, tools = true, date = true,
              ctx = true, batch = true }

local REPLY = {
  max_tokens = true, sampler = true, prefill_chunk = true, temperature = true, top_k = true,
  top_p = true, min_p = true, seed = true, greedy = true, repeat_penalty = true,
  repeat_last_n = true, frequency_penalty = true, presence_penalty = true,
}

-- Options of sampling.new among a reply's options.
local SAMPLING = { "temperature", "top_k", "top_p", "min_p", "seed", "greedy", "repeat_penalty",
                   "repeat_last_n", "frequency_penalty", "presence_penalty" }

--- Starts a conversation.
-- @param model Model
-- @param opts table|nil { system = nil (a system prompt), think = true (SmolLM3's reasoning
--   mode), template = nil (by the model's metadata; or "smollm3", "smollm3-llamacpp",
--   "chatml"), tools = nil (JSON array string or tables, SmolLM3), date = today
--   ("04 December 2026"), ctx = 4096, batch = 512 }
-- @return Conversation
function M.new(model, opts)
  opts = qora_init.check_options("chat", opts, NEW)
  if opts.system ~= nil and type(opts.system) ~= "string" then
    error("bad argument to 'chat' (system must be a string)", 2)
  end
  if opts.date ~= nil and type(opts.date) ~= "string" then
    error("bad argument to 'chat' (date must be a string such as \"04 December 2026\")", 2)
  end
  local template, err = chat.for_model(model.info, opts.template)
  if not template then
    error(err, 2)
  end
  local self = setmetatable({
    model = model,
    template = template,
    session = model:session({ ctx = opts.ctx, batch = opts.batch }),
    messages = {},
    think = opts.think ~= false,
    tools = opts.tools,
    date = opts.date,
  }, Conversation)
  if opts.system then
    self.messages[1] = { role = "system", content = opts.system }
  end
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

--- Frees the conversation's KV cache now rather than at collection.
function Conversation:close()
  self.session:close()
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

-- The sampling policy of a reply: opts.sampler, or sampling.new with the model authors'
-- recommended temperature 0.6 and top-p 0.95 unless told otherwise.
local function policy(opts)
  if opts.sampler ~= nil then
    return opts.sampler
  end
  local o = { temperature = 0.6, top_p = 0.95 }
  for _, k in ipairs(SAMPLING) do
    if opts[k] ~= nil then
      o[k] = opts[k]
    end
  end
  return sampling.new(o)
end

--- Answers text: an iterator of text pieces (and their ids) for a `for` loop.
-- When the loop ends (or breaks), the answer joins the conversation and last_reasoning and
-- last_reply hold its two parts (reasoning is "" without a <think> block).
-- @param text string the user's message
-- @param opts table|nil { max_tokens = 1024, sampler = a policy, or sampling options:
--   temperature = 0.6, top_p = 0.95, top_k, min_p, seed, greedy, repeat_penalty, ...;
--   prefill_chunk }
function Conversation:reply(text, opts)
  if type(text) ~= "string" then
    error("bad argument #1 to 'reply' (string expected, got " .. type(text) .. ")", 2)
  end
  opts = qora_init.check_options("reply", opts, REPLY)
  local sampler = policy(opts)
  if self.pending then
    self.pending()  -- an earlier reply left unfinished: keep what it said
  end
  local messages, s = self.messages, self.session
  messages[#messages + 1] = { role = "user", content = text }

  local ids = self.model:tokenize(self:prompt(), { special = true })
  local keep = common_prefix(s.tokens, ids)
  if keep < s:pos() then
    s:rewind(keep)
  end
  local gen = s:generate({ prompt = table.move(ids, keep + 1, #ids, 1, {}),
                           max_tokens = opts.max_tokens or 1024, sampler = sampler,
                           prefill_chunk = opts.prefill_chunk })

  local parts, finished = {}, false
  local function finish()
    if finished then return end
    finished = true
    self.pending = nil
    local answer = table.concat(parts)
    messages[#messages + 1] = { role = "assistant", content = answer }
    self.last_reasoning, self.last_reply = self.template:split_reasoning(answer)
  end
  self.pending = finish

  local function step()
    if finished then
      return nil
    end
    local id, piece = gen()
    if id == nil then
      finish()
      return nil
    end
    parts[#parts + 1] = piece
    return piece, id
  end
  return step, nil, nil, setmetatable({}, { __close = finish })
end

return M
