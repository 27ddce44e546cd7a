/**
 * The tier migration's phases around its commit point: rollback (before it: the old server serves again with all its
 * data), forward (after it: a resumed run does the after-commit steps not yet done), verify, and the end of a run
 * stopped after its commit point (the journal says so, and a re-run goes forward).
 */
import { compareCounts, tableCounts } from "./checks";
import { BOUNCE_GO_LINE, type StepCommand } from "./commands";
import type { AfterCommitStep, Follower } from "./journal";
import { switchRedis } from "./redis-handover";
import { iso, LockLost, type MigrationRun } from "./run";
import { journalDowntime } from "./run-api";
import {
  type AnySpec,
  BOUNCE_SETTLE_SECONDS,
  FOLLOW_STREAM_SECONDS,
  type MIGRATE_STEPS,
  type OutputOf,
  STEP_EXIT,
} from "./steps";
import { StepFailed } from "./stops";

/** Rollback steps run even after the abort signal, and once more when their connection dropped. */
const AGAIN = { always: true, rerunnable: true } as const;

/**
 * Undoes a migration stopped before its commit point: the new server stops following (a switch back's goes on
 * following), the old serves.
 */
export async function rollback(run: MigrationRun, reason: string): Promise<void> {
  const { cmds, report } = run;
  const j = run.mine();
  run.phase("rollback");
  const errors: string[] = [];
  const touchedNew = j.phase !== "preflight" && j.phase !== "backup";
  const newBack = async (): Promise<"past-commit" | undefined> => {
    if (!touchedNew) return;
    const cmd = cmds.rollbackNew(j.switchBack === true);
    const r = await run.run(cmd, AGAIN);
    if (r.code === STEP_EXIT.alreadyPromoted) return "past-commit";
    if (r.code !== STEP_EXIT.ok) errors.push(new StepFailed(`${cmd.step} on ${cmd.side}`, r).message);
  };
  // The bounce's go is sent on rollback_old's `serving` line, as soon as the old server writes again (the step then
  // ends the migration's replication there), or at its end.
  let sendGo: (line: string) => void = () => undefined;
  const go = new Promise<string>((resolve) => (sendGo = resolve));
  let printed = "";
  const watchServing = (chunk: string) => {
    printed += chunk;
    if (SERVING_LINE.test(printed)) sendGo(BOUNCE_GO_LINE);
  };
  const oldBackStep = () =>
    run.step(cmds.rollbackOld(), { ...AGAIN, onStdout: watchServing }).then(
      () => true,
      (e: Error) => {
        errors.push(e.message);
        return false;
      },
    );
  // The old server writes again only once the new one is known not to have been promoted: asked first, unless this
  // run saw its promotion end with nothing promoted. The new one then goes back meanwhile: held requests wait only
  // for the old one and the bounce.
  let newDone: Promise<"past-commit" | undefined> = Promise.resolve(undefined);
  let oldBacking: Promise<boolean> | undefined;
  if (run.promotionRuledOut) {
    // Started first: each step's ssh start costs the runner a few milliseconds, and the held requests wait for this one.
    oldBacking = oldBackStep();
    newDone = newBack();
  } else if ((await newBack()) === "past-commit") return pastCommit(run);
  // The requests the old proxy holds (forwarding to the new droplet's closed gate) would fail when that proxy
  // reloads: the gate opens onto the old droplet's internal listener first, so they go back to the old app. The
  // bounce is armed now and reloads once the old server writes again (its go line), so the held requests wait for
  // its reload only. Without it (new droplet unreachable) they fail cleanly, never applied.
  const bouncing: Promise<{ bounced: boolean; error?: Error }> =
    j.phase === "cutover" && touchedNew && j.strategy === "replicate"
      ? run.certs
          .proxy("old")
          .then((pem) => run.step(cmds.gateBounce(pem, true), { ...AGAIN, stdinTail: go }))
          .then(
            (r) => ({ bounced: r.bounced !== "0" }),
            (error: Error) => ({ bounced: false, error }),
          )
      : Promise.resolve({ bounced: false });
  const oldBack = await (oldBacking ?? oldBackStep());
  sendGo(oldBack ? BOUNCE_GO_LINE : "");
  const { bounced, error } = await bouncing;
  if (oldBack && error)
    run.note(
      `held requests could not be sent back to the old app (they fail cleanly, never applied): ${error.message}`,
    );
  if ((await newDone) === "past-commit")
    errors.push("the new server answers promoted although this run's promotion promoted nothing: an operator decides");
  // The old app serves again, once the held requests have reached the bounce; the gate opens as it was (which ends
  // a bounce).
  if (j.phase === "cutover")
    await run
      .step(cmds.proxyLocal(bounced ? BOUNCE_SETTLE_SECONDS : undefined), AGAIN)
      .catch((e: Error) => errors.push(e.message));
  if (touchedNew && j.strategy === "replicate")
    await run.step(cmds.gateOpen(), AGAIN).catch((e: Error) => errors.push(e.message));
  // A switch back's target goes on following the source: its PostgreSQL was left streaming (rollback_new
  // keep_following; its connection comes back once the source runs again), its Redis follows the source again
  // (it may have taken over at a refused promotion).
  if (touchedNew && j.switchBack && oldBack) {
    await run.certs
      .redis("old")
      .then((pem) => run.step(cmds.redisReplica(pem), AGAIN))
      .catch((e: Error) => errors.push(e.message));
    // Waited for, so that a retry right away finds it streaming (its preflight asks that); the source serves
    // either way, so a follower that does not come back is said, not a failed rollback.
    await run
      .step(cmds.catchup(FOLLOWER_ANY_LAG_BYTES, FOLLOW_STREAM_SECONDS), AGAIN)
      .catch((e: Error) => run.note(`the target does not stream from the source again yet: ${firstLine(e)}`));
  }
  report.rolledBack = errors.length === 0;
  j.outcome = report.rolledBack ? "rolled-back" : "rollback-failed";
  j.lastError = reason;
  if (report.rolledBack) j.finishedAt = iso(run.now());
  await run.writeJournal(j).catch((e: Error) => errors.push(`journal: ${e.message}`));
  report.outcome = errors.length ? "rollback-incomplete" : "rolled-back";
  if (errors.length) report.error = `rollback incomplete: ${errors.join("; ")}`;
}

