/**
 * The switch back benchmark, on the harness: one pair of droplets, the old one filled with pgbench tables, a first
 * migration old -> new (so that the old one follows), then `flips` switch backs, each the other way from the last,
 * and `rollbacks` switch backs that fail after the fence (the executor seam) and roll back, each under load and
 * judged by the set checker. Run by tests/bench/bench-migration.ts (--flips, --rollbacks); figures, not assertions.
 */
import type { Executor } from "../../infra/migration/runner";
import type { WriteRecord } from "./checker";
import { clientFigures, cpuTicks, loadAverage, stealPercent } from "./bench";
import { type Harness, type HarnessDroplet, seedDatabase, startHarness } from "./harness";
import { FAULT_POINTS, failAfter } from "./seams";

/** One cutover (or rolled-back cutover) under load: what its clients saw and what the set check found. */
export interface FlipRun {
  from: string;
  to: string;
  /** Longest time in which no write committed (commit times on the serving primary afterwards). */
  writeGapMs: number;
  /** The runner's own figure: fence to traffic moved (flips only). */
  runnerGapMs?: number;
  maxLatencyMs: number;
  requests: number;
  failed: number;
  unknown: number;
  lost: number;
  /** done for a flip, rolled-back for a rollback: anything else is a problem. */
  outcome: string;
  loadAvg1: number;
  /** Percent of the machine's CPU time taken by the hypervisor during the run (steal). */
  stealPct: number;
  /** What the clients of writes not acknowledged saw, the first three. */
  notAnswered?: string[];
}

export interface Spread {
  p50: number;
  p95: number;
  max: number;
}

export interface FlipBench {
  size: string;
  dbBytes: number;
  flips: FlipRun[];
  rollbacks: FlipRun[];
  summary: Record<"flips" | "rollbacks", Record<"writeGapMs" | "maxLatencyMs", Spread>>;
}

/** Nearest-rank percentiles and the maximum (0 for no values). */
export function spread(values: readonly number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
  return { p50: rank(50), p95: rank(95), max: sorted.at(-1) ?? 0 };
}

/** What the benchmark's own rule says is wrong: a run that did not end as planned, or a lost write. */
export function flipProblems(b: Pick<FlipBench, "size" | "flips" | "rollbacks">): string[] {
  const runs = [
    ...b.flips.map((r, i) => ({ r, name: `flip ${i + 1}`, want: "done" })),
    ...b.rollbacks.map((r, i) => ({ r, name: `rollback ${i + 1}`, want: "rolled-back" })),
  ];
  return runs.flatMap(({ r, name, want }) => [
    ...(r.outcome === want ? [] : [`${b.size} ${name} (${r.from} -> ${r.to}): ${r.outcome}, not ${want}`]),
    ...(r.lost > 0 ? [`${b.size} ${name}: ${r.lost} acknowledged write(s) lost`] : []),
  ]);
}

/** One switch back under load, from the serving droplet to the other; `failing`: through the fault after the fence. */
async function switchOnce(h: Harness, failing: boolean): Promise<FlipRun> {
  const from = h.serving();
  const to: HarnessDroplet = from === h.old ? h.next : h.old;
  const loadAvg1 = loadAverage();
  const ticks = cpuTicks();
  const { result: report, records } = await h.withLoad(
    () =>
      h.migrate({
        from,
        to,
        switchBack: true,
        ...(failing ? { wrap: (exec: Executor) => failAfter(exec, FAULT_POINTS.replicate.fence) } : {}),
      }),
    { settleMs: 1000 },
  );
  const check = await h.check(records, h.serving());
  return {
    from: from.name,
    to: to.name,
    writeGapMs: check.pgGapMs,
    ...(failing ? {} : { runnerGapMs: report.writeDowntimeMs ?? 0 }),
    maxLatencyMs: clientFigures(records).maxLatencyMs,
    requests: records.length,
    failed: check.failed,
    unknown: check.unknown,
    lost: check.lost.length,
    outcome: report.outcome,
    loadAvg1,
    stealPct: stealPercent(ticks),
    ...notAnswered(records),
  };
}

/** What the clients of unknown or failed writes saw (status and the start of the body or error), the first three. */
function notAnswered(records: readonly WriteRecord[]): { notAnswered?: string[] } {
  const seen = records
    .filter((r) => r.pg !== "ok")
    .slice(0, 3)
    .map((r) => `${r.pg} ${r.status ?? 0}: ${r.detail ?? ""}`);
  return seen.length ? { notAnswered: seen } : {};
}

export async function benchFlips(
  sizeLabel: string,
  bytes: number,
  counts: { flips: number; rollbacks: number },
  log = console.error,
): Promise<FlipBench> {
  const h = await startHarness();
  try {
    log(`[${sizeLabel} flips] seeding ~${sizeLabel}`);
    const dbBytes = await seedDatabase(h.old.pg, bytes);
    await h.old.pg.psql("CHECKPOINT");
    const first = await h.migrate({ skipBackup: true });
    if (first.outcome !== "done") throw new Error(`the first migration did not finish: ${first.outcome}`);
    const flips: FlipRun[] = [];
    const rollbacks: FlipRun[] = [];
    for (let i = 0; i < counts.rollbacks; i++) {
      rollbacks.push(await switchOnce(h, true));
      log(`[${sizeLabel}] rollback ${i + 1}: ${JSON.stringify(rollbacks.at(-1))}`);
    }
    for (let i = 0; i < counts.flips; i++) {
      flips.push(await switchOnce(h, false));
      log(`[${sizeLabel}] flip ${i + 1}: ${JSON.stringify(flips.at(-1))}`);
      if (flips.at(-1)?.outcome !== "done") break; // the next would start from a state this one left
    }
    const of = (runs: FlipRun[]) => ({
      writeGapMs: spread(runs.map((r) => r.writeGapMs)),
      maxLatencyMs: spread(runs.map((r) => r.maxLatencyMs)),
    });
    return { size: sizeLabel, dbBytes, flips, rollbacks, summary: { flips: of(flips), rollbacks: of(rollbacks) } };
  } finally {
    await h.stop();
  }
}
