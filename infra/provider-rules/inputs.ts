/**
 * Input types per Pulumi type token (numbers vs strings, the traps a mocked run cannot see), and which input
 * changes replace a resource. Sources (TF, SDK, API, GODO) and how to read them: see ./index.ts.
 */
import { DATABASE_CLUSTER, DATABASE_CONNECTION_POOL, DATABASE_FIREWALL } from "./databases";
import { DNS_RECORD, DOMAIN, RESERVED_IP, RESERVED_IP_ASSIGNMENT } from "./dns-and-reserved-ips";
import { DROPLET, DROPLET_AUTOSCALE, VOLUME, VOLUME_ATTACHMENT } from "./droplet";
import { CERTIFICATE, LOAD_BALANCER } from "./load-balancer";
import { MONITOR_ALERT, UPTIME_ALERT, UPTIME_CHECK } from "./monitoring";
import { FIREWALL, TAG, VPC } from "./network";
import { PROJECT, PROJECT_RESOURCES } from "./project";
import { PULUMI_SECRET_MARK, PULUMI_SECRET_SIG } from "../resource-shapes";

export type InputKind = "string" | "number" | "boolean" | "string[]" | "number[]";

/**
 * The scalar type each input must have when it reaches the provider (SDK *.d.ts). Paths: "a.b" for nested
 * objects, "a[].b" for each element of a list. Aimed at mocked runs, where inputs arrive as plain values. The
 * traps are the ones where a value that "looks right" has the wrong type: ids as numbers vs strings.
 */
export const INPUT_KINDS: Record<string, Record<string, InputKind>> = {
  "digitalocean:index/droplet:Droplet": {
    name: "string",
    size: "string",
    image: "string",
    region: "string",
    sshKeys: "string[]",
    tags: "string[]",
    volumeIds: "string[]",
    vpcUuid: "string",
    userData: "string",
    backups: "boolean",
    monitoring: "boolean",
    ipv6: "boolean",
    "backupPolicy.plan": "string",
    "backupPolicy.weekday": "string",
    "backupPolicy.hour": "number",
  },
  "digitalocean:index/volume:Volume": {
    name: "string",
    region: "string",
    size: "number",
    initialFilesystemType: "string",
    tags: "string[]",
  },
  "digitalocean:index/volumeAttachment:VolumeAttachment": { dropletId: "number", volumeId: "string" },
  "digitalocean:index/reservedIp:ReservedIp": { region: "string", dropletId: "number", ipAddress: "string" },
  "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": { ipAddress: "string", dropletId: "number" },
  "digitalocean:index/firewall:Firewall": {
    name: "string",
    dropletIds: "number[]",
    tags: "string[]",
    "inboundRules[].protocol": "string",
    "inboundRules[].portRange": "string",
    "inboundRules[].sourceAddresses": "string[]",
    "inboundRules[].sourceDropletIds": "number[]",
    "inboundRules[].sourceTags": "string[]",
    "inboundRules[].sourceLoadBalancerUids": "string[]",
    "inboundRules[].sourceKubernetesIds": "string[]",
    "outboundRules[].protocol": "string",
    "outboundRules[].portRange": "string",
    "outboundRules[].destinationAddresses": "string[]",
    "outboundRules[].destinationDropletIds": "number[]",
    "outboundRules[].destinationTags": "string[]",
    "outboundRules[].destinationLoadBalancerUids": "string[]",
    "outboundRules[].destinationKubernetesIds": "string[]",
  },
  "digitalocean:index/vpc:Vpc": { name: "string", region: "string", ipRange: "string", description: "string" },
  "digitalocean:index/domain:Domain": { name: "string", ipAddress: "string" },
  "digitalocean:index/dnsRecord:DnsRecord": {
    domain: "string",
    type: "string",
    name: "string",
    value: "string",
    ttl: "number",
    priority: "number",
    port: "number",
    weight: "number",
    flags: "number",
    tag: "string",
  },
  "digitalocean:index/project:Project": {
    name: "string",
    environment: "string",
    purpose: "string",
    description: "string",
    resources: "string[]",
  },
  "digitalocean:index/projectResources:ProjectResources": { project: "string", resources: "string[]" },
  "digitalocean:index/tag:Tag": { name: "string" },
  "digitalocean:index/monitorAlert:MonitorAlert": {
    type: "string",
    compare: "string",
    window: "string",
    value: "number",
    entities: "string[]",
    tags: "string[]",
    description: "string",
    "alerts.emails": "string[]",
  },
  "digitalocean:index/uptimeCheck:UptimeCheck": {
    name: "string",
    type: "string",
    target: "string",
    regions: "string[]",
  },
  "digitalocean:index/uptimeAlert:UptimeAlert": {
    checkId: "string",
    type: "string",
    comparison: "string",
    period: "string",
    threshold: "number",
  },
  "digitalocean:index/loadBalancer:LoadBalancer": {
    region: "string",
    size: "string",
    sizeUnit: "number",
    dropletIds: "number[]",
    dropletTag: "string",
    redirectHttpToHttps: "boolean",
    vpcUuid: "string",
    "forwardingRules[].entryProtocol": "string",
    "forwardingRules[].entryPort": "number",
    "forwardingRules[].targetProtocol": "string",
    "forwardingRules[].targetPort": "number",
    "healthcheck.protocol": "string",
    "healthcheck.port": "number",
    "healthcheck.path": "string",
  },
  "digitalocean:index/databaseCluster:DatabaseCluster": {
    engine: "string",
    version: "string",
    size: "string",
    region: "string",
    nodeCount: "number",
    storageSizeMib: "string",
    evictionPolicy: "string",
    privateNetworkUuid: "string",
    tags: "string[]",
    "maintenanceWindows[].day": "string",
    "maintenanceWindows[].hour": "string",
  },
  "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool": {
    clusterId: "string",
    name: "string",
    mode: "string",
    size: "number",
    dbName: "string",
    user: "string",
  },
  "digitalocean:index/databaseFirewall:DatabaseFirewall": {
    clusterId: "string",
    "rules[].type": "string",
    "rules[].value": "string",
  },
  "digitalocean:index/dropletAutoscale:DropletAutoscale": {
    name: "string",
    "config.minInstances": "number",
    "config.maxInstances": "number",
    "config.cooldownMinutes": "number",
    "config.targetNumberInstances": "number",
    "config.targetCpuUtilization": "number",
    "config.targetMemoryUtilization": "number",
    "dropletTemplate.size": "string",
    "dropletTemplate.region": "string",
    "dropletTemplate.image": "string",
    "dropletTemplate.sshKeys": "string[]",
    "dropletTemplate.tags": "string[]",
    "dropletTemplate.userData": "string",
  },
  "digitalocean:index/certificate:Certificate": { name: "string", type: "string", domains: "string[]" },
};

