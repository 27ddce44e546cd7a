/** The switch back benchmark's arithmetic and its own rule (tests/migration/bench-flips.ts): pure. */
import { describe, expect, it } from "vitest";
import { cpuTicks, stealPercent } from "../migration/bench";
import { type FlipRun, flipProblems, spread } from "../migration/bench-flips";

const run = (over: Partial<FlipRun> = {}): FlipRun => ({
  from: "new",
  to: "old",
  writeGapMs: 400,
  maxLatencyMs: 900,
  requests: 100,
  failed: 0,
  unknown: 0,
  lost: 0,
  outcome: "done",
  loadAvg1: 1,
  stealPct: 0,
  ...over,
});

describe("switch back benchmark", () => {
  it("spread: nearest-rank p50 and p95, and the maximum", () => {
    expect(spread([])).toEqual({ p50: 0, p95: 0, max: 0 });
    expect(spread([300])).toEqual({ p50: 300, p95: 300, max: 300 });
    const twenty = Array.from({ length: 20 }, (_, i) => (i + 1) * 100);
    expect(spread([...twenty].reverse())).toEqual({ p50: 1000, p95: 1900, max: 2000 });
  });

  it("a flip that did not finish, a rollback that did not roll back, a lost write: each named; clean runs: none", () => {
    expect(flipProblems({ size: "100MB", flips: [run()], rollbacks: [run({ outcome: "rolled-back" })] })).toEqual([]);
    expect(
      flipProblems({
        size: "100MB",
        flips: [run(), run({ outcome: "refused", lost: 2 })],
        rollbacks: [run({ outcome: "done" })],
      }),
    ).toEqual([
      "100MB flip 2 (new -> old): refused, not done",
      "100MB flip 2: 2 acknowledged write(s) lost",
      "100MB rollback 1 (new -> old): done, not rolled-back",
    ]);
  });

  it("steal: the hypervisor's share of the CPU time between two readings of /proc/stat", () => {
    expect(stealPercent({ total: 1000, steal: 40 }, { total: 1200, steal: 140 })).toBe(50);
    expect(stealPercent({ total: 1000, steal: 40 }, { total: 1000, steal: 40 })).toBe(0);
    const now = cpuTicks();
    expect(now.total).toBeGreaterThan(0);
    expect(now.steal).toBeLessThanOrEqual(now.total);
  });
});