/** rollback_old's line once the old server writes again: its key is declared with the step's output. */
const SERVING_KEY: keyof OutputOf<(typeof MIGRATE_STEPS)["rollback_old"]> = "serving";
const SERVING_LINE = new RegExp(`^${SERVING_KEY}=1$`, "m");

/** Any lag: the catch-up step then only waits until the follower streams again. */
const FOLLOWER_ANY_LAG_BYTES = 2 ** 40;
const firstLine = (e: Error) => e.message.split("\n")[0] ?? e.message;

/** A rollback found the copy promoted: the commit point was passed (the journal had not recorded it yet). */
async function pastCommit(run: MigrationRun): Promise<void> {
  const j = run.mine();
  j.committed = run.report.committed = true;
  j.committedAt ??= iso(run.now());
  run.mark("promote");
  run.note(
    "the new server was already promoted: past the commit point, so nothing is rolled back; the migration goes forward",
  );
  run.report.aborted = undefined;
  try {
    await run.writeJournal(j);
    await forward(run);
  } catch (e) {
    if (e instanceof LockLost) {
      run.report.outcome = "lock-lost";
      run.report.error = e.message;
    } else await stoppedAfterCommit(run, e as Error);
  }
}

/** Resumes past the commit point: the after-commit steps not yet done, in order. */
export async function forward(run: MigrationRun): Promise<void> {
  const j = run.mine();
  run.report.strategy = { strategy: j.strategy, reason: `resumed from the journal of migration ${j.id}` };
  run.phase(j.phase === "verify" ? "verify" : "cutover");
  if (j.outcome !== "running") {
    j.outcome = "running";
    await run.writeJournal(j);
  }
  if (j.strategy === "replicate" && !run.done("promote")) {
    await run.step(run.cmds.promote(j.fenceLsn ?? "0/0", 60));
    run.mark("promote");
    await run.writeJournal(j);
  }
  if (!run.done("redis")) {
    await switchRedis(run);
    run.mark("redis");
  }
  await afterCommit(run);
}

