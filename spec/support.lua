-- Shared by the busted specs (loaded with dofile; not a spec itself): where the reference
-- vectors are, how to read them, and how to report the first difference.
local S = {}

S.VEC = "../shared/vectors/"
S.TINY = S.VEC .. "tiny-smollm3/"
S.VOCAB = S.VEC .. "tokenizer/llama3-vocab.gguf"
S.SMOLLM2 = "models/SmolLM2-135M-Instruct.Q4_1.gguf"

--- The path of a tiny model file: S.tiny("f32") -> ".../tiny-smollm3-f32.gguf".
function S.tiny(kind)
  return S.TINY .. "tiny-smollm3-" .. kind .. ".gguf"
end

--- The integers of a file holding one per line.
function S.read_ids(path)
  local out = {}
  for line in io.lines(path) do
    if line ~= "" then
      out[#out + 1] = math.tointeger(tonumber(line))
    end
  end
  return out
end

--- The whole content of a file.
function S.read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

--- A word quoted for the shell.
function S.quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

--- Runs a shell command line with stdin text (or nothing) on its input.
--- Returns stdout, stderr and the exit code.
function S.sh(line, stdin)
  local err_path = os.tmpname()
  line = line .. " 2>" .. err_path
  if stdin then
    line = "printf '%s' " .. S.quote(stdin) .. " | " .. line
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

--- Runs the qora command (lua5.4 bin/qora) with a list of arguments and optional stdin text.
--- Returns stdout, stderr and the exit code.
function S.qora(args, stdin)
  local cmd = { "lua5.4", "bin/qora" }
  for _, a in ipairs(args) do
    cmd[#cmd + 1] = S.quote(a)
  end
  return S.sh(table.concat(cmd, " "), stdin)
end

--- A new temporary name ending in suffix (".gguf", as the command's --save wants), with no
-- file there yet.
function S.temp_name(suffix)
  local tmp = os.tmpname()
  os.remove(tmp)
  return tmp .. suffix
end

--- Writes s to a new temporary file; returns its path.
function S.write_temp(s)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
  return path
end

--- Fails with the first index where two arrays differ.
function S.same_ids(expected, got, what)
  for i = 1, math.max(#expected, #got) do
    if expected[i] ~= got[i] then
      error(("%s: first difference at index %d: expected %s, got %s (expected %d ids, got %d)")
            :format(what or "ids", i, tostring(expected[i]), tostring(got[i]), #expected, #got),
            2)
    end
  end
end

--- Runs a generator to its end; returns the ids and the text.
function S.collect(iter, a, b, closer)
  local ids, text = {}, {}
  for id, piece in iter, a, b, closer do
    ids[#ids + 1] = id
    text[#text + 1] = piece
  end
  return ids, table.concat(text)
end

return S
