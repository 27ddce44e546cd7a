/**
 * Moving a single-droplet stack onto the managed engines, step by step. Like the tier migration's runner it executes
 * nothing itself: every step goes through the injected `exec` (ssh); the droplet's own proxy moves the traffic to
 * the app droplets, and the injected `moveTraffic` (DNS to the load balancer) runs after it.
 *
 *   preflight   wal_level = logical, versions, sizes, tables without a primary key, first budget check
 *   copy        schema, publication, subscription (copies the data), the initial sync
 *   catchup     lag small enough for the downtime budget; the app droplets' gates close (their internal listeners
 *               refuse connections, so the droplet's Caddy holds requests for them)
 *   cutover     one round trip: the hold, the fence, the marker wait, setval, the commit record (the commit point);
 *               then the gates open and the held requests go through. Nothing in the write gap grows with the data
 *   verify      row counts (a difference is reported, not rolled back), cache warm-up, replication dropped (finish)
 *
 * The gate is on the app droplets because a Caddy reload ends the retries of the requests it holds: the droplet's
 * Caddy, which holds them, is never reloaded at the commit point. Before the commit point a failure rolls back (the
 * source writable again, nothing it acknowledged lost); a rollback that finds the cutover done
 * (STEP_EXIT.alreadySwitched: its answer was lost) goes forward. After it the source stays read-only forever.
 */
import { type Budgets, DEFAULT_BUDGETS } from "../migration/budget";
import * as os from "node:os";
import { randomBytes } from "node:crypto";
import { compareCounts } from "../migration/checks";
import { migrationCommands, readStep, type StepCommand } from "../migration/commands";
import { LockHeld, MigrationLocks } from "../migration/locks";
import { heartbeatMsFor, LOCK_STALE_SECONDS } from "../migration/run-api";
import type { StepResult } from "../migration/runner";
import { type AnySpec, BOUNCE_SETTLE_SECONDS, STEP_EXIT, type OutputOf } from "../migration/steps";
import { Abort, StepFailed, budgetGate } from "../migration/stops";
import { type Phase, Timeline } from "../migration/timeline";
import { INTERNAL_PORT } from "../render/caddyfile";
import type { LogicalReport, LogicalRunnerOptions } from "./run-types";
import { ROLLBACK_ADVICE, readState, type ScaleOutStatus, statusOf } from "./status";
import {
  appBounceCommand,
  appGateCommand,
  type LogicalCommand,
  logicalCommands,
  sequenceValues,
  splitCounts,
} from "./commands";

export type { LogicalExecutor, LogicalReport, LogicalRunnerOptions } from "./run-types";

const DEFAULT_MAX_LAG = 16 * 1024 * 1024;
/** ssh's exit code when the connection failed or dropped. */
const SSH_DROPPED = 255;
/** Steps never run twice: a second cutover or subscription is not the first one's answer. */
const ONCE_ONLY: readonly string[] = ["cutover", "subscribe"];
/** Assumed apply rate of the subscriber, for the budget check before the cutover (conservative). */
const APPLY_BYTES_PER_SECOND = 5 * 1024 * 1024;
const CUTOVER_FIXED_SECONDS = 5;

/**
 * A plain run. Like the tier migration's, it first deals with what an earlier run left (./status.ts), as the next
 * `pulumi up` must: stopped before the commit point, it is rolled back, then moved afresh; stopped after it, it is
 * finished; done, nothing is touched.
 */
export async function runLogicalCutover(opts: LogicalRunnerOptions): Promise<LogicalReport> {
  const first = await freshRun(opts);
  const found = first.committed ? undefined : first.status;
  if (!found || found.phase === "none") return first;
  const said = (message: string) => opts.onEvent?.({ kind: "info", message });
  said(`an earlier run left ${found.left.join("; ")} (phase ${found.phase})`);
  if (found.phase !== "before-commit") return joined([first], await resumeLogical(opts), "resumed");
  const back = await rollbackLogical(opts);
  if (back.refused || !back.rolledBack) return joined([first], back, "rolled-back");
  said("the earlier run is rolled back: the move starts afresh");
  const again = await freshRun(opts);
  return joined([first, back], again, "rolled-back");
}

/** The report of the run that ended it all, with the timelines of those before it and the whole time. */
function joined(before: readonly LogicalReport[], last: LogicalReport, recovered: LogicalReport["recovered"]) {
  const startedAt = before[0]?.startedAt ?? last.startedAt;
  const timeline = [...before.flatMap((r) => r.timeline), ...last.timeline];
  return { ...last, recovered, timeline, startedAt, totalMs: last.startedAt + last.totalMs - startedAt };
}

