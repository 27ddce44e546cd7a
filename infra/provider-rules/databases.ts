/**
 * Provider rules for managed databases: clusters, connection pools and database firewalls. Sources (TF, SDK, API,
 * GODO) and how to read them: see ./index.ts.
 */
import { TF, inRange, isInt, isIpOrCidr, list, nonEmpty, oneOf } from "./checks";
import { checkTags } from "./network";
import { isValidRegion } from "./regions";

export const DATABASE_CLUSTER = {
  source: `${TF} digitalocean/database/resource_database_cluster.go@83ebdb3cc55d9e0c4e07330153ac660b1f979108`,
  // engine: provider NoZeroValues only; API enum (API databases/models/database_cluster.yml@8a97bd73). PostgreSQL
  // is "pg", not "postgres"/"postgresql"; managed Valkey is "valkey" (Redis "redis" is being retired).
  engines: ["pg", "mysql", "redis", "valkey", "mongodb", "kafka", "opensearch"] as const,
  // version: a STRING ("16", not 16), optional in the SDK type but required by CustomizeDiff
  // (transitionVersionToRequired). Changing it runs an in-place major upgrade. storage_size_mib: also a STRING.
  // node_count: a number (NoZeroValues). Kafka must be 3 (SDK doc); upper bound 3 for the others: unconfirmed.
  versionPattern: /^[0-9]+(\.[0-9]+)?$/,
  nodeCountRange: [1, 3] as const,
  // size: provider NoZeroValues. Our checker accepts the basic families "db-s-", "db-amd-", "db-intel-"
  // (SDK `DatabaseSlug` enum, API examples); other families (gd-, so1_5-, m-…) exist but are not needed here.
  sizePattern: /^db-(s|amd|intel)-[0-9]+vcpu-[0-9]+gb$/,
  // eviction_policy values (godo databases.go EvictionPolicy* constants). The SDK doc prints them camelCased
  // (`allkeysLru`…): wrong. At this commit only engine "redis" may set it (validateExclusiveAttributes); the
  // 4.80.1 SDK doc says "for a Valkey cluster", so newer upstream extends it to valkey: unconfirmed here.
  evictionPolicies: [
    "noeviction",
    "allkeys_lru",
    "allkeys_random",
    "volatile_lru",
    "volatile_random",
    "volatile_ttl",
  ] as const,
  evictionPolicyEngines: ["redis", "valkey"] as const,
  sqlModeEngines: ["mysql"] as const,
  // maintenanceWindows[].day "monday".."sunday", hour "HH:MM" string (SDK doc).
  maintenanceDays: ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const,
  // In place: size, nodeCount, storageSizeMib (resize), region (migrate), version (upgrade), tags, eviction policy.
  forceNew: ["name", "engine", "privateNetworkUuid", "projectId"] as const,
  urnOutput: "clusterUrn",
} as const;

export function isValidDatabaseEngine(e: string): boolean {
  return (DATABASE_CLUSTER.engines as readonly string[]).includes(e);
}

export function isValidDatabaseSizeSlug(s: string): boolean {
  return DATABASE_CLUSTER.sizePattern.test(s);
}

