-- Hugging Face checkpoint folders from Lua: qora.load with quant and progress, model:save, and
-- the command's --model-path, --quant, --f16 and --save. The logits compared here are the ones
-- transformers computed for the tiny fixtures (spec/fixtures/hf/README.md).
local S = dofile("spec/support.lua")
local qora = require("qora")

local FIX = "spec/fixtures/hf/"
local YARN, NOPE = FIX .. "tiny-yarn", FIX .. "tiny-nope"

local quote, sh = S.quote, S.sh

local qora_cmd = S.qora

-- A scratch folder holding a copy of a fixture folder.
local function copy_of(dir)
  local tmp = os.tmpname()
  os.remove(tmp)
  assert(select(3, sh(("mkdir %s && cp %s/* %s"):format(quote(tmp), quote(dir), quote(tmp))))
         == 0)
  return tmp
end

local function remove(dir)
  sh("rm -rf " .. quote(dir))
end

-- Replaces the first occurrence of from (plain text) in file name of dir.
local function edit(dir, name, from, to)
  local path = dir .. "/" .. name
  local text = S.read(path)
  local i, j = text:find(from, 1, true)
  assert(i, "no " .. from .. " in " .. path)
  local f = assert(io.open(path, "wb"))
  f:write(text:sub(1, i - 1), to, text:sub(j + 1))
  f:close()
end

