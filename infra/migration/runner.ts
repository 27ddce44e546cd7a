/**
 * The migration, step by step: which droplet step runs when, what each result decides (strategy, budgets, abort,
 * rollback, commit), and the timeline. It executes nothing itself: every step goes through the injected `exec`
 * (ssh in the CLI and harness), and moving traffic through the injected `moveTraffic` (front door in the harness,
 * reserved IP or proxy on DigitalOcean). Unit tests drive it with a scripted executor.
 *
 * The commit point is `pg_promote()` on the new server (replicate) or the traffic switch (dump-restore). Before
 * it, any failure or budget abort rolls back: the old server is restarted unchanged (if it was fenced) or unfrozen,
 * the new one stops following it, and the next run starts over. After it there is no rollback: failures are
 * reported for an operator.
 */
import { type Budgets, DEFAULT_BUDGETS, type Rates, ASSUMED_RATES, checkBudgets, estimateMigration, maxLagBytesForCutover } from "./budget";
import { compareCounts, tableCounts } from "./checks";
import { type Droplet, type StepCommand, migrationCommands, parseValues } from "./commands";
import { type StrategyChoice, type StrategyRequest, chooseStrategy } from "./strategy";
import { type FaultPoint, type Phase, Timeline, type TimelineEntry } from "./timeline";

export interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type Executor = (cmd: StepCommand, hooks?: { onStderr?: (chunk: string) => void }) => Promise<StepResult>;

export type RunnerEvent =
  | { kind: "phase"; phase: Phase }
  | { kind: "step"; phase: Phase; step: string; side: string }
  | { kind: "progress"; doneBytes: number; totalBytes: number }
  | { kind: "info"; message: string };

export interface RunnerOptions {
  old: Droplet;
  next: Droplet;
  exec: Executor;
  /** Switch user traffic to the new droplet (must be fast and must throw on failure). */
  moveTraffic: () => Promise<void>;
  /** @default "auto" */
  strategy?: StrategyRequest;
  budgets?: Budgets;
  rates?: Rates;
  /** Names the backup file and dump directory. @default a timestamp */
  id?: string;
  /** URL the new droplet's health step checks (from the droplet). */
  healthUrl?: string;
  /** pg_dump/pg_restore -j. @default 2 */
  dumpJobs?: number;
  /** @default false */
  skipBackup?: boolean;
  /** Test hook: stop with an error right after this point (always before the commit point). */
  faultAfter?: FaultPoint;
  /**
   * NEGATIVE CONTROL ONLY: promote the new server without fencing the old one (no shutdown, no replay wait). The
   * old keeps acknowledging writes that the new never sees; the harness must report them as lost.
   */
  unsafeNoFence?: boolean;
  onEvent?: (e: RunnerEvent) => void;
  now?: () => number;
}

export interface MigrationReport {
  ok: boolean;
  committed: boolean;
  strategy?: StrategyChoice;
  /** Why the migration stopped before the commit point (budget or failure), if it did. */
  aborted?: string;
  rolledBack?: boolean;
  /** Failure after the commit point (needs an operator). */
  error?: string;
  /** Fence (or freeze) start to traffic moved, as the runner saw it. */
  writeDowntimeMs?: number;
  copy?: { bytes: number; ms: number };
  backupFile?: string;
  countProblems?: string[];
  timeline: TimelineEntry[];
  startedAt: number;
  totalMs: number;
}

export class StepFailed extends Error {
  constructor(
    readonly cmd: StepCommand,
    readonly result: StepResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split("\n").slice(-3).join(" | ");
    super(`${cmd.step} on ${cmd.side} exited ${result.code}: ${tail}`);
  }
}

class Abort extends Error {}

const PROGRESS = /(\d+)\/(\d+) kB/g;

