/**
 * The tier migration's phases up to its commit point: fresh (the preflight's refusals, the strategy, the journal,
 * the backup), replicate (the copy and the catch-up), cutover (the write gap, up to pg_promote) and, for a new major
 * version, dump-restore. After the commit point, ./after-commit.ts.
 */
import { estimateMigration, maxLagBytesForCutover } from "./budget";
import { CERTS } from "./certificates";
import { checkRoom, compareCounts, judgeTarget, tableCounts } from "./checks";
import { promoteGoLine } from "./commands";
import { afterCommit } from "./after-commit";
import { JOURNAL_VERSION, type Journal } from "./journal";
import { followNew, switchRedis } from "./redis-handover";
import { Interrupted, iso, type MigrationRun, Refused } from "./run";
import { defaultMigrationId } from "./run-api";
import { STEP_EXIT } from "./steps";
import { StepFailed } from "./stops";
import { chooseStrategy, type StrategyChoice } from "./strategy";

const PROGRESS = /(\d+)\/(\d+) kB/g;

/**
 * A new migration: checks that touch nothing, then the journal, the backup and the copy. `archive`: a finished
 * journal on the old droplet it replaces; `reverses`: the finished migration the other way it reverses (by id).
 */
export async function fresh(run: MigrationRun, archive?: Journal, reverses?: string): Promise<void> {
  const { cmds, opts } = run;
  run.phase("preflight");
  const pre = await run.step(cmds.preflight("old"));
  const preNew = await run.step(cmds.preflight("new"));
  run.certs.remember("old", pre);
  run.certs.remember("new", preNew);
  if (pre.pg_running !== "1") throw new Refused("PostgreSQL is not running on the old server");
  requireProxyCerts(pre, preNew);
  if (pre.pg_in_recovery !== "f") throw new Refused("the old server's PostgreSQL is not a primary (already migrated?)");
  const verdict = judgeTarget(pre, preNew, { overwrite: opts.overwriteTarget ?? false });
  if (!verdict.ok) throw new Refused(verdict.reason);
  for (const n of verdict.notes) run.note(n);
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
  run.report.strategy = choice;
  run.info(`strategy: ${choice.strategy} (${choice.reason})`);
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
  run.note(room.reason);
  const est = estimateMigration(choice.strategy, sizes, run.rates);
  run.budgetGate("preflight", est.totalSeconds, est.downtimeSeconds);
  if (!pre.system_identifier) throw new Refused("the old server did not report its PostgreSQL system identifier");

  const j = startJournal(run, choice.strategy, reverses);
  const id = j.id;
  // The first write moves the journal of an earlier migration (finished, or rolled back) to history/.
  await run.enter("backup", archive && archive.id !== id ? archive.id : undefined);
  if (!opts.skipBackup) {
    const b = await run.step(cmds.backup(id));
    run.report.backupFile = j.backupFile = b.backup_file;
  }
  await run.enter("copy");
  await run.step(cmds.claimTarget(pre.system_identifier, id));
  if (choice.strategy === "replicate") {
    await replicate(run);
    await cutover(run);
  } else await dumpRestore(run, id);
}

/** Both: the new one's listener is what the old one trusts; the old one's proxy container mounts the directory the
 * hold's trust is read from (both come with the same config sync). */
export function requireProxyCerts(pre: Readonly<Record<string, unknown>>, preNew: Readonly<Record<string, unknown>>) {
  for (const [side, values] of [
    ["old", pre],
    ["new", preNew],
  ] as const) {
    if (!values.proxy_tls_cert)
      throw new Refused(
        `the ${side} server has no ${CERTS.proxy_tls_cert}: its config sync predates TLS on that listener (run \`pulumi up\` first)`,
      );
  }
}

