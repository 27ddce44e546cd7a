/**
 * npm run bench:migration -- [--sizes 100MB,1GB] [--json] [--strategies replicate,dump-restore,scale-out] [--no-control]
 * npm run bench:migration -- --flips N --rollbacks M [--sizes 100MB[,1GB]] [--json]
 *
 * Runs each strategy at each size on the loopback harness (tests/migration/harness.ts): the tier migration's two
 * strategies, and `scale-out`, the logical cutover into the managed cluster (tests/scale-out/bench.ts). Prints, per
 * run: strategy, database size, requests and their outcomes, lost writes, latencies, the write gap, total seconds,
 * the front door and the load average (plus, for the tier migration, copy throughput next to a raw copy of the same
 * data directory); then the same table in markdown for the README. A negative control (replicate without fencing)
 * runs at the first size. With --flips/--rollbacks it runs the switch back benchmark instead (tests/migration/
 * bench-flips.ts): per size, N switch backs back and forth and M rolled back after the fence, each under load.
 * Exit codes: see --help (scripts/cli-exit.ts); the checks are benchMigrationProblems below and flipProblems.
 */
import Table from "cli-table3";
import { Command } from "commander";
import { STRATEGIES, type Strategy } from "../../infra/migration/strategy";
import {
  type BenchRow,
  benchOne,
  type CutoverFigures,
  formatBenchMarkdown,
  formatBenchTable,
  parseSize,
} from "../migration/bench";
import { benchFlips, type FlipBench, flipProblems } from "../migration/bench-flips";
import { benchScaleOut, type ScaleOutBenchRow } from "../scale-out/bench";
import { asUsage, EXIT, runCli, UsageError } from "../../scripts/cli-exit";

interface Options {
  sizes: string;
  strategies: string;
  control: boolean;
  json?: boolean;
  flips?: string;
  rollbacks?: string;
}

/** --flips/--rollbacks: a whole number of runs, 0 to 1000. */
function runCount(flag: string, value: string | undefined): number {
  if (value === undefined) return 0;
  if (!/^\d{1,4}$/.test(value) || Number(value) > 1000)
    throw new UsageError(`${flag} must be a whole number of runs from 0 to 1000, got "${value}"`);
  return Number(value);
}

/** The switch back benchmark's runs as a terminal table, then the spread of each kind. */
function formatFlips(b: FlipBench): string {
  const t = new Table({
    head: [
      "run",
      "from -> to",
      "outcome",
      "requests",
      "failed",
      "unknown",
      "lost",
      "write gap ms",
      "max latency ms",
      "load avg",
      "steal %",
    ],
    style: { head: [] },
  });
  for (const [kind, runs] of [
    ["flip", b.flips],
    ["rollback", b.rollbacks],
  ] as const)
    runs.forEach((r, i) =>
      t.push(
        [
          `${kind} ${i + 1}`,
          `${r.from} -> ${r.to}`,
          r.outcome,
          r.requests,
          r.failed,
          r.unknown,
          r.lost,
          r.writeGapMs,
          r.maxLatencyMs,
          r.loadAvg1,
          r.stealPct,
        ].map(String),
      ),
    );
  const line = (kind: "flips" | "rollbacks") =>
    `${kind}: write gap p50 ${b.summary[kind].writeGapMs.p50} / p95 ${b.summary[kind].writeGapMs.p95} / max ${b.summary[kind].writeGapMs.max} ms; max latency p50 ${b.summary[kind].maxLatencyMs.p50} / p95 ${b.summary[kind].maxLatencyMs.p95} / max ${b.summary[kind].maxLatencyMs.max} ms`;
  return [
    `${b.size} (database ${(b.dbBytes / 1048576).toFixed(0)} MB)`,
    t.toString(),
    line("flips"),
    line("rollbacks"),
  ].join("\n");
}

const CONTROL = "replicate (unfenced: negative control)";
/** What --strategies accepts: the tier migration's strategies and the scale-out cutover. */
const BENCH_STRATEGIES = [...STRATEGIES, "scale-out"] as const;
type BenchStrategy = (typeof BENCH_STRATEGIES)[number];
type Row = BenchRow | ScaleOutBenchRow;

/**
 * What the benchmark's own targets say is wrong: a real run that did not finish, lost an acknowledged write or found
 * a write recorded as failed; a negative control that lost nothing (then the checker proves nothing).
 */
export function benchMigrationProblems(
  rows: readonly Pick<Row, "strategy" | "size" | "completed" | "lost" | "failedButPresent" | "note">[],
): string[] {
  return rows.flatMap((r) => {
    const run = `${r.strategy} ${r.size}`;
    if (r.strategy === CONTROL)
      return r.lost > 0
        ? []
        : [`${run}: the negative control lost no acknowledged write, so "0 lost" in the other runs proves nothing`];
    return [
      ...(r.completed ? [] : [`${run}: did not complete (${r.note ?? "no reason given"})`]),
      ...(r.lost > 0 ? [`${run}: ${r.lost} acknowledged write(s) lost`] : []),
      ...(r.failedButPresent > 0 ? [`${run}: ${r.failedButPresent} write(s) recorded as failed are present`] : []),
    ];
  });
}

