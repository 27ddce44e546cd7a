/**
 * Every step the migrations run on a droplet, declared once: the script and the words that select the step there
 * (its `case` in main()), the droplet it runs on, its arguments as named fields (mapped to the script's argv here and
 * nowhere else), the `key=value` lines it prints (a zod schema: a key the step may print but the runner does not
 * need is optional; a key the runner reads and the step always prints is required), and the exit codes the scripts
 * use, by name. The runners build calls and read results only through this table, and a test holds the scripts to
 * it in both directions.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { z } from "zod";

/** Exit codes of the droplet scripts, by meaning. 130 is the executor's own (the local ssh was stopped). */
export const STEP_EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  /** A wait ran out (budget): nothing changed that a rollback cannot undo. */
  timeout: 3,
  /** promote: the standby had not replayed the fence point (or had no go line): nothing promoted. */
  promoteRefused: 4,
  /** promote: pg_promote() did not finish: the commit point is uncertain. */
  commitUncertain: 5,
  /** The migration lock is held by another run, or no longer by this one. */
  lockLost: 6,
  /** rollback_new: the migration's copy was promoted already (past the commit point). */
  alreadyPromoted: 7,
  /** logical.sh unfence: the cutover wrote its commit record (past the commit point). */
  alreadySwitched: 7,
} as const;
export type ExitName = keyof typeof STEP_EXIT;

const ROOT = path.resolve(__dirname, "../..");

/**
 * The droplet scripts: the files sent on standard input, in order (a prelude, the step files, then the file whose
 * main() dispatches; they are one script, split by concern), and the exit codes each may end with.
 */
export const SCRIPTS = {
  migrate: {
    files: [
      "scripts/droplet/migrate-common.sh",
      "scripts/droplet/migrate-state.sh",
      "scripts/droplet/migrate-postgres.sh",
      "scripts/droplet/migrate-redis.sh",
      "scripts/droplet/migrate-cutover.sh",
      "scripts/droplet/migrate-follow.sh",
      "scripts/droplet/migrate.sh",
    ],
    exits: ["ok", "failed", "usage", "timeout", "promoteRefused", "commitUncertain", "lockLost", "alreadyPromoted"],
  },
  proxy: { files: ["scripts/droplet/proxy-switch.sh"], exits: ["ok", "failed", "usage"] },
  logical: {
    files: [
      "scripts/droplet/logical-common.sh",
      "scripts/droplet/logical-replication.sh",
      "scripts/droplet/logical-cutover.sh",
      "scripts/droplet/logical-cache.sh",
      "scripts/droplet/logical.sh",
    ],
    exits: ["ok", "failed", "timeout", "alreadySwitched"],
  },
} as const satisfies Record<string, { files: readonly [string, ...string[]]; exits: readonly ExitName[] }>;
export type ScriptName = keyof typeof SCRIPTS;

/** Absolute paths of a script's files, in the order they are sent. */
export function scriptFiles(script: ScriptName): string[] {
  return SCRIPTS[script].files.map((f) => path.join(ROOT, f));
}

/** The file whose main() dispatches the steps (the last one sent): what names the script in messages. */
export function entryFile(script: ScriptName): string {
  const files: readonly string[] = SCRIPTS[script].files;
  return files[files.length - 1] ?? "";
}

/** A script's text as it runs on a droplet: its files concatenated. */
export function scriptText(script: ScriptName): string {
  return scriptFiles(script)
    .map((f) => fs.readFileSync(f, "utf8"))
    .join("");
}

/** Which droplet a step runs on: the tier migration's old or new one (or either), the scale-out's source, an app droplet. */
export type RunsOn = "old" | "new" | "either" | "source" | "app";

type Word = string | number;

export interface StepSpec<
  A = undefined,
  O extends z.ZodRawShape = z.ZodRawShape,
  P extends ProxyAction | undefined = ProxyAction | undefined,
> {
  script: ScriptName;
  /** The words after `bash -s --` that select the step (the script's dispatch). */
  words: readonly string[];
  runsOn: RunsOn;
  /** Its named arguments as the script's argv. */
  argv: (a: A) => readonly Word[];
  /** The keys it prints itself. */
  out: O;
  /** Key families it prints (`count.<schema.table>=N`): any key under `<family>.`. */
  families?: readonly string[];
  /** A proxy-switch.sh action it runs in the same round trip: its keys are printed too. */
  proxy?: P;
}

/** A key the step always prints and the runner reads; one it may print. */
export const req = z.string();
export const opt = z.string().optional();
/** The argv of a step without arguments. */
export const none = () => [] as const;

export function spec<
  A = undefined,
  O extends z.ZodRawShape = z.ZodRawShape,
  P extends ProxyAction | undefined = undefined,