export function checkDatabaseCluster(c: {
  engine?: unknown;
  version?: unknown;
  size?: unknown;
  region?: unknown;
  nodeCount?: unknown;
  storageSizeMib?: unknown;
  evictionPolicy?: unknown;
  sqlMode?: unknown;
  maintenanceWindows?: { day?: unknown; hour?: unknown }[];
  tags?: unknown;
}): string[] {
  const out: string[] = [];
  const D = DATABASE_CLUSTER;
  oneOf("engine", c.engine, D.engines, out);
  if (c.version === undefined)
    out.push('version: required by the provider (a string, e.g. "16" for pg, "8" for valkey)');
  else if (typeof c.version !== "string" || !D.versionPattern.test(c.version))
    out.push(`version: ${JSON.stringify(c.version)} must be a version string like "16" (not a number)`);
  if (typeof c.size !== "string" || !isValidDatabaseSizeSlug(c.size))
    out.push(`size: ${JSON.stringify(c.size)} is not a database size slug like "db-s-1vcpu-2gb"`);
  if (typeof c.region !== "string" || !isValidRegion(c.region))
    out.push(`region: ${JSON.stringify(c.region)} is not a region slug`);
  if (c.engine === "kafka" ? c.nodeCount !== 3 : !inRange(c.nodeCount, D.nodeCountRange[0], D.nodeCountRange[1])) {
    out.push(
      `nodeCount: ${JSON.stringify(c.nodeCount)} must be a number ${c.engine === "kafka" ? "equal to 3 for kafka" : `from ${D.nodeCountRange[0]} to ${D.nodeCountRange[1]}`}`,
    );
  }
  if (c.storageSizeMib !== undefined && !(typeof c.storageSizeMib === "string" && /^[0-9]+$/.test(c.storageSizeMib)))
    out.push(`storageSizeMib: ${JSON.stringify(c.storageSizeMib)} must be a string of digits (MiB), e.g. "30720"`);
  if (c.evictionPolicy !== undefined) {
    if (!(D.evictionPolicyEngines as readonly unknown[]).includes(c.engine))
      out.push(`evictionPolicy: only for engines ${list(D.evictionPolicyEngines)}`);
    oneOf("evictionPolicy", c.evictionPolicy, D.evictionPolicies, out);
  }
  if (c.sqlMode !== undefined && !(D.sqlModeEngines as readonly unknown[]).includes(c.engine))
    out.push("sqlMode: only for engine mysql");
  for (const [i, w] of (c.maintenanceWindows ?? []).entries()) {
    oneOf(`maintenanceWindows[${i}].day`, w.day, D.maintenanceDays, out);
    if (!(typeof w.hour === "string" && /^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$/.test(w.hour)))
      out.push(`maintenanceWindows[${i}].hour: ${JSON.stringify(w.hour)} must be "HH:MM" (a string, UTC)`);
  }
  checkTags("tags", c.tags, out);
  return out;
}

export const DATABASE_CONNECTION_POOL = {
  source: `${TF} digitalocean/database/resource_database_connection_pool.go@114c9d8d46d0f2ee61dab0d3b25d183b8ba499c3`,
  modes: ["session", "transaction", "statement"] as const, // StringInSlice, case-sensitive
  nameLength: [3, 63] as const, // StringLenBetween(3, 63)
  // size: a number (NoZeroValues). The resource has NO Update: changing anything, even `size`, replaces the pool
  // (clients connected through it drop).
  forceNew: ["clusterId", "name", "user", "mode", "size", "dbName"] as const,
} as const;

export function checkConnectionPool(p: { name?: unknown; mode?: unknown; size?: unknown; dbName?: unknown }): string[] {
  const out: string[] = [];
  const [lo, hi] = DATABASE_CONNECTION_POOL.nameLength;
  if (p.name !== undefined && !(typeof p.name === "string" && p.name.length >= lo && p.name.length <= hi))
    out.push(`name: must be ${lo}-${hi} characters`);
  oneOf("mode", p.mode, DATABASE_CONNECTION_POOL.modes, out);
  if (!(isInt(p.size) && p.size >= 1)) out.push(`size: ${JSON.stringify(p.size)} must be an integer >= 1 (a number)`);
  if (!nonEmpty(p.dbName)) out.push("dbName: required");
  return out;
}

export const DATABASE_FIREWALL = {
  source: `${TF} digitalocean/database/resource_database_firewall.go@83ebdb3cc55d9e0c4e07330153ac660b1f979108`,
  // rule.type StringInSlice; rule.value NoZeroValues and a STRING even for a droplet ID ("123").
  ruleTypes: ["ip_addr", "droplet", "k8s", "tag", "app"] as const,
  forceNew: ["clusterId"] as const,
} as const;

export function checkDatabaseFirewallRule(r: { type?: unknown; value?: unknown }): string[] {
  const out: string[] = [];
  oneOf("rules.type", r.type, DATABASE_FIREWALL.ruleTypes, out);
  if (!nonEmpty(r.value))
    out.push(`rules.value: ${JSON.stringify(r.value)} must be a non-empty string (droplet IDs as "123")`);
  else if (r.type === "droplet" && !/^[0-9]+$/.test(r.value))
    out.push(`rules.value: ${JSON.stringify(r.value)} must be a droplet ID for type droplet`);
  else if (r.type === "ip_addr" && !isIpOrCidr(r.value))
    out.push(`rules.value: ${JSON.stringify(r.value)} must be an IP address or CIDR for type ip_addr`);
  return out;
}
