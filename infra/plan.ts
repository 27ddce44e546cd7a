/**
 * The stack plan: everything the program will build, as plain values, from the parsed config. Components only
 * wire this into resources, so names, rules and rendered files are tested here without Pulumi.
 */
import { type ConfigIssue, ConfigError, type StackConfig } from "./config";
import type { MigrationResult } from "./migration/result-line";
import {
  type DeploymentRecord,
  firstServerNames,
  HOST_KEY_PINNED,
  type MigrationRecord,
  newServerNames,
  RECORD_VERSION,
  retainedVolumesAfter,
  retainUntilOf,
  type ServerRecord,
  withPinnedHostKey,
} from "./deployed";
import { deployedAppDroplets, planScaleOut, ScaleOutError, type ScaleOutPlan, scaleOutRecord } from "./scale-out";
import { followingSince, notFollowingMessage, serverRecordOf, switchBackStrategy } from "./switch-back";
import { INTERNAL_PORT } from "./render/caddyfile";
import { renderCloudInit } from "./render/cloud-init";
import { renderConfigFiles } from "./render/files";
import { volumeDevice } from "./render/layout";
import { getTier, SCALE_OUT, TIER_NAMES, type TierName, TIERS } from "./tiers";
import { tune } from "./tuning";

/** The Ubuntu LTS image app droplets boot (Docker and compose v2 come from its archive). */
export const DROPLET_IMAGE = "ubuntu-24-04-x64";

export type * from "./plan-shape";
import type { FirewallRule, MigrationPlan, ScaleOutMigrationPlan, ServerPlan, StackPlan } from "./plan-shape";

const WORLD = ["0.0.0.0/0", "::/0"];

export function planServer(
  config: StackConfig,
  record: ServerRecord,
  role: ServerPlan["role"],
  released = false,
): ServerPlan {
  const tier = getTier(record.tier);
  const tuning = tune(record.tier, config);
  const cloudInit = { volumeName: record.volumeName, swapMiB: tuning.swapMiB };
  return {
    name: record.key,
    record,
    role,
    tier,
    dropletName: record.dropletName,
    volumeName: record.volumeName,
    volumeDescription: record.volumeDescription,
    volumeDevice: volumeDevice(record.volumeName),
    volumeSizeGiB: config.volumeSizeGiB,
    tuning,
    pinHostKey: record.hostKey === HOST_KEY_PINNED,
    cloudInit,
    userData: renderCloudInit(cloudInit),
    configFiles: renderConfigFiles(config, tuning),
    backups: config.backups === "none" ? { enabled: false } : { enabled: true, plan: config.backups },
    // In prod a plan deletes neither the server that serves nor the one migrated from while it is the rollback
    // target (released once its retention has passed); nor, unless data loss is allowed, a server receiving data.
    protect: role === "target" ? !config.allowDataLoss : released ? false : config.protectStateful,
    retainVolumeOnDelete: !config.allowDataLoss,
  };
}

export function planFirewall(config: StackConfig, movingToScaleOut = false): StackPlan["firewall"] {
  const subscription: FirewallRule[] = movingToScaleOut
    ? [
        {
          protocol: "tcp",
          portRange: "5432",
          fromVpc: true,
          why: "the managed PostgreSQL cluster subscribing to the droplet during the move onto scale-out",
        },
      ]
    : [];
  return {
    inbound: [
      { protocol: "tcp", portRange: "80", sourceAddresses: WORLD, why: "HTTP (ACME challenges, redirect to HTTPS)" },
      { protocol: "tcp", portRange: "443", sourceAddresses: WORLD, why: "HTTPS" },
      { protocol: "udp", portRange: "443", sourceAddresses: WORLD, why: "HTTP/3" },
      { protocol: "tcp", portRange: "22", sourceAddresses: config.sshAllowedCidrs, why: "SSH from the allowlist only" },
      {
        protocol: "tcp",
        portRange: "5432",
        fromStackTag: true,
        why: "PostgreSQL replication between the stack's droplets",
      },
      { protocol: "tcp", portRange: "6379", fromStackTag: true, why: "Redis replication between the stack's droplets" },
      {
        protocol: "tcp",
        portRange: String(INTERNAL_PORT),
        fromStackTag: true,
        why: "cutover forwarding from the old droplet's proxy",
      },
      { protocol: "icmp", sourceAddresses: WORLD, why: "ping and path MTU discovery" },
      ...subscription,
    ],
    outbound: [
      {
        protocol: "tcp",
        portRange: "1-65535",
        sourceAddresses: WORLD,
        why: "package mirrors, image registry, ACME, SMTP relays",
      },
      { protocol: "udp", portRange: "1-65535", sourceAddresses: WORLD, why: "DNS, NTP" },
      { protocol: "icmp", sourceAddresses: WORLD, why: "ping" },
    ],
  };
}

