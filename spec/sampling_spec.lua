-- Sampling policies (qora.sampling) composed over the candidate primitives.
local core = require("qora.core")
local sampling = require("qora.sampling")

local LOGITS = { 0.5, 2.0, 1.9, -1.0, 1.0 }

local function draw(policy, n, history)
  local out = {}
  for i = 1, n do
    out[i] = policy:sample(core.candidates(LOGITS), history or {})
  end
  return out
end

describe("sampling", function()
  it("greedy picks the most likely token", function()
    assert.same({ 1, 1, 1 }, draw(sampling.greedy(), 3))
  end)

  it("temperature 0 is greedy, after the repetition penalty", function()
    -- id 1 was seen: 2.0 / 1.2 = 1.67 falls below id 2's 1.9
    local p = sampling.new({ temperature = 0, repeat_penalty = 1.2 })
    assert.same({ 2 }, draw(p, 1, { 1 }))
    assert.same({ 1 }, draw(sampling.new({ greedy = true }), 1))
  end)

  it("makes new seeds from 0 to math.maxinteger, a new one each call", function()
    local seen = {}
    for _ = 1, 64 do
      local seed = sampling.new_seed()
      assert.equal("integer", math.type(seed))
      assert.is_true(seed >= 0, tostring(seed))
      assert.is_nil(seen[seed], "seed " .. seed .. " came twice")
      seen[seed] = true
    end
  end)

  it("draws the same tokens for the same seed", function()
    local a = draw(sampling.new({ temperature = 1.5, top_k = 0, min_p = 0, seed = 7 }), 50)
    local b = draw(sampling.new({ temperature = 1.5, top_k = 0, min_p = 0, seed = 7 }), 50)
    local c = draw(sampling.new({ temperature = 1.5, top_k = 0, min_p = 0, seed = 8 }), 50)
    assert.same(a, b)
    assert.are_not.same(a, c)
  end)

  it("takes a new seed for seed = -1 or none, as the command's --seed -1, kept in policy.seed",
     function()
    local opts = { temperature = 1.5, top_k = 0, min_p = 0 }
    local seeds = {}
    for _, seed in ipairs({ -1, -1, "none" }) do
      opts.seed = seed ~= "none" and seed or nil
      local p = sampling.new(opts)
      assert.equal("integer", math.type(p.seed), tostring(seed))
      assert.is_true(p.seed >= 0, tostring(p.seed))
      assert.is_nil(seeds[p.seed], "seed " .. tostring(p.seed) .. " came twice")
      seeds[p.seed] = true
      -- the seed shown repeats the draws; 50 draws among 5 tokens tell two seeds apart
      opts.seed = p.seed
      local again = sampling.new(opts)
      assert.equal(p.seed, again.seed)
      assert.same(draw(p, 50), draw(again, 50))
    end
    opts.seed = 5
    assert.are_not.same(draw(sampling.new(opts), 50),
                        draw(sampling.new({ temperature = 1.5, top_k = 0, min_p = 0,
                                            seed = -1 }), 50))
    assert.is_nil(sampling.new({ greedy = true, seed = 5 }).seed)
    for _, bad in ipairs({ -2, math.mininteger, 1.5, "7" }) do
      opts.seed = bad
      local ok, err = pcall(sampling.new, opts)
      assert.is_false(ok)
      assert.truthy(err:find("sampling: seed must be an integer from 0 to "
                             .. math.maxinteger .. ", or -1 (or nil) for a new one, got ", 1,
                             true), err)
    end
  end)

  it("top_k = 1 always gives the most likely token", function()
    for _, id in ipairs(draw(sampling.new({ top_k = 1, temperature = 5, seed = 3 }), 20)) do
      assert.equal(1, id)
    end
  end)

  it("a chain draws only among what its steps kept", function()
    local p = sampling.chain({ sampling.top_k(2), sampling.temperature(3), sampling.dist(1) })
    local seen = {}
    for _, id in ipairs(draw(p, 200)) do seen[id] = true end
    assert.same({ [1] = true, [2] = true }, seen)
  end)

  it("a chain may share an rng made by the caller", function()
    local rng = core.rng(99)
    local p = sampling.chain({ sampling.temperature(2), sampling.dist(rng) })
    local q = sampling.chain({ sampling.temperature(2), sampling.dist(core.rng(99)) })
    assert.same(draw(q, 20), draw(p, 20))
  end)

  it("a policy is callable like a function", function()
    assert.equal(1, sampling.greedy()(core.candidates(LOGITS), {}))
  end)

  it("refuses unknown options and bad values", function()
    assert.has_error(function() sampling.new({ temprature = 1 }) end,
                     "sampling: unknown option 'temprature'; did you mean 'temperature'? "
                     .. "known: frequency_penalty, "
                     .. "greedy, min_p, presence_penalty, repeat_last_n, repeat_penalty, seed, "
                     .. "temperature, top_k, top_p")
    assert.has_error(function() sampling.new({ top_p = 2 }) end)
    assert.has_error(function() sampling.new({ top_k = 1.5 }) end)
    assert.has_error(function() sampling.new({ temperature = "hot" }) end)
    assert.has_error(function() sampling.new({ seed = "x" }) end)
    assert.has_error(function() sampling.new("greedy") end,
                     "bad argument #1 to 'new' (expected a table of options, got \"greedy\" "
                     .. "(a string))")
    assert.has_error(function() sampling.chain({}) end)
    assert.has_error(function() sampling.chain({ 1 }) end)
  end)

  it("names a wrong value as it was given, strings quoted", function()
    assert.has_error(function() sampling.new({ seed = "1" }) end,
                     "sampling: seed must be an integer from 0 to 9223372036854775807, or -1 "
                     .. '(or nil) for a new one, got "1" (a string)')
    assert.has_error(function() sampling.new({ top_k = 2.0 }) end,
                     "sampling: top_k must be an integer of at least 0, got 2.0")
    assert.has_error(function() sampling.new({ greedy = "no" }) end,
                     'sampling: greedy must be true or false, got "no" (a string)')
    assert.has_error(function() sampling.new({ greedy = 0 }) end)
    assert.has_error(function() sampling.new({ temperature = 0 / 0 }) end,
                     "sampling: temperature must be a number of at least 0, got nan")
    assert.has_error(function() sampling.new({ min_p = -(0 / 0) }) end,
                     "sampling: min_p must be a number from 0 to 1, got nan")
  end)

  it("refuses penalties beyond float32's range, which the engine would make infinite",
     function()
    assert.has_error(function() sampling.penalties({ frequency = math.huge }) end,
                     "sampling: frequency must be a number from -3.4e38 to 3.4e38, got inf")
    assert.has_error(function() sampling.new({ presence_penalty = -1e39 }) end,
                     "sampling: presence_penalty must be a number from -3.4e38 to 3.4e38, "
                     .. "got -1e+39")
    assert.has_error(function() sampling.new({ repeat_penalty = 1e39 }) end,
                     "sampling: repeat_penalty must be a number from 1e-06 to 3.4e38, "
                     .. "got 1e+39")
    assert.is_function(sampling.penalties({ frequency = 3e38, presence = -3e38 }))
  end)

  it("penalties takes a table of its own options only, as new does", function()
    assert.has_error(function() sampling.penalties(5) end,
                     "bad argument #1 to 'penalties' (expected a table of options, got 5)")
    assert.has_error(function() sampling.penalties({ bogus = 1 }) end,
                     "sampling: unknown option 'bogus'; known: frequency, last_n, presence, "
                     .. "repeat_penalty")
    assert.has_error(function() sampling.penalties({ presense = 1 }) end,
                     "sampling: unknown option 'presense'; did you mean 'presence'? known: "
                     .. "frequency, last_n, presence, repeat_penalty")
    assert.is_function(sampling.penalties())
  end)

  it("names each penalty as the function called takes it, and points to it from the other "
     .. "function's name", function()
    for _, case in ipairs({
      { "penalties", { presence = 0 / 0 }, "sampling: presence must be a number from -3.4e38 "
        .. "to 3.4e38, got nan" },
      { "penalties", { last_n = -1 }, "sampling: last_n must be an integer of at least 0, "
        .. "got -1" },
      { "penalties", { repeat_penalty = 0 }, "sampling: repeat_penalty must be a number from "
        .. "1e-06 to 3.4e38, got 0" },
      { "new", { frequency_penalty = "1" }, "sampling: frequency_penalty must be a number "
        .. 'from -3.4e38 to 3.4e38, got "1" (a string)' },
      { "new", { repeat_last_n = 0.5 }, "sampling: repeat_last_n must be an integer of at "
        .. "least 0, got 0.5" },
      { "penalties", { frequency_penalty = 0.5 }, "sampling: unknown option "
        .. "'frequency_penalty' (the name in sampling.new); penalties calls it 'frequency'" },
      { "penalties", { repeat_last_n = 8 }, "sampling: unknown option 'repeat_last_n' (the "
        .. "name in sampling.new); penalties calls it 'last_n'" },
      { "new", { presence = 0.5 }, "sampling: unknown option 'presence' (the name in "
        .. "sampling.penalties); new calls it 'presence_penalty'" },
      { "new", { last_n = 8 }, "sampling: unknown option 'last_n' (the name in "
        .. "sampling.penalties); new calls it 'repeat_last_n'" },
    }) do
      assert.has_error(function() sampling[case[1]](case[2]) end, case[3])
    end
    -- both spellings, each in its function, still make a policy
    assert.is_function(sampling.penalties({ repeat_penalty = 1.1, frequency = 0.5,
                                            presence = 0.25, last_n = 8 }))
    assert.is_table(sampling.new({ repeat_penalty = 1.1, frequency_penalty = 0.5,
                                   presence_penalty = 0.25, repeat_last_n = 8 }))
  end)

  it("checks every option of new, those that others leave unused too", function()
    for _, case in ipairs({
      { { greedy = true, top_k = -5 }, "sampling: top_k must be an integer of at least 0, "
        .. "got -5" },
      { { temperature = 0, seed = "x" }, "sampling: seed must be an integer from 0 to "
        .. math.maxinteger .. ', or -1 (or nil) for a new one, got "x" (a string)' },
      { { repeat_last_n = -1 }, "sampling: repeat_last_n must be an integer of at least 0, "
        .. "got -1" },
      { { temperature = 0, top_p = 2 }, "sampling: top_p must be a number from 0 to 1, got 2" },
      { { greedy = true, min_p = "0.1" }, 'sampling: min_p must be a number from 0 to 1, got '
        .. '"0.1" (a string)' },
      { { greedy = true, temperature = -1 }, "sampling: temperature must be a number of at "
        .. "least 0, got -1" },
    }) do
      assert.has_error(function() sampling.new(case[1]) end, case[2])
    end
    assert.is_nil(sampling.new({ greedy = true, seed = 5, repeat_last_n = 0 }).seed)
  end)

  it("dist takes a qora.Rng or a seed, and refuses any other userdata at once", function()
    assert.has_error(function() sampling.dist(io.stdout) end,
                     "bad argument #1 to 'dist' (a seed or a qora.Rng expected, got FILE*)")
    assert.is_function(sampling.dist(core.rng(1)))
  end)

  it("defaults to temperature 0.6, top-k 40, top-p 0.95 and min-p 0.05", function()
    assert.same({ temperature = 0.6, top_k = 40, top_p = 0.95, min_p = 0.05 }, sampling.DEFAULTS)
    local wide = { 1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1 }
    local function draws(opts)
      local policy, out = sampling.new(opts), {}
      for i = 1, 300 do
        out[i] = policy:sample(core.candidates(wide), {})
      end
      return out
    end
    local function seeded(opts)
      opts.seed = 5
      return draws(opts)
    end
    assert.same(seeded({ temperature = 0.6, top_k = 40, top_p = 0.95, min_p = 0.05 }),
                seeded({}))
    assert.are_not.same(seeded({ temperature = 0.8 }), seeded({}))
  end)

  it("reports a chain that never chooses a token", function()
    local p = sampling.chain({ sampling.top_k(2) })
    assert.has_error(function() p:sample(core.candidates(LOGITS), {}) end)
  end)
end)
