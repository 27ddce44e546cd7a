/**
 * The migration, step by step: which droplet step runs when, what each result decides (strategy, budgets, refusal,
 * abort, rollback, commit, resume), and the timeline. It executes nothing itself: every step goes through the
 * injected `exec` (ssh in the CLI and harness), and moving traffic through the injected `moveTraffic` (front door in
 * the harness, the old droplet's proxy on DigitalOcean). Unit tests drive it with a scripted executor; fault
 * injection and the negative control wrap that executor (tests/migration/seams.ts), never flags of this runner.
 *
 * Every run ends in a known state, recorded in the journal on the old droplet (./journal.ts):
 * - it reads both droplets' journals first: a migration of this pair already done is a no-op; another migration
 *   still unfinished on either droplet refuses the run;
 * - it takes the lock on both droplets (mkdir, with a heartbeat every `heartbeatMs`); a fresh lock refuses the run,
 *   a stale one (no heartbeat for `lockStaleSeconds`, by the droplet's clock) is taken over;
 * - this pair's migration stopped before its commit point is rolled back (old server unfenced and serving with all
 *   its data, new one no longer following), then a new migration starts; stopped after it, the run goes forward
 *   from the first after-commit step not yet done;
 * - preflight refuses, touching nothing, the same cluster on both sides, a target that holds data (unless
 *   `overwriteTarget`) and data that does not fit the target's volume;
 * - the commit point is `pg_promote()` on the new server (replicate) or the go decision after a verified restore
 *   (dump-restore). It is written to the journal before anything that follows it. Before it, a failure, a budget
 *   abort or the abort signal rolls back; after it, they leave a journal a re-run finishes.
 */
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import { DEFAULT_BUDGETS, ASSUMED_RATES, checkBudgets, estimateMigration, maxLagBytesForCutover } from "./budget";
import { checkRoom, compareCounts, judgeTarget, tableCounts } from "./checks";
import { type Side, type StepCommand, migrationCommands, promoteGoLine, readStep } from "./commands";
import { type AnySpec, EXIT, type OutputOf } from "./steps";
import {
  type AfterCommitStep,
  type Decision,
  type DropletState,
  type Journal,
  JOURNAL_VERSION,
  decide,
  describeJournal,
  journalEnd,
  parseDropletState,
  serializeJournal,
} from "./journal";
import { type StrategyChoice, chooseStrategy } from "./strategy";
import { LockHeld, MigrationLocks } from "./locks";
import { type Phase, Timeline } from "./timeline";

import {
  defaultMigrationId,
  journalDowntime,
  type MigrationReport,
  type RunnerEvent,
  type RunnerOptions,
  StepFailed,
} from "./runner-types";

export * from "./runner-types";
export { exitCodeFor, migrationResult, plannedCommands, whatNext } from "./outcome";

/** A check said no before anything changed. */
class Refused extends Error {}
/** The certificates a droplet's preflight reports (base64 PEM), and what each is. */
const CERTS = {
  redis_tls_cert: "Redis certificate (redis_tls_cert)",
  proxy_tls_cert: "certificate for its internal listener (proxy_tls_cert)",
} as const;
type CertKey = keyof typeof CERTS;

/** A budget says the migration cannot hold. */
class Abort extends Error {}
/** The abort signal (or a lost lock) stopped the run. */
class Interrupted extends Error {}
class LockLost extends Error {}

const PROGRESS = /(\d+)\/(\d+) kB/g;
/** Steps the abort signal may cut short: long copies and waits, all before the commit point. */
const INTERRUPTIBLE = new Set(["backup", "standby", "redis_replica", "catchup", "dump_restore"]);
const iso = (ms: number) => new Date(ms).toISOString();
const word = (s: string) => s.replace(/[^A-Za-z0-9._:@+-]/g, "_");