>(s: StepSpec<A, O, P>): StepSpec<A, O, P> {
  return s;
}

// ---- proxy-switch.sh: its actions, run alone (steps of their own) or inside a step of another script

const RELOAD = { reload_ms: opt, changed: opt };
const GATE_OUT = { ...RELOAD, public: opt, gate: opt, tls_cert: opt };
const PROXY_OUT = {
  trust: { trusted: opt },
  hold: { reload_ms: opt, upstream: opt, hold_s: opt, drained_ms: opt, drained: opt },
  local: { ...RELOAD, upstream: opt, settled: opt, settled_ms: opt },
  gate: GATE_OUT,
  bounce: { ...GATE_OUT, trusted: opt, bounced: opt },
  cert: { tls_cert: opt },
} as const;
export type ProxyAction = keyof typeof PROXY_OUT;

/** How long a rollback's `local` waits, after a bounce, for the held requests to reach it (about 1 s when it works). */
export const BOUNCE_SETTLE_SECONDS = 10;

/** How long the old server, started as a standby after the commit point, may take to stream from the new primary. */
export const FOLLOW_STREAM_SECONDS = 60;

export const PROXY_STEPS = {
  proxy_trust: spec({ script: "proxy", words: ["trust"], runsOn: "old", argv: none, out: PROXY_OUT.trust }),
  proxy_hold: spec({
    script: "proxy",
    words: ["hold"],
    runsOn: "old",
    argv: (a: { upstreams: string; holdSeconds: number }) => [a.upstreams, a.holdSeconds],
    out: PROXY_OUT.hold,
  }),
  proxy_local: spec({
    script: "proxy",
    words: ["local"],
    runsOn: "old",
    // After a bounce: wait (at most this long) until no held request waits to retry before the reload.
    argv: (a: { settleSeconds?: number }) => (a.settleSeconds ? [a.settleSeconds] : []),
    out: PROXY_OUT.local,
  }),
  gate_close: spec({ script: "proxy", words: ["gate", "close"], runsOn: "new", argv: none, out: PROXY_OUT.gate }),
  // A rollback's: the listener opens, the public site stays as it was (a follower keeps forwarding).
  gate_open: spec({ script: "proxy", words: ["gate", "open"], runsOn: "new", argv: none, out: PROXY_OUT.gate }),
  // After the commit point: the listener opens and the promoted server's own public site serves its app.
  gate_serve: spec({ script: "proxy", words: ["gate", "serve"], runsOn: "new", argv: none, out: PROXY_OUT.gate }),
  gate_bounce: spec({
    script: "proxy",
    words: ["gate", "bounce"],
    runsOn: "new",
    // armed: started before the old server writes again; the reload waits for the line `go` on stdin (none: no change).
    argv: (a: { target: string; armed?: boolean }) => (a.armed ? [a.target, "armed"] : [a.target]),
    out: PROXY_OUT.bounce,
  }),
  proxy_cert: spec({ script: "proxy", words: ["cert"], runsOn: "either", argv: none, out: PROXY_OUT.cert }),
};

// ---- migrate.sh

const LAG = { pg_lag_bytes: req, pg_replay_lag_ms: opt, redis_link: opt, redis_lag_bytes: opt };

