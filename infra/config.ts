/**
 * The stack config: one zod schema, parsed once, every problem reported at once with its `<project>:<key>` path.
 *
 * Values arrive the way Pulumi stores them: strings (numbers, booleans and lists as their YAML/JSON text) or already
 * parsed values when a caller has them. Secret keys are never parsed here: planning only needs to know whether a
 * secret is set, never its plain value, so a stack file holding `secure:` values plans offline.
 */
import { z } from "zod";
import { isValidVolumeName, REGION_SLUGS, REGIONS } from "./provider-rules";
import {
  appEnvDuplicates,
  appEnvEntryProblem,
  connectionsWarning,
  dnsZoneOf,
  type KeyStorage,
  unknownKeyMessage,
  otherNamespaceIssues,
  vpcIpRangeProblem,
} from "./config-checks";
import { prodSshAllowlistProblems } from "./ssh-allowlist";
import { SCALE_OUT, STACK_TIERS, type StackTier, TIER_NAMES, type TierName } from "./tiers";

export { countAddresses, PROD_SSH_LIMITS, prodSshAllowlistProblems } from "./ssh-allowlist";

export const PROJECT = "chatbot";

/**
 * Keys whose values are secrets: only their presence is checked; the program reads them with `getSecret`. Pulumi.yaml
 * declares them `secret: true` with their descriptions (in `template.config`: a test keeps both lists equal).
 */
