/**
 * The migration journal and lock, as data. The journal is one JSON object on the OLD droplet's data volume
 * (`/var/lib/chatbot/migration/journal.json` on a droplet, `$CHATBOT_MIGRATION_DIR/journal.json` in the host
 * runtime), written atomically by migrate.sh's `journal_write` step (the JSON travels on stdin, then temp file, sync,
 * rename). It records where a migration stands, so that the next run can decide, before touching anything, whether
 * to do nothing (done), roll back (stopped before the commit point), go forward (stopped after it) or refuse
 * (another migration is unfinished). The lock (a directory made with mkdir on both droplets, with a heartbeat) keeps
 * two runs apart. Pure: no I/O.
 */
import type { Droplet } from "./commands";
import type { Strategy } from "./strategy";
import type { Phase } from "./timeline";

export const JOURNAL_VERSION = 1;

/**
 * running: a run is (or was, if it died) in progress. rolled-back: stopped before the commit point and undone: the old
 * server serves with all its data. rollback-failed: stopped before the commit point, undo incomplete. failed-after-
 * commit: stopped after the commit point (error or signal): a re-run goes forward. done: finished.
 */
export const OUTCOMES = ["running", "rolled-back", "rollback-failed", "failed-after-commit", "done"] as const;
export type JournalOutcome = (typeof OUTCOMES)[number];

/** Steps after the commit point, each recorded once done, so a resumed run never repeats one. */
export const AFTER_COMMIT_STEPS = [
  "promote",
  "redis",
  "gate",
  "traffic",
  "retire",
  "forget_primary",
  "health",
  "counts",
  "follow",
] as const;
export type AfterCommitStep = (typeof AFTER_COMMIT_STEPS)[number];

/** One side of a migration, as the journal names it. */
export interface JournalEnd {
  /** The ssh target as the runner reaches it (user@host or user@host:port). */
  target: string;
  /** The address the other droplet reaches this one on. */
  privateAddress: string;
  pgPort: number;
  redisPort: number;
}

/** After the commit point: does the old PostgreSQL follow the new primary (the `follow` step), since when, or why not. */
export interface Follower {
  /** streaming: as it stopped at the fence; rewound: by pg_rewind first; stopped: it does not follow (`reason`). */
  state: "streaming" | "rewound" | "stopped";
  /** The server it follows (the new droplet's target), and when it started to. */
  of: string;
  since?: string;
  reason?: string;
  /** What the step checked: the old server's end of WAL, the new timeline and where it forks from the old one. */
  oldEnd?: string;
  timeline?: string;
  fork?: string;
}

export interface Journal {
  version: typeof JOURNAL_VERSION;
  id: string;
  from: JournalEnd;
  to: JournalEnd;
  strategy: Strategy;
  /** Where the migration is (or stopped); "done" once finished. */
  phase: Phase | "done";
  phasesDone: Phase[];
  /** Steps after the commit point that have finished. */
  stepsDone: AfterCommitStep[];
  committed: boolean;
  /** ISO 8601 UTC: when the commit point was passed (pg_promote, or the go decision of a dump-restore). */
  committedAt?: string;
  /** The old primary's shutdown checkpoint (replicate): the new one had replayed up to it when promoted. */
  fenceLsn?: string;
  /** When writes stopped (fence or freeze), and when traffic reached the new server: the write downtime. */
  cutoverStartedAt?: string;
  trafficMovedAt?: string;
  /** Row counts on the old server before the cutover, for the verification of a resumed run. */
  oldCounts?: Record<string, number>;
  backupFile?: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  outcome: JournalOutcome;
  /** The last run that wrote it (host:pid), and how many runs have. */
  holder: string;
  runs: number;
  /** Why the last run stopped, when it did not finish. */
  lastError?: string;
  follower?: Follower;
  /** A switch back: the target followed the source (since an earlier migration the other way); nothing was copied. */
  switchBack?: true;
  /**
   * The id of the migration this one reverses: the finished one the other way between the same two servers, whose
   * journal was on the target. That migration's journal is then no longer the last word on its pair (see decide).
   */
  reverses?: string;
}

export interface LockInfo {
  run: string;
  holder: string;
  started: string;
  /** Seconds since the last heartbeat, by the droplet's clock. */
  ageSeconds: number;
}

/** What `journal_read` says about one droplet. */
export interface DropletState {
  journal?: Journal;
  lock?: LockInfo;
}

/** "user@host" plus ":port" when the droplet's ssh options name one (-p N): how the runner reaches it. */
export function sshTarget(d: Droplet): string {
  const opts = d.sshOptions ?? [];
  const at = opts.indexOf("-p");
  const port = at >= 0 ? opts[at + 1] : undefined;
  return port ? `${d.ssh}:${port}` : d.ssh;
}

