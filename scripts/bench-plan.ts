/**
 * npm run bench:plan -- [--stack prod] [--runs 5] [--json]
 * Times `npm run plan -- --stack <name>` end to end (npm, node, TypeScript loading, the mocked Pulumi run) and
 * prints every run with the median. Target on the 2-core reference machine: under 3 s for prod.
 */
import { Command } from "commander";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";

const opts = new Command()
  .option("--stack <name>", "stack to plan", "prod")
  .option("--runs <n>", "timed runs (after one warm-up)", (v) => Number.parseInt(v, 10), 5)
  .option("--json", "print the figures as JSON")
  .parse()
  .opts<{ stack: string; runs: number; json?: boolean }>();

const root = resolve(__dirname, "..");
const once = () => {
  const start = process.hrtime.bigint();
  const r = spawnSync("npm", ["run", "-s", "plan", "--", "--stack", opts.stack], { cwd: root, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`plan failed: ${r.stderr}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
};

once(); // warm-up: fills tsx's transform cache, as any second run by a user would
const seconds = Array.from({ length: opts.runs }, once);
const sorted = [...seconds].sort((a, b) => a - b);
const median = sorted[Math.floor(sorted.length / 2)]!;
const figures = { stack: opts.stack, runs: seconds.map((s) => Number(s.toFixed(3))), medianSeconds: Number(median.toFixed(3)), minSeconds: Number(sorted[0]!.toFixed(3)), maxSeconds: Number(sorted.at(-1)!.toFixed(3)) };
if (opts.json) console.log(JSON.stringify(figures));
else console.log(`npm run plan -- --stack ${opts.stack}: median ${median.toFixed(2)} s over ${opts.runs} runs (min ${figures.minSeconds.toFixed(2)}, max ${figures.maxSeconds.toFixed(2)}); runs: ${figures.runs.join(", ")}`);
