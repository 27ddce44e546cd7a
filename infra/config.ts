/**
 * The stack config: one zod schema, parsed once, every problem reported at once with its `<project>:<key>` path.
 *
 * Values arrive the way Pulumi stores them: strings (numbers, booleans and lists as their YAML/JSON text) or already
 * parsed values when a caller has them. Secret keys are never parsed here: planning only needs to know whether a
 * secret is set, never its plain value, so a stack file holding `secure:` values plans offline.
 */
import { z } from "zod";
import { isValidVolumeName, REGION_SLUGS, REGIONS } from "./provider-rules";
import { SCALE_OUT, STACK_TIERS, type StackTier, TIER_NAMES, type TierName } from "./tiers";

export const PROJECT = "chatbot";

/**
 * Keys whose values are secrets: only their presence is checked; the program reads them with `getSecret`. Pulumi.yaml
 * declares them `secret: true` with their descriptions (in `template.config`: a test keeps both lists equal).
 */
export const SECRET_KEYS = ["sshPrivateKey", "postgresPassword", "redisPassword", "slackWebhookUrl"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/** Stacks named like this are prod unless `environment` says otherwise (the policy pack uses the same default). */
export const PROD_STACK_PATTERN = /^prod(-|$)/;

const PRIVATE_RANGES = ["10.", "172.", "192.168."];

/** Regions known to take new droplets, and those the sources could not settle (infra/provider-rules/regions.ts). */
function isRegionForNewStacks(slug: string): boolean {
  return Object.prototype.hasOwnProperty.call(REGIONS, slug) && REGIONS[slug as keyof typeof REGIONS].newDroplets !== "restricted";
}

const json = <T extends z.ZodType>(schema: T) =>
  z.preprocess((value) => {
    if (typeof value !== "string") return value;
    try {
      return JSON.parse(value);
    } catch {
      return value; // left as a string: the inner schema reports the type error with the key
    }
  }, schema);

const intIn = (min: number, max: number) =>
  json(z.number({ error: `must be a whole number from ${min} to ${max}` }).int(`must be a whole number from ${min} to ${max}`).min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

const bool = () => json(z.boolean({ error: "must be true or false" }));

const list = <T extends z.ZodType>(item: T) => json(z.array(item, { error: "must be a list (YAML or JSON)" }));

const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: "must be an IPv4 or IPv6 CIDR such as 203.0.113.7/32" });

const sshKey = z
  .string()
  .regex(
    /^(\d+|([0-9a-f]{2}:){15}[0-9a-f]{2})$/,
    "each entry must be a DigitalOcean SSH key id (digits) or an MD5 fingerprint (aa:bb:...:ff)",
  );

const imageRef = z
  .string()
  .regex(
    /^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$/,
    "must be an image reference with a tag or digest, such as ghcr.io/acme/chatbot:1.4.2",
  );

const envEntry = z
  .string()
  .regex(/^[A-Z_][A-Z0-9_]*=.*$/, "each entry must be NAME=value with NAME in upper case (A-Z, 0-9, _)");

/** Names the app's environment may not override: the stack sets them from tuning and secrets. */
export const RESERVED_APP_ENV = ["DATABASE_URL", "REDIS_URL", "PORT", "WEB_CONCURRENCY", "DB_POOL_SIZE", "DB_MAX_OVERFLOW"];