export const SECRET_KEYS = ["sshPrivateKey", "postgresPassword", "redisPassword", "slackWebhookUrl"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

/**
 * The stack's own passwords, set in config or generated, and where they go as written, with no quoting around them:
 *   - app.env (render/app-env.ts), a docker compose `env_file`. Compose reads it with a dotenv parser, not a shell, and
 *     that parser changes a value: it drops quotes around it and the spaces around it, cuts an unquoted value at ` #`
 *     (older compose-go releases at any `#`), and interpolates `${VAR}` in it (compose v2 also `$VAR`). Sources:
 *     docs.docker.com/compose/env-file/ ("Syntax for environment files in Docker Compose"),
 *     compose-spec/compose-go dotenv/parser.go (extractVarValue) and godotenv.go (ExpandVariables, through
 *     template.Substitute). Measured here with docker-compose 1.29 (python-dotenv): `'q'` gives q, `a #b` gives a,
 *     `x ` gives x, `${X:-y}` gives y.
 *   - the Redis include (render/redis-conf.ts): `requirepass <password>` and `masterauth <password>`. Redis splits a
 *     config line at spaces and reads quotes, with backslash escapes inside double quotes
 *     (redis.io/docs/latest/operate/oss_and_stack/management/config/; src/sds.c sdssplitargs). Measured with
 *     redis-server 7.0.15: a space fails with "wrong number of arguments", a lone quote with "Unbalanced quotes", and
 *     a quoted or space-terminated password starts a server whose password is something else (AUTH with the
 *     configured string fails).
 *   - the droplet scripts, which read app.env as KEY=value lines (the rest of the line after the first `=`): a newline
 *     would end the value.
 *   - the tools, which get it in their environment (PGPASSWORD, REDISCLI_AUTH, the postgres image's POSTGRES_PASSWORD),
 *     and REDIS_URL, which holds it percent-encoded: they take it as it is. No libpq connection string is built from it.
 * So rather than quoting for each consumer (compose and Redis quote differently, and the scripts would have to
 * unquote), a password keeps to what all of them carry unchanged: printable ASCII without space, quotes, backtick,
 * backslash, `$` or `#`. At least 16 characters: Redis answers about a million guesses a second (redis.conf's SECURITY
 * section), and these are machine secrets nobody types. Generated passwords fit (components/secrets.ts: RandomPassword
 * with special: false, 32 characters of A-Z a-z 0-9: hashicorp/terraform-provider-random's upper, lower and numeric
 * sets; its default special set holds # and $).
 */
export const PASSWORD_KEYS = ["postgresPassword", "redisPassword"] as const satisfies readonly SecretKey[];
export type PasswordKey = (typeof PASSWORD_KEYS)[number];
export const PASSWORD_MIN_LENGTH = 16;
export const PASSWORD_CHARACTERS = "A-Z a-z 0-9 ! % & ( ) * + , - . / : ; < = > ? @ [ ] ^ _ { | } ~";
const PASSWORD_CHARACTER = /^[A-Za-z0-9!%&()*+,\-./:;<=>?@[\]^_{|}~]$/;

/** The characters of a password that app.env, the Redis include or the scripts cannot carry unchanged, each once. */
export function unsafePasswordCharacters(password: string): string[] {
  return [...new Set([...password].filter((c) => !PASSWORD_CHARACTER.test(c)))];
}

/** What is wrong with a password set in config (undefined: nothing). It names characters, never the password. */
export function passwordProblem(password: string): string | undefined {
  const length = [...password].length;
  const unsafe = unsafePasswordCharacters(password);
  const found = [
    ...(length < PASSWORD_MIN_LENGTH ? [`it has ${length} character${length === 1 ? "" : "s"}`] : []),
    ...(unsafe.length ? [`it holds ${unsafe.map((c) => JSON.stringify(c)).join(", ")}`] : []),
  ];
  if (!found.length) return undefined;
  return `must be at least ${PASSWORD_MIN_LENGTH} characters of ${PASSWORD_CHARACTERS} (no spaces, quotes, backslash, $ or #: it is written unquoted into app.env for docker compose and into Redis' requirepass line); ${found.join(" and ")}`;
}

/** For the renderers: throws, naming the value, when it holds a character its file cannot carry unchanged. */
export function assertPasswordCharacters(name: string, password: string): void {
  const unsafe = unsafePasswordCharacters(password);
  if (unsafe.length)
    throw new Error(
      `${name}: holds ${unsafe.map((c) => JSON.stringify(c)).join(", ")}; a password may hold only ${PASSWORD_CHARACTERS}`,
    );
}

/** Stacks named like this are prod unless `environment` says otherwise (the policy pack uses the same default). */
export const PROD_STACK_PATTERN = /^prod(-|$)/;

/** Regions known to take new droplets, and those the sources could not settle (infra/provider-rules/regions.ts). */
function isRegionForNewStacks(slug: string): boolean {
  return Object.hasOwn(REGIONS, slug) && REGIONS[slug as keyof typeof REGIONS].newDroplets !== "restricted";
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
  json(
    z
      .number({ error: `must be a whole number from ${min} to ${max}` })
      .int(`must be a whole number from ${min} to ${max}`)
      .min(min, `must be at least ${min}`)
      .max(max, `must be at most ${max}`),
  );

const bool = () => json(z.boolean({ error: "must be true or false" }));

const list = <T extends z.ZodType>(item: T) => json(z.array(item, { error: "must be a list (YAML or JSON)" }));

const cidr = z.union([z.cidrv4(), z.cidrv6()], { error: "must be an IPv4 or IPv6 CIDR such as 203.0.113.7/32" });

const sshKey = z
  .string()
  .regex(
    /^(\d+|([0-9a-f]{2}:){15}[0-9a-f]{2})$/,
    "each entry must be a DigitalOcean SSH key id (digits) or an MD5 fingerprint (aa:bb:...:ff)",
  );

/** `name[:tag][@sha256:<64 hex>]`, at least a tag or a digest. With both, the digest decides what runs. */
const IMAGE_REF =
  /^[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(\/[a-z0-9]+([._-][a-z0-9]+)*)*(:[\w][\w.-]{0,127}(@sha256:[0-9a-f]{64})?|@sha256:[0-9a-f]{64})$/;
const IMAGE_DIGEST = /@sha256:[0-9a-f]{64}$/;

const imageRef = z.string().superRefine((image, ctx) => {
  if (IMAGE_REF.test(image)) return;
  ctx.addIssue({
    code: "custom",
    message: image.includes("@")
      ? "the digest must be sha256: and 64 lowercase hex digits, such as ghcr.io/acme/chatbot:1.4.2@sha256:<digest>"
      : "must be an image reference with a tag or digest, such as ghcr.io/acme/chatbot:1.4.2 or ghcr.io/acme/chatbot:1.4.2@sha256:<digest>",
  });
});

/**
 * Host names as every later consumer takes them (the day-2 renderer, the scale-out plan, DigitalOcean DNS, Caddy):
 * lowercase labels of letters, digits and inner hyphens, a letter TLD, no trailing dot. zod's hostname() alone
 * accepts "chat.example.com.", upper case and IP addresses, which then failed during planning without the key.
 */
export const HOST_NAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/;

const hostName = (example: string) =>
  z.string().superRefine((name, ctx) => {
    const problem = name.endsWith(".")
      ? `must not end with a dot: write ${name.replace(/\.+$/, "") || example}`
      : /[A-Z]/.test(name)
        ? `must be lowercase, such as ${name.toLowerCase()}`
        : HOST_NAME.test(name)
          ? undefined
          : `must be a fully qualified host name such as ${example} (letters, digits and hyphens, a letter TLD)`;
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });

/** Strict-Transport-Security max-age ceiling: two years, the value hstspreload.org asks for; longer adds nothing. */
export const HSTS_MAX_AGE_LIMIT = 63072000;

const envEntry = z.string().superRefine((entry, ctx) => {
  const problem =
    appEnvEntryProblem(entry) ??
    (/^[A-Z_][A-Z0-9_]*=/.test(entry)
      ? undefined
      : "each entry must be NAME=value with NAME in upper case (A-Z, 0-9, _)");
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Names the app's environment may not override: the stack sets them from tuning and secrets. */
export const RESERVED_APP_ENV = [
  "DATABASE_URL",
  "REDIS_URL",
  "PORT",
  "WEB_CONCURRENCY",
  "DB_POOL_SIZE",
  "DB_MAX_OVERFLOW",
];

export const configSchema = z.object({
  tier: z
    .enum(STACK_TIERS as [StackTier, ...StackTier[]], { error: `must be one of ${STACK_TIERS.join(", ")}` })
    .default("4gb"),
  environment: z.enum(["dev", "prod"], { error: "must be dev or prod" }).optional(),
  region: z
    .string()
    .refine(isRegionForNewStacks, {
      error: `must be a DigitalOcean region slug open to new droplets: ${REGION_SLUGS.filter(isRegionForNewStacks).join(", ")}`,
    })
    .default("nyc3"),
  domain: hostName("chat.example.com"),
  dnsZone: hostName("example.com").optional(),
  manageDnsZone: bool().default(true),
  dnsTtlSeconds: intIn(30, 86400).default(300),
  sshKeys: list(sshKey).refine((keys) => keys.length > 0, { error: "must list at least one SSH key" }),
  sshAllowedCidrs: list(cidr).refine((c) => c.length > 0, {
    error: "must list at least one CIDR (the addresses `pulumi up` and operators connect from)",
  }),
  sshUser: z
    .string()
    .regex(/^[a-z_][a-z0-9_-]*$/, "must be a Unix user name")
    .default("root"),
  appImage: imageRef,
  appPort: intIn(1024, 65535)
    .refine((p) => ![5432, 6379, 2019].includes(p), {
      error: "must not be 5432, 6379 or 2019 (used by PostgreSQL, Redis and Caddy)",
    })
    .default(8090),
  healthPath: z
    .string()
    .regex(/^\/[A-Za-z0-9._~/-]*$/, "must be a URL path starting with /")
    .default("/health"),
  appEnv: list(envEntry)
    .refine((entries) => entries.every((e) => !RESERVED_APP_ENV.includes(e.split("=")[0]!)), {
      error: `must not set ${RESERVED_APP_ENV.join(", ")} (the stack sets them)`,
    })
    .superRefine((entries, ctx) => {
      for (const d of appEnvDuplicates(entries)) ctx.addIssue({ code: "custom", message: d.message, path: [d.index] });
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
  slackChannel: z
    .string()
    .regex(/^#[a-z0-9_-]+$/, "must be a channel name such as #alerts")
    .optional(),
  trafficSwitch: z.enum(["reserved-ip", "dns"], { error: "must be reserved-ip or dns" }).default("reserved-ip"),
  previousTier: z
    .enum(TIER_NAMES as [TierName, ...TierName[]], {
      error: `must be one of ${TIER_NAMES.join(", ")} (the tier being migrated from)`,
    })
    .optional(),
  previousTierRetainUntil: z.iso
    .datetime({ offset: true, error: "must be an ISO 8601 time such as 2026-12-01T12:00:00Z" })
    .optional(),
  previousTierRetainHours: intIn(0, 8760).default(24),
  allowDataLoss: bool().default(false),
  migrationStrategy: z
    .enum(["auto", "replicate", "dump-restore"], { error: "must be auto, replicate or dump-restore" })
    .default("auto"),
  appCount: intIn(2, 20).default(2),
  appDropletSize: z
    .string()
    .regex(/^s-\d+vcpu-\d+gb$/, "must be a Basic droplet slug such as s-2vcpu-4gb")
    .default("s-2vcpu-4gb"),
  dbSize: z
    .string()
    .regex(/^db-s-\d+vcpu-\d+gb$/, "must be a managed database size slug such as db-s-2vcpu-4gb")
    .default("db-s-2vcpu-4gb"),
  dbNodeCount: intIn(1, 3).default(1),
  valkeySize: z
    .string()
    .regex(/^db-s-\d+vcpu-\d+gb$/, "must be a managed database size slug such as db-s-1vcpu-2gb")
    .default("db-s-1vcpu-2gb"),
  vpcIpRange: z
    .cidrv4({ error: "must be an IPv4 CIDR such as 10.10.10.0/24" })
    .superRefine((cidr, ctx) => {
      const problem = vpcIpRangeProblem(cidr);
      if (problem) ctx.addIssue({ code: "custom", message: problem });
    })
    .optional(),
  hstsMaxAgeSeconds: intIn(0, HSTS_MAX_AGE_LIMIT).default(31536000),
  allowDevOnProdStack: bool().default(false),
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
  /** What the program prints as warnings on every plan and `pulumi up` (the config is valid, but risky). */
  warnings: string[];
}

export interface ConfigIssue {
  key: string; // "<project>:<key>"
  message: string;
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[]) {
    super(
      `Invalid stack config (${issues.length} problem${issues.length === 1 ? "" : "s"}):\n` +
        issues.map((i) => `  ${i.key}: ${i.message}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

export interface RawConfig {
  /** Plain values by key (without the project prefix). */
  values: Record<string, unknown>;
  /** Secret keys that are set, by key (without the project prefix). */
  secretKeys: ReadonlySet<string>;
  /**
   * The plain values of the password keys that are set, when the caller has them (`pulumi preview` and `up` do; the
   * offline plan, which cannot decrypt, does not): checked against the password rule, never kept.
   */
  passwords?: Partial<Record<PasswordKey, string>>;
  /**
   * The keys outside the project's namespace (full, such as `digitalocean:token`), each with how the stack file
   * stores it: "plain", or "secure" (encrypted, or not known to be plain: config from elsewhere than the stack file).
   */
  otherKeys?: Readonly<Record<string, KeyStorage>>;
}

/** Parse and check the whole config; throws one ConfigError listing every problem. */
export function parseConfig(raw: RawConfig, ctx: { project?: string; stack: string }): StackConfig {
  const project = ctx.project ?? PROJECT;
  const issues: ConfigIssue[] = [];
  const keyOf = (k: string) => `${project}:${k}`;

  // Resource names derive from <project>-<stack>; volume names are the strictest (lowercase, start with a letter).
  if (!isValidVolumeName(`${project}-${ctx.stack}-16gb-data`)) {
    issues.push({
      key: "stack",
      message: `name "${ctx.stack}" must be lowercase letters, digits and hyphens (it names droplets and volumes)`,
    });
  }
  const known = new Set<string>([...CONFIG_KEYS, ...SECRET_KEYS]);
  for (const k of Object.keys(raw.values)) {
    if (!known.has(k)) issues.push({ key: keyOf(k), message: unknownKeyMessage(k, [...known].sort(), project) });
  }
  issues.push(...otherNamespaceIssues(project, raw.otherKeys ?? {}));
  for (const k of SECRET_KEYS) {
    if (raw.values[k] !== undefined && !raw.secretKeys.has(k)) {
      issues.push({ key: keyOf(k), message: `is a secret: set it with \`pulumi config set --secret ${k}\`` });
    }
  }
  for (const k of PASSWORD_KEYS) {
    const password = raw.passwords?.[k];
    const problem = password === undefined ? undefined : passwordProblem(password);
    if (problem) issues.push({ key: keyOf(k), message: problem });
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
  const prodNamed = PROD_STACK_PATTERN.test(ctx.stack);
  // A stack named prod or prod-* keeps the prod guardrails unless it says, in a second key, that it means dev.
  const environment =
    prodNamed && c.environment === "dev" && !c.allowDevOnProdStack
      ? "prod"
      : (c.environment ?? (prodNamed ? "prod" : "dev"));
  if (prodNamed && c.environment === "dev" && !c.allowDevOnProdStack) {
    issues.push({
      key: keyOf("environment"),
      message: `must not be dev on stack "${ctx.stack}": stacks named prod or prod-* keep the prod guardrails and protection; to run it as dev anyway, also set chatbot:allowDevOnProdStack: true (every plan and pulumi up then warns)`,
    });
  }
  if (c.allowDevOnProdStack && !(prodNamed && environment === "dev")) {
    issues.push({
      key: keyOf("allowDevOnProdStack"),
      message: `is only for a stack named prod or prod-* that sets environment: dev (this is stack "${ctx.stack}", environment ${environment}): remove it`,
    });
  }
  const zone = dnsZoneOf(c.domain, c.dnsZone);
  if (zone.problem) issues.push({ key: keyOf(zone.problem.key), message: zone.problem.message });
  const dnsZone = zone.zone;
  if (c.slackChannel !== undefined && !raw.secretKeys.has("slackWebhookUrl")) {
    issues.push({ key: keyOf("slackWebhookUrl"), message: "must be set (as a secret) when slackChannel is set" });
  }
  if (c.previousTier !== undefined) {
    if (c.tier === SCALE_OUT && c.previousTier !== TIER_NAMES[TIER_NAMES.length - 1]) {
      issues.push({
        key: keyOf("previousTier"),
        message: `must be ${TIER_NAMES[TIER_NAMES.length - 1]} to move onto scale-out (the largest single droplet; migrate up to it first)`,
      });
    }
    if (c.previousTier === c.tier)
      issues.push({
        key: keyOf("previousTier"),
        message: `must differ from tier (${c.tier}): it names the server being migrated from`,
      });
    if (c.previousTierRetainUntil === undefined) {
      issues.push({
        key: keyOf("previousTierRetainUntil"),
        message: "must be set with previousTier: until when the old server is kept as the rollback target",
      });
    }
  } else if (c.previousTierRetainUntil !== undefined) {
    issues.push({ key: keyOf("previousTierRetainUntil"), message: "is only meaningful with previousTier" });
  }
  if (environment === "prod") {
    for (const message of prodSshAllowlistProblems(c.sshAllowedCidrs))
      issues.push({ key: keyOf("sshAllowedCidrs"), message });
    if (c.backups === "none") issues.push({ key: keyOf("backups"), message: "must be weekly or daily in prod" });
    if (c.alertEmails.length === 0)
      issues.push({ key: keyOf("alertEmails"), message: "must list at least one address in prod" });
    if (c.allowDataLoss)
      issues.push({
        key: keyOf("allowDataLoss"),
        message: "must be false in prod: data volumes are never dropped or replaced there",
      });
    if (c.tier === SCALE_OUT && c.dbNodeCount < 2)
      issues.push({ key: keyOf("dbNodeCount"), message: "must be at least 2 in prod (a primary and a standby)" });
    if (/:latest$/.test(c.appImage))
      issues.push({ key: keyOf("appImage"), message: "must be pinned to a version or digest in prod, not :latest" });
  }
  if (issues.length) throw new ConfigError(issues);

  const warnings: string[] = [];
  if (prodNamed && environment === "dev") {
    warnings.push(
      `GUARDRAILS OFF on stack "${ctx.stack}": chatbot:environment is dev and chatbot:allowDevOnProdStack is true, so this stack named like production plans without the prod checks (SSH allowlist size, backups, alert emails, allowDataLoss, image pinning, a database standby) and its volume, droplet, reserved IP and DNS zone are not protected from deletion`,
    );
  }
  if (environment === "prod" && !IMAGE_DIGEST.test(c.appImage)) {
    warnings.push(
      `chatbot:appImage ${c.appImage} is pinned by tag only: in prod, pin it by digest (${c.appImage}@sha256:<digest>) so a re-pushed tag cannot change what a restart or a new droplet runs`,
    );
  }

  const connections = c.tier === SCALE_OUT ? undefined : connectionsWarning(project, c.tier, c);
  if (connections) warnings.push(connections);

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
    warnings,
  };
}
