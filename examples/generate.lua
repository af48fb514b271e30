-- Streams a raw completion, then continues it: `lua5.4 examples/generate.lua [MODEL.gguf]`
-- (from the source tree: make, then LUA_PATH/LUA_CPATH as `make run` sets them).
local qora = require("qora")
local sampling = require("qora.sampling")

local path = arg[1] or "models/SmolLM2-135M-Instruct.Q4_1.gguf"
local model, err = qora.load(path, { threads = 2 })
if not model then   -- a file that cannot be loaded: say why, without a traceback
  io.stderr:write(err, "\n", arg[1] and "" or "(the default model's path is relative: run it "
                  .. "from the qora checkout, or give a model path)\n")
  os.exit(1)
end
print(("%s: %s, %d layers, %d parameters"):format(path, model.info.arch, model.info.n_layer,
                                                  model.info.n_params))

local s = model:session({ ctx = 512 })
local policy = sampling.new({ temperature = 0.7, top_p = 0.9, seed = 42 })
io.write("Once upon a time")
for _, piece in s:generate({ prompt = "Once upon a time", max_tokens = 24, sampler = policy }) do
  io.write(piece)
  io.flush()
end

-- the session still holds everything: go on from where it stopped, greedily this time
for _, piece in s:generate({ max_tokens = 16, sampler = sampling.greedy() }) do
  io.write(piece)
end
print(("\n[%d tokens in the cache; %.1f tokens/s]"):format(s:pos(),
                                                          s.stats.tokens / s.stats.seconds))
