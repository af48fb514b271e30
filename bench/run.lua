-- bench/run.lua: the benchmark of issue 4, run by `make bench`.
-- Makes the SmolLM3-3B-shaped files once, installs the peers once, measures read bandwidth,
-- then times qora and each peer on the same files with the same threads. Prints a table, then
-- one JSON line per file and context. Progress goes to stderr.
--
-- Long contexts are filled by copy: a long run evaluates the prompt (its rows are what is
-- copied) and generates nothing after it, as its figures at the prompt's context are not kept;
-- then, at each long context, its KV cache is made to hold ctx tokens by repeating the rows
-- cached so far, nothing more evaluated (tools/bench_qora.c copy_fill, bench/peers.py
-- copy_fill): the prompt's at the first context, those up to the first context and its steps
-- at the second. 32 decode steps are timed there. Decode time does not depend on the cached
-- values, and evaluating 16K tokens takes 8 to 14 minutes per implementation.
-- BENCH_FILL=eval evaluates every token instead and reports the fill rate.
--
-- The rows at the prompt's context are measured in BENCH_ROUNDS rounds, the implementations
-- taking turns in the opposite order each round; each keeps its best prompt and generation
-- rates, shortest loads and highest peak RSS. Memory bandwidth on a shared host moves by 20 %
-- or more from one minute to the next, and one run each let that decide the ratios. The
-- generation ratio of runs back to back, qora's and a peer's in the same round, is also kept:
-- its median over the rounds ("pair") is the least moved by the host. The read bandwidth is
-- measured just before each of qora's runs. The ceilings take the best of all those figures:
-- measured once at the start, an AMD EPYC's fast minutes came later, and Q8_0 decoded at 113 %
-- of the ceiling. Each run is also set against the bandwidth measured just before it, and
-- the median over the rounds of that percentage ("%adj") is the one least moved by the host.
-- The long rows are measured in rounds too, as many as the file has at the prompt's context,
-- qora and each peer in BENCH_LONG_PEERS taking turns in the opposite order each round, each
-- keeping its best generation rate per context, and a "pair" ratio for them too: the 16K
-- target (2x ik_llama.cpp) had rested on one run each, 1.97x on a host whose bandwidth moves
-- 20 % minute to minute. A long round never comes between the runs of a round at the prompt's
-- context, so those stay back to back: with no budget a file's long rounds follow all its
-- rounds there. BENCH_LONG_FILES names the files with long rows: Q4_0 at every BENCH_LONG
-- context, Q4_K_M only up to 4096, where a target rests on it.
-- The peers in BENCH_ONCE are measured in the first round only: no target rests on mainline
-- llama.cpp, and its second round took 70 to 90 s of a run that should stay under 20 minutes
-- on a fresh machine. For the same reason the files in BENCH_ONE_ROUND (Q8_0, on which no
-- target rests either) are measured in one round: its second and third took 140 s of a
-- 19-minute run. Only the peers in BENCH_LONG_PEERS are measured at the long contexts:
-- mainline llama.cpp's long run took 105 to 121 s, and a whole run on a fresh Intel host (Xeon
-- model 207) 21.1 minutes with it.
--
-- BENCH_BUDGET bounds the whole of `make bench`, counted from make's start (BENCH_T0), as
-- issue 4 asks for a run under 20 minutes on a fresh machine and building the peers alone took
-- 640 s of one on a 2-core AMD EPYC. Under a budget every file first gets its first round and
-- its first round of long rows (Q4_K_M's at 4K took qora and ik_llama.cpp 37 s here, and with
-- it a fresh run had every round at 512 done by about 950 s of the 1140, the long rows' second
-- and third after, Q4_K_M's third left out); the extra rounds follow, those at the prompt's
-- context file by file, then those of the long rows file by file (budget.extra_rounds), each
-- only while what its runs took in their first round, 10 % more, and a reserve for the Lua
-- overhead measurement fit in what is left. The first round that does not fit ends them all,
-- so the rounds at the prompt's context, on which every file's targets rest, keep first claim
-- on the budget; the notes say which were left out.
-- Before them come the first-round runs of the peers in BENCH_OPTIONAL (mainline llama.cpp, on
-- which no target rests) on the files after the first: they wait until every file has had
-- the rest of its first round and its first long round, then run, file by file, each only
-- where what the same peer took on the first file, 10 % more, and the reserve fit; the notes
-- name those left out, and the JSON has no figures of theirs. A waiting run is not back to
-- back with qora's run of the same round, so its "pair" ratio is one run against another
-- minutes apart. With BENCH_BUDGET=0 they run in their file's first round, as the others do.
--
-- Settings come from the environment (the Makefile passes them):
--   BENCH_DIR      models/bench         where files and logs go
--   BENCH_THREADS  2
--   BENCH_VOCAB    (required to make files) the Llama 3 vocabulary GGUF
--   BENCH_FILES    "q4_0 q4_k_m q8_0"
--   BENCH_LONG     "4096,16384"         long contexts (empty: none)
--   BENCH_LONG_FILES "q4_0 q4_k_m:4096" the files measured at the long contexts; file:N at
--                                      those of BENCH_LONG up to N only
--   BENCH_FILL     copy                  how long contexts are filled: copy or eval
--   BENCH_PEERS    "ik_llama llamacpp"  empty: qora alone
--   PEERS_VENV     .venv-peers
--   BENCH_PROMPT 512, BENCH_GEN 128, BENCH_STEPS 32   prompt, generated tokens, long-context
--                                      steps (smaller values make a quick smoke run)
--   BENCH_LUA_STEPS 64                  decode steps of the Lua overhead measurement
--   BENCH_ROUNDS   3                    rounds of the rows at the prompt's context and of the
--                                      long rows
--   BENCH_ONCE     "llamacpp"           peers measured in the first round only (empty: none)
--   BENCH_ONE_ROUND "q8_0"              files measured in one round (empty: none)
--   BENCH_LONG_PEERS "ik_llama"         peers measured at the long contexts (empty: none)
--   BENCH_OPTIONAL "llamacpp"           peers whose runs on files after the first BENCH_BUDGET
--                                      may leave out (empty: none)
--   BENCH_WAIT     0                    seconds to wait, before each run, for idle cores
--   BENCH_BUDGET   1140                 seconds for the whole `make bench` (0: no budget)
--   BENCH_T0       (make passes it)     make's start, in seconds since 1970 (unset: this script's)