/** The journal of a new migration (not written yet), now this run's. */
export function startJournal(
  run: MigrationRun,
  strategy: StrategyChoice["strategy"],
  reverses?: string,
  switchBack = false,
): Journal {
  const j: Journal = {
    version: JOURNAL_VERSION,
    id: run.opts.id ?? defaultMigrationId(run.timeline.startedAt),
    from: run.pair.from,
    to: run.pair.to,
    strategy,
    phase: "preflight",
    phasesDone: [],
    stepsDone: [],
    committed: false,
    startedAt: iso(run.timeline.startedAt),
    updatedAt: iso(run.now()),
    outcome: "running",
    holder: run.holder,
    runs: 0,
    ...(switchBack ? { switchBack: true as const } : {}),
    ...(reverses === undefined ? {} : { reverses }),
  };
  run.journal = j;
  return j;
}

/** The new server follows the old one (PostgreSQL standby, Redis replica) until it has caught up. */
async function replicate(run: MigrationRun): Promise<void> {
  const { cmds, report } = run;
  // The new droplet's internal listener closes until its promotion: the old proxy's held requests wait for it.
  await run.step(cmds.gateClose());
  await run.step(cmds.proxyTrust(await run.certs.proxy("new")));
  await run.step(cmds.dropSlot());
  await run.step(cmds.pgTrust("new", await run.certs.postgres("old")));
  const copied = await run.step(cmds.standby(), {
    onStderr: (chunk) => {
      for (const m of chunk.matchAll(PROGRESS))
        run.emit({ kind: "progress", doneBytes: Number(m[1]) * 1024, totalBytes: Number(m[2]) * 1024 });
    },
  });
  report.copy = { bytes: Number(copied.copied_bytes), ms: Number(copied.copy_ms) };
  await run.step(cmds.redisReplica(await run.certs.redis("old")));
  await run.enter("catchup");
  await catchUp(run);
}

/**
 * The new server has caught up (within what the downtime budget allows), the old one's rows are counted, its dirty
 * buffers flushed, and its Redis trusts the new one: what the cutover needs, outside the write gap.
 */
export async function catchUp(run: MigrationRun): Promise<void> {
  const { cmds } = run;
  const lag = await run.step(cmds.catchup(maxLagBytesForCutover(run.budgets, run.rates), 120));
  const est = estimateMigration(
    "replicate",
    { clusterBytes: 0, dbBytes: 0, lagBytes: Number(lag.pg_lag_bytes) },
    run.rates,
  );
  run.budgetGate("before cutover", est.downtimeSeconds + 60, est.downtimeSeconds);
  run.mine().oldCounts = Object.fromEntries(tableCounts(await run.step(cmds.counts("old"))));
  await run.step(cmds.checkpoint());
  // The old PostgreSQL's clients check the new server from now on: the follow after the commit point connects to it.
  await run.step(cmds.pgTrust("old", await run.certs.postgres("new")));
  // The old Redis trusts the new one's certificate now: the FAILOVER in the write gap has nothing else to do.
  await run.step(cmds.redisTrust(await run.certs.redis("new")));
}

/**
 * The write gap. From its start no request reaches the old app and none fails: the old proxy holds them (it
 * forwards to the closed gate and Caddy retries a refused connection) until the new server opens it, at most the
 * downtime budget. The promotion's round trip starts first, armed: its shell and proxy script wait on the new
 * droplet for the go line, so the gap holds no ssh start between the fence and the promotion. Without a go (the
 * fence failed, or a stop was asked for meanwhile) its stdin ends and it does nothing.
 */
