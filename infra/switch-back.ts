/**
 * The switch back: within the window after a tier migration, `tier` set back to the server migrated from makes that
 * server, which follows the serving one as a streaming standby, the primary again. Nothing is created or copied; the
 * roles swap. Pure: what the plan decides and says about it.
 */
import type { ServerRecord } from "./deployed";
import type { MigrationPlan } from "./plan-shape";

/** A server's record without what the deployment record adds to a previous one (retention, release, following). */
export function serverRecordOf(r: ServerRecord): ServerRecord {
  return {
    key: r.key,
    tier: r.tier,
    generation: r.generation,
    dropletName: r.dropletName,
    volumeName: r.volumeName,
    volumeDescription: r.volumeDescription,
    ...(r.hostKey ? { hostKey: r.hostKey } : {}),
  };
}

/** Since when `previous` follows `serving`, from the record; undefined when it does not (or follows another). */
export function followingSince(
  previous: { follows?: { key: string; since: string } },
  serving: ServerRecord,
): string | undefined {
  return previous.follows?.key === serving.key ? previous.follows.since : undefined;
}

/**
 * The strategy flag of a switch back: the runner accepts `auto` or `replicate` with it (nothing is copied either
 * way), so a stack set to `dump-restore` passes `auto`.
 */
export function switchBackStrategy(strategy: MigrationPlan["strategy"]): "auto" | "replicate" {
  return strategy === "replicate" ? "replicate" : "auto";
}

/** Why the same key is refused when the server migrated from does not follow the serving one, and what to do. */
export function notFollowingMessage(previous: ServerRecord, serving: ServerRecord, retainUntil?: string): string {
  return (
    `cannot switch back to ${previous.key} (${previous.tier}): the deployment record says it does not follow ${serving.key}, ` +
    "so a switch back would lose what was written since the migration. Check the follower with `npm run migrate -- --status`; " +
    `for a fresh migration to a new ${previous.tier} server, wait for its window to end (${retainUntil ?? "its retention after the commit"}) and let \`pulumi up\` drop it first`
  );
}

/** What a planned switch back does, in words (the plan's text output and its JSON). */
export function switchBackWords(m: Pick<MigrationPlan, "toKey" | "fromKey" | "followingSince">): string {
  return `switch back to ${m.toKey}: no copy, it has followed ${m.fromKey} since ${m.followingSince ?? "the migration"}`;
}

/** The plan document's account of a switch back this update runs. */
export interface SwitchBackSummary {
  fromKey: string;
  toKey: string;
  followingSince: string;
  summary: string;
}

/** `{ switchBack }` for the plan document when the migration is a switch back this update runs, else nothing. */
export function switchBackSummary(m: MigrationPlan | undefined): { switchBack?: SwitchBackSummary } {
  if (!m?.running || !m.switchBack || !m.followingSince) return {};
  const { fromKey, toKey, followingSince } = m;
  return { switchBack: { fromKey, toKey, followingSince, summary: switchBackWords(m) } };
}
