/**
 * What is deployed: the record the program exports as the stack output `deployment` after every successful
 * `pulumi up`, and reads back (a StackReference to the stack itself) before planning the next one. It is how a
 * one-key tier change becomes a migration from the server that really serves, and how the old server's retention
 * is counted from the migration's commit time instead of the moment of planning.
 *
 * Pure: plain values in and out. Stacks deployed before the record existed exported only `tier`; they are read as
 * one server of that tier with the names that version gave it, so they upgrade without any replacement.
 */
import { z } from "zod";
import { SCALE_OUT, STACK_TIERS, type StackTier, TIER_NAMES, type TierName } from "./tiers";

export const DEPLOYMENT_OUTPUT = "deployment";
export const RECORD_VERSION = 1;
/**
 * The outputs read back: the record, `tier` for stacks deployed before it existed, and `servers` for the ids of the
 * servers' volumes (a volume the stack drops but keeps at DigitalOcean is recorded with its id).
 */
export const DEPLOYED_OUTPUTS = [DEPLOYMENT_OUTPUT, "tier", "servers"] as const;

/** One single-droplet server of the stack, with the names it was created with (they never change after). */
export interface ServerRecord {
  /** Logical name prefix of its resources, such as `app-4gb`. */
  key: string;
  tier: TierName;
  generation: number;
  dropletName: string;
  volumeName: string;
  volumeDescription: string;
  /**
   * "pinned": created by a version that generates the droplet's SSH host key in the stack and hands it to cloud-init
   * (infra/host-keys.ts). Absent on servers created before: their user data stays as it was (a change would replace
   * the droplet) and their host key is not pinned; the next tier migration creates a pinned server.
   */
  hostKey?: typeof HOST_KEY_PINNED;
}

/** The ServerRecord.hostKey of a server whose host key the stack generated and pins. */
export const HOST_KEY_PINNED = "pinned";

export interface MigrationRecord {
  id: string;
  /** Server keys; `to` is "scale-out" for the move onto the managed engines. */
  from: string;
  to: string;
  strategy: string;
  /** The commit point (ISO 8601): the old server's retention counts from here. */
  committedAt: string;
  /** A switch back: `to` was the follower of `from`, so nothing was copied. */
  switchBack?: true;
}

/** Whom a server follows as a streaming standby (PostgreSQL and Redis), and since when (ISO 8601). */
export interface Following {
  /** The key of the server it follows: the one that serves. */
  key: string;
  since: string;
}

/** A data volume of a dropped server, kept at DigitalOcean (retainOnDelete) and billed until it is deleted. */
export interface RetainedVolume {
  /** The server it belonged to. */
  key: string;
  tier: TierName;
  volumeName: string;
  /** DigitalOcean's volume id, when the stack's outputs knew it. */
  volumeId?: string;
  sizeGiB: number;
  region: string;
  /** When the `pulumi up` that dropped the server planned the drop (ISO 8601). */
  droppedAt: string;
}

export interface DeploymentRecord {
  version: typeof RECORD_VERSION;
  /** The tier that serves. */
  tier: StackTier;
  region: string;
  volumeSizeGiB: number;
  dnsTtlSeconds: number;
  /** Highest server generation created so far (names of new servers never repeat an old one's). */
  generation: number;
  /** The single-droplet server that serves; absent on scale-out. */
  serving?: ServerRecord;
  /**
   * The server migrated from, kept as the rollback target for a while. `protectReleasedAt`: when the update after its
   * retention took its protection off, so that the next one may drop it (Pulumi deletes no protected resource).
   * `follows`: the server it follows since the migration's follow step, from the migration's result; absent when
   * it does not follow (then no switch back to it can be planned).
   */
  previous?: ServerRecord & { retainUntil?: string; protectReleasedAt?: string; follows?: Following };
  /** The migration that made `previous` previous. */
  migration?: MigrationRecord;
  /**
   * Data volumes of dropped servers that the stack left at DigitalOcean (retainOnDelete): they are billed until
   * someone deletes them. Absent when there are none.
   */
  retainedVolumes?: RetainedVolume[];
  /** Read back, not recorded: each server's volume id by server key (from the `servers` output). */
  volumeIds?: Record<string, string>;
  /** True when read from a stack deployed before the record existed (only `tier` was exported). */
  legacy?: boolean;
  /**
   * The scale-out tier's app droplets (keys as in the plan, `app-1`) and which of them have a host key the stack
   * generated and pins (`hostKey: "pinned"`, as ServerRecord.hostKey). Absent on a scale-out stack deployed before
   * it: read back from the `servers` output as its app droplets, none pinned.
   */
  scaleOut?: { appDroplets: AppDropletRecord[] };
}