export function journalEnd(d: Droplet): JournalEnd {
  return {
    target: sshTarget(d),
    privateAddress: d.privateAddress,
    pgPort: d.pgPort ?? 5432,
    redisPort: d.redisPort ?? 6379,
  };
}

export function sameEnd(a: JournalEnd, b: JournalEnd): boolean {
  return a.target === b.target && a.privateAddress === b.privateAddress && a.pgPort === b.pgPort;
}

/** Stopped before the commit point and not undone, or stopped after it: a run is needed to end it. */
export function isUnfinished(j: Journal): boolean {
  return j.outcome === "running" || j.outcome === "rollback-failed" || j.outcome === "failed-after-commit";
}

export function describeJournal(j: Journal): string {
  const where =
    j.outcome === "done"
      ? "done"
      : `${j.outcome}, phase ${j.phase}${j.committed ? ", after the commit point" : ", before the commit point"}`;
  return `${j.switchBack ? "switch back" : "migration"} ${j.id} (${j.from.target} -> ${j.to.target}, ${j.strategy}; ${where})`;
}

/** The `journal_read` step's key=value output -> the droplet's journal and lock. Throws on a journal it cannot read. */
export function parseDropletState(values: Readonly<Record<string, string | undefined>>): DropletState {
  const state: DropletState = {};
  if (values.journal_present === "1") state.journal = parseJournal(values.journal ?? "");
  if (values.lock_present === "1") {
    state.lock = {
      run: values.lock_run ?? "?",
      holder: values.lock_holder ?? "?",
      started: values.lock_started ?? "?",
      ageSeconds: Number(values.lock_age_s ?? NaN),
    };
  }
  return state;
}

export function parseJournal(text: string): Journal {
  let j: Partial<Journal>;
  try {
    j = JSON.parse(text) as Partial<Journal>;
  } catch (e) {
    throw new Error(`the migration journal is not valid JSON (${(e as Error).message}); inspect it on the old droplet`);
  }
  const problems: string[] = [];
  if (j.version !== JOURNAL_VERSION)
    problems.push(`version ${String(j.version)} (this runner reads ${JOURNAL_VERSION})`);
  for (const key of ["id", "strategy", "phase", "startedAt", "updatedAt", "holder"] as const) {
    if (typeof j[key] !== "string") problems.push(`${key} missing`);
  }
  if (typeof j.committed !== "boolean") problems.push("committed missing");
  if (!OUTCOMES.includes(j.outcome as JournalOutcome)) problems.push(`outcome "${String(j.outcome)}"`);
  if (!j.from?.target || !j.to?.target) problems.push("from/to missing");
  if (problems.length) throw new Error(`the migration journal cannot be used: ${problems.join("; ")}`);
  return { phasesDone: [], stepsDone: [], runs: 0, ...j } as Journal;
}

export function serializeJournal(j: Journal): string {
  return JSON.stringify(j);
}

export type RunMode = "run" | "resume" | "rollback";

export type Decision =
  /**
   * Nothing relevant on record: a new migration. `archive` is a finished journal it replaces on the old droplet;
   * `reverses`, the finished migration the other way whose journal is on the target.
   */
  | { kind: "fresh"; archive?: Journal; reverses?: string }
  /** This pair's migration is done: touch nothing, print its result. */
  | { kind: "noop"; journal: Journal }
  /** This pair's migration stopped before its commit point: undo it; a run then starts afresh, --rollback stops. */
  | { kind: "rollback"; journal: Journal; thenFresh: boolean; reverses?: string }
  /** This pair's migration passed its commit point: finish it. */
  | { kind: "forward"; journal: Journal }
  /** Another migration is unfinished on one of the droplets (exit 1). */
  | { kind: "refuse"; reason: string }
  /** --resume or --rollback with nothing to act on (exit 2). */
  | { kind: "nothing"; reason: string }
  /** --rollback after the commit point (exit 3 while unfinished, 2 when done). */
  | { kind: "past-commit"; journal: Journal; reason: string };

/**
 * What a run must do, from the journals on the old (`--from`) and new (`--to`) droplets. A journal lives on the
 * old droplet of the migration it describes, so a journal on the new droplet is another migration's, from there.
 *
 * Back and forth between two servers (A -> B, then B -> A, then A -> B again), this pair's finished journal on the
 * old droplet is an earlier migration's once the one the other way (its journal on the new droplet) has reversed it:
 * the run is a new migration. A switch back (`switchBack`) is never answered by a finished migration that was not
 * one: the preflight then judges the servers as they are.
 */