/** The old proxy's requests reach the new server: its gate opens (replicate), or the old proxy forwards there. */
async function openGate(run: MigrationRun): Promise<void> {
  const { cmds } = run;
  const j = run.mine();
  if (run.done("gate")) return;
  if (j.strategy !== "replicate") await run.step(cmds.proxyTrust(await run.certs.proxy("new")));
  const move: StepCommand<AnySpec> =
    j.strategy === "replicate" ? cmds.gateServe() : cmds.proxyHold(run.budgets.downtimeBudgetSeconds);
  await run.step(move, { always: true });
  j.trafficMovedAt = iso(run.now());
  run.mark("gate");
}

/** After the commit point: traffic moves, then verify (health, row counts), then the journal says done. */
export async function afterCommit(run: MigrationRun): Promise<void> {
  const { cmds, report, opts } = run;
  const j = run.mine();
  await openGate(run);
  if (!run.done("traffic")) {
    run.checkStop();
    // The caller's part (the reserved IP or DNS record, when it is not left to `pulumi up`): the old proxy already
    // forwards every request, so this is no longer in the write downtime.
    if (opts.moveTraffic) await run.timeline.time("cutover", "move traffic", "local", opts.moveTraffic);
    run.mark("traffic");
  }
  report.writeDowntimeMs = journalDowntime(j);
  await run.enter("verify");
  const verifyStep = async (s: AfterCommitStep, cmd: StepCommand<AnySpec>) => {
    if (run.done(s)) return;
    await run.step(cmd);
    run.mark(s);
    await run.writeJournal(j);
  };
  if (j.strategy === "dump-restore") await verifyStep("retire", cmds.retire());
  await verifyStep("forget_primary", cmds.forgetPrimary());
  await verifyStep("health", cmds.health(opts.healthUrl));
  if (!run.done("counts")) {
    const newCounts = tableCounts(await run.step(cmds.counts("new")));
    report.countProblems = compareCounts(new Map(Object.entries(j.oldCounts ?? {})), newCounts, "at-least");
    if (report.countProblems.length)
      throw new Error(`row counts after the cutover: ${report.countProblems.join("; ")}`);
    run.mark("counts");
  }
  report.countProblems ??= [];
  if (j.strategy === "replicate") await verifyFollow(run);
  if (!j.phasesDone.includes("verify")) j.phasesDone.push("verify");
  j.phase = "done";
  j.outcome = "done";
  j.finishedAt = iso(run.now());
  j.lastError = undefined;
  await run.writeJournal(j);
  report.outcome = "done";
  report.ok = true;
}

/**
 * The old PostgreSQL follows the new primary (or is rewound first, or left stopped). Past the commit point nothing
 * depends on it: a failure is recorded in the journal and noted, never fails the migration.
 */
async function verifyFollow(run: MigrationRun): Promise<void> {
  const j = run.mine();
  if (run.done("follow")) return;
  const of = j.to.target;
  j.follower = await run.step(run.cmds.follow(FOLLOW_STREAM_SECONDS)).then(
    (o): Follower => ({
      state: o.follow === "streaming" || o.follow === "rewound" ? o.follow : "stopped",
      of,
      ...(o.follow === "stopped"
        ? { reason: o.follow_reason ?? "the step did not say why" }
        : { since: iso(run.now()) }),
      ...(o.follow_old_end ? { oldEnd: o.follow_old_end } : {}),
      ...(o.follow_timeline ? { timeline: o.follow_timeline } : {}),
      ...(o.follow_fork ? { fork: o.follow_fork } : {}),
    }),
    (e: Error): Follower => ({ state: "stopped", of, reason: firstLine(e) }),
  );
  if (j.switchBack && j.follower.state === "rewound")
    run.note("a switch back should need no rewind: the old server stopped cleanly at the fence, look at why");
  if (j.follower.state === "stopped") run.note(`the old server does not follow the new one: ${j.follower.reason}`);
  else run.note(`the old server follows the new one (${j.follower.state}, timeline ${j.follower.timeline ?? "?"})`);
  run.mark("follow");
  await run.writeJournal(j);
}

/** A run stopped after the commit point: the journal records it, and a re-run goes forward. */
export async function stoppedAfterCommit(run: MigrationRun, e: Error): Promise<void> {
  const j = run.mine();
  run.report.outcome = "stopped-after-commit";
  run.report.error = e.message;
  j.outcome = "failed-after-commit";
  j.lastError = e.message;
  await run
    .writeJournal(j)
    .catch((w: Error) => (run.report.error += `; the journal could not be updated: ${w.message}`));
}
