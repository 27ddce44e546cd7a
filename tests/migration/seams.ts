/**
 * Test seams for the migration runner. Faults and the negative control enter by wrapping the injected `Executor`
 * (the runner's only way to reach a droplet), never through options of the production runner:
 *
 * - `failAfter`: the step runs for real, then its answer is replaced by a failure (a step that did its work and
 *   then lost its connection, or reported an error); with `skip`, it never reaches the droplet;
 * - `unfenced`: the NEGATIVE CONTROL. The `fence` step (with the proxy hold it starts with) is answered without
 *   running it (fence LSN 0/0), so the old proxy keeps sending requests to the old app and the new server is
 *   promoted while the old one keeps acknowledging writes the new never sees; the checker must report them lost.
 * - `recorder`: every step the runner asked for, as "side:step".
 *
 * Used by the in-process tests and the benchmark (no vitest import here).
 */
import type { Side, StepName } from "../../infra/migration/commands";
import type { Executor, StepHooks, StepResult } from "../../infra/migration/runner";
import type { LogicalStepName } from "../../infra/scale-out-migration/steps";
import { sleep } from "../support/processes";

/** What a seam matches a command on: every runner's commands carry their step and side. */
export interface Addressed {
  step: string;
  side: string;
}

/**
 * Any runner's executor as a seam wraps it: the tier migration's `Executor` (commands with hooks) and the
 * scale-out's `LogicalExecutor` (without) alike; a wrapped one has the type it was given.
 */
export type SeamExecutor<C extends Addressed> = (cmd: C, hooks?: StepHooks) => Promise<StepResult>;

export interface FaultSpec {
  /** The step after which the fault happens. */
  after: StepName | LogicalStepName;
  /** Only on this side ("app": a scale-out's app droplet). */
  side?: Side | "app";
  /** The nth matching call (1-based). @default 1 */
  nth?: number;
  /** The exit code the runner sees (255: ssh lost the connection). @default 1 */
  code?: number;
  /** The step never reaches the droplet (the connection was already gone). @default false: it runs, then fails */
  skip?: boolean;
}

/** Where a named fault of the old `faultAfter` points happens, as a step (always before the commit point). */
export const FAULT_POINTS = {
  replicate: {
    preflight: { after: "preflight", side: "new" },
    backup: { after: "backup" },
    copy: { after: "redis_replica" },
    catchup: { after: "checkpoint" },
    fence: { after: "fence" },
  },
  "dump-restore": {
    freeze: { after: "counts", side: "old" },
    restore: { after: "counts", side: "new" },
  },
} as const satisfies Record<string, Record<string, FaultSpec>>;

export function failAfter<C extends Addressed>(exec: SeamExecutor<C>, spec: FaultSpec): SeamExecutor<C> {
  let seen = 0;
  return async (cmd, hooks) => {
    const hit = cmd.step === spec.after && (!spec.side || cmd.side === spec.side) && ++seen === (spec.nth ?? 1);
    if (hit && spec.skip)
      return { code: spec.code ?? 1, stdout: "", stderr: `fault injected: ${spec.after} never ran` };
    const result = await exec(cmd, hooks);
    return hit
      ? { code: spec.code ?? 1, stdout: result.stdout, stderr: `${result.stderr}\nfault injected after ${spec.after}` }
      : result;
  };
}

/** NEGATIVE CONTROL ONLY: promote without fencing; `holdMs` lets the unfenced old acknowledge writes after it. */
export function unfenced(exec: Executor, holdMs = 300): Executor {
  return async (cmd, hooks) => {
    if (cmd.step === "fence")
      return { code: 0, stdout: "fence_lsn=0/0\n", stderr: "fence skipped (negative control)\n" };
    const result = await exec(cmd, hooks);
    if (cmd.step === "promote") await sleep(holdMs);
    return result;
  };
}

/** Records every step the runner asks for, as "side:step": `h.migrate({ wrap: rec.wrap })`, then `rec.calls`. */
export function recorder(): { calls: string[]; wrap: <C extends Addressed>(exec: SeamExecutor<C>) => SeamExecutor<C> } {
  const calls: string[] = [];
  return {
    calls,
    wrap: (exec) => (cmd, hooks) => {
      calls.push(`${cmd.side}:${cmd.step}`);
      return exec(cmd, hooks);
    },
  };
}

/** Runs `look` after the named step has run for real (an observation point; the step's answer is unchanged). */
export function afterStep(exec: Executor, step: StepName, look: () => Promise<void>): Executor {
  return async (cmd, hooks) => {
    const result = await exec(cmd, hooks);
    if (cmd.step === step) await look();
    return result;
  };
}

/** The `step` on `side` is sent `data` after its script instead of what the runner gave it (a wrong certificate). */
export function swapStdin(exec: Executor, step: StepName, side: Side, data: string): Executor {
  return (cmd, hooks) => exec(cmd.step === step && cmd.side === side ? { ...cmd, stdinData: data } : cmd, hooks);
}