local budget = dofile("bench/budget.lua")

local KV_BYTES_PER_TOKEN = 73728  -- 36 layers x 2 (K, V) x 4 heads x 128 dims x 2 bytes (F16)

local env = function(k, default)
  local v = os.getenv(k)
  if v == nil or v == "" then return default end
  return v
end

local DIR = env("BENCH_DIR", "models/bench")
local THREADS = tonumber(env("BENCH_THREADS", "2"))
local VOCAB = env("BENCH_VOCAB", "")
local FILES = env("BENCH_FILES", "q4_0 q4_k_m q8_0")
local LONG = os.getenv("BENCH_LONG") or "4096,16384"       -- set but empty: none
local LONG_FILES = env("BENCH_LONG_FILES", "q4_0 q4_k_m:4096")
local FILL = env("BENCH_FILL", "copy")
local PEERS = os.getenv("BENCH_PEERS") or "ik_llama llamacpp"  -- set but empty: no peer
local VENV = env("PEERS_VENV", ".venv-peers")
local LUA = env("LUA", "lua5.4")
local LUA_STEPS = env("BENCH_LUA_STEPS", "64")
local PROMPT = tonumber(env("BENCH_PROMPT", "512"))
local GEN = tonumber(env("BENCH_GEN", "128"))
local STEPS = tonumber(env("BENCH_STEPS", "32"))
local WAIT = tonumber(env("BENCH_WAIT", "0"))
local ROUNDS = tonumber(env("BENCH_ROUNDS", "3"))
local ONCE = " " .. (os.getenv("BENCH_ONCE") or "llamacpp") .. " "   -- set but empty: none
local ONE_ROUND = " " .. (os.getenv("BENCH_ONE_ROUND") or "q8_0") .. " "  -- set but empty: none
local LONG_PEERS = " " .. (os.getenv("BENCH_LONG_PEERS") or "ik_llama") .. " "  -- empty: none
local OPTIONAL = " " .. (os.getenv("BENCH_OPTIONAL") or "llamacpp") .. " "  -- empty: none
local BUDGET = tonumber(env("BENCH_BUDGET", "1140"))
local START = os.time()
local T0 = tonumber(env("BENCH_T0", tostring(START)))  -- make's start: its build counts too
local failed = 0            -- runs that failed: the exit status says so
local bandwidths = {}       -- every read bandwidth measured, GB/s

