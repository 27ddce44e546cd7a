/**
 * The scale-out migration's shell side effects as data: each function returns the exact command that runs one step
 * of scripts/droplet/logical.sh on the single droplet (the logical-replication publisher). Like the tier
 * migration's builders (infra/migration/commands.ts, whose droplet model, quoting and secret-name guard this
 * reuses), the script travels on standard input (`bash -s -- <step> args`), non-secret settings go in an `env`
 * prefix, and secrets stay in the droplet's env files (CHATBOT_ENV_FILE, CHATBOT_TARGET_ENV_FILE).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type Droplet, dropletEnv, PROXY_SCRIPT, shellQuote, stepCommand } from "../migration/commands";

export const LOGICAL_SCRIPT = path.resolve(__dirname, "../../scripts/droplet/logical.sh");

export const LOGICAL_STEPS = [
  "preflight",
  "schema",
  "publish",
  "subscribe",
  "sync",
  "lag",
  "cutover",
  "counts",
  "finish",
  "rollback_target",
  "unfence",
  "cache_warm",
] as const;
export type LogicalStep = (typeof LOGICAL_STEPS)[number];
/** The app droplets' gate (scripts/droplet/proxy-switch.sh `gate close|open` on each app droplet's Caddy). */
export type AppGateStep = "gate_close" | "gate_open";
/**
 * proxy-switch.sh on the source: `trust` (its Caddy's hold trusts the app droplets' internal listener certificates),
 * `cert` (its own internal listener's, for the rollback's bounce) and `local` (the rollback: the local app again).
 */
export type SourceProxyStep = "proxy_trust" | "proxy_cert" | "proxy_local";

export interface LogicalCommand {
  /** logical.sh's steps run on the source droplet ("old" in the tier migration's terms), the gates on app droplets. */
  side: "old" | "app";
  step: LogicalStep | AppGateStep | SourceProxyStep | "gate_bounce";
  args: string[];
  /** The remote shell command: `env K=V ... bash -s -- <step> <args>` (remote.Command `create`). */
  remote: string;
  /** The local argv that runs it over ssh; the script goes to its stdin. */
  argv: string[];
  stdinFile: string;
  /** What follows the script on stdin, read by the step itself (cutover, unfence: proxy-switch.sh). */
  stdinData?: string;
  stdinLabel?: string;
}

/** Ids name the fence marker: letters, digits, "_" and "-" only (they end up in SQL). */
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:[0-9]{1,5}$/;

const PROXY_LABEL = "scripts/droplet/proxy-switch.sh";

