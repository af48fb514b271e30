-- A chat in the terminal: `lua5.4 examples/chat.lua [MODEL.gguf]`; an empty line ends it.
-- Each turn evaluates only the new tokens: the conversation keeps its KV cache.
local qora = require("qora")

local path = arg[1] or "models/SmolLM2-135M-Instruct.Q4_1.gguf"
local model, err = qora.load(path)
if not model then   -- a file that cannot be loaded: say why, without a traceback
  io.stderr:write(err, "\n", arg[1] and "" or "(the default model's path is relative: run it "
                  .. "from the qora checkout, or give a model path)\n")
  os.exit(1)
end
local chat = model:chat({ system = "You are a helpful assistant.", think = false })

while true do
  io.write("> ")
  io.flush()
  local line = io.read("l")
  if line == nil then io.write("\n") end  -- end of input: the terminal echoed no newline
  if line == nil or line == "" then break end
  for piece in chat:reply(line, { temperature = 0.6, top_p = 0.95, max_tokens = 256 }) do
    io.write(piece)
    io.flush()
  end
  io.write("\n")
end
