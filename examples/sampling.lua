-- A sampling policy of one's own, chained from qora.sampling's steps, and a look at the
-- candidates it leaves: `lua5.4 examples/sampling.lua [MODEL.gguf]`.
local qora = require("qora")
local sampling = require("qora.sampling")

local path = arg[1] or "models/SmolLM2-135M-Instruct.Q4_1.gguf"
local model, err = qora.load(path)
if not model then   -- a file that cannot be loaded: say why, without a traceback
  io.stderr:write(err, "\n", arg[1] and "" or "(the default model's path is relative: run it "
                  .. "from the qora checkout, or give a model path)\n")
  os.exit(1)
end
local s = model:session({ ctx = 256 })
s:eval(model:tokenize("The three primary colours are"))

-- the five most likely next tokens, with their probabilities
local c = s:candidates():top_k(5):softmax()
for i = 1, c:count() do
  local id, logit, prob = c:get(i)
  print(("%6d %-14s logit %6.2f  p %.3f"):format(id, ("%q"):format((model:token(id))), logit,
                                                  prob))
end

-- penalise repeats over the last 32 tokens, keep 20, flatten a little, draw with a seed
local policy = sampling.chain({
  sampling.penalties({ repeat_penalty = 1.3, last_n = 32 }),
  sampling.top_k(20),
  sampling.temperature(0.9),
  sampling.dist(7),
})
for _, piece in s:generate({ max_tokens = 20, sampler = policy }) do
  io.write(piece)
end
io.write("\n")