export async function cutover(run: MigrationRun): Promise<void> {
  const { cmds } = run;
  const j = run.mine();
  await run.enter("cutover");
  const cutoverStart = run.now();
  let sendGo: (line: string) => void = () => undefined;
  const goLine = new Promise<string>((resolve) => (sendGo = resolve));
  const promoting = run.step(cmds.promoteArmed(60, 5), { stdinTail: goLine });
  // A promotion that ended before its go line was sent (its ssh connection failed, say) certainly promoted nothing.
  let goSent = false;
  const endedBeforeGo = promoting.then(
    () => false,
    () => !goSent,
  );
  // Before its go line: without it the promotion cannot promote, so the rollback need not wait for its shell to end.
  const disarm = async (e: unknown): Promise<never> => {
    sendGo("");
    run.promotionRuledOut = true;
    void promoting.catch(() => undefined);
    throw e;
  };
  // One round trip: the hold, the drain, then the fence (and the old Redis's pause).
  const fenced = await run.step(cmds.fence(run.budgets.downtimeBudgetSeconds)).catch(disarm);
  try {
    run.checkStop();
  } catch (e) {
    await disarm(e);
  }
  if (fenced.drained === "0")
    run.note(`requests to the old app were still in flight after the drain wait: the fence may have cut them short`);
  // The old Redis paused its writes in the fence and reported its offset: the new one takes over by itself once it
  // has that much, while PostgreSQL promotes. Without the offset, the old Redis hands over (FAILOVER) meanwhile. If
  // promotion is refused, the rollback makes the old Redis a writing master again.
  const redisOffset = fenced.redis_offset;
  goSent = true;
  sendGo(promoteGoLine(fenced.fence_lsn, redisOffset));
  const redisSwitched = redisOffset ? undefined : switchRedis(run, { trusted: true });
  let promoted: Awaited<typeof promoting>;
  try {
    // One round trip: the promotion, then (once Redis here is the master) the gate opens for the held requests.
    promoted = await promoting;
  } catch (e) {
    await redisSwitched?.catch(() => undefined);
    // Never promoted: roll back (refused, or it ended before it had its go line).
    const refused = e instanceof StepFailed && e.code === STEP_EXIT.promoteRefused;
    if (refused || (await endedBeforeGo)) run.promotionRuledOut = true;
    if (e instanceof Interrupted || run.promotionRuledOut) throw e;
    run.commit({ cutoverStart, fenceLsn: fenced.fence_lsn }); // pg_promote may have run: a resumed run promotes if not
    throw e;
  }
  run.commit({ cutoverStart, fenceLsn: fenced.fence_lsn });
  run.mark("promote");
  if (promoted.gate === "open") {
    j.trafficMovedAt = iso(run.now());
    run.mark("gate");
  }
  // The held requests are going through already; the journal records the commit point meanwhile (a run that stops
  // before it is written is not rolled back: rollback_new finds the copy promoted). Redis: the old one follows the
  // new one that took over, or (it did not) hands over now, or has meanwhile.
  const tookOver = promoted.redis_took_over === "1";
  const redisDone = redisSwitched ?? (tookOver ? followNew(run) : switchRedis(run, { trusted: true }));
  const [recorded, redis] = await Promise.allSettled([run.writeJournal(j), redisDone]);
  if (recorded.status === "rejected") throw recorded.reason;
  if (redis.status === "rejected") throw redis.reason;
  run.mark("redis");
  await afterCommit(run);
}

/** Across major versions: writes stop, the database is dumped and restored, counted exactly, then committed. */
async function dumpRestore(run: MigrationRun, id: string): Promise<void> {
  const { cmds, report, opts } = run;
  const j = run.mine();
  await run.step(cmds.redisReplica(await run.certs.redis("old")));

  await run.step(cmds.pgTrust("new", await run.certs.postgres("old")));

  await run.enter("cutover");
  const cutoverStart = run.now();
  await run.step(cmds.freeze());
  const oldCounts = tableCounts(await run.step(cmds.counts("old")));
  const restored = await run.step(cmds.dumpRestore(opts.dumpJobs ?? 2, id));
  report.copy = { bytes: Number(restored.dump_bytes), ms: Number(restored.dump_ms) + Number(restored.restore_ms) };
  const newCounts = tableCounts(await run.step(cmds.counts("new")));
  report.countProblems = compareCounts(oldCounts, newCounts, "exact");
  if (report.countProblems.length) throw new Error(`restored data differs: ${report.countProblems.join("; ")}`);
  const elapsedDowntime = (run.now() - cutoverStart) / 1000;
  run.budgetGate("before traffic switch", run.rates.switchoverSeconds, elapsedDowntime + run.rates.switchoverSeconds);
  run.checkStop();
  run.commit({ cutoverStart });
  j.oldCounts = Object.fromEntries(oldCounts);
  run.mark("counts");
  await run.writeJournal(j);
  await switchRedis(run);
  run.mark("redis");
  await afterCommit(run);
}
