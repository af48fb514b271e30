-- qora.core.json_decode / json_encode: order-keeping JSON through cJSON.
local core = require("qora.core")

local decode, encode, null = core.json_decode, core.json_encode, core.json_null


local function keys_of(t)
  return getmetatable(t).keys
end


describe("json_decode", function()
  it("keeps the keys of objects in document order", function()
    local t = assert(decode('{"z": 1, "a": {"y": 2, "b": 3}, "m": 4}'))
    assert.are.same({ "z", "a", "m" }, keys_of(t))
    assert.are.same({ "y", "b" }, keys_of(t.a))
    assert.are.equal("qora.json.object", getmetatable(t).__name)
    assert.are.equal(1, t.z)
    assert.are.equal(3, t.a.b)
  end)

  it("gives a repeated key its first place and its last value, as Python does", function()
    local t = assert(decode('{"a": 1, "b": 2, "a": 3}'))
    assert.are.same({ "a", "b" }, keys_of(t))
    assert.are.equal(3, t.a)
  end)

  it("marks arrays so that [] and {} differ", function()
    local a, o = decode("[]"), decode("{}")
    assert.are.equal(core.json_array, getmetatable(a))
    assert.are.equal("qora.json.array", getmetatable(a).__name)
    assert.are.same({}, keys_of(o))
    local t = assert(decode("[1, [2, 3], {}]"))
    assert.are.equal(3, #t)
    assert.are.equal(core.json_array, getmetatable(t[2]))
  end)

  it("decodes null as core.json_null, present in objects and arrays", function()
    local t = assert(decode('{"a": null, "b": [null, 1, null]}'))
    assert.are.equal(null, t.a)
    assert.are.same({ "a", "b" }, keys_of(t))
    assert.are.equal(3, #t.b)
    assert.are.equal(null, t.b[1])
    assert.are.equal(null, t.b[3])
    assert.are.equal(null, decode("null"))
  end)

  it("splits integers and floats as Python's json does", function()
    local cases = {
      { "1", "integer", 1 }, { "-0", "integer", 0 }, { "1.0", "float", 1.0 },
      { "1e2", "float", 100.0 }, { "-2.5E-3", "float", -0.0025 },
      { "9223372036854775807", "integer", math.maxinteger },
      { "-9223372036854775808", "integer", math.mininteger },
      { "9223372036854775808", "float", 9223372036854775808.0 },
      { "1e400", "float", math.huge },
    }
    for _, c in ipairs(cases) do
      local v = decode(c[1])
      assert.are.equal(c[2], math.type(v), c[1])
      assert.are.equal(c[3], v, c[1])
    end
  end)

  it("decodes escapes and surrogate pairs into UTF-8", function()
    assert.are.equal("a\"\\/\b\f\n\r\t", decode([["a\"\\\/\b\f\n\r\t"]]))
    assert.are.equal("\u{E9}\u{1F642}", decode([["\u00e9\ud83d\ude42"]]))
    assert.are.equal("\u{E9}\u{1F642}", decode('"\u{E9}\u{1F642}"'))
    assert.are.equal(true, decode(" true "))
    assert.are.equal(false, decode("false"))
  end)

  it("returns nil and a message with byte, line and column for bad text", function()
    local cases = {
      { "[1, 2", "unexpected end of text at byte 6 (line 1, column 6)" },
      { '{"a" 1}', "syntax error at byte 6 (line 1, column 6)" },
      { "[1,\n  2,\n  ]", "syntax error at byte 12 (line 3, column 3)" },
      { "[1] x", "syntax error at byte 5 (line 1, column 5)" },
      { "", "unexpected end of text at byte 1" },
      { "{'a': 1}", "syntax error at byte " },  -- cJSON points just past the quote
      { "[NaN]", "syntax error at byte 2" },
      { "[01]", "malformed number" },
      { "[1.]", "malformed number" },
      { "[-]", "at byte 2" },
      { '"\\u0000"', "\\u0000 (a NUL character) is not supported in strings at byte 2" },
      { '"\\uZZZZ"', "\\u must be followed by four hexadecimal digits at byte 2" },
      { '"\\ud800"', "syntax error" },
      { '"a\tb"', "control character inside a string" },
      { '"\u{E9}\255"', "invalid UTF-8 at byte 4 (line 1, column 3)" },
      { "[1]\0", "NUL byte in the text at byte 4" },
      { ("["):rep(1001) .. ("]"):rep(1001), "json: " },
    }
    for _, c in ipairs(cases) do
      local v, err = decode(c[1])
      assert.is_nil(v, c[1])
      assert.is_string(err, c[1])
      assert.is_truthy(err:find(c[2], 1, true), ("%q: got %q, want %q"):format(c[1], err, c[2]))
    end
  end)

  it("raises an error when the argument is not a string", function()
    assert.has_error(function() decode(nil) end)
    assert.has_error(function() decode({}) end)
  end)
end)


describe("json_encode", function()
  it("writes decoded objects back in their order", function()
    local text = '{"z":1,"a":[1,2.5,null,true,{}],"m":{"y":[],"b":"\\u00e9"},"n":1.0}'
    local again = encode(assert(decode(text)))
    assert.are.equal('{"z":1,"a":[1,2.5,null,true,{}],"m":{"y":[],"b":"\u{E9}"},"n":1.0}',
                     again)
    assert.are.equal(again, encode(assert(decode(again))))
  end)

  it("puts listed keys first, then added keys sorted", function()
    local t = assert(decode('{"z": 1, "y": 2}'))
    t.b, t.a, t.y = 3, 4, nil
    assert.are.equal('{"z":1,"a":4,"b":3}', encode(t))
  end)

  it("writes plain tables: sequences as arrays, others as objects with sorted keys", function()
    assert.are.equal('{"a":[1,2],"b":"x","c":{}}', encode({ b = "x", a = { 1, 2 }, c = {} }))
    assert.are.equal("[]", encode(setmetatable({}, core.json_array)))
    assert.are.equal("null", encode(null))
  end)

  it("keeps floats recognisable as floats", function()
    local cases = { { 1.0, "1.0" }, { 100.0, "100.0" }, { -0.0, "-0.0" }, { 0.1, "0.1" },
                    { 1e16, "1e+16" }, { 1e-7, "1e-07" }, { 5e-324, "5e-324" } }
    for _, c in ipairs(cases) do
      assert.are.equal(c[2], encode(c[1]))
      local back = decode(encode(c[1]))
      assert.are.equal("float", math.type(back))
      assert.are.equal(c[1], back)
    end
    assert.are.equal("-9223372036854775808", encode(math.mininteger))
  end)

  it("raises errors for what JSON cannot hold", function()
    local cyclic = {}
    cyclic.self = cyclic
    local cases = {
      { 0 / 0, "cannot encode nan (JSON" }, { math.huge, "cannot encode inf (JSON" },
      { -math.huge, "cannot encode -inf (JSON" },
      { print, "cannot encode a function value" }, { cyclic, "nesting deeper than 1000" },
      { { [1] = 1, [3] = 3 }, "neither an array nor an object" },
      { { 1, x = 2 }, "neither an array nor an object" },
      { "a\0b", "NUL bytes" },
      { "\255", "not valid UTF-8 at byte 1; convert it to UTF-8 first" },
      { io.stdout, "cannot encode a userdata value" },
    }
    for _, c in ipairs(cases) do
      local ok, err = pcall(encode, c[1])
      assert.is_false(ok)
      assert.is_truthy(tostring(err):find(c[2], 1, true), tostring(err))
    end
  end)
end)
