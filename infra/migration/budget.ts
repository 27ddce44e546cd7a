/**
 * Budgets and estimates. Before anything irreversible the runner asks: can the downtime budget and the migration
 * budget still hold? If not it aborts and leaves the old server serving.
 *
 * The rates are assumptions (overridable): conservative figures for a small droplet's volume, below what the
 * benchmark measured on the 2-core harness machine (`npm run bench:migration` prints the measured ones).
 */
export interface Budgets {
  /** Longest acceptable write downtime. @default 300 */
  downtimeBudgetSeconds: number;
  /** Longest acceptable whole migration. @default 30 */
  migrationBudgetMinutes: number;
}

export const DEFAULT_BUDGETS: Budgets = { downtimeBudgetSeconds: 300, migrationBudgetMinutes: 30 };

export interface Rates {
  /** pg_basebackup copy rate. */
  copyMBps: number;
  /** WAL replay on the standby. */
  replayMBps: number;
  /** pg_dump + pg_restore of the database, end to end. */
  dumpRestoreMBps: number;
  /** pg_dump for the pre-migration backup. */
  backupMBps: number;
  /** Fixed costs of a switchover: checkpoint + fence + promote + traffic switch. */
  switchoverSeconds: number;
}

export const ASSUMED_RATES: Rates = {
  copyMBps: 40,
  replayMBps: 30,
  dumpRestoreMBps: 8,
  backupMBps: 20,
  switchoverSeconds: 10,
};

const MB = 1024 * 1024;

/** Validate budgets: every error names its field and what is allowed. */
export function validateBudgets(input: Partial<Record<keyof Budgets, unknown>>): Budgets {
  const out = { ...DEFAULT_BUDGETS };
  const errors: string[] = [];
  for (const key of Object.keys(DEFAULT_BUDGETS) as (keyof Budgets)[]) {
    const v = input[key];
    if (v === undefined) continue;
    const n = typeof v === "string" && v.trim() !== "" ? Number(v) : v;
    if (typeof n !== "number" || !Number.isFinite(n) || n <= 0) {
      errors.push(`${key}: must be a positive number, got ${JSON.stringify(v)}`);
    } else {
      out[key] = n;
    }
  }
  if (errors.length) throw new Error(`invalid budgets:\n  ${errors.join("\n  ")}`);
  return out;
}

export interface Estimate {
  /** Time until the cutover can start (backup + copy). */
  beforeCutoverSeconds: number;
  /** Expected write downtime. */
  downtimeSeconds: number;
  /** The whole migration, verification included. */
  totalSeconds: number;
}

export function estimateMigration(
  strategy: "replicate" | "dump-restore",
  sizes: { clusterBytes: number; dbBytes: number; lagBytes?: number },
  rates: Rates = ASSUMED_RATES,
): Estimate {
  const backup = sizes.dbBytes / MB / rates.backupMBps;
  if (strategy === "replicate") {
    const copy = sizes.clusterBytes / MB / rates.copyMBps;
    const downtime = rates.switchoverSeconds + (sizes.lagBytes ?? 0) / MB / rates.replayMBps;
    return { beforeCutoverSeconds: backup + copy, downtimeSeconds: downtime, totalSeconds: backup + copy + downtime };
  }
  const downtime = rates.switchoverSeconds + sizes.dbBytes / MB / rates.dumpRestoreMBps;
  return { beforeCutoverSeconds: backup, downtimeSeconds: downtime, totalSeconds: backup + downtime };
}

export type BudgetVerdict = { ok: true } | { ok: false; reason: string };

/**
 * May the migration go on? `elapsedSeconds` is what has been spent; `remaining` what the estimate says is left
 * (the downtime part is checked on its own against the downtime budget).
 */
export function checkBudgets(
  budgets: Budgets,
  at: { phase: string; elapsedSeconds: number; remainingSeconds: number; downtimeSeconds: number },
): BudgetVerdict {
  const migrationLimit = budgets.migrationBudgetMinutes * 60;
  if (at.downtimeSeconds > budgets.downtimeBudgetSeconds) {
    return {
      ok: false,
      reason: `${at.phase}: estimated write downtime ${at.downtimeSeconds.toFixed(1)} s exceeds downtimeBudgetSeconds ${budgets.downtimeBudgetSeconds}`,
    };
  }
  const total = at.elapsedSeconds + at.remainingSeconds;
  if (total > migrationLimit) {
    return {
      ok: false,
      reason: `${at.phase}: ${at.elapsedSeconds.toFixed(0)} s spent + ${at.remainingSeconds.toFixed(0)} s estimated exceeds migrationBudgetMinutes ${budgets.migrationBudgetMinutes} (${migrationLimit} s)`,
    };
  }
  return { ok: true };
}

/** Largest replication lag we start a cutover with: what replays in a tenth of the downtime budget, 64 MB at most. */
export function maxLagBytesForCutover(budgets: Budgets, rates: Rates = ASSUMED_RATES): number {
  return Math.floor(Math.min(64 * MB, (budgets.downtimeBudgetSeconds / 10) * rates.replayMBps * MB));
}