export function decide(
  mode: RunMode,
  pair: { from: JournalEnd; to: JournalEnd },
  onOld?: Journal,
  onNew?: Journal,
  opts: { switchBack?: boolean } = {},
): Decision {
  const ours = onOld && sameEnd(onOld.from, pair.from) && sameEnd(onOld.to, pair.to) ? onOld : undefined;
  const otherWay = onNew && sameEnd(onNew.from, pair.to) && sameEnd(onNew.to, pair.from) ? onNew : undefined;
  const reverses = otherWay?.outcome === "done" ? otherWay.id : undefined;
  const reversed = ours?.outcome === "done" && reverses !== undefined && otherWay?.reverses === ours.id;
  const otherKind = ours?.outcome === "done" && opts.switchBack === true && !ours.switchBack;
  const mine = reversed || otherKind ? undefined : ours;
  const way = `npm run migrate -- --from ${pair.to.target} --to ${pair.from.target}`;
  const back = `${way} --switch-back while the old server follows the new one (--status says), else ${way} --overwrite-target`;
  if (mode === "rollback") {
    if (mine?.committed) {
      const finish = mine.outcome === "done" ? "" : "Finish it with --resume; ";
      return {
        kind: "past-commit",
        journal: mine,
        reason:
          `${describeJournal(mine)} passed its commit point at ${mine.committedAt ?? "?"}: the new server is the primary and cannot be rolled back. ` +
          `${finish}the way back is a migration the other way: ${back}`,
      };
    }
    if (!mine || !isUnfinished(mine)) {
      return {
        kind: "nothing",
        reason: `nothing to roll back: ${mine ? describeJournal(mine) : `no migration journal for ${pair.from.target} -> ${pair.to.target}`}`,
      };
    }
    return { kind: "rollback", journal: mine, thenFresh: false };
  }
  if (mine?.outcome === "done") return { kind: "noop", journal: mine };
  if (onOld && !mine && isUnfinished(onOld)) {
    return {
      kind: "refuse",
      reason: `the old server has an unfinished ${describeJournal(onOld)}: finish it (--resume) or roll it back (--rollback) with its own --from/--to first`,
    };
  }
  if (onNew && onNew !== onOld && isUnfinished(onNew)) {
    return {
      kind: "refuse",
      reason: `the target is the old server of an unfinished ${describeJournal(onNew)}: finish it or roll it back first`,
    };
  }
  if (mode === "resume" && !mine)
    return {
      kind: "nothing",
      reason: `nothing to resume: no migration journal for ${pair.from.target} -> ${pair.to.target}`,
    };
  const after = reverses === undefined ? {} : { reverses };
  if (mine && isUnfinished(mine))
    return mine.committed
      ? { kind: "forward", journal: mine }
      : { kind: "rollback", journal: mine, thenFresh: true, ...after };
  return { kind: "fresh", archive: onOld, ...after };
}

/** The old server as the `follower` step finds it now (--status). */
export interface FollowerNow {
  pg: "stopped" | "primary" | "standby";
  /** As a standby: its WAL receiver's status (streaming), the host:port it streams from, on which timeline. */
  status?: string;
  sender?: string;
  timeline?: string;
  replayLsn?: string;
  /** Replay behind what the sender last reported as written, in bytes. */
  lagBytes?: number;
}

/** The `follower` step's key=value output. */
export function parseFollowerNow(v: Readonly<Record<string, string | undefined>>): FollowerNow {
  const pg = v.follower_pg === "standby" || v.follower_pg === "primary" ? v.follower_pg : "stopped";
  const lag = v.follower_lag_bytes ? Number(v.follower_lag_bytes) : Number.NaN;
  return {
    pg,
    ...(v.follower_status ? { status: v.follower_status } : {}),
    ...(v.follower_sender ? { sender: v.follower_sender } : {}),
    ...(v.follower_timeline ? { timeline: v.follower_timeline } : {}),
    ...(v.follower_replay_lsn ? { replayLsn: v.follower_replay_lsn } : {}),
    ...(Number.isFinite(lag) && lag >= 0 ? { lagBytes: lag } : {}),
  };
}