/** A scale-out app droplet as recorded: its key in the plan and whether its host key is pinned. */
export interface AppDropletRecord {
  key: string;
  hostKey?: typeof HOST_KEY_PINNED;
}

const iso = z.iso.datetime({ offset: true });
const tierName = z.enum(TIER_NAMES as [TierName, ...TierName[]]);
const server = z.object({
  key: z.string().regex(/^app-[a-z0-9-]+$/),
  tier: tierName,
  generation: z.number().int().min(1),
  dropletName: z.string().min(1),
  volumeName: z.string().min(1),
  volumeDescription: z.string().min(1),
  hostKey: z.literal(HOST_KEY_PINNED).optional(),
});
const recordSchema = z
  .object({
    version: z.literal(RECORD_VERSION),
    tier: z.enum(STACK_TIERS as [StackTier, ...StackTier[]]),
    region: z.string().min(1),
    volumeSizeGiB: z.number().int().min(1),
    dnsTtlSeconds: z.number().int().min(1),
    generation: z.number().int().min(1),
    serving: server.optional(),
    previous: server
      .extend({
        retainUntil: iso.optional(),
        protectReleasedAt: iso.optional(),
        follows: z.object({ key: z.string().min(1), since: iso }).optional(),
      })
      .optional(),
    migration: z
      .object({
        id: z.string(),
        from: z.string(),
        to: z.string(),
        strategy: z.string(),
        committedAt: iso,
        switchBack: z.literal(true).optional(),
      })
      .optional(),
    retainedVolumes: z
      .array(
        z.object({
          key: z.string().min(1),
          tier: tierName,
          volumeName: z.string().min(1),
          volumeId: z.string().min(1).optional(),
          sizeGiB: z.number().int().min(1),
          region: z.string().min(1),
          droppedAt: iso,
        }),
      )
      .optional(),
    scaleOut: z
      .object({
        appDroplets: z.array(
          z.object({ key: z.string().regex(/^app-\d+$/), hostKey: z.literal(HOST_KEY_PINNED).optional() }),
        ),
      })
      .optional(),
  })
  // A single-droplet tier is served by a server of that tier: without it the plan would have nothing to keep.
  .superRefine((r, ctx) => {
    if (r.tier === SCALE_OUT) return;
    if (!r.serving)
      ctx.addIssue({ code: "custom", path: ["serving"], message: `missing: tier ${r.tier} needs its server` });
    else if (r.serving.tier !== r.tier)
      ctx.addIssue({
        code: "custom",
        path: ["serving", "tier"],
        message: `is ${r.serving.tier}, the record's tier ${r.tier}`,
      });
  });

/** Volume ids by server key from the `servers` output; anything else there is ignored. */
function volumeIdsOf(servers: unknown): Record<string, string> | undefined {
  if (typeof servers !== "object" || servers === null) return undefined;
  const ids = Object.entries(servers as Record<string, unknown>).flatMap(([key, s]) => {
    const id = typeof s === "object" && s !== null ? (s as { volumeId?: unknown }).volumeId : undefined;
    return typeof id === "string" && id !== "" ? [[key, id] as const] : [];
  });
  return ids.length ? Object.fromEntries(ids) : undefined;
}

/** An app droplet's key in the `servers` output (`scale-out-app-1`), from its key in the plan. */
export function appDropletServerKey(key: string): string {
  return `scale-out-${key}`;
}

/**
 * The app droplets of a scale-out stack deployed before the record listed them: those the `servers` output shows
 * (`scale-out-app-1`, role app), none pinned. Undefined when it shows none (a stack without that output).
 */
function appDropletsBeforePinning(tier: string, servers: unknown): DeploymentRecord["scaleOut"] {
  if (tier !== SCALE_OUT || typeof servers !== "object" || servers === null) return undefined;
  const keys = Object.keys(servers).flatMap((k) => {
    const key = /app-\d+$/.exec(k)?.[0];
    return key && appDropletServerKey(key) === k ? [key] : [];
  });
  return keys.length ? { appDroplets: keys.map((key) => ({ key })) } : undefined;
}

export class DeployedStateError extends Error {
  constructor(message: string) {
    super(`the stack's deployed state (its last outputs) cannot be read: ${message}`);
    this.name = "DeployedStateError";
  }
}

/** Names the version before the record gave a tier's server (and that a stack's first server still gets). */
export function firstServerNames(prefix: string, tier: TierName): ServerRecord {
  const dropletName = `${prefix}-${tier}`;
  return {
    key: `app-${tier}`,
    tier,
    generation: 1,
    dropletName,
    volumeName: `${prefix}-${tier}-data`,
    volumeDescription: volumeDescriptionOf(dropletName),
  };
}

/** The description of a server's data volume: free text (DigitalOcean: up to 1024 bytes; replaced when changed). */
function volumeDescriptionOf(dropletName: string): string {
  return `PostgreSQL, Redis and Caddy data of ${dropletName}`;
}

