/**
 * The Redis handover after the commit point: the old Redis hands over (FAILOVER) or, when it cannot, the new one is
 * promoted alone; or, when the new one already took over by itself (the armed promotion, with the old one's paused
 * offset), the old one follows it.
 */
import type { MigrationRun } from "./run";

/**
 * The old Redis hands over (FAILOVER); else the new one is promoted alone, and the old one is left as it is (what
 * it holds that the new one lacks stays there to be looked at). `trusted`: redisTrust ran this run.
 */
export async function switchRedis(run: MigrationRun, o: { trusted?: boolean } = {}): Promise<void> {
  try {
    const cert = o.trusted ? undefined : await run.certs.redis("new");
    await run.step(run.cmds.redisFailover(5000, cert), { always: true });
  } catch {
    // The old master is unreachable or refused: promote the replica directly.
    await run.step(run.cmds.redisPromote(), { always: true });
  }
}

/** The old Redis follows the new master (its writes resume, refused); if it cannot, it is noted: nothing uses it. */
export async function followNew(run: MigrationRun): Promise<void> {
  await run
    .step(run.cmds.redisFollow(), { always: true })
    .catch((e: Error) =>
      run.note(
        `the old Redis did not follow the new one (${e.message.split("\n")[0]}): nothing writes to it any more, but it is not a replica`,
      ),
    );
}
