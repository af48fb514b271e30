--- The `qora` command: load a model (a GGUF file or a Hugging Face folder), answer a prompt,
-- stream the text to stdout; or convert a folder once into a GGUF file (--save).
-- bin/qora calls main(arg) and exits with its result. Errors go to stderr with exit code 1.
local qora = require("qora")
local sampling = require("qora.sampling")

local M = {}

M.USAGE = [[
Usage: qora --load MODEL.gguf [options]
       qora --model-path DIR [--quant TYPE | --f16] [--save OUT.gguf] [options]
Answers a prompt with a SmolLM3-family model, streaming the text to stdout.

  --load PATH         GGUF model file to run
  --model-path DIR    Hugging Face checkpoint folder to run (config.json, *.safetensors,
                      tokenizer.json), its weights converted while loading
  --quant TYPE        the type a folder's weights are converted to: q4_0 (default), q8_0,
                      f16, bf16 or f32
  --f16               the same as --quant f16
  --save PATH         write the loaded model as a GGUF file (loads instantly next time);
                      without --prompt, qora stops there
  --prompt TEXT       the prompt (default: read from stdin when it is not a terminal)
  --system TEXT       a system prompt for the chat template
  --max-tokens N      generate at most N tokens (default 256)
  --no-think          SmolLM3: answer without a reasoning block
  --raw               give the prompt to the model as it is, without the chat template
                      (special tokens written in it, such as <|im_start|>, are recognised)
  --greedy            always take the most likely token (no sampling)
  --temperature X     sampling temperature (default 0.6)
  --top-p X           nucleus sampling threshold (default 0.95)
  --seed N            random seed, for reproducible sampling
  --threads N         threads to use (default: one per core)
  --ctx N             context length in tokens (default 4096)
  --stats             print load time and speeds to stderr
  --help              show this help
]]

-- Flags and what they take: "string", "count" (integer >= 0), "positive", "integer",
-- "number", or true for a switch.
local FLAGS = {
  load = "string", ["model-path"] = "string", quant = "string", f16 = true, save = "string",
  prompt = "string", system = "string", ["max-tokens"] = "count",
  ["no-think"] = true, raw = true, greedy = true, temperature = "number", ["top-p"] = "number",
  seed = "integer", threads = "count", ctx = "positive", stats = true, help = true,
}

local QUANTS = { q4_0 = true, q8_0 = true, f16 = true, bf16 = true, f32 = true }

local function fail(fmt, ...)
  error({ message = fmt:format(...) })
end

-- A flag's value converted to its kind, or an error naming the flag.
local function convert(name, kind, v)
  if kind == "string" then
    return v
  end
  local n = tonumber(v)
  if kind == "number" then
    if n == nil or n ~= n then fail("--%s expects a number, got '%s'", name, v) end
    return n
  end
  n = math.tointeger(n)
  if n == nil or (kind == "count" and n < 0) or (kind == "positive" and n < 1) then
    local what = kind == "count" and "a non-negative integer"
                 or kind == "positive" and "a positive integer" or "an integer"
    fail("--%s expects %s, got '%s'", name, what, v)
  end
  return n
end

--- Parses the arguments into a table keyed by flag name (dashes kept).
-- @param argv table array of strings
-- @return table, or raises { message = ... }
function M.parse(argv)
  local opts, i = {}, 1
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    if not name then
      fail("unexpected argument '%s' (options start with --; see qora --help)", a)
    end
    local kind = FLAGS[name]
    if kind == nil then
      fail("unknown flag --%s (see qora --help)", name)
    elseif kind == true then
      if value then fail("--%s takes no value", name) end
      opts[name] = true
    else
      if value == nil then
        i = i + 1
        value = argv[i]
        if value == nil then fail("--%s needs a value", name) end
      end
      opts[name] = convert(name, kind, value)
    end
    i = i + 1
  end
  return opts
end

