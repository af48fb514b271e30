-- The examples run to their end (on the tiny model, so that they stay quick).
local S = dofile("spec/support.lua")

local function run(script, stdin)
  local err_path = os.tmpname()
  local line = ("lua5.4 examples/%s %s 2>%s"):format(script, S.tiny("q8_0"), err_path)
  if stdin then
    line = "printf '" .. stdin .. "' | " .. line
  end
  local p = assert(io.popen(line))
  local out = p:read("a")
  local _, _, code = p:close()
  local err = S.read(err_path)
  os.remove(err_path)
  return out, err, code
end

describe("examples", function()
  for _, case in ipairs({ { "generate.lua" }, { "sampling.lua" }, { "scheduler.lua" },
                          { "chat.lua", "Hello\\nWhat now?\\n\\n" } }) do
    it(case[1] .. " runs", function()
      local out, err, code = run(case[1], case[2])
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.truthy(#out > 0)
    end)
  end
end)
