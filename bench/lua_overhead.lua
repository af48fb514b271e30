-- bench/lua_overhead.lua: what the Lua layer adds to a decode step (issue 4, item 6).
-- Times a bare decode step (the C binding's eval, one id at a time), then session:generate
-- with greedy picking and with the sampling the model's authors recommend (temperature 0.6,
-- top-p 0.95), over the full 128K vocabulary. The overhead of a generate step is its wall
-- time minus the decode time generate itself measured: candidates, sampling, streaming and
-- the iterator. Prints one JSON line.
-- usage: lua5.4 bench/lua_overhead.lua FILE [THREADS=2] [STEPS=64]
local qora = require("qora")
local sampling = require("qora.sampling")

local file, threads, steps = arg[1], tonumber(arg[2] or 2), tonumber(arg[3] or 64)
if not file or not threads or not steps then
  io.stderr:write("usage: lua5.4 bench/lua_overhead.lua FILE [THREADS] [STEPS]\n")
  os.exit(2)
end
local now = qora.core.now
local PROMPT = 64

local model = assert(qora.load(file, { threads = threads }))
local s = model:session({ ctx = PROMPT + steps + 8 })
local prompt = {}
for i = 1, PROMPT do prompt[i] = (i * 7919) % 128000 end

-- A bare decode step: the binding's eval of one id, nothing else.
local function bare()
  s:rewind(0)
  s:eval(prompt)
  local c, t = s.core, 0
  for i = 1, steps do
    local t0 = now()
    c:eval(1000 + i)
    t = t + (now() - t0)
  end
  return t / steps
end

-- One generate run; returns its wall time per step and its own decode time per step.
local function through_generate(sampler)
  s:rewind(0)
  local t0, n = now(), 0
  for _ in s:generate({ prompt = prompt, max_tokens = steps, ignore_eog = true,
                        sampler = sampler }) do
    n = n + 1
  end
  local st = s.stats
  assert(n == steps and st.tokens == steps, "generate stopped early: " .. tostring(st.stop))
  return (now() - t0 - st.prompt_seconds) / steps, st.decode_seconds / steps
end

s:eval({ 1, 2, 3, 4 })  -- warm-up: every weight read once
local c_step = bare()
local g_wall, g_decode = through_generate(sampling.greedy())
local p_wall, p_decode = through_generate(sampling.new({ temperature = 0.6, top_p = 0.95,
                                                         seed = 1 }))
local g_over, p_over = g_wall - g_decode, p_wall - p_decode
print(string.format('{"file": "%s", "threads": %d, "steps": %d, "c_step_ms": %.3f, '
                    .. '"lua_step_ms": %.3f, "lua_overhead_ms": %.4f, "lua_overhead_pct": %.3f, '
                    .. '"sampled_overhead_ms": %.4f, "sampled_overhead_pct": %.3f}',
                    file:match("[^/]+$"), threads, steps, c_step * 1e3, g_wall * 1e3,
                    g_over * 1e3, 100 * g_over / c_step, p_over * 1e3, 100 * p_over / c_step))