export const configSchema = z.object({
  tier: z.enum(STACK_TIERS as [StackTier, ...StackTier[]], { error: `must be one of ${STACK_TIERS.join(", ")}` }).default("4gb"),
  environment: z.enum(["dev", "prod"], { error: "must be dev or prod" }).optional(),
  region: z
    .string()
    .refine(isRegionForNewStacks, {
      error: `must be a DigitalOcean region slug open to new droplets: ${REGION_SLUGS.filter(isRegionForNewStacks).join(", ")}`,
    })
    .default("nyc3"),
  domain: z.hostname({ error: "must be a host name such as chat.example.com" }).refine((d) => d.includes("."), {
    error: "must be a fully qualified host name such as chat.example.com",
  }),
  dnsZone: z.hostname({ error: "must be a DNS zone such as example.com" }).optional(),
  manageDnsZone: bool().default(true),
  dnsTtlSeconds: intIn(30, 86400).default(300),
  sshKeys: list(sshKey).refine((keys) => keys.length > 0, { error: "must list at least one SSH key" }),
  sshAllowedCidrs: list(cidr).refine((c) => c.length > 0, {
    error: "must list at least one CIDR (the addresses `pulumi up` and operators connect from)",
  }),
  sshUser: z.string().regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name").default("root"),
  appImage: imageRef,
  appPort: intIn(1024, 65535)
    .refine((p) => ![5432, 6379, 2019].includes(p), { error: "must not be 5432, 6379 or 2019 (used by PostgreSQL, Redis and Caddy)" })
    .default(8090),
  healthPath: z.string().regex(/^\/[A-Za-z0-9._~\/-]*$/, "must be a URL path starting with /").default("/health"),
  appEnv: list(envEntry)
    .refine((entries) => entries.every((e) => !RESERVED_APP_ENV.includes(e.split("=")[0]!)), {
      error: `must not set ${RESERVED_APP_ENV.join(", ")} (the stack sets them)`,
    })
    .default([]),
  dbPoolSize: intIn(1, 100).default(5),
  dbMaxOverflow: intIn(0, 100).default(5),
  volumeSizeGiB: intIn(10, 16384).default(20),
  backups: z.enum(["none", "weekly", "daily"], { error: "must be none, weekly or daily" }).default("weekly"),
  downtimeBudgetSeconds: intIn(1, 3600).default(300),
  migrationBudgetMinutes: intIn(1, 1440).default(30),
  alertEmails: list(z.email({ error: "each entry must be an email address" })).default([]),
  acmeEmail: z.email({ error: "must be an email address" }).optional(),
  slackChannel: z.string().regex(/^#[a-z0-9_-]+$/, "must be a channel name such as #alerts").optional(),
  trafficSwitch: z.enum(["reserved-ip", "dns"], { error: "must be reserved-ip or dns" }).default("reserved-ip"),
  previousTier: z.enum(TIER_NAMES as [TierName, ...TierName[]], { error: `must be one of ${TIER_NAMES.join(", ")} (the tier being migrated from)` }).optional(),
  previousTierRetainUntil: z.iso.datetime({ offset: true, error: "must be an ISO 8601 time such as 2026-12-01T12:00:00Z" }).optional(),
  previousTierRetainHours: intIn(0, 8760).default(24),
  allowDataLoss: bool().default(false),
  migrationStrategy: z.enum(["auto", "replicate", "dump-restore"], { error: "must be auto, replicate or dump-restore" }).default("auto"),
  appCount: intIn(2, 20).default(2),
  appDropletSize: z.string().regex(/^s-\d+vcpu-\d+gb$/, "must be a Basic droplet slug such as s-2vcpu-4gb").default("s-2vcpu-4gb"),
  dbSize: z.string().regex(/^db-s-\d+vcpu-\d+gb$/, "must be a managed database size slug such as db-s-2vcpu-4gb").default("db-s-2vcpu-4gb"),
  dbNodeCount: intIn(1, 3).default(1),
  valkeySize: z.string().regex(/^db-s-\d+vcpu-\d+gb$/, "must be a managed database size slug such as db-s-1vcpu-2gb").default("db-s-1vcpu-2gb"),
  vpcIpRange: z
    .cidrv4({ error: "must be an IPv4 CIDR" })
    .refine((c) => PRIVATE_RANGES.some((p) => c.startsWith(p)), { error: "must be a private range (10/8, 172.16/12, 192.168/16)" })
    .optional(),
});

export type ConfigKey = keyof typeof configSchema.shape;
export const CONFIG_KEYS = Object.keys(configSchema.shape) as ConfigKey[];

type Parsed = z.infer<typeof configSchema>;

export interface StackConfig extends Omit<Parsed, "environment" | "dnsZone" | "acmeEmail"> {
  project: string;
  stack: string;
  environment: "dev" | "prod";
  dnsZone: string;
  /** The record name inside the zone: "@" for the apex. */
  dnsRecordName: string;
  acmeEmail: string | undefined;
  /** Which secret keys are set. Their values never pass through planning. */
  secrets: Record<SecretKey, boolean>;
  /** Stateful resources (volume, reserved IP, DNS zone) are protected from deletion. */
  protectStateful: boolean;
}

export interface ConfigIssue {
  key: string; // "<project>:<key>"
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(`Invalid stack config (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` + issues.map((i) => `  ${i.key}: ${i.message}`).join("\n"));
    this.name = "ConfigError";
  }
}

export interface RawConfig {
  /** Plain values by key (without the project prefix). */
  values: Record<string, unknown>;
  /** Secret keys that are set, by key (without the project prefix). */
  secretKeys: ReadonlySet<string>;
}