/** The follower as a human reads it (--status): what the journal recorded, and what the old server is now. */
export function formatFollower(j: Journal, now?: FollowerNow): string {
  const f = j.follower;
  const rows: Array<[string, string]> = [];
  if (f) {
    const checked = [
      f.oldEnd && `old end ${f.oldEnd}`,
      f.timeline && `timeline ${f.timeline}`,
      f.fork && `fork ${f.fork}`,
    ]
      .filter(Boolean)
      .join(", ");
    rows.push([
      "follower",
      `${j.from.target} ${f.state === "stopped" ? `does not follow ${f.of}: ${f.reason ?? "?"}` : `follows ${f.of} (${f.state}) since ${f.since ?? "?"}`}${checked ? `; checked: ${checked}` : ""}`,
    ]);
  }
  if (now) {
    const role =
      now.pg === "standby"
        ? `standby of ${now.sender ?? "no sender"}${now.status ? `, ${now.status}` : ""}${now.timeline ? `, timeline ${now.timeline}` : ""}, lag ${now.lagBytes ?? "?"} bytes`
        : now.pg;
    rows.push(["old server", role]);
  }
  return rows.map(([k, v]) => `  ${k.padEnd(13)}${v}`).join("\n");
}

/** The journal as a human reads it (--status). */
export function formatJournal(j: Journal): string {
  const rows: Array<[string, string | undefined]> = [
    ["migration", j.id],
    [
      "from",
      `${j.from.target} (private ${j.from.privateAddress}, PostgreSQL ${j.from.pgPort}, Redis ${j.from.redisPort})`,
    ],
    ["to", `${j.to.target} (private ${j.to.privateAddress}, PostgreSQL ${j.to.pgPort}, Redis ${j.to.redisPort})`],
    ["strategy", j.strategy],
    [
      "switch back",
      j.switchBack
        ? `yes: the target followed the source, nothing copied${j.reverses ? ` (reverses migration ${j.reverses})` : ""}`
        : undefined,
    ],
    ["outcome", j.outcome],
    ["phase", `${j.phase}${j.phasesDone.length ? ` (done: ${j.phasesDone.join(", ")})` : ""}`],
    [
      "committed",
      j.committed ? `yes, at ${j.committedAt ?? "?"}${j.fenceLsn ? ` (fence LSN ${j.fenceLsn})` : ""}` : "no",
    ],
    ["after commit", j.stepsDone.length ? j.stepsDone.join(", ") : undefined],
    ["started", j.startedAt],
    ["updated", `${j.updatedAt} by ${j.holder} (${j.runs} run${j.runs === 1 ? "" : "s"})`],
    ["finished", j.finishedAt],
    ["last error", j.lastError],
    ["backup", j.backupFile],
  ];
  return rows.flatMap(([k, v]) => (v === undefined ? [] : [`  ${k.padEnd(13)}${v}`])).join("\n");
}

/** What to run next, for a journal (--status, and the message of a run that stopped). */
export function nextAction(j: Journal): string {
  const pair = `--from ${j.from.target} --to ${j.to.target}`;
  // A switch back is run again as one: without the flag a run is a tier migration, refused by a target with data.
  const again = j.switchBack ? `npm run migrate -- ${pair} --switch-back` : `npm run migrate -- ${pair}`;
  const afresh = j.switchBack ? "switches back afresh" : "migrates afresh";
  switch (j.outcome) {
    case "done":
      return "nothing: the migration is done (a re-run prints its result and changes nothing)";
    case "failed-after-commit":
      return `npm run migrate -- ${pair} --resume   (goes forward: the commit point is passed)`;
    case "rolled-back":
      return `nothing needed: the old server serves with all its data. To try again: ${again}`;
    default:
      return j.committed
        ? `npm run migrate -- ${pair} --resume   (goes forward: the commit point is passed)`
        : `npm run migrate -- ${pair} --rollback   (or a plain re-run, ${again}: rolls back, then ${afresh})`;
  }
}

/**
 * The `next` line when locks are held but no migration is on record: a run that stopped (or was killed) between
 * taking its lock and writing its journal changed nothing, and a plain re-run takes a stale lock over.
 */
export function lockAdvice(locks: Array<LockInfo | undefined>, staleSeconds: number): string | undefined {
  const held = locks.filter((l): l is LockInfo => l !== undefined);
  if (held.length === 0) return undefined;
  const freshest = Math.min(...held.map((l) => l.ageSeconds));
  const runs = [...new Set(held.map((l) => `run ${l.run} (${l.holder})`))].join(", ");
  const wait = Math.max(0, staleSeconds - freshest + 1);
  return wait > 0
    ? `${runs} holds the lock and has written no journal: nothing was changed. If that run is gone, a plain re-run takes the lock over once it has had no heartbeat for ${staleSeconds} s (in about ${wait} s); if it still runs, let it finish`
    : `${runs} held the lock and wrote no journal, and its heartbeat stopped ${freshest} s ago: nothing was changed; a plain re-run takes the lock over`;
}

export function formatLock(side: string, lock: LockInfo | undefined): string {
  return lock
    ? `  lock (${side})   held by ${lock.holder}, run ${lock.run}, started ${lock.started}, last heartbeat ${lock.ageSeconds} s ago`
    : `  lock (${side})   free`;
}
