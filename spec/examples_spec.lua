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

describe("examples, when the model cannot be loaded", function()
  local here = assert(io.popen("pwd")):read("l")
  local env = ("LUA_PATH=%s LUA_CPATH=%s "):format(
    S.quote(here .. "/lua/?.lua;" .. here .. "/lua/?/init.lua;;"),
    S.quote(here .. "/build/?.so;;"))

  for _, script in ipairs({ "generate.lua", "sampling.lua", "scheduler.lua", "chat.lua" }) do
    it(script .. " says why on stderr, with no traceback, and exits 1", function()
      local out, err, code = S.sh(("%slua5.4 examples/%s /nonexistent.gguf"):format(env, script))
      assert.equal(1, code, err)
      assert.equal("", out)
      assert.equal("cannot open /nonexistent.gguf: No such file or directory; give a GGUF file "
                   .. "or a Hugging Face checkpoint folder\n", err)
    end)

    it(script .. " run from elsewhere hints at running it from the checkout", function()
      local out, err, code = S.sh(("cd /tmp && %slua5.4 %s/examples/%s"):format(env, here,
                                                                             script))
      assert.equal(1, code, err)
      assert.equal("", out)
      assert.falsy(err:find("traceback", 1, true), err)
      assert.truthy(err:find("^cannot open models/SmolLM2%-135M%-Instruct%.Q4_1%.gguf: No such "
                             .. "file or directory; give a GGUF file"), err)
      assert.truthy(err:find("run it from the qora checkout, or give a model path", 1, true),
                    err)
    end)
  end
end)
