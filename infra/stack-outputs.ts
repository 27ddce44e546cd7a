/**
 * The stack outputs operators read with `pulumi stack output`, as plain values: which server serves, every server's
 * ids and addresses, and the state of the last tier migration, all from the `deployment` record a `pulumi up` leaves.
 * Pure: infra/exports.ts wires the resources' outputs into these functions.
 */
import { type DeploymentRecord, type RetainedVolume, retainUntilOf } from "./deployed";
import { SCALE_OUT } from "./tiers";

/** One droplet of the stack, as `pulumi stack output servers` shows it. */
export interface ServerOutput {
  /** serving: reached by users; previous: the server migrated from, kept as the rollback target; app: a scale-out app droplet. */
  role: "serving" | "previous" | "app";
  /** The single-droplet tier (absent for scale-out app droplets). */
  tier?: string;
  /** DigitalOcean's droplet id (`npm run capacity -- --droplet-id`). */
  dropletId: string;
  dropletName: string;
  publicIp: string;
  privateIp: string;
  /** The data volume's id (single-droplet servers). */
  volumeId?: string;
  volumeName?: string;
  /**
   * The SSH host key the stack generated and pins, `ssh-ed25519 <base64>` (not secret); absent for a server or an app
   * droplet created before pinned host keys (see infra/host-keys.ts).
   */
  hostKey?: string;
}

/** A droplet's resolved values, keyed by the server's name in the plan (`app-8gb`, `scale-out-app-1`). */
export type DropletValues = Omit<ServerOutput, "role"> & { key: string };

/** The tier migration as the deployed record tells it. */
export type MigrationStatus =
  | { state: "none" }
  | {
      /** done: the migration committed and finished; the old server is kept as the rollback target until `rollbackUntil`. */
      state: "done";
      id?: string;
      from: string;
      to: string;
      strategy?: string;
      committedAt?: string;
      /** The server migrated from (its key in `servers`). */
      rollbackTarget: string;
      /** When the first `pulumi up` after it drops the old server (its volume stays at DigitalOcean). */
      rollbackUntil?: string;
      /** The migration was a switch back to the server that followed (nothing copied). */
      switchBack?: true;
      /**
       * Whom the rollback target follows, since when: a switch back to it needs no copy. Absent when it does not
       * follow (a switch back is then refused: `npm run migrate -- --status` tells why).
       */
      follows?: { server: string; since: string };
    };

/** The server that serves: its key in `servers`, or `scale-out` (the load balancer). */
export function servingServer(record: DeploymentRecord): string {
  return record.serving?.key ?? SCALE_OUT;
}

/** Every droplet with its role, from the record (the serving and previous servers) and the droplets' values. */
export function serverOutputs(
  record: DeploymentRecord,
  droplets: readonly DropletValues[],
): Record<string, ServerOutput> {
  const out: Record<string, ServerOutput> = {};
  for (const d of droplets) {
    const { key, ...values } = d;
    const role = key === record.serving?.key ? "serving" : key === record.previous?.key ? "previous" : "app";
    out[key] = { role, ...values };
  }
  return out;
}

/**
 * A known_hosts file for the servers whose host key is pinned: `<public address> <key>` a line, so that
 * `ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile=<file> root@<address>` accepts exactly the pinned key.
 */
export function knownHostsOf(servers: Record<string, ServerOutput>): string {
  return Object.values(servers)
    .filter((s) => s.hostKey)
    .map((s) => `${s.publicIp} ${s.hostKey}\n`)
    .join("");
}

/**
 * The migration's state: `none` when no server migrated from is kept, else `done` with the commit and until when the
 * old server stays (an explicit `previousTierRetainUntil` wins over the commit time plus the retention hours).
 */
export function migrationStatus(record: DeploymentRecord, retain: { hours: number; until?: string }): MigrationStatus {
  const previous = record.previous;
  if (!previous) return { state: "none" };
  const m = record.migration;
  const until = retain.until ? new Date(retain.until) : retainUntilOf(record, retain.hours);
  return {
    state: "done",
    ...(m ? { id: m.id, strategy: m.strategy, committedAt: m.committedAt } : {}),
    from: m?.from ?? previous.key,
    to: m?.to ?? servingServer(record),
    rollbackTarget: previous.key,
    ...(until ? { rollbackUntil: until.toISOString() } : {}),
    ...(m?.switchBack ? { switchBack: true as const } : {}),
    ...(previous.follows ? { follows: { server: previous.follows.key, since: previous.follows.since } } : {}),
  };
}

/** A volume as DigitalOcean has it now: its id, or undefined when it is gone. */
export type VolumeLookup = (name: string, region: string) => Promise<{ id: string } | undefined>;

/**
 * The record with only the retained volumes that still exist at DigitalOcean (each with its id): a volume someone
 * deleted leaves the record, and so the cost, at the next `pulumi up`.
 */
export async function withExistingRetainedVolumes(
  record: DeploymentRecord,
  lookup: VolumeLookup,
): Promise<DeploymentRecord> {
  if (!record.retainedVolumes?.length) return record;
  const kept: RetainedVolume[] = [];
  for (const v of record.retainedVolumes) {
    const found = await lookup(v.volumeName, v.region);
    if (found) kept.push({ ...v, volumeId: v.volumeId ?? found.id });
  }
  const { retainedVolumes: _, ...rest } = record;
  return kept.length ? { ...rest, retainedVolumes: kept } : rest;
}