/**
 * Names of a server created at `generation`. The first keeps the names the stack always gave (every deployed stack's
 * first server has them). A later one (a tier migration's target) carries its generation in its droplet name, its
 * volume name and so its volume description, so that no two servers of a stack share a name, even after a move back
 * to an earlier tier: a retained volume of an earlier server may still exist at DigitalOcean (volume names are unique
 * per region), and an operator tells the droplets apart in the control panel. Its key carries the generation only
 * when the plain key is taken. Deployed servers keep the names recorded in `deployment`: this names new ones only.
 */
export function newServerNames(
  prefix: string,
  tier: TierName,
  generation: number,
  takenKeys: readonly string[],
): ServerRecord {
  const first = firstServerNames(prefix, tier);
  if (generation === 1) return first;
  const key = takenKeys.includes(first.key) ? `${first.key}-g${generation}` : first.key;
  const dropletName = `${prefix}-${tier}-g${generation}`;
  return {
    ...first,
    key,
    generation,
    dropletName,
    volumeName: `${prefix}-${tier}-data-g${generation}`,
    volumeDescription: volumeDescriptionOf(dropletName),
  };
}

/** A server created by this version: the stack generates its host key and pins it (see ServerRecord.hostKey). */
export function withPinnedHostKey(record: ServerRecord): ServerRecord {
  return { ...record, hostKey: HOST_KEY_PINNED };
}

/**
 * The deployed state from the stack's last outputs: undefined for a stack never deployed (no outputs), the record
 * when present, or the legacy reading (only `tier`). Throws DeployedStateError when the outputs are not one of these.
 */
export function readDeployed(
  outputs: Record<string, unknown> | undefined,
  prefix: string,
): DeploymentRecord | undefined {
  if (!outputs || Object.keys(outputs).length === 0) return undefined;
  const raw = outputs[DEPLOYMENT_OUTPUT];
  if (raw !== undefined) {
    const parsed = recordSchema.safeParse(raw);
    if (!parsed.success) {
      const first = parsed.error.issues[0]!;
      const where = [DEPLOYMENT_OUTPUT, ...first.path.map(String)].join(".");
      throw new DeployedStateError(`output ${where}: ${first.message}`);
    }
    const volumeIds = volumeIdsOf(outputs.servers);
    const scaleOut = parsed.data.scaleOut ?? appDropletsBeforePinning(parsed.data.tier, outputs.servers);
    return {
      ...(parsed.data as DeploymentRecord),
      ...(volumeIds ? { volumeIds } : {}),
      ...(scaleOut ? { scaleOut } : {}),
    };
  }
  const tier = outputs.tier;
  if (typeof tier !== "string" || !(STACK_TIERS as readonly string[]).includes(tier)) {
    throw new DeployedStateError(
      `no \`${DEPLOYMENT_OUTPUT}\` output and no known \`tier\` output (got ${JSON.stringify(tier)})`,
    );
  }
  const serving = tier === SCALE_OUT ? undefined : firstServerNames(prefix, tier as TierName);
  // Region, volume size and TTL were not exported then: the checks that need them are skipped (0 = unknown).
  return {
    version: RECORD_VERSION,
    tier: tier as StackTier,
    region: "",
    volumeSizeGiB: 0,
    dnsTtlSeconds: 0,
    generation: 1,
    serving,
    legacy: true,
  };
}

/** When the previous server may go: its explicit time, else the commit time plus the retention hours. */
export function retainUntilOf(record: DeploymentRecord, retainHours: number): Date | undefined {
  const p = record.previous;
  if (!p) return undefined;
  if (p.retainUntil) return new Date(p.retainUntil);
  if (!record.migration) return undefined;
  return new Date(new Date(record.migration.committedAt).getTime() + retainHours * 3600_000);
}

/**
 * The retained volumes after a `pulumi up`: the deployed record's, and the volume of the server it drops, unless the
 * stack allows data loss (then the volume goes with its server).
 */
export function retainedVolumesAfter(
  d: DeploymentRecord | undefined,
  dropped: ServerRecord | undefined,
  config: { allowDataLoss: boolean; volumeSizeGiB: number; region: string },
  now: Date,
): RetainedVolume[] {
  const kept = d?.retainedVolumes ?? [];
  if (!dropped || config.allowDataLoss) return kept;
  const volumeId = d?.volumeIds?.[dropped.key];
  return [
    ...kept,
    {
      key: dropped.key,
      tier: dropped.tier,
      volumeName: dropped.volumeName,
      ...(volumeId ? { volumeId } : {}),
      sizeGiB: d?.volumeSizeGiB || config.volumeSizeGiB,
      region: d?.region || config.region,
      droppedAt: now.toISOString(),
    },
  ];
}
