/**
 * What the scale-out runner (./runner.ts) is given and what it reports: its options, its executor, its report.
 */
import type { Budgets } from "../migration/budget";
import type { Droplet } from "../migration/commands";
import type { StepHooks } from "../migration/run-api";
import type { StepResult } from "../migration/runner";
import type { Phase, TimelineEntry } from "../migration/timeline";
import type { LogicalCommand } from "./commands";
import type { ScaleOutStatus } from "./status";

/** `hooks.fresh`: run over a connection of its own (a step rerun after its connection dropped). */
export type LogicalExecutor = (cmd: LogicalCommand, hooks?: Pick<StepHooks, "fresh">) => Promise<StepResult>;

export interface LogicalRunnerOptions {
  /** The single droplet: the publisher, and where every step runs. */
  source: Droplet;
  exec: LogicalExecutor;
  /**
   * The app droplets' internal listeners as the droplet's proxy dials them (`<private ip>:<port>`): it forwards there
   * from the fence on, held until their gates open.
   */
  upstreams: readonly string[];
  /** The app droplets over ssh (their Caddy runs proxy-switch.sh `gate close|open`): every gate of `upstreams`. */
  appNodes: readonly Droplet[];
  /**
   * After the commit point (users already reach the app droplets through the droplet's proxy): point the domain at
   * the load balancer. A failure is reported, never rolled back. @default nothing (DNS is the stack's part)
   */
  moveTraffic?: () => Promise<void>;
  budgets?: Budgets;
  /** Names the fence marker. @default a timestamp */
  id?: string;
  /** Initial copy timeout. @default the migration budget */
  syncTimeoutSeconds?: number;
  /** Largest streaming lag (bytes) to start the cutover with. @default 16 MiB */
  maxLagBytes?: number;
  /** Copy the droplet's Redis keys into Valkey after the cutover. @default true */
  warmCache?: boolean;
  /**
   * The tier migration's lock, taken on the source for every run (a tier migration of the droplet waits too): a lock
   * without heartbeat for this long belongs to a dead run and is taken over. @default LOCK_STALE_SECONDS.default
   */
  lockStaleSeconds?: number;
  onEvent?: (
    e: { kind: "phase"; phase: Phase } | { kind: "step"; step: string } | { kind: "info"; message: string },
  ) => void;
  now?: () => number;
}

export interface LogicalReport {
  ok: boolean;
  committed: boolean;
  aborted?: string;
  /** --rollback or --resume found the move where it cannot act (past, or not yet at, the commit point). */
  refused?: string;
  /** Where the move stood when this run started (./status.ts). */
  status?: ScaleOutStatus;
  /** A plain run found an earlier run's leftovers and rolled them back first, or finished that run. */
  recovered?: "rolled-back" | "resumed";
  rolledBack?: boolean;
  error?: string;
  preflight?: Readonly<Record<string, string | undefined>>;
  syncMs?: number;
  lagBytes?: number;
  /** Fence start to the last app droplet's gate open (the held requests go through then). */
  writeDowntimeMs?: number;
  catchupMs?: number;
  /** The cutover step's own timings (drain of the local app, fence SQL). */
  fenceMs?: number;
  drainedMs?: number;
  sequences?: Record<string, number>;
  countProblems?: string[];
  cache?: { keys: number; skipped: number; ms: number };
  timeline: TimelineEntry[];
  startedAt: number;
  totalMs: number;
}
