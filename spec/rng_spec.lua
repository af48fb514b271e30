-- The random source against published reference values: xoshiro256** from the state
-- {1, 2, 3, 4} (the sequence of Vigna's reference C code, as the rand_xoshiro and
-- morinim/xoshiro256ss test suites list it) and splitmix64 from the seed 1234567 (the
-- Rosetta Code task "Pseudo-random numbers/Splitmix64").
local core = require("qora.core")

-- Lua integers are signed 64-bit: hex literals wrap, so they spell unsigned values exactly.
local XOSHIRO_1234 = {
  11520, 0, 1509978240, 1215971899390074240, 1216172134540287360, 607988272756665600,
  0xE071C3C2E143F089, -- 16172922978634559625
  8476171486693032832,
  0x9309685B465C23F9, -- 10595114339597558777
  2904607092377533576,
}

local SPLITMIX_1234567 = {
  6457827717110365317, 3203168211198807973,
  0x883EBCE5A3F27C77, -- 9817491932198370423
  4593380528125082431,
}

describe("rng", function()
  it("reproduces the xoshiro256** reference sequence from state {1, 2, 3, 4}", function()
    local r = core.rng({ 1, 2, 3, 4 })
    for i, want in ipairs(XOSHIRO_1234) do
      local got = r:next()
      assert(got == want, string.format("output %d: expected %u, got %u", i, want, got))
    end
  end)

  it("is seeded with the first four splitmix64 outputs of the seed", function()
    local r = core.rng(1234567)
    assert.same(SPLITMIX_1234567, { r:state() })
  end)

  it("uniform takes the top 53 bits of the next output", function()
    local r = core.rng({ 1, 2, 3, 4 })
    for i, want in ipairs(XOSHIRO_1234) do
      assert.equal((want >> 11) * 2.0 ^ -53, r:uniform(), "draw " .. i)
    end
  end)

  it("gives the same draws for the same seed, others for another", function()
    local a, b, c = core.rng(7), core.rng(7), core.rng(8)
    local same, differ = true, false
    for _ = 1, 100 do
      local x, y, z = a:uniform(), b:uniform(), c:uniform()
      same = same and x == y
      differ = differ or x ~= z
      assert(x >= 0 and x < 1)
    end
    assert.is_true(same)
    assert.is_true(differ)
  end)

  it("can be reseeded", function()
    local r = core.rng(1)
    r:next()
    r:seed(1234567)
    assert.same(SPLITMIX_1234567, { r:state() })
  end)

  it("refuses a seed that is not an integer and a bad state", function()
    assert.has_error(function() core.rng() end)
    assert.has_error(function() core.rng("seed") end)
    assert.has_error(function() core.rng(1.5) end)
    assert.has_error(function() core.rng({ 1, 2, 3 }) end)
    assert.has_error(function() core.rng({ 0, 0, 0, 0 }) end)
    assert.has_error(function() core.rng({ 1, 2, 3, "x" }) end)
    assert.has_error(function() core.rng(1):seed("x") end)
  end)
end)