function freshRun(opts: LogicalRunnerOptions): Promise<LogicalReport> {
  return locked(opts, async (run) => {
    try {
      await run.preflight();
      await run.copy();
      await run.catchup();
      await run.cutover();
      await run.afterCommit();
    } catch (e) {
      await run.failed(e as Error);
    }
  });
}

/** `fn` on a fresh run that holds the source's lock throughout (refused, nothing touched, when another run holds it). */
async function locked(opts: LogicalRunnerOptions, fn: (run: LogicalRun) => Promise<void>): Promise<LogicalReport> {
  const run = new LogicalRun(opts);
  try {
    await run.locks.acquire();
    await fn(run);
  } catch (e) {
    if (e instanceof LockHeld) run.report.refused = e.message;
    else run.report.error = (e as Error).message;
  } finally {
    await run.locks.release();
  }
  run.report.totalMs = run.now() - run.timeline.startedAt;
  return run.report;
}

/**
 * --rollback: undoes whatever an interrupted run left before the commit point (the fence, the proxy's hold, the
 * subscription, the gates), each part idempotent; refused past the commit point.
 */
export const rollbackLogical = (opts: LogicalRunnerOptions) => locked(opts, (run) => run.rollBackLeftovers());

/** --resume: finishes a move interrupted after its commit point; refused before it. */
export const resumeLogical = (opts: LogicalRunnerOptions) => locked(opts, (run) => run.resumeAfterCommit());

/** One scale-out run: its report, what it has changed so far (for a rollback), and how it runs a step. */
class LogicalRun {
  readonly now: () => number;
  readonly budgets: Budgets;
  readonly timeline: Timeline;
  readonly report: LogicalReport;
  private readonly id: string;
  private readonly cmds: ReturnType<typeof logicalCommands>;
  private readonly state = { subscribed: false, fenced: false, gatesClosed: false, sourceCert: "" };
  private current: Phase = "preflight";
  readonly locks: MigrationLocks;
  /** Set when another run took the lock over: no step runs after it. */
  private lockLost: string | undefined;

  constructor(private readonly opts: LogicalRunnerOptions) {
    this.now = opts.now ?? Date.now;
    this.budgets = opts.budgets ?? DEFAULT_BUDGETS;
    this.id = opts.id ?? `c${new Date(this.now()).toISOString().replace(/\D/g, "").slice(0, 14)}`;
    this.cmds = logicalCommands(opts.source);
    this.timeline = new Timeline(this.now);
    this.report = {
      ok: false,
      committed: false,
      timeline: this.timeline.entries,
      startedAt: this.timeline.startedAt,
      totalMs: 0,
    };
    // The lock steps are the tier migration's (migrate.sh, the same lock directory on the droplet), run quietly.
    const staleSeconds = opts.lockStaleSeconds ?? LOCK_STALE_SECONDS.default;
    const onSource = (cmd: StepCommand) => opts.exec({ ...cmd, side: "old" });
    // The release runs once more over a new connection when its own dropped (the lock is not left to go stale).
    const quietly = async (cmd: StepCommand, o: { rerunnable?: boolean }) => {
      const r = await onSource(cmd);
      return r.code === SSH_DROPPED && o.rerunnable ? opts.exec({ ...cmd, side: "old" }, { fresh: true }) : r;
    };
    this.locks = new MigrationLocks({
      cmds: migrationCommands(opts.source, opts.source),
      sides: ["old"],
      exec: onSource,
      run: quietly,
      runId: `${this.id}-${randomBytes(3).toString("hex")}`,
      holder: `${os.hostname()}:${process.pid}`.replace(/[^A-Za-z0-9_.:-]/g, "_"),
      startedAt: new Date(this.timeline.startedAt).toISOString(),
      staleSeconds,
      heartbeatMs: heartbeatMsFor(staleSeconds),
      targets: { old: opts.source.ssh, new: opts.source.ssh },
      note: (m) => this.info(m),
      onLost: (m) => {
        this.lockLost ??= m;
      },
    });
  }

  private phase(p: Phase): void {
    this.current = p;
    this.opts.onEvent?.({ kind: "phase", phase: p });
  }

  private info(message: string): void {
    this.opts.onEvent?.({ kind: "info", message });
  }

