-- The candidate-set primitives (qora.core.candidates) on logits whose answers are known by
-- hand: each expected value below follows from the definition, not from running qora.
local core = require("qora.core")

-- The live candidates as { id, ... } in the set's order.
local function ids_of(c)
  local out = {}
  for i = 1, c:count() do
    out[i] = (c:get(i))
  end
  return out
end

-- Logits whose softmax is exactly the given probabilities (up to float rounding).
local function logits_for(probs)
  local out = {}
  for i, p in ipairs(probs) do
    out[i] = math.log(p)
  end
  return out
end

describe("candidates", function()
  it("start with every id in vocabulary order, logits as given", function()
    local c = core.candidates({ 0.5, -1, 2 })
    assert.equal(3, c:count())
    assert.same({ 0, 1, 2 }, ids_of(c))
    local id, logit, prob = c:get(3)
    assert.equal(2, id)
    assert.equal(2, logit)
    assert.is_nil(prob)
  end)

  it("softmax gives exp(l - max) / sum, summing to 1", function()
    local logits = { 1.5, -0.25, 3, 0, 2.75 }
    local c = core.candidates(logits):softmax()
    local max, z = 3, 0
    for _, l in ipairs(logits) do z = z + math.exp(l - max) end
    local sum = 0
    for i = 1, c:count() do
      local id, _, p = c:get(i)
      assert.near(math.exp(logits[id + 1] - max) / z, p, 1e-6)
      sum = sum + p
    end
    assert.near(1, sum, 1e-6)
  end)

  it("softmax of a set whose logits are all -inf shares the mass evenly", function()
    local c = core.candidates({ -math.huge, -math.huge }):softmax()
    assert.equal(0.5, select(3, c:get(1)))
    assert.equal(0.5, select(3, c:get(2)))
  end)

  it("top_k keeps the k best, best first, the smaller id first among equals", function()
    local c = core.candidates({ 0.1, 4, -2, 4, 3, 0.2 })
    assert.same({ 1, 3, 4 }, ids_of(c:top_k(3)))
  end)

  it("top_k of 0 or of more than the set keeps every candidate", function()
    assert.equal(4, core.candidates({ 1, 2, 3, 4 }):top_k(0):count())
    assert.equal(4, core.candidates({ 1, 2, 3, 4 }):top_k(10):count())
  end)

  it("top_k finds the best ids in a large vocabulary", function()
    local logits = {}
    for i = 1, 50000 do logits[i] = ((i * 7919) % 50000) / 50000 end
    -- (i * 7919) % 50000 is a permutation: logit 49999/50000 belongs to i with the residue
    -- 49999, and so on; find the three best by a plain scan.
    local best = {}
    for i, l in ipairs(logits) do best[#best + 1] = { id = i - 1, l = l } end
    table.sort(best, function(a, b) return a.l > b.l end)
    local c = core.candidates(logits):top_k(3)
    assert.same({ best[1].id, best[2].id, best[3].id }, ids_of(c))
  end)

  it("top_p keeps the smallest best-first prefix reaching p", function()
    local logits = logits_for({ 0.125, 0.5, 0.125, 0.25 })
    assert.same({ 1 }, ids_of(core.candidates(logits):top_p(0.45)))
    assert.same({ 1, 3 }, ids_of(core.candidates(logits):top_p(0.7)))
    assert.same({ 1, 3, 0 }, ids_of(core.candidates(logits):top_p(0.8)))
    assert.equal(4, core.candidates(logits):top_p(1):count())
  end)

  it("top_p keeps at least min_keep candidates", function()
    local logits = logits_for({ 0.125, 0.5, 0.125, 0.25 })
    assert.same({ 1, 3, 0 }, ids_of(core.candidates(logits):top_p(0.1, 3)))
  end)

  it("a min_keep beyond any set keeps it all", function()
    -- 2^40 was refused with "min_keep must be at least 1"
    assert.equal(3, core.candidates({ 1, 2, 3 }):top_p(0.1, 1 << 40):count())
    assert.equal(3, core.candidates({ 1, 2, 3 }):min_p(0.9, math.maxinteger):count())
  end)

  it("top_p works past its first sorting window", function()
    local logits = {}
    for i = 1, 1000 do logits[i] = 0 end
    -- 1000 equal probabilities of 0.001: 500 of them reach 0.4995, 499 do not
    local c = core.candidates(logits):top_p(0.4995)
    assert.equal(500, c:count())
    assert.same({ 0, 1, 2 }, { (c:get(1)), (c:get(2)), (c:get(3)) })
    assert.equal(499, (c:get(500)))
  end)

  it("top_p keeps the same set as a full sort on a wide distribution", function()
    local rng = core.rng(2024)
    for _, case in ipairs({ { n = 5000, spread = 3, p = 0.9 }, { n = 20000, spread = 8, p = 0.5 },
                            { n = 3000, spread = 40, p = 0.95 } }) do
      local logits, order = {}, {}
      for i = 1, case.n do
        logits[i] = (rng:uniform() * 2 - 1) * case.spread
        order[i] = i
      end
      -- the reference: softmax in double precision, a full sort, the first prefix reaching p
      table.sort(order, function(a, b)
        if logits[a] ~= logits[b] then return logits[a] > logits[b] end
        return a < b
      end)
      local z, max = 0, logits[order[1]]
      for i = 1, case.n do z = z + math.exp(logits[i] - max) end
      local want, cum = {}, 0
      for _, i in ipairs(order) do
        want[i - 1] = true
        cum = cum + math.exp(logits[i] - max) / z
        if cum >= case.p then break end
      end
      local c = core.candidates(logits):top_p(case.p)
      local got, n_want = {}, 0
      for _ in pairs(want) do n_want = n_want + 1 end
      for i = 1, c:count() do got[(c:get(i))] = true end
      assert.equal(n_want, c:count(), "kept count, n = " .. case.n)
      assert.same(want, got)
    end
  end)

  it("min_p keeps the candidates with at least p times the best probability", function()
    local logits = logits_for({ 0.1, 0.4, 0.2, 0.05, 0.25 })
    -- relative to 0.4: 0.25, 0.5, 0.125, 0.625
    assert.same({ 1, 2, 4 }, ids_of(core.candidates(logits):min_p(0.3)))
    assert.same({ 1, 4 }, ids_of(core.candidates(logits):min_p(0.6)))
    assert.same({ 1, 4, 2 }, ids_of(core.candidates(logits):min_p(0.99, 3)))
  end)

  it("penalize divides positive logits and multiplies negative ones, as llama.cpp", function()
    local c = core.candidates({ 2, -1, 0.5, 3 })
    c:penalize({ 0, 1, 1 }, 2, 0, 0)
    assert.same({ 1, -2, 0.5, 3 }, { select(2, c:get(1)), select(2, c:get(2)),
                                     select(2, c:get(3)), select(2, c:get(4)) })
  end)

  it("penalize subtracts count * frequency and presence once", function()
    local c = core.candidates({ 2, -1, 0.5, 3 })
    c:penalize({ 0, 1, 1 }, 2, 0.25, 0.5)
    assert.near(2 / 2 - 0.25 - 0.5, select(2, c:get(1)), 1e-6)
    assert.near(-1 * 2 - 2 * 0.25 - 0.5, select(2, c:get(2)), 1e-6)
    assert.equal(0.5, select(2, c:get(3)))
  end)

  it("penalize looks only at the last last_n ids of the history", function()
    local c = core.candidates({ 2, -1, 0.5, 3 })
    c:penalize({ 0, 1, 1 }, 2, 0, 0, 2)
    assert.equal(2, select(2, c:get(1)))
    assert.equal(-2, select(2, c:get(2)))
  end)

  it("penalize finds the ids after the set was reordered, and can be repeated", function()
    local c = core.candidates({ 2, -1, 0.5, 3 }):top_k(3)  -- order 3, 0, 2
    c:penalize({ 2, 3 }, 2, 0, 0)
    assert.same({ 3, 0, 2 }, ids_of(c))
    assert.same({ 1.5, 2, 0.25 }, { select(2, c:get(1)), select(2, c:get(2)),
                                    select(2, c:get(3)) })
    c:penalize({ 0 }, 2, 0, 0)
    assert.equal(1, select(2, c:get(2)))
  end)

  it("temperature divides logits; 0 keeps only the best", function()
    local c = core.candidates({ 1, 3, -2 }):temperature(0.5)
    assert.same({ 2, 6, -4 }, { select(2, c:get(1)), select(2, c:get(2)), select(2, c:get(3)) })
    assert.same({ 1 }, ids_of(core.candidates({ 1, 3, -2, 3 }):temperature(0)))
  end)

  it("an infinite temperature keeps a -inf logit at -inf: the rest share the draw", function()
    -- the limit as t grows: finite logits / t -> 0, -inf / t stays -inf (never chosen)
    local c = core.candidates({ 1, -math.huge, 3 }):temperature(math.huge):softmax()
    local p = {}
    for i = 1, c:count() do
      local id, _, prob = c:get(i)
      p[id] = prob
    end
    assert.same({ [0] = 0.5, [1] = 0, [2] = 0.5 }, p)
  end)

  it("refuse penalties that are infinite as float32: they would make NaN logits", function()
    -- inf - inf: a token seen twice with frequency +inf and presence -inf had a NaN logit,
    -- which argmax then took when it stood first
    local c = core.candidates({ 1, 2 })
    for _, args in ipairs({ { 1, math.huge, -math.huge }, { 1, 1e39, -1e39 },
                            { math.huge, 0, 0 }, { 1, 0, -math.huge } }) do
      local ok, err = pcall(c.penalize, c, { 0, 0 }, table.unpack(args))
      assert.is_false(ok)
      assert.is_truthy(err:find("must be finite as a float32", 1, true), err)
    end
    assert.equal(1, c:argmax())
  end)

  it("a temperature so small that the logits would overflow leaves the best alone", function()
    -- as t goes to 0 the softmax of l / t puts all the mass on the best logit (shared among
    -- equals); 3 / 1e-40 overflows a float, and so would every positive logit
    for _, logits in ipairs({ { 1, 3, -2, 2.5 }, { -1, -3, -0.5 }, { 1, 3, -2, 3 } }) do
      local c = core.candidates(logits):temperature(1e-40):softmax()
      local best, n_best = -math.huge, 0
      for _, l in ipairs(logits) do best = math.max(best, l) end
      for _, l in ipairs(logits) do n_best = n_best + (l == best and 1 or 0) end
      for i = 1, c:count() do
        local id, _, p = c:get(i)
        local want = logits[id + 1] == best and 1 / n_best or 0
        assert(p == want, ("logits {%s}: id %d has probability %s, expected %s")
               :format(table.concat(logits, ", "), id, p, want))
      end
    end
  end)

  it("argmax returns the best id, the smallest among equals", function()
    assert.equal(1, core.candidates({ 0, 5, 2, 5 }):argmax())
    assert.equal(3, core.candidates({ 0, 1, 2, 7 }):softmax():argmax())
  end)

  it("pick walks the probabilities in order", function()
    local logits = logits_for({ 0.5, 0.25, 0.25 })
    local c = core.candidates(logits):softmax()
    assert.equal(0, c:pick(0))
    assert.equal(0, c:pick(0.49))
    assert.equal(1, c:pick(0.51))
    assert.equal(1, c:pick(0.74))
    assert.equal(2, c:pick(0.76))
    assert.equal(2, c:pick(0.999999))
  end)

  it("pick renormalises over what top_k left", function()
    local c = core.candidates(logits_for({ 0.5, 0.25, 0.25 })):top_k(2)
    -- left: 0.5 and 0.25, that is 2/3 and 1/3
    assert.equal(0, c:pick(0.66))
    assert.equal(1, c:pick(0.67))
  end)

  it("sample draws about as often as the probabilities say", function()
    local logits = logits_for({ 0.6, 0.3, 0.1 })
    local c = core.candidates(logits):softmax()
    local rng = core.rng(42)
    local seen = { [0] = 0, 0, 0 }
    for _ = 1, 20000 do
      local id = c:sample(rng)
      seen[id] = seen[id] + 1
    end
    assert.near(0.6, seen[0] / 20000, 0.02)
    assert.near(0.3, seen[1] / 20000, 0.02)
    assert.near(0.1, seen[2] / 20000, 0.02)
  end)

  it("refuse wrong arguments with errors that name them", function()
    assert.has_error(function() core.candidates() end)
    assert.has_error(function() core.candidates({}) end)
    assert.has_error(function() core.candidates({ 1, "x" }) end)
    local c = core.candidates({ 1, 2 })
    assert.has_error(function() c:top_k("many") end)
    assert.has_error(function() c:top_k(1.5) end)
    local ok, err = pcall(c.top_k, c, 0 / 0)
    assert.is_false(ok)
    assert.is_truthy(err:find("integer expected, got nan)", 1, true), err)
    assert.has_error(function() c:top_p(0 / 0) end)
    assert.has_error(function() c:top_p(0.5, 0) end)
    assert.has_error(function() c:min_p() end)
    assert.has_error(function() c:temperature({}) end)
    assert.has_error(function() c:penalize(nil, 1, 0, 0) end)
    assert.has_error(function() c:penalize({ "a" }, 1.1, 0, 0) end)
    assert.has_error(function() c:penalize({ 1 }, 0, 0, 0) end)
    assert.has_error(function() c:penalize({ 1 }, 1.1, 0, 0, -1) end)
    assert.has_error(function() c:get(0) end)
    assert.has_error(function() c:get(3) end)
    assert.has_error(function() c:sample({}) end)
    assert.has_error(function() c:pick(1) end)
    assert.has_error(function() c.top_k({}, 1) end)
    assert.has_error(function() c.count(core.rng(1)) end)
  end)

  it("ignore ids in a history that are not in the vocabulary", function()
    local c = core.candidates({ 1, 2 })
    c:penalize({ -5, 7, 1 }, 2, 0, 0)
    assert.equal(1, select(2, c:get(1)))
    assert.equal(1, select(2, c:get(2)))
  end)
end)
