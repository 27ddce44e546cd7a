/**
 * Moving a single-droplet stack onto the managed engines, step by step. Like the tier migration's runner
 * (infra/migration/runner.ts) it executes nothing itself: every step goes through the injected `exec` (ssh in the
 * harness and the CLI); the droplet's own proxy moves the traffic to the app droplets (it forwards there from the
 * cutover on, held until their gates open right after the commit point), and the injected `moveTraffic` (DNS to the
 * load balancer; the harness's front address) runs after it.
 *
 *   preflight   wal_level = logical, versions, sizes, tables without a primary key, first budget check
 *   copy        schema -> managed cluster, publication, subscription (copies the data), wait for the initial sync
 *   catchup     streaming lag small enough for the downtime budget; the app droplets' gates close (their Caddy's
 *               internal listener refuses connections: proxy-switch.sh `gate close`, over ssh to each)
 *   cutover     one round trip, no request failed: the droplet's proxy forwards to the app droplets, whose closed
 *               gates make Caddy hold the requests, and drains the local app; the source read-only, sessions ended,
 *               marker row; marker wait, setval every sequence, the commit record (its success is the commit
 *               point); then the app droplets' gates open and the held requests go through. Nothing in the write
 *               gap grows with the data (the marker proves the catch-up: the apply worker applies in commit order)
 *   verify      exact row counts (the source frozen, the cluster at least as many: a difference is reported for an
 *               operator, not rolled back), warm the cache (keys the new app already wrote win), drop the
 *               subscription and publication
 *
 * Why the gate is on the app droplets (as in the tier migration, where the new droplet's gate opens): a Caddy reload
 * ends the retry loop of the requests the old config holds (they get a 502). The droplet's Caddy holds them, so it
 * is never reloaded at the commit point; the app droplets' Caddy is, and it holds nothing.
 *
 * Before the commit point, a failure or a budget abort rolls back: the source takes writes again and its proxy serves
 * the local app again (that reload answers the requests it held with Caddy's 502: a refused connection only, never
 * applied), the subscription and slot go, the app droplets' gates reopen, and nothing acknowledged by the source is
 * lost (it never stopped being the primary). A rollback that finds the cutover done (unfence exit 7: the ssh answer
 * was lost) goes forward instead, gates first. After the commit point, the managed cluster is the primary and the
 * source stays read-only forever: never write to it again.
 */
import { type Budgets, DEFAULT_BUDGETS, checkBudgets } from "../migration/budget";
import { compareCounts } from "../migration/checks";
import { type Droplet, readStep } from "../migration/commands";
import type { StepResult } from "../migration/runner";
import { type AnySpec, EXIT, type OutputOf } from "../migration/steps";
import { type Phase, Timeline, type TimelineEntry } from "../migration/timeline";
import { INTERNAL_PORT } from "../render/caddyfile";
import {
  appBounceCommand,
  appGateCommand,
  type LogicalCommand,
  logicalCommands,
  sequenceValues,
  splitCounts,
} from "./commands";

export type LogicalExecutor = (cmd: LogicalCommand) => Promise<StepResult>;

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
  onEvent?: (
    e: { kind: "phase"; phase: Phase } | { kind: "step"; step: string } | { kind: "info"; message: string },
  ) => void;
  now?: () => number;
}

export interface LogicalReport {
  ok: boolean;
  committed: boolean;
  aborted?: string;
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
  const report: LogicalReport = {
    ok: false,
    committed: false,
    timeline: timeline.entries,
    startedAt: timeline.startedAt,
    totalMs: 0,
  };
  const state = { subscribed: false, fenced: false, gatesClosed: false, sourceCert: "" };
  let current: Phase = "preflight";
  const phase = (p: Phase) => {
    current = p;
    opts.onEvent?.({ kind: "phase", phase: p });
  };
  const step = <S extends AnySpec>(cmd: LogicalCommand<S>): Promise<OutputOf<S>> => {
    // An app droplet's gate is named with its ssh destination (several run side by side).
    const label = cmd.side === "app" ? `${cmd.step} ${cmd.argv.at(-2) ?? ""}`.trim() : cmd.step;
    return timeline.time(current, label, cmd.side === "app" ? "new" : "old", async () => {
      opts.onEvent?.({ kind: "step", step: label });
      const r = await opts.exec(cmd);
      if (r.code !== EXIT.ok) throw new StepFailed(label, r.code, r.stderr || r.stdout);
      return readStep(cmd, r.stdout);
    });
  };
  const gate = (where: string, remainingSeconds: number, downtimeSeconds: number) => {
    const v = checkBudgets(budgets, {
      phase: where,
      elapsedSeconds: timeline.elapsedSeconds(),
      remainingSeconds,
      downtimeSeconds,
    });
    timeline.record({
      phase: current,
      step: `budget check (${where})`,
      side: "local",
      startMs: now(),
      status: v.ok ? "ok" : "aborted",
      detail: v.ok ? `downtime est. ${downtimeSeconds.toFixed(1)} s` : v.reason,
    });
    if (!v.ok) throw new Abort(v.reason);
  };