-- The check of values that depend on one another, and the defaults.
local function settle(opts)
  if opts.temperature and opts.temperature < 0 then
    fail("--temperature must not be negative, got %s", opts.temperature)
  end
  if opts["top-p"] and (opts["top-p"] < 0 or opts["top-p"] > 1) then
    fail("--top-p must be from 0 to 1, got %s", opts["top-p"])
  end
  if opts.load and opts["model-path"] then
    fail("give --load FILE or --model-path DIR, not both")
  end
  if opts.f16 and opts.quant and opts.quant ~= "f16" then
    fail("--f16 and --quant %s ask for two types; give one", opts.quant)
  end
  opts.quant = opts.f16 and "f16" or opts.quant
  if opts.quant and not QUANTS[opts.quant] then
    fail("--quant expects q4_0, q8_0, f16, bf16 or f32, got '%s'", opts.quant)
  end
  if opts.quant and not opts["model-path"] then
    fail("--quant and --f16 convert a Hugging Face folder (--model-path); a GGUF file keeps "
         .. "its types")
  end
  opts.path = opts.load or opts["model-path"]
  if not opts.path then
    fail("--load PATH is required: the GGUF model to run (`make run` passes the default one); "
         .. "or --model-path DIR for a Hugging Face folder")
  end
  if opts.save and not opts.prompt then
    return opts               -- convert and save only
  end
  if not opts.prompt then
    if qora.core.isatty(0) then
      fail("no prompt: give --prompt TEXT, or pipe the prompt into standard input")
    end
    opts.prompt = io.stdin:read("a") or ""
    if opts.prompt == "" then
      fail("no prompt: standard input was empty; give --prompt TEXT")
    end
  end
  if opts.raw and opts.system then
    fail("--system needs the chat template: it cannot go with --raw")
  end
  return opts
end

local function sampler_of(opts)
  if opts.greedy then
    return sampling.greedy()
  end
  return sampling.new({ temperature = opts.temperature or 0.6, top_p = opts["top-p"] or 0.95,
                        seed = opts.seed })
end

-- The iterator of text pieces for the prompt, and the session that runs it.
local function pieces(model, opts)
  local max = opts["max-tokens"] or 256
  if opts.raw then
    local s = model:session({ ctx = opts.ctx or 4096 })
    local gen = s:generate({ prompt = opts.prompt, max_tokens = max, sampler = sampler_of(opts) })
    return function()
      local _, piece = gen()
      return piece
    end, s
  end
  local ok, chat = pcall(model.chat, model, { system = opts.system, think = not opts["no-think"],
                                              ctx = opts.ctx or 4096 })
  if not ok then
    fail("%s (--raw runs the prompt without a template)", tostring(chat):gsub("^[^:]*:%d+: ", ""))
  end
  return chat:reply(opts.prompt, { max_tokens = max, sampler = sampler_of(opts) }), chat.session
end

local function report(load_s, st)
  local function rate(n, s) return s > 0 and n / s or 0 end
  io.stderr:write(("load: %.3f s\n"):format(load_s),
    ("prompt: %d tokens in %.3f s, %.1f tokens/s\n")
      :format(st.prompt_tokens, st.prompt_seconds, rate(st.prompt_tokens, st.prompt_seconds)),
    ("generation: %d tokens in %.3f s, %.1f tokens/s\n")
      :format(st.tokens, st.seconds, rate(st.tokens, st.seconds)))
end

local function run(argv)
  local opts = M.parse(argv)
  if opts.help then
    io.stdout:write(M.USAGE)
    return 0
  end
  settle(opts)

  local t0 = qora.core.now()
  local model, err = qora.load(opts.path, { threads = opts.threads, quant = opts.quant,
                                            progress = opts["model-path"] ~= nil })
  if not model then
    fail("%s", err)
  end
  local load_s = qora.core.now() - t0
  if opts.save then
    local ok, serr = model:save(opts.save)
    if not ok then
      fail("%s", serr)
    end
    if not opts.prompt then
      return 0
    end
  end

  local next_piece, session = pieces(model, opts)
  for piece in next_piece do
    io.stdout:write(piece)
    io.stdout:flush()
  end
  io.stdout:write("\n")
  io.stdout:flush()
  if opts.stats then
    report(load_s, session.stats)
  end
  return 0
end

--- Runs the command.
-- @param argv table array of strings (the script's arg)
-- @return integer exit code
function M.main(argv)
  local ok, res = pcall(run, argv)
  if ok then
    return res
  end
  local msg = type(res) == "table" and res.message
              or tostring(res):gsub("^[^:]*:%d+: ", "")  -- a Lua error's place is noise here
  io.stderr:write("qora: ", msg, "\n")
  return 1
end

return M
