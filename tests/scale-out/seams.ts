/**
 * Test seams for the scale-out runner, as tests/migration/seams.ts for the tier migration: faults and the negative
 * control enter by wrapping the injected executor, never through options of the production runner.
 *
 * - `failAfter`: the step runs for real, then its answer is replaced by a failure (the work done, the answer lost);
 *   with `skip`, it never reaches the droplet.
 * - `unfenced`: the NEGATIVE CONTROL. `cutover` runs `finish` instead (the subscription dropped: no hold, no fence,
 *   no marker wait, no setval, no commit record) and answers as a committed cutover, then waits `holdMs` while the
 *   unfenced droplet keeps acknowledging writes the managed cluster never sees; the checker must report them lost.
 * - `diesAfter`: the runner dies once a step has run (nothing after it reaches a droplet), as a killed CLI.
 * - `beforeCutover`: runs an action (on the harness's servers) right before the cutover step reaches the droplet,
 *   e.g. a real fault inside the cutover: the cluster's sequence renamed, so `setval` fails after the hold and the
 *   fence and the cutover does not commit.
 *
 * Used by the cutover test and the benchmark (no vitest import here).
 */
import type { Droplet } from "../../infra/migration/commands";
import { type LogicalStep, logicalCommands } from "../../infra/scale-out-migration/commands";
import type { LogicalExecutor } from "../../infra/scale-out-migration/runner";
import { sleep } from "../support/processes";

export function failAfter(
  exec: LogicalExecutor,
  spec: { after: LogicalStep; code?: number; skip?: boolean },
): LogicalExecutor {
  let hit = false;
  return async (cmd) => {
    if (cmd.step !== spec.after || hit) return exec(cmd);
    hit = true;
    if (spec.skip) return { code: spec.code ?? 1, stdout: "", stderr: `fault injected: ${spec.after} never ran` };
    const result = await exec(cmd);
    return {
      code: spec.code ?? 1,
      stdout: result.stdout,
      stderr: `${result.stderr}\nfault injected after ${spec.after}`,
    };
  };
}

/** NEGATIVE CONTROL ONLY: traffic moves without the hold, the fence, the marker wait or setval. */
export function unfenced(exec: LogicalExecutor, source: Droplet, holdMs = 300): LogicalExecutor {
  return async (cmd) => {
    if (cmd.step !== "cutover") return exec(cmd);
    const result = await exec(logicalCommands(source).finish());
    await sleep(holdMs);
    // It answers as a cutover that committed would (its commit record's id), so the runner goes on as after one.
    return result.code === 0 ? { ...result, stdout: `switched=${cmd.args[0] ?? ""}\n` } : result;
  };
}

/** `act` runs right before the cutover step reaches the droplet. */
export function beforeCutover(exec: LogicalExecutor, act: () => Promise<unknown>): LogicalExecutor {
  return async (cmd) => {
    if (cmd.step === "cutover") await act();
    return exec(cmd);
  };
}

/**
 * The runner's process dies once `step` has run (its answer never read): every later call answers 255 without
 * reaching a droplet, so the droplets are left as a killed CLI leaves them (the rollback the runner then tries
 * changes nothing).
 */
export function diesAfter(exec: LogicalExecutor, step: LogicalStep): LogicalExecutor {
  let dead = false;
  return async (cmd) => {
    if (dead) return { code: 255, stdout: "", stderr: "fault injected: the runner's process is gone" };
    const result = await exec(cmd);
    if (cmd.step !== step) return result;
    dead = true;
    return { code: 255, stdout: "", stderr: `fault injected: the runner died as ${step} answered` };
  };
}
