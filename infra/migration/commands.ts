/**
 * The migration's shell side effects as data (Kamal style, `lib/kamal/commands/*.rb`): each function returns the
 * exact command that runs one step of scripts/droplet/migrate.sh on a droplet. One thin layer executes them: `ssh`
 * in the CLI and the harness (./ssh-executor.ts), `@pulumi/command` (remote.Command: `create` = `remote`, `stdin` =
 * the script text) in the stack.
 *
 * The script travels on standard input (`bash -s -- <step> args`), so droplets need nothing installed first.
 * Non-secret settings go in an `env` prefix; secrets never do (ps shows argv): the script reads them from the
 * droplet's env file (/etc/chatbot/app.env, or CHATBOT_ENV_FILE). Data a step reads (the journal) follows the script
 * on standard input, never on the command line.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { INTERNAL_PORT } from "../render/caddyfile";

/** Absolute path of the script every database step runs. */
export const MIGRATE_SCRIPT = path.resolve(__dirname, "../../scripts/droplet/migrate.sh");
/** The line after the proxy script on the armed promotion's stdin; the go line follows it (migrate.sh GO_MARK). */
export const PROMOTE_GO_MARK = "#-- the go line follows --";

/** What the runner sends the armed promotion once the fence is done: `go <fence lsn> [<old Redis offset>]`. */
export function promoteGoLine(fenceLsn: string, redisOffset?: string): string {
  return `go ${fenceLsn}${redisOffset ? ` ${redisOffset}` : ""}\n`;
}

/** Absolute path of the script of the proxy steps (Caddy: hold, back to local, the internal listener's gate). */
export const PROXY_SCRIPT = path.resolve(__dirname, "../../scripts/droplet/proxy-switch.sh");

const PROXY_LABEL = "scripts/droplet/proxy-switch.sh";
const proxyScript = () => fs.readFileSync(PROXY_SCRIPT, "utf8");

/** Steps of proxy-switch.sh, with the action each runs there. */
export const PROXY_STEPS = {
  proxy_trust: "trust",
  proxy_hold: "hold",
  proxy_local: "local",
  gate_close: "gate close",
  gate_open: "gate open",
  gate_bounce: "gate bounce",
  proxy_cert: "cert",
} as const;
export type ProxyStepName = keyof typeof PROXY_STEPS;

export const STEP_NAMES = [
  "preflight",
  "backup",
  "drop_slot",
  "standby",
  "redis_replica",
  "lag",
  "catchup",
  "checkpoint",
  "fence",
  "promote",
  "redis_failover",
  "redis_follow",
  "redis_trust",
  "redis_promote",
  "forget_primary",
  "counts",
  "health",
  "freeze",
  "unfreeze",
  "dump_restore",
  "rollback_old",
  "rollback_new",
  "retire",
  "claim_target",
  "journal_read",
  "journal_write",
  "lock_acquire",
  "lock_heartbeat",
  "lock_release",
] as const;
export type StepName = (typeof STEP_NAMES)[number] | ProxyStepName;

export type Side = "old" | "new";

/** How the scripts reach PostgreSQL and Redis on a droplet (CHATBOT_RUNTIME). */
export type Runtime = "container" | "host";

/** One droplet as the migration sees it. */
export interface Droplet {
  /** ssh destination, e.g. "root@203.0.113.5". */
  ssh: string;
  /** Extra ssh options (port, identity, known hosts). @default [] */
  sshOptions?: readonly string[];
  /** The address the other droplet reaches this one on (its VPC private address). */
  privateAddress: string;
  /** @default 5432 */
  pgPort?: number;
  /** @default 6379 */
  redisPort?: number;
  /** @default "container" */
  runtime?: Runtime;
  /** Port of the droplet's internal listener (its Caddy's VPC-only site, where the old droplet forwards at the cutover). @default 8081 */
  internalPort?: number;
  /** Non-secret environment for the script (host runtime: PGDATA, PGPORT, ...). Secret-looking names are refused. */
  env?: Readonly<Record<string, string>>;
}

