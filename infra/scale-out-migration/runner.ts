/**
 * Moving a single-droplet stack onto the managed engines, step by step. Like the tier migration's runner
 * (infra/migration/runner.ts) it executes nothing itself: every step goes through the injected `exec` (ssh in the
 * harness and the CLI), traffic through the injected `moveTraffic` (the harness's front door; on DigitalOcean the
 * old droplet's proxy forwarding to the app droplets, then DNS to the load balancer).
 *
 *   preflight   wal_level = logical, versions, sizes, tables without a primary key, first budget check
 *   copy        schema -> managed cluster, publication, subscription (copies the data), wait for the initial sync
 *   catchup     streaming lag small enough for the downtime budget
 *   cutover     fence the source (read-only, sessions ended, marker row), wait for the marker on the subscriber,
 *               setval every sequence, exact row counts on both sides, then move traffic (the commit point
 *               is its success)
 *   verify      warm the cache (keys the new app already wrote win), drop the subscription and publication
 *
 * Before the commit point, a failure or a budget abort rolls back: the subscription and slot go, the source takes
 * writes again, and nothing acknowledged by the source is lost (it never stopped being the primary). After it, the
 * managed cluster is the primary and the source stays read-only forever: never write to it again.
 */
import { type Budgets, DEFAULT_BUDGETS, checkBudgets } from "../migration/budget";
import { compareCounts } from "../migration/checks";
import { type Droplet, parseValues, type StepCommand } from "../migration/commands";
import type { Executor, StepResult } from "../migration/runner";
import { type Phase, Timeline, type TimelineEntry } from "../migration/timeline";
import { type LogicalCommand, logicalCommands, sequenceValues, splitCounts } from "./commands";

export type LogicalExecutor = (cmd: LogicalCommand) => Promise<StepResult>;

/** The tier migration's executors (ssh) run any command by its argv and stdin file; the step name is only reported. */
export function fromStepExecutor(exec: Executor): LogicalExecutor {
  return (cmd) => exec(cmd as unknown as StepCommand);
}

export const LOGICAL_FAULT_POINTS = ["preflight", "copy", "fence", "catchup", "sequences"] as const;
export type LogicalFaultPoint = (typeof LOGICAL_FAULT_POINTS)[number];

export interface LogicalRunnerOptions {
  /** The single droplet: the publisher, and where every step runs. */
  source: Droplet;
  exec: LogicalExecutor;
  /**
   * Send user traffic to the app droplets: fast, and atomic: it throws only when no request reached them (a Caddy
   * reload that fails keeps the running config), so a failure can still roll back.
   */
  moveTraffic: () => Promise<void>;
  budgets?: Budgets;
  /** Names the fence marker. @default a timestamp */
  id?: string;
  /** Initial copy timeout. @default the migration budget */
  syncTimeoutSeconds?: number;
  /** Largest streaming lag (bytes) to start the cutover with. @default 16 MiB */
  maxLagBytes?: number;
  /** Copy the droplet's Redis keys into Valkey after the cutover. @default true */
  warmCache?: boolean;
  /** Test hook: fail right after this point (always before the commit point). */
  faultAfter?: LogicalFaultPoint;
  /**
   * NEGATIVE CONTROL ONLY: no fence, no marker wait, no setval: the subscription is dropped and traffic moved while
   * the source still acknowledges writes. The harness must report lost writes and stale sequences for it.
   */
  unsafeNoFence?: boolean;
  onEvent?: (e: { kind: "phase"; phase: Phase } | { kind: "step"; step: string } | { kind: "info"; message: string }) => void;
  now?: () => number;
}

export interface LogicalReport {
  ok: boolean;
  committed: boolean;
  aborted?: string;
  rolledBack?: boolean;
  error?: string;
  preflight?: Record<string, string>;
  syncMs?: number;
  lagBytes?: number;
  /** Fence start to traffic moved. */
  writeDowntimeMs?: number;
  catchupMs?: number;
  sequences?: Record<string, number>;
  countProblems?: string[];
  cache?: { keys: number; skipped: number; ms: number };
  timeline: TimelineEntry[];
  startedAt: number;
  totalMs: number;
}

const DEFAULT_MAX_LAG = 16 * 1024 * 1024;
/** Assumed apply rate of the subscriber, for the budget check before the cutover (conservative). */
const APPLY_BYTES_PER_SECOND = 5 * 1024 * 1024;
const CUTOVER_FIXED_SECONDS = 5;

class Abort extends Error {}

