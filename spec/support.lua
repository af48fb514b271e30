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