/**
 * The stack plan, from the config and what is deployed (the stack's last `deployment` output).
 *
 * - Nothing deployed: the config's tier, one server.
 * - The deployed tier is the config's: the same server(s), with the names they were created with. A previous server
 *   (migrated from) stays as the rollback target until its retention has passed (counted from the recorded commit
 *   time), then drops out of the plan; its volume stays at DigitalOcean.
 * - The config names another tier: a new server, a migration from the serving one to it, traffic moved only by the
 *   migration's result, and the old server kept as the rollback target.
 * - Within that window, the config names the previous server's tier again: a switch back to it (it follows the
 *   serving one, so nothing is created or copied); then the roles swap, and the server left is the rollback target
 *   for its own window, counted from the switch back's commit.
 *
 * Anything that would lose data (a volume replaced by a region change, a shrink, a new migration while the last
 * one's old server is still the rollback target) is refused as a config problem naming the key.
 */
export function planStack(config: StackConfig, deployed?: DeploymentRecord, now: Date = new Date()): StackPlan {
  const prefix = `${config.project}-${config.stack}`;
  const issues: ConfigIssue[] = [];
  const problem = (key: string, message: string) => issues.push({ key: `${config.project}:${key}`, message });
  // The keys of the version before the record describe a migration that has run: the config's tier serves.
  const legacy = config.previousTier !== undefined && (!deployed || (deployed.legacy && deployed.tier === config.tier));
  const d = legacy ? legacyOverride(config, prefix) : deployed;
  checkAgainstDeployed(config, d, problem);

  let generation = d?.generation ?? 1;
  let previousRecord = d?.previous;
  let migrationRecord = d?.migration;
  let dropped: ServerRecord | undefined;
  // An explicit previousTierRetainUntil overrides the retention counted from the commit time.
  const until =
    previousRecord && config.previousTierRetainUntil
      ? new Date(config.previousTierRetainUntil)
      : d
        ? retainUntilOf(d, config.previousTierRetainHours)
        : undefined;
  // Past its retention a protected rollback target takes two updates to go: the first takes its protection off (and
  // records when), the next drops it.
  const pastRetention = previousRecord !== undefined && until !== undefined && now >= until;
  const releasing = pastRetention && config.protectStateful && !previousRecord?.protectReleasedAt;
  if (releasing) previousRecord = { ...previousRecord!, protectReleasedAt: now.toISOString() };
  else if (pastRetention) {
    dropped = previousRecord;
    previousRecord = undefined;
    migrationRecord = undefined;
  }
  const retainUntil = until && previousRecord ? until.toISOString() : undefined;
  const committedAt = migrationRecord?.committedAt;
  const budgets = {
    downtimeBudgetSeconds: config.downtimeBudgetSeconds,
    migrationBudgetMinutes: config.migrationBudgetMinutes,
  };

  let active: ServerPlan | undefined;
  let previous: ServerPlan | undefined;
  let migration: MigrationPlan | undefined;
  let scaleOutMigration: ScaleOutMigrationPlan | undefined;
  // What both kinds of move share: where from, whether this update runs it, and the old server's retention.
  const move = (from: ServerRecord, running: boolean) => ({
    from: from.tier,
    fromKey: from.key,
    running,
    committedAt: running ? undefined : committedAt,
    retainHours: config.previousTierRetainHours,
    retainUntil: running ? undefined : retainUntil,
    ...budgets,
  });
  const tierMigration = (
    from: ServerRecord,
    to: ServerRecord,
    running: boolean,
    switchBack = false,
  ): MigrationPlan => ({
    ...move(from, running),
    to: to.tier,
    toKey: to.key,
    down: TIER_NAMES.indexOf(to.tier) < TIER_NAMES.indexOf(from.tier),
    strategy: switchBack ? switchBackStrategy(config.migrationStrategy) : config.migrationStrategy,
    trafficSwitch: config.trafficSwitch,
    ...(switchBack ? { switchBack: true as const } : {}),
  });
  const scaleOutMove = (from: ServerRecord, running: boolean): ScaleOutMigrationPlan => move(from, running);

  if (!d) {
    if (config.tier !== SCALE_OUT)
      active = planServer(config, withPinnedHostKey(firstServerNames(prefix, config.tier)), "serving");
  } else if (d.tier === config.tier) {
    // Same tier: what is deployed stays as it is; a retained previous server with the migration that made it so.
    if (d.serving) active = planServer(config, d.serving, "serving");
    if (previousRecord) {
      previous = planServer(config, previousRecord, "previous", releasing);
      if (d.serving) migration = tierMigration(previousRecord, d.serving, false, d.migration?.switchBack);
      else scaleOutMigration = scaleOutMove(previousRecord, false);
    }
  } else if (previousRecord && !releasing && d.serving && config.tier === previousRecord.tier) {
    const since = followingSince(previousRecord, d.serving);
    if (!since) problem("tier", notFollowingMessage(previousRecord, d.serving, retainUntil));
    else {
      // The roles swap: the follower becomes the primary, protected as a migration's target until it has succeeded.
      active = planServer(config, serverRecordOf(previousRecord), "target");
      previous = planServer(config, serverRecordOf(d.serving), "previous");
      migration = { ...tierMigration(d.serving, previousRecord, true, true), followingSince: since };
      checkDnsTtl(config, d.dnsTtlSeconds, problem);
    }
  } else if (previousRecord) {
    problem("tier", stillKeptMessage(config.tier, d.tier, previousRecord.tier, committedAt, retainUntil, releasing));
  } else if (d.tier === SCALE_OUT) {
    problem(
      "tier",
      `cannot change from scale-out back to ${config.tier}: moving off the managed engines is not supported`,
    );
  } else if (!d.serving) {
    problem("tier", `the deployed state names no serving server for tier ${d.tier}`);
  } else if (config.tier === SCALE_OUT) {
    const largest = TIER_NAMES[TIER_NAMES.length - 1]!;
    if (d.tier !== largest)
      problem(
        "tier",
        `must be ${largest} before scale-out (deployed: ${d.tier}): migrate up to the largest single droplet first`,
      );
    else {
      previous = planServer(config, d.serving, "previous");
      scaleOutMigration = scaleOutMove(d.serving, true);
    }
  } else {
    generation += 1;
    const taken = [d.serving.key, ...(dropped ? [dropped.key] : [])];
    const target = withPinnedHostKey(newServerNames(prefix, config.tier, generation, taken));
    active = planServer(config, target, "target");
    previous = planServer(config, d.serving, "previous");
    migration = tierMigration(d.serving, target, true);
    checkDnsTtl(config, d.dnsTtlSeconds, problem);
  }
  if (issues.length) throw new ConfigError(issues);

  const scaleOut = config.tier === SCALE_OUT ? planScaleOutTier(config, prefix, previous !== undefined, d) : undefined;
  return {
    config,
    prefix,
    tag: prefix,
    vpcName: `${prefix}-vpc`,
    firewallName: `${prefix}-fw`,
    projectName: prefix,
    active,
    scaleOut,
    scaleOutMigration,
    previous,
    migration,
    deployed,
    generation,
    dropped,
    ...(releasing ? { released: previousRecord } : {}),
    retainedVolumes: retainedVolumesAfter(d, dropped, config, now),
    firewall: planFirewall(config, scaleOut !== undefined && previous !== undefined),
    edge: planEdge(config, scaleOut !== undefined, previous !== undefined),
    monitoring: planMonitoring(config),
    dns: {
      zone: config.dnsZone,
      recordName: config.dnsRecordName,
      ttl: config.dnsTtlSeconds,
      manageZone: config.manageDnsZone,
    },
  };
}

