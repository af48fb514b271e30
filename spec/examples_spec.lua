-- The examples run to their end (on the tiny model, so that they stay quick).
local S = dofile("spec/support.lua")

local function run(script, stdin)
  return S.sh(("lua5.4 examples/%s %s"):format(script, S.tiny("q8_0")), stdin)
end

describe("examples", function()
  for _, case in ipairs({ { "generate.lua" }, { "sampling.lua" }, { "scheduler.lua" },
                          { "chat.lua", "Hello\nWhat now?\n\n" } }) do
    it(case[1] .. " runs", function()
      local out, err, code = run(case[1], case[2])
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.truthy(#out > 0)
    end)
  end
end)

describe("examples/chat.lua", function()
  it("ends its last prompt with a newline when the input ends (Ctrl-D)", function()
    local out, err, code = run("chat.lua", "Hello\n")
    assert.equal(0, code, err)
    assert.equal("> \n", out:sub(-3))
  end)
end)