export interface StepCommand {
  side: Side;
  step: StepName;
  args: string[];
  /** The remote shell command: `env K=V ... bash -s -- <step> <args>` (remote.Command `create`). */
  remote: string;
  /** The local argv that runs it over ssh; the script goes to its stdin. */
  argv: string[];
  /** Path of the script to feed on stdin. */
  stdinFile: string;
  /** Data that follows the script on stdin, read by the step itself (journal_write; fence and promote: the proxy script). */
  stdinData?: string;
  /** What `stdinData` is, for --dry-run. */
  stdinLabel?: string;
}

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|AUTH/;

/** Quote one word for a POSIX shell (only when needed, so commands stay readable). */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export function dropletEnv(d: Droplet): Record<string, string> {
  const env: Record<string, string> = { CHATBOT_RUNTIME: d.runtime ?? "container", ...d.env };
  for (const key of Object.keys(env)) {
    if (!ENV_NAME.test(key)) throw new Error(`droplet env: "${key}" is not a valid variable name (A-Z, 0-9, _)`);
    if (SECRET_NAME.test(key)) {
      throw new Error(
        `droplet env: "${key}" looks like a secret; put it in the droplet's env file (CHATBOT_ENV_FILE), not on the command line`,
      );
    }
  }
  return env;
}

