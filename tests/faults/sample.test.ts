/**
 * A sample of the fault sweep's matrix (./matrix.ts), rotating by seed: FAULT_SEED, or by default the day's date
 * (UTC). The seed is printed with the commands that replay the same runs. Each run (./run-one.ts) must end with
 * nothing lost or applied twice, in a known state, with the locks released; and the runner's calls up to the
 * faulted one must be the matrix's list in order (the lists are recorded from clean runs: this keeps them true).
 */
import { afterAll, describe, expect, it } from "vitest";
import { faultProblems } from "../bench/bench-faults";
import { runningServers } from "../support/servers";
import { cellName, matrix, STEPS, sample, seedOfDay, stepIds, UNORDERED_STEPS } from "./matrix";
import { runFault } from "./run-one";

/** Two runs keep the file near 90 s on this machine; the whole matrix is `npm run bench:faults`. */
const RUNS = 2;
const SEED = process.env.FAULT_SEED || seedOfDay(new Date());
/**
 * The fault kinds the whole matrix has been run through; the others (pg-kill-target, cli-sigkill on the switch back)
 * stay in the benchmark until they have been, each cell reliably under a minute.
 */
const FAULTS_SWEPT = ["step-fails", "ssh-cut"] as const;
const cells = sample(matrix({ faults: [...FAULTS_SWEPT] }), RUNS, SEED);

console.log(
  `fault sample, seed ${SEED}: ${cells.map(cellName).join("; ")}\n` +
    `  replay: FAULT_SEED=${SEED} npx vitest run tests/faults/sample.test.ts\n` +
    `      or: npm run bench:faults -- --faults ${FAULTS_SWEPT.join(",")} --sample ${RUNS} --seed ${SEED}`,
);

afterAll(() => {
  expect(runningServers()).toEqual([]);
});

describe(`the fault sweep's sample (seed ${SEED})`, () => {
  it.each(cells.map((c) => [cellName(c), c] as const))(
    "%s: nothing lost or applied twice, a known end state, the locks released",
    async (_name, cell) => {
      const run = await runFault(cell);
      console.log(JSON.stringify({ ...run, calls: undefined }));
      expect(run.faultHit).toBe(true);
      if (run.calls) {
        const ordered = stepIds(run.calls.filter((c) => !UNORDERED_STEPS.some((s) => c.endsWith(`:${s}`))));
        expect(ordered).toEqual(STEPS[cell.migration].slice(0, STEPS[cell.migration].indexOf(cell.step) + 1));
      }
      expect({ lost: run.lost, duplicated: run.duplicated, known: run.known, lockReleased: run.lockReleased }).toEqual({
        lost: 0,
        duplicated: 0,
        known: true,
        lockReleased: true,
      });
      expect(run.acknowledged).toBeGreaterThan(20);
      // The benchmark's own rule too (a completed move leaves the old server following, or saying why not).
      expect(faultProblems([run])).toEqual([]);
      if (run.statusNext?.match(/--resume|--rollback/)) expect(run.statusPhase).toBeTruthy();
    },
    300_000,
  );
});
