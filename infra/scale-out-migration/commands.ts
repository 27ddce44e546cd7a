/**
 * The scale-out migration's droplet steps as commands: each builder returns the exact command that runs one step of
 * logical.sh (on the single droplet, the logical-replication publisher) or proxy-switch.sh (on it or an app
 * droplet), their arguments named in infra/migration/steps.ts. Built and run like the tier migration's
 * (infra/migration/commands.ts); secrets stay in the droplet's env files (CHATBOT_ENV_FILE, CHATBOT_TARGET_ENV_FILE).
 */
import { buildCommand, type Droplet, proxyScript, type StepCommand, type Stdin } from "../migration/commands";
import { type AnySpec, type ArgsOf, PROXY_STEPS } from "../migration/steps";
import { LAYOUT } from "../render/layout";
import { POSTGRES_TLS_DIR } from "../render/postgresql-conf";
import { LOGICAL_STEPS } from "./steps";

type LogicalSteps = typeof LOGICAL_STEPS;
export type LogicalStep = keyof LogicalSteps;

/** logical.sh's steps run on the source droplet ("old" in the tier migration's terms), the gates on app droplets. */
export type LogicalCommand<S extends AnySpec = AnySpec> = StepCommand<S, "old" | "app">;

/** Ids name the fence marker: letters, digits, "_" and "-" only (they end up in SQL). */
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HOST_PORT = /^[A-Za-z0-9.-]+:[0-9]{1,5}$/;

const withProxy = (): Stdin => ({
  data: proxyScript(),
  label: "scripts/droplet/proxy-switch.sh",
});

export function logicalCommand<N extends LogicalStep>(
  source: Droplet,
  step: N,
  args: ArgsOf<LogicalSteps[N]>,
  stdin?: Stdin,
): LogicalCommand<LogicalSteps[N]> {
  return buildCommand("old", source, step, LOGICAL_STEPS[step], args, stdin);
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
export function appGateCommand(node: Droplet, action: "close" | "open") {
  const step = action === "close" ? "gate_close" : "gate_open";
  return buildCommand("app", node, step, PROXY_STEPS[step], undefined);
}

/**
 * The rollback's bounce on an app droplet (proxy-switch.sh `gate bounce`): its internal listener opens, forwarding to
 * `target` (the source's internal listener, over TLS, `sourceCert` the only certificate trusted), so the requests
 * the source's proxy holds for it reach the source's app again instead of failing when that proxy reloads.
 */
export function appBounceCommand(node: Droplet, target: string, sourceCert: string) {
  return buildCommand(
    "app",
    node,
    "gate_bounce",
    PROXY_STEPS.gate_bounce,
    { target: checkUpstreams([target])[0]! },
    { data: sourceCert, label: "the source droplet's internal listener certificate" },
  );
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
    /** Read-only: what an earlier run left (./status.ts). */
    state: () => logicalCommand(source, "state", undefined),
    preflight: () => logicalCommand(source, "preflight", undefined),
    schema: () => logicalCommand(source, "schema", undefined),
    publish: () => logicalCommand(source, "publish", undefined),
    /** The managed cluster connects to the droplet's PostgreSQL on its VPC address. */
    subscribe: () =>
      logicalCommand(source, "subscribe", { address: source.privateAddress, port: source.pgPort ?? 5432 }),
    sync: (timeoutSeconds: number) =>
      logicalCommand(source, "sync", { timeoutSeconds: seconds("sync timeout", timeoutSeconds) }),
    lag: () => logicalCommand(source, "lag", undefined),
    /**
     * The whole cutover in one round trip: the public site forwards to the app droplets' `upstreams` (their gates
     * closed: Caddy retries a refused connection for up to `holdSeconds`, the downtime budget) and drains the local
     * app, the fence, marker wait (at most `catchupSeconds`) and setval, then the commit record. Exit 0 is the
     * commit point; the app droplets' gates open next (appGateCommand).
     */
    cutover: (fenceId: string, upstreams: readonly string[], holdSeconds: number, catchupSeconds: number) =>
      logicalCommand(
        source,
        "cutover",
        {
          id: id(fenceId),
          upstreams: checkUpstreams(upstreams).join(","),
          holdSeconds: seconds("hold", Math.ceil(holdSeconds)),
          catchupSeconds: seconds("catchup timeout", catchupSeconds),
        },
        withProxy(),
      ),
    /** After the commit point: every published table's exact row count on the source and on the cluster. */
    counts: () => logicalCommand(source, "counts", undefined),
    finish: () => logicalCommand(source, "finish", undefined),
    rollbackTarget: () => logicalCommand(source, "rollback_target", undefined),
    /**
     * Rollback: the source writable, its proxy back to the local app; STEP_EXIT.alreadySwitched if the cutover had
     * committed. With `keepHold`, the proxy keeps holding (the runner bounces the held requests first, then
     * `proxyLocal`).
     */
    unfence: (keepHold = false) => logicalCommand(source, "unfence", { keepHold }, withProxy()),
    /** The source's internal listener certificate (tls_cert), read before the cutover for a rollback's bounce. */
    proxyCert: () => buildCommand("old", source, "proxy_cert", PROXY_STEPS.proxy_cert, undefined),
    /** Rollback, after the bounce: the source's public site forwards to its local app again. */
    proxyLocal: (settleSeconds?: number) =>
      buildCommand("old", source, "proxy_local", PROXY_STEPS.proxy_local, { settleSeconds }),
    cacheWarm: () => logicalCommand(source, "cache_warm", undefined),
    /**
     * The droplet's proxy trusts the app droplets' internal listener certificates (as their `gate close` printed
     * them, PEM, concatenated) and nothing else: the hold forwards users' requests to them over TLS.
     */
    trust: (pems: string) =>
      buildCommand("old", source, "proxy_trust", PROXY_STEPS.proxy_trust, undefined, {
        data: pems,
        label: "the app droplets' internal listener certificates",
      }),
  };
}

