--- The `qora` command: load a model (a GGUF file or a Hugging Face folder), answer a prompt,
-- stream the text to stdout; or convert a folder once into a GGUF file (--save).
-- bin/qora calls main(arg) and exits with its result: 0 when done, 1 on an error (a message on
-- stderr, naming the flag to change), 130 when interrupted (Ctrl-C).
local qora = require("qora")
local sampling = require("qora.sampling")
local chat_templates = require("qora.chat")
local check = require("qora.check")

local M = {}

local D = sampling.DEFAULTS

M.USAGE = ([[
Usage: qora --load MODEL.gguf [options]
       qora --model-path DIR [--quant TYPE | --f16] [--save OUT.gguf] [options]
Answers a prompt with a SmolLM3-family model, streaming the text to stdout.

Model:
  --load PATH         GGUF model file to run (a checkpoint folder is refused, naming
                      --model-path)
  --model-path DIR    Hugging Face checkpoint folder to run (config.json, *.safetensors,
                      tokenizer.json), its weights converted while loading; a file other
                      than its config.json is refused (a GGUF file goes with --load)
  --quant TYPE        the type a folder's weights are converted to: q4_0 (default), q8_0,
                      f16, bf16 or f32 (any case)
  --f16               the same as --quant f16
  --save PATH         write the loaded model as a GGUF file (loads instantly next time);
                      without --prompt, qora stops there; PATH must end in .gguf (any
                      case) and must not be a folder or a file of the checkpoint
Prompt:
  --prompt TEXT       the prompt (default: standard input when it is not a terminal, less
                      its final newline); an empty one is refused, with --raw too
  --system TEXT       a system prompt for the chat template
  --no-think          SmolLM3: answer without a reasoning block (a model whose template
                      has none, such as SmolLM2's ChatML, never writes one)
  --raw               give the prompt to the model as it is, without the chat template;
                      special tokens written in it, such as <|im_start|>, are recognised
                      (through the template, the prompt's text is only text); --system and
                      --no-think, which shape the template, are refused with it
Generation:
  --max-tokens N      generate at most N tokens (default 256)
  --ctx N             context length in tokens, prompt and answer together (default 4096,
                      or the model's training context when smaller)
  --greedy            always take the most likely token, the same as --temperature 0
  --temperature X     sampling temperature (default %s; 0 means --greedy)
  --top-k N           sample among the N most likely tokens (default %d; 0 keeps all)
  --top-p X           ... and among the most likely whose probabilities add up to X
                      (default %s; 1 keeps all)
  --min-p X           ... and drop those less than X times as likely as the best one
                      (default %s; 0 keeps all)
  --seed N            random seed, from 0 to 2^63 - 1; -1 (the default) takes a new one
                      each run, which --stats shows; the same seed, model and prompt give
                      the same text, whatever --threads
Running:
  --threads N         threads to use, from 1 to 256; 0 (the default) takes one per core
  --stats             print to stderr the load time, speeds, why generation stopped and
                      the seed used; with --save, the file's size and the time it took
  -h, --help          show this help and exit
  --version           show qora's version and the kernels it runs on this CPU, and exit

A flag's value follows it (--ctx 8192) or an equals sign (--ctx=8192).
Exit status: 0 when done, 1 on an error, 130 when interrupted (Ctrl-C; a second one
ends a long step, such as a folder's conversion, at once).
]]):format(D.temperature, D.top_k, D.top_p, D.min_p)

-- Flags and what they take: "string", "count" (integer >= 0), "integer", "number", or true
-- for a switch. Ranges are checked by settle.
local FLAGS = {
  load = "string", ["model-path"] = "string", quant = "string", f16 = true, save = "string",
  prompt = "string", system = "string", ["max-tokens"] = "count",
  ["no-think"] = true, raw = true, greedy = true, temperature = "number", ["top-k"] = "count",
  ["top-p"] = "number", ["min-p"] = "number", seed = "integer", threads = "count",
  ctx = "integer", stats = true, help = true, version = true,
}

local FLAG_NAMES = {}   -- in alphabetical order, for the suggestion of a misspelt flag
for name in pairs(FLAGS) do
  FLAG_NAMES[#FLAG_NAMES + 1] = name
end
table.sort(FLAG_NAMES)

local QUANTS = { q4_0 = true, q8_0 = true, f16 = true, bf16 = true, f32 = true }

-- llama.cpp's flags for its model, a GGUF file: --load here, though --model-path is closer.
local LLAMA_MODEL_FLAGS = { ["--model"] = true, ["-m"] = true }

-- The flags that act through the chat template, which --raw leaves out: refused with it.
local TEMPLATE_FLAGS = { "system", "no-think" }

-- The engine's limits (engine/session.c, lqora/model.c).
local MAX_CTX, MAX_THREADS = 1 << 24, 256

-- The integer flags whose values are bounded, and the words that give the bounds: a value
-- out of them, even out of Lua's integers, is refused in these words.
local LIMITS = {
  ctx = { 1, MAX_CTX, ("from 1 to %d"):format(MAX_CTX) },
  threads = { 0, MAX_THREADS, ("from 0 (one per core) to %d"):format(MAX_THREADS) },
  seed = { -1, math.maxinteger, ("from 0 to %d, or -1 for a new one each run")
                                :format(math.maxinteger) },
}

local function fail(fmt, ...)
  error({ message = fmt:format(...) })
end

-- "1 token", "2 tokens": n and the noun, in the plural unless n is 1.
local function count(n, noun)
  return ("%d %s%s"):format(n, noun, n == 1 and "" or "s")
end

-- Decimal spellings only: tonumber would also read hex ("0x10", "0x1p4"), an integer with an
-- exponent ("1e3"), spaces around the digits, and "1e999" as infinity.
local function is_decimal_integer(v)
  return v:match("^[+-]?%d+$") ~= nil
end

local function is_decimal_number(v)
  local mantissa = v:gsub("[eE][+-]?%d+$", "", 1)
  return mantissa:match("^[+-]?%d+%.?%d*$") ~= nil or mantissa:match("^[+-]?%.%d+$") ~= nil
end

-- A flag's value converted to its kind, or an error naming the flag, the text and what it
-- takes.
local function convert(name, kind, v)
  if kind == "string" then
    return v
  elseif kind == "number" then
    local n = is_decimal_number(v) and tonumber(v)
    if not n or n == math.huge or n == -math.huge then
      fail("--%s expects a finite decimal number, got '%s'", name, v)
    end
    return n
  end
  local what = kind == "count" and "a non-negative integer" or "an integer"
  local n = is_decimal_integer(v) and math.tointeger(tonumber(v))
  if LIMITS[name] and is_decimal_integer(v) and (not n or n < LIMITS[name][1]) then
    fail("--%s must be %s, got %s", name, LIMITS[name][3], v)
  elseif not n and is_decimal_integer(v) then
    fail("--%s expects %s, got '%s', which is out of range", name, what, v)
  elseif not n and LIMITS[name] then
    fail("--%s expects an integer in decimal digits, %s, got '%s'", name, LIMITS[name][3], v)
  elseif not n or (kind == "count" and n < 0) then
    fail("--%s expects %s in decimal digits, got '%s'", name, what, v)
  end
  return n
end

-- True when argv asks for the help before any "--": the help wins over every other error.
-- A word that parse takes as a flag's value (--prompt --help) is text, not a request.
local function wants_help(argv)
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      return false
    elseif a == "-h" or a == "--help" then
      return true
    end
    local kind = type(a) == "string" and FLAGS[a:match("^%-%-([%w%-_]+)$") or ""]
    i = i + ((kind and kind ~= true) and 2 or 1)
  end
  return false
end

--- Parses the arguments into a table keyed by flag name (dashes kept).
-- @param argv table array of strings
-- @return table, or raises { message = ... }
function M.parse(argv)
  for k, a in ipairs(argv) do   -- a number would pass as its digits: --prompt 5 read "5"
    if type(a) ~= "string" then
      fail("argument %d is a %s; the arguments are strings, as a shell passes them", k, type(a))
    end
  end
  local opts, i, took = {}, 1, nil
  while i <= #argv do
    local a = argv[i]
    if a == "--" then
      if argv[i + 1] ~= nil then
        fail("unexpected argument '%s' after --: qora takes no arguments besides its flags "
             .. "(the prompt goes in --prompt)", argv[i + 1])
      end
      break
    end
    local name, value = a:match("^%-%-([%w%-_]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-_]+)$") or (a == "-h" and "help")
    local flag = name and "--" .. name or a
    if LLAMA_MODEL_FLAGS[flag] then
      fail("unknown flag %s; give a GGUF file with --load, or a Hugging Face folder with "
           .. "--model-path (see qora --help)", flag)
    elseif not name and took then    -- "--system --prompt hi": the stray word's cause
      fail("--%s took '%s' as its value; give --%s a value, or write --%s=%s to mean it",
           took[1], took[2], took[1], took[1], took[2])
    elseif not name then
      fail("unexpected argument '%s' (options start with --; see qora --help)", a)
    end
    local kind = FLAGS[name]
    if kind == nil and QUANTS[name:lower()] then    -- --f32 as --f16 is given
      fail("unknown flag --%s; a folder's weights convert to %s with --quant %s (see qora "
           .. "--help)", name, name:lower(), name:lower())
    elseif kind == nil then
      local near = check.suggest(name, FLAG_NAMES)
      fail("unknown flag --%s%s (see qora --help)", name,
           near and ("; did you mean --%s?"):format(near) or "")
    elseif opts[name] ~= nil then
      fail("--%s is given twice; give it once", name)
    elseif kind == true then
      if value then fail("--%s takes no value", name) end
      opts[name] = true
    else
      if value == nil then
        i = i + 1
        value = argv[i]
        if value == nil then fail("--%s needs a value", name) end
        if FLAGS[value:match("^%-%-([%w%-_]+)") or ""] then
          took = took or { name, value }  -- kept, but named if a word is then left over
        end
      end
      opts[name] = convert(name, kind, value)
    end
    i = i + 1
  end
  return opts
end

-- Checks that a number flag lies in [lo, hi] (by default its LIMITS).
local function range(opts, name, lo, hi, what)
  local v = opts[name]
  if LIMITS[name] then
    lo, hi, what = table.unpack(LIMITS[name])
  end
  if v ~= nil and (v < lo or v > hi) then
    fail("--%s must be %s, got %s", name, what, v)
  end
end

-- Refuses text that is not UTF-8, naming where it came from (checked before the model loads).
local function check_utf8(text, where)
  local why = check.not_utf8(text, where)
  if why then
    fail("%s", why)
  end
end

-- The checks of values alone and of values that depend on one another.
local function check_values(opts)
  range(opts, "temperature", 0, math.huge, "0 or more")
  range(opts, "top-p", 0, 1, "from 0 to 1")
  range(opts, "min-p", 0, 1, "from 0 to 1")
  range(opts, "ctx")
  range(opts, "threads")
  range(opts, "seed")
  if opts.load and opts["model-path"] then
    fail("give --load FILE or --model-path DIR, not both")
  end
  if opts.greedy and opts.temperature and opts.temperature ~= 0 then
    fail("--greedy and --temperature %s disagree: --greedy is temperature 0; give one",
         opts.temperature)
  end
  local quant = opts.quant and opts.quant:lower()
  if opts.f16 and quant and quant ~= "f16" then
    fail("--f16 and --quant %s ask for two types; give one", opts.quant)
  end
  if quant and not QUANTS[quant] then
    fail("--quant expects q4_0, q8_0, f16, bf16 or f32, got '%s'", opts.quant)
  end
  opts.quant = opts.f16 and "f16" or quant
  if opts.quant and not opts["model-path"] then
    fail("--quant and --f16 convert a Hugging Face folder (--model-path); a GGUF file keeps "
         .. "its types")
  end
  for _, name in ipairs(TEMPLATE_FLAGS) do
    if opts.raw and opts[name] then
      fail("--%s shapes the chat template, which --raw leaves out: give one of them", name)
    end
  end
  if opts.system then
    check_utf8(opts.system, "--system")
  end
end

local HOW_TO_PROMPT = "give --prompt TEXT, or pipe the prompt into standard input"

-- The prompt from standard input, less its final newline (what `echo` and editors add).
local function stdin_prompt()
  if qora.core.isatty(0) then
    fail("no prompt: %s", HOW_TO_PROMPT)
  end
  local text, err = io.stdin:read("a")   -- "" at the end of input, nil on an error
  if not text then
    fail("cannot read the prompt from standard input: %s", err)
  end
  text = text:gsub("\r?\n$", "")
  check_utf8(text, "standard input")
  return text
end

-- The folder of a Hugging Face checkpoint path (the folder, or the folder of its config.json),
-- or nil for a GGUF file; as the engine tells them apart.
local function checkpoint_folder(path)
  local st = qora.core.stat(path)
  if st and st.kind == "directory" then
    return path
  elseif path == "config.json" then
    return "."
  end
  return path:match("^(.*)/config%.json$")
end

-- Refuses a path of the other kind than its flag takes: the loader tells the two apart and
-- would run either, but a GGUF file given to --model-path or a checkpoint folder given to
-- --load most likely means the user took one flag for the other, and --quant goes only with
-- the folder.
local function check_model_path(opts)
  local path = opts["model-path"] or opts.load
  local st = qora.core.stat(path)
  local folder = checkpoint_folder(path)
  if opts["model-path"] and st and st.kind ~= "directory" and not folder then
    fail("--model-path takes a Hugging Face checkpoint folder, and %s is a file; give a GGUF "
         .. "file with --load", path)
  elseif opts.load and folder and qora.core.stat(folder .. "/config.json") then
    fail("--load takes a GGUF file, and %s is a Hugging Face checkpoint folder; give it with "
         .. "--model-path", path)
  end
end

-- Refuses a --save path before a long conversion: as the engine would refuse it after (a name
-- of another format, a file of the checkpoint), or as the file could not be written (a
-- folder); and a name without .gguf, which model:save takes (a program's temporary file) but
-- which, typed here, is a slip: the file would not be known for a GGUF one.
local function check_save(opts)
  local path = opts.save
  local folder = opts["model-path"] and checkpoint_folder(opts["model-path"])
  local ok, why = qora.core.check_save_path(path, folder)
  if not ok then
    fail("--save: %s", why)
  end
  local st = qora.core.stat(path)
  local in_it = path:sub(-1) == "/" and path .. "model.gguf" or path .. "/model.gguf"
  if st and st.kind == "directory" then
    fail("--save: cannot save to %s: it is a folder; give a file path such as %s", path, in_it)
  elseif not path:lower():match("%.gguf$") then
    fail("--save: cannot save to %s: qora writes a GGUF file; give a name ending in .gguf, "
         .. "such as %s", path, path:sub(-1) == "/" and in_it or path .. ".gguf")
  end
end

-- Checks the values and sets the defaults; reads the prompt from stdin when it is needed.
local function settle(opts)
  check_values(opts)
  opts.path = opts.load or opts["model-path"]
  if not opts.path then
    fail("--load PATH is required: the GGUF model to run (`make run` passes the default one); "
         .. "or --model-path DIR for a Hugging Face folder")
  end
  check_model_path(opts)
  if opts.save then
    check_save(opts)
  end
  if opts.save and not opts.prompt then
    return opts               -- convert and save only
  end
  if opts.prompt then
    check_utf8(opts.prompt, "--prompt")
  end
  opts.prompt = opts.prompt or stdin_prompt()
  -- Refused with --raw too, however it came: llama.cpp continues BOS alone, but SmolLM's
  -- vocabularies add no BOS, which leaves nothing to continue; and through the template an
  -- empty message is rarely what was meant.
  if opts.prompt == "" then
    fail("the prompt is empty: %s", HOW_TO_PROMPT)
  end
  return opts
end

local function warn(fmt, ...)
  io.stderr:write("qora: warning: ", fmt:format(...), "\n")
end

-- What the model flag given takes, for the hints of the load errors.
local function flag_takes(opts)
  return opts.load and "--load takes a GGUF file"
         or "--model-path takes a Hugging Face checkpoint folder (config.json, *.safetensors, "
            .. "tokenizer.json)"
end

-- The load error, with a hint when the path is missing or of the other kind than the flag
-- takes.
local function load_error(opts, err)
  local path, stat = opts.path, qora.core.stat
  local folder = checkpoint_folder(path)
  local folder_st = folder and stat(folder)
  local st, why = stat(path)
  if not st then   -- why is "path: " and the system's words, as qora.load gives them
    return ("cannot open %s; %s"):format(why, flag_takes(opts))
  elseif folder_st and folder_st.kind == "directory" and not stat(folder .. "/config.json") then
    return ("%s is a folder without config.json: --model-path takes a Hugging Face checkpoint "
            .. "folder (config.json, *.safetensors, tokenizer.json), --load a GGUF file")
           :format(path)
  elseif path:match("%.safetensors$") then
    return ("%s is one file of a Hugging Face checkpoint: give its folder with --model-path")
           :format(path)
  end
  return err
end

local function load(opts)
  local threads = opts.threads
  if threads and threads > qora.core.cores() then
    warn("--threads %d is more than the %s qora may run on, which makes it slower",
         threads, count(qora.core.cores(), "core"))
  end
  local model, err = qora.load(opts.path, { threads = threads, quant = opts.quant,
                                            progress = opts["model-path"] ~= nil })
  if not model then
    fail("%s", load_error(opts, err))
  end
  local trained = model.info.n_ctx_train
  if opts.ctx and trained > 0 and opts.ctx > trained then
    warn("--ctx %d is beyond the %d tokens the model was trained on; text past them may "
         .. "degrade", opts.ctx, trained)
  end
  return model
end

-- The sampling policy of the flags. A policy that draws at random takes --seed, or a new seed
-- for -1 or none, kept in opts.drawn_seed for --stats to show.
local function sampler_of(opts)
  if opts.greedy or opts.temperature == 0 then
    return sampling.greedy()
  end
  local seed = opts.seed
  if seed == nil or seed == -1 then
    seed = sampling.new_seed()
  end
  opts.drawn_seed = seed
  return sampling.new({ temperature = opts.temperature, top_k = opts["top-k"],
                        top_p = opts["top-p"], min_p = opts["min-p"], seed = seed })
end

-- Opens what runs the prompt (a session, or a conversation), with a failure put in CLI words.
local function open(opts, ...)
  local ok, res = pcall(...)
  if not ok then
    local msg = tostring(res):gsub("^[^:]*:%d+: ", "")
    if opts.ctx then
      fail("--ctx %d: %s", opts.ctx, msg)
    end
    fail("%s", msg)
  end
  return res
end

-- Refuses a prompt that leaves no room for an answer.
local function check_fit(n, ctx, how)
  if n >= ctx then
    fail("the prompt takes %s%s, which leaves no room for an answer in a context of %d; "
         .. "give a larger --ctx", count(n, "token"), how, ctx)
  end
end

-- The prompt is read in chunks of at most this many tokens: Ctrl-C (lua5.4 stops at the next
-- Lua instruction) is then met between two of them, where one batch left it unheard until
-- the whole prompt was read (22 s for 3,000 tokens of SmolLM2 on 2 cores). Chunks of 4 or
-- more tokens give the logits of one batch bit for bit; each one reads the weights again,
-- about 3 % of a 256-token chunk's time for SmolLM3-3B.
local PREFILL_CHUNK = 256

-- The iterator of text pieces for the prompt, and the session that runs it.
local function pieces(model, opts)
  local max = opts["max-tokens"] or 256
  if opts.raw then
    local s = open(opts, model.session, model, { ctx = opts.ctx })
    local ids = s.core:tokenize(opts.prompt, true, true)
    check_fit(#ids, s:ctx(), "")
    local gen = s:generate({ prompt = ids, max_tokens = max, sampler = sampler_of(opts),
                             prefill_chunk = PREFILL_CHUNK })
    return function()
      local _, piece = gen()
      return piece
    end, s
  end
  local _, err = chat_templates.for_model(model.info)
  if err then
    fail("%s", (err:gsub(": name one.*", "; --raw gives it the prompt without a template")))
  end
  -- the template's own mode unless --no-think; a template that never reasons, ChatML, meets
  -- --no-think as it is, as model:chat meets think = false
  local think = nil
  if opts["no-think"] then
    think = false
  end
  local chat = open(opts, model.chat, model, { system = opts.system, ctx = opts.ctx,
                                               think = think })
  check_fit(#chat:prompt_ids(opts.prompt), chat.session:ctx(), " with the chat template")
  return chat:reply(opts.prompt, { max_tokens = max, sampler = sampler_of(opts),
                                   prefill_chunk = PREFILL_CHUNK }),
         chat.session
end

-- The size in bytes of the file at path, or nil when it cannot be opened.
local function file_size(path)
  local f = io.open(path, "rb")
  local size = f and f:seek("end")
  if f then
    f:close()
  end
  return size
end

-- The --stats of a run: load_s is false when save has already shown it (nil when the load
-- did not end), seed nil when nothing was drawn at random. An interrupted run shows what ran:
-- st is nil when no prompt was to run yet; a prompt cut off while it was read leaves st.stop
-- nil, or "cancelled" with no prompt tokens (generate rewinds it).
local function stats_text(load_s, st, seed, interrupted)
  local function rate(n, s) return s > 0 and n / s or 0 end
  local why = { eog = "the model ended its answer", length = "--max-tokens reached",
                context = "the context is full (--ctx)", cancelled = "stopped early" }
  local lines = { load_s and ("load: %.3f s\n"):format(load_s) or "" }
  if st and st.stop and not (st.stop == "cancelled" and st.prompt_tokens == 0) then
    lines[#lines + 1] = ("prompt: %s in %.3f s, %.1f tokens/s\n")
      :format(count(st.prompt_tokens, "token"), st.prompt_seconds,
              rate(st.prompt_tokens, st.prompt_seconds))
    lines[#lines + 1] = ("generation: %s%s in %.3f s, %.1f tokens/s\n")
      :format(count(st.tokens, "token"), interrupted and " so far" or "", st.seconds,
              rate(st.tokens, st.seconds))
  elseif st then
    lines[#lines + 1] = "prompt: interrupted while it was read\n"
  end
  lines[#lines + 1] = ("stop: %s\n"):format(interrupted and "interrupted (Ctrl-C)"
                                            or why[st.stop] or tostring(st.stop))
  -- an interrupted run that wrote no token has no text for the seed to give again
  if seed and not (interrupted and (st == nil or (st.tokens or 0) == 0)) then
    lines[#lines + 1] = ("seed: %d (--seed %d gives this text again)\n"):format(seed, seed)
  end
  return table.concat(lines)
end

-- What an interruption at this point writes: to stdout, a newline when the answer's line is
-- open; to stderr, with --stats, the figures of what ran (any time after the flags were
-- read), then "qora: interrupted", and the file --save wrote, if it did.
local function interrupted_texts(state)
  local opts, stats = state.opts, ""
  if opts and opts.stats then
    local st = state.session and state.session.stats or state.reading and {}
    stats = stats_text(not state.load_shown and state.load_s, st, opts.drawn_seed, true)
  end
  local saved = state.saved and (" after %s was saved"):format(state.saved) or ""
  return state.open_line and "\n" or "", stats .. "qora: interrupted" .. saved .. "\n"
end

-- Readies a second Ctrl-C. The first stops the run at the next Lua instruction, which a long
-- engine call delays (a folder's conversion, a chunk of the prompt, a save); a second one
-- then ends it at once, writing what the first would now, and removes unfinished, the file
-- a save is writing (path.tmp, renamed when complete).
local function arm(state, unfinished)
  local out_text, err_text = interrupted_texts(state)
  qora.core.on_interrupt(out_text, err_text, unfinished)
end

-- Writes the model to opts.save; with --stats, shows the load's time and what was written.
-- A first Ctrl-C during the save is held (core.hold_interrupt) until the file and its lines
-- are out, so that the run stops saying the file is whole, as it is; run then takes it.
local function save(model, opts, load_s, state)
  local t0 = qora.core.now()
  qora.core.hold_interrupt()
  local ok, err = model:save(opts.save)
  if not ok then
    qora.core.release_interrupt()   -- the failure is the news, Ctrl-C or not
    fail("%s", err)
  end
  state.saved, state.load_shown = opts.save, true
  arm(state)                        -- a second Ctrl-C now says the file is saved too
  if opts.stats then
    local size = file_size(opts.save) or 0
    io.stderr:write(("load: %.3f s\n"):format(load_s),
                    ("save: %s, %d bytes (%.1f MB) in %.3f s\n")
                      :format(opts.save, size, size / 1e6, qora.core.now() - t0))
  end
end

-- What --version says of each kernel level (engine/quant.c picks one at run time).
local KERNELS = { scalar = "portable C, no SIMD", avx2 = "AVX2, FMA and F16C",
                  avx512 = "AVX-512 with VNNI and BF16", amx = "AVX-512 and AMX-INT8 tiles" }

-- Writes to stdout now; a closed pipe or a full disk ends the run with an error.
local function out(s)
  local ok, err = io.stdout:write(s)
  if ok then
    ok, err = io.stdout:flush()
  end
  if not ok then
    fail("cannot write the answer to standard output: %s", err)
  end
end

-- Runs the command; state keeps what an interruption says (opts, load_s, whether the load's
-- time was shown, the file saved, whether the prompt is being read, the session).
local function run(argv, state)
  if wants_help(argv) then
    io.stdout:write(M.USAGE)
    return 0
  end
  local opts = M.parse(argv)
  if opts.version then
    local kernels = qora.core.cpu_kernels()
    io.stdout:write("qora ", qora._VERSION, "\n", "kernels: ", kernels, " (",
                    KERNELS[kernels] or "?", "), the best this CPU runs\n")
    return 0
  end
  settle(opts)
  state.opts = opts
  arm(state)

  local t0 = qora.core.now()
  local model = load(opts)
  local load_s = qora.core.now() - t0
  state.load_s = load_s
  if opts.save then
    arm(state, opts.save .. ".tmp")
    save(model, opts, load_s, state)
    if qora.core.release_interrupt() then
      error("interrupted!", 0)     -- held during the save: the run stops after it
    end
    if not opts.prompt then
      return 0
    end
  end

  state.reading = true
  local next_piece, session = pieces(model, opts)
  state.session = session
  arm(state)
  for piece in next_piece do
    state.open_line = piece:sub(-1) ~= "\n"   -- Ctrl-C then ends the line first
    arm(state)
    out(piece)
  end
  out("\n")
  if opts.stats then
    io.stderr:write(stats_text(not opts.save and load_s, session.stats, opts.drawn_seed))
  elseif session.stats.stop == "context" then
    warn("the answer stopped at the end of the context (%d tokens); --ctx sets it",
         session:ctx())
  end
  return 0
end

--- Runs the command. It takes SIGINT over (core.on_interrupt): a program calling it gives
-- up its own handling of Ctrl-C.
-- @param argv table array of strings (the script's arg)
-- @return integer exit code
function M.main(argv)
  local state = {}
  local ok, res = pcall(run, argv, state)
  if ok then
    return res
  end
  local msg = type(res) == "table" and res.message
              or tostring(res):gsub("^[^:]*:%d+: ", "")  -- a Lua error's place is noise here
  if msg:find("interrupted!$") then  -- lua5.4's answer to SIGINT (Ctrl-C), and arm's
    qora.core.ignore_interrupt()     -- a second one must not cut these lines short
    local out_text, err_text = interrupted_texts(state)
    io.stdout:write(out_text)
    io.stdout:flush()
    io.stderr:write(err_text)
    return 130
  end
  io.stderr:write("qora: ", msg, "\n")
  return 1
end

return M