  private step<S extends AnySpec>(cmd: LogicalCommand<S>): Promise<OutputOf<S>> {
    // An app droplet's gate is named with its ssh destination (several run side by side).
    const label = cmd.side === "app" ? `${cmd.step} ${cmd.argv.at(-2) ?? ""}`.trim() : cmd.step;
    return this.timeline.time(this.current, label, cmd.side === "app" ? "new" : "old", async () => {
      if (this.lockLost) throw new Abort(this.lockLost);
      this.opts.onEvent?.({ kind: "step", step: label });
      const r = await this.exec(cmd);
      if (r.code !== STEP_EXIT.ok) throw new StepFailed(label, r);
      return readStep(cmd, r.stdout);
    });
  }

  /**
   * A step whose connection dropped (ssh's 255) runs once more over a connection of its own, as the tier
   * migration's rollback steps do: a dying shared connection must not leave the droplet fenced or a gate closed.
   * Every step may, but the two that are not idempotent: the cutover (the commit point) and the subscription.
   */
  private async exec(cmd: LogicalCommand): Promise<StepResult> {
    const r = await this.opts.exec(cmd);
    if (r.code !== SSH_DROPPED || ONCE_ONLY.includes(cmd.step)) return r;
    this.info(`${cmd.step}: the connection dropped; once more over a new connection`);
    return this.opts.exec(cmd, { fresh: true });
  }

  private gate(where: string, remainingSeconds: number, downtimeSeconds: number): void {
    budgetGate(this.timeline, this.budgets, {
      phase: this.current,
      where,
      remainingSeconds,
      downtimeSeconds,
      now: this.now(),
    });
  }

  async preflight(): Promise<void> {
    this.phase("preflight");
    const pre = await this.step(this.cmds.preflight());
    this.report.preflight = pre;
    // An earlier run's leftovers are acted on by --rollback or --resume, never built upon: a new subscription
    // beside an old one, or a copy onto a fenced source, would leave neither undoable.
    const status = statusOf(readState(pre));
    this.report.status = status;
    // runLogicalCutover acts on them (rollback or resume) before anything else changes.
    if (status.phase !== "none")
      throw new Abort(`an earlier run left ${status.left.join("; ")} (phase ${status.phase})`);
    if (pre.tables_without_pk)
      this.info(
        `tables without a primary key (UPDATE/DELETE on them will fail while replicating): ${pre.tables_without_pk}`,
      );
    if (Math.floor(Number(pre.target_version_num) / 10000) < Math.floor(Number(pre.source_version_num) / 10000)) {
      throw new Error(
        `the managed cluster runs PostgreSQL ${pre.target_version_num}, older than the source's ${pre.source_version_num}`,
      );
    }
    const copySeconds = Number(pre.db_bytes) / APPLY_BYTES_PER_SECOND;
    this.gate("preflight", copySeconds + CUTOVER_FIXED_SECONDS, CUTOVER_FIXED_SECONDS);
  }

  async copy(): Promise<void> {
    this.phase("copy");
    await this.step(this.cmds.schema());
    // From the publication on, a rollback undoes replication (rollback_target: each part only where it exists), also
    // when publish's answer was lost.
    this.state.subscribed = true;
    await this.step(this.cmds.publish());
    await this.step(this.cmds.subscribe());
    const sync = await this.step(
      this.cmds.sync(this.opts.syncTimeoutSeconds ?? this.budgets.migrationBudgetMinutes * 60),
    );
    this.report.syncMs = Number(sync.sync_ms);
  }

  async catchup(): Promise<void> {
    const { cmds, opts } = this;
    this.phase("catchup");
    const lag = Number((await this.step(cmds.lag())).lag_bytes);
    this.report.lagBytes = lag;
    const maxLag = opts.maxLagBytes ?? DEFAULT_MAX_LAG;
    if (lag > maxLag)
      throw new Abort(`streaming lag ${lag} bytes is above the ${maxLag} bytes the cutover starts with`);
    const downtime = CUTOVER_FIXED_SECONDS + lag / APPLY_BYTES_PER_SECOND;
    this.gate("before cutover", downtime, downtime);
    // Outside the write gap: nothing reaches the app droplets yet.
    this.state.gatesClosed = true;
    const closed = await this.gates("close");
    // The droplet's proxy will forward to exactly these listeners, over TLS: it trusts their certificates only.
    await this.step(cmds.trust(closed.map((v, i) => this.appCertificate(v, i)).join("")));
    // A rollback after the fence bounces the held requests to the source's internal listener: its certificate now,
    // outside the write gap. Without it (an older droplet), the rollback ends them with Caddy's 502 as before.
    this.state.sourceCert = await this.sourceCertificate();
  }

