-- The qora command, run as a separate process (lua5.4 bin/qora ...): stdout, stderr, exit code.
local S = dofile("spec/support.lua")
local qora = require("qora")

local quote = S.quote

local run = S.qora

local TINY = S.tiny("f32")
local RAW = S.read(S.TINY .. "prompts/raw.txt")
local CUT = S.write_temp(S.read(TINY):sub(1, 1000))  -- a model file cut short
local DIR_GGUF = S.temp_name(".gguf")                   -- a folder named as a GGUF file
assert(os.execute("mkdir " .. quote(DIR_GGUF)))
local FIFO_GGUF = S.temp_name(".gguf")                  -- a FIFO named as a GGUF file
assert(os.execute("mkfifo " .. quote(FIFO_GGUF)))
local HERE = assert(io.popen("pwd")):read("l")          -- the checkout

-- Runs `lua5.4 script --help` in dir with no Lua search path set; asserts it prints the usage.
local function help_without_paths(dir, script)
  local out, err, code = S.sh("cd " .. quote(dir) .. " && env -u LUA_PATH -u LUA_PATH_5_4 "
                              .. "-u LUA_CPATH -u LUA_CPATH_5_4 lua5.4 " .. script .. " --help")
  assert.equal(0, code, err)
  assert.truthy(out:find("^Usage: qora"))
end

