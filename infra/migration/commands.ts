/**
 * The tier migration's droplet steps as commands (Kamal style, `lib/kamal/commands/*.rb`): each builder returns the
 * exact command that runs one step of ./steps.ts on a droplet, its arguments named there. The ssh executor
 * (./ssh-executor.ts) runs them, in the CLI, the stack's `npm run migrate` and the harness alike.
 *
 * The script travels on standard input (./remote-bash.ts); data a step reads (the journal, a certificate, the proxy
 * script) follows it there, never on the command line.
 */
import * as path from "node:path";
import { INTERNAL_PORT } from "../render/caddyfile";

import {
  type AnySpec,
  type ArgsOf,
  MIGRATE_STEPS,
  type OutputOf,
  PROXY_STEPS,
  readOutput,
  type ScriptName,
  scriptFiles,
  scriptText,
} from "./steps";
import { STATE_STEPS } from "./state-steps";

import { remoteBashArgv, shellQuote } from "./remote-bash";
export { shellQuote };
export { parseValues } from "./steps";

/** The line after the proxy script on the armed promotion's stdin; the go line follows it (migrate.sh GO_MARK). */
export const PROMOTE_GO_MARK = "#-- the go line follows --";

/** The armed bounce's go line (proxy-switch.sh go_line): sent once the old server writes again. */
export const BOUNCE_GO_LINE = "go\n";

/** What the runner sends the armed promotion once the fence is done: `go <fence lsn> [<old Redis offset>]`. */
export function promoteGoLine(fenceLsn: string, redisOffset?: string): string {
  return `go ${fenceLsn}${redisOffset ? ` ${redisOffset}` : ""}\n`;
}

const PROXY_LABEL = "scripts/droplet/proxy-switch.sh";
/** The proxy steps' script (Caddy: hold, back to local, the internal listener's gate), as data after another step's. */
export const proxyScript = () => scriptText("proxy");

/** The steps the tier migration runs: migrate.sh's (./steps.ts, ./state-steps.ts) and proxy-switch.sh's. */
export const MIGRATION_STEPS = { ...MIGRATE_STEPS, ...STATE_STEPS, ...PROXY_STEPS };
export type MigrationSteps = typeof MIGRATION_STEPS;
export type StepName = keyof MigrationSteps;

export type Side = "old" | "new";

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
  /** Port of its internal listener (where the other droplet's proxy forwards at the cutover). @default 8081 */
  internalPort?: number;
  /** Non-secret environment for the script (CHATBOT_* paths, ...). Secret-looking names are refused. */
  env?: Readonly<Record<string, string>>;
}

/** One step's command: what runs where, and the declaration its output is read against. */
export interface StepCommand<S extends AnySpec = AnySpec, W extends string = Side> {
  /** Where it runs: the tier migration's old or new droplet; the scale-out's source ("old") or an app droplet. */
  side: W;
  step: string;
  spec: S;
  args: string[];
  /** The local argv that runs it over ssh; the script goes to its stdin. */
  argv: string[];
  /** Paths of the script's files, fed on stdin in this order. */
  stdinFiles: readonly string[];
  /** Data that follows the script on stdin, read by the step itself. */
  stdinData?: string;
  /** What `stdinData` is, for --dry-run. */
  stdinLabel?: string;
}

export interface Stdin {
  data: string;
  label: string;
}

export function dropletEnv(d: Droplet): Record<string, string> {
  return { ...d.env };
}

/** The command of any declared step on `droplet`, its arguments mapped to argv by the declaration. */
export function buildCommand<S extends AnySpec, W extends string>(
  side: W,
  droplet: Droplet,
  step: string,
  spec: S,
  args: ArgsOf<S>,
  stdin?: Stdin,
): StepCommand<S, W> {
  const argv = spec.argv(args).map(String);
  return {
    side,
    step,
    spec,
    args: argv,
    argv: remoteBashArgv(droplet, dropletEnv(droplet), [...spec.words, ...argv]),
    stdinFiles: scriptFiles(spec.script as ScriptName),
    ...(stdin === undefined ? {} : { stdinData: stdin.data, stdinLabel: stdin.label }),
  };
}

/** The exact command for one tier-migration step on one droplet. */
export function stepCommand<N extends StepName>(
  side: Side,
  droplet: Droplet,
  step: N,
  args: ArgsOf<MigrationSteps[N]>,
  stdin?: Stdin,
): StepCommand<MigrationSteps[N]> {
  const { runsOn } = MIGRATION_STEPS[step];
  if (runsOn !== "either" && runsOn !== side)
    throw new Error(`step ${step} runs on the ${runsOn} droplet, not the ${side}`);
  return buildCommand(side, droplet, step, MIGRATION_STEPS[step], args, stdin);
}

/** A step's stdout, read against its declaration (an undeclared or missing key throws, naming the step and key). */
export function readStep<S extends AnySpec>(cmd: StepCommand<S, string>, stdout: string): OutputOf<S> {
  return readOutput(cmd.step, cmd.spec, stdout);
}