export const MIGRATE_STEPS = {
  preflight: spec({
    script: "migrate",
    words: ["preflight"],
    runsOn: "either",
    argv: none,
    out: {
      pg_running: req,
      pg_binary_version_num: opt,
      pg_version_num: opt,
      pg_in_recovery: opt,
      /** A primary: the timeline it writes on. A standby: its WAL receiver's status, sender, timeline, and lag. */
      pg_timeline: opt,
      standby_status: opt,
      standby_sender: opt,
      standby_timeline: opt,
      standby_lag_bytes: opt,
      db_bytes: opt,
      cluster_bytes: opt,
      system_identifier: opt,
      fenced: opt,
      replica_of: opt,
      redis_role: opt,
      pg_tls_cert: req,
      redis_tls_cert: req,
      proxy_tls_cert: opt,
      redis_keys: opt,
      redis_keys_total: opt,
      data_bytes: req,
      data_free_bytes: req,
      backup_free_bytes: opt,
    },
    families: ["table_rows"],
  }),
  backup: spec({
    script: "migrate",
    words: ["backup"],
    runsOn: "old",
    argv: (a: { id: string }) => [a.id],
    out: { backup_file: req, backup_bytes: opt, backup_ms: opt },
  }),
  drop_slot: spec({ script: "migrate", words: ["drop_slot"], runsOn: "old", argv: none, out: { slot_dropped: opt } }),
  /** stdin: the other droplet's PostgreSQL certificate (its preflight's pg_tls_cert). */
  pg_trust: spec({ script: "migrate", words: ["pg_trust"], runsOn: "either", argv: none, out: { pg_trusted: opt } }),
  standby: spec({
    script: "migrate",
    words: ["standby"],
    runsOn: "new",
    argv: (a: { oldAddress: string; oldPort: number }) => [a.oldAddress, a.oldPort],
    out: { copy_ms: req, copied_bytes: req, standby: opt },
  }),
  /** stdin: the old droplet's Redis certificate. */
  redis_replica: spec({
    script: "migrate",
    words: ["redis_replica"],
    runsOn: "new",
    argv: (a: { oldAddress: string; oldPort: number; announce: string }) => [a.oldAddress, a.oldPort, a.announce],
    out: { redis_replica: opt },
  }),
  lag: spec({ script: "migrate", words: ["lag"], runsOn: "new", argv: none, out: LAG }),
  catchup: spec({
    script: "migrate",
    words: ["catchup"],
    runsOn: "new",
    argv: (a: { maxLagBytes: number; seconds: number }) => [a.maxLagBytes, a.seconds],
    out: LAG,
  }),
  checkpoint: spec({
    script: "migrate",
    words: ["checkpoint"],
    runsOn: "old",
    argv: none,
    out: { checkpoint_ms: opt },
  }),
  /** With `hold` (stdin: proxy-switch.sh), the old proxy's hold first, in the same round trip. */
  fence: spec({
    script: "migrate",
    words: ["fence"],
    runsOn: "old",
    argv: (a: { hold?: { target: string; seconds: number } }) =>
      a.hold ? ["hold", a.hold.target, a.hold.seconds] : [],
    out: { fence_lsn: req, stop_ms: opt, redis_offset: opt },
    proxy: "hold",
  }),
  /**
   * `fenceLsn: "-"` with a gate: armed, it reads proxy-switch.sh, the go mark and then the go line on stdin. With a
   * gate, the internal listener opens in the same round trip once Redis here is the master.
   */
  promote: spec({
    script: "migrate",
    words: ["promote"],
    runsOn: "new",
    argv: (a: { fenceLsn: string; seconds: number; gate?: { redisSeconds: number } }) => [
      a.fenceLsn,
      a.seconds,
      ...(a.gate ? ["gate", a.gate.redisSeconds] : []),
    ],
    out: {
      promoted: req,
      already_promoted: opt,
      replay_lsn: opt,
      promote_ms: opt,
      redis_took_over: opt,
      gate: opt,
    },
    proxy: "gate",
  }),
  /** stdin: the new droplet's Redis certificate, or nothing when redis_trust ran. */
  redis_failover: spec({
    script: "migrate",
    words: ["redis_failover"],
    runsOn: "old",
    argv: (a: { newAddress: string; newPort: number; timeoutMs: number }) => [a.newAddress, a.newPort, a.timeoutMs],
    out: { redis_failover_ms: opt, redis_synced_ms: opt },
  }),
  redis_follow: spec({
    script: "migrate",
    words: ["redis_follow"],
    runsOn: "old",
    argv: (a: { newAddress: string; newPort: number }) => [a.newAddress, a.newPort],
    out: { redis_following: opt },
  }),
  /** stdin: the new droplet's Redis certificate. */
  redis_trust: spec({
    script: "migrate",
    words: ["redis_trust"],
    runsOn: "old",
    argv: none,
    out: { redis_trusted: opt },
  }),
  redis_promote: spec({
    script: "migrate",
    words: ["redis_promote"],
    runsOn: "new",
    argv: none,
    out: { redis_role: opt },
  }),
  forget_primary: spec({
    script: "migrate",
    words: ["forget_primary"],
    runsOn: "new",
    argv: none,
    out: { forgot_primary: opt },
  }),
  /** After the commit point: the old PostgreSQL follows the new primary (or is rewound, or left stopped, and says why). */
  follow: spec({
    script: "migrate",
    words: ["follow"],
    runsOn: "old",
    argv: (a: { newAddress: string; newPort: number; seconds: number }) => [a.newAddress, a.newPort, a.seconds],
    out: {
      follow: req,
      follow_reason: opt,
      follow_old_checkpoint: opt,
      follow_old_timeline: opt,
      follow_old_end: opt,
      follow_timeline: opt,
      follow_fork: opt,
      follow_replay_lsn: opt,
      follow_ms: opt,
    },
  }),
  /** Read only (--status): the old server now: stopped, primary or standby, and as a standby its sender and lag. */
  follower: spec({
    script: "migrate",
    words: ["follower"],
    runsOn: "old",
    argv: none,
    out: {
      follower_pg: req,
      follower_status: opt,
      follower_sender: opt,
      follower_timeline: opt,
      follower_replay_lsn: opt,
      follower_lag_bytes: opt,
    },
  }),
  counts: spec({
    script: "migrate",
    words: ["counts"],
    runsOn: "either",
    argv: none,
    out: { redis_keys: opt },
    families: ["count"],
  }),
  health: spec({
    script: "migrate",
    words: ["health"],
    runsOn: "new",
    argv: (a: { url?: string }) => (a.url ? [a.url] : []),
    out: { healthy: opt },
  }),
  freeze: spec({ script: "migrate", words: ["freeze"], runsOn: "old", argv: none, out: { freeze_ms: opt } }),
  /** Run by rollback_old itself; no runner calls it alone. */
  unfreeze: spec({ script: "migrate", words: ["unfreeze"], runsOn: "old", argv: none, out: { frozen: opt } }),
  dump_restore: spec({
    script: "migrate",
    words: ["dump_restore"],
    runsOn: "new",
    argv: (a: { oldAddress: string; oldPort: number; jobs: number; id: string }) => [
      a.oldAddress,
      a.oldPort,
      a.jobs,
      a.id,
    ],
    out: { dump_ms: req, dump_bytes: req, restore_ms: req },
  }),
  rollback_old: spec({
    script: "migrate",
    words: ["rollback_old"],
    runsOn: "old",
    argv: none,
    // serving: printed as soon as the old server writes again, before the step ends (the runner watches for it).
    out: { serving: opt, rolled_back: opt },
  }),
  /** `keepFollowing`: a switch back's target goes on following the source. */
  rollback_new: spec({
    script: "migrate",
    words: ["rollback_new"],
    runsOn: "new",
    argv: (a: { keepFollowing?: boolean }) => (a.keepFollowing ? ["keep_following"] : []),
    out: { stopped_step: opt, promoted: opt, rolled_back: opt },
  }),
  retire: spec({ script: "migrate", words: ["retire"], runsOn: "old", argv: none, out: { retired: opt } }),
};