/** Pulumi secret marker as it reaches mocks: `{[SECRET_SIG]: SECRET_VALUE, value}`. */

function unwrapSecret(v: unknown): unknown {
  if (v !== null && typeof v === "object" && (v as Record<string, unknown>)[PULUMI_SECRET_SIG] === PULUMI_SECRET_MARK)
    return (v as { value?: unknown }).value;
  return v;
}

/** Every value at `path` ("a.b", "a[].b") in `obj`, with a printable location. Absent values are skipped. */
function valuesAt(obj: unknown, path: string): [string, unknown][] {
  let found: [string, unknown][] = [["", obj]];
  for (const part of path.split(".")) {
    const each = part.endsWith("[]");
    const key = each ? part.slice(0, -2) : part;
    const next: [string, unknown][] = [];
    for (const [loc, cur] of found) {
      const o = unwrapSecret(cur);
      if (o === null || typeof o !== "object") continue;
      const v = unwrapSecret((o as Record<string, unknown>)[key]);
      if (v === undefined) continue;
      const at = loc ? `${loc}.${key}` : key;
      if (each && Array.isArray(v)) v.forEach((el, i) => next.push([`${at}[${i}]`, el]));
      else if (!each) next.push([at, v]);
    }
    found = next;
  }
  return found;
}

function hasKind(v: unknown, kind: InputKind): boolean {
  const u = unwrapSecret(v);
  switch (kind) {
    case "string":
    case "number":
    case "boolean":
      return typeof u === kind && (kind !== "number" || Number.isFinite(u));
    case "string[]":
    case "number[]": {
      const el = kind === "string[]" ? "string" : "number";
      return Array.isArray(u) && u.every((x) => hasKind(x, el));
    }
  }
}