export async function runMigration(opts: RunnerOptions): Promise<MigrationReport> {
  const now = opts.now ?? Date.now;
  const mode = opts.mode ?? "run";
  const budgets = opts.budgets ?? DEFAULT_BUDGETS;
  const rates = opts.rates ?? ASSUMED_RATES;
  const cmds = migrationCommands(opts.old, opts.next);
  const timeline = new Timeline(now);
  const emit = (e: RunnerEvent) => opts.onEvent?.(e);
  const info = (message: string) => emit({ kind: "info", message });
  const report: MigrationReport = {
    outcome: "aborted",
    ok: false,
    committed: false,
    resumed: false,
    notes: [],
    timeline: timeline.entries,
    startedAt: timeline.startedAt,
    totalMs: 0,
  };
  const runId = `${defaultMigrationId(timeline.startedAt)}-${randomBytes(3).toString("hex")}`;
  const holder = word(opts.holder ?? `${os.hostname()}:${process.pid}`);
  const pair = { from: journalEnd(opts.old), to: journalEnd(opts.next) };
  const stop = new AbortController();
  const onSignal = () => stop.abort(opts.signal?.reason ?? "abort");
  if (opts.signal?.aborted) onSignal();
  opts.signal?.addEventListener("abort", onSignal, { once: true });
  let lockLost: string | undefined;
  let journal: Journal | undefined;
  const journalRuns = new WeakSet<Journal>();

  let currentPhase: Phase | undefined;
  const phase = (p: Phase) => {
    if (p === currentPhase) return;
    currentPhase = p;
    emit({ kind: "phase", phase: p });
  };
  const checkStop = () => {
    if (lockLost) throw new LockLost(lockLost);
    if (stop.signal.aborted) throw new Interrupted(`interrupted by ${String(stop.signal.reason)}`);
  };
  /** Run a step, timed; `quiet` steps (journal, lock) are not announced. Returns the raw result. */
  type StepOptions = {
    onStderr?: (chunk: string) => void;
    quiet?: boolean;
    always?: boolean;
    stdinTail?: Promise<string>;
  };
  const run = async (cmd: StepCommand<AnySpec>, o: StepOptions = {}) => {
    if (!o.always) checkStop();
    return timeline.time(currentPhase ?? "preflight", cmd.step, cmd.side, async () => {
      if (!o.quiet) emit({ kind: "step", phase: currentPhase ?? "preflight", step: cmd.step, side: cmd.side });
      const interruptible = INTERRUPTIBLE.has(cmd.step) && !o.always;
      const result = await opts.exec(cmd, {
        ...(o.onStderr ? { onStderr: o.onStderr } : {}),
        ...(interruptible ? { signal: stop.signal } : {}),
        ...(o.stdinTail ? { stdinTail: o.stdinTail } : {}),
      });
      if (interruptible && stop.signal.aborted) checkStop();
      return result;
    });
  };
  const step = async <S extends AnySpec>(cmd: StepCommand<S>, o: StepOptions = {}): Promise<OutputOf<S>> => {
    const result = await run(cmd, o);
    if (result.code !== EXIT.ok) throw new StepFailed(cmd, result);
    return readStep(cmd, result.stdout);
  };
  const budgetGate = (where: string, remainingSeconds: number, downtimeSeconds: number) => {
    const verdict = checkBudgets(budgets, {
      phase: where,
      elapsedSeconds: timeline.elapsedSeconds(),
      remainingSeconds,
      downtimeSeconds,
    });
    timeline.record({
      phase: currentPhase ?? "preflight",
      step: `budget check (${where})`,
      side: "local",
      startMs: now(),
      status: verdict.ok ? "ok" : "aborted",
      detail: verdict.ok
        ? `downtime est. ${downtimeSeconds.toFixed(1)} s, remaining est. ${remainingSeconds.toFixed(0)} s`
        : verdict.reason,
    });
    if (!verdict.ok) throw new Abort(verdict.reason);
  };

  // ---- journal and lock
  const writeJournal = async (j: Journal, archive?: string) => {
    if (!journalRuns.has(j)) {
      journalRuns.add(j);
      j.runs += 1;
    }
    j.holder = holder;
    j.updatedAt = iso(now());
    const r = await run(cmds.journalWrite(runId, serializeJournal(j), archive), { quiet: true, always: true });
    if (r.code === EXIT.lockLost)
      throw new LockLost(`the journal was not written: this run no longer holds the lock on the old droplet`);
    if (r.code !== 0) throw new StepFailed(cmds.journalWrite(runId, "", archive), r);
    report.journal = j;
  };
  /** Enter a phase: the journal records the one left as done (the first write of a migration may archive another). */
  const enter = async (p: Phase, archive?: string) => {
    phase(p);
    const j = journal!;
    if (j.phase !== p && j.phase !== "done") {
      if (!j.phasesDone.includes(j.phase)) j.phasesDone.push(j.phase);
      j.phase = p;
    }
    await writeJournal(j, archive);
  };
  const done = (s: AfterCommitStep) => journal!.stepsDone.includes(s);
  const mark = (s: AfterCommitStep) => {
    if (!done(s)) journal!.stepsDone.push(s);
  };
  // Each droplet's certificates (public), as its preflight reported them over ssh: the other droplet's Redis trusts
  // its Redis one for the TLS replica link (migrate.sh trust_redis_peer), the old droplet's Caddy the new one's
  // internal listener certificate for the forward (proxy-switch.sh trust). A resumed run that skipped the preflight
  // reads them again (the preflight only reads).
  const preflights: Partial<Record<Side, Readonly<Record<string, string | undefined>>>> = {};
  const certOf = async (side: Side, key: CertKey): Promise<string> => {
    if (!preflights[side]?.[key]) preflights[side] = await step(cmds.preflight(side), { quiet: true });
    const pem = Buffer.from(preflights[side]?.[key] ?? "", "base64").toString("utf8");
    if (!pem.includes("BEGIN CERTIFICATE"))
      throw new Error(`the ${side} droplet's preflight reported no ${CERTS[key]}`);
    return pem;
  };
  const redisCert = (side: Side) => certOf(side, "redis_tls_cert");
  /** The old proxy trusts the new droplet's internal listener: before any hold forwards there (over TLS). */
  const trustNew = async () => void (await step(cmds.proxyTrust(await certOf("new", "proxy_tls_cert"))));
  const readState = async (side: Side): Promise<DropletState> =>
    parseDropletState(await step(cmds.journalRead(side), { quiet: true }));
  const decideNow = async (): Promise<Decision> => {
    const [o, n] = await Promise.all([readState("old"), readState("new")]);
    return decide(mode, pair, o.journal, n.journal);
  };
  const locks = new MigrationLocks({
    cmds,
    exec: opts.exec,
    run: (cmd, o) => run(cmd, o),
    runId,
    holder,
    startedAt: iso(timeline.startedAt),
    staleSeconds: opts.lockStaleSeconds ?? 60,
    heartbeatMs: opts.heartbeatMs ?? 10_000,
    targets: { old: pair.from.target, new: pair.to.target },
    note: (m) => note(m),
    onLost: (m) => {
      lockLost ??= m;
      stop.abort("a lost lock");
    },
  });
  const acquireLocks = () =>
    locks.acquire().catch((e: Error) => Promise.reject(e instanceof LockHeld ? new Refused(e.message) : e));
  const note = (message: string) => {
    report.notes.push(message);
    info(message);
  };

  try {
    phase("preflight");
    let decision = await decideNow();
    if (decision.kind === "fresh" || decision.kind === "rollback" || decision.kind === "forward") {
      await acquireLocks();
      decision = await decideNow(); // again, under the lock: another run may have moved on meanwhile
    }
    switch (decision.kind) {
      case "noop":
        settleDone(decision.journal);
        break;
      case "refuse":
        report.outcome = "refused";
        report.refused = decision.reason;
        break;
      case "nothing":
        report.outcome = "nothing";
        report.refused = decision.reason;
        break;
      case "past-commit":
        report.outcome = "rollback-refused";
        report.committed = true;
        report.journal = decision.journal;
        report.error = decision.reason;
        break;
      case "forward":
        journal = decision.journal;
        report.resumed = true;
        report.committed = true;
        info(`resuming ${describeJournal(journal)}: going forward`);
        await forward();
        break;
      case "rollback":
        journal = decision.journal;
        report.resumed = true;
        info(`${describeJournal(journal)} stopped before its commit point: rolling it back`);
        await rollback(journal.lastError ?? "an earlier run stopped before the commit point");
        if (decision.thenFresh && report.rolledBack) {
          checkStop();
          info("starting the migration afresh");
          const previous = journal;
          journal = undefined;
          report.aborted = undefined;
          await fresh(previous);
        }
        break;
      case "fresh":
        await fresh(decision.archive);
        break;
    }
  } catch (e) {
    await failed(e as Error);
  } finally {
    await locks.release();
    opts.signal?.removeEventListener("abort", onSignal);
    report.totalMs = now() - timeline.startedAt;
  }
  return report;

  function settleDone(j: Journal): void {
    report.outcome = "already-done";
    report.ok = true;
    report.committed = true;
    report.resumed = true;
    report.journal = j;
    report.writeDowntimeMs = journalDowntime(j);
    info(`${describeJournal(j)}: finished at ${j.finishedAt ?? "?"}, nothing to do`);
  }

  async function failed(e: Error): Promise<void> {
    if (e instanceof Interrupted) report.interruptedBy = String(stop.signal.reason);
    if (e instanceof LockLost) {
      report.outcome = "lock-lost";
      report.error = e.message;
      return;
    }
    if (!journal) {
      // Nothing changed on either droplet (no journal yet): nothing to undo.
      report.outcome = e instanceof Refused ? "refused" : "aborted";
      if (e instanceof Refused) report.refused = e.message;
      else report.aborted = e.message;
      return;
    }
    if (!journal.committed) {
      report.aborted = e.message;
      await rollback(e.message);
      return;
    }
    await stoppedAfterCommit(e);
  }

  async function stoppedAfterCommit(e: Error): Promise<void> {
    const j = journal!;
    report.outcome = "stopped-after-commit";
    report.error = e.message;
    j.outcome = "failed-after-commit";
    j.lastError = e.message;
    await writeJournal(j).catch((w: Error) => (report.error += `; the journal could not be updated: ${w.message}`));
  }

  /** Undo a migration stopped before its commit point: the new server stops following, the old serves. */
  async function rollback(reason: string): Promise<void> {
    const j = journal!;
    phase("rollback");
    const errors: string[] = [];
    const touchedNew = j.phase !== "preflight" && j.phase !== "backup";
    if (touchedNew) {
      const r = await run(cmds.rollbackNew(), { always: true });
      if (r.code === EXIT.alreadyPromoted) return pastCommit();
      if (r.code !== 0) errors.push(new StepFailed(cmds.rollbackNew(), r).message);
    }
    const oldBack = await step(cmds.rollbackOld(), { always: true }).then(
      () => true,
      (e: Error) => {
        errors.push(e.message);
        return false;
      },
    );
    if (j.phase === "cutover" && oldBack && touchedNew && j.strategy === "replicate") {
      // The old server writes again. The requests the old proxy holds (forwarding to the new droplet's closed gate)
      // would fail when that proxy reloads: the gate opens onto the old droplet's internal listener first, so they
      // go back to the old app. Without it (new droplet unreachable) they fail cleanly, never applied.
      await certOf("old", "proxy_tls_cert")
        .then((pem) => step(cmds.gateBounce(pem), { always: true }))
        .catch((e: Error) =>
          note(`held requests could not be sent back to the old app (they fail cleanly, never applied): ${e.message}`),
        );
    }
    // The old app serves again; the gate opens as it was (which ends a bounce).
    if (j.phase === "cutover")
      await step(cmds.proxyLocal(), { always: true }).catch((e: Error) => errors.push(e.message));
    if (touchedNew && j.strategy === "replicate")
      await step(cmds.gateOpen(), { always: true }).catch((e: Error) => errors.push(e.message));
    report.rolledBack = errors.length === 0;
    j.outcome = report.rolledBack ? "rolled-back" : "rollback-failed";
    j.lastError = reason;
    if (report.rolledBack) j.finishedAt = iso(now());
    await writeJournal(j).catch((e: Error) => errors.push(`journal: ${e.message}`));
    report.outcome = errors.length ? "rollback-incomplete" : "rolled-back";
    if (errors.length) report.error = `rollback incomplete: ${errors.join("; ")}`;
  }

  /** A rollback found the copy promoted: the commit point was passed (the journal had not recorded it yet). */
  async function pastCommit(): Promise<void> {
    const j = journal!;
    j.committed = report.committed = true;
    j.committedAt ??= iso(now());
    mark("promote");
    note(
      "the new server was already promoted: past the commit point, so nothing is rolled back; the migration goes forward",
    );
    report.aborted = undefined;
    try {
      await writeJournal(j);
      await forward();
    } catch (e) {
      if (e instanceof LockLost) {
        report.outcome = "lock-lost";
        report.error = e.message;
      } else await stoppedAfterCommit(e as Error);
    }
  }

  async function fresh(archive?: Journal): Promise<void> {
    phase("preflight");
    const pre = await step(cmds.preflight("old"));
    const preNew = await step(cmds.preflight("new"));
    preflights.old = pre;
    preflights.new = preNew;
    if (pre.pg_running !== "1") throw new Refused("PostgreSQL is not running on the old server");
    // Both: the new one's listener is what the old one trusts; the old one's proxy container mounts the directory
    // the hold's trust is read from (both come with the same config sync).
    for (const [side, values] of [
      ["old", pre],
      ["new", preNew],
    ] as const) {
      if (!values.proxy_tls_cert)
        throw new Refused(
          `the ${side} server has no ${CERTS.proxy_tls_cert}: its config sync predates TLS on that listener (run \`pulumi up\` first)`,
        );
    }
    if (pre.pg_in_recovery !== "f")
      throw new Refused("the old server's PostgreSQL is not a primary (already migrated?)");
    const verdict = judgeTarget(pre, preNew, { overwrite: opts.overwriteTarget ?? false });
    if (!verdict.ok) throw new Refused(verdict.reason);
    for (const n of verdict.notes) note(n);
    let choice: StrategyChoice;
    try {
      choice = chooseStrategy({
        oldVersionNum: Number(pre.pg_version_num),
        newVersionNum: Number(preNew.pg_version_num ?? preNew.pg_binary_version_num),
        requested: opts.strategy ?? "auto",
      });
    } catch (e) {
      throw new Refused((e as Error).message);
    }
    report.strategy = choice;
    info(`strategy: ${choice.strategy} (${choice.reason})`);
    if (preNew.pg_running !== "1" && choice.strategy !== "replicate") {
      throw new Refused("the target's PostgreSQL is stopped: only the replicate strategy rebuilds a stopped server");
    }
    const sizes = { clusterBytes: Number(pre.cluster_bytes), dbBytes: Number(pre.db_bytes) };
    const room = checkRoom({
      sourceBytes: choice.strategy === "replicate" ? sizes.clusterBytes : sizes.dbBytes,
      freeBytes: Number(preNew.data_free_bytes),
      replacedBytes: choice.strategy === "replicate" ? Number(preNew.data_bytes) : 0,
    });
    if (!room.ok) throw new Refused(room.reason);
    note(room.reason);
    const est = estimateMigration(choice.strategy, sizes, rates);
    budgetGate("preflight", est.totalSeconds, est.downtimeSeconds);

    const id = opts.id ?? defaultMigrationId(timeline.startedAt);
    const j: Journal = {
      version: JOURNAL_VERSION,
      id,
      from: pair.from,
      to: pair.to,
      strategy: choice.strategy,
      phase: "preflight",
      phasesDone: [],
      stepsDone: [],
      committed: false,
      startedAt: iso(timeline.startedAt),
      updatedAt: iso(now()),
      outcome: "running",
      holder,
      runs: 0,
    };
    journal = j;
    // The first write moves the journal of an earlier migration (finished, or rolled back) to history/.
    await enter("backup", archive && archive.id !== id ? archive.id : undefined);
    if (!opts.skipBackup) {
      const b = await step(cmds.backup(id));
      report.backupFile = j.backupFile = b.backup_file;
    }
    await enter("copy");
    if (!pre.system_identifier) throw new Refused("the old server did not report its PostgreSQL system identifier");
    await step(cmds.claimTarget(pre.system_identifier, id));
    if (choice.strategy === "replicate") await replicate();
    else await dumpRestore(id);
  }

  async function replicate(): Promise<void> {
    const j = journal!;
    // The new droplet's internal listener closes until its promotion: the old proxy's held requests wait for it.
    await step(cmds.gateClose());
    await trustNew();
    await step(cmds.dropSlot());
    const copied = await step(cmds.standby(), {
      onStderr: (chunk) => {
        for (const m of chunk.matchAll(PROGRESS))
          emit({ kind: "progress", doneBytes: Number(m[1]) * 1024, totalBytes: Number(m[2]) * 1024 });
      },
    });
    report.copy = { bytes: Number(copied.copied_bytes), ms: Number(copied.copy_ms) };
    await step(cmds.redisReplica(await redisCert("old")));

    await enter("catchup");
    const lag = await step(cmds.catchup(maxLagBytesForCutover(budgets, rates), 120));
    const est = estimateMigration(
      "replicate",
      { clusterBytes: 0, dbBytes: 0, lagBytes: Number(lag.pg_lag_bytes) },
      rates,
    );
    budgetGate("before cutover", est.downtimeSeconds + 60, est.downtimeSeconds);
    j.oldCounts = Object.fromEntries(tableCounts(await step(cmds.counts("old"))));
    await step(cmds.checkpoint());
    // The old Redis trusts the new one's certificate now: the FAILOVER in the write gap has nothing else to do.
    await step(cmds.redisTrust(await redisCert("new")));

    await enter("cutover");
    const cutoverStart = now();
    // From here no request reaches the old app and none fails: the old proxy holds them (it forwards to the closed
    // gate and Caddy retries a refused connection) until the new server opens it, at most the downtime budget.
    // The promotion's round trip starts first, armed: its shell and proxy script wait on the new droplet for the go
    // line, so the write gap holds no ssh start between the fence and the promotion. Without a go (the fence failed,
    // or a stop was asked for meanwhile) its stdin ends and it does nothing.
    let sendGo: (line: string) => void = () => undefined;
    const goLine = new Promise<string>((resolve) => (sendGo = resolve));
    const promoting = step(cmds.promoteArmed(60, 5), { stdinTail: goLine });
    // A promotion that ended before its go line was sent (its ssh connection failed, say) certainly promoted nothing.
    let goSent = false;
    const endedBeforeGo = promoting.then(
      () => false,
      () => !goSent,
    );
    const disarm = async (e: unknown): Promise<never> => {
      sendGo("");
      await promoting.catch(() => undefined);
      throw e;
    };
    // One round trip: the hold, the drain, then the fence (and the old Redis's pause).
    const fenced = await step(cmds.fence(budgets.downtimeBudgetSeconds)).catch(disarm);
    try {
      checkStop();
    } catch (e) {
      await disarm(e);
    }
    if (fenced.drained === "0")
      note(`requests to the old app were still in flight after the drain wait: the fence may have cut them short`);
    const fenceLsn = fenced.fence_lsn;
    // The old Redis paused its writes in the fence and reported its offset: the new one takes over by itself once it
    // has that much, while PostgreSQL promotes (the old app cannot write anyway once its database is fenced). Without
    // the offset, the old Redis hands over (FAILOVER) meanwhile. If promotion is refused, the rollback makes the old
    // Redis a writing master again.
    const redisOffset = fenced.redis_offset;
    goSent = true;
    sendGo(promoteGoLine(fenceLsn, redisOffset));
    const redisSwitched = redisOffset ? undefined : switchRedis({ trusted: true });
    const commit = (certain: boolean) => {
      j.committed = report.committed = true;
      j.committedAt = iso(now());
      j.fenceLsn = fenceLsn;
      j.cutoverStartedAt = iso(cutoverStart);
      if (certain) mark("promote");
    };
    let gate: string | undefined;
    let tookOver = false;
    try {
      // One round trip: the promotion, then (once Redis here is the master) the gate opens for the held requests.
      const promoted = await promoting;
      gate = promoted.gate;
      tookOver = promoted.redis_took_over === "1";
    } catch (e) {
      await redisSwitched?.catch(() => undefined);
      // Never promoted: roll back (refused, exit 4; or it ended before it had its go line).
      if (
        e instanceof Interrupted ||
        (e instanceof StepFailed && e.result.code === EXIT.promoteRefused) ||
        (await endedBeforeGo)
      )
        throw e;
      commit(false); // pg_promote may have run: past the commit point (a resumed run promotes if it did not)
      throw e;
    }
    commit(true);
    if (gate === "open") {
      j.trafficMovedAt = iso(now());
      mark("gate");
    }
    // The held requests are going through already; the journal records the commit point meanwhile (a run that
    // stops before it is written is not rolled back: rollback_new finds the copy promoted).
    // Redis: the old one follows the new one that took over, or (it did not) hands over now, or has meanwhile.
    const redisDone = redisSwitched ?? (tookOver ? followNew() : switchRedis({ trusted: true }));
    const [recorded, redis] = await Promise.allSettled([writeJournal(j), redisDone]);
    if (recorded.status === "rejected") throw recorded.reason;
    if (redis.status === "rejected") throw redis.reason;
    mark("redis");
    await afterCommit();
  }

  async function dumpRestore(id: string): Promise<void> {
    const j = journal!;
    await step(cmds.redisReplica(await redisCert("old")));

    await enter("cutover");
    const cutoverStart = now();
    await step(cmds.freeze());
    const oldCounts = tableCounts(await step(cmds.counts("old")));
    const restored = await step(cmds.dumpRestore(opts.dumpJobs ?? 2, id));
    report.copy = { bytes: Number(restored.dump_bytes), ms: Number(restored.dump_ms) + Number(restored.restore_ms) };
    const newCounts = tableCounts(await step(cmds.counts("new")));
    report.countProblems = compareCounts(oldCounts, newCounts, "exact");
    if (report.countProblems.length) throw new Error(`restored data differs: ${report.countProblems.join("; ")}`);
    const elapsedDowntime = (now() - cutoverStart) / 1000;
    budgetGate("before traffic switch", rates.switchoverSeconds, elapsedDowntime + rates.switchoverSeconds);
    checkStop();
    j.committed = report.committed = true;
    j.committedAt = iso(now());
    j.cutoverStartedAt = iso(cutoverStart);
    j.oldCounts = Object.fromEntries(oldCounts);
    mark("counts");
    await writeJournal(j);
    await switchRedis();
    mark("redis");
    await afterCommit();
  }

  /** Resume past the commit point: the after-commit steps not yet done, in order. */
  async function forward(): Promise<void> {
    const j = journal!;
    report.strategy = { strategy: j.strategy, reason: `resumed from the journal of migration ${j.id}` };
    phase(j.phase === "verify" ? "verify" : "cutover");
    if (j.outcome !== "running") {
      j.outcome = "running";
      await writeJournal(j);
    }
    if (j.strategy === "replicate" && !done("promote")) {
      await step(cmds.promote(j.fenceLsn ?? "0/0", 60));
      mark("promote");
      await writeJournal(j);
    }
    if (!done("redis")) {
      await switchRedis();
      mark("redis");
    }
    await afterCommit();
  }

  /** The old proxy's requests reach the new server: its gate opens (replicate), or the old proxy forwards there. */
  async function openGate(): Promise<void> {
    const j = journal!;
    if (done("gate")) return;
    if (j.strategy !== "replicate") await trustNew();
    const move: StepCommand<AnySpec> =
      j.strategy === "replicate" ? cmds.gateOpen() : cmds.proxyHold(budgets.downtimeBudgetSeconds);
    await step(move, {
      always: true,
    });
    j.trafficMovedAt = iso(now());
    mark("gate");
  }

  async function afterCommit(): Promise<void> {
    const j = journal!;
    await openGate();
    if (!done("traffic")) {
      checkStop();
      // The caller's part (the reserved IP or DNS record, when it is not left to `pulumi up`): the old proxy
      // already forwards every request, so this is no longer in the write downtime.
      if (opts.moveTraffic) await timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
      mark("traffic");
    }
    report.writeDowntimeMs = journalDowntime(j);
    await enter("verify");
    const verifyStep = async (s: AfterCommitStep, cmd: StepCommand<AnySpec>) => {
      if (done(s)) return;
      await step(cmd);
      mark(s);
      await writeJournal(j);
    };
    if (j.strategy === "dump-restore") await verifyStep("retire", cmds.retire());
    await verifyStep("forget_primary", cmds.forgetPrimary());
    await verifyStep("health", cmds.health(opts.healthUrl));
    if (!done("counts")) {
      const newCounts = tableCounts(await step(cmds.counts("new")));
      report.countProblems = compareCounts(new Map(Object.entries(j.oldCounts ?? {})), newCounts, "at-least");
      if (report.countProblems.length)
        throw new Error(`row counts after the cutover: ${report.countProblems.join("; ")}`);
      mark("counts");
    }
    report.countProblems ??= [];
    if (!j.phasesDone.includes("verify")) j.phasesDone.push("verify");
    j.phase = "done";
    j.outcome = "done";
    j.finishedAt = iso(now());
    j.lastError = undefined;
    await writeJournal(j);
    report.outcome = "done";
    report.ok = true;
  }

  /**
   * The old Redis hands over (FAILOVER); else the new one is promoted alone, and the old one is left as it is (what
   * it holds that the new one lacks stays there to be looked at). `trusted`: redisTrust ran this run.
   */
  async function switchRedis(o: { trusted?: boolean } = {}): Promise<void> {
    try {
      await step(cmds.redisFailover(5000, o.trusted ? undefined : await redisCert("new")), { always: true });
    } catch {
      await step(cmds.redisPromote(), { always: true }); // the old master is unreachable or refused: promote the replica directly
    }
  }

  /** The old Redis follows the new master (its writes resume, refused); if it cannot, it is noted: nothing uses it. */
  async function followNew(): Promise<void> {
    await step(cmds.redisFollow(), { always: true }).catch((e: Error) =>
      note(
        `the old Redis did not follow the new one (${e.message.split("\n")[0]}): nothing writes to it any more, but it is not a replica`,
      ),
    );
  }
}