  try {
    phase("preflight");
    const pre = await step(cmds.preflight());
    report.preflight = pre;
    if (pre.tables_without_pk)
      opts.onEvent?.({
        kind: "info",
        message: `tables without a primary key (UPDATE/DELETE on them will fail while replicating): ${pre.tables_without_pk}`,
      });
    if (Math.floor(Number(pre.target_version_num) / 10000) < Math.floor(Number(pre.source_version_num) / 10000)) {
      throw new Error(
        `the managed cluster runs PostgreSQL ${pre.target_version_num}, older than the source's ${pre.source_version_num}`,
      );
    }
    gate("preflight", Number(pre.db_bytes) / APPLY_BYTES_PER_SECOND + CUTOVER_FIXED_SECONDS, CUTOVER_FIXED_SECONDS);

    phase("copy");
    await step(cmds.schema());
    await step(cmds.publish());
    state.subscribed = true;
    await step(cmds.subscribe());
    const sync = await step(cmds.sync(opts.syncTimeoutSeconds ?? budgets.migrationBudgetMinutes * 60));
    report.syncMs = Number(sync.sync_ms);

    phase("catchup");
    const lag = Number((await step(cmds.lag())).lag_bytes);
    report.lagBytes = lag;
    if (lag > (opts.maxLagBytes ?? DEFAULT_MAX_LAG))
      throw new Abort(
        `streaming lag ${lag} bytes is above the ${opts.maxLagBytes ?? DEFAULT_MAX_LAG} bytes the cutover starts with`,
      );
    gate(
      "before cutover",
      CUTOVER_FIXED_SECONDS + lag / APPLY_BYTES_PER_SECOND,
      CUTOVER_FIXED_SECONDS + lag / APPLY_BYTES_PER_SECOND,
    );
    // Outside the write gap: nothing reaches the app droplets yet.
    state.gatesClosed = true;
    const closed = await gates("close");
    // The droplet's proxy will forward to exactly these listeners, over TLS: it trusts their certificates only.
    await step(cmds.trust(closed.map((v, i) => appCertificate(v, i)).join("")));
    // A rollback after the fence bounces the held requests to the source's internal listener: its certificate now,
    // outside the write gap. Without it (an older droplet), the rollback ends them with Caddy's 502 as before.
    state.sourceCert = await step(cmds.proxyCert())
      .then((v) => Buffer.from(v.tls_cert ?? "", "base64").toString("utf8"))
      .catch((e: Error) => {
        opts.onEvent?.({
          kind: "info",
          message: `the source's internal listener certificate could not be read (${e.message}): a rollback after the fence would fail the held requests`,
        });
        return "";
      });

    phase("cutover");
    const cutoverStart = now();
    // From here no request fails: the droplet's proxy holds them (Caddy retries the app droplets' closed listeners)
    // for up to the downtime budget, until their gates open (or a rollback sends them to the local app again).
    state.fenced = true;
    const cut = await step(
      cmds.cutover(
        id,
        opts.upstreams,
        budgets.downtimeBudgetSeconds,
        Math.max(1, Math.ceil(budgets.downtimeBudgetSeconds / 2)),
      ),
    );
    // The commit point: the managed cluster is the primary; the app droplets take writes the source never sees.
    report.committed = true;
    report.fenceMs = Number(cut.fence_ms);
    report.drainedMs = Number(cut.drained_ms);
    if (cut.drained === "0")
      opts.onEvent?.({
        kind: "info",
        message:
          "requests to the local app were still in flight after the drain wait: the fence may have cut them short",
      });
    takeChecks(cut);
    await gates("open");
    report.writeDowntimeMs = now() - cutoverStart;
    await afterCommit();
  } catch (e) {
    if (report.committed) report.error = (e as Error).message;
    else {
      report.aborted = (e as Error).message;
      if (await rollback()) {
        // The cutover had written its commit record (its answer was lost): past the commit point, so forward.
        report.committed = true;
        opts.onEvent?.({ kind: "info", message: "the cutover was found done: committed, the migration goes forward" });
        await gates("open")
          .then(afterCommit)
          .catch((err: Error) => (report.error = err.message));
      }
    }
  }
  report.totalMs = now() - timeline.startedAt;
  return report;