describe("qora command", function()
  it("is called in the README as it runs from the checkout, not as installed", function()
    local readme = S.read("README.md")
    for cmd in readme:gmatch("`([^`\n]*)`") do
      assert.falsy(cmd:find("^qora%s"), "`" .. cmd .. "` works only after make install")
    end
    assert.falsy(readme:find("\nqora %-"), "a command line starts with qora")
  end)

  it("finds its modules beside it when run from the checkout with no LUA_PATH", function()
    help_without_paths("/tmp", quote(HERE .. "/bin/qora"))
  end)

  it("finds them through a symbolic link to it, and when run from inside bin/", function()
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. quote(dir .. "/bin") .. " && ln -s "
                      .. quote(HERE .. "/bin/qora") .. " " .. quote(dir .. "/bin/qora")))
    local ok, why = pcall(help_without_paths, "/tmp", quote(dir .. "/bin/qora"))
    os.execute("rm -rf " .. quote(dir))
    assert(ok, why)
    help_without_paths(HERE .. "/bin", "qora")
  end)

  it("takes a Lua path variable that is set but empty as unset", function()
    local out, err, code = S.sh("cd /tmp && LUA_PATH= LUA_CPATH= lua5.4 "
                                .. quote(HERE .. "/bin/qora") .. " --version")
    assert.equal(0, code, err)
    assert.equal("qora " .. qora._VERSION .. "\n", out:match("^[^\n]*\n"))

    -- installed (no lua/ beside it): an empty LUA_PATH_5_4 leaves LUA_PATH to Lua, as unset
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. quote(dir .. "/bin") .. " && cp bin/qora " ..
                      quote(dir .. "/bin/qora")))
    out, err, code = S.sh("cd /tmp && LUA_PATH_5_4= LUA_CPATH_5_4= LUA_PATH="
                          .. quote(HERE .. "/lua/?.lua;" .. HERE .. "/lua/?/init.lua;;")
                          .. " LUA_CPATH=" .. quote(HERE .. "/build/?.so;;") .. " lua5.4 "
                          .. quote(dir .. "/bin/qora") .. " --version")
    os.execute("rm -rf " .. quote(dir))
    assert.equal(0, code, err)
    assert.equal("qora " .. qora._VERSION .. "\n", out:match("^[^\n]*\n"))
  end)

  it("runs from a make install PREFIX with the README's paths, and make uninstall removes "
     .. "every file it wrote", function()
    local prefix = os.tmpname()
    os.remove(prefix)
    local make = "make -s --no-print-directory PREFIX=" .. quote(prefix)
    local _, err, code = S.sh(make .. " install")
    assert.equal(0, code, err)
    local out
    out, err, code = S.sh("cd /tmp && LUA_PATH=" .. quote(prefix .. "/share/lua/5.4/?.lua;"
                          .. prefix .. "/share/lua/5.4/?/init.lua;;") .. " LUA_CPATH="
                          .. quote(prefix .. "/lib/lua/5.4/?.so;;") .. " "
                          .. quote(prefix .. "/bin/qora") .. " --version")
    assert.equal(0, code, err)
    assert.equal("qora " .. qora._VERSION .. "\n", out:match("^[^\n]*\n"))
    _, err, code = S.sh(make .. " uninstall")
    local left = assert(io.popen("find " .. quote(prefix) .. " -type f")):read("a")
    os.execute("rm -rf " .. quote(prefix))
    assert.equal(0, code, err)
    assert.equal("", left)
  end)

  -- bin/qora copied alone into a new folder (no modules beside it), run with env set.
  local function run_alone(env)
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir -p " .. quote(dir .. "/bin") .. " && cp bin/qora " ..
                      quote(dir .. "/bin/qora")))
    local out, err, code = S.sh(env .. " lua5.4 " .. quote(dir .. "/bin/qora") .. " --help")
    os.execute("rm -rf " .. quote(dir))
    return out, err, code
  end

  it("says how to find its modules when they are nowhere to be found, and exits 1", function()
    local out, err, code = run_alone("LUA_PATH=/nonexistent/?.lua LUA_CPATH=/nonexistent/?.so")
    assert.equal(1, code)
    assert.equal("", out)
    assert.truthy(err:find("^qora: cannot load its Lua modules %(module 'qora.cli' not "
                           .. "found%);"), err)
    assert.truthy(err:find("LUA_PATH is set, and qora looks for its modules only there: "
                           .. "unset it", 1, true), err)
  end)

  it("says to run make when no LUA_PATH is set and its modules are not beside it", function()
    local out, err, code = run_alone("env -u LUA_PATH -u LUA_PATH_5_4 "
                                     .. "LUA_CPATH=/nonexistent/?.so")
    assert.equal(1, code)
    assert.equal("", out)
    assert.truthy(err:find("run `make` in the checkout", 1, true), err)
  end)

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
    { { "--bogus" }, "qora: unknown flag --bogus (see qora --help)\n" },
    -- a misspelt flag: one within two edits, or the one it shortens or extends
    { { "--thread", "2" }, "qora: unknown flag --thread; did you mean --threads? (see qora "
      .. "--help)\n" },
    { { "--promt", "hi" }, "unknown flag --promt; did you mean --prompt? " },
    { { "--ssed", "1" }, "unknown flag --ssed; did you mean --seed? " },
    { { "--tpo-k", "1" }, "unknown flag --tpo-k; did you mean --top-k? " },
    { { "--temp", "1" }, "unknown flag --temp; did you mean --temperature? " },
    { { "--no-thinking" }, "unknown flag --no-thinking; did you mean --no-think? " },
    { { "--top=1" }, "qora: unknown flag --top (see qora --help)\n" },    -- top-k or top-p
    { { "--top_k", "3" },
      "qora: unknown flag --top_k; did you mean --top-k? (see qora --help)\n" },
    { { "--min_p=0.1" }, "unknown flag --min_p; did you mean --min-p? " },
    -- llama.cpp's --model and -m take a GGUF file: --load, not --model-path, its nearest name
    { { "--model", "x.gguf" }, "qora: unknown flag --model; give a GGUF file with --load, or a "
      .. "Hugging Face folder with --model-path (see qora --help)\n" },
    { { "--model=x.gguf", "--prompt", "hi" }, "qora: unknown flag --model; give a GGUF file "
      .. "with --load, or a Hugging Face folder with --model-path (see qora --help)\n" },
    { { "-m", "x.gguf" }, "qora: unknown flag -m; give a GGUF file with --load, or a Hugging "
      .. "Face folder with --model-path (see qora --help)\n" },
    { { "--f32" }, "qora: unknown flag --f32; a folder's weights convert to f32 with --quant f32 "
      .. "(see qora --help)\n" },
    -- a word added or a start too short names no flag
    { { "--prompt-file", "x" }, "qora: unknown flag --prompt-file (see qora --help)\n" },
    { { "--threads-batch", "2" }, "qora: unknown flag --threads-batch (see qora --help)\n" },
    { { "--n" }, "qora: unknown flag --n (see qora --help)\n" },
    { { "--x" }, "qora: unknown flag --x (see qora --help)\n" },
    { { "--load" }, "--load needs a value" },
    { { "--max-tokens", "abc" },
      "--max-tokens expects a non-negative integer in decimal digits, got 'abc'" },
    { { "--max-tokens=-3" },
      "--max-tokens expects a non-negative integer in decimal digits, got '-3'" },
    { { "--ctx", "0" }, "--ctx must be from 1 to 16777216, got 0" },
    { { "--ctx", "100000000", "--load", TINY, "--prompt", "hi" },
      "--ctx must be from 1 to 16777216, got 100000000" },
    { { "--threads", "257", "--load", TINY, "--prompt", "hi" },
      "--threads must be from 0 (one per core) to 256, got 257" },
    { { "--threads", "-1", "--load", TINY, "--prompt", "hi" },
      "--threads must be from 0 (one per core) to 256, got -1" },
    { { "--threads=99999999999999999999", "--load", TINY, "--prompt", "hi" },
      "--threads must be from 0 (one per core) to 256, got 99999999999999999999" },
    { { "--ctx", "-99999999999999999999", "--load", TINY, "--prompt", "hi" },
      "--ctx must be from 1 to 16777216, got -99999999999999999999" },
    { { "--" }, "--load PATH is required" },
    { { "--load", TINY, "--", "hello" }, "unexpected argument 'hello' after --" },
    { { "--load", TINY, "--prompt", "a", "--prompt", "b" }, "--prompt is given twice" },
    { { "--greedy", "--greedy" }, "--greedy is given twice" },
    { { "--load", "spec/fixtures", "--prompt", "hi" }, "folder without config.json" },
    { { "--load", "spec/fixtures/hf/tiny-nope", "--prompt", "hi" },
      "qora: --load takes a GGUF file, and spec/fixtures/hf/tiny-nope is a Hugging Face "
      .. "checkpoint folder; give it with --model-path\n" },
    { { "--load", "spec/fixtures/hf/tiny-nope/config.json", "--save", "x.gguf" },
      "--load takes a GGUF file, and spec/fixtures/hf/tiny-nope/config.json is a Hugging Face "
      .. "checkpoint folder; give it with --model-path" },
    { { "--load", "spec/fixtures/hf/tiny-nope/model.safetensors", "--prompt", "hi" },
      "qora: spec/fixtures/hf/tiny-nope/model.safetensors is one file of a Hugging Face "
      .. "checkpoint: give its folder with --model-path\n" },
    { { "--load", TINY, "--ctx", "5", "--prompt", "Hello there" }, "give a larger --ctx" },
    { { "--load", TINY, "--raw", "--ctx", "5", "--prompt", RAW }, "give a larger --ctx" },
    { { "--min-p", "2", "--load", TINY }, "--min-p must be from 0 to 1" },
    { { "--top-k", "-1" }, "--top-k expects a non-negative integer in decimal digits, got '-1'" },
    { { "--seed", "1.5" },
      "--seed expects an integer in decimal digits, from 0 to 9223372036854775807, or -1 "
      .. "for a new one each run, got '1.5'" },
    { { "--seed", "-2", "--load", TINY, "--prompt", "hi" },
      "--seed must be from 0 to 9223372036854775807, or -1 for a new one each run, got -2" },
    { { "--threads", "many" },
      "--threads expects an integer in decimal digits, from 0 (one per core) to 256, got 'many'" },
    { { "--temperature", "warm" }, "--temperature expects a finite decimal number, got 'warm'" },
    { { "--temperature", "-1", "--load", TINY }, "--temperature must be 0 or more" },
    { { "--top-p", "1.5", "--load", TINY }, "--top-p must be from 0 to 1" },
    { { "--greedy=yes" }, "--greedy takes no value" },
    { { "stray" }, "unexpected argument 'stray'" },
    { { "--load", TINY, "--system", "--prompt", "hi" },
      "qora: --system took '--prompt' as its value; give --system a value, or write "
      .. "--system=--prompt to mean it\n" },
    { { "--prompt", "--max-tokens", "5", "--load", TINY },
      "qora: --prompt took '--max-tokens' as its value; give --prompt a value, or write "
      .. "--prompt=--max-tokens to mean it\n" },
    { { "--model-path", "/nonexistent-folder", "--prompt", "hi" }, "/nonexistent-folder" },
    { { "--prompt", "hi" }, "--load PATH is required" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi" },
      "qora: cannot open /nonexistent.gguf: No such file or directory; --load takes a GGUF "
      .. "file\n" },
    { { "--model-path", "/nonexistent/config.json", "--prompt", "hi" },
      "qora: cannot open /nonexistent/config.json: No such file or directory; --model-path "
      .. "takes a Hugging Face checkpoint folder (config.json, *.safetensors, tokenizer.json)\n" },
    { { "--load", CUT, "--prompt", "hi" }, "qora: " .. CUT .. ": " },
    { { "--load", TINY }, "the prompt is empty: give --prompt TEXT, or pipe" },
    { { "--load", TINY, "--raw", "--system", "x", "--prompt", "hi" },
      "qora: --system shapes the chat template, which --raw leaves out: give one of them\n" },
    { { "--load", TINY, "--no-think", "--prompt", "hi", "--raw" },
      "qora: --no-think shapes the chat template, which --raw leaves out: give one of them\n" },
    { { "--raw", "--system", "x", "--no-think", "--load", "/nonexistent.gguf" },
      "qora: --system shapes the chat template, which --raw leaves out: give one of them\n" },
    { { "--model-path", TINY, "--prompt", "hi" }, "--model-path takes a Hugging Face "
      .. "checkpoint folder, and " .. TINY .. " is a file; give a GGUF file with --load" },
    { { "--model-path", TINY, "--save", "/nonexistent/x.gguf" }, "give a GGUF file with --load" },
    -- a GGUF under another format's name, refused before the model loads (it does not exist)
    { { "--model-path", "/nonexistent", "--save", "/nonexistent/model.safetensors" },
      "--save: cannot save to /nonexistent/model.safetensors: qora writes a GGUF file, and a "
      .. "name ending in .safetensors says another format; give a name ending in .gguf" },
    { { "--load", "/nonexistent.gguf", "--save", "out.BIN", "--prompt", "hi" },
      "--save: cannot save to out.BIN: qora writes a GGUF file, and a name ending in .BIN" },
    -- a name without .gguf is a slip (the file would not be known for GGUF); refused before
    -- the model loads, with the name to give
    { { "--load", "/nonexistent.gguf", "--save", "SmolLM3-3B-q8_0" },
      "qora: --save: cannot save to SmolLM3-3B-q8_0: qora writes a GGUF file; give a name "
      .. "ending in .gguf, such as SmolLM3-3B-q8_0.gguf\n" },
    { { "--load", "/nonexistent.gguf", "--save", "models/SmolLM3.Q8_0", "--prompt", "hi" },
      "--save: cannot save to models/SmolLM3.Q8_0: qora writes a GGUF file; give a name ending "
      .. "in .gguf, such as models/SmolLM3.Q8_0.gguf\n" },
    { { "--load", "/nonexistent.gguf", "--save", "/nonexistent/" },
      "--save: cannot save to /nonexistent/: qora writes a GGUF file; give a name ending in "
      .. ".gguf, such as /nonexistent/model.gguf\n" },
    -- a folder, even one named .gguf: found before a conversion, not after it
    { { "--load", "/nonexistent.gguf", "--save", "spec/fixtures" },
      "--save: cannot save to spec/fixtures: it is a folder; give a file path such as "
      .. "spec/fixtures/model.gguf\n" },
    { { "--model-path", "/nonexistent", "--save", "spec/fixtures/" },
      "--save: cannot save to spec/fixtures/: it is a folder; give a file path such as "
      .. "spec/fixtures/model.gguf\n" },
    { { "--load", "/nonexistent.gguf", "--save", DIR_GGUF },
      "--save: cannot save to " .. DIR_GGUF .. ": it is a folder; give a file path such as "
      .. DIR_GGUF .. "/model.gguf\n" },
    -- an empty name, in the words of model:save("")
    { { "--load", "/nonexistent.gguf", "--save", "" },
      "qora: --save: no file name given (an empty path); give one such as model.gguf\n" },
    { { "--model-path", "/nonexistent", "--save=", "--prompt", "hi" },
      "qora: --save: no file name given (an empty path); give one such as model.gguf\n" },
    -- a FIFO (or a device): the saved file would replace it
    { { "--load", "/nonexistent.gguf", "--save", FIFO_GGUF },
      "--save: cannot save to " .. FIFO_GGUF .. ": it is a named pipe (FIFO), which saving "
      .. "would replace with a regular file; give the name of a regular file or a new one, "
      .. "such as model.gguf\n" },
    { { "--load", TINY, "--greedy", "--temperature", "0.9", "--prompt", "hi" },
      "--greedy and --temperature 0.9 disagree: --greedy is temperature 0; give one" },
    { { "--load", S.VOCAB, "--prompt", "hi", "--raw" }, "qora: " .. S.VOCAB .. ": a vocabulary "
      .. "without weights (the file has no tensors); it can tokenize but not run: give a model "
      .. "file\n" },
    -- text that is not UTF-8, refused before the model loads (the path does not exist)
    { { "--load", "/nonexistent.gguf", "--prompt", "ok \255" },
      "--prompt is not valid UTF-8 at byte 4; convert it to UTF-8 first" },
    { { "--load", "/nonexistent.gguf", "--raw", "--prompt", "\192\128" },
      "--prompt is not valid UTF-8 at byte 1" },
    { { "--load", "/nonexistent.gguf", "--system", "\237\160\128", "--prompt", "hi" },
      "--system is not valid UTF-8 at byte 1" },
    { { "--load", "/nonexistent.gguf" }, "standard input is not valid UTF-8 at byte 2",
      "a\244\144\128\128\n" },
    -- numbers in other spellings than plain decimal, refused before the model loads
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--max-tokens", "1e3" },
      "--max-tokens expects a non-negative integer in decimal digits, got '1e3'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--threads", "0x2" },
      "--threads expects an integer in decimal digits, from 0 (one per core) to 256, "
      .. "got '0x2'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--ctx", " 512" },
      "--ctx expects an integer in decimal digits, from 1 to 16777216, got ' 512'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--ctx", "512.0" },
      "--ctx expects an integer in decimal digits, from 1 to 16777216, got '512.0'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--top-k=4e1" },
      "--top-k expects a non-negative integer in decimal digits, got '4e1'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--seed", "1E3" },
      "--seed expects an integer in decimal digits, from 0 to 9223372036854775807, or -1 "
      .. "for a new one each run, got '1E3'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--seed", "99999999999999999999" },
      "--seed must be from 0 to 9223372036854775807, or -1 for a new one each run, "
      .. "got 99999999999999999999" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--temperature", "nan" },
      "--temperature expects a finite decimal number, got 'nan'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--temperature", "inf" },
      "--temperature expects a finite decimal number, got 'inf'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--temperature", "1e999" },
      "--temperature expects a finite decimal number, got '1e999'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--temperature", "0x1p-1" },
      "--temperature expects a finite decimal number, got '0x1p-1'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--top-p", "-nan" },
      "--top-p expects a finite decimal number, got '-nan'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--min-p", "0x.1" },
      "--min-p expects a finite decimal number, got '0x.1'" },
    { { "--load", "/nonexistent.gguf", "--prompt", "hi", "--top-p", "0.5 " },
      "--top-p expects a finite decimal number, got '0.5 '" },
  }
  teardown(function()
    os.remove(CUT)
    os.remove(DIR_GGUF)
    os.remove(FIFO_GGUF)
  end)
  for _, case in ipairs(errors) do
    it("fails with a message naming the problem: " .. table.concat(case[1], " "), function()
      local out, err, code = run(case[1], case[3])
      assert.equal(1, code)
      assert.equal("", out)
      assert.truthy(err:find("^qora: "), "stderr: " .. err)
      assert.truthy(err:find(case[2], 1, true), "stderr: " .. err)
      -- the words of the Lua API have no place in the command's messages
      for _, lua_words in ipairs({ "bad argument", "make a session", "rewind", "bad self",
                                   "generate needs", "(--raw runs" }) do
        assert.falsy(err:find(lua_words, 1, true), "stderr: " .. err)
      end
    end)
  end

  it("says a model file is missing in the words of qora.load", function()
    local _, api = qora.load("/nonexistent.gguf")
    local _, err = run({ "--load", "/nonexistent.gguf", "--prompt", "hi" })
    local why = api:match("^cannot open /nonexistent%.gguf: ([^;]+);")
    assert.truthy(why, api)
    assert.truthy(err:find("cannot open /nonexistent.gguf: " .. why .. ";", 1, true),
                  "qora.load: " .. api .. "\nstderr: " .. err)
  end)

  it("keeps a value that looks like a flag when nothing else goes wrong", function()
    local cli = require("qora.cli")
    assert.same({ prompt = "--greedy" }, cli.parse({ "--prompt", "--greedy" }))
    assert.same({ system = "--prompt", load = "m" }, cli.parse({ "--system", "--prompt",
                                                                 "--load", "m" }))
    assert.same({ prompt = "-h" }, cli.parse({ "--prompt", "-h" }))
  end)

  it("reads plain decimal numbers, with a sign, a point or an exponent where they fit", function()
    local opts = require("qora.cli").parse({ "--max-tokens", "007", "--seed", "-1", "--ctx", "+64",
                                             "--temperature", ".5", "--top-p", "1e-1",
                                             "--min-p", "+5E-2", "--top-k", "0" })
    assert.same({ ["max-tokens"] = 7, seed = -1, ctx = 64, temperature = 0.5, ["top-p"] = 0.1,
                  ["min-p"] = 0.05, ["top-k"] = 0 }, opts)
    for _, k in ipairs({ "max-tokens", "seed", "ctx", "top-k" }) do
      assert.equal("integer", math.type(opts[k]), k)
    end
  end)

  it("refuses an argument that is not a string, from Lua, before reading any flag", function()
    local cli = require("qora.cli")
    for _, args in ipairs({ { "--prompt", 5 }, { "--max-tokens", 8, "--prompt", "x" },
                            { 1.5 } }) do
      local ok, err = pcall(cli.parse, args)
      assert.is_false(ok)
      assert.equal("table", type(err), tostring(err))
      assert.truthy(err.message:find("^argument %d is a number; the arguments are strings"),
                    err.message)
    end
  end)

  it("shows the help whatever else is wrong, with -h too", function()
    for _, args in ipairs({ { "--help", "--bogus" }, { "--ctx", "0", "-h" }, { "-h" },
                            { "stray", "--help", "--prompt" } }) do
      local out, err, code = run(args)
      assert.equal(0, code, err)
      assert.equal("", err)
      assert.truthy(out:find("^Usage: qora"))
    end
  end)

  it("takes --help or -h as text when it is the value of a flag that takes one", function()
    for _, word in ipairs({ "--help", "-h" }) do
      local out, err, code = run({ "--load", TINY, "--prompt", word, "--greedy",
                                   "--max-tokens", "1" })
      assert.equal(0, code, err)
      assert.falsy(out:find("Usage: qora", 1, true), out)
      out, err, code = run({ "--system", word, "--load", "/nonexistent.gguf", "--prompt", "x" })
      assert.equal(1, code, err)
      assert.truthy(err:find("cannot open /nonexistent.gguf", 1, true), err)
    end
  end)

  it("runs under make run with nothing but the answer and one line per compiled file",
     function()
    local p = assert(io.popen("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make run ARGS='--load "
                              .. TINY .. " --raw --greedy --max-tokens 4 --prompt Hello' "
                              .. "2>&1 </dev/null"))
    local out = p:read("a")
    local _, _, code = p:close()
    assert.equal(0, code, out)
    local lines = {}
    for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
    assert.is_true(#lines >= 1, out)
    for i = 1, #lines - 1 do
      assert.truthy(lines[i]:find("^  [CAL][CRD]   %S+$"), "make said: " .. lines[i])
    end
    assert.falsy(out:find("Nothing to be done", 1, true), out)
    assert.falsy(out:find("is up to date", 1, true), out)
  end)

  it("lists its flags under make run ARGS=--help with no model to fetch", function()
    local p = assert(io.popen("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n run "
                              .. "ARGS=--help MODEL=/nonexistent/qora-model.gguf 2>&1"))
    local out = p:read("a")
    p:close()
    -- neither made (the model's rule fetches it) nor given to the command
    assert.falsy(out:find("/nonexistent/qora-model.gguf", 1, true), out)
    assert.truthy(out:find("bin/qora +%-%-help\n"), out)
  end)

  it("skips under make run the same flags' values as the command: RUN_SWITCHES are the flags "
     .. "that take none", function()
    local cli = require("qora.cli")
    local want, seen = {}, {}
    for name in cli.USAGE:gmatch("%-%-(%w[%w%-]*)") do
      if not seen[name] then
        seen[name] = true
        local ok, why = pcall(cli.parse, { "--" .. name })
        assert(ok or why.message:find("needs a value"), name)
        if ok then want[#want + 1] = "--" .. name end
      end
    end
    local line = S.read("Makefile"):match("\nRUN_SWITCHES = ([^\n]*)")
    local got = {}
    for flag in (line or ""):gmatch("[^|%s]+") do got[#got + 1] = flag end
    table.sort(want)
    table.sort(got)
    assert.same(want, got)
  end)

  it("passes the default model under make run unless a word of ARGS, as the shell splits "
     .. "them, names one or asks for the help (a flag's value is not a flag)", function()
    local model = "/nonexistent/qora-model.gguf"
    local function dry_run(args)
      local p = assert(io.popen("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -n run ARGS="
                                .. quote(args) .. " MODEL=" .. model .. " 2>&1"))
      local out = p:read("a")
      p:close()
      return out
    end
    -- a flag inside a quoted argument is not a flag
    for _, args in ipairs({ '--prompt "What does --help do?"',
                            "--system 'use --load' --prompt hi",
                            '--prompt "Is --model-path=x or --version right?"',
                            "--prompt --help", "--system -h --prompt hi --stats" }) do
      local out = dry_run(args)
      assert.truthy(out:find("bin/qora --load " .. model .. " " .. args .. "\n", 1, true), out)
    end
    for _, args in ipairs({ "--prompt hi --load=x.gguf", "--model-path x --prompt hi",
                            "--prompt hi -h", "--version", "--greedy --help",
                            "--prompt=x --help" }) do
      local out = dry_run(args)
      assert.falsy(out:find(model, 1, true), out)
      assert.truthy(out:find("bin/qora +" .. args:gsub("%p", "%%%0") .. "\n"), out)
    end
  end)

  -- The kernel levels the engine may pick, from the CPU's flags as Linux lists them (the
  -- features engine/quant.c asks for; AMX also needs the kernel's leave, which they do not
  -- show); nil where /proc/cpuinfo cannot tell.
  local function expected_kernels()
    local f = io.open("/proc/cpuinfo", "r")
    local flags = f and f:read("a"):match("\nflags%s*:([^\n]*)")
    if f then f:close() end
    if not flags then
      return nil
    end
    local set = {}
    for w in flags:gmatch("%S+") do set[w] = true end
    local function all(names)
      for _, n in ipairs(names) do
        if not set[n] then return false end
      end
      return true
    end
    if all({ "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "fma", "f16c" })
    then
      return set.amx_int8 and "amx avx512" or "avx512"
    end
    return all({ "avx2", "fma", "f16c" }) and "avx2" or "scalar"
  end

  it("shows its version, the rockspec's, and the kernels it runs on this CPU", function()
    local out, err, code = run({ "--version" })
    assert.equal(0, code, err)
    local version, kernels = out:match("^qora (%d+%.%d+%.%d+)\nkernels: (%w+) %([^\n]+%), "
                                       .. "the best this CPU runs\n$")
    assert.truthy(version, out)
    assert.equal(qora._VERSION, version)
    local want = expected_kernels()
    if want then
      assert.truthy((" " .. want .. " "):find(" " .. kernels .. " ", 1, true),
                    "expected " .. want .. ", got " .. out)
    end

    local p = assert(io.popen("ls rockspec"))
    local files = p:read("a")
    p:close()
    assert.equal("qora-" .. version .. "-1.rockspec\n", files)
    local spec = S.read("rockspec/qora-" .. version .. "-1.rockspec")
    assert.equal(version .. "-1", spec:match('\nversion = "([^"]*)"'))
  end)

  it("says what --threads 0 means", function()
    local out = run({ "--help" })
    assert.truthy(out:find("--threads N         threads to use, from 1 to 256; 0 (the default) "
                           .. "takes one per core\n", 1, true), out)
  end)

  it("says that --seed -1 takes a new seed each run", function()
    local out = run({ "--help" })
    assert.truthy(out:find("--seed N            random seed, from 0 to 2^63 - 1; -1 (the "
                           .. "default) takes a new one\n", 1, true), out)
  end)

  it("documents the sampling it applies", function()
    local out = run({ "--help" })
    for _, text in ipairs({ "--top-k", "default 40", "--min-p", "default 0.05",
                            "default 0.6; 0 means --greedy", "default 0.95",
                            "the same as --temperature 0" }) do
      assert.truthy(out:find(text, 1, true), text .. " is missing from the usage")
    end
  end)

  it("samples as --temperature 0 as with --greedy", function()
    local a = run({ "--load", TINY, "--raw", "--max-tokens", "12", "--prompt", RAW, "--greedy" })
    local b = run({ "--load", TINY, "--raw", "--max-tokens", "12", "--prompt", RAW,
                    "--temperature", "0", "--seed", "3" })
    assert.equal(a, b)
  end)

  it("warns when --threads exceeds the cores, and when --ctx exceeds the training", function()
    local cores = qora.core.cores()
    local args = { "--load", TINY, "--raw", "--greedy", "--max-tokens", "2", "--prompt", RAW }
    local _, err, code = run(args)
    assert.equal(0, code, err)
    assert.equal("", err)
    table.move({ "--threads", tostring(cores + 1), "--ctx", "4097" }, 1, 4, #args + 1, args)
    _, err, code = run(args)
    assert.equal(0, code, err)
    assert.truthy(err:find(("warning: --threads %d is more than the %d cores qora may run on")
                           :format(cores + 1, cores), 1, true), err)
    assert.truthy(err:find("warning: --ctx 4097 is beyond the 4096 tokens", 1, true), err)
  end)

  it("speaks of one token or core in the singular", function()
    local args = { "--load", TINY, "--raw", "--greedy", "--max-tokens", "1", "--prompt", "a" }
    local _, err, code = run({ "--ctx", "1", table.unpack(args) })
    assert.equal(1, code, err)
    assert.equal("qora: the prompt takes 1 token, which leaves no room for an answer in a "
                 .. "context of 1; give a larger --ctx\n", err)
    _, err, code = run({ "--stats", table.unpack(args) })
    assert.equal(0, code, err)
    assert.truthy(err:find("\nprompt: 1 token in [%d.]+ s, [%d.]+ tokens/s\ngeneration: 1 "
                           .. "token in "), err)
    local line = { "taskset -c 0 lua5.4 bin/qora --threads 2" }
    for _, a in ipairs(args) do line[#line + 1] = quote(a) end
    _, err, code = S.sh(table.concat(line, " "))
    assert.equal(0, code, err)
    assert.equal("qora: warning: --threads 2 is more than the 1 core qora may run on, which "
                 .. "makes it slower\n", err)
  end)

  -- Runs a shell line; returns what the command wrote to stderr and its exit code.
  local function shell(line)
    local err_path, rc_path = os.tmpname(), os.tmpname()
    local p = assert(io.popen(line:gsub("@ERR@", err_path):gsub("@RC@", rc_path), "r"))
    p:read("a")
    p:close()
    local err, rc = S.read(err_path), tonumber(S.read(rc_path))
    os.remove(err_path)
    os.remove(rc_path)
    return err, rc
  end

  local LONG = "lua5.4 bin/qora --load " .. quote(TINY) .. " --raw --greedy --prompt Hello "
               .. "--max-tokens 3000 --ctx 4000"

  it("stops with exit 1 when standard output is a closed pipe", function()
    local err, rc = shell("(trap '' PIPE; " .. LONG .. " 2>@ERR@; echo $? >@RC@) | true")
    assert.equal(1, rc, err)
    assert.truthy(err:find("^qora: cannot write the answer to standard output: "), err)
  end)

  it("stops with exit 1 when standard output is full", function()
    local err, rc = shell(LONG .. " >/dev/full 2>@ERR@; echo $? >@RC@")
    assert.equal(1, rc, err)
    assert.truthy(err:find("No space left on device", 1, true), err)
  end)

  -- Runs a command line in the background, sends it SIGINT once its first piece is out (the
  -- handler is in place by then) and waits for its end; returns stdout, stderr and the exit
  -- code. The loops only bound the waits: a failure shows as a wrong exit code.
  local function interrupt(line)
    local out_path = os.tmpname()
    local err, rc = shell(line .. " >" .. out_path .. " 2>@ERR@ & pid=$!; i=0; "
      .. "while [ ! -s " .. out_path .. " ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; "
      .. "kill -INT $pid; i=0; "
      .. "while kill -0 $pid 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; "
      .. "kill -KILL $pid 2>/dev/null; wait $pid; echo $? >@RC@")
    local out = S.read(out_path)
    os.remove(out_path)
    return out, err, rc
  end

  it("exits 130 on Ctrl-C (SIGINT)", function()
    local _, err, rc = interrupt(LONG)
    assert.equal(130, rc, err)
    assert.equal("qora: interrupted\n", err)
  end)

  it("shows with --stats what ran before Ctrl-C, marked as interrupted, and exits 130",
     function()
    -- SmolLM2 sampling with this seed writes 400 tokens without ending its answer (checked by
    -- hand), far more than run before the interrupt
    local args = { "--load", S.SMOLLM2, "--raw", "--prompt", "Once upon a time",
                   "--temperature", "1.5", "--top-p", "1", "--seed", "5" }
    local line = { "lua5.4 bin/qora --stats --max-tokens 3000" }
    for _, a in ipairs(args) do line[#line + 1] = quote(a) end
    local out, err, rc = interrupt(table.concat(line, " "))
    assert.equal(130, rc, err)
    local n = err:match("^load: %d+%.%d%d%d s\nprompt: 4 tokens in %d+%.%d%d%d s, %d+%.%d "
                        .. "tokens/s\ngeneration: (%d+) tokens? so far in %d+%.%d%d%d s, "
                        .. "%d+%.%d tokens/s\nstop: interrupted %(Ctrl%-C%)\nseed: 5 %(%-%-seed 5 "
                        .. "gives this text again%)\nqora: interrupted\n$")
    assert.truthy(n, err)
    assert.truthy(tonumber(n) >= 1, err)

    -- the text so far is what the first n tokens give (the last piece may not be out yet),
    -- its line ended as a finished answer's is
    assert.equal("\n", out:sub(-1))
    out = out:sub(1, -2)
    args[#args + 1], args[#args + 2] = "--max-tokens", n
    local again, err2, code = run(args)
    assert.equal(0, code, err2)
    assert.equal(out, again:sub(1, #out))
    assert.truthy(#again - 1 - #out <= 16, "more than one piece is missing: " .. again)
  end)

  -- Runs the command on a prompt of 6,000 tokens with --stats, sends it SIGINT as kills says
  -- ($pid) 1.5 s in, while it reads the prompt, and waits for its end: stderr and exit code.
  -- sampler is the sampling flags, --greedy unless given.
  local function interrupt_prompt(kills, sampler)
    local words = {}
    for i = 1, 6000 do
      words[i] = ({ "the", "river", "ran", "past", "old", "stone", "walls" })[i % 7 + 1]
    end
    local prompt_path = S.write_temp(table.concat(words, " "))
    local line = "lua5.4 bin/qora --stats " .. (sampler or "--greedy")
                 .. " --raw --max-tokens 1 --ctx 8192 --load "
                 .. quote(S.SMOLLM2) .. " <" .. prompt_path
    local err, rc = shell(line .. " >/dev/null 2>@ERR@ & pid=$!; sleep 1.5; " .. kills .. "; "
      .. "i=0; while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); "
      .. "done; kill -KILL $pid 2>/dev/null; wait $pid; echo $? >@RC@")
    os.remove(prompt_path)
    return err, rc
  end

  local PROMPT_INTERRUPTED = "^load: %d+%.%d%d%d s\nprompt: interrupted while it was read\n"
                             .. "stop: interrupted %(Ctrl%-C%)\nqora: interrupted\n$"

  it("stops on Ctrl-C while it reads a long prompt, and says so with --stats", function()
    -- 6,000 tokens take SmolLM2 10 s or more on 2 cores in one batch, which Ctrl-C could not
    -- stop; read in chunks, the prompt stops at the next one
    local err, rc = interrupt_prompt("kill -INT $pid")
    assert.equal(130, rc, err)
    assert.truthy(err:find(PROMPT_INTERRUPTED), err)
  end)

  it("shows no seed with --stats when Ctrl-C came before any token: no text is there to "
     .. "give again", function()
    local err, rc = interrupt_prompt("kill -INT $pid", "--temperature 0.8 --seed 7")
    assert.equal(130, rc, err)
    assert.truthy(err:find(PROMPT_INTERRUPTED), err)
  end)

  -- Runs the command (cli.main) in a Lua process whose model:save is sent SIGINT (Ctrl-C) as it
  -- ends, the file written: stderr and exit code. pclose waits in C, as the engine's save does.
  local function interrupt_save(args)
    local list = {}
    for i, a in ipairs(args) do
      list[i] = ("%q"):format(a)
    end
    local script = "local qora = require('qora'); local save = qora.Model.save; "
      .. "qora.Model.save = function(...) local ok, err = save(...); "
      .. "io.popen('kill -INT $PPID'):close(); return ok, err end; "
      .. "os.exit(require('qora.cli').main({ " .. table.concat(list, ", ") .. " }))"
    local _, err, rc = S.sh("lua5.4 -e " .. quote(script))
    return err, rc
  end

  it("on Ctrl-C as --save ends, says that the file is saved, with --stats its line, and "
     .. "exits 130", function()
    local path = S.temp_name(".gguf")
    local at = path:gsub("%p", "%%%0")
    local err, rc = interrupt_save({ "--load", TINY, "--save", path, "--stats" })
    local m = qora.load(path)
    local f = io.open(path, "rb")
    local size = f and f:seek("end")
    if f then
      f:close()
    end
    local tmp = io.open(path .. ".tmp")
    os.remove(path)
    assert.equal(130, rc, err)
    local bytes = err:match("^load: %d+%.%d%d%d s\nsave: " .. at .. ", (%d+) bytes %(%d+%.%d "
                            .. "MB%) in %d+%.%d%d%d s\nstop: interrupted %(Ctrl%-C%)\n"
                            .. "qora: interrupted after " .. at .. " was saved\n$")
    assert.truthy(bytes, err)
    assert.equal(size, tonumber(bytes))
    assert.truthy(m, "the saved file does not load")
    assert.is_nil(tmp, "the unfinished file is still there")

    -- without --stats, the last line alone; with a prompt to run after the save, no prompt line
    err, rc = interrupt_save({ "--load", TINY, "--save", path })
    os.remove(path)
    assert.equal(130, rc, err)
    assert.equal("qora: interrupted after " .. path .. " was saved\n", err)
    err, rc = interrupt_save({ "--load", TINY, "--save", path, "--stats", "--raw", "--prompt",
                               RAW })
    os.remove(path)
    assert.equal(130, rc, err)
    assert.truthy(err:find("^load: [^\n]*\nsave: [^\n]*\nstop: interrupted %(Ctrl%-C%)\n"
                           .. "qora: interrupted after " .. at .. " was saved\n$"), err)
  end)

  it("ends at once on a second Ctrl-C within a chunk of the prompt, saying what the first "
     .. "would", function()
    -- a chunk of 256 tokens takes SmolLM2 over a second on 2 cores: the second SIGINT comes
    -- while the engine still reads the chunk the first one came in
    local err, rc = interrupt_prompt("kill -INT $pid; sleep 0.05; kill -INT $pid")
    assert.equal(130, rc, err)
    assert.truthy(err:find(PROMPT_INTERRUPTED), err)
  end)

  it("on a second Ctrl-C during an engine call, writes what it was given and removes the "
     .. "unfinished file", function()
    -- pclose waits for its child through signals (it retries when they break the wait), so
    -- the process stays in C while the child sends both; the first would stop at the next
    -- Lua instruction, after the wait
    local unfinished = S.write_temp("half a GGUF file")
    local script = "local core = require('qora.core'); "
      .. "core.on_interrupt('\\n', 'first\\n', 'elsewhere'); "
      .. "core.on_interrupt('\\n', 'qora: interrupted\\n', " .. ("%q"):format(unfinished)
      .. "); io.popen('sleep 0.3; kill -INT $PPID; sleep 0.3; kill -INT $PPID; sleep 1')"
      .. ":close(); io.stderr:write('the wait ended\\n')"
    local out, err, rc = S.sh("lua5.4 -e " .. quote(script))
    local left = io.open(unfinished)
    if left then
      left:close()
      os.remove(unfinished)
    end
    assert.equal(130, rc, err)
    assert.equal("\n", out)
    assert.equal("qora: interrupted\n", err)
    assert.is_nil(left, "the unfinished file is still there")
  end)

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

  it("reads the prompt from stdin when it is not a terminal, less its final newline",
     function()
    for _, input in ipairs({ RAW, RAW .. "\n", RAW .. "\r\n" }) do
      local out, err, code = run({ "--load", TINY, "--raw", "--greedy", "--max-tokens", "20" },
                                 input)
      assert.equal(0, code, err)
      assert.equal(library_text(RAW, 20) .. "\n", out)
    end
  end)

  it("says why when standard input cannot be read, not that the prompt is empty", function()
    for _, case in ipairs({ { "</tmp", "Is a directory" }, { "0<&-", "Bad file descriptor" } }) do
      -- the subshell's own redirection wins over the </dev/null that S.sh adds
      local out, err, code = S.sh(("(lua5.4 bin/qora --load %s %s)"):format(quote(TINY), case[1]))
      assert.equal(1, code, err)
      assert.equal("", out)
      assert.equal("qora: cannot read the prompt from standard input: " .. case[2] .. "\n", err)
    end
  end)

  it("refuses an empty prompt in one message, from --prompt or stdin, with --raw or not",
     function()
    local message = "qora: the prompt is empty: give --prompt TEXT, or pipe the prompt into "
                    .. "standard input\n"
    for _, raw in ipairs({ {}, { "--raw" } }) do
      for _, case in ipairs({ { { "--prompt", "" } }, { { "--prompt=" } }, { {}, "" },
                              { {}, "\n" }, { {}, "\r\n" } }) do
        local args = { "--load", TINY, "--max-tokens", "2", table.unpack(raw) }
        table.move(case[1], 1, #case[1], #args + 1, args)
        local out, err, code = run(args, case[2])
        local what = table.concat(args, " ") .. " <" .. ("%q"):format(case[2] or "(nothing)")
        assert.equal(1, code, what)
        assert.equal("", out, what)
        assert.equal(message, err, what)
      end
    end
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

  it("takes a new seed each run for --seed -1 or none, which --stats shows and repeats",
     function()
    local args = { "--load", TINY, "--raw", "--max-tokens", "16", "--prompt", RAW,
                   "--temperature", "1.5", "--top-p", "1", "--stats" }
    local seeds = {}
    for i, seed in ipairs({ { "--seed", "-1" }, { "--seed", "-1" }, {} }) do
      local out, err, code = run(table.move(seed, 1, #seed, #args + 1, table.move(args, 1,
                                                                                  #args, 1, {})))
      assert.equal(0, code, err)
      local n = err:match("\nseed: (%d+) %(%-%-seed %1 gives this text again%)\n$")
      assert.truthy(n, err)
      assert.is_nil(seeds[n], "seed " .. n .. " came twice")
      seeds[n] = i

      args[#args + 1], args[#args + 2] = "--seed", n
      local again, err2 = run(args)
      args[#args], args[#args - 1] = nil, nil
      assert.equal(out, again)
      assert.truthy(err2:find("\nseed: " .. n .. " ", 1, true), err2)
    end
  end)

  it("shows no seed with --stats when nothing is drawn at random", function()
    local _, err, code = run({ "--load", TINY, "--raw", "--max-tokens", "4", "--prompt", RAW,
                               "--greedy", "--stats", "--seed", "5" })
    assert.equal(0, code, err)
    assert.truthy(err:find("stop: ", 1, true), err)
    assert.falsy(err:find("seed", 1, true), err)
  end)

  it("says with --stats what --save wrote, and nothing without", function()
    local path = S.temp_name(".gguf")
    local out, err, code = run({ "--load", TINY, "--save", path })
    assert.equal(0, code, err)
    assert.equal("", out)
    assert.equal("", err)

    out, err, code = run({ "--load", TINY, "--save", path, "--stats" })
    local f = assert(io.open(path, "rb"))
    local size = f:seek("end")
    f:close()
    os.remove(path)
    assert.equal(0, code, err)
    assert.equal("", out)
    local pattern = "^load: %d+%.%d%d%d s\nsave: " .. path:gsub("%p", "%%%0")
                    .. ", (%d+) bytes %((%d+%.%d) MB%) in %d+%.%d%d%d s\n$"
    local bytes, mb = err:match(pattern)
    assert.truthy(bytes, err)
    assert.equal(size, tonumber(bytes))
    assert.equal(("%.1f"):format(size / 1e6), mb)

    -- with a prompt too: the load's time once, before the save's
    out, err, code = run({ "--load", TINY, "--save", path, "--stats", "--raw", "--greedy",
                           "--max-tokens", "2", "--prompt", RAW })
    os.remove(path)
    assert.equal(0, code, err)
    assert.truthy(#out > 1)
    assert.truthy(err:match("^load: [^\n]*\nsave: [^\n]*\nprompt: [^\n]*\ngeneration: [^\n]*\n"
                            .. "stop: [^\n]*\n$"), err)
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

  it("takes --no-think without a word on a chat template that never reasons, as model:chat "
     .. "takes think = false", function()
    local args = { "--load", S.SMOLLM2, "--greedy", "--max-tokens", "6", "--prompt", "Hi" }
    local plain, err, code = run(args)
    assert.equal(0, code, err)
    args[#args + 1] = "--no-think"
    local out
    out, err, code = run(args)
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal(plain, out)

    -- SmolLM3's template (the tiny model carries it) has the switch: it changes the prompt
    local m = assert(qora.load(TINY))
    local want = m:chat({ think = false }):prompt_ids("Hi")
    assert.are_not.same(m:chat():prompt_ids("Hi"), want)
    local s = m:session()
    local _, text = S.collect(s:generate({ prompt = want, max_tokens = 6 }))
    args[2] = TINY
    out, err, code = run(args)
    assert.equal(0, code, err)
    assert.equal("", err)
    assert.equal(text .. "\n", out)
  end)

  it("refuses each flag that shapes the chat template with --raw, in one form", function()
    for _, case in ipairs({ { "--system", "Be brief." }, { "--no-think" } }) do
      local args = { "--load", TINY, "--raw", "--greedy", "--max-tokens", "2", "--prompt", "hi" }
      table.move(case, 1, #case, #args + 1, args)
      local out, err, code = run(args)
      assert.equal(1, code, err)
      assert.equal("", out)
      assert.equal("qora: " .. case[1] .. " shapes the chat template, which --raw leaves out: "
                   .. "give one of them\n", err)
    end
    local usage = run({ "--help" })
    assert.truthy(usage:find("; --system and\n" .. (" "):rep(22) .. "--no-think, which shape "
                             .. "the template, are refused with it\n", 1, true), usage)
  end)

  it("stops at a full context with exit 0, a final newline and its stats", function()
    local out, err, code = run({ "--load", TINY, "--raw", "--greedy", "--prompt", RAW,
                                 "--ctx", "40", "--max-tokens", "100000000", "--stats" })
    assert.equal(0, code, err)
    assert.equal(library_text(RAW, 10) .. "\n", out)
    assert.truthy(err:find("generation: 10 tokens", 1, true), err)
    assert.truthy(err:find("stop: the context is full (--ctx)", 1, true), err)

    out, err, code = run({ "--load", S.SMOLLM2, "--ctx", "40", "--prompt", "Hi", "--greedy" })
    assert.equal(0, code, err)
    assert.truthy(out:find("\n$"), out)
    assert.truthy(err:find("stopped at the end of the context (40 tokens)", 1, true), err)
  end)
end)
