/**
 * npm run bench:migration -- [--sizes 100MB,1GB] [--json] [--strategies replicate,dump-restore] [--no-control]
 *
 * Runs both strategies at each size on the loopback harness (tests/migration/harness.ts) and prints, per run:
 * strategy, database size, total seconds, copy throughput next to a raw copy of the same data directory measured
 * in the same run, the largest write gaps (front door, PostgreSQL, Redis), acknowledged and lost writes; then the
 * same table in markdown for the README. A negative control (replicate without fencing) runs at the first size.
 */
import { Command } from "commander";
import { STRATEGIES, type Strategy } from "../infra/migration/strategy";
import { type BenchRow, benchOne, formatBenchMarkdown, formatBenchTable, parseSize } from "../tests/migration/bench";

const o = new Command("bench-migration")
  .option("--sizes <list>", "database sizes, comma-separated", "100MB,1GB")
  .option("--strategies <list>", "strategies, comma-separated", STRATEGIES.join(","))
  .option("--no-control", "skip the negative control")
  .option("--json", "print the rows as JSON only")
  .parse()
  .opts<{ sizes: string; strategies: string; control: boolean; json?: boolean }>();

async function main(): Promise<void> {
  const sizes = o.sizes.split(",").map((s) => ({ label: s.trim(), bytes: parseSize(s) }));
  const strategies = o.strategies.split(",").map((s) => {
    if (!(STRATEGIES as readonly string[]).includes(s.trim())) throw new Error(`--strategies: "${s}" is not one of ${STRATEGIES.join(", ")}`);
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
    return;
  }
  console.log(formatBenchTable(rows));
  console.log("");
  console.log(formatBenchMarkdown(rows));
  for (const r of rows.filter((r) => r.note)) console.log(`note (${r.strategy} ${r.sizeLabel}): ${r.note}`);
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`bench-migration: ${e.message}`);
    process.exit(1);
  },
);
