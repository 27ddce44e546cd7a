/**
 * The tier migration, top to bottom: what the journals say to do, then that phase (./phases.ts up to the commit
 * point, ./after-commit.ts around and after it), on one run's state (./run.ts). It executes nothing itself: every
 * step goes through the injected `exec` (ssh), and the caller's own traffic move through `moveTraffic`. Faults
 * enter by wrapping that executor, never through options of this runner.
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
 * - a switch back (`switchBack`) goes to the server that follows the source since an earlier migration the other
 *   way: preflight refuses, touching nothing, a target that does not stream from the source on its timeline; then
 *   no backup and no copy, the catch-up and the same cutover; rolled back, the target goes on following;
 * - the commit point is `pg_promote()` on the new server (replicate) or the go decision after a verified restore
 *   (dump-restore). It is written to the journal before anything that follows it. Before it, a failure, a budget
 *   abort or the abort signal rolls back; after it, they leave a journal a re-run finishes.
 */
import { forward, rollback, stoppedAfterCommit } from "./after-commit";
import { decide, type Decision, type Journal, describeJournal, parseDropletState } from "./journal";
import { fresh } from "./phases";
import { Interrupted, LockLost, MigrationRun, Refused, WrongTarget } from "./run";
import { switchBack } from "./switch-back";
import { journalDowntime, type MigrationReport, type RunnerOptions } from "./run-api";

export * from "./run-api";
export { exitCodeFor, migrationResult, plannedCommands, whatNext } from "./outcome";
export { StepFailed } from "./stops";

export async function runMigration(opts: RunnerOptions): Promise<MigrationReport> {
  const run = new MigrationRun(opts);
  const onSignal = () => run.stop.abort(opts.signal?.reason ?? "abort");
  if (opts.signal?.aborted) onSignal();
  opts.signal?.addEventListener("abort", onSignal, { once: true });
  try {
    run.phase("preflight");
    let decision = await decideNow(run);
    if (decision.kind === "fresh" || decision.kind === "rollback" || decision.kind === "forward") {
      await run.acquireLocks();
      decision = await decideNow(run); // again, under the lock: another run may have moved on meanwhile
    }
    await act(run, decision);
  } catch (e) {
    await failed(run, e as Error);
  } finally {
    await run.locks.release();
    opts.signal?.removeEventListener("abort", onSignal);
    run.report.totalMs = run.now() - run.timeline.startedAt;
  }
  return run.report;
}

/** What both droplets' journals say this run must do. */
async function decideNow(run: MigrationRun): Promise<Decision> {
  const read = async (side: "old" | "new") =>
    parseDropletState(await run.step(run.cmds.journalRead(side), { quiet: true }));
  const [o, n] = await Promise.all([read("old"), read("new")]);
  return decide(run.opts.mode ?? "run", run.pair, o.journal, n.journal, { switchBack: run.opts.switchBack ?? false });
}

async function act(run: MigrationRun, decision: Decision): Promise<void> {
  const { report } = run;
  switch (decision.kind) {
    case "noop":
      return settleDone(run, decision.journal);
    case "refuse":
    case "nothing":
      report.outcome = decision.kind === "refuse" ? "refused" : "nothing";
      report.refused = decision.reason;
      return;
    case "past-commit":
      report.outcome = "rollback-refused";
      report.committed = true;
      report.journal = decision.journal;
      report.error = decision.reason;
      return;
    case "forward":
      run.journal = decision.journal;
      report.resumed = report.committed = true;
      run.info(`resuming ${describeJournal(decision.journal)}: going forward`);
      return forward(run);
    case "rollback": {
      const j = decision.journal;
      run.journal = j;
      report.resumed = true;
      run.info(`${describeJournal(j)} stopped before its commit point: rolling it back`);
      await rollback(run, j.lastError ?? "an earlier run stopped before the commit point");
      if (!decision.thenFresh || !report.rolledBack) return;
      run.checkStop();
      run.info("starting the migration afresh");
      run.journal = undefined;
      report.aborted = undefined;
      return start(run, j, decision.reverses);
    }
    case "fresh":
      return start(run, decision.archive, decision.reverses);
  }
}

/** A new migration, or (`switchBack`) a switch back to the follower. */
function start(run: MigrationRun, archive?: Journal, reverses?: string): Promise<void> {
  return run.opts.switchBack ? switchBack(run, archive, reverses) : fresh(run, archive, reverses);
}

function settleDone(run: MigrationRun, j: Journal): void {
  Object.assign(run.report, { outcome: "already-done", ok: true, committed: true, resumed: true, journal: j });
  run.report.writeDowntimeMs = journalDowntime(j);
  run.info(`${describeJournal(j)}: finished at ${j.finishedAt ?? "?"}, nothing to do`);
}

/** Where a failure leaves the run: nothing to undo, a rollback before the commit point, the journal after it. */
async function failed(run: MigrationRun, e: Error): Promise<void> {
  const { report } = run;
  if (e instanceof Interrupted) report.interruptedBy = String(run.stop.signal.reason);
  if (e instanceof LockLost) {
    report.outcome = "lock-lost";
    report.error = e.message;
    return;
  }
  if (!run.journal) {
    // Nothing changed on either droplet (no journal yet): nothing to undo.
    report.outcome = e instanceof Refused ? "refused" : "aborted";
    if (e instanceof Refused) report.refused = e.message;
    if (e instanceof WrongTarget) report.wrongTarget = true;
    else report.aborted = e.message;
    return;
  }
  if (!run.journal.committed) {
    report.aborted = e.message;
    await rollback(run, e.message);
    return;
  }
  await stoppedAfterCommit(run, e);
}
