/**
 * npm run bench:migration -- [--sizes 100MB,1GB] [--json] [--strategies replicate,dump-restore,scale-out] [--no-control]
 *
 * Runs each strategy at each size on the loopback harness (tests/migration/harness.ts): the tier migration's two
 * strategies, and `scale-out`, the logical cutover into the managed cluster (tests/scale-out/bench.ts). Prints, per
 * run: strategy, database size, requests and their outcomes, lost writes, latencies, the write gap, total seconds,
 * the front door and the load average (plus, for the tier migration, copy throughput next to a raw copy of the same
 * data directory); then the same table in markdown for the README. A negative control (replicate without fencing)
 * runs at the first size. Exit codes: see --help (scripts/cli-exit.ts); the check is benchMigrationProblems below.
 */
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
import { benchScaleOut, type ScaleOutBenchRow } from "../scale-out/bench";
import { asUsage, EXIT, runCli, UsageError } from "../../scripts/cli-exit";

interface Options {
  sizes: string;
  strategies: string;
  control: boolean;
  json?: boolean;
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
  .option("--json", "print the rows as JSON only");

if (require.main === module) {
  void runCli<Options>(program, {
    help: {
      no: "a real run did not complete, lost an acknowledged write or found a write recorded as failed, or the negative control lost none (the rows are printed first, the problems on stderr)",
      usage: "a size that is not like 100MB or 1GB, an unknown strategy",
      human:
        "the harness failed (servers that do not start, missing Debian packages: run scripts/install-test-deps.sh)",
      examples: [
        "npm run bench:migration",
        "npm run bench:migration -- --sizes 100MB --strategies replicate --json",
        "npm run bench:migration -- --sizes 100MB,1GB --strategies scale-out --no-control --json",
        "npm run bench:migration -- --sizes 1GB --no-control",
      ],
    },
    otherErrors: "human",
    main: async (o) => {
      const sizes = asUsage(() => o.sizes.split(",").map((s) => ({ label: s.trim(), bytes: parseSize(s) })));
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
