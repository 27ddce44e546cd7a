/**
 * The switch back: the migration the other way, to the server that follows the one that serves (the old server of
 * an earlier migration, a streaming standby since its `follow` step, its Redis a replica). Nothing is copied: the
 * checks that touch nothing, the journal, then the catch-up and the same cutover as a fresh replicate migration
 * (./phases.ts), and the same steps after the commit point, where the server just left follows the new primary.
 */
import { estimateMigration } from "./budget";
import { judgeSwitchBack } from "./checks";
import type { Journal } from "./journal";
import { catchUp, cutover, requireProxyCerts, startJournal } from "./phases";
import { type MigrationRun, Refused, WrongTarget } from "./run";

/** The strategies a switch back accepts (it promotes the follower: physical replication). */
export const SWITCH_BACK_STRATEGIES = ["auto", "replicate"] as const;

/**
 * A switch back from the source (`--from`, the primary) to its follower (`--to`). `archive`: a finished journal on
 * the source it replaces; `reverses`: the finished migration the other way (its journal on the target), by id.
 */
export async function switchBack(run: MigrationRun, archive?: Journal, reverses?: string): Promise<void> {
  const { cmds, opts } = run;
  run.phase("preflight");
  const requested = opts.strategy ?? "auto";
  if (!(SWITCH_BACK_STRATEGIES as readonly string[]).includes(requested))
    throw new WrongTarget(
      `a switch back promotes the follower (replicate): strategy ${requested} cannot switch back; use ${SWITCH_BACK_STRATEGIES.join(" or ")}`,
    );
  const pre = await run.step(cmds.preflight("old"));
  const preNew = await run.step(cmds.preflight("new"));
  run.certs.remember("old", pre);
  run.certs.remember("new", preNew);
  requireProxyCerts(pre, preNew);
  const verdict = judgeSwitchBack(pre, preNew, `${opts.old.privateAddress}:${opts.old.pgPort ?? 5432}`);
  if (!verdict.ok) throw new WrongTarget(verdict.reason);
  for (const n of verdict.notes) run.note(n);
  // The same cluster on both sides (checked): the same major version, so replicate.
  run.report.strategy = {
    strategy: "replicate",
    reason: "switch back: the target follows the source, nothing to copy",
  };
  run.info(`strategy: ${run.report.strategy.strategy} (${run.report.strategy.reason})`);
  const est = estimateMigration("replicate", { clusterBytes: 0, dbBytes: 0, lagBytes: verdict.lagBytes }, run.rates);
  run.budgetGate("preflight", est.totalSeconds, est.downtimeSeconds);
  if (!pre.system_identifier) throw new Refused("the source did not report its PostgreSQL system identifier");

  const j = startJournal(run, "replicate", reverses, true);
  // No backup and no copy: straight to the catch-up. The first write moves an earlier journal here to history/.
  await run.enter("catchup", archive && archive.id !== j.id ? archive.id : undefined);
  // The claim marks the target as this migration's (a rollback that finds it promoted goes forward, never back).
  await run.step(cmds.claimTarget(pre.system_identifier, j.id));
  await run.step(cmds.gateClose());
  await run.step(cmds.proxyTrust(await run.certs.proxy("new")));
  // Its Redis follows the source already (a no-op then), or again, by a partial resync.
  await run.step(cmds.redisReplica(await run.certs.redis("old")));
  await catchUp(run);
  await cutover(run);
}
