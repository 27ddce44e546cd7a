/**
 * Provider rules for monitoring: monitor alerts, uptime checks and uptime alerts. Sources (TF, SDK, API, GODO) and
 * how to read them: see ./index.ts.
 */
import { TF, isInt, nonEmpty, oneOf } from "./checks";
import { checkTags } from "./network";

export const MONITOR_ALERT = {
  source: `${TF} digitalocean/monitoring/resource_monitor_alert.go@95da01c190354c0d9955736d058e4f5fb9811a06; values: digitalocean/godo monitoring.go`,
  // StringInSlice of godo constants (case-sensitive). Droplet metrics have no HTTP latency.
  types: [
    "v1/insights/droplet/cpu",
    "v1/insights/droplet/memory_utilization_percent",
    "v1/insights/droplet/disk_utilization_percent",
    "v1/insights/droplet/public_outbound_bandwidth",
    "v1/insights/droplet/public_inbound_bandwidth",
    "v1/insights/droplet/private_outbound_bandwidth",
    "v1/insights/droplet/private_inbound_bandwidth",
    "v1/insights/droplet/disk_read",
    "v1/insights/droplet/disk_write",
    "v1/insights/droplet/load_1",
    "v1/insights/droplet/load_5",
    "v1/insights/droplet/load_15",
    "v1/insights/lbaas/avg_cpu_utilization_percent",
    "v1/insights/lbaas/connection_utilization_percent",
    "v1/insights/lbaas/droplet_health",
    "v1/insights/lbaas/tls_connections_per_second_utilization_percent",
    "v1/insights/lbaas/increase_in_http_error_rate_percentage_5xx",
    "v1/insights/lbaas/increase_in_http_error_rate_percentage_4xx",
    "v1/insights/lbaas/increase_in_http_error_rate_count_5xx",
    "v1/insights/lbaas/increase_in_http_error_rate_count_4xx",
    "v1/insights/lbaas/high_http_request_response_time",
    "v1/insights/lbaas/high_http_request_response_time_50p",
    "v1/insights/lbaas/high_http_request_response_time_95p",
    "v1/insights/lbaas/high_http_request_response_time_99p",
    "v1/dbaas/alerts/load_15_alerts",
    "v1/dbaas/alerts/memory_utilization_alerts",
    "v1/dbaas/alerts/disk_utilization_alerts",
    "v1/dbaas/alerts/cpu_alerts",
  ] as const,
  // PascalCase here (godo.GreaterThan/LessThan), snake_case on UptimeAlert: the two resources differ.
  compares: ["GreaterThan", "LessThan"] as const,
  windows: ["5m", "10m", "30m", "1h"] as const,
  // value: TypeFloat, FloatAtLeast(0). entities: a set of STRINGS (droplet IDs as "123"), MinItems 1 when set,
  // while firewall/LB droplet IDs are numbers. alerts: MaxItems 1; slack channel and url non-empty.
  // description: required. Everything updates in place.
  valueMin: 0,
  forceNew: [] as const,
} as const;

export function isValidMonitorAlertType(t: string): boolean {
  return (MONITOR_ALERT.types as readonly string[]).includes(t);
}

export function checkMonitorAlert(a: {
  type?: unknown;
  compare?: unknown;
  window?: unknown;
  value?: unknown;
  entities?: unknown;
  description?: unknown;
  tags?: unknown;
}): string[] {
  const out: string[] = [];
  oneOf("type", a.type, MONITOR_ALERT.types, out);
  oneOf("compare", a.compare, MONITOR_ALERT.compares, out);
  oneOf("window", a.window, MONITOR_ALERT.windows, out);
  if (!(typeof a.value === "number" && Number.isFinite(a.value) && a.value >= MONITOR_ALERT.valueMin))
    out.push(`value: ${JSON.stringify(a.value)} must be a number >= 0`);
  if (!nonEmpty(a.description)) out.push("description: required");
  if (a.entities !== undefined) {
    if (!Array.isArray(a.entities) || a.entities.length === 0)
      out.push("entities: when set, a non-empty list of droplet IDs as strings");
    else
      for (const e of a.entities)
        if (typeof e !== "string")
          out.push(`entities: ${JSON.stringify(e)} must be a string (droplet IDs are strings here: droplet.id)`);
  }
  checkTags("tags", a.tags, out);
  return out;
}

export const UPTIME_CHECK = {
  source: `${TF} digitalocean/uptime/resource_uptime_check.go@48a186e13afce5f01a88ccb4ea531b78b3fbc820`,
  types: ["ping", "http", "https"] as const, // StringInSlice; default "https"
  // regions: not validated by the provider. TF docs (and the API's state keys, godo PR #593 review) spell them
  // with underscores; the SDK doc prints "usEast", "usWest", "euWest", "seAsia" (camelCased by the doc
  // generator: wrong) and the OpenAPI spec (uptime/models/check.yml@444d4acd) lists us-east, us-west, eu-east,
  // eu-west. Which spelling the create API accepts is unconfirmed; the underscore one is what TF users send.
  regions: ["us_east", "us_west", "eu_west", "se_asia"] as const,
  forceNew: [] as const,
} as const;

export const UPTIME_ALERT = {
  source: `${TF} digitalocean/uptime/resource_uptime_alert.go@034b61f3c7a928cf4b62abcff6c2b26298144799`,
  // The SDK doc says `downGlobal`, `sslExpiry`, `greaterThan`, `lessThan`: the provider accepts only snake_case.
  types: ["latency", "down", "down_global", "ssl_expiry"] as const,
  comparisons: ["greater_than", "less_than"] as const,
  // A different set from MonitorAlert windows (5m, 10m, 30m, 1h).
  periods: ["2m", "3m", "5m", "10m", "15m", "30m", "1h"] as const,
  // threshold: TypeInt (latency in ms, ssl_expiry in days: unit per type unconfirmed). check_id is NOT ForceNew.
  forceNew: [] as const,
} as const;

export function checkUptimeCheck(c: { type?: unknown; target?: unknown; regions?: unknown }): string[] {
  const out: string[] = [];
  if (c.type !== undefined) oneOf("type", c.type, UPTIME_CHECK.types, out);
  if (!nonEmpty(c.target)) out.push("target: required (the URL or host to check)");
  if (c.regions !== undefined) {
    if (!Array.isArray(c.regions)) out.push("regions: must be a list");
    else for (const r of c.regions) oneOf("regions", r, UPTIME_CHECK.regions, out);
  }
  return out;
}

export function checkUptimeAlert(a: {
  type?: unknown;
  comparison?: unknown;
  period?: unknown;
  threshold?: unknown;
}): string[] {
  const out: string[] = [];
  oneOf("type", a.type, UPTIME_ALERT.types, out);
  if (a.comparison !== undefined) oneOf("comparison", a.comparison, UPTIME_ALERT.comparisons, out);
  if (a.period !== undefined) oneOf("period", a.period, UPTIME_ALERT.periods, out);
  if (a.threshold !== undefined && !(isInt(a.threshold) && a.threshold >= 0))
    out.push(`threshold: ${JSON.stringify(a.threshold)} must be a non-negative integer`);
  return out;
}
