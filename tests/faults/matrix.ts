/**
 * The fault sweep's matrix (pure): which migrations, which steps of each, which fault kinds; the flags' checks; a
 * sample chosen by a seed. The step lists are the runner's calls in a clean run ("side:step", "#n" for the nth call
 * of that step on that side), as `recorder()` saw them; ./sample.test.ts checks them against the calls of real runs.
 * `lock_heartbeat` is left out: when it runs depends on the clock, so it has no fixed place in the order.
 */
import { createHash } from "node:crypto";
import type { Side, StepName } from "../../infra/migration/commands";
import type { LogicalStepName } from "../../infra/scale-out-migration/steps";
import { UsageError } from "../../scripts/cli-exit";

export const MIGRATIONS = ["tier", "switch-back", "scale-out"] as const;
export type MigrationKind = (typeof MIGRATIONS)[number];

/**
 * In the order they were built: ./inject.ts (the executor seam), ./cli-kill.ts (the real CLI), ./reboot.ts,
 * ./net-cut.ts.
 */
export const FAULTS = ["step-fails", "ssh-cut", "cli-sigkill", "pg-kill-target", "reboot-old", "net-cut"] as const;

/**
 * Negative controls: runs that must come out as losses, so that the verdict is seen saying no. Only chosen by name
 * (--faults), never part of the default matrix. `unfenced`: the cutover promotes without the fence
 * (../migration/seams.ts), so the old server acknowledges writes the new one never sees; on the scale-out move it
 * replaces the cutover (../scale-out/seams.ts: no hold, no fence, no marker wait), with the same effect.
 */
export const CONTROLS = ["unfenced"] as const;
export type FaultKind = (typeof FAULTS)[number] | (typeof CONTROLS)[number];

/**
 * Steps the runners run without printing their line (infra/migration/locks.ts, run.ts: `quiet`): the CLI's output
 * cannot show when one starts, so cli-sigkill is not aimed at them (the others are).
 */
export const QUIET_STEPS: readonly StepName[] = [
  "journal_read",
  "journal_write",
  "lock_acquire",
  "lock_release",
  "lock_heartbeat",
];

/**
 * Whether the fault can be aimed at the step (the unfenced control replaces the fence, or the scale-out's cutover,
 * so it is aimed there only). The scale-out CLI runs the same lock steps quietly and announces the others.
 */
export function aimable(fault: FaultKind, step: string): boolean {
  if (fault === "unfenced") return ["fence", "cutover"].includes(addressOf(step).step);
  return fault !== "cli-sigkill" || !(QUIET_STEPS as readonly string[]).includes(addressOf(step).step);
}

/** Both migrations' first calls: the journals read, the locks taken, the journals read again, the preflights. */
const OPENING = [
  "old:journal_read",
  "new:journal_read",
  "old:lock_acquire",
  "new:lock_acquire",
  "old:journal_read",
  "new:journal_read",
  "old:preflight",
  "new:preflight",
] as const;

/** Both migrations' calls from the catch-up on: the cutover, after the commit point, the locks released. */
const FROM_CATCHUP = [
  "new:catchup",
  "old:counts",
  "old:checkpoint",
  "old:pg_trust",
  "old:redis_trust",
  "old:journal_write",
  "new:promote",
  "old:fence",
  "old:redis_follow",
  "old:journal_write",
  "old:journal_write",
  "new:forget_primary",
  "old:journal_write",
  "new:health",
  "old:journal_write",
  "new:counts",
  "old:follow",
  "old:journal_write",
  "old:journal_write",
  "new:lock_release",
  "old:lock_release",
] as const;

/** The calls of a clean tier migration (replicate, --skip-backup), in order. */
const TIER_CALLS = [
  ...OPENING,
  "old:journal_write",
  "old:journal_write",
  "new:claim_target",
  "new:gate_close",
  "old:proxy_trust",
  "old:drop_slot",
  "new:pg_trust",
  "new:standby",
  "new:redis_replica",
  "old:journal_write",
  ...FROM_CATCHUP,
] as const;

/** The calls of a clean switch back (after a first migration, back the other way), in order. */
const SWITCH_BACK_CALLS = [
  ...OPENING,
  "old:journal_write",
  "new:claim_target",
  "new:gate_close",
  "old:proxy_trust",
  "new:redis_replica",
  ...FROM_CATCHUP,
] as const;

/**
 * The calls of a clean scale-out move (one app droplet), in order: the source ("old") runs logical.sh under the
 * tier migration's lock, the app droplets ("app") their gates. The rollback's calls (unfence, gate_bounce, proxy_local, rollback_target) are not
 * among them: a clean run never makes them.
 */
