/**
 * The alert plan: which DigitalOcean monitor alerts, uptime check and uptime alerts a stack gets, as plain values.
 *
 * DigitalOcean's monitor alerts only average over 5m, 10m, 30m or 1h, so they are the early warning for the
 * framework's rules (memory > 90 % for a day, CPU > 85 % for six hours, ...): each fires after the longest window the
 * API allows and its description points at `npm run capacity`, which decides over the real windows. Response time is
 * not a droplet metric: it comes from an uptime check on the health endpoint with a latency alert above 2000 ms and a
 * down alert.
 *
 * Enum values are the ones the provider validates (see tests/unit/alerts-provider.test.ts for the sources).
 */
import { TIERS, type TierName } from "./tiers";

export const MONITOR_WINDOWS = ["5m", "10m", "30m", "1h"] as const;
export type MonitorWindow = (typeof MONITOR_WINDOWS)[number];

export const MONITOR_TYPES = {
  cpu: "v1/insights/droplet/cpu",
  memory: "v1/insights/droplet/memory_utilization_percent",
  disk: "v1/insights/droplet/disk_utilization_percent",
  load5: "v1/insights/droplet/load_5",
  load15: "v1/insights/droplet/load_15",
} as const;

export type MonitorCompare = "GreaterThan" | "LessThan";
export type UptimeAlertType = "latency" | "down" | "down_global" | "ssl_expiry";
export type UptimeComparison = "greater_than" | "less_than";
export type UptimePeriod = "2m" | "3m" | "5m" | "10m" | "15m" | "30m" | "1h";
export type UptimeRegion = "us_east" | "us_west" | "eu_west" | "se_asia";

export interface MonitorAlertPlan {
  /** Suffix of the resource name: `${name}-${key}`. */
  key: string;
  type: (typeof MONITOR_TYPES)[keyof typeof MONITOR_TYPES];
  compare: MonitorCompare;
  value: number;
  window: MonitorWindow;
  description: string;
}

export interface UptimeAlertPlan {
  key: string;
  name: string;
  type: UptimeAlertType;
  comparison?: UptimeComparison;
  threshold?: number;
  period: UptimePeriod;
}

export interface AlertPlan {
  monitorAlerts: MonitorAlertPlan[];
  uptimeCheck: { name: string; target: string; type: "https"; regions: UptimeRegion[] };
  uptimeAlerts: UptimeAlertPlan[];
  emails: string[];
  /** Set when Slack notifications are configured (the webhook URL itself is a secret the component wires). */
  slackChannel?: string;
}

export interface AlertConfig {
  tier: TierName;
  domain: string;
  healthPath: string;
  alertEmails: string[];
  /** Whether a Slack webhook URL is configured; the channel is then required. */
  slackConfigured: boolean;
  slackChannel?: string;
}

/** Latency above which the uptime alert fires: the framework's "responses above 2 s". */
export const LATENCY_ALERT_MS = 2000;

export class AlertConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid alert configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "AlertConfigError";
  }
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;

function validate(cfg: AlertConfig): string[] {
  const problems: string[] = [];
  if (!(cfg.tier in TIERS))
    problems.push(`tier: "${cfg.tier}" is not a tier; allowed: ${Object.keys(TIERS).join(", ")}`);
  if (!HOSTNAME.test(cfg.domain))
    problems.push(`domain: "${cfg.domain}" must be a host name like chat.example.com (no scheme, no path)`);
  if (!cfg.healthPath.startsWith("/") || /\s/.test(cfg.healthPath))
    problems.push(`healthPath: "${cfg.healthPath}" must start with "/" and contain no spaces`);
  if (cfg.alertEmails.length === 0)
    problems.push("alertEmails: at least one address is required (alerts need somewhere to go)");
  cfg.alertEmails.forEach((e, i) => {
    if (!EMAIL.test(e)) problems.push(`alertEmails[${i}]: "${e}" is not an email address`);
  });
  if (cfg.slackConfigured && !cfg.slackChannel?.trim()) {
    problems.push("slackChannel: required when a Slack webhook URL is set (the provider rejects an empty channel)");
  }
  if (!cfg.slackConfigured && cfg.slackChannel)
    problems.push("slackChannel: set, but no Slack webhook URL is configured");
  return problems;
}

const CAPACITY_HINT = "run `npm run capacity -- --host <droplet>` for the verdict over the full window";

/** The alert plan for a stack. Throws an AlertConfigError naming every bad field. */
export function planAlerts(cfg: AlertConfig): AlertPlan {
  const problems = validate(cfg);
  if (problems.length > 0) throw new AlertConfigError(problems);
  const vcpus = TIERS[cfg.tier].vcpus;
  const monitorAlerts: MonitorAlertPlan[] = [
    {
      key: "memory-critical",
      type: MONITOR_TYPES.memory,
      compare: "GreaterThan",
      value: 90,
      window: "1h",
      description: `Memory above 90% for 1h (upgrade now if it lasts 24h; ${CAPACITY_HINT})`,
    },
    {
      key: "memory-warning",
      type: MONITOR_TYPES.memory,
      compare: "GreaterThan",
      value: 80,
      window: "1h",
      description: `Memory above 80% for 1h (plan an upgrade if it lasts 7 days; ${CAPACITY_HINT})`,
    },
    {
      key: "cpu-high",
      type: MONITOR_TYPES.cpu,
      compare: "GreaterThan",
      value: 85,
      window: "1h",
      description: `CPU above 85% for 1h (upgrade now if it lasts 6h; ${CAPACITY_HINT})`,
    },
    {
      key: "disk-high",
      type: MONITOR_TYPES.disk,
      compare: "GreaterThan",
      value: 85,
      window: "30m",
      description:
        "Disk above 85% for 30m: prune images and logs (chatbot-cleanup), check backup retention, or grow the volume",
    },
    {
      key: "load-high",
      type: MONITOR_TYPES.load15,
      compare: "GreaterThan",
      value: vcpus,
      window: "1h",
      description: `15-minute load above ${vcpus} (the tier's vCPUs) for 1h: work is queuing for the CPU`,
    },
  ];
  return {
    monitorAlerts,
    uptimeCheck: {
      name: `${cfg.domain} health`,
      target: `https://${cfg.domain}${cfg.healthPath}`,
      type: "https",
      regions: ["us_east", "us_west", "eu_west", "se_asia"],
    },
    uptimeAlerts: [
      {
        key: "latency",
        name: `${cfg.domain} slower than ${LATENCY_ALERT_MS} ms`,
        type: "latency",
        comparison: "greater_than",
        threshold: LATENCY_ALERT_MS,
        period: "5m",
      },
      { key: "down", name: `${cfg.domain} is down`, type: "down", period: "2m" },
    ],
    emails: [...cfg.alertEmails],
    ...(cfg.slackConfigured ? { slackChannel: cfg.slackChannel!.trim() } : {}),
  };
}

/**
 * A droplet id as monitor alert `entities` want it: the decimal id as a string (the provider's schema is a set of
 * strings, while droplet-id inputs elsewhere are numbers). Rejects anything that is not a droplet id.
 */
export function dropletEntityId(id: string | number): string {
  const text = String(id).trim();
  if (!/^[1-9]\d*$/.test(text)) throw new Error(`dropletIds: "${id}" is not a droplet id (a positive integer)`);
  return text;
}
