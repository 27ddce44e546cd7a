/**
 * npm run bench:plan -- [--stack prod] [--runs 5] [--json] [--fail-above <seconds>]
 * Times `npm run plan -- --stack <name>` end to end (npm, node, TypeScript loading, the mocked Pulumi run) and
 * prints every run with the median. Target on the 2-core reference machine: under 3 s for prod
 * (`--fail-above 3` makes it a check). Exit codes: see --help (scripts/cli-exit.ts).
 */
import { Command, InvalidArgumentError } from "commander";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { EXIT, runCli, UsageError } from "./cli-exit";

interface Options {
  stack: string;
  runs: number;
  json?: boolean;
  failAbove?: number;
}

const positiveInt = (v: string) => {
  if (!/^[1-9]\d*$/.test(v)) throw new InvalidArgumentError("Expected a whole number, 1 or more.");
  return Number(v);
};
const seconds = (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n) || n <= 0)
    throw new InvalidArgumentError("Expected a number of seconds above 0.");
  return n;
};

const program = new Command("bench:plan")
  .description("Time `npm run plan` end to end: every run and the median")
  .option("--stack <name>", "stack to plan", "prod")
  .option("--runs <n>", "timed runs (after one warm-up)", positiveInt, 5)
  .option("--json", "print the figures as JSON")
  .option("--fail-above <seconds>", "exit 1 when the median is above this many seconds", seconds);

const root = resolve(__dirname, "..");
const once = (stack: string) => {
  const start = process.hrtime.bigint();
  const r = spawnSync("npm", ["run", "-s", "plan", "--", "--stack", stack], { cwd: root, encoding: "utf8" });
  // plan exits 2 for a usage or config error (no such stack): ours too. Anything else is not a timing.
  if (r.status === EXIT.usage) throw new UsageError(`plan --stack ${stack}: ${r.stderr.trim()}`);
  if (r.status !== 0) throw new Error(`plan --stack ${stack} failed (exit ${r.status}): ${r.stderr.trim()}`);
  return Number(process.hrtime.bigint() - start) / 1e9;
};

void runCli<Options>(program, {
  help: {
    no: "--fail-above <seconds> and the median run took longer",
    usage: "a stack `npm run plan` refuses (no such stack, invalid config)",
    human: "`npm run plan` failed otherwise",
    examples: [
      "npm run bench:plan -- --runs 7",
      "npm run bench:plan -- --stack dev --json",
      "npm run bench:plan -- --stack prod --fail-above 3",
    ],
  },
  otherErrors: "human",
  main: (opts) => {
    once(opts.stack); // warm-up: fills tsx's transform cache, as any second run by a user would
    const runs = Array.from({ length: opts.runs }, () => once(opts.stack));
    const sorted = [...runs].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const figures = {
      stack: opts.stack,
      runs: runs.map((s) => Number(s.toFixed(3))),
      medianSeconds: Number(median.toFixed(3)),
      minSeconds: Number(sorted[0]!.toFixed(3)),
      maxSeconds: Number(sorted.at(-1)!.toFixed(3)),
    };
    if (opts.json) console.log(JSON.stringify(figures));
    else
      console.log(
        `npm run plan -- --stack ${opts.stack}: median ${median.toFixed(2)} s over ${opts.runs} runs (min ${figures.minSeconds.toFixed(2)}, max ${figures.maxSeconds.toFixed(2)}); runs: ${figures.runs.join(", ")}`,
      );
    if (opts.failAbove !== undefined && median > opts.failAbove) {
      process.stderr.write(`bench:plan: the median ${median.toFixed(2)} s is above --fail-above ${opts.failAbove} s\n`);
      return EXIT.no;
    }
    return EXIT.done;
  },
});