const SCALE_OUT_CALLS = [
  "old:lock_acquire",
  "old:preflight",
  "old:schema",
  "old:publish",
  "old:subscribe",
  "old:sync",
  "old:lag",
  "app:gate_close",
  "old:proxy_trust",
  "old:proxy_cert",
  "old:cutover",
  "app:gate_open",
  "old:counts",
  "old:cache_warm",
  "old:finish",
  "old:lock_release",
] as const;

/** Calls the matrix does not address (timing-dependent); a recorded run's calls without them equal the lists above. */
export const UNORDERED_STEPS: readonly StepName[] = ["lock_heartbeat"];

/** "side:step" calls -> step ids: "side:step" for the first call, "side:step#n" for the nth. */
export function stepIds(calls: readonly string[]): string[] {
  const seen = new Map<string, number>();
  return calls.map((c) => {
    const n = (seen.get(c) ?? 0) + 1;
    seen.set(c, n);
    return n === 1 ? c : `${c}#${n}`;
  });
}

export const STEPS: Record<MigrationKind, readonly string[]> = {
  tier: stepIds(TIER_CALLS),
  "switch-back": stepIds(SWITCH_BACK_CALLS),
  "scale-out": stepIds(SCALE_OUT_CALLS),
};

/**
 * The nth call of `step` on `side`, as the executor seams address it. Side "app": an app droplet of the scale-out
 * (its gates); the scale-out's source droplet is "old".
 */
export interface StepAddress {
  side: Side | "app";
  step: StepName | LogicalStepName;
  nth: number;
}

export function addressOf(id: string): StepAddress {
  const m = /^(old|new|app):([a-z_]+)(?:#(\d+))?$/.exec(id);
  if (!m) throw new Error(`not a step id: "${id}"`);
  return { side: m[1] as StepAddress["side"], step: m[2] as StepAddress["step"], nth: Number(m[3] ?? 1) };
}

export interface Cell {
  migration: MigrationKind;
  step: string;
  fault: FaultKind;
}

export const cellName = (c: Cell) => `${c.migration} ${c.step} ${c.fault}`;

export interface MatrixChoice {
  migrations?: readonly string[];
  faults?: readonly string[];
  steps?: readonly string[];
}

/**
 * Every value must be one of `allowed`; otherwise a UsageError naming the flag and the allowed values. Absent:
 * `defaults`.
 */
function checked<T extends string>(
  flag: string,
  values: readonly string[] | undefined,
  allowed: readonly T[],
  defaults: readonly T[] = allowed,
): T[] {
  if (values === undefined) return [...defaults];
  const bad = values.filter((v) => !(allowed as readonly string[]).includes(v));
  if (bad.length)
    throw new UsageError(`${flag}: ${bad.map((b) => `"${b}"`).join(", ")} not one of ${allowed.join(", ")}`);
  if (values.length === 0) throw new UsageError(`${flag}: empty; allowed: ${allowed.join(", ")}`);
  return values as T[];
}

/**
 * The cells to run, in matrix order (migration, step, fault). `steps` picks step ids of any chosen migration; a step
 * id that none of them has is a usage error listing theirs. The controls join only when `faults` names them.
 */
export function matrix(choice: MatrixChoice = {}): Cell[] {
  const migrations = checked("--migrations", choice.migrations, MIGRATIONS);
  const faults = checked<FaultKind>("--faults", choice.faults, [...FAULTS, ...CONTROLS], FAULTS);
  const known = [...new Set(migrations.flatMap((m) => STEPS[m]))];
  const steps = new Set(checked("--steps", choice.steps, known));
  return migrations.flatMap((migration) =>
    STEPS[migration]
      .filter((step) => steps.has(step))
      .flatMap((step) => faults.filter((f) => aimable(f, step)).map((fault) => ({ migration, step, fault }))),
  );
}

/**
 * `n` cells of `cells` chosen by `seed`: the cells ordered by the SHA-256 of seed and cell name, the first n, back in
 * matrix order. The same seed always gives the same sample.
 */
export function sample(cells: readonly Cell[], n: number, seed: string): Cell[] {
  const rank = (c: Cell) =>
    createHash("sha256")
      .update(`${seed}\0${cellName(c)}`)
      .digest("hex");
  const chosen = new Set([...cells].sort((a, b) => (rank(a) < rank(b) ? -1 : 1)).slice(0, n));
  return cells.filter((c) => chosen.has(c));
}

/** The default seed of a day (UTC): the same sample all day, another the next. */
export const seedOfDay = (now: Date) => now.toISOString().slice(0, 10);

/** --sample: a whole number from 1 to 10000. */
export function sampleSize(value: string): number {
  if (!/^\d{1,5}$/.test(value) || Number(value) < 1 || Number(value) > 10_000)
    throw new UsageError(`--sample must be a whole number of runs from 1 to 10000, got "${value}"`);
  return Number(value);
}
