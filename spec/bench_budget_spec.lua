-- The time budget of `make bench` (bench/budget.lua): which extra rounds, in which order, and
-- which waiting runs of peers fit, and the note that says which were left out. Figures are
-- those of a run on the 2-core AMD host (seconds): round 1 of Q4_0 took qora 35 (its
-- bandwidth measurement included), ik_llama.cpp 31, llama.cpp 40.
local budget = dofile("bench/budget.lua")

local FIRST = { qora = 35, ik_llama = 31, llamacpp = 40 }

describe("bench budget", function()
  it("projects a round from the first-round seconds of its own implementations only", function()
    assert.are.equal(66, budget.round_seconds(FIRST, { "ik_llama", "qora" }))
    assert.are.equal(106, budget.round_seconds(FIRST, { "qora", "ik_llama", "llamacpp" }))
  end)

  it("counts an implementation with no first-round figure as the slowest one", function()
    assert.are.equal(75, budget.round_seconds({ qora = 35, llamacpp = 40 },
                                              { "qora", "ik_llama" }))
  end)

  it("lets every round run with no budget (0), however late", function()
    assert.is_true(budget.fits(0, 5000, 66, 33))
  end)

  it("runs a round whose projection, slack and reserve end within the budget", function()
    -- 66 s projected is 72.6 s with the 10 % slack; 33 s kept for the Lua overhead.
    assert.is_true(budget.fits(1140, 1033, 66, 33))   -- ends at 1138.6
    assert.is_true(budget.fits(1140, 900, 66, 33))
  end)

  it("leaves out a round that would end past the budget", function()
    assert.is_false(budget.fits(1140, 1035, 66, 33))  -- ends at 1140.6
    assert.is_false(budget.fits(1140, 1200, 0, 0))    -- already past
  end)

  it("keeps the reserve for what must follow the extra rounds", function()
    assert.is_true(budget.fits(1140, 1060, 66, 0))    -- ends at 1132.6 without the reserve
    assert.is_false(budget.fits(1140, 1060, 66, 33))
  end)

  it("allows for a round running up to 10 % slower than the first", function()
    assert.is_false(budget.fits(1140, 1070, 66, 0))   -- 1136 unslackened, 1142.6 with slack
  end)

  it("runs a waiting peer's run where what it took on the first file fits", function()
    -- llama.cpp's 40 s on the first file is 44 s with the slack; 33 s kept for the Lua overhead.
    assert.is_true((budget.run_fits(1140, 1062, FIRST, "llamacpp", 33)))   -- ends at 1139
    assert.is_false((budget.run_fits(1140, 1064, FIRST, "llamacpp", 33)))  -- ends at 1141
  end)

  it("projects a waiting run from its own implementation's seconds, not the others'", function()
    -- ik_llama.cpp's 31 s is 34.1 with the slack, llama.cpp's 44, the three together 116.6.
    assert.is_true((budget.run_fits(1140, 1070, FIRST, "ik_llama", 33)))   -- ends at 1137.1
    assert.is_false((budget.run_fits(1140, 1070, FIRST, "llamacpp", 33)))  -- ends at 1147
    local _, need = budget.run_fits(1140, 1070, FIRST, "llamacpp", 33)
    assert.is_true(math.abs(need - 44) < 1e-9)
  end)

  it("counts a peer with no run on the first file as the slowest that has one", function()
    -- qora's 35 s is 38.5 with the slack: ends at 1141.5, where 0 s would end at 1103.
    assert.is_false((budget.run_fits(1140, 1070, { qora = 35, ik_llama = 31 }, "llamacpp", 33)))
  end)

  it("runs every waiting run with no budget (0), however late", function()
    assert.is_true((budget.run_fits(0, 5000, FIRST, "llamacpp", 33)))
  end)

  -- Under a budget each file has had its first round and, where it has long rows, its first
  -- long round when the extra rounds begin; q8_0 is measured in one round, with no long rows.
  local FILES = { { name = "q4_0", rounds = 1, planned = 3, long_rounds = 1, long_planned = 3 },
                  { name = "q4_k_m", rounds = 1, planned = 3, long_rounds = 1, long_planned = 3 },
                  { name = "q8_0", rounds = 1, planned = 1, long_rounds = 0, long_planned = 0 } }

  -- "q4_0 2, q4_k_m long 2": the extra rounds in the order given, by file name.
  local function order(files)
    local out = {}
    for i, r in ipairs(budget.extra_rounds(files)) do
      out[i] = string.format("%s%s %d", r.file.name, r.long and " long" or "", r.round)
    end
    return table.concat(out, ", ")
  end

  it("tries every extra round at the prompt's context before any long round", function()
    assert.are.equal("q4_0 2, q4_0 3, q4_k_m 2, q4_k_m 3, "
                     .. "q4_0 long 2, q4_0 long 3, q4_k_m long 2, q4_k_m long 3", order(FILES))
  end)

  it("tries only the rounds a file has not had, none of a file with no long rows", function()
    local files = {
      { name = "q4_0", rounds = 2, planned = 3, long_rounds = 1, long_planned = 3 },
      { name = "q8_0", rounds = 1, planned = 1, long_rounds = 0, long_planned = 0 },
      { name = "q4_k_m", rounds = 1, planned = 2, long_rounds = 2, long_planned = 2 } }
    assert.are.equal("q4_0 3, q4_k_m 2, q4_0 long 2, q4_0 long 3", order(files))
  end)

  it("says nothing when the budget left no round out", function()
    assert.is_nil(budget.cut_line(1140, {}))
    assert.is_nil(budget.cut_line(1140, {}, {}))
  end)

  it("names the rounds left out, files that lost the same rounds together", function()
    local cut = { { file = "q4_0", from = 3, to = 3 }, { file = "q4_k_m", from = 2, to = 3 },
                  { file = "q6_k", from = 2, to = 3 } }
    assert.are.equal("BENCH_BUDGET 1140 s: round 3 of q4_0; rounds 2-3 of q4_k_m, q6_k left "
                     .. "out to finish in time", budget.cut_line(1140, cut))
  end)

  it("names the long rounds left out after the others, as long rounds", function()
    local cut = { { file = "q4_k_m", from = 3, to = 3 },
                  { file = "q4_0", from = 2, to = 3, long = true },
                  { file = "q4_k_m", from = 2, to = 3, long = true } }
    assert.are.equal("BENCH_BUDGET 1140 s: round 3 of q4_k_m; long rounds 2-3 of q4_0, q4_k_m "
                     .. "left out to finish in time", budget.cut_line(1140, cut))
    assert.are.equal("BENCH_BUDGET 1140 s: long round 3 of q4_k_m left out to finish in time",
                     budget.cut_line(1140, { { file = "q4_k_m", from = 3, to = 3, long = true } }))
  end)

  it("does not group a file's long rounds with another's rounds at ctx 512", function()
    local cut = { { file = "q4_k_m", from = 3, to = 3 },
                  { file = "q4_0", from = 3, to = 3, long = true } }
    assert.are.equal("BENCH_BUDGET 1140 s: round 3 of q4_k_m; long round 3 of q4_0 left out to "
                     .. "finish in time", budget.cut_line(1140, cut))
  end)

  it("names the runs left out first, each implementation's files together", function()
    local runs = { { impl = "llamacpp", file = "q4_k_m" }, { impl = "llamacpp", file = "q8_0" } }
    assert.are.equal("BENCH_BUDGET 1140 s: llamacpp's runs on q4_k_m, q8_0; rounds 2-3 of "
                     .. "q4_k_m left out to finish in time",
                     budget.cut_line(1140, { { file = "q4_k_m", from = 2, to = 3 } }, runs))
    assert.are.equal("BENCH_BUDGET 1140 s: llamacpp's run on q8_0 left out to finish in time",
                     budget.cut_line(1140, {}, { { impl = "llamacpp", file = "q8_0" } }))
  end)
end)