local function words(s)
  local out = {}
  for w in s:gmatch("[^%s]+") do out[#out + 1] = w end
  return out
end

-- True when w is one of the words of list, a setting padded with a space at each end.
local function listed(list, w)
  return list:find(" " .. w .. " ", 1, true) ~= nil
end

-- True when v is a whole number, at least min, small enough to print with %d.
local function whole(v, min)
  return math.type(v) ~= nil and v == v and v >= min and v < 2^31 and v % 1 == 0
end

-- The files of BENCH_LONG_FILES, each with its cap ("q4_k_m:4096"; "" when it has none).
local function long_files()
  local out = {}
  for _, w in ipairs(words(LONG_FILES)) do
    local name, cap = w:match("^([^:]*):?(.*)$")
    out[#out + 1] = { name = name, cap = cap }
  end
  return out
end

-- The long contexts of a file as bench_qora's -c takes them ("4096,16384"), nil for none:
-- BENCH_LONG's, if BENCH_LONG_FILES names the file, up to the cap it gives the file if any.
local function long_contexts(name)
  for _, lf in ipairs(long_files()) do
    if lf.name == name then
      local out, cap = {}, tonumber(lf.cap)
      for c in LONG:gmatch("[^,%s]+") do
        -- Not a number: kept, for bench_qora to refuse it.
        if not cap or not tonumber(c) or tonumber(c) <= cap then out[#out + 1] = c end
      end
      return #out > 0 and table.concat(out, ",") or nil
    end
  end
  return nil
end

local function say(fmt, ...)
  io.stderr:write(string.format("[bench %4ds] " .. fmt .. "\n", os.time() - START, ...))
end

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

local function clock()
  -- Wall seconds with sub-second precision, from date(1); os.clock counts CPU time only.
  local p = io.popen("date +%s.%N")
  local t = tonumber(p:read("l"))
  p:close()
  return t
end

-- Runs a shell command; returns its stdout lines and whether it succeeded.
local function run(cmd)
  local p = io.popen(cmd)
  local lines = {}
  for l in p:lines() do lines[#lines + 1] = l end
  local ok = p:close()
  return lines, ok
end

-- Decodes one flat JSON object of numbers, strings, booleans and nulls (what our tools print).
local function decode(line)
  if not line:match("^%s*{.*}%s*$") then return nil end
  local obj = {}
  for k, v in line:gmatch('"([%w_]+)"%s*:%s*"([^"]*)"') do obj[k] = v end
  for k, v in line:gmatch('"([%w_]+)"%s*:%s*([%-%d%.eE+]+)') do obj[k] = tonumber(v) end
  return obj
end

local function encode(obj, order)
  local parts = {}
  for _, k in ipairs(order) do
    local v = obj[k]
    if v ~= nil then
      if type(v) == "string" then
        v = '"' .. v .. '"'
      elseif math.type(v) == "float" then
        v = string.format("%.4g", v)
      end
      parts[#parts + 1] = string.format('"%s": %s', k, tostring(v))
    end
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

-- Reads a file through once so every implementation loads it from the page cache.
local function warm(path)
  local f = io.open(path, "rb")
  if not f then return end
  while f:read(1 << 24) do end
  f:close()
end

-- Share of the cores busy over one second, from /proc/stat (nil where there is none).
local function busy()
  local function sample()
    local f = io.open("/proc/stat")
    if not f then return nil end
    local line = f:read("l")
    f:close()
    local n, total, idle = 0, 0, 0
    for v in line:gmatch("%d+") do
      n = n + 1
      total = total + tonumber(v)
      if n == 4 or n == 5 then idle = idle + tonumber(v) end  -- idle, iowait
    end
    return total, idle
  end
  local t1, i1 = sample()
  if not t1 then return nil end
  os.execute("sleep 1")
  local t2, i2 = sample()
  return t2 > t1 and 1 - (i2 - i1) / (t2 - t1) or 0
end

-- Waits (up to BENCH_WAIT seconds) for the cores to be idle, and says when they are not:
-- other work on the machine slows every implementation, the peers' spinning threads most.
local function quiet()
  local deadline = os.time() + WAIT
  local b = busy()
  while b and b > 0.1 and os.time() < deadline do
    os.execute("sleep 4")
    b = busy()
  end
  if b and b > 0.1 then
    say("warning: the cores are %.0f%% busy with other work before this run", 100 * b)
  end
end

---------------------------------------------------------------------------- steps

local function make_files()
  local missing = {}
  for _, name in ipairs(words(FILES)) do
    local f = io.open(DIR .. "/smollm3-3b-" .. name .. ".gguf", "rb")
    if f then f:close() else missing[#missing + 1] = name end
  end
  if #missing == 0 then return true end
  if VOCAB == "" or not io.open(VOCAB, "rb") then
    say("cannot make %s: set BENCH_VOCAB to the Llama 3 vocabulary GGUF (llama3-vocab.gguf)",
        table.concat(missing, " "))
    return false
  end
  local t0 = clock()
  local _, ok = run(string.format("build/tools/bench_gguf -v %s -o %s %s", quote(VOCAB),
                                  quote(DIR), table.concat(missing, " ")))
  say("made %s in %.0f s", table.concat(missing, " "), clock() - t0)
  return ok
end

local function install_peers()
  if PEERS == "" then return {} end
  local t0 = clock()
  run(string.format("PEERS=%s sh bench/peers-install.sh %s >&2", quote(PEERS), quote(VENV)))
  local have = {}
  for _, p in ipairs(words(PEERS)) do
    local _, ok = run(string.format("%s/bin/python bench/peers.py --check %s 2>/dev/null",
                                    quote(VENV), p))
    if ok then have[#have + 1] = p else say("peer %s is not importable; left out", p) end
  end
  say("peers ready in %.0f s: %s", clock() - t0, table.concat(have, " "))
  return have
end

local function bandwidth()
  quiet()
  -- 2 GiB: more than the Q4 files, so a large last-level cache cannot flatter the figure.
  local lines = run(string.format("build/tools/membw -t %d -m 2048", THREADS))
  local gbs = tonumber((lines[1] or ""):match("([%d%.]+) GB/s"))
  say("%s", lines[1] or "membw failed")
  return gbs
end

local function tensor_bytes(path)
  local lines = run("build/tools/bench_gguf -i " .. quote(path))
  local obj = decode(lines[1] or "")
  return obj and obj.tensor_bytes
end

-- Runs one implementation on one file; returns its JSON objects keyed by context.
local function measure(impl, path, long)
  local log = string.format("%s/logs/%s-%s.log", DIR, impl, path:match("([^/]+)%.gguf$"))
  local cmd
  -- A long run's figures at the prompt's context are not kept: generating nothing there
  -- (-n 0, --gen 0) instead of GEN saves 10 to 25 s a run (the peers decode at 3 to 8
  -- tokens/s); the prompt's cached rows are what a copy fill repeats.
  local gen = long and 0 or GEN
  if impl == "qora" then
    cmd = string.format("build/tools/bench_qora -m %s -t %d -p %d -n %d -s %d%s", quote(path),
                        THREADS, PROMPT, gen, STEPS,
                        long and " -c " .. long .. " -f " .. FILL or "")
  else
    cmd = string.format("%s/bin/python bench/peers.py --peer %s --file %s --threads %d "
                        .. "--prompt %d --gen %d --steps %d%s", quote(VENV), impl, quote(path),
                        THREADS, PROMPT, gen, STEPS,
                        long and " --ctx " .. long .. " --fill " .. FILL or "")
  end
  warm(path)
  local bw = impl == "qora" and bandwidth() or nil
  bandwidths[#bandwidths + 1] = bw
  quiet()
  local t0 = clock()
  local lines, ok = run(cmd .. " 2>" .. quote(log))
  local out = {}
  for _, l in ipairs(lines) do
    local obj = decode(l)
    if obj and obj.ctx then
      obj.bw_before = bw
      out[obj.ctx] = obj
    end
  end
  if not ok then failed = failed + 1 end
  say("%-8s %-22s %s in %.0f s%s", impl, path:match("[^/]+$"), ok and "done" or "FAILED",
      clock() - t0, ok and "" or " (see " .. log .. ")")
  return out
end

-- Time of session:generate and sampling per step against a bare C decode step.
local function lua_overhead(path)
  quiet()
  local lines, ok = run(string.format("%s bench/lua_overhead.lua %s %d %s 2>>%s", LUA,
                                      quote(path), THREADS, LUA_STEPS,
                                      quote(DIR .. "/logs/lua_overhead.log")))
  local obj = ok and decode(lines[#lines] or "") or nil
  if not obj then
    failed = failed + 1
    say("Lua overhead not measured (see %s/logs/lua_overhead.log)", DIR)
  end
  return obj
end

-- Keeps in best the better of its figures and those of obj, the run of the same
-- implementation, file and context in the given round; counts the rounds and keeps each
-- round's generation rate in gen_by_round and the bandwidth measured before it in bw_by_round.
local function keep_best(best, obj, round)
  if not best then
    obj.rounds, obj.gen_by_round, obj.bw_by_round = 1, {}, {}
    best = obj
  else
    best.rounds = best.rounds + 1
  end
  best.gen_by_round[round], best.bw_by_round[round] = obj.gen_tps, obj.bw_before
  if best == obj then return best end
  for f, better in pairs({ prompt_tps = math.max, gen_tps = math.max, fill_tps = math.max,
                           load_s = math.min, load_raw_s = math.min, peak_rss_mb = math.max }) do
    if obj[f] then best[f] = best[f] and better(best[f], obj[f]) or obj[f] end
  end
  return best
end

-- The implementations of a round that runs(impl) keeps, in turn: all of them in the first,
-- then all but BENCH_ONCE's, the order reversed from one round to the next.
local function in_turn(impls, round, runs)
  local out = {}
  for i = 1, #impls do
    local impl = impls[round % 2 == 1 and i or #impls + 1 - i]
    if (round == 1 or not listed(ONCE, impl)) and runs(impl) then out[#out + 1] = impl end
  end
  return out
end

-- The implementations of one round of file f at the prompt's context, in turn; none whose
-- first-round run on f waits for the budget (f.waiting) or was left out.
local function round_impls(f, impls, round)
  return in_turn(impls, round, function(impl) return not f.waiting[impl] end)
end

-- The implementations of one round of a file's long rows, in turn: qora and BENCH_LONG_PEERS.
local function long_impls(impls, round)
  return in_turn(impls, round, function(impl)
    return impl == "qora" or listed(LONG_PEERS, impl)
  end)
end

-- One implementation's run on a file at the prompt's context, in the given round: keeps its
-- best figures in f.by_ctx and, in the first round, its seconds in f.took (the budget's
-- estimates).
local function measure_turn(f, impl, round)
  local t0 = clock()
  local obj = measure(impl, f.path, nil)[PROMPT]
  if round == 1 then f.took[impl] = clock() - t0 end
  if obj then f.by_ctx[PROMPT][impl] = keep_best(f.by_ctx[PROMPT][impl], obj, round) end
end

-- One round of a file at the prompt's context.
local function measure_round(f, impls, round)
  for _, impl in ipairs(round_impls(f, impls, round)) do measure_turn(f, impl, round) end
  f.rounds = round
end

-- One round of a file's long rows, never between two runs of a round at the prompt's context,
-- so that those stay back to back; the runs' figures at the prompt's context are left out.
-- Keeps the best figures by context in f.by_ctx and, in the first round, the runs' seconds in
-- f.long_took (the budget's estimates).
local function measure_long_round(f, impls, round)
  for _, impl in ipairs(long_impls(impls, round)) do
    local t0 = clock()
    local by_ctx = measure(impl, f.path, f.long)
    if round == 1 then f.long_took[impl] = clock() - t0 end
    for ctx, obj in pairs(by_ctx) do
      if ctx ~= PROMPT then
        f.by_ctx[ctx] = f.by_ctx[ctx] or {}
        f.by_ctx[ctx][impl] = keep_best(f.by_ctx[ctx][impl], obj, round)
      end
    end
  end
  f.long_rounds = round
end

-- Seconds kept for the Lua overhead measurement, which follows the extra rounds: 3 x
-- BENCH_LUA_STEPS steps on Q4_0, a quarter slower than qora's decode there (the slowest qora
-- decode measured if Q4_0 was not), plus a load and three 64-token prompts, which 15 s covers
-- on 2 cores; 60 s without any qora figure.
local function lua_reserve(files)
  local rate
  for _, f in ipairs(files) do
    local q = f.by_ctx[PROMPT].qora
    if q and q.gen_tps and q.gen_tps > 0 then
      rate = f.name == "q4_0" and q.gen_tps or math.min(rate or math.huge, q.gen_tps)
      if f.name == "q4_0" then break end
    end
  end
  return rate and 15 + 1.25 * 3 * tonumber(LUA_STEPS) / rate or 60
end

-- The extra rounds under BENCH_BUDGET, in the order budget.extra_rounds gives, each while
-- what its runs took in their first round fits; the first that does not ends them, having said
-- so, and the rest are left out.
local function extra_rounds(impls, files)
  for _, r in ipairs(budget.extra_rounds(files)) do
    local f, kind = r.file, r.long and "long round" or "round"
    local took, turn = f.took, round_impls(f, impls, r.round)
    if r.long then took, turn = f.long_took, long_impls(impls, r.round) end
    local need = budget.round_seconds(took, turn)
    local elapsed, reserve = os.time() - T0, lua_reserve(files)
    if not budget.fits(BUDGET, elapsed, need, reserve) then
      say("BENCH_BUDGET %d s: %d s since make bench started; %s %d of %s needs about %.0f s "
          .. "and the Lua overhead %.0f s: no more rounds", BUDGET, elapsed, kind, r.round,
          f.name, need * budget.SLACK, reserve)
      return
    end
    if r.long then measure_long_round(f, impls, r.round) else measure_round(f, impls, r.round) end
  end
end

-- The first-round runs that waited (f.waiting), file by file, each where what the same
-- implementation took on the first file fits in BENCH_BUDGET; those that do not stay waiting
-- and are left out.
local function waiting_runs(impls, files)
  for _, f in ipairs(files) do
    for _, impl in ipairs(impls) do
      if f.waiting[impl] then
        local elapsed, reserve = os.time() - T0, lua_reserve(files)
        local fits, need = budget.run_fits(BUDGET, elapsed, files[1].took, impl, reserve)
        if fits then
          f.waiting[impl] = nil
          measure_turn(f, impl, 1)
        else
          say("BENCH_BUDGET %d s: %d s since make bench started; %s on %s needs about %.0f s "
              .. "and the Lua overhead %.0f s: left out", BUDGET, elapsed, impl, f.name, need,
              reserve)
        end
      end
    end
  end
end

-- The note that says which runs and rounds BENCH_BUDGET left out, nil if none.
local function cut_note(impls, files)
  local cut, runs = {}, {}
  for _, f in ipairs(files) do
    if f.rounds < f.planned then
      cut[#cut + 1] = { file = f.name, from = f.rounds + 1, to = f.planned }
    end
    for _, impl in ipairs(impls) do
      if f.waiting[impl] then runs[#runs + 1] = { impl = impl, file = f.name } end
    end
  end
  for _, f in ipairs(files) do
    if f.long_rounds < f.long_planned then
      cut[#cut + 1] = { file = f.name, from = f.long_rounds + 1, to = f.long_planned, long = true }
    end
  end
  return budget.cut_line(BUDGET, cut, runs)
end

-- A file to measure: { name, path, by_ctx = figures by context and implementation, rounds and
-- long_rounds = rounds run at the prompt's context and of the long rows, planned and
-- long_planned = rounds wanted, took and long_took = seconds of each implementation's first
-- run, long = its long contexts, waiting = its first-round runs that wait for the budget }.
local function new_file(i, name, impls)
  local f = { name = name, path = DIR .. "/smollm3-3b-" .. name .. ".gguf", rounds = 0,
              planned = listed(ONE_ROUND, name) and 1 or ROUNDS, took = {},
              long = long_contexts(name), long_rounds = 0, long_took = {},
              by_ctx = { [PROMPT] = {} }, waiting = {} }
  f.long_planned = f.long and f.planned or 0
  for _, impl in ipairs(impls) do
    f.waiting[impl] = BUDGET > 0 and i > 1 and listed(OPTIONAL, impl) or nil
  end
  return f
end

-- Every file measured, in BENCH_FILES order (new_file); and the note that says which runs and
-- rounds BENCH_BUDGET left out, nil if none.
local function measure_all(impls)
  local files = {}
  for i, name in ipairs(words(FILES)) do
    local f = new_file(i, name, impls)
    files[#files + 1] = f
    measure_round(f, impls, 1)
    -- With no budget a file has all its rounds at the prompt's context, then all its long
    -- rounds; under one, its first round and first long round, the rest after every file's.
    for round = 2, BUDGET == 0 and f.planned or 1 do measure_round(f, impls, round) end
    for round = 1, BUDGET == 0 and f.long_planned or math.min(f.long_planned, 1) do
      measure_long_round(f, impls, round)
    end
  end
  -- Under a budget every file has had its first round (but for the waiting runs) and long
  -- rows before the waiting runs, and those before any extra round.
  waiting_runs(impls, files)
  if BUDGET > 0 then extra_rounds(impls, files) end
  local note = cut_note(impls, files)
  if note then say("%s", note) end
  return files, note
end

---------------------------------------------------------------------------- report

local ROW_KEYS = { "file", "ctx", "threads", "rounds", "load_s", "load_raw_s", "prompt_tps",
                   "gen_tps", "fill", "fill_tps", "peak_rss_mb", "weights_kv_mb", "rss_over_mb",
                   "ceiling_tps", "gen_pct_of_ceiling", "gen_pct_of_adjacent_ceiling",
                   "bandwidth_gbs", "decode_bytes" }

-- The median of f(a[round], b[round]) over the rounds where both are known, and the number of
-- such rounds; nil when there is none.
local function median_over_rounds(a, b, f)
  local v = {}
  for round, x in pairs(a or {}) do
    local y = (b or {})[round]
    if x and y and y > 0 then v[#v + 1] = f(x, y) end
  end
  if #v == 0 then return nil end
  table.sort(v)
  local mid = (#v + 1) / 2
  return (v[math.floor(mid)] + v[math.ceil(mid)]) / 2, #v
end

local function ratio(x, y) return x / y end

-- Merges the implementations' figures for one file and context into one flat record; steps
-- is the number of timed decode steps after ctx cached tokens.
local function record(file, ctx, gbs, bytes, by_impl, peers, steps)
  local q = by_impl.qora or {}
  local r = { file = file, ctx = ctx, threads = THREADS, rounds = q.rounds, load_s = q.load_s,
              load_raw_s = q.load_raw_s, prompt_tps = q.prompt_tps, gen_tps = q.gen_tps,
              fill = q.fill, fill_tps = q.fill_tps,
              peak_rss_mb = q.peak_rss_mb, bandwidth_gbs = gbs }
  if bytes and gbs then
    -- Cached tokens average ctx + steps / 2 over the timed steps.
    r.decode_bytes = math.floor(bytes + KV_BYTES_PER_TOKEN * (ctx + steps / 2))
    r.ceiling_tps = gbs * 1e9 / r.decode_bytes
    if r.gen_tps then r.gen_pct_of_ceiling = 100 * r.gen_tps / r.ceiling_tps end
    r.gen_pct_of_adjacent_ceiling = median_over_rounds(q.gen_by_round, q.bw_by_round,
      function(g, bw) return 100 * g * r.decode_bytes / (bw * 1e9) end)
  end
  if bytes and q.peak_rss_mb then
    -- The issue's memory budget: weights and the cache rows written so far, + 100 MB.
    r.weights_kv_mb = (bytes + KV_BYTES_PER_TOKEN * (ctx + steps)) / (1 << 20)
    r.rss_over_mb = q.peak_rss_mb - r.weights_kv_mb
  end
  local keys = { table.unpack(ROW_KEYS) }
  for _, p in ipairs(peers) do
    local o = by_impl[p] or {}
    for _, f in ipairs({ "load_s", "prompt_tps", "gen_tps", "fill", "fill_tps",
                         "peak_rss_mb" }) do
      r[p .. "_" .. f] = o[f]
      keys[#keys + 1] = p .. "_" .. f
    end
    for _, f in ipairs({ "prompt", "gen" }) do
      local a, b = r[f .. "_tps"], o[f .. "_tps"]
      if a and b then r[f .. "_vs_" .. p] = a / b end
      keys[#keys + 1] = f .. "_vs_" .. p
    end
    r["gen_vs_" .. p .. "_paired"], r["paired_rounds_" .. p] =
      median_over_rounds(q.gen_by_round, o.gen_by_round, ratio)
    keys[#keys + 1] = "gen_vs_" .. p .. "_paired"
    keys[#keys + 1] = "paired_rounds_" .. p
  end
  return r, keys
end

local function cell(v, fmt)
  if v == nil then return "-" end
  return string.format(fmt, v)
end

local function table_row(r, peers)
  local s = string.format("%-22s %6d %6s %6s %8s %7s %6s %6s %5s %7s %5s", r.file, r.ctx,
                          cell(r.load_s, "%.2f"), cell(r.load_raw_s, "%.2f"),
                          cell(r.prompt_tps or r.fill_tps, "%.1f"), cell(r.gen_tps, "%.2f"),
                          cell(r.ceiling_tps, "%.1f"), cell(r.gen_pct_of_ceiling, "%.0f%%"),
                          cell(r.gen_pct_of_adjacent_ceiling, "%.0f%%"),
                          cell(r.peak_rss_mb, "%.0f"), cell(r.rss_over_mb, "%.0f"))
  for _, p in ipairs(peers) do
    s = s .. string.format(" | %7s %6s %5s %5s %5s", cell(r[p .. "_prompt_tps"], "%.1f"),
                           cell(r[p .. "_gen_tps"], "%.2f"),
                           cell(r["prompt_vs_" .. p], "%.2f"), cell(r["gen_vs_" .. p], "%.2f"),
                           cell(r["gen_vs_" .. p .. "_paired"], "%.2f"))
  end
  return s
end

-- How the long rows' caches were filled, naming any run whose fill differs from BENCH_FILL
-- (peers.py evaluates where it cannot copy a peer's cache); nil without long rows.
local function fill_line(records, peers)
  local odd, any = {}, false
  for _, r in ipairs(records) do
    for _, impl in ipairs({ "qora", table.unpack(peers) }) do
      local how = r[impl == "qora" and "fill" or impl .. "_fill"]
      any = any or how ~= nil
      if how and how ~= FILL then odd[#odd + 1] = string.format("%s at %d", impl, r.ctx) end
    end
  end
  if not any then return nil end
  local line = FILL == "copy"
    and string.format("long rows: the K and V rows cached so far repeated up to ctx, nothing "
        .. "more evaluated: the %d prompt tokens' at the first, those up to the one before and "
        .. "its steps at the others (BENCH_FILL=eval evaluates every token)", PROMPT)
    or "long rows: every token up to ctx evaluated (BENCH_FILL=copy repeats cached rows)"
  if #odd > 0 then
    line = line .. string.format("; filled the other way: %s", table.concat(odd, ", "))
  end
  return line
end

-- How many rounds the files had, by count(f): "best of 3 rounds" ("one round" when none had
-- more), then "; q4_k_m: 2 rounds" for the files with fewer, grouped by their number, in file
-- order; and the most.
local function rounds_text(files, count)
  local most, fewer, counts = 0, {}, {}
  for _, f in ipairs(files) do most = math.max(most, count(f)) end
  for _, f in ipairs(files) do
    local n = count(f)
    if n < most then
      if not fewer[n] then counts[#counts + 1], fewer[n] = n, {} end
      table.insert(fewer[n], f.name)
    end
  end
  local tail = ""
  for _, n in ipairs(counts) do
    tail = tail .. string.format("; %s: %s", table.concat(fewer[n], ", "),
                                 n == 1 and "one round" or n .. " rounds")
  end
  return most <= 1 and "one round" or string.format("best of %d rounds", most), tail, most
end

-- " (llamacpp: one)": those of impls measured in the first round only (BENCH_ONCE).
local function once_text(impls)
  local once = {}
  for _, p in ipairs(impls) do
    if listed(ONCE, p) then once[#once + 1] = p end
  end
  return #once > 0 and " (" .. table.concat(once, ", ") .. ": one)" or ""
end

-- The note on the rounds, with the number each file really had at the prompt's context and
-- at the long contexts: fewer than BENCH_ROUNDS in BENCH_ONE_ROUND or where BENCH_BUDGET left
-- rounds out.
local function rounds_line(files, peers)
  local impls = { "qora", table.unpack(peers) }
  local head, tail, most = rounds_text(files, function(f) return f.rounds end)
  local line
  if most <= 1 then
    local cut, single = false, false
    for _, f in ipairs(files) do
      cut, single = cut or f.rounds < f.planned, single or listed(ONE_ROUND, f.name)
    end
    local why = cut and (single and "BENCH_ONE_ROUND, BENCH_BUDGET" or "BENCH_BUDGET")
      or "BENCH_ONE_ROUND"
    line = string.format("rows at ctx %d: one round (%s)", PROMPT, why)
  else
    line = string.format("rows at ctx %d: %s%s%s, implementations taking turns", PROMPT, head,
                         once_text(impls), tail)
  end
  local long = {}
  for _, f in ipairs(files) do long[#long + 1] = f.long and f or nil end
  if #long == 0 then return line end
  head, tail, most = rounds_text(long, function(f) return f.long_rounds end)
  if most <= 1 then return line .. "; long rows: once" end
  return string.format("%s; long rows: %s%s%s", line, head, once_text(long_impls(impls, 1)),
                       tail)
end

-- Prints the notes and the table; files are the files measured (measure_all) and note what
-- BENCH_BUDGET left out.
local function print_table(records, peers, files, note)
  local head = string.format("%-22s %6s %6s %6s %8s %7s %6s %6s %5s %7s %5s", "file", "ctx",
                             "load_s", "raw_s", "prompt", "gen", "ceil", "%ceil", "%adj",
                             "rss_mb", "over")
  for _, p in ipairs(peers) do
    head = head .. string.format(" | %-32s", p .. ": prompt gen  p/x  g/x  pair")
  end
  print(string.format("qora, %d threads; tokens/s; ceiling = bandwidth / bytes read per decode "
                      .. "step%s", THREADS, #peers > 0 and "; p/x, g/x = qora / peer, best "
                      .. "against best; pair = median over the rounds of qora's gen / the "
                      .. "peer's in the same round" or ""))
  print(string.format("prompt: %d tokens in one batch, or on long rows filled by evaluation "
                      .. "the fill rate; gen: decode steps after ctx cached tokens", PROMPT))
  if ROUNDS > 1 then print(rounds_line(files, peers)) end
  if note then print(note) end
  local fills = fill_line(records, peers)
  if fills then print(fills) end
  print("ceil: from the best bandwidth of the run; %adj: gen against the bandwidth measured "
        .. "just before the same run, median over the rounds")
  print("load_s: to a session ready to run, repacking included; raw_s: keeping the stored "
        .. "layout; over: peak RSS - weights - KV rows written (MB)")
  print(head)
  for _, r in ipairs(records) do print(table_row(r, peers)) end
end

---------------------------------------------------------------------------- main

local function main()
  if FILL ~= "copy" and FILL ~= "eval" then
    say("BENCH_FILL must be copy or eval, not %q", FILL)
    os.exit(1)
  end
  for _, s in ipairs({ { "BENCH_ROUNDS", ROUNDS, 1 }, { "BENCH_THREADS", THREADS, 1 },
                       { "BENCH_PROMPT", PROMPT, 1 }, { "BENCH_GEN", GEN, 1 },
                       { "BENCH_STEPS", STEPS, 1 }, { "BENCH_LUA_STEPS", tonumber(LUA_STEPS), 1 },
                       { "BENCH_WAIT", WAIT, 0 }, { "BENCH_BUDGET", BUDGET, 0 },
                       { "BENCH_T0", T0, 0 } }) do
    local name, v, min = table.unpack(s)
    if not whole(v, min) then
      say("%s must be a whole number of at least %d, not %q", name, min, env(name, ""))
      os.exit(1)
    end
  end
  for _, lf in ipairs(long_files()) do
    if lf.name == "" or (lf.cap ~= "" and not whole(tonumber(lf.cap), 1)) then
      say("BENCH_LONG_FILES: %q is not a file, or a file:context such as q4_k_m:4096",
          lf.name .. (lf.cap ~= "" and ":" .. lf.cap or ""))
      os.exit(1)
    end
  end
  os.execute("mkdir -p " .. quote(DIR .. "/logs"))
  if not make_files() then os.exit(1) end
  local peers = install_peers()
  local measured, note = measure_all({ "qora", table.unpack(peers) })
  local gbs, n_gbs = 0, 0
  for _, bw in ipairs(bandwidths) do gbs, n_gbs = math.max(gbs, bw), n_gbs + 1 end
  gbs = n_gbs > 0 and gbs or nil
  say("read bandwidth for the ceilings: %s", gbs and string.format("%.2f GB/s, the best of "
      .. "%d measurement%s", gbs, n_gbs, n_gbs > 1 and "s" or "") or "not measured")
  local records, lines = {}, {}
  for _, m in ipairs(measured) do
    local ctxs, bytes = {}, tensor_bytes(m.path)
    for ctx in pairs(m.by_ctx) do ctxs[#ctxs + 1] = ctx end
    table.sort(ctxs)
    for i, ctx in ipairs(ctxs) do
      local r, keys = record(m.path:match("[^/]+$"), ctx, gbs, bytes, m.by_ctx[ctx], peers,
                             i == 1 and GEN or STEPS)
      records[#records + 1] = r
      lines[#lines + 1] = encode(r, keys)
    end
  end
  local lo = lua_overhead(DIR .. "/smollm3-3b-q4_0.gguf")
  say("whole run: %d s%s", os.time() - START, BUDGET > 0
      and string.format(", %d s since make bench started", os.time() - T0) or "")
  print_table(records, peers, measured, note)
  if lo then
    print(string.format("Lua overhead: %.3f ms per step over a %.1f ms C decode step (%.2f %%); "
                        .. "with temperature and top-p sampling %.3f ms (%.2f %%)",
                        lo.lua_overhead_ms or 0, lo.c_step_ms or 0, lo.lua_overhead_pct or 0,
                        lo.sampled_overhead_ms or 0, lo.sampled_overhead_pct or 0))
  end
  print()
  for _, l in ipairs(lines) do print(l) end
  if lo then print(encode(lo, { "file", "threads", "c_step_ms", "lua_step_ms",
                                "lua_overhead_ms", "lua_overhead_pct", "sampled_overhead_ms",
                                "sampled_overhead_pct", "steps" })) end
  if failed > 0 then
    say("%d run(s) failed; see the logs in %s/logs", failed, DIR)
    os.exit(1)
  end
end

main()