/** The counts step's `source.<table>=N` / `target.<table>=N` lines, as two maps for compareCounts. */
export function splitCounts(values: Readonly<Record<string, string | undefined>>): {
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
export function sequenceValues(values: Readonly<Record<string, string | undefined>>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(values)
      .filter(([k]) => k.startsWith("seq."))
      .map(([k, v]) => [k.slice(4), Number(v)]),
  );
}

/**
 * The managed cluster's CA on the source droplet: in its PostgreSQL certificate directory, which compose mounts
 * read-only into the postgres container, where the migration's psql runs (logical-common.sh `psql_target`).
 */
export const TARGET_CA_NAME = "managed-pg-ca.crt";
export const TARGET_CA_PATH = `${LAYOUT.postgresTls}/${TARGET_CA_NAME}`;
export const TARGET_CA_IN_CONTAINER = `${POSTGRES_TLS_DIR}/${TARGET_CA_NAME}`;

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
    /** The server must prove a certificate signed by the CA in `sslrootcert` (libpq; the host name is not checked). */
    sslmode: "verify-ca";
    /** The cluster's CA file as the droplet's psql sees it (inside the postgres container). */
    sslrootcert: string;
    appUser: string;
  };
  /** `ca`: a CA file on the droplet Valkey's certificate is checked against. @default the system's trust store */
  redis: { host: string; port: number; user: string; password: string; tls: boolean; ca?: string };
}

export function renderTargetEnv(t: TargetEndpoints): string {
  if (!t.pg.sslrootcert.startsWith("/"))
    throw new Error(`TARGET_PGSSLROOTCERT: "${t.pg.sslrootcert}" must be an absolute path (the cluster's CA file)`);
  const entries: Record<string, string | number> = {
    TARGET_PGHOST: t.pg.host,
    TARGET_PGPORT: t.pg.port,
    TARGET_PGUSER: t.pg.user,
    TARGET_PGPASSWORD: t.pg.password,
    TARGET_PGDATABASE: t.pg.database,
    TARGET_PGSSLMODE: t.pg.sslmode,
    TARGET_PGSSLROOTCERT: t.pg.sslrootcert,
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
