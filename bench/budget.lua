-- bench/budget.lua: the time budget of `make bench` (BENCH_BUDGET), used by bench/run.lua.
-- Which extra rounds, in which order, and which runs of peers that carry no target, fit is
-- decided here, apart from the runs, so that spec/bench_budget_spec.lua can check the
-- decisions without timing anything.
local M = {}

-- A round is projected from the same runs' first round, and the second of a run took up to
-- 10 % longer than its first on the AMD host (ik_llama.cpp on Q4_0: 29, 31, 32 s).
M.SLACK = 1.1

--- Seconds one round of a file is projected to take: the sum of what each of its
--- implementations took on the same file in the first round. An implementation that has no
--- such figure counts as the slowest one that has.
--- @param first table seconds by implementation, from the first round of the file
--- @param impls string[] the implementations of the round
--- @return number
function M.round_seconds(first, impls)
  local slowest = 0
  for _, s in pairs(first) do slowest = math.max(slowest, s) end
  local sum = 0
  for _, impl in ipairs(impls) do sum = sum + (first[impl] or slowest) end
  return sum
end

--- Whether a round projected to take need seconds fits in the budget: always with no budget
--- (0); otherwise when need, with SLACK, and reserve, the seconds kept for the runs that must
--- follow it, end within budget seconds of the start.
--- @param budget number seconds from the start of `make bench`; 0: no budget
--- @param elapsed number seconds since that start
--- @param need number the round's projected seconds (round_seconds)
--- @param reserve number seconds kept for what follows the extra rounds
--- @return boolean
function M.fits(budget, elapsed, need, reserve)
  if budget == 0 then return true end
  return elapsed + need * M.SLACK + reserve <= budget
end

--- Whether a run that waits for what is left of the budget (a BENCH_OPTIONAL peer on a file
--- after the first) fits: always with no budget (0); otherwise when what the same
--- implementation took on the first file (counted as round_seconds counts it), with SLACK,
--- and reserve end within budget seconds of the start.
--- @param budget number seconds from the start of `make bench`; 0: no budget
--- @param elapsed number seconds since that start
--- @param first table seconds by implementation, from the first round of the first file
--- @param impl string the implementation of the run
--- @param reserve number seconds kept for what follows
--- @return boolean fits
--- @return number the run's projected seconds, SLACK included
function M.run_fits(budget, elapsed, first, impl, reserve)
  local need = M.round_seconds(first, { impl })
  return M.fits(budget, elapsed, need, reserve), need * M.SLACK
end

--- The extra rounds, in the order they are tried under a budget: those at the prompt's context
--- first, file by file, then those of the long rows, file by file. A round at the prompt's
--- context carries targets on every file that has one, the long rows on one or two files, so
--- no long round goes before them; and the first that does not fit ends all (run.lua), so the
--- rounds at the prompt's context keep first claim on what is left of the budget.
--- @param files table[] { name = file, rounds = done, planned = rounds wanted, long_rounds =
---   long rounds done, long_planned = long rounds wanted (0: no long rows) }, in file order
--- @return table[] { file = the entry of files, round = n, long = true for a long round }
function M.extra_rounds(files)
  local out = {}
  for _, long in ipairs({ false, true }) do
    for _, f in ipairs(files) do
      local done, planned = f.rounds, f.planned
      if long then done, planned = f.long_rounds, f.long_planned end
      for round = done + 1, planned do
        out[#out + 1] = { file = f, round = round, long = long or nil }
      end
    end
  end
  return out
end

-- "llamacpp's runs on q4_k_m, q8_0", one group per implementation, in the order of runs.
local function run_groups(runs)
  local files, order = {}, {}
  for _, r in ipairs(runs or {}) do
    if not files[r.impl] then files[r.impl], order[#order + 1] = {}, r.impl end
    table.insert(files[r.impl], r.file)
  end
  local parts = {}
  for i, impl in ipairs(order) do
    parts[i] = string.format("%s's run%s on %s", impl, #files[impl] > 1 and "s" or "",
                             table.concat(files[impl], ", "))
  end
  return parts
end

--- The note that says which runs and rounds the budget left out, nil when it left out none.
--- The runs come first, grouped by implementation; then files that lost the same rounds share
--- a group, in the order of cut: "BENCH_BUDGET 1140 s: llamacpp's runs on q4_k_m, q8_0; round 3
--- of q4_0; rounds 2-3 of q4_k_m, q8_0; long rounds 2-3 of q4_0 left out to finish in time".
--- @param budget number
--- @param cut table[] { file = name, from = first round left out, to = last, long = true for
---   the long rows' rounds }, the rounds at the prompt's context first, each in file order
--- @param runs table[]|nil { impl = name, file = name }: runs left out (run_fits), in file order
--- @return string|nil
function M.cut_line(budget, cut, runs)
  local groups = {}
  for _, c in ipairs(cut) do
    local rounds = c.from == c.to and string.format("round %d", c.from)
      or string.format("rounds %d-%d", c.from, c.to)
    if c.long then rounds = "long " .. rounds end
    local last = groups[#groups]
    if last and last.rounds == rounds then
      last.files[#last.files + 1] = c.file
    else
      groups[#groups + 1] = { rounds = rounds, files = { c.file } }
    end
  end
  local parts = run_groups(runs)
  for _, g in ipairs(groups) do
    parts[#parts + 1] = g.rounds .. " of " .. table.concat(g.files, ", ")
  end
  if #parts == 0 then return nil end
  return string.format("BENCH_BUDGET %d s: %s left out to finish in time", budget,
                       table.concat(parts, "; "))
end

return M