/**
 * The keys of the version before the deployed record (`previousTier`, `previousTierRetainUntil`): honoured only as
 * the description of a migration that has already run, on a stack whose outputs carry no record. They say the
 * config's tier serves and the previous tier's server is kept until the given time.
 */
function legacyOverride(config: StackConfig, prefix: string): DeploymentRecord | undefined {
  if (config.previousTier === undefined) return undefined;
  return {
    version: RECORD_VERSION,
    tier: config.tier,
    region: "",
    volumeSizeGiB: 0,
    dnsTtlSeconds: 0,
    generation: 2,
    serving: config.tier === SCALE_OUT ? undefined : firstServerNames(prefix, config.tier),
    previous: { ...firstServerNames(prefix, config.previousTier), retainUntil: config.previousTierRetainUntil },
    legacy: true,
  };
}

/** Why another tier change waits while the server migrated from is kept (or, past its retention, still protected). */
function stillKeptMessage(
  tier: string,
  deployedTier: string,
  previousTier: string,
  committedAt: string | undefined,
  retainUntil: string | undefined,
  releasing: boolean,
): string {
  const kept = `cannot change to ${tier} yet: the ${previousTier} server migrated from${committedAt ? ` at ${committedAt}` : ""}`;
  return releasing
    ? `${kept} is past its retention (${retainUntil}) but still protected. Run \`pulumi up\` twice at tier ${deployedTier} first (the first takes its protection off, the second drops it; its volume stays at DigitalOcean), then change the tier`
    : `${kept} is the rollback target until ${retainUntil ?? "its retention ends"}. Change the tier after that, or set previousTierRetainHours lower so that it has passed (then \`pulumi up\` drops it, in prod over two updates: the first takes its protection off; its volume stays at DigitalOcean)`;
}

