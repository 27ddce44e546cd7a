/**
 * The shape of the stack plan (infra/plan.ts makes it; components, the offline run and the cost read it).
 */
import type { StackConfig } from "./config";
import type { DeploymentRecord, RetainedVolume, ServerRecord } from "./deployed";
import type { ScaleOutPlan } from "./scale-out";
import type { CloudInitInput } from "./render/cloud-init";
import type { RenderedFile } from "./render/files";
import type { Tier, TierName } from "./tiers";
import type { Tuning } from "./tuning";

export interface ServerPlan {
  /** Logical name prefix of the server's resources: `app-<tier>` (a later server of a reused tier: `app-<tier>-g<n>`). */
  name: string;
  /** Its names as recorded in the stack's `deployment` output: they never change once created. */
  record: ServerRecord;
  /** serving: the server users reach; target: receiving the data in this migration; previous: migrated from. */
  role: "serving" | "target" | "previous";
  tier: Tier & { name: TierName };
  dropletName: string;
  volumeName: string;
  volumeDescription: string;
  volumeDevice: string;
  volumeSizeGiB: number;
  tuning: Tuning;
  /**
   * The stack generates this server's SSH host key, hands it to cloud-init and pins it (record `hostKey: "pinned"`:
   * created by this version). False for servers created before: their user data is `userData` as it always was.
   */
  pinHostKey: boolean;
  /** What the user data is rendered from; a pinned server's droplet gets it rendered with its host key. */
  cloudInit: CloudInitInput;
  /** The user data without a host key: the droplet's for an unpinned server (a pinned one adds its key, a secret). */
  userData: string;
  configFiles: RenderedFile[];
  backups: { enabled: boolean; plan?: "weekly" | "daily" };
  /** Droplet and volume protected from deletion and replacement. */
  protect: boolean;
  /** Leave the volume at DigitalOcean when the stack drops it: always, unless `allowDataLoss` (dev stacks only). */
  retainVolumeOnDelete: boolean;
}

export interface MigrationPlan {
  from: TierName;
  to: TierName;
  fromKey: string;
  toKey: string;
  /** True when this `pulumi up` runs it; false once it has run (kept in the stack while the old server is). */
  running: boolean;
  /** The commit time, once a successful `pulumi up` has recorded it. */
  committedAt: string | undefined;
  /** Hours the old server is kept after the commit (previousTierRetainHours). */
  retainHours: number;
  /** When the old server goes, once known (commit time + retainHours, or an explicit previousTierRetainUntil). */
  retainUntil: string | undefined;
  /** The new tier is smaller: the migration's preflight checks that the data fits before touching anything. */
  down: boolean;
  strategy: "auto" | "replicate" | "dump-restore";
  downtimeBudgetSeconds: number;
  migrationBudgetMinutes: number;
  trafficSwitch: "reserved-ip" | "dns";
  /**
   * A switch back: `toKey` is the server migrated from, following `fromKey` as a standby, so the cutover copies
   * nothing (`npm run migrate -- --switch-back`). Kept while the switch back's window lasts.
   */
  switchBack?: true;
  /** Since when `toKey` follows `fromKey` (from the deployment record): only on a switch back this update runs. */
  followingSince?: string;
}

export interface ScaleOutMigrationPlan {
  from: TierName;
  fromKey: string;
  running: boolean;
  committedAt: string | undefined;
  retainHours: number;
  retainUntil: string | undefined;
  downtimeBudgetSeconds: number;
  migrationBudgetMinutes: number;
}

export interface FirewallRule {
  protocol: "tcp" | "udp" | "icmp";
  portRange?: string;
  sourceAddresses?: string[];
  /** Admit the stack's own droplets (by their tag). */
  fromStackTag?: boolean;
  /** Admit the whole VPC range (the managed PostgreSQL cluster subscribing during the move onto scale-out). */
  fromVpc?: boolean;
  why: string;
}

export interface StackPlan {
  config: StackConfig;
  prefix: string;
  tag: string;
  vpcName: string;
  firewallName: string;
  projectName: string;
  /** The single-droplet server that serves (after a migration, the new tier's); undefined on scale-out. */
  active: ServerPlan | undefined;
  /** The scale-out tier (load balancer, app droplets, managed PostgreSQL and Valkey), when `tier` is scale-out. */
  scaleOut: ScaleOutPlan | undefined;
  /** Moving from the previous single droplet onto scale-out (logical replication into managed PostgreSQL). */
  scaleOutMigration: ScaleOutMigrationPlan | undefined;
  /** During a tier migration and its retention window: the server migrated from. */
  previous: ServerPlan | undefined;
  migration: MigrationPlan | undefined;
  /** What the stack's last outputs say is deployed (undefined: a stack never deployed). */
  deployed: DeploymentRecord | undefined;
  /** Highest server generation after this `pulumi up`. */
  generation: number;
  /** A previous server this `pulumi up` drops (its retention has passed); its volume stays at DigitalOcean. */
  dropped: ServerRecord | undefined;
  /** The rollback target whose protection this update takes off, past its retention (the next update drops it). */
  released?: ServerRecord;
  /** Volumes of dropped servers kept at DigitalOcean (billed until deleted): the deployed ones and this drop's. */
  retainedVolumes: RetainedVolume[];
  firewall: { inbound: FirewallRule[]; outbound: FirewallRule[] };
  dns: { zone: string; recordName: string; ttl: number; manageZone: boolean };
  /**
   * Where the public address goes. `reservedIp`: which droplet holds the reserved IP (the serving one, the previous
   * one while it forwards to the scale-out tier, or none). `record`: what the A record points at (the reserved IP,
   * or directly the serving droplet or load balancer).
   */
  edge: { reservedIp: "serving" | "previous" | undefined; record: "reserved-ip" | "serving" };
  /** Alerts: the tier whose vCPUs set the load threshold; undefined = no alerts (no alertEmails, or an app droplet
   * size that is not a tier's). */
  monitoring: { tier: TierName } | undefined;
}