export async function runLogicalCutover(opts: LogicalRunnerOptions): Promise<LogicalReport> {
  const now = opts.now ?? Date.now;
  const budgets = opts.budgets ?? DEFAULT_BUDGETS;
  const id = opts.id ?? `c${new Date(now()).toISOString().replace(/\D/g, "").slice(0, 14)}`;
  const cmds = logicalCommands(opts.source);
  const timeline = new Timeline(now);
  const report: LogicalReport = { ok: false, committed: false, timeline: timeline.entries, startedAt: timeline.startedAt, totalMs: 0 };
  const state = { subscribed: false, fenced: false };
  let current: Phase = "preflight";
  const phase = (p: Phase) => {
    current = p;
    opts.onEvent?.({ kind: "phase", phase: p });
  };
  const step = (cmd: LogicalCommand) =>
    timeline.time(current, cmd.step, "old", async () => {
      opts.onEvent?.({ kind: "step", step: cmd.step });
      const r = await opts.exec(cmd);
      if (r.code !== 0) {
        const tail = (r.stderr || r.stdout).trim().split("\n").slice(-3).join(" | ");
        throw new Error(`${cmd.step} exited ${r.code}: ${tail}`);
      }
      return parseValues(r.stdout);
    });
  const fault = (p: LogicalFaultPoint) => {
    if (opts.faultAfter === p) throw new Error(`fault injected after ${p}`);
  };
  const gate = (where: string, remainingSeconds: number, downtimeSeconds: number) => {
    const v = checkBudgets(budgets, { phase: where, elapsedSeconds: timeline.elapsedSeconds(), remainingSeconds, downtimeSeconds });
    timeline.record({ phase: current, step: `budget check (${where})`, side: "local", startMs: now(), status: v.ok ? "ok" : "aborted", detail: v.ok ? `downtime est. ${downtimeSeconds.toFixed(1)} s` : v.reason });
    if (!v.ok) throw new Abort(v.reason);
  };

  try {
    phase("preflight");
    const pre = await step(cmds.preflight());
    report.preflight = pre;
    if (pre.tables_without_pk) opts.onEvent?.({ kind: "info", message: `tables without a primary key (UPDATE/DELETE on them will fail while replicating): ${pre.tables_without_pk}` });
    if (Math.floor(Number(pre.target_version_num) / 10000) < Math.floor(Number(pre.source_version_num) / 10000)) {
      throw new Error(`the managed cluster runs PostgreSQL ${pre.target_version_num}, older than the source's ${pre.source_version_num}`);
    }
    gate("preflight", Number(pre.db_bytes) / APPLY_BYTES_PER_SECOND + CUTOVER_FIXED_SECONDS, CUTOVER_FIXED_SECONDS);
    fault("preflight");

    phase("copy");
    await step(cmds.schema());
    await step(cmds.publish());
    state.subscribed = true;
    await step(cmds.subscribe());
    const sync = await step(cmds.sync(opts.syncTimeoutSeconds ?? budgets.migrationBudgetMinutes * 60));
    report.syncMs = Number(sync.sync_ms);
    fault("copy");

    phase("catchup");
    const lag = Number((await step(cmds.lag())).lag_bytes);
    report.lagBytes = lag;
    if (lag > (opts.maxLagBytes ?? DEFAULT_MAX_LAG)) throw new Abort(`streaming lag ${lag} bytes is above the ${opts.maxLagBytes ?? DEFAULT_MAX_LAG} bytes the cutover starts with`);
    gate("before cutover", CUTOVER_FIXED_SECONDS + lag / APPLY_BYTES_PER_SECOND, CUTOVER_FIXED_SECONDS + lag / APPLY_BYTES_PER_SECOND);

    phase("cutover");
    const cutoverStart = now();
    if (opts.unsafeNoFence) {
      await step(cmds.finish());
      report.committed = true;
      await timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
      report.writeDowntimeMs = now() - cutoverStart;
    } else {
      state.fenced = true;
      await step(cmds.fence(id));
      fault("fence");
      const caught = await step(cmds.catchup(id, Math.max(1, Math.ceil(budgets.downtimeBudgetSeconds / 2))));
      report.catchupMs = Number(caught.catchup_ms);
      fault("catchup");
      report.sequences = sequenceValues(await step(cmds.sequences()));
      const counts = splitCounts(await step(cmds.counts()));
      report.countProblems = compareCounts(counts.source, counts.target, "exact");
      if (report.countProblems.length) throw new Error(`row counts differ after the fence: ${report.countProblems.join("; ")}`);
      fault("sequences");
      gate("traffic switch", 0, (now() - cutoverStart) / 1000);
      // The commit point: once traffic has moved, the managed cluster takes writes the source never sees.
      await timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
      report.committed = true;
      report.writeDowntimeMs = now() - cutoverStart;
      phase("verify");
      await step(cmds.finish());
    }

    phase("verify");
    if (opts.warmCache !== false) {
      const warm = await step(cmds.cacheWarm());
      report.cache = { keys: Number(warm.warm_keys), skipped: Number(warm.warm_skipped), ms: Number(warm.warm_ms) };
    }
    report.ok = !report.countProblems?.length;
  } catch (e) {
    if (report.committed) report.error = (e as Error).message;
    else {
      report.aborted = (e as Error).message;
      await rollback();
    }
  }
  report.totalMs = now() - timeline.startedAt;
  return report;

  async function rollback(): Promise<void> {
    phase("rollback");
    const errors: string[] = [];
    if (state.subscribed) await step(cmds.rollbackTarget()).catch((e: Error) => errors.push(e.message));
    if (state.fenced) await step(cmds.unfence()).catch((e: Error) => errors.push(e.message));
    report.rolledBack = errors.length === 0;
    if (errors.length) report.aborted = `${report.aborted}; rollback incomplete: ${errors.join("; ")}`;
  }
}
