/**
 * The migration runner's public shapes: the executor it drives, its options and events, and the report a run ends
 * with (./runner.ts runs it; ./outcome.ts turns a report into an exit code, a result line and advice).
 */
import type { Budgets, Rates } from "./budget";
import type { Droplet, StepCommand } from "./commands";
import type { Journal, RunMode } from "./journal";
import type { StrategyChoice, StrategyRequest } from "./strategy";
import type { Phase, TimelineEntry } from "./timeline";

export interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface StepHooks {
  onStderr?: (chunk: string) => void;
  /** Standard output as it arrives, for a step whose line the runner acts on before the step ends. */
  onStdout?: (chunk: string) => void;
  /** Set for steps that may be cut short (long copies and waits): on abort the executor ends the step (code 130). */
  signal?: AbortSignal;
  /**
   * More standard input, after the command's own: the step starts at once and waits for it (the armed promotion
   * waits for the fence's result this way). It is sent once it resolves; stdin then ends (at once if it rejects).
   */
  stdinTail?: Promise<string>;
  /**
   * Run over a connection of its own, not the shared (multiplexed) one: the retry of a step whose connection
   * dropped, when the shared one may still be dying.
   */
  fresh?: boolean;
}

export type Executor = (cmd: StepCommand, hooks?: StepHooks) => Promise<StepResult>;

export type RunnerEvent =
  | { kind: "phase"; phase: Phase }
  | { kind: "step"; phase: Phase; step: string; side: string }
  | { kind: "progress"; doneBytes: number; totalBytes: number }
  | { kind: "info"; message: string };

export interface RunnerOptions {
  old: Droplet;
  next: Droplet;
  exec: Executor;
  /**
   * After the commit point, once the old droplet's proxy forwards to the new one: the caller's own traffic move
   * (e.g. the reserved IP), idempotent, throwing on failure. Without it the caller moves the reserved IP or DNS
   * afterwards (`pulumi up` does, from the migration's output).
   */
  moveTraffic?: () => Promise<void>;
  /**
   * run: a migration, or the end of this pair's unfinished one. resume: the same, but only when this pair has a
   * journal. rollback: undo this pair's migration stopped before its commit point. @default "run"
   */
  mode?: RunMode;
  /** @default "auto" */
  strategy?: StrategyRequest;
  /**
   * A switch back: `next` is the server that follows `old` (a streaming standby since an earlier migration the other
   * way, its Redis a replica). Nothing is copied; a target that does not follow `old` is refused. Strategy `auto` or
   * `replicate` only. @default false
   */
  switchBack?: boolean;
  budgets?: Budgets;
  rates?: Rates;
  /** The migration id (journal, backup file, dump directory). @default a timestamp */
  id?: string;
  /** URL the new droplet's health step checks (from the droplet). */
  healthUrl?: string;
  /** pg_dump/pg_restore -j. @default 2 */
  dumpJobs?: number;
  /** @default false */
  skipBackup?: boolean;
  /** Replace a target that holds data (rows in a user table, Redis keys, a fenced former primary). @default false */
  overwriteTarget?: boolean;
  /** Stops the run (SIGINT/SIGTERM in the CLI): before the commit point it rolls back, after it the journal stays. */
  signal?: AbortSignal;
  /** Who runs this, recorded in the lock and journal. @default "<hostname>:<pid>" */
  holder?: string;
  /** @default a third of the staleness window, at most 10000 */
  heartbeatMs?: number;
  /**
   * A lock without heartbeat for longer than this (droplet clock) belongs to a dead run, within
   * `LOCK_STALE_SECONDS.min`..`max`. @default 60
   */
  lockStaleSeconds?: number;
  onEvent?: (e: RunnerEvent) => void;
  now?: () => number;
}

/**
 * done: finished by this run. already-done: finished earlier, nothing touched. rolled-back: undone before the commit
 * point (the old server serves with all its data). refused: a check said no, nothing touched. aborted: stopped before
 * anything changed. nothing: --resume/--rollback found nothing to act on. rollback-refused: --rollback after the
 * commit point. stopped-after-commit, rollback-incomplete, lock-lost: an operator is needed.
 */
export type RunOutcome =
  | "done"
  | "already-done"
  | "rolled-back"
  | "refused"
  | "aborted"
  | "nothing"
  | "rollback-refused"
  | "stopped-after-commit"
  | "rollback-incomplete"
  | "lock-lost";

export interface MigrationReport {
  outcome: RunOutcome;
  ok: boolean;
  committed: boolean;
  /** This run continued (or found finished) a migration an earlier run had started. */
  resumed: boolean;
  strategy?: StrategyChoice;
  /** Why a check refused the run (nothing touched). */
  refused?: string;
  /** The refusal is about the arguments: a switch back to a server that does not follow the source (exit 2). */
  wrongTarget?: boolean;
  /** Why the migration stopped before the commit point (budget, failure, signal), if it did. */
  aborted?: string;
  rolledBack?: boolean;
  /** Failure after the commit point, or an incomplete rollback (needs an operator). */
  error?: string;
  /** The signal that stopped the run. */
  interruptedBy?: string;
  /** Fence (or freeze) start to traffic moved. */
  writeDowntimeMs?: number;
  copy?: { bytes: number; ms: number };
  backupFile?: string;
  countProblems?: string[];
  /** Preflight findings worth printing (target verdict, room on the target volume, a lock taken over). */
  notes: string[];
  /** The journal as this run last wrote or read it. */
  journal?: Journal;
  timeline: TimelineEntry[];
  startedAt: number;
  totalMs: number;
}

/**
 * The lock's staleness window, an operator setting (`npm run migrate -- --lock-stale-seconds`): longer on a slow link
 * where a heartbeat can take a while, shorter to take over a dead run's lock sooner. Below `min` a live run's
 * heartbeat (a third of the window) could miss it over ssh.
 */
export const LOCK_STALE_SECONDS = { default: 60, min: 5, max: 3600 } as const;

/** How often a run refreshes its lock: three heartbeats fit in the staleness window, at most one every 10 s. */
export function heartbeatMsFor(staleSeconds: number): number {
  return Math.min(10_000, Math.floor((staleSeconds * 1000) / 3));
}

export function defaultMigrationId(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
}

/** Fence (or freeze) start to traffic moved, as the journal recorded them. */
export function journalDowntime(j: Journal): number | undefined {
  if (!j.cutoverStartedAt || !j.trafficMovedAt) return undefined;
  return Date.parse(j.trafficMovedAt) - Date.parse(j.cutoverStartedAt);
}