/** Traffic by DNS moves only as fast as resolvers forget the old record: the TTL must be short well before. */
function checkDnsTtl(config: StackConfig, deployedTtl: number, problem: (key: string, message: string) => void): void {
  const ttl = deployedTtl || config.dnsTtlSeconds;
  if (config.trafficSwitch === "dns" && (ttl > 60 || config.dnsTtlSeconds > 60)) {
    problem(
      "dnsTtlSeconds",
      `must be 60 or less, deployed for at least one old TTL, before a DNS-mode migration: lower it in an earlier \`pulumi up\` (deployed: ${ttl} s) and wait ${ttl} s before changing the tier`,
    );
  }
}

function checkAgainstDeployed(
  config: StackConfig,
  d: DeploymentRecord | undefined,
  problem: (key: string, message: string) => void,
): void {
  const consistent = d?.legacy ? d.tier === config.tier : d?.previous?.tier === config.previousTier;
  if (config.previousTier !== undefined && d && !consistent) {
    problem(
      "previousTier",
      d.legacy
        ? `must be removed (\`pulumi config rm previousTier previousTierRetainUntil\`): the deployed tier is ${d.tier}, and a tier change plans its own migration from it`
        : `must be removed (\`pulumi config rm previousTier previousTierRetainUntil\`): the stack records its servers and migrations in its \`deployment\` output, and its previous server is ${d.previous ? d.previous.tier : "gone"}`,
    );
  }
  if (!d || d.legacy) return;
  if (d.region !== config.region && !config.allowDataLoss) {
    problem(
      "region",
      `must stay ${d.region}: a droplet's volume cannot move between regions, so a new region replaces every data volume (empty). Move regions by a migration to a new stack, or set allowDataLoss on a throw-away dev stack`,
    );
  }
  if (config.volumeSizeGiB < d.volumeSizeGiB) {
    problem(
      "volumeSizeGiB",
      `must be at least ${d.volumeSizeGiB} (deployed): DigitalOcean volumes grow but never shrink`,
    );
  }
}

/** The scale-out tier from the stack config; its own checks come back as config problems with their keys. */
function planScaleOutTier(
  config: StackConfig,
  prefix: string,
  migrating: boolean,
  deployed: DeploymentRecord | undefined,
): ScaleOutPlan {
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
      hstsMaxAgeSeconds: config.hstsMaxAgeSeconds,
      migrating,
      deployedAppDroplets: deployedAppDroplets(deployed, config.appCount),
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
  if (!scaleOut)
    return { reservedIp: reservedIpMode ? "serving" : undefined, record: reservedIpMode ? "reserved-ip" : "serving" };
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

/**
 * The `deployment` output a successful `pulumi up` of this plan leaves: what the next plan reads as deployed. A
 * migration run by this update must have printed its result (the commit time starts the old server's retention).
 */
export function deploymentAfter(plan: StackPlan, result: MigrationResult | undefined): DeploymentRecord {
  const c = plan.config;
  const move = plan.migration ?? plan.scaleOutMigration;
  let migration: MigrationRecord | undefined;
  if (move?.running) {
    if (!result) {
      throw new Error(
        "the migration finished without printing its result line (chatbot-migration-result: ...), so the old server's retention cannot start; run `pulumi up` again: a finished migration prints it again without touching anything",
      );
    }
    migration = {
      id: result.id,
      from: move.fromKey,
      to: plan.migration?.toKey ?? SCALE_OUT,
      strategy: result.strategy,
      committedAt: result.committedAt,
      ...(plan.migration?.switchBack ? { switchBack: true as const } : {}),
    };
  } else if (move && plan.deployed?.migration) {
    migration = plan.deployed.migration;
  }
  // The server a tier migration left follows the new primary from its result on, for as long as it is kept.
  const follows =
    plan.migration?.running && result?.followingSince
      ? { follows: { key: plan.migration.toKey, since: result.followingSince } }
      : {};
  const previous = plan.previous?.record && { ...plan.previous.record, ...follows };
  return {
    version: RECORD_VERSION,
    tier: c.tier,
    region: c.region,
    volumeSizeGiB: c.volumeSizeGiB,
    dnsTtlSeconds: c.dnsTtlSeconds,
    generation: plan.generation,
    ...(plan.active ? { serving: plan.active.record } : {}),
    // A previous server known only from the legacy keys keeps their explicit time (there is no recorded commit).
    ...(previous
      ? {
          previous: migration
            ? previous
            : { ...previous, ...(move?.retainUntil ? { retainUntil: move.retainUntil } : {}) },
        }
      : {}),
    ...(migration ? { migration } : {}),
    ...(plan.retainedVolumes.length ? { retainedVolumes: plan.retainedVolumes } : {}),
    ...(plan.scaleOut ? { scaleOut: scaleOutRecord(plan.scaleOut) } : {}),
  };
}
