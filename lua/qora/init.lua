--- qora: run SmolLM3-family GGUF models from Lua.
--
--   local qora = require("qora")
--   local model = assert(qora.load("models/SmolLM2-135M-Instruct.Q4_1.gguf", { threads = 2 }))
--   local s = model:session({ ctx = 4096 })
--   for id, piece in s:generate({ prompt = "Once upon a time", max_tokens = 32 }) do
--     io.write(piece)
--   end
--
-- The C module qora.core does the work; this layer checks options, keeps the ids that a
-- session holds (for repetition penalties and for reusing a conversation's cache) and adds
-- generation (qora.generate) and chat (qora.conversation).
local core = require("qora.core")
local check = require("qora.check")

local M = {}

--- The version of qora, X.Y.Z: its one place. The rockspec (rockspec/qora-X.Y.Z-1.rockspec)
-- carries it too, and a spec checks that they agree.
M._VERSION = "0.1.0"

M.core = core
M.rng = core.rng
M.candidates = core.candidates

local Model = {}
Model.__index = Model
M.Model = Model

local Session = {}
Session.__index = Session
M.Session = Session

M.check_options = check.options
M.check_integer = check.integer

-- The engine's limits (engine/session.c), checked here for messages that name the option.
local MAX_CTX, MAX_BATCH, MAX_THREADS = 1 << 24, 1 << 16, 256

local QUANTS = { q4_0 = true, q8_0 = true, f16 = true, bf16 = true, f32 = true }

--- Loads a GGUF file, or a Hugging Face checkpoint folder (or its config.json), whose weights
-- are converted while loading.
-- @param path string
-- @param opts table|nil { threads = 0 (one per core; at most 256), quant = "q4_0" | "q8_0" |
--   "f16" | "bf16" | "f32" (any case; folders only; default "q4_0"), progress = false (a bar
--   on stderr while converting, when stderr is a terminal), repack = true (rearrange the
--   weight matrices once, at load, for faster decoding; false loads a GGUF in a few tens of
--   milliseconds and decodes more slowly; either way a model holds its matrices once),
--   huge_pages = true (keep that copy on 2 MB pages where the kernel allows: decoding
--   is faster, but where fresh memory is slow to fault in, as on some virtual machines, the
--   load takes seconds longer) }
-- @return Model, or nil and a message when the file or folder cannot be used. model.info
--   describes it: arch, name, has_weights, n_layer, n_embd, n_ff, n_head, n_head_kv,
--   head_dim, n_vocab, n_ctx_train (the context it was trained on; 0 for a vocabulary-only
--   file), rope_theta, norm_eps, tied_embeddings, n_params, weight_bytes (as stored),
--   threads, tensor_types (tensors of each type, by name), and when the file has them
--   bos_id, eos_id and chat_template.
function M.load(path, opts)
  if type(path) ~= "string" then
    check.error("bad argument #1 to 'load' (string expected, got " .. type(path) .. ")")
  end
  opts = check.options("load", opts, { threads = true, quant = true, progress = true,
                                       repack = true, huge_pages = true })
  check.integer("load", "threads", opts.threads, 0, MAX_THREADS)
  local quant = type(opts.quant) == "string" and opts.quant:lower() or opts.quant
  if quant ~= nil and not QUANTS[quant] then
    check.fail("load", ('quant must be "q4_0", "q8_0", "f16", "bf16" or "f32", got %s')
                       :format(check.describe(opts.quant)))
  end
  check.boolean("load", "progress", opts.progress)
  check.boolean("load", "repack", opts.repack)
  check.boolean("load", "huge_pages", opts.huge_pages)
  local c, err = check.call(function()
    return core.load(path, opts.threads, quant, opts.progress, opts.repack == false,
                     opts.huge_pages == false)
  end)
  if not c then
    return nil, err
  end
  return setmetatable({ core = c, info = c:info(), path = path }, Model)
end

local TOKENIZE = { special = true, bos = true }

--- Text to ids.
-- @param text string (UTF-8; anything else raises an error)
-- @param opts table|nil { special = false (recognise "<|im_start|>" and such in text),
--   bos = false (prepend BOS when the vocabulary asks for it) }
-- @return table array of ids
function Model:tokenize(text, opts)
  if type(opts) == "table" and opts.eos ~= nil then   -- "did you mean 'bos'?" would mislead
    check.fail("tokenize", "eos is not an option of tokenize; to end with the EOS token, "
                           .. "append model.info.eos_id to the ids it returns")
  end
  opts = check.options("tokenize", opts, TOKENIZE)
  check.boolean("tokenize", "special", opts.special)
  check.boolean("tokenize", "bos", opts.bos)
  return check.call(function() return self.core:tokenize(text, opts.special, opts.bos) end)
end

--- Ids to the text they stand for (control tokens only with special = true; unused tokens,
-- padded embedding rows, never).
-- The bytes come back as they are, invalid UTF-8 included (a character cut between ids stays
-- cut, so the parts of a sequence join into the whole), where generated pieces hold only valid
-- UTF-8, bytes that never form a character becoming U+FFFD.
-- @param ids table array of ids
-- @param opts table|nil { special = false }
-- @return string
function Model:detokenize(ids, opts)
  opts = check.options("detokenize", opts, { special = true })
  check.boolean("detokenize", "special", opts.special)
  return check.call(function() return self.core:detokenize(ids, opts.special) end)
end

--- A token's bytes and its type ("normal", "control", "byte", ...); an unused token (a padded
-- embedding row, "[PAD<id>]") has none.
function Model:token(id)
  return check.call(function() return self.core:token(id) end)