  /** Every app droplet's gate at once (one round trip each, side by side); all are tried, then any failure throws. */
  async function gates(action: "close" | "open"): Promise<Array<Readonly<Record<string, string | undefined>>>> {
    const results = await Promise.allSettled(opts.appNodes.map((node) => step(appGateCommand(node, action))));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    if (failed.length)
      throw new Error(
        `${failed.length} of ${opts.appNodes.length} app droplet gate(s) did not ${action}: ${failed.join("; ")}`,
      );
    return results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  }

  /** An app droplet's internal listener certificate, as its gate printed it (tls_cert, base64 PEM). */
  function appCertificate(values: Readonly<Record<string, string | undefined>>, i: number): string {
    const pem = Buffer.from(values.tls_cert ?? "", "base64").toString("utf8");
    if (!pem.includes("BEGIN CERTIFICATE"))
      throw new Error(
        `app droplet ${opts.appNodes[i]?.ssh ?? i} printed no certificate for its internal listener (tls_cert): its config sync predates TLS there (run \`pulumi up\` first)`,
      );
    return pem.endsWith("\n") ? pem : `${pem}\n`;
  }

  function takeChecks(values: Readonly<Record<string, string | undefined>>): void {
    if (values.catchup_ms !== undefined) report.catchupMs = Number(values.catchup_ms);
    report.sequences = sequenceValues(values);
  }

  async function afterCommit(): Promise<void> {
    if (opts.moveTraffic) await timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
    phase("verify");
    // The source is read-only since the fence; the cluster takes the app droplets' writes by now: at least as many
    // rows in each table (one that deletes rows shows up here too, for an operator).
    const counts = splitCounts(await step(cmds.counts()));
    report.countProblems = compareCounts(counts.source, counts.target, "at-least");
    await step(cmds.finish());
    if (opts.warmCache !== false) {
      const warm = await step(cmds.cacheWarm());
      report.cache = { keys: Number(warm.warm_keys), skipped: Number(warm.warm_skipped), ms: Number(warm.warm_ms) };
    }
    report.ok = !report.countProblems?.length;
  }

  /** Undo what this run did; true when unfence found the cutover done (committed: nothing else is touched). */
  async function rollback(): Promise<boolean> {
    phase("rollback");
    const errors: string[] = [];
    // The source first. Its proxy keeps holding while the app droplets' gates open onto the source's internal
    // listener (the bounce), so the held requests reach the local app once it is writable instead of failing at the
    // proxy's reload; then the proxy serves the local app again.
    if (state.fenced) {
      const bounce = state.gatesClosed && state.sourceCert.includes("BEGIN CERTIFICATE");
      const r = await step(cmds.unfence(bounce)).catch((e: Error) => e);
      if (r instanceof StepFailed && r.code === EXIT.alreadySwitched) return true;
      if (r instanceof Error) errors.push(r.message);
      else if (bounce) {
        const target = `${opts.source.privateAddress}:${opts.source.internalPort ?? INTERNAL_PORT}`;
        const bounced = await Promise.allSettled(
          opts.appNodes.map((node) => step(appBounceCommand(node, target, state.sourceCert))),
        );
        const failed = bounced.flatMap((b) => (b.status === "rejected" ? [(b.reason as Error).message] : []));
        if (failed.length)
          opts.onEvent?.({
            kind: "info",
            message: `held requests could not all be sent back to the source's app (${failed.join("; ")}): those get Caddy's 502, never applied`,
          });
        await step(cmds.proxyLocal()).catch((e: Error) => errors.push(e.message));
      }
    }
    if (state.subscribed) await step(cmds.rollbackTarget()).catch((e: Error) => errors.push(e.message));
    // The app droplets' listeners back as they were, once the source's proxy surely no longer forwards to them.
    if (state.gatesClosed && errors.length === 0) await gates("open").catch((e: Error) => errors.push(e.message));
    report.rolledBack = errors.length === 0;
    if (errors.length) report.aborted = `${report.aborted}; rollback incomplete: ${errors.join("; ")}`;
    return false;
  }
}

class StepFailed extends Error {
  constructor(
    step: string,
    readonly code: number,
    output: string,
  ) {
    super(`${step} exited ${code}: ${output.trim().split("\n").slice(-3).join(" | ")}`);
  }
}
