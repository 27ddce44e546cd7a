/**
 * npm run bench:migration -- [--sizes 100MB,1GB] [--json] [--strategies replicate,dump-restore] [--no-control]
 *
 * Runs both strategies at each size on the loopback harness (tests/migration/harness.ts) and prints, per run:
 * strategy, database size, total seconds, copy throughput next to a raw copy of the same data directory measured
 * in the same run, the largest write gaps (front door, PostgreSQL, Redis), acknowledged and lost writes; then the
 * same table in markdown for the README. A negative control (replicate without fencing) runs at the first size.
 * Exit codes: see --help (scripts/cli-exit.ts); the check is benchMigrationProblems below.
 */
import { Command } from "commander";
import { STRATEGIES, type Strategy } from "../infra/migration/strategy";
import { type BenchRow, benchOne, formatBenchMarkdown, formatBenchTable, parseSize } from "../tests/migration/bench";
import { asUsage, EXIT, runCli, UsageError } from "./cli-exit";

interface Options {
  sizes: string;
  strategies: string;
  control: boolean;
  json?: boolean;
}

const CONTROL = "replicate (unfenced: negative control)";

/**
 * What the benchmark's own targets say is wrong: a real run that did not finish, lost an acknowledged write or found
 * a write recorded as failed; a negative control that lost nothing (then the checker proves nothing).
 */
export function benchMigrationProblems(rows: readonly Pick<BenchRow, "strategy" | "sizeLabel" | "ok" | "lost" | "failedButPresent" | "note">[]): string[] {
  return rows.flatMap((r) => {
    const run = `${r.strategy} ${r.sizeLabel}`;
    if (r.strategy === CONTROL) return r.lost > 0 ? [] : [`${run}: the negative control lost no acknowledged write, so "0 lost" in the other runs proves nothing`];
    return [
      ...(r.ok ? [] : [`${run}: did not complete (${r.note ?? "no reason given"})`]),
      ...(r.lost > 0 ? [`${run}: ${r.lost} acknowledged write(s) lost`] : []),
      ...(r.failedButPresent > 0 ? [`${run}: ${r.failedButPresent} write(s) recorded as failed are present`] : []),
    ];
  });
}

const program = new Command("bench:migration")
  .description("Time both migration strategies at each size on the loopback harness, with the no-loss check")
  .option("--sizes <list>", "database sizes, comma-separated", "100MB,1GB")
  .option("--strategies <list>", "strategies, comma-separated", STRATEGIES.join(","))
  .option("--no-control", "skip the negative control")
  .option("--json", "print the rows as JSON only");

if (require.main === module) {
  void runCli<Options>(program, {
    help: {
      no: "a real run did not complete, lost an acknowledged write or found a write recorded as failed, or the negative control lost none (the rows are printed first, the problems on stderr)",
      usage: "a size that is not like 100MB or 1GB, an unknown strategy",
      human: "the harness failed (servers that do not start, missing Debian packages: run scripts/install-test-deps.sh)",
      examples: ["npm run bench:migration", "npm run bench:migration -- --sizes 100MB --strategies replicate --json", "npm run bench:migration -- --sizes 1GB --no-control"],
    },
    otherErrors: "human",
    main: async (o) => {
      const sizes = asUsage(() => o.sizes.split(",").map((s) => ({ label: s.trim(), bytes: parseSize(s) })));
      const strategies = o.strategies.split(",").map((s) => {
        if (!(STRATEGIES as readonly string[]).includes(s.trim())) throw new UsageError(`--strategies: "${s}" is not one of ${STRATEGIES.join(", ")}`);
        return s.trim() as Strategy;
      });
      const rows: BenchRow[] = [];
      for (const size of sizes) {
        for (const strategy of strategies) rows.push(await benchOne(size.label, size.bytes, strategy));
      }
      const first = sizes[0];
      if (o.control && first) rows.push(await benchOne(first.label, first.bytes, "replicate", true));
      if (o.json) {
        console.log(JSON.stringify(rows, null, 2));
      } else {
        console.log(formatBenchTable(rows));
        console.log("");
        console.log(formatBenchMarkdown(rows));
        for (const r of rows.filter((r) => r.note)) console.log(`note (${r.strategy} ${r.sizeLabel}): ${r.note}`);
      }
      const problems = benchMigrationProblems(rows);
      for (const p of problems) process.stderr.write(`bench:migration: ${p}\n`);
      return problems.length ? EXIT.no : EXIT.done;
    },
  });
}