/**
 * Inputs whose runtime type differs from what the provider takes, e.g.
 * `VolumeAttachment dropletId: must be a number, got string "123"`. Unknown tokens yield no problems.
 */
export function checkInputTypes(token: string, inputs: Record<string, unknown>): string[] {
  const kinds = INPUT_KINDS[token];
  if (!kinds) return [];
  const short = token.split(":").pop() ?? token;
  const out: string[] = [];
  for (const [path, kind] of Object.entries(kinds)) {
    for (const [loc, v] of valuesAt(inputs, path)) {
      if (!hasKind(v, kind))
        out.push(
          `${short} ${loc}: must be ${kind === "number" || kind === "number[]" ? "a " : ""}${kind}, got ${typeof unwrapSecret(v)} ${JSON.stringify(unwrapSecret(v))}`,
        );
    }
  }
  return out;
}

/** Inputs whose change replaces the resource, per Pulumi type token. */
export const FORCE_NEW_INPUTS: Record<string, readonly string[]> = {
  "digitalocean:index/droplet:Droplet": DROPLET.forceNew,
  "digitalocean:index/volume:Volume": VOLUME.forceNew,
  "digitalocean:index/volumeAttachment:VolumeAttachment": VOLUME_ATTACHMENT.forceNew,
  "digitalocean:index/reservedIp:ReservedIp": RESERVED_IP.forceNew,
  "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": RESERVED_IP_ASSIGNMENT.forceNew,
  "digitalocean:index/firewall:Firewall": FIREWALL.forceNew,
  "digitalocean:index/vpc:Vpc": VPC.forceNew,
  "digitalocean:index/domain:Domain": DOMAIN.forceNew,
  "digitalocean:index/dnsRecord:DnsRecord": DNS_RECORD.forceNew,
  "digitalocean:index/project:Project": PROJECT.forceNew,
  "digitalocean:index/projectResources:ProjectResources": PROJECT_RESOURCES.forceNew,
  "digitalocean:index/tag:Tag": TAG.forceNew,
  "digitalocean:index/monitorAlert:MonitorAlert": MONITOR_ALERT.forceNew,
  "digitalocean:index/uptimeCheck:UptimeCheck": UPTIME_CHECK.forceNew,
  "digitalocean:index/uptimeAlert:UptimeAlert": UPTIME_ALERT.forceNew,
  "digitalocean:index/loadBalancer:LoadBalancer": LOAD_BALANCER.forceNew,
  "digitalocean:index/databaseCluster:DatabaseCluster": DATABASE_CLUSTER.forceNew,
  "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool": DATABASE_CONNECTION_POOL.forceNew,
  "digitalocean:index/databaseFirewall:DatabaseFirewall": DATABASE_FIREWALL.forceNew,
  "digitalocean:index/dropletAutoscale:DropletAutoscale": DROPLET_AUTOSCALE.forceNew,
  "digitalocean:index/certificate:Certificate": CERTIFICATE.forceNew,
};

/** Set-typed inputs compare without order (tags also without case). */
const SET_INPUTS: Record<string, readonly string[]> = {
  "digitalocean:index/droplet:Droplet": DROPLET.setInputs,
  "digitalocean:index/certificate:Certificate": ["domains"],
};

function normalize(v: unknown, asSet: boolean, key: string): string {
  const u = unwrapSecret(v);
  if (asSet && Array.isArray(u)) {
    const items = u.map((x) => JSON.stringify(unwrapSecret(x)));
    return JSON.stringify((key === "tags" ? items.map((s) => s.toLowerCase()) : items).sort());
  }
  return JSON.stringify(u ?? null);
}

/**
 * The inputs whose change from `before` to `after` replaces the resource (empty list: updated in place).
 * Includes the droplet's `ipv6` true -> false rule.
 */
export function replacingChanges(
  token: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
): string[] {
  const keys = FORCE_NEW_INPUTS[token] ?? [];
  const sets = SET_INPUTS[token] ?? [];
  const changed = keys.filter(
    (k) => normalize(before[k], sets.includes(k), k) !== normalize(after[k], sets.includes(k), k),
  );
  if (
    token === "digitalocean:index/droplet:Droplet" &&
    unwrapSecret(before.ipv6) === true &&
    unwrapSecret(after.ipv6) !== true
  )
    changed.push("ipv6");
  return changed;
}
