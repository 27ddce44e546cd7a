/**
 * The stack plan: everything the program will build, as plain values, from the parsed config. Components only
 * wire this into resources, so names, rules and rendered files are tested here without Pulumi.
 */
import { ConfigError, type StackConfig } from "./config";
import { planScaleOut, ScaleOutError, type ScaleOutPlan } from "./scale-out";
import { INTERNAL_PORT } from "./render/caddyfile";
import { renderCloudInit } from "./render/cloud-init";
import { type RenderedFile, renderConfigFiles } from "./render/files";
import { volumeDevice } from "./render/layout";
import { getTier, SCALE_OUT, type Tier, type TierName, TIERS } from "./tiers";
import { type Tuning, tune } from "./tuning";

/** The Ubuntu LTS image app droplets boot (Docker and compose v2 come from its archive). */
export const DROPLET_IMAGE = "ubuntu-24-04-x64";

export interface ServerPlan {
  /** Logical name prefix of the server's resources: `app-<tier>`. */
  name: string;
  tier: Tier & { name: TierName };
  dropletName: string;
  volumeName: string;
  volumeDevice: string;
  volumeSizeGiB: number;
  tuning: Tuning;
  userData: string;
  configFiles: RenderedFile[];
  backups: { enabled: boolean; plan?: "weekly" | "daily" };
  protect: boolean;
  /** Leave the volume at DigitalOcean when the stack drops it (a migrated-from prod server's data, kept as a copy). */
  retainVolumeOnDelete: boolean;
}

