-- The qora command, run as a separate process (lua5.4 bin/qora ...): stdout, stderr, exit code.
local S = dofile("spec/support.lua")
local qora = require("qora")

local function quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs bin/qora with args (and stdin text, if given); returns stdout, stderr, exit code.
local function run(args, stdin)
  local err_path = os.tmpname()
  local cmd = { "lua5.4", "bin/qora" }
  for _, a in ipairs(args) do
    cmd[#cmd + 1] = quote(a)
  end
  local line = table.concat(cmd, " ") .. " 2>" .. err_path
  if stdin then
    line = "printf '%s' " .. quote(stdin) .. " | " .. line
  else
    line = line .. " </dev/null"
  end
  local p = assert(io.popen(line, "r"))
  local out = p:read("a")
  local _, _, code = p:close()
  local err = S.read(err_path)
  os.remove(err_path)
  return out, err, code
end

local TINY = S.tiny("f32")
local RAW = S.read(S.TINY .. "prompts/raw.txt")

describe("qora command", function()
  it("prints its usage with --help and exits 0", function()
    local out, err, code = run({ "--help" })
    assert.equal(0, code)
    assert.truthy(out:find("^Usage: qora"))
    for _, flag in ipairs({ "--load", "--prompt", "--max-tokens", "--no-think", "--greedy",
                            "--raw", "--temperature", "--top-p", "--seed", "--threads",
                            "--ctx", "--system", "--stats", "--help" }) do
      assert.truthy(out:find(flag, 1, true), flag .. " is missing from the usage")
    end
    assert.equal("", err)
  end)

  local errors = {
    { { "--bogus" }, "unknown flag --bogus" },
    { { "--load" }, "--load needs a value" },
    { { "--max-tokens", "abc" }, "--max-tokens expects a non-negative integer, got 'abc'" },
    { { "--max-tokens=-3" }, "--max-tokens expects a non-negative integer, got '-3'" },
    { { "--ctx", "0" }, "--ctx expects a positive integer, got '0'" },
    { { "--seed", "1.5" }, "--seed expects an integer, got '1.5'" },
    { { "--threads", "many" }, "--threads expects a non-negative integer, got 'many'" },
    { { "--temperature", "warm" }, "--temperature expects a number, got 'warm'" },
    { { "--temperature", "-1", "--load", TINY }, "--temperature must not be negative" },
    { { "--top-p", "1.5", "--load", TINY }, "--top-p must be from 0 to 1" },
    { { "--greedy=yes" }, "--greedy takes no value" },
    { { "stray" }, "unexpected argument 'stray'" },
    { { "--model-path", "/nonexistent-folder", "--prompt", "hi" }, "/nonexistent-folder" },
    { { "--prompt", "hi" }, "--load PATH is required" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi" }, "/nonexistent.gguf" },
    { { "--load", TINY }, "no prompt" },
    { { "--load", TINY, "--raw", "--system", "x", "--prompt", "hi" }, "--system" },
    { { "--load", S.VOCAB, "--prompt", "hi", "--raw" }, "without weights" },
  }
  for _, case in ipairs(errors) do
    it("fails with a message naming the problem: " .. table.concat(case[1], " "), function()
      local out, err, code = run(case[1])
      assert.equal(1, code)
      assert.equal("", out)
      assert.truthy(err:find("^qora: "), "stderr: " .. err)
      assert.truthy(err:find(case[2], 1, true), "stderr: " .. err)
    end)
  end

  -- What the library streams for the same request; its ids are checked against llama.cpp's
  -- in generate_spec.lua, so this checks that the command passes on every piece unchanged.
  local function library_text(prompt_text, n)
    local m = assert(qora.load(TINY))
    local s = m:session()
    local ids, text = S.collect(s:generate({ prompt = prompt_text, max_tokens = n }))
    S.same_ids(table.move(S.read_ids(S.TINY .. "greedy/f32_raw.ids"), 1, n, 1, {}), ids)
    return text
  end

  it("streams the greedy continuation of a raw prompt as valid UTF-8", function()
    local out, err, code = run({ "--load", TINY, "--raw", "--greedy", "--max-tokens=32",
                                 "--prompt", RAW, "--threads", "1" })
    assert.equal(0, code, err)
    assert.truthy(utf8.len(out), "stdout is not valid UTF-8")
    assert.equal(library_text(RAW, 32) .. "\n", out)
  end)

  it("reads the prompt from stdin when it is not a terminal", function()
    local out, err, code = run({ "--load", TINY, "--raw", "--greedy", "--max-tokens", "20" }, RAW)
    assert.equal(0, code, err)
    assert.equal(library_text(RAW, 20) .. "\n", out)
  end)

  it("reports timings on stderr with --stats", function()
    local out, err, code = run({ "--load", TINY, "--raw", "--max-tokens", "5", "--prompt", RAW,
                                 "--stats", "--seed", "3", "--ctx", "128" })
    assert.equal(0, code)
    assert.truthy(#out > 0)
    assert.truthy(err:find("load: [%d.]+ s"), err)
    assert.truthy(err:find("prompt: 30 tokens in [%d.]+ s, [%d.]+ tokens/s"), err)
    assert.truthy(err:find("generation: 5 tokens in [%d.]+ s, [%d.]+ tokens/s"), err)
  end)

  it("samples reproducibly for a seed", function()
    local args = { "--load", TINY, "--raw", "--max-tokens", "16", "--prompt", RAW,
                   "--temperature", "1.5", "--top-p", "1", "--seed", "11" }
    local a = run(args)
    local b = run(args)
    assert.equal(a, b)
  end)

  it("answers SmolLM2's greedy chat with a sentence naming Paris", function()
    local out, err, code = run({ "--load", S.SMOLLM2, "--greedy", "--system",
                                 "You are a helpful assistant.", "--prompt",
                                 "What is the capital of France?" })
    assert.equal(0, code, err)
    assert.truthy(out:find("Paris"), out)
  end)

  it("answers through the chat template", function()
    local out, err, code = run({ "--load", TINY, "--no-think", "--greedy", "--max-tokens", "8",
                                 "--system", "Be brief.", "--prompt", "Hello" })
    assert.equal(0, code, err)
    assert.truthy(#out > 1)
  end)
end)