-- Every position's logits of a prompt (little-endian float32), from a new F32-cache session.
local function logits(m, prompt)
  local ids = S.read_ids(FIX .. "prompts/" .. prompt .. ".ids")
  local s = m:session({ ctx = #ids, kv_type = "f32" })
  local raw = s:eval(ids, { all_logits = true })
  s:close()
  return raw
end

-- The largest difference between qora's logits and transformers' for a prompt, and where.
local function max_diff(m, ckpt, prompt)
  local got = logits(m, prompt)
  local want = S.read(FIX .. "logits/" .. ckpt .. "_" .. prompt .. ".f32")
  local worst, at = 0, 0
  assert(#want == #got, "the fixture and qora disagree on the number of logits")
  for i = 1, #got, 4 do
    local d = math.abs(string.unpack("<f", got, i) - string.unpack("<f", want, i))
    if not (d <= worst) then
      worst, at = d, i // 4
    end
  end
  return worst, at
end

describe("qora.load of a Hugging Face folder", function()
  it("gives transformers' logits within 0.01 as F32, for both fixtures", function()
    for _, ckpt in ipairs({ "tiny-yarn", "tiny-nope" }) do
      local m = assert(qora.load(FIX .. ckpt, { quant = "f32", threads = 2 }))
      for _, prompt in ipairs({ "story", "chat", "code" }) do
        local d, at = max_diff(m, ckpt, prompt)
        assert(d <= 0.01, ("%s %s: logit %d differs by %g"):format(ckpt, prompt, at, d))
      end
      m:close()
    end
  end)

  it("describes the folder: sizes, types, chat template", function()
    local m = assert(qora.load(NOPE .. "/config.json", { quant = "q8_0", progress = true }))
    local info = m.info
    assert.equal("smollm3", info.arch)
    assert.equal(6, info.n_layer)
    assert.equal(32, info.head_dim)
    assert.is_false(info.tied_embeddings)
    assert.same({ Q8_0 = 44, F32 = 13 }, info.tensor_types)
    local config = qora.core.json_decode(S.read(NOPE .. "/tokenizer_config.json"))
    assert.equal(config.chat_template, info.chat_template)
    m:close()
  end)

  it("converts to Q4_0 by default", function()
    local m = assert(qora.load(YARN))
    assert.same({ Q4_0 = 57, F32 = 17 }, m.info.tensor_types)
    m:close()
  end)

  it("raises on a quant or progress option of the wrong kind", function()
    assert.has_error(function() qora.load(YARN, { quant = "q5_k" }) end)
    assert.has_error(function() qora.load(YARN, { quant = 4 }) end)
    assert.has_error(function() qora.load(YARN, { progress = 1 }) end)
  end)

  it("returns nil and a message for a quant given with a GGUF file", function()
    local m, err = qora.load(S.tiny("f32"), { quant = "q8_0" })
    assert.is_nil(m)
    assert.truthy(err:find("GGUF", 1, true), err)
  end)

  local damaged = {
    { "a truncated safetensors header", NOPE, function(dir)
        assert(select(3, sh("truncate -s 1000 " .. quote(dir .. "/model.safetensors"))) == 0)
      end, "truncated" },
    { "a missing shard", YARN, function(dir)
        os.remove(dir .. "/model-00001-of-00002.safetensors")
      end, "model-00001-of-00002.safetensors is missing" },
    { "a config without num_attention_heads", NOPE, function(dir)
        edit(dir, "config.json", '"num_attention_heads": 4,', "")
      end, "num_attention_heads" },
    { "a config whose intermediate_size contradicts the weights", NOPE, function(dir)
        edit(dir, "config.json", '"intermediate_size": 128,', '"intermediate_size": 160,')
      end, "mlp.gate_proj.weight" },
  }
  for _, case in ipairs(damaged) do
    it("returns nil and a message for " .. case[1], function()
      local dir = copy_of(case[2])
      case[3](dir)
      local m, err = qora.load(dir, { quant = "f32" })
      remove(dir)
      assert.is_nil(m)
      assert.truthy(err:find(case[4], 1, true), err)
    end)
  end
end)

describe("model:save", function()
  it("writes a GGUF that loads back with the same logits", function()
    local path = os.tmpname()
    local m = assert(qora.load(YARN, { quant = "f32" }))
    assert.is_true(m:save(path))
    local back = assert(qora.load(path))
    assert.same(m.info.tensor_types, back.info.tensor_types)
    assert.equal(m.info.chat_template, back.info.chat_template)
    local d, at = max_diff(back, "tiny-yarn", "code")
    assert(d <= 0.01, ("logit %d differs from transformers' by %g"):format(at, d))
    m:close()
    back:close()
    os.remove(path)
  end)

  it("returns nil and a message when the file cannot be written", function()
    local m = assert(qora.load(NOPE, { quant = "q8_0" }))
    local ok, err = m:save("/nonexistent-folder/x.gguf")
    assert.is_nil(ok)
    assert.truthy(err:find("/nonexistent-folder/x.gguf", 1, true), err)
    ok, err = m:save("")
    assert.is_nil(ok)
    assert.truthy(err:find("no file name given", 1, true), err)
    assert.has_error(function() m:save(42) end)
    assert.has_error(function() m:save("a\0b") end)
    m:close()
  end)

  it("refuses a name of another format than GGUF, in any case, and writes nothing", function()
    local m = assert(qora.load(S.tiny("f32")))
    local dir = os.tmpname()
    os.remove(dir)
    assert(os.execute("mkdir " .. quote(dir)))
    for _, name in ipairs({ "model.safetensors", "x.JSON", "w.bin", "w.Pt", "w.PTH",
                            "m.gguf.safetensors" }) do
      local ok, err = m:save(dir .. "/" .. name)
      assert.is_nil(ok, name)
      assert.equal("cannot save to " .. dir .. "/" .. name .. ": qora writes a GGUF file, and a "
                   .. "name ending in " .. name:match("%.[^.]+$") .. " says another format; "
                   .. "give a name ending in .gguf, such as model.gguf", err)
    end
    assert.equal("", select(1, sh("ls -A " .. quote(dir))))
    for _, name in ipairs({ "m.gguf", "m.GGUF", "m.pt.gguf", "m" }) do
      assert.is_true(m:save(dir .. "/" .. name), name)
    end
    m:close()
    remove(dir)
  end)

  it("refuses to save over a FIFO, which the file would replace, and leaves it", function()
    local m = assert(qora.load(S.tiny("f32")))
    local dir = os.tmpname()
    os.remove(dir)
    local pipe = dir .. "/pipe.gguf"
    assert(os.execute(("mkdir %s && mkfifo %s"):format(quote(dir), quote(pipe))))
    local ok, err = m:save(pipe)
    m:close()
    local still = os.execute("test -p " .. quote(pipe))
    local left = select(1, sh("ls -A " .. quote(dir)))
    remove(dir)
    assert.is_nil(ok)
    assert.equal("cannot save to " .. pipe .. ": it is a named pipe (FIFO), which saving would "
                 .. "replace with a regular file; give the name of a regular file or a new "
                 .. "one, such as model.gguf", err)
    assert.is_true(still, "the FIFO is no longer there")
    assert.equal("pipe.gguf\n", left)
  end)
end)

-- tiny-nope without its last added token, <|im_end|> (461): row 461 of the embedding is then
-- padding, as in published checkpoints whose vocab_size exceeds their tokenizer. llama.cpp's
-- converter names such a row "[PAD<id>]", of type UNUSED, and its token_to_piece writes
-- nothing for an UNUSED token; transformers' decode skips an id past the tokenizer. A folder
-- and the GGUF it saves must both behave that way.
describe("a folder whose embedding has rows past its tokenizer, and its GGUF", function()
  local PAD = 461
  local dir, path, models = nil, os.tmpname(), {}
  local story_ids = S.read_ids(FIX .. "prompts/story.ids")
  local story = S.read(FIX .. "prompts/story.txt")   -- transformers' text of those ids

  setup(function()
    dir = copy_of(NOPE)
    edit(dir, "tokenizer.json", '"content": "<|im_end|>"', '"content": ""')
    edit(dir, "tokenizer_config.json", '"eos_token": "<|im_end|>"', '"eos_token": null')
    models.folder = assert(qora.load(dir, { quant = "f32" }))
    assert(models.folder:save(path))
    models.gguf = assert(qora.load(path))
  end)

  teardown(function()
    for _, m in pairs(models) do
      m:close()
    end
    remove(dir)
    os.remove(path)
  end)

  -- The story's ids with the padded id first, in the middle and last.
  local function padded_story()
    local ids = { PAD }
    for i, id in ipairs(story_ids) do
      ids[#ids + 1] = id
      if i == #story_ids // 2 then
        ids[#ids + 1] = PAD
      end
    end
    ids[#ids + 1] = PAD
    return ids
  end

  for _, which in ipairs({ "folder", "gguf" }) do
    it(which .. ": knows the padded id as the unused [PAD461], which prints nothing", function()
      local m = models[which]
      local text, kind = m:token(PAD)
      assert.same({ "", "unused" }, { text, kind })
      assert.equal(PAD, m:token_id("[PAD461]"))
      assert.is_false(m:is_eog(PAD))
      assert.equal("", m:detokenize({ PAD }))
      assert.equal("", m:detokenize({ PAD }, { special = true }))
    end)

    it(which .. ": gives transformers' ids and text, padded ids printing nothing", function()
      local m = models[which]
      S.same_ids(story_ids, m:tokenize(story), "story")
      -- tokenizers 0.23.3, the padded tokenizer.json: the text is not the token
      local pad_text = { 91, 80, 65, 68, 52, 54, 49, 93 }
      S.same_ids(pad_text, m:tokenize("[PAD461]"), "[PAD461]")
      S.same_ids(pad_text, m:tokenize("[PAD461]", { special = true }), "[PAD461], special")
      assert.equal(story, m:detokenize(padded_story()))
      local st, pieces = m.core:stream(true), {}
      for _, id in ipairs(padded_story()) do
        pieces[#pieces + 1] = st:push(id)
      end
      assert.equal(story, table.concat(pieces) .. st:flush())
    end)
  end

  it("generates through a padded id, the folder as its GGUF", function()
    local runs = {}
    for which, m in pairs(models) do
      local n = 0
      local function pad_second(c)
        n = n + 1
        return n == 2 and PAD or c:argmax()
      end
      local s, ids, pieces = m:session(), {}, {}
      for id, piece in s:generate({ prompt = story_ids, max_tokens = 5, sampler = pad_second }) do
        ids[#ids + 1], pieces[#pieces + 1] = id, piece
      end
      assert.equal(PAD, ids[2])
      assert.equal("", pieces[2])
      runs[which] = { ids = ids, pieces = pieces }
      s:close()
    end
    assert.same(runs.folder, runs.gguf)
  end)
end)


describe("qora --model-path", function()
  it("converts a folder and saves it with --save, without a prompt", function()
    local path = S.temp_name(".gguf")
    local out, err, code = qora_cmd({ "--model-path", YARN, "--quant", "q8_0", "--save", path })
    assert.equal(0, code, err)
    assert.equal("", out)
    local m = assert(qora.load(path))
    assert.same({ Q8_0 = 57, F32 = 17 }, m.info.tensor_types)
    m:close()
    os.remove(path)
  end)

  it("runs a folder with the main command's flags, as the library does", function()
    local out, err, code = qora_cmd({ "--model-path", NOPE, "--f16", "--raw", "--greedy",
                                      "--prompt", "Once upon a time", "--max-tokens", "8" })
    assert.equal(0, code, err)
    local m = assert(qora.load(NOPE, { quant = "f16" }))
    local s = m:session()
    local _, text = S.collect(s:generate({ prompt = "Once upon a time", max_tokens = 8,
                                           sampler = require("qora.sampling").greedy() }))
    assert.equal(text .. "\n", out)
    m:close()
  end)

  it("refuses to --save over a file of the folder it converts, which still loads", function()
    -- every file of a checkpoint is named as another format than GGUF, refused as such
    local dir = copy_of(NOPE)
    local link = os.tmpname()
    os.remove(link)
    assert(select(3, sh(("ln -s %s %s"):format(quote(dir), quote(link)))) == 0)
    local before = S.read(dir .. "/model.safetensors")
    for _, case in ipairs({ { dir, dir .. "/model.safetensors" },
                            { dir .. "/config.json", dir .. "/tokenizer.json" },
                            { dir, dir .. "/../" .. dir:match("[^/]+$") .. "/config.json" },
                            { dir, link .. "/model.safetensors" },
                            { link, dir .. "/tokenizer_config.json" } }) do
      local out, err, code = qora_cmd({ "--model-path", case[1], "--save", case[2] })
      assert.equal(1, code, err)
      assert.equal("", out)
      assert.truthy(err:find("qora: --save: cannot save to " .. case[2] .. ": qora writes a "
                             .. "GGUF file", 1, true), err)
    end
    assert.equal(before, S.read(dir .. "/model.safetensors"))
    -- the folder's other files, which qora does not read but other tools do
    for _, name in ipairs({ "README.md", "tokenizer.model", "merges.txt" }) do
      S.sh("printf kept > " .. quote(dir .. "/" .. name))
      for _, via in ipairs({ dir, link }) do
        local out, err, code = qora_cmd({ "--model-path", dir, "--save", via .. "/" .. name })
        assert.equal(1, code, err)
        assert.equal("", out)
        assert.equal("qora: --save: cannot save to " .. via .. "/" .. name .. ": it is a file of "
                     .. "the checkpoint folder this model was loaded from, which saving would "
                     .. "destroy; give a new name ending in .gguf, such as model.gguf\n", err)
      end
      assert.equal("kept", S.read(dir .. "/" .. name))
    end
    local m = assert(qora.load(dir))     -- model:save, through the engine's own check
    local ok, why = m:save(link .. "/README.md")
    m:close()
    assert.is_nil(ok)
    assert.equal("cannot save to " .. link .. "/README.md: it is a file of the checkpoint "
                 .. "folder this model was loaded from, which saving would destroy; give a new "
                 .. "name ending in .gguf, such as model.gguf", why)
    assert.equal("kept", S.read(dir .. "/README.md"))
    local _, err, code = qora_cmd({ "--model-path", dir, "--save", dir .. "/converted.gguf" })
    assert.equal(0, code, err)
    local m = assert(qora.load(dir))
    m:close()
    m = assert(qora.load(dir .. "/converted.gguf"))
    m:close()
    os.remove(link)
    remove(dir)
  end)

  it("saves over the GGUF file it loaded, which still loads", function()
    local path = S.temp_name(".gguf")
    local f = assert(io.open(path, "wb"))
    f:write(S.read(S.tiny("q8_0")))
    f:close()
    local args = { "--load", path, "--raw", "--greedy", "--prompt", "Hello", "--max-tokens", "4" }
    local want = qora_cmd(args)
    table.move({ "--save", path }, 1, 2, #args + 1, args)
    local out, err, code = qora_cmd(args)
    assert.equal(0, code, err)
    assert.equal(want, out)
    table.remove(args)
    table.remove(args)
    assert.equal(want, (qora_cmd(args)))
    os.remove(path)
  end)

  it("suggests --raw for a model whose chat template it does not know, and only then", function()
    local dir = copy_of(NOPE)
    local path = dir .. "/tokenizer_config.json"
    local config = qora.core.json_decode(S.read(path))
    config.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
    local f = assert(io.open(path, "wb"))
    f:write(qora.core.json_encode(config))
    f:close()
    local out, err, code = qora_cmd({ "--model-path", dir, "--prompt", "Hi" })
    assert.equal(1, code, err)
    assert.equal("", out)
    assert.truthy(err:find("^qora: unknown chat template"), err)
    local hint = "; --raw gives it the prompt without a template\n"
    assert.equal(hint, err:sub(-#hint), err)
    assert.falsy(err:find("name one", 1, true), err)
    _, err, code = qora_cmd({ "--model-path", dir, "--raw", "--prompt", "Hi", "--max-tokens",
                              "2" })
    assert.equal(0, code, err)
    _, err = qora_cmd({ "--model-path", NOPE, "--prompt", "Hi", "--ctx", "2" })
    assert.falsy(err:find("--raw", 1, true), err)
    remove(dir)
  end)

  it("accepts --quant in any case", function()
    local path = S.temp_name(".gguf")
    local _, err, code = qora_cmd({ "--model-path", YARN, "--quant", "Q8_0", "--save", path })
    assert.equal(0, code, err)
    local m = assert(qora.load(path))
    assert.same({ Q8_0 = 57, F32 = 17 }, m.info.tensor_types)
    m:close()
    os.remove(path)
    m = assert(qora.load(YARN, { quant = "BF16" }))
    assert.equal(57, m.info.tensor_types.BF16)
    m:close()
  end)

  local errors = {
    { { "--model-path", YARN, "--f16", "--quant", "q8_0", "--prompt", "x" }, "two types" },
    { { "--load", S.tiny("f32"), "--quant", "q8_0", "--prompt", "x" }, "--model-path" },
    { { "--load", S.tiny("f32"), "--model-path", YARN, "--prompt", "x" }, "not both" },
    { { "--model-path", YARN, "--quant", "q5_k", "--prompt", "x" }, "--quant expects" },
    { { "--model-path", "/nonexistent-folder", "--prompt", "x" }, "/nonexistent-folder" },
    { { "--model-path", YARN, "--save", "/nonexistent-folder/x.gguf" }, "cannot create" },
  }
  for _, case in ipairs(errors) do
    it("fails with a message naming the problem: " .. table.concat(case[1], " "), function()
      local out, err, code = qora_cmd(case[1])
      assert.equal(1, code)
      assert.equal("", out)
      assert.truthy(err:find(case[2], 1, true), "stderr: " .. err)
    end)
  end
end)