/** Parse and check the whole config; throws one ConfigError listing every problem. */
export function parseConfig(raw: RawConfig, ctx: { project?: string; stack: string }): StackConfig {
  const project = ctx.project ?? PROJECT;
  const issues: ConfigIssue[] = [];
  const keyOf = (k: string) => `${project}:${k}`;

  // Resource names derive from <project>-<stack>; volume names are the strictest (lowercase, start with a letter).
  if (!isValidVolumeName(`${project}-${ctx.stack}-16gb-data`)) {
    issues.push({ key: "stack", message: `name "${ctx.stack}" must be lowercase letters, digits and hyphens (it names droplets and volumes)` });
  }
  const known = new Set<string>([...CONFIG_KEYS, ...SECRET_KEYS]);
  for (const k of Object.keys(raw.values)) {
    if (!known.has(k)) issues.push({ key: keyOf(k), message: `unknown key; known keys: ${[...known].sort().join(", ")}` });
  }
  for (const k of SECRET_KEYS) {
    if (raw.values[k] !== undefined && !raw.secretKeys.has(k)) {
      issues.push({ key: keyOf(k), message: `is a secret: set it with \`pulumi config set --secret ${k}\`` });
    }
  }

  // Pulumi.yaml declares optional keys with an empty default ("" means unset: derive it).
  const values = Object.fromEntries(
    Object.entries(raw.values).filter(([k, v]) => (CONFIG_KEYS as string[]).includes(k) && v !== "" && v !== undefined),
  );
  const result = configSchema.safeParse(values);
  if (!result.success) {
    for (const issue of result.error.issues) {
      const [first, ...rest] = issue.path;
      const message = values[String(first)] === undefined ? "is required" : issue.message;
      const where = rest.length ? ` (entry ${rest.join(".")})` : "";
      issues.push({ key: keyOf(String(first ?? "")), message: message + where });
    }
  }
  if (!result.success) throw new ConfigError(issues);

  const c = result.data;
  const environment = c.environment ?? (PROD_STACK_PATTERN.test(ctx.stack) ? "prod" : "dev");
  const dnsZone = c.dnsZone ?? c.domain.split(".").slice(-2).join(".");
  if (c.domain !== dnsZone && !c.domain.endsWith(`.${dnsZone}`)) {
    issues.push({ key: keyOf("dnsZone"), message: `must be ${c.domain} or a parent of it` });
  }
  if (c.slackChannel !== undefined && !raw.secretKeys.has("slackWebhookUrl")) {
    issues.push({ key: keyOf("slackWebhookUrl"), message: "must be set (as a secret) when slackChannel is set" });
  }
  if (c.previousTier !== undefined) {
    if (c.tier === SCALE_OUT && c.previousTier !== TIER_NAMES[TIER_NAMES.length - 1]) {
      issues.push({ key: keyOf("previousTier"), message: `must be ${TIER_NAMES[TIER_NAMES.length - 1]} to move onto scale-out (the largest single droplet; migrate up to it first)` });
    }
    if (c.previousTier === c.tier) issues.push({ key: keyOf("previousTier"), message: `must differ from tier (${c.tier}): it names the server being migrated from` });
    if (c.previousTierRetainUntil === undefined) {
      issues.push({ key: keyOf("previousTierRetainUntil"), message: "must be set with previousTier: until when the old server is kept as the rollback target" });
    }
  } else if (c.previousTierRetainUntil !== undefined) {
    issues.push({ key: keyOf("previousTierRetainUntil"), message: "is only meaningful with previousTier" });
  }
  if (environment === "prod") {
    const open = c.sshAllowedCidrs.filter((r) => r.endsWith("/0"));
    if (open.length) issues.push({ key: keyOf("sshAllowedCidrs"), message: `must not open SSH to the world in prod (${open.join(", ")})` });
    if (c.backups === "none") issues.push({ key: keyOf("backups"), message: "must be weekly or daily in prod" });
    if (c.alertEmails.length === 0) issues.push({ key: keyOf("alertEmails"), message: "must list at least one address in prod" });
    if (c.allowDataLoss) issues.push({ key: keyOf("allowDataLoss"), message: "must be false in prod: data volumes are never dropped or replaced there" });
    if (c.tier === SCALE_OUT && c.dbNodeCount < 2) issues.push({ key: keyOf("dbNodeCount"), message: "must be at least 2 in prod (a primary and a standby)" });
    if (/:latest$/.test(c.appImage)) issues.push({ key: keyOf("appImage"), message: "must be pinned to a version or digest in prod, not :latest" });
  }
  if (issues.length) throw new ConfigError(issues);

  const secrets = Object.fromEntries(SECRET_KEYS.map((k) => [k, raw.secretKeys.has(k)])) as Record<SecretKey, boolean>;
  const dnsRecordName = c.domain === dnsZone ? "@" : c.domain.slice(0, -(dnsZone.length + 1));
  return {
    ...c,
    project,
    stack: ctx.stack,
    environment,
    dnsZone,
    dnsRecordName,
    acmeEmail: c.acmeEmail ?? c.alertEmails[0],
    secrets,
    protectStateful: environment === "prod",
  };
}
