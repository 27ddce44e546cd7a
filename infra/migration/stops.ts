/**
 * How a migration step stops a run, shared by the tier migration and the scale-out move: a step that answered with
 * a non-zero exit code, and a budget that no longer holds (checked before anything irreversible, recorded in the
 * timeline either way).
 */
import { type Budgets, checkBudgets } from "./budget";
import type { StepResult } from "./run-api";
import type { Phase, Timeline } from "./timeline";

export class StepFailed extends Error {
  /** `label`: the step as the operator reads it ("standby on new", "gate_open root@10.0.0.7"). */
  constructor(
    readonly label: string,
    readonly result: StepResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" | ");
    super(`${label} exited ${result.code}: ${tail}`);
  }

  get code(): number {
    return this.result.code;
  }
}

/** A budget says the migration cannot hold. */
export class Abort extends Error {}

/**
 * May the migration go on at `where`? Records the check in the timeline and throws Abort when the estimated write
 * downtime or the whole migration would exceed its budget.
 */
export function budgetGate(
  timeline: Timeline,
  budgets: Budgets,
  at: { phase: Phase; where: string; remainingSeconds: number; downtimeSeconds: number; now: number },
): void {
  const verdict = checkBudgets(budgets, {
    phase: at.where,
    elapsedSeconds: timeline.elapsedSeconds(),
    remainingSeconds: at.remainingSeconds,
    downtimeSeconds: at.downtimeSeconds,
  });
  timeline.record({
    phase: at.phase,
    step: `budget check (${at.where})`,
    side: "local",
    startMs: at.now,
    status: verdict.ok ? "ok" : "aborted",
    detail: verdict.ok
      ? `downtime est. ${at.downtimeSeconds.toFixed(1)} s, remaining est. ${at.remainingSeconds.toFixed(0)} s`
      : verdict.reason,
  });
  if (!verdict.ok) throw new Abort(verdict.reason);
}