end

--- The id whose vocabulary text is exactly text, or nil.
function Model:token_id(text)
  return check.call(function() return self.core:token_id(text) end)
end

--- True when generation stops at id (end of text or end of turn).
function Model:is_eog(id)
  return check.call(function() return self.core:is_eog(id) end)
end

--- A metadata string of the GGUF file, or nil.
function Model:meta(key)
  return check.call(function() return self.core:meta(key) end)
end

--- Writes the model as a GGUF file: the weights in their loaded types, the tokenizer and the
-- chat template. A folder converted once loads from it without converting.
-- @param path string
-- @return true, or nil and a message when the file cannot be written, or when its name ends
--   in another format's extension (.safetensors, .json, .bin, .pt, .pth, in any case)
function Model:save(path)
  if type(path) ~= "string" then
    check.error("bad argument #1 to 'save' (string expected, got " .. type(path) .. ")")
  end
  return check.call(function() return self.core:save(path) end)
end

--- Closes the model to new calls (tokenize, session, save, ...: they raise "the model is
-- closed"). Sessions already open keep working, generation and chat included, and the
-- weights are freed when the last of them is closed or collected.
function Model:close()
  self.core:close()
end
Model.__close = Model.close

function Model:__tostring()
  return tostring(self.core)
end

local SESSION = { ctx = true, batch = true, kv_type = true }

--- Opens a session: a KV cache of its own over this model (which it keeps alive).
-- A ctx beyond the training context (model.info.n_ctx_train) is taken without a word, though
-- text past it may degrade: a host that should warn compares the two.
-- @param opts table|nil { ctx = min(4096, training context) (from 1 to 16777216),
--   batch = 512 (from 1 to 65536), kv_type = "f16" | "f32" }
-- @return Session
function Model:session(opts)
  opts = check.options("session", opts, SESSION)
  check.integer("session", "ctx", opts.ctx, 1, MAX_CTX)
  check.integer("session", "batch", opts.batch, 1, MAX_BATCH)
  if opts.kv_type ~= nil and opts.kv_type ~= "f16" and opts.kv_type ~= "f32" then
    check.fail("session", "kv_type must be \"f16\" or \"f32\", got "
                          .. check.describe(opts.kv_type))
  end
  local c = check.call(function()
    return self.core:session(opts.ctx, opts.batch, opts.kv_type)
  end)
  -- tokens mirrors the KV cache; fresh is true when the engine's logits follow its last id
  return setmetatable({ core = c, model = self, tokens = {}, fresh = false, generation = 0 },
                      Session)
end

--- Starts a conversation (see qora.conversation).
function Model:chat(opts)
  return require("qora.conversation").new(self, opts)
end

--- Appends ids (an array, or one id) to the cache.
-- @param ids table|integer
-- @param opts table|nil { all_logits = false }
-- @return string|nil with all_logits: little-endian float32 logits [#ids][n_vocab]
function Session:eval(ids, opts)
  local all = opts ~= nil and check.options("eval", opts, { all_logits = true }).all_logits
  check.boolean("eval", "all_logits", all)
  local tokens = self.tokens
  -- the engine checks every id and the room left before it evaluates any: all or nothing
  local logits = check.call(function()
    local ok, rows = pcall(function() return self.core:eval(ids, all) end)
    if not ok then     -- a failed evaluation may have overwritten the last logits
      self.fresh = self.fresh and self.core:logits() ~= nil
      error(rows, 0)
    end
    return rows
  end)
  if math.type(ids) == "integer" then
    tokens[#tokens + 1] = ids
    self.fresh = true
  elseif #ids > 0 then
    table.move(ids, 1, #ids, #tokens + 1, tokens)
    self.fresh = true
  end
  return logits
end

--- The session's candidate set, loaded with the logits after the last evaluated id.
function Session:candidates()
  return check.call(function() return self.core:candidates() end)
end

--- The number of ids in the cache.
function Session:pos()
  return check.call(function() return self.core:pos() end)
end

--- The cache's capacity in ids.
function Session:ctx()
  return check.call(function() return self.core:ctx() end)
end

--- Forgets the cached ids from position pos on (0 empties the cache).
-- @param pos integer from 0 to s:pos() (anything else raises before the cache changes)
function Session:rewind(pos)
  local n = self:pos()
  check.integer("rewind", "the position", pos, 0, n)
  check.call(function() self.core:rewind(pos) end)
  local tokens = self.tokens
  n = self.core:pos()        -- the list follows the cache, whatever the engine did
  if n < #tokens then
    self.fresh = false
  end
  for i = #tokens, n + 1, -1 do
    tokens[i] = nil
  end
end

--- Frees the cache now rather than at collection.
function Session:close()
  self.core:close()
end
Session.__close = Session.close

function Session:__tostring()
  return tostring(self.core)
end

Session.generate = require("qora.generate").generate

check.methods(Model, "qora.Model", "model")
check.methods(Session, "qora.Session", "session")

return M