/** A command as one copy-pasteable line (for --dry-run). */
export function formatCommand(cmd: StepCommand<AnySpec, string>): string {
  const files = cmd.stdinFiles.map((f) => shellQuote(path.relative(process.cwd(), f) || f));
  const ssh = cmd.argv.map(shellQuote).join(" ");
  const line = files.length === 1 ? `${ssh} < ${files[0]}` : `cat ${files.join(" ")} | ${ssh}`;
  return `${line}${cmd.stdinData === undefined ? "" : ` (then ${cmd.stdinLabel ?? "the journal JSON"} on the same stdin)`}`;
}

/** Builders for every step, so callers (runner, CLI) never spell a step's arguments themselves. */
export function migrationCommands(old: Droplet, next: Droplet) {
  const pg = (d: Droplet) => d.pgPort ?? 5432;
  const redis = (d: Droplet) => d.redisPort ?? 6379;
  const on = (side: Side) => (side === "old" ? old : next);
  const internal = (d: Droplet) => `${d.privateAddress}:${d.internalPort ?? INTERNAL_PORT}`;
  const holdSeconds = (s: number) => Math.max(1, Math.ceil(s));
  const cert = (data: string, whose: string): Stdin => ({ data, label: whose });
  return {
    preflight: (side: Side) => stepCommand(side, on(side), "preflight", undefined),
    backup: (id: string) => stepCommand("old", old, "backup", { id }),
    dropSlot: () => stepCommand("old", old, "drop_slot", undefined),
    /** Mark the new droplet as being replaced by this source (migration/replica-of), before anything changes there. */
    claimTarget: (sourceSystemId: string, id: string) =>
      stepCommand("new", next, "claim_target", { sourceSystemId, id, source: `${old.privateAddress}:${pg(old)}` }),
    /**
     * `side`'s PostgreSQL clients of the other droplet's server check it against `peerCert` (that droplet's preflight
     * pg_tls_cert) from now on: the copy, the streaming and the follow connect with sslmode=verify-ca.
     */
    pgTrust: (side: Side, peerCert: string) =>
      stepCommand(
        side,
        on(side),
        "pg_trust",
        undefined,
        cert(peerCert, `the ${side === "old" ? "new" : "old"} droplet's PostgreSQL certificate`),
      ),
    standby: () => stepCommand("new", next, "standby", { oldAddress: old.privateAddress, oldPort: pg(old) }),
    /** `oldCert`: the old droplet's Redis certificate (its preflight's redis_tls_cert), trusted for the TLS link. */
    redisReplica: (oldCert: string) =>
      stepCommand(
        "new",
        next,
        "redis_replica",
        { oldAddress: old.privateAddress, oldPort: redis(old), announce: next.privateAddress },
        cert(oldCert, "the old droplet's Redis certificate"),
      ),
    lag: () => stepCommand("new", next, "lag", undefined),
    catchup: (maxLagBytes: number, seconds: number) => stepCommand("new", next, "catchup", { maxLagBytes, seconds }),
    checkpoint: () => stepCommand("old", old, "checkpoint", undefined),
    /** The fence; with `holdSeconds`, the old proxy's hold first, in the same round trip (see proxyHold). */
    fence: (hold?: number) =>
      hold === undefined
        ? stepCommand("old", old, "fence", {})
        : stepCommand(
            "old",
            old,
            "fence",
            { hold: { target: internal(next), seconds: holdSeconds(hold) } },
            { data: proxyScript(), label: PROXY_LABEL },
          ),
    /**
     * The armed promotion, started before the fence so that its round trip, shell and proxy script are ready when
     * the fence ends: after the proxy script and PROMOTE_GO_MARK it waits for the go line (promoteGoLine) on stdin
     * (the executor's `stdinTail`); if stdin ends without one, it does nothing and exits STEP_EXIT.promoteRefused.
     */
    promoteArmed: (seconds: number, redisSeconds: number) =>
      stepCommand(
        "new",
        next,
        "promote",
        { fenceLsn: "-", seconds, gate: { redisSeconds } },
        {
          data: `${proxyScript()}\n${PROMOTE_GO_MARK}\n`,
          label: `${PROXY_LABEL}, then the go line (go <fence_lsn> <redis_offset>) once the fence is done`,
        },
      ),
    /** The promotion alone (a resumed migration past its fence; the cutover itself runs promoteArmed). */
    promote: (fenceLsn: string, seconds: number) => stepCommand("new", next, "promote", { fenceLsn, seconds }),
    /**
     * `newCert`: the new droplet's Redis certificate: the old Redis becomes its replica over TLS. Without it, the
     * old Redis must trust it already (redisTrust, before the cutover: the trust then stays out of the write gap).
     */
    redisFailover: (timeoutMs: number, newCert?: string) =>
      stepCommand(
        "old",
        old,
        "redis_failover",
        { newAddress: next.privateAddress, newPort: redis(next), timeoutMs },
        newCert === undefined ? undefined : cert(newCert, "the new droplet's Redis certificate"),
      ),
    /** After the new Redis took over by itself (promote with the offset): the old one follows it and its writes resume. */
    redisFollow: () =>
      stepCommand("old", old, "redis_follow", { newAddress: next.privateAddress, newPort: redis(next) }),
    /** Before the cutover: the old Redis trusts `newCert` (the new droplet's Redis certificate) for the replica link. */
    redisTrust: (newCert: string) =>
      stepCommand("old", old, "redis_trust", undefined, cert(newCert, "the new droplet's Redis certificate")),
    redisPromote: () => stepCommand("new", next, "redis_promote", undefined),
    forgetPrimary: () => stepCommand("new", next, "forget_primary", undefined),
    /** After the commit point: the old PostgreSQL streams from the new primary, within `seconds` of its start. */
    follow: (seconds: number) =>
      stepCommand("old", old, "follow", { newAddress: next.privateAddress, newPort: pg(next), seconds }),
    /** Read only: the old server's state as a follower (--status). */
    follower: () => stepCommand("old", old, "follower", undefined),
    counts: (side: Side) => stepCommand(side, on(side), "counts", undefined),
    health: (url?: string) => stepCommand("new", next, "health", url ? { url } : {}),
    freeze: () => stepCommand("old", old, "freeze", undefined),
    dumpRestore: (jobs: number, id: string) =>
      stepCommand("new", next, "dump_restore", { oldAddress: old.privateAddress, oldPort: pg(old), jobs, id }),
    rollbackOld: () => stepCommand("old", old, "rollback_old", undefined),
    /** `keepFollowing`: a switch back's target, which followed the source before, goes on following it. */
    rollbackNew: (keepFollowing = false) =>
      stepCommand("new", next, "rollback_new", keepFollowing ? { keepFollowing } : {}),
    retire: () => stepCommand("old", old, "retire", undefined),
    /**
     * The old proxy forwards to the new droplet's internal listener (closed by `gateClose`): requests it cannot
     * connect for are held up to `holdSeconds`, then the requests still in flight to the old app are waited for.
     */
    proxyHold: (hold: number) =>
      stepCommand("old", old, "proxy_hold", { upstreams: internal(next), holdSeconds: holdSeconds(hold) }),
    /** `newCert`: the new droplet's internal listener certificate, the only root the old proxy's hold trusts. */
    proxyTrust: (newCert: string) =>
      stepCommand(
        "old",
        old,
        "proxy_trust",
        undefined,
        cert(newCert, "the new droplet's internal listener certificate"),
      ),
    /** The old proxy back to its own app (rollback; nothing to do without a hold). */
    /** The old app serves again; `settleSeconds` after a bounce (proxy-switch.sh `local`). */
    proxyLocal: (settleSeconds?: number) => stepCommand("old", old, "proxy_local", { settleSeconds }),
    gateClose: () => stepCommand("new", next, "gate_close", undefined),
    gateOpen: () => stepCommand("new", next, "gate_open", undefined),
    gateServe: () => stepCommand("new", next, "gate_serve", undefined),
    /**
     * Rollback of a cutover: the new droplet's internal listener forwards to the old droplet's (over TLS, `oldCert`
     * its certificate), so the requests the old proxy holds reach the old app again instead of failing. Armed, it
     * starts while the old server is still coming back and reloads on the go line (BOUNCE_GO_LINE, the executor's
     * `stdinTail`); if stdin ends without it, nothing changes.
     */
    gateBounce: (oldCert: string, armed = false) =>
      stepCommand(
        "new",
        next,
        "gate_bounce",
        { target: internal(old), ...(armed ? { armed } : {}) },
        cert(oldCert, "the old droplet's internal listener certificate"),
      ),
    journalRead: (side: Side) => stepCommand(side, on(side), "journal_read", undefined),
    /** The journal lives on the old droplet; `archive` names the finished journal it replaces (moved to history/). */
    journalWrite: (runId: string, json: string, archive?: string) =>
      stepCommand("old", old, "journal_write", archive ? { runId, archive } : { runId }, {
        data: json,
        label: "the journal JSON",
      }),
    lockAcquire: (side: Side, lock: { runId: string; holder: string; startedAt: string; staleSeconds: number }) =>
      stepCommand(side, on(side), "lock_acquire", lock),
    lockHeartbeat: (side: Side, runId: string) => stepCommand(side, on(side), "lock_heartbeat", { runId }),
    lockRelease: (side: Side, runId: string) => stepCommand(side, on(side), "lock_release", { runId }),
  };
}
export type MigrationCommands = ReturnType<typeof migrationCommands>;

/** A droplet from an ssh target ("root@203.0.113.5" or "root@host:2222"); the private address defaults to its host. */
export function dropletFromTarget(
  field: string,
  target: string,
  opts: { privateAddress?: string; sshOptions?: readonly string[] } = {},
): Droplet {
  const m = /^(?:([a-z_][a-z0-9_-]*)@)?([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\])(?::(\d+))?$/.exec(target);
  if (!m?.[2]) throw new Error(`${field}: "${target}" is not an ssh target (user@host or user@host:port)`);
  const port = m[3] ? ["-p", m[3]] : [];
  return {
    ssh: `${m[1] ?? "root"}@${m[2]}`,
    sshOptions: [...port, ...(opts.sshOptions ?? [])],
    privateAddress: opts.privateAddress ?? m[2].replace(/^\[|\]$/g, ""),
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