  /** The source's internal listener certificate (for a rollback's bounce), or "" (the held requests then get a 502). */
  private sourceCertificate(): Promise<string> {
    return this.step(this.cmds.proxyCert())
      .then((v) => Buffer.from(v.tls_cert ?? "", "base64").toString("utf8"))
      .catch((e: Error) => {
        this.info(
          `the source's internal listener certificate could not be read (${e.message}): a rollback after the fence would fail the held requests`,
        );
        return "";
      });
  }

  async cutover(): Promise<void> {
    const { budgets, report } = this;
    this.phase("cutover");
    const cutoverStart = this.now();
    // From here no request fails: the droplet's proxy holds them (Caddy retries the app droplets' closed listeners)
    // for up to the downtime budget, until their gates open (or a rollback sends them to the local app again).
    this.state.fenced = true;
    const catchupSeconds = Math.max(1, Math.ceil(budgets.downtimeBudgetSeconds / 2));
    const cut = await this.step(
      this.cmds.cutover(this.id, this.opts.upstreams, budgets.downtimeBudgetSeconds, catchupSeconds),
    );
    // The commit point: the managed cluster is the primary; the app droplets take writes the source never sees.
    report.committed = true;
    report.fenceMs = Number(cut.fence_ms);
    report.drainedMs = Number(cut.drained_ms);
    if (cut.drained === "0")
      this.info(
        "requests to the local app were still in flight after the drain wait: the fence may have cut them short",
      );
    if (cut.catchup_ms !== undefined) report.catchupMs = Number(cut.catchup_ms);
    report.sequences = sequenceValues(cut);
    await this.gates("open");
    report.writeDowntimeMs = this.now() - cutoverStart;
  }

  /** Before the commit point: roll back (or, the cutover found done, go forward); after it: report. */
  async failed(e: Error): Promise<void> {
    const { report } = this;
    if (report.committed) {
      report.error = e.message;
      return;
    }
    report.aborted = e.message;
    if (!(await this.rollback())) return;
    // The cutover had written its commit record (its answer was lost): past the commit point, so forward.
    report.committed = true;
    this.info("the cutover was found done: committed, the migration goes forward");
    await this.gates("open")
      .then(() => this.afterCommit())
      .catch((err: Error) => (report.error = err.message));
  }

  /** Every app droplet's gate at once (one round trip each, side by side); all are tried, then any failure throws. */
  private async gates(action: "close" | "open"): Promise<Array<Readonly<Record<string, string | undefined>>>> {
    const { appNodes } = this.opts;
    const results = await Promise.allSettled(appNodes.map((node) => this.step(appGateCommand(node, action))));
    const failed = results.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    if (failed.length)
      throw new Error(
        `${failed.length} of ${appNodes.length} app droplet gate(s) did not ${action}: ${failed.join("; ")}`,
      );
    return results.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
  }

  /** An app droplet's internal listener certificate, as its gate printed it (tls_cert, base64 PEM). */
  private appCertificate(values: Readonly<Record<string, string | undefined>>, i: number): string {
    const pem = Buffer.from(values.tls_cert ?? "", "base64").toString("utf8");
    if (!pem.includes("BEGIN CERTIFICATE"))
      throw new Error(
        `app droplet ${this.opts.appNodes[i]?.ssh ?? i} printed no certificate for its internal listener (tls_cert): its config sync predates TLS there (run \`pulumi up\` first)`,
      );
    return pem.endsWith("\n") ? pem : `${pem}\n`;
  }

  async afterCommit(): Promise<void> {
    const { cmds, opts, report } = this;
    if (opts.moveTraffic) await this.timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
    this.phase("verify");
    // The source is read-only since the fence; the cluster takes the app droplets' writes by now: at least as many
    // rows in each table (one that deletes rows shows up here too, for an operator).
    const counts = splitCounts(await this.step(cmds.counts()));
    report.countProblems = compareCounts(counts.source, counts.target, "at-least");
    // The cache before replication ends: a move stopped in between is still after-commit (./status.ts), so
    // --resume (or the next plain run) warms it; `finish` last makes "done" mean all of it.
    if (opts.warmCache !== false) {
      const warm = await this.step(cmds.cacheWarm());
      report.cache = { keys: Number(warm.warm_keys), skipped: Number(warm.warm_skipped), ms: Number(warm.warm_ms) };
    }
    await this.step(cmds.finish());
    report.ok = !report.countProblems?.length;
  }