/** The exact command for one step on one droplet (a proxy step runs proxy-switch.sh, every other migrate.sh). */
export function stepCommand(
  side: Side,
  droplet: Droplet,
  step: StepName,
  args: readonly (string | number)[] = [],
  stdinData?: string,
  stdinLabel = "the journal JSON",
): StepCommand {
  const env = dropletEnv(droplet);
  const proxy = (PROXY_STEPS as Record<string, string>)[step];
  const words = [
    "env",
    ...Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`),
    "bash",
    "-s",
    "--",
    ...(proxy ? proxy.split(" ") : [step]),
    ...args.map((a) => shellQuote(String(a))),
  ];
  const remote = words.join(" ");
  return {
    side,
    step,
    args: args.map(String),
    remote,
    argv: ["ssh", ...(droplet.sshOptions ?? []), droplet.ssh, remote],
    stdinFile: proxy ? PROXY_SCRIPT : MIGRATE_SCRIPT,
    ...(stdinData === undefined ? {} : { stdinData, stdinLabel }),
  };
}

/** A command as one copy-pasteable line (for --dry-run). */
export function formatCommand(cmd: StepCommand): string {
  const script = path.relative(process.cwd(), cmd.stdinFile) || cmd.stdinFile;
  return `${cmd.argv.map(shellQuote).join(" ")} < ${script}${cmd.stdinData === undefined ? "" : ` (then ${cmd.stdinLabel ?? "the journal JSON"} on the same stdin)`}`;
}

/** Parse the script's `key=value` stdout lines (later keys win; other lines are ignored). */
export function parseValues(stdout: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z_][a-z0-9_.]*)=(.*)$/i.exec(line.trim());
    if (m && m[1] !== undefined) values[m[1]] = m[2] ?? "";
  }
  return values;
}

/** Builders for every step, so callers (runner, Pulumi component) never spell a step's arguments themselves. */
export function migrationCommands(old: Droplet, next: Droplet) {
  const pg = (d: Droplet) => d.pgPort ?? 5432;
  const redis = (d: Droplet) => d.redisPort ?? 6379;
  const on = (side: Side) => (side === "old" ? old : next);
  const holdTarget = () => `${next.privateAddress}:${next.internalPort ?? INTERNAL_PORT}`;
  return {
    preflight: (side: Side) => stepCommand(side, on(side), "preflight"),
    backup: (id: string) => stepCommand("old", old, "backup", [id]),
    dropSlot: () => stepCommand("old", old, "drop_slot"),
    /** Mark the new droplet as being replaced by this source (migration/replica-of), before anything changes there. */
    claimTarget: (sourceSystemId: string, id: string) =>
      stepCommand("new", next, "claim_target", [sourceSystemId, id, `${old.privateAddress}:${pg(old)}`]),
    standby: () => stepCommand("new", next, "standby", [old.privateAddress, pg(old)]),
    /** `oldCert`: the old droplet's Redis certificate (its preflight's redis_tls_cert), trusted for the TLS link. */
    redisReplica: (oldCert: string) =>
      stepCommand(
        "new",
        next,
        "redis_replica",
        [old.privateAddress, redis(old), next.privateAddress],
        oldCert,
        "the old droplet's Redis certificate",
      ),
    lag: () => stepCommand("new", next, "lag"),
    catchup: (maxLagBytes: number, seconds: number) => stepCommand("new", next, "catchup", [maxLagBytes, seconds]),
    checkpoint: () => stepCommand("old", old, "checkpoint"),
    /** The fence; with `holdSeconds`, the old proxy's hold first, in the same round trip (see proxyHold). */
    fence: (holdSeconds?: number) =>
      holdSeconds === undefined
        ? stepCommand("old", old, "fence")
        : stepCommand(
            "old",
            old,
            "fence",
            ["hold", holdTarget(), Math.max(1, Math.ceil(holdSeconds))],
            proxyScript(),
            PROXY_LABEL,
          ),
    /**
     * The armed promotion: the same step with its gate, started before the fence so that its round trip, its shell
     * and its proxy script are ready when the fence ends. After the proxy script and PROMOTE_GO_MARK it waits for
     * the runner's go line (promoteGoLine: the fence LSN and the old Redis's offset) on standard input (the
     * executor's `stdinTail`); if stdin ends without one, it does nothing and exits 4.
     */
    promoteArmed: (seconds: number, redisSeconds: number) =>
      stepCommand(
        "new",
        next,
        "promote",
        ["-", seconds, "gate", redisSeconds],
        `${proxyScript()}\n${PROMOTE_GO_MARK}\n`,
        `${PROXY_LABEL}, then the go line (go <fence_lsn> <redis_offset>) once the fence is done`,
      ),
    /** The promotion alone (a resumed migration past its fence; the cutover itself runs promoteArmed). */
    promote: (fenceLsn: string, seconds: number) => stepCommand("new", next, "promote", [fenceLsn, seconds]),
    /**
     * `newCert`: the new droplet's Redis certificate: the old Redis becomes its replica over TLS. Without it, the
     * old Redis must trust it already (redisTrust, before the cutover: the trust then stays out of the write gap).
     */
    redisFailover: (timeoutMs: number, newCert?: string) =>
      stepCommand(
        "old",
        old,
        "redis_failover",
        [next.privateAddress, redis(next), timeoutMs],
        newCert,
        "the new droplet's Redis certificate",
      ),
    /** After the new Redis took over by itself (promote with the offset): the old one follows it and its writes resume. */
    redisFollow: () => stepCommand("old", old, "redis_follow", [next.privateAddress, redis(next)]),
    /** Before the cutover: the old Redis trusts `newCert` (the new droplet's Redis certificate) for the replica link. */
    redisTrust: (newCert: string) =>
      stepCommand("old", old, "redis_trust", [], newCert, "the new droplet's Redis certificate"),
    redisPromote: () => stepCommand("new", next, "redis_promote"),
    forgetPrimary: () => stepCommand("new", next, "forget_primary"),
    counts: (side: Side) => stepCommand(side, on(side), "counts"),
    health: (url?: string) => stepCommand("new", next, "health", url ? [url] : []),
    freeze: () => stepCommand("old", old, "freeze"),
    unfreeze: () => stepCommand("old", old, "unfreeze"),
    dumpRestore: (jobs: number, id: string) =>
      stepCommand("new", next, "dump_restore", [old.privateAddress, pg(old), jobs, id]),
    rollbackOld: () => stepCommand("old", old, "rollback_old"),
    rollbackNew: () => stepCommand("new", next, "rollback_new"),
    retire: () => stepCommand("old", old, "retire"),
    /**
     * The old proxy forwards to the new droplet's internal listener (closed by `gateClose`): requests it cannot
     * connect for are held up to `holdSeconds`, then the requests still in flight to the old app are waited for.
     */
    proxyHold: (holdSeconds: number) =>
      stepCommand("old", old, "proxy_hold", [holdTarget(), Math.max(1, Math.ceil(holdSeconds))]),
    /** `newCert`: the new droplet's internal listener certificate (its preflight's proxy_tls_cert), the only root the old proxy's hold trusts. */
    proxyTrust: (newCert: string) =>
      stepCommand("old", old, "proxy_trust", [], newCert, "the new droplet's internal listener certificate"),
    /** The old proxy back to its own app (rollback; nothing to do without a hold). */
    proxyLocal: () => stepCommand("old", old, "proxy_local"),
    gateClose: () => stepCommand("new", next, "gate_close"),
    gateOpen: () => stepCommand("new", next, "gate_open"),
    /**
     * Rollback of a cutover: the new droplet's internal listener forwards to the old droplet's (over TLS, `oldCert`
     * its certificate), so the requests the old proxy holds reach the old app again instead of failing.
     */
    gateBounce: (oldCert: string) =>
      stepCommand(
        "new",
        next,
        "gate_bounce",
        [`${old.privateAddress}:${old.internalPort ?? INTERNAL_PORT}`],
        oldCert,
        "the old droplet's internal listener certificate",
      ),
    journalRead: (side: Side) => stepCommand(side, on(side), "journal_read"),
    /** The journal lives on the old droplet; `archive` names the finished journal it replaces (moved to history/). */
    journalWrite: (runId: string, json: string, archive?: string) =>
      stepCommand("old", old, "journal_write", archive ? [runId, archive] : [runId], json),
    lockAcquire: (side: Side, lock: { runId: string; holder: string; startedAt: string; staleSeconds: number }) =>
      stepCommand(side, on(side), "lock_acquire", [lock.runId, lock.holder, lock.startedAt, lock.staleSeconds]),
    lockHeartbeat: (side: Side, runId: string) => stepCommand(side, on(side), "lock_heartbeat", [runId]),
    lockRelease: (side: Side, runId: string) => stepCommand(side, on(side), "lock_release", [runId]),
  };
}
export type MigrationCommands = ReturnType<typeof migrationCommands>;

/** A droplet from an ssh target ("root@203.0.113.5" or "root@host:2222"); the private address defaults to its host. */
export function dropletFromTarget(
  field: string,
  target: string,
  opts: { privateAddress?: string; runtime?: Runtime; sshOptions?: readonly string[] } = {},
): Droplet {
  const m = /^(?:([a-z_][a-z0-9_-]*)@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d+))?$/.exec(target);
  if (!m?.[2]) throw new Error(`${field}: "${target}" is not an ssh target (user@host or user@host:port)`);
  const port = m[3] ? ["-p", m[3]] : [];
  const runtime = opts.runtime ?? "container";
  if (runtime !== "container" && runtime !== "host")
    throw new Error(`runtime must be container or host, got "${String(runtime)}"`);
  return {
    ssh: `${m[1] ?? "root"}@${m[2]}`,
    sshOptions: [...port, ...(opts.sshOptions ?? [])],
    privateAddress: opts.privateAddress ?? m[2].replace(/^\[|\]$/g, ""),
    runtime,
  };
}

/** ["K=V", ...] from repeated command-line options -> a record; names are checked when a command is built. */
export function parseEnvList(field: string, items: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of items) {
    const at = item.indexOf("=");
    if (at <= 0) throw new Error(`${field}: "${item}" is not NAME=value`);
    env[item.slice(0, at)] = item.slice(at + 1);
  }
  return env;
}

/** "5432,6379" -> { pgPort, redisPort }, each a TCP port. */
export function parsePorts(field: string, text: string): { pgPort: number; redisPort: number } {
  const parts = text.split(",").map((p) => Number(p.trim()));
  const valid = (n: number | undefined): n is number => n !== undefined && Number.isInteger(n) && n > 0 && n < 65536;
  if (parts.length !== 2 || !valid(parts[0]) || !valid(parts[1])) {
    throw new Error(`${field}: "${text}" must be two TCP ports, PostgreSQL then Redis (e.g. 5432,6379)`);
  }
  return { pgPort: parts[0], redisPort: parts[1] };
}