export function logicalCommand(
  source: Droplet,
  step: LogicalStep,
  args: readonly (string | number)[] = [],
  withProxy = false,
): LogicalCommand {
  const env = dropletEnv(source);
  const words = [
    "env",
    ...Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`),
    "bash",
    "-s",
    "--",
    step,
    ...args.map((a) => shellQuote(String(a))),
  ];
  const remote = words.join(" ");
  return {
    side: "old",
    step,
    args: args.map(String),
    remote,
    argv: ["ssh", ...(source.sshOptions ?? []), source.ssh, remote],
    stdinFile: LOGICAL_SCRIPT,
    ...(withProxy ? { stdinData: fs.readFileSync(PROXY_SCRIPT, "utf8"), stdinLabel: PROXY_LABEL } : {}),
  };
}

/** The app droplets' `<private ip>:<port>` the droplet's proxy forwards to from the fence on (checked before any step). */
export function checkUpstreams(upstreams: readonly string[]): string[] {
  if (upstreams.length === 0) throw new Error("upstreams: at least one upstream host:port");
  for (const u of upstreams) if (!HOST_PORT.test(u)) throw new Error(`upstreams: "${u}" must be host:port`);
  return [...upstreams];
}

/**
 * An app droplet's gate: proxy-switch.sh `gate close|open` on its Caddy (container runtime: the `proxy` service),
 * over ssh. Closed, its internal listener refuses connections, so the droplet's proxy holds requests for it; open,
 * they go through. The Caddy that holds the requests (the droplet's) is never the one reloaded.
 */
export function appGateCommand(node: Droplet, action: "close" | "open"): LogicalCommand {
  const cmd = stepCommand("new", node, action === "close" ? "gate_close" : "gate_open");
  return { ...cmd, side: "app", step: action === "close" ? "gate_close" : "gate_open" };
}

/**
 * The rollback's bounce on an app droplet (proxy-switch.sh `gate bounce`): its internal listener opens, forwarding to
 * `target` (the source's internal listener, over TLS, `sourceCert` the only certificate trusted), so the requests
 * the source's proxy holds for it reach the source's app again instead of failing when that proxy reloads.
 */
export function appBounceCommand(node: Droplet, target: string, sourceCert: string): LogicalCommand {
  const cmd = stepCommand(
    "new",
    node,
    "gate_bounce",
    [checkUpstreams([target])[0]!],
    sourceCert,
    "the source droplet's internal listener certificate",
  );
  return { ...cmd, side: "app", step: "gate_bounce" };
}

/** Builders for every step, so callers (runner, Pulumi component) never spell a step's arguments themselves. */
export function logicalCommands(source: Droplet) {
  const id = (value: string) => {
    if (!ID.test(value)) throw new Error(`id: "${value}" must be 1-64 letters, digits, "_" or "-"`);
    return value;
  };
  const seconds = (name: string, value: number) => {
    if (!Number.isInteger(value) || value < 1)
      throw new Error(`${name}: ${value} must be a whole number of seconds >= 1`);
    return value;
  };
  return {
    preflight: () => logicalCommand(source, "preflight"),
    schema: () => logicalCommand(source, "schema"),
    publish: () => logicalCommand(source, "publish"),
    /** The managed cluster connects to the droplet's PostgreSQL on its VPC address. */
    subscribe: () => logicalCommand(source, "subscribe", [source.privateAddress, source.pgPort ?? 5432]),
    sync: (timeoutSeconds: number) => logicalCommand(source, "sync", [seconds("sync timeout", timeoutSeconds)]),
    lag: () => logicalCommand(source, "lag"),
    /**
     * The whole cutover in one round trip: the public site forwards to the app droplets' `upstreams` (their gates
     * closed: Caddy retries a refused connection for up to `holdSeconds`, the downtime budget) and drains the local
     * app, the fence, marker wait (at most `catchupSeconds`) and setval, then the commit record on the droplet. Exit
     * 0 is the commit point; the app droplets' gates open next (appGateCommand).
     */
    cutover: (fenceId: string, upstreams: readonly string[], holdSeconds: number, catchupSeconds: number) =>
      logicalCommand(
        source,
        "cutover",
        [
          id(fenceId),
          checkUpstreams(upstreams).join(","),
          seconds("hold", Math.ceil(holdSeconds)),
          seconds("catchup timeout", catchupSeconds),
        ],
        true,
      ),
    /** After the commit point: every published table's exact row count on the source and on the cluster. */
    counts: () => logicalCommand(source, "counts"),
    finish: () => logicalCommand(source, "finish"),
    rollbackTarget: () => logicalCommand(source, "rollback_target"),
    /**
     * Rollback: the source writable, its proxy back to the local app; exit 7 if the cutover had committed. With
     * `keepHold`, the proxy keeps holding (the runner bounces the held requests first, then `proxyLocal`).
     */
    unfence: (keepHold = false) => logicalCommand(source, "unfence", keepHold ? ["keep-hold"] : [], true),
    /** The source's internal listener certificate (tls_cert), read before the cutover for a rollback's bounce. */
    proxyCert: (): LogicalCommand => ({ ...stepCommand("old", source, "proxy_cert"), side: "old", step: "proxy_cert" }),
    /** Rollback, after the bounce: the source's public site forwards to its local app again. */
    proxyLocal: (): LogicalCommand => ({
      ...stepCommand("old", source, "proxy_local"),
      side: "old",
      step: "proxy_local",
    }),
    cacheWarm: () => logicalCommand(source, "cache_warm"),
    /**
     * The droplet's proxy trusts the app droplets' internal listener certificates (as their `gate close` printed
     * them, PEM, concatenated) and nothing else: the hold forwards users' requests to them over TLS.
     */
    trust: (pems: string): LogicalCommand => {
      const cmd = stepCommand(
        "old",
        source,
        "proxy_trust",
        [],
        pems,
        "the app droplets' internal listener certificates",
      );
      return { ...cmd, side: "old", step: "proxy_trust" };
    },
  };
}
export type LogicalCommands = ReturnType<typeof logicalCommands>;

/** The counts step's `source.<table>=N` / `target.<table>=N` lines, as two maps for compareCounts. */
export function splitCounts(values: Record<string, string>): {
  source: Map<string, number>;
  target: Map<string, number>;
} {
  const source = new Map<string, number>();
  const target = new Map<string, number>();
  for (const [k, v] of Object.entries(values)) {
    if (k.startsWith("source.")) source.set(k.slice("source.".length), Number(v));
    else if (k.startsWith("target.")) target.set(k.slice("target.".length), Number(v));
  }
  return { source, target };
}

/** The sequences step's `seq.<schema>.<name>=value` lines. */
export function sequenceValues(values: Record<string, string>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(values)
      .filter(([k]) => k.startsWith("seq."))
      .map(([k, v]) => [k.slice(4), Number(v)]),
  );
}

/**
 * The target env file the stack writes onto the droplet (mode 0600) before the migration: where the managed
 * cluster and Valkey are. Secret. Values must be single-line.
 */
export interface TargetEndpoints {
  pg: {
    host: string;
    port: number;
    user: string;
    password: string;
    database: string;
    sslmode: "require" | "disable";
    appUser: string;
  };
  /** `ca`: a CA file on the droplet Valkey's certificate is checked against. @default the system's trust store */
  redis: { host: string; port: number; user: string; password: string; tls: boolean; ca?: string };
}

export function renderTargetEnv(t: TargetEndpoints): string {
  const entries: Record<string, string | number> = {
    TARGET_PGHOST: t.pg.host,
    TARGET_PGPORT: t.pg.port,
    TARGET_PGUSER: t.pg.user,
    TARGET_PGPASSWORD: t.pg.password,
    TARGET_PGDATABASE: t.pg.database,
    TARGET_PGSSLMODE: t.pg.sslmode,
    TARGET_APP_USER: t.pg.appUser,
    TARGET_REDIS_HOST: t.redis.host,
    TARGET_REDIS_PORT: t.redis.port,
    TARGET_REDIS_USER: t.redis.user,
    TARGET_REDIS_PASSWORD: t.redis.password,
    TARGET_REDIS_TLS: t.redis.tls ? 1 : 0,
    ...(t.redis.ca === undefined ? {} : { TARGET_REDIS_CA: t.redis.ca }),
  };
  const lines = Object.entries(entries).map(([k, v]) => {
    const s = String(v);
    if (/[\n\r'"\\$`]/.test(s)) throw new Error(`${k}: must not contain newlines, quotes, backslashes, $ or backticks`);
    return `${k}='${s}'`;
  });
  return ["# Rendered by infra/scale-out-migration/commands.ts. Secret: mode 0600.", ...lines, ""].join("\n");
}