export interface MigrationPlan {
  from: TierName;
  to: TierName;
  /** Until when the old server is kept as the rollback target. */
  retainUntil: string;
  strategy: "auto" | "replicate" | "dump-restore";
  downtimeBudgetSeconds: number;
  migrationBudgetMinutes: number;
  trafficSwitch: "reserved-ip" | "dns";
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
  scaleOutMigration: { from: TierName; retainUntil: string; downtimeBudgetSeconds: number; migrationBudgetMinutes: number } | undefined;
  /** During a tier migration's retention window: the server migrated from. */
  previous: ServerPlan | undefined;
  migration: MigrationPlan | undefined;
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

const WORLD = ["0.0.0.0/0", "::/0"];

export function planServer(config: StackConfig, tierName: TierName, prefix: string): ServerPlan {
  const tier = getTier(tierName);
  const tuning = tune(tierName, config);
  const volumeName = `${prefix}-${tierName}-data`;
  return {
    name: `app-${tierName}`,
    tier,
    dropletName: `${prefix}-${tierName}`,
    volumeName,
    volumeDevice: volumeDevice(volumeName),
    volumeSizeGiB: config.volumeSizeGiB,
    tuning,
    userData: renderCloudInit({ volumeName, swapMiB: tuning.swapMiB }),
    configFiles: renderConfigFiles(config, tuning),
    backups: config.backups === "none" ? { enabled: false } : { enabled: true, plan: config.backups },
    protect: config.protectStateful,
    retainVolumeOnDelete: false,
  };
}

export function planFirewall(config: StackConfig, movingToScaleOut = false): StackPlan["firewall"] {
  const subscription: FirewallRule[] = movingToScaleOut
    ? [{ protocol: "tcp", portRange: "5432", fromVpc: true, why: "the managed PostgreSQL cluster subscribing to the droplet during the move onto scale-out" }]
    : [];
  return {
    inbound: [
      { protocol: "tcp", portRange: "80", sourceAddresses: WORLD, why: "HTTP (ACME challenges, redirect to HTTPS)" },
      { protocol: "tcp", portRange: "443", sourceAddresses: WORLD, why: "HTTPS" },
      { protocol: "udp", portRange: "443", sourceAddresses: WORLD, why: "HTTP/3" },
      { protocol: "tcp", portRange: "22", sourceAddresses: config.sshAllowedCidrs, why: "SSH from the allowlist only" },
      { protocol: "tcp", portRange: "5432", fromStackTag: true, why: "PostgreSQL replication between the stack's droplets" },
      { protocol: "tcp", portRange: "6379", fromStackTag: true, why: "Redis replication between the stack's droplets" },
      { protocol: "tcp", portRange: String(INTERNAL_PORT), fromStackTag: true, why: "cutover forwarding from the old droplet's proxy" },
      { protocol: "icmp", sourceAddresses: WORLD, why: "ping and path MTU discovery" },
      ...subscription,
    ],
    outbound: [
      { protocol: "tcp", portRange: "1-65535", sourceAddresses: WORLD, why: "package mirrors, image registry, ACME, SMTP relays" },
      { protocol: "udp", portRange: "1-65535", sourceAddresses: WORLD, why: "DNS, NTP" },
      { protocol: "icmp", sourceAddresses: WORLD, why: "ping" },
    ],
  };
}

/**
 * The stack plan. With `previousTier` set and its retention time not yet passed, the old tier's server stays in the
 * stack beside the new one and a migration moves data and traffic across; once the time has passed, the old server
 * drops out of the plan and the next `pulumi up` destroys it (a prod volume is left at DigitalOcean as a copy).
 */
export function planStack(config: StackConfig, now: Date = new Date()): StackPlan {
  const prefix = `${config.project}-${config.stack}`;
  const retained = config.previousTier !== undefined && config.previousTierRetainUntil !== undefined && now < new Date(config.previousTierRetainUntil);
  const previous = retained
    ? { ...planServer(config, config.previousTier!, prefix), protect: false, retainVolumeOnDelete: config.protectStateful }
    : undefined;
  const scaleOut = config.tier === SCALE_OUT ? planScaleOutTier(config, prefix, previous !== undefined) : undefined;
  const migration: MigrationPlan | undefined =
    retained && config.tier !== SCALE_OUT
    ? {
        from: config.previousTier!,
        to: config.tier as TierName,
        retainUntil: config.previousTierRetainUntil!,
        strategy: config.migrationStrategy,
        downtimeBudgetSeconds: config.downtimeBudgetSeconds,
        migrationBudgetMinutes: config.migrationBudgetMinutes,
        trafficSwitch: config.trafficSwitch,
      }
    : undefined;
  return {
    config,
    prefix,
    tag: prefix,
    vpcName: `${prefix}-vpc`,
    firewallName: `${prefix}-fw`,
    projectName: prefix,
    active: config.tier === SCALE_OUT ? undefined : planServer(config, config.tier, prefix),
    scaleOut,
    scaleOutMigration:
      scaleOut && previous
        ? { from: previous.tier.name, retainUntil: config.previousTierRetainUntil!, downtimeBudgetSeconds: config.downtimeBudgetSeconds, migrationBudgetMinutes: config.migrationBudgetMinutes }
        : undefined,
    previous,
    migration,
    firewall: planFirewall(config, scaleOut !== undefined && previous !== undefined),
    edge: planEdge(config, scaleOut !== undefined, previous !== undefined),
    monitoring: planMonitoring(config),
    dns: { zone: config.dnsZone, recordName: config.dnsRecordName, ttl: config.dnsTtlSeconds, manageZone: config.manageDnsZone },
  };
}

/** The scale-out tier from the stack config; its own checks come back as config problems with their keys. */
function planScaleOutTier(config: StackConfig, prefix: string, migrating: boolean): ScaleOutPlan {
  try {
    return planScaleOut({
      prefix,
      region: config.region,
      domain: config.domain,
      healthPath: config.healthPath,
      appPort: config.appPort,
      appImage: config.appImage,
      appEnv: config.appEnv,
      environment: config.environment,
      sshKeys: config.sshKeys,
      sshAllowedCidrs: config.sshAllowedCidrs,
      stackTag: prefix,
      appCount: config.appCount,
      appDropletSize: config.appDropletSize,
      dbSize: config.dbSize,
      dbNodeCount: config.dbNodeCount,
      valkeySize: config.valkeySize,
      dbPoolSize: config.dbPoolSize,
      dbMaxOverflow: config.dbMaxOverflow,
      migrating,
    });
  } catch (e) {
    if (!(e instanceof ScaleOutError)) throw e;
    throw new ConfigError(
      e.problems.map((p) => {
        const at = p.indexOf(": ");
        return { key: `${config.project}:${p.slice(0, at)}`, message: p.slice(at + 2) };
      }),
    );
  }
}

function planEdge(config: StackConfig, scaleOut: boolean, previous: boolean): StackPlan["edge"] {
  const reservedIpMode = config.trafficSwitch === "reserved-ip";
  if (!scaleOut) return { reservedIp: reservedIpMode ? "serving" : undefined, record: reservedIpMode ? "reserved-ip" : "serving" };
  // A load balancer has its own address. The reserved IP stays on the previous droplet while it forwards to the app
  // droplets (clients that cached the old record), and goes with it.
  return { reservedIp: reservedIpMode && previous ? "previous" : undefined, record: "serving" };
}

function planMonitoring(config: StackConfig): StackPlan["monitoring"] {
  if (config.alertEmails.length === 0) return undefined;
  if (config.tier !== SCALE_OUT) return { tier: config.tier };
  const tier = (Object.keys(TIERS) as TierName[]).find((t) => TIERS[t].slug === config.appDropletSize);
  return tier ? { tier } : undefined;
}
