/**
 * npm run bench:faults -- [--migrations LIST] [--faults LIST] [--steps LIST] [--sample N [--seed S]] [--json]
 *
 * The fault sweep (tests/faults/): for each chosen cell of migration x step x fault, one run on a fresh loopback
 * harness under load, the fault injected at that step, then the recovery `migrate --status` advises; per run the
 * outcome, whether the end state is a known one, lost and duplicated writes, failed requests, the recovery's
 * seconds and whether the locks were released. Exit codes: see --help (scripts/cli-exit.ts).
 */
import Table from "cli-table3";
import { Command } from "commander";
import { EXIT, runCli, UsageError } from "../../scripts/cli-exit";
import { loadAverage } from "../migration/bench";
import { type Cell, cellName, matrix, sample, sampleSize, seedOfDay } from "../faults/matrix";
import { type FaultRun, HarnessFailure, runFault } from "../faults/run-one";

interface Options {
  migrations?: string;
  faults?: string;
  steps?: string;
  sample?: string;
  seed?: string;
  json?: boolean;
}

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(",").map((s) => s.trim()));

/** The cells the flags choose, checked before any work (UsageError: exit 2). */
export function chosenCells(o: Options, now = new Date()): { cells: Cell[]; seed?: string; of: number } {
  const all = matrix({ migrations: list(o.migrations), faults: list(o.faults), steps: list(o.steps) });
  if (o.seed !== undefined && o.sample === undefined) throw new UsageError("--seed goes with --sample N");
  if (o.sample === undefined) return { cells: all, of: all.length };
  const seed = o.seed ?? seedOfDay(now);
  return { cells: sample(all, sampleSize(o.sample), seed), seed, of: all.length };
}

/**
 * What the sweep's rule says is wrong: a write lost or applied twice, an end state that is not a known one, an end
 * state that keeps part of the move (the scale-out's subscription, slot, publication or a closed gate) after the
 * recovery --status advised.
 */
export function faultProblems(runs: readonly FaultRun[]): string[] {
  return runs.flatMap((r) => {
    const run = `${r.migration} ${r.step} ${r.fault}`;
    return [
      ...(r.known
        ? []
        : [`${run}: the end state is not a known one (serving ${r.serving}, primaries ${r.primary}; ${r.why})`]),
      ...(r.lost > 0 ? [`${run}: ${r.lost} acknowledged write(s) lost`] : []),
      ...(r.duplicated > 0 ? [`${run}: ${r.duplicated} write(s) applied twice`] : []),
      ...(r.leftovers
        ? [`${run}: the end state keeps a ${r.leftovers} (--status: phase ${r.statusPhase ?? "not printed"})`]
        : []),
      ...(r.follower?.startsWith("silent")
        ? [`${run}: the old server neither follows nor says why (${r.follower})`]
        : []),
    ];
  });
}

function formatRuns(runs: readonly FaultRun[]): string {
  const t = new Table({
    head: [
      "migration",
      "step",
      "fault",
      "outcome",
      "known",
      "lost",
      "dup",
      "failed",
      "unknown",
      "recovery s",
      "lock",
      "follower",
    ],
    style: { head: [] },
  });
  for (const r of runs)
    t.push(
      [
        r.migration,
        r.step,
        r.fault,
        r.outcome,
        r.known ? "yes" : "NO",
        r.lost,
        r.duplicated,
        r.failed,
        r.unknown,
        r.recoverySeconds,
        r.lockReleased ? "released" : "HELD",
        r.follower ?? "",
      ].map(String),
    );
  const notes = runs
    .filter((r) => r.outcome === "needs-operator" || !r.known || !r.lockReleased || r.leftovers)
    .map(
      (r) =>
        `${r.migration} ${r.step} ${r.fault}: ${r.why}${r.statusNext ? ` | status: next ${r.statusNext}` : ""}${r.leftovers ? ` | left: ${r.leftovers}` : ""}`,
    );
  return [t.toString(), ...notes].join("\n");
}

const program = new Command("bench:faults")
  .description(
    "Inject one fault per run at one step of a migration on the loopback harness under load, recover as the status advises, and check that the end state is known with nothing lost",
  )
  .option("--migrations <list>", "comma-separated: tier, switch-back, scale-out (default: all)")
  .option(
    "--faults <list>",
    "comma-separated: step-fails, ssh-cut, cli-sigkill, pg-kill-target, reboot-old, net-cut (default: all), or the negative control unfenced (it must exit 1)",
  )
  .option("--steps <list>", "comma-separated step ids such as new:standby or old:journal_write#3 (default: all)")
  .option("--sample <n>", "run n cells of the chosen matrix, picked by the seed")
  .option("--seed <s>", "with --sample: the seed (default: today's date, UTC)")
  .option("--json", "print an object with the runs as JSON only");

if (require.main === module) {
  void runCli<Options>(program, {
    help: {
      no: "a run lost an acknowledged write, applied one twice, or ended in a state that is not a known one (the runs are printed first, the problems on stderr)",
      usage:
        "an unknown migration, fault or step (the allowed values are listed), --sample not a whole number, --seed without --sample",
      human:
        "the harness failed (servers that do not start, missing Debian packages: run scripts/install-test-deps.sh); the runs so far are printed",
      examples: [
        "npm run bench:faults -- --json > faults-run.json",
        "npm run bench:faults -- --migrations tier --faults ssh-cut --steps new:standby,old:fence",
        "npm run bench:faults -- --sample 3 --seed 2026-12-07",
        "npm run bench:faults -- --migrations tier --faults unfenced   # the negative control: exits 1",
      ],
    },
    otherErrors: "human",
    main: async (o) => {
      const { cells, seed, of } = chosenCells(o);
      const startedAt = new Date().toISOString();
      const loadAtStart = loadAverage();
      const runs: FaultRun[] = [];
      let failure: string | undefined;
      for (const [i, cell] of cells.entries()) {
        process.stderr.write(`[${i + 1}/${cells.length}] ${cellName(cell)}\n`);
        try {
          runs.push(await runFault(cell));
        } catch (e) {
          if (!(e instanceof HarnessFailure)) throw e;
          failure = `${cellName(cell)}: ${e.message}`;
          break;
        }
        // The run as one JSON line on stderr too: a sweep stopped midway keeps what it found.
        const r = runs.at(-1);
        if (r) process.stderr.write(`  ${JSON.stringify({ ...r, calls: undefined })}\n`);
      }
      const summary = { startedAt, finishedAt: new Date().toISOString(), loadAtStart, loadAtEnd: loadAverage() };
      if (o.json) {
        const calls = (r: FaultRun) => ({ ...r, calls: undefined });
        console.log(JSON.stringify({ ...summary, seed, cells: cells.length, of, runs: runs.map(calls) }, null, 2));
      } else console.log(formatRuns(runs));
      if (failure) {
        process.stderr.write(`bench:faults: harness failure: ${failure}\n`);
        return EXIT.human;
      }
      const problems = faultProblems(runs);
      for (const p of problems) process.stderr.write(`bench:faults: ${p}\n`);
      return problems.length ? EXIT.no : EXIT.done;
    },
  });
}
