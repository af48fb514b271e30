-- Two sessions on one model, interleaved by a small round-robin scheduler of coroutines:
-- `lua5.4 examples/scheduler.lua [MODEL.gguf]`. With prefill_chunk, each generator yields to
-- the scheduler between prompt chunks, so one long prompt does not hold the other back.
local qora = require("qora")

local path = arg[1] or "models/SmolLM2-135M-Instruct.Q4_1.gguf"
local model, err = qora.load(path)
if not model then   -- a file that cannot be loaded: say why, without a traceback
  io.stderr:write(err, "\n", arg[1] and "" or "(the default model's path is relative: run it "
                  .. "from the qora checkout, or give a model path)\n")
  os.exit(1)
end

local function task(name, prompt)
  local s = model:session({ ctx = 256 })
  return coroutine.create(function()
    local out = {}
    for _, piece in s:generate({ prompt = prompt, max_tokens = 12, prefill_chunk = 4 }) do
      out[#out + 1] = piece
      coroutine.yield()  -- one token, then let the other task run
    end
    print(name .. ": " .. prompt .. table.concat(out))
  end)
end

local tasks = { task("a", "The sea is"), task("b", "In the morning, the baker") }
while #tasks > 0 do
  for i = #tasks, 1, -1 do
    assert(coroutine.resume(tasks[i]))
    if coroutine.status(tasks[i]) == "dead" then
      table.remove(tasks, i)
    end
  end
end