  private async status(): Promise<ScaleOutStatus> {
    this.phase("preflight");
    const status = statusOf(readState(await this.step(this.cmds.state())));
    this.report.status = status;
    return status;
  }

  async rollBackLeftovers(): Promise<void> {
    const { report } = this;
    const status = await this.status();
    if (status.phase === "after-commit" || status.phase === "done") {
      report.committed = true;
      report.refused = `past the commit point (${status.left[0]}): nothing rolled back; ${status.next ?? "the move is done"}`;
      return;
    }
    // Every part as if this run had done it: unfence, drop the subscription, open the gates; the requests the
    // droplet's proxy still holds are bounced to its own app as in a live rollback.
    const sourceCert = await this.sourceCertificate();
    Object.assign(this.state, { fenced: true, subscribed: true, gatesClosed: true, sourceCert });
    report.aborted = `--rollback of an interrupted run (phase ${status.phase})`;
    if (await this.rollback()) {
      report.committed = true;
      report.refused = "the cutover had committed meanwhile: nothing rolled back; run --resume";
    }
  }

  async resumeAfterCommit(): Promise<void> {
    const { report } = this;
    const status = await this.status();
    if (status.phase === "before-commit" || status.phase === "none") {
      report.refused = `not past the commit point: nothing to resume; ${status.phase === "none" ? "nothing is left to undo either" : ROLLBACK_ADVICE}`;
      return;
    }
    report.committed = true;
    if (status.phase === "done") {
      report.ok = true;
      this.info("the move is done: nothing to resume");
      return;
    }
    this.phase("cutover");
    await this.gates("open");
    await this.afterCommit();
  }

  /** Undo what this run did; true when unfence found the cutover done (committed: nothing else is touched). */
  private async rollback(): Promise<boolean> {
    const { cmds, opts, state, report } = this;
    this.phase("rollback");
    const errors: string[] = [];
    // The source first. Its proxy keeps holding while the app droplets' gates open onto the source's internal
    // listener (the bounce), so the held requests reach the local app once it is writable instead of failing at the
    // proxy's reload; then the proxy serves the local app again.
    if (state.fenced) {
      const bounce = state.gatesClosed && state.sourceCert.includes("BEGIN CERTIFICATE");
      const r = await this.step(cmds.unfence(bounce)).catch((e: Error) => e);
      if (r instanceof StepFailed && r.code === STEP_EXIT.alreadySwitched) return true;
      if (r instanceof Error) errors.push(r.message);
      else if (bounce) {
        const target = `${opts.source.privateAddress}:${opts.source.internalPort ?? INTERNAL_PORT}`;
        const bounced = await Promise.allSettled(
          opts.appNodes.map((node) => this.step(appBounceCommand(node, target, state.sourceCert))),
        );
        const failed = bounced.flatMap((b) => (b.status === "rejected" ? [(b.reason as Error).message] : []));
        if (failed.length)
          this.info(
            `held requests could not all be sent back to the source's app (${failed.join("; ")}): those get Caddy's 502, never applied`,
          );
        const settle = failed.length < bounced.length ? BOUNCE_SETTLE_SECONDS : undefined;
        await this.step(cmds.proxyLocal(settle)).catch((e: Error) => errors.push(e.message));
      }
    }
    // Replication is undone only once unfence has answered (no commit record then): after an unanswered one the
    // cutover may have committed, and the cluster's subscription is then what the app droplets write through.
    if (state.subscribed && !(state.fenced && errors.length)) {
      const r = await this.step(cmds.rollbackTarget()).catch((e: Error) => e);
      if (r instanceof StepFailed && r.code === STEP_EXIT.alreadySwitched) return true;
      if (r instanceof Error) errors.push(r.message);
    }
    // The app droplets' listeners back as they were, once the source's proxy surely no longer forwards to them.
    if (state.gatesClosed && errors.length === 0) await this.gates("open").catch((e: Error) => errors.push(e.message));
    report.rolledBack = errors.length === 0;
    if (errors.length) report.aborted = `${report.aborted}; rollback incomplete: ${errors.join("; ")}`;
    return false;
  }
}