export type MigrateStepName = keyof typeof MIGRATE_STEPS;
export type ProxyStepName = keyof typeof PROXY_STEPS;

// biome-ignore lint/suspicious/noExplicitAny: any step's argument type
export type AnySpec = StepSpec<any, z.ZodRawShape, ProxyAction | undefined>;
export type ArgsOf<S> = S extends StepSpec<infer A, z.ZodRawShape, ProxyAction | undefined> ? A : never;

type ProxyOut<P> = [P] extends [ProxyAction] ? { [K in keyof (typeof PROXY_OUT)[P]]?: string } : unknown;
type Families = { readonly [key: `${string}.${string}`]: string | undefined };
/** What a step prints, as the runner reads it: its own keys, its proxy action's, and its families' (flat). */
export type OutputOf<S extends AnySpec> = z.infer<z.ZodObject<S["out"]>> &
  // biome-ignore lint/suspicious/noExplicitAny: only the proxy action is inferred
  (S extends StepSpec<any, z.ZodRawShape, infer P> ? ProxyOut<P> : unknown) &
  Families;

/** The keys a step may print (its own and its proxy action's), and whether each is required. */
export function outputShape(s: AnySpec): z.ZodRawShape {
  return { ...(s.proxy ? PROXY_OUT[s.proxy] : {}), ...s.out };
}

/** A step printed a key it does not declare, or left out one it must print. */
export class StepOutputError extends Error {}

/** The `key=value` lines of a script's stdout (later keys win; other lines are ignored). */
export function parseValues(stdout: string): Record<string, string> {
  const values: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const m = /^([a-z_][a-z0-9_.]*)=(.*)$/i.exec(line.trim());
    if (m && m[1] !== undefined) values[m[1]] = m[2] ?? "";
  }
  return values;
}

/** A step's stdout, checked against its declaration: an undeclared or missing key is an error naming both. */
export function readOutput<S extends AnySpec>(name: string, s: S, stdout: string): OutputOf<S> {
  const values = parseValues(stdout);
  const own: Record<string, string> = {};
  const family: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    const dot = key.indexOf(".");
    if (dot > 0 && s.families?.includes(key.slice(0, dot))) family[key] = value;
    else own[key] = value;
  }
  const parsed = z.strictObject(outputShape(s)).safeParse(own);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) =>
      i.code === "unrecognized_keys"
        ? `printed ${i.keys.map((k) => `"${k}"`).join(", ")}, which it does not declare`
        : `did not print "${String(i.path[0])}"`,
    );
    throw new StepOutputError(`step ${name} (${entryFile(s.script)}): ${problems.join("; ")}`);
  }
  return { ...(parsed.data as Record<string, string>), ...family } as OutputOf<S>;
}