export async function runMigration(opts: RunnerOptions): Promise<MigrationReport> {
  const now = opts.now ?? Date.now;
  const budgets = opts.budgets ?? DEFAULT_BUDGETS;
  const rates = opts.rates ?? ASSUMED_RATES;
  const id = opts.id ?? new Date(now()).toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const cmds = migrationCommands(opts.old, opts.next);
  const timeline = new Timeline(now);
  const emit = (e: RunnerEvent) => opts.onEvent?.(e);
  const report: MigrationReport = { ok: false, committed: false, timeline: timeline.entries, startedAt: timeline.startedAt, totalMs: 0 };
  const state = { copyStarted: false, fenced: false, frozen: false, promoteAttempted: false };

  let currentPhase: Phase = "preflight";
  const phase = (p: Phase) => {
    currentPhase = p;
    emit({ kind: "phase", phase: p });
  };
  const step = async (cmd: StepCommand, onStderr?: (chunk: string) => void) =>
    timeline.time(currentPhase, cmd.step, cmd.side, async () => {
      emit({ kind: "step", phase: currentPhase, step: cmd.step, side: cmd.side });
      const result = await opts.exec(cmd, onStderr ? { onStderr } : undefined);
      if (result.code !== 0) throw new StepFailed(cmd, result);
      return parseValues(result.stdout);
    });
  const fault = (point: FaultPoint) => {
    if (opts.faultAfter === point) throw new Error(`fault injected after ${point}`);
  };
  const budgetGate = (where: string, remainingSeconds: number, downtimeSeconds: number) => {
    const verdict = checkBudgets(budgets, { phase: where, elapsedSeconds: timeline.elapsedSeconds(), remainingSeconds, downtimeSeconds });
    timeline.record({ phase: currentPhase, step: `budget check (${where})`, side: "local", startMs: now(), status: verdict.ok ? "ok" : "aborted", detail: verdict.ok ? `downtime est. ${downtimeSeconds.toFixed(1)} s, remaining est. ${remainingSeconds.toFixed(0)} s` : verdict.reason });
    if (!verdict.ok) throw new Abort(verdict.reason);
  };

  try {
    // ---- preflight: versions, sizes, strategy, first budget check
    phase("preflight");
    const [pre, preNew] = [await step(cmds.preflight("old")), await step(cmds.preflight("new"))];
    if (pre.pg_running !== "1") throw new Error("PostgreSQL is not running on the old server");
    if (pre.pg_in_recovery !== "f") throw new Error("the old server's PostgreSQL is not a primary (already migrated?)");
    if (preNew.pg_running !== "1") throw new Error("PostgreSQL is not running on the new server");
    const choice = chooseStrategy({
      oldVersionNum: Number(pre.pg_version_num),
      newVersionNum: Number(preNew.pg_version_num),
      requested: opts.strategy ?? "auto",
    });
    report.strategy = choice;
    emit({ kind: "info", message: `strategy: ${choice.strategy} (${choice.reason})` });
    const sizes = { clusterBytes: Number(pre.cluster_bytes), dbBytes: Number(pre.db_bytes) };
    const est = estimateMigration(choice.strategy, sizes, rates);
    budgetGate("preflight", est.totalSeconds, est.downtimeSeconds);
    fault("preflight");

    // ---- backup: pg_dump kept on the old droplet's volume
    phase("backup");
    if (!opts.skipBackup) {
      const b = await step(cmds.backup(id));
      report.backupFile = b.backup_file;
    }
    fault("backup");

    if (choice.strategy === "replicate") {
      await replicate();
    } else {
      await dumpRestore();
    }
    report.ok = !report.countProblems?.length && !report.error;
  } catch (e) {
    if (report.committed) {
      report.error = (e as Error).message;
    } else {
      report.aborted = (e as Error).message;
      await rollback();
    }
  }
  report.totalMs = now() - timeline.startedAt;
  return report;

  async function replicate(): Promise<void> {
    phase("copy");
    await step(cmds.dropSlot());
    state.copyStarted = true;
    const copied = await step(cmds.standby(), (chunk) => {
      for (const m of chunk.matchAll(PROGRESS)) {
        emit({ kind: "progress", doneBytes: Number(m[1]) * 1024, totalBytes: Number(m[2]) * 1024 });
      }
    });
    report.copy = { bytes: Number(copied.copied_bytes), ms: Number(copied.copy_ms) };
    await step(cmds.redisReplica());
    fault("copy");

    phase("catchup");
    const maxLag = maxLagBytesForCutover(budgets, rates);
    const lag = await step(cmds.catchup(maxLag, 120));
    const est = estimateMigration("replicate", { clusterBytes: 0, dbBytes: 0, lagBytes: Number(lag.pg_lag_bytes) }, rates);
    budgetGate("before cutover", est.downtimeSeconds + 60, est.downtimeSeconds);
    const oldCounts = tableCounts(await step(cmds.counts("old")));
    await step(cmds.checkpoint());
    fault("catchup");

    phase("cutover");
    const cutoverStart = now();
    let fenceLsn = "0/0";
    if (!opts.unsafeNoFence) {
      state.fenced = true;
      fenceLsn = (await step(cmds.fence())).fence_lsn ?? "";
      fault("fence");
    }
    state.promoteAttempted = true;
    // Redis hands over while PostgreSQL promotes: the old app cannot write anyway once its database is fenced.
    // If promotion is refused, the rollback makes the old Redis a master again.
    const redisSwitched = switchRedis();
    try {
      await step(cmds.promote(fenceLsn, 60));
    } catch (e) {
      await redisSwitched.catch(() => undefined);
      if (e instanceof StepFailed && e.result.code === 4) throw e; // never promoted: roll back
      report.committed = true; // pg_promote may have run: no automatic rollback past this point
      throw e;
    }
    report.committed = true;
    if (opts.unsafeNoFence) await new Promise((r) => setTimeout(r, 300)); // let the unfenced old acknowledge writes
    await redisSwitched;
    await timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
    report.writeDowntimeMs = now() - cutoverStart;

    phase("verify");
    await step(cmds.forgetPrimary());
    await step(cmds.health(opts.healthUrl));
    const newCounts = tableCounts(await step(cmds.counts("new")));
    report.countProblems = compareCounts(oldCounts, newCounts, "at-least");
  }

  async function dumpRestore(): Promise<void> {
    phase("copy");
    state.copyStarted = true;
    await step(cmds.redisReplica());
    fault("copy");

    phase("cutover");
    const cutoverStart = now();
    state.frozen = true;
    await step(cmds.freeze());
    const oldCounts = tableCounts(await step(cmds.counts("old")));
    fault("freeze");
    const restored = await step(cmds.dumpRestore(opts.dumpJobs ?? 2, id));
    report.copy = { bytes: Number(restored.dump_bytes), ms: Number(restored.dump_ms) + Number(restored.restore_ms) };
    const newCounts = tableCounts(await step(cmds.counts("new")));
    report.countProblems = compareCounts(oldCounts, newCounts, "exact");
    if (report.countProblems.length) throw new Error(`restored data differs: ${report.countProblems.join("; ")}`);
    fault("restore");
    const elapsedDowntime = (now() - cutoverStart) / 1000;
    budgetGate("before traffic switch", rates.switchoverSeconds, elapsedDowntime + rates.switchoverSeconds);
    report.committed = true;
    await switchRedis();
    await timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
    report.writeDowntimeMs = now() - cutoverStart;
    await step(cmds.retire());

    phase("verify");
    await step(cmds.health(opts.healthUrl));
  }

  async function switchRedis(): Promise<void> {
    try {
      await step(cmds.redisFailover(5000));
    } catch {
      await step(cmds.redisPromote()); // the old master is unreachable or refused: promote the replica directly
    }
  }

  async function rollback(): Promise<void> {
    phase("rollback");
    const errors: string[] = [];
    if (state.copyStarted) await step(cmds.rollbackNew()).catch((e: Error) => errors.push(e.message));
    await step(cmds.rollbackOld()).catch((e: Error) => errors.push(e.message));
    report.rolledBack = errors.length === 0;
    if (errors.length) report.aborted = `${report.aborted}; rollback incomplete: ${errors.join("; ")}`;
  }
}