/**
 * The targets for a quiet machine, reported (not judged: the figures depend on the machine's load, which
 * each row carries): failed and unknown 0, max latency at most 2,000 ms, write gap at most 1,000 ms.
 */
export function benchTargetsMissed(rows: readonly CutoverFigures[]): string[] {
  return rows
    .filter((r) => r.strategy !== CONTROL && r.strategy !== "dump-restore")
    .flatMap((r) => {
      const run = `${r.strategy} ${r.size} (load ${r.loadAvg1})`;
      return [
        ...(r.failed + r.unknown > 0
          ? [`${run}: ${r.failed} failed and ${r.unknown} unknown requests (target 0)`]
          : []),
        ...(r.maxLatencyMs > 2000 ? [`${run}: max latency ${r.maxLatencyMs} ms (target <= 2000)`] : []),
        ...(r.writeGapMs > 1000 ? [`${run}: write gap ${r.writeGapMs} ms (target <= 1000)`] : []),
      ];
    });
}

const program = new Command("bench:migration")
  .description(
    "Time the tier migration's strategies and the scale-out cutover at each size on the loopback harness, with the no-loss check",
  )
  .option("--sizes <list>", "database sizes, comma-separated", "100MB,1GB")
  .option(
    "--strategies <list>",
    "comma-separated: replicate and dump-restore (tier migration), scale-out (logical cutover into the managed cluster)",
    BENCH_STRATEGIES.join(","),
  )
  .option("--no-control", "skip the negative control")
  .option(
    "--flips <n>",
    "the switch back benchmark instead: after a first migration, n switch backs back and forth, each under load",
  )
  .option("--rollbacks <m>", "with it (or alone): m switch backs that fail after the fence and roll back")
  .option("--json", "print the rows as JSON only");

if (require.main === module) {
  void runCli<Options>(program, {
    help: {
      no: "a real run did not complete, lost an acknowledged write or found a write recorded as failed, or the negative control lost none (the rows are printed first, the problems on stderr)",
      usage: "a size that is not like 100MB or 1GB, an unknown strategy, --flips or --rollbacks not a whole number",
      human:
        "the harness failed (servers that do not start, missing Debian packages: run scripts/install-test-deps.sh)",
      examples: [
        "npm run bench:migration",
        "npm run bench:migration -- --sizes 100MB --strategies replicate --json",
        "npm run bench:migration -- --sizes 100MB,1GB --strategies scale-out --no-control --json",
        "npm run bench:migration -- --sizes 1GB --no-control",
        "npm run bench:migration -- --flips 20 --rollbacks 20 --sizes 100MB --json",
      ],
    },
    otherErrors: "human",
    main: async (o) => {
      const sizes = asUsage(() => o.sizes.split(",").map((s) => ({ label: s.trim(), bytes: parseSize(s) })));
      const counts = { flips: runCount("--flips", o.flips), rollbacks: runCount("--rollbacks", o.rollbacks) };
      if (counts.flips + counts.rollbacks > 0) {
        const benches: FlipBench[] = [];
        for (const size of sizes) benches.push(await benchFlips(size.label, size.bytes, counts));
        console.log(o.json ? JSON.stringify(benches, null, 2) : benches.map(formatFlips).join("\n\n"));
        const problems = benches.flatMap(flipProblems);
        for (const p of problems) process.stderr.write(`bench:migration: ${p}\n`);
        return problems.length ? EXIT.no : EXIT.done;
      }
      const strategies = o.strategies.split(",").map((s) => {
        if (!(BENCH_STRATEGIES as readonly string[]).includes(s.trim()))
          throw new UsageError(`--strategies: "${s}" is not one of ${BENCH_STRATEGIES.join(", ")}`);
        return s.trim() as BenchStrategy;
      });
      const rows: Row[] = [];
      for (const size of sizes) {
        for (const strategy of strategies) {
          rows.push(
            strategy === "scale-out"
              ? await benchScaleOut(size.label, size.bytes)
              : await benchOne(size.label, size.bytes, strategy as Strategy),
          );
        }
      }
      const first = sizes[0];
      if (o.control && first) rows.push(await benchOne(first.label, first.bytes, "replicate", true));
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
      } else {
        console.log(formatBenchTable(rows));
        console.log("");
        console.log(formatBenchMarkdown(rows));
        for (const r of rows.filter((r) => r.note)) console.log(`note (${r.strategy} ${r.size}): ${r.note}`);
      }
      for (const t of benchTargetsMissed(rows)) process.stderr.write(`bench:migration: target missed: ${t}\n`);
      const problems = benchMigrationProblems(rows);
      for (const p of problems) process.stderr.write(`bench:migration: ${p}\n`);
      return problems.length ? EXIT.no : EXIT.done;
    },
  });
}