/** The steps a run would take, in order, with placeholders for values only known at run time (for --dry-run). */
export function plannedCommands(
  old: Droplet,
  next: Droplet,
  strategy: "replicate" | "dump-restore",
  opts: { id: string; budgets?: Budgets; rates?: Rates; dumpJobs?: number; healthUrl?: string; skipBackup?: boolean },
): Array<{ phase: Phase; cmd: StepCommand | string }> {
  const c = migrationCommands(old, next);
  const budgets = opts.budgets ?? DEFAULT_BUDGETS;
  const steps: Array<{ phase: Phase; cmd: StepCommand | string }> = [
    { phase: "preflight", cmd: c.preflight("old") },
    { phase: "preflight", cmd: c.preflight("new") },
  ];
  if (!opts.skipBackup) steps.push({ phase: "backup", cmd: c.backup(opts.id) });
  if (strategy === "replicate") {
    steps.push(
      { phase: "copy", cmd: c.dropSlot() },
      { phase: "copy", cmd: c.standby() },
      { phase: "copy", cmd: c.redisReplica() },
      { phase: "catchup", cmd: c.catchup(maxLagBytesForCutover(budgets, opts.rates), 120) },
      { phase: "catchup", cmd: c.counts("old") },
      { phase: "catchup", cmd: c.checkpoint() },
      { phase: "cutover", cmd: c.fence() },
      { phase: "cutover", cmd: c.promote("<fence_lsn>", 60) },
      { phase: "cutover", cmd: c.redisFailover(5000) },
      { phase: "cutover", cmd: "move traffic to the new droplet" },
      { phase: "verify", cmd: c.forgetPrimary() },
      { phase: "verify", cmd: c.health(opts.healthUrl) },
      { phase: "verify", cmd: c.counts("new") },
    );
  } else {
    steps.push(
      { phase: "copy", cmd: c.redisReplica() },
      { phase: "cutover", cmd: c.freeze() },
      { phase: "cutover", cmd: c.counts("old") },
      { phase: "cutover", cmd: c.dumpRestore(opts.dumpJobs ?? 2, opts.id) },
      { phase: "cutover", cmd: c.counts("new") },
      { phase: "cutover", cmd: c.redisFailover(5000) },
      { phase: "cutover", cmd: "move traffic to the new droplet" },
      { phase: "cutover", cmd: c.retire() },
      { phase: "verify", cmd: c.health(opts.healthUrl) },
    );
  }
  return steps;
}
