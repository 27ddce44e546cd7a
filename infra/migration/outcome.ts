/**
 * What a finished run means: the exit code of `npm run migrate`, the result line the stack reads, what to tell the
 * operator, and (for --dry-run) the steps a fresh run takes.
 */
import { type Budgets, DEFAULT_BUDGETS, type Rates, maxLagBytesForCutover } from "./budget";
import { type Droplet, type StepCommand, migrationCommands } from "./commands";
import { type RunMode, nextAction } from "./journal";
import type { MigrationResult } from "./result-line";
import { journalDowntime, LOCK_STALE_SECONDS, type MigrationReport } from "./run-api";
import { FOLLOW_STREAM_SECONDS } from "./steps";
import type { Phase } from "./timeline";

/** What the plan shows for the certificates the runner reads from each droplet's preflight. */
const OLD_REDIS_CERT = "<the old droplet's Redis certificate, from its preflight>";
const NEW_REDIS_CERT = "<the new droplet's Redis certificate, from its preflight>";
const OLD_PG_CERT = "<the old droplet's PostgreSQL certificate, from its preflight>";
const NEW_PG_CERT = "<the new droplet's PostgreSQL certificate, from its preflight>";
const NEW_PROXY_CERT = "<the new droplet's internal listener certificate, from its preflight>";

/**
 * The exit code of `npm run migrate` for a report: 0 done (or, with --rollback, rolled back); 1 did not migrate and
 * the old server serves with all its data (refused, aborted, rolled back); 2 nothing to act on (--resume, --rollback),
 * --rollback of a finished migration, or a switch back to a server that does not follow the source (or with another
 * strategy than auto or replicate); 3 an operator is needed (stopped after the commit point, rollback
 * incomplete, lock lost).
 */
export function exitCodeFor(report: MigrationReport, mode: RunMode = "run"): 0 | 1 | 2 | 3 {
  switch (report.outcome) {
    case "done":
    case "already-done":
      return 0;
    case "rolled-back":
      return mode === "rollback" ? 0 : 1;
    case "refused":
      return report.wrongTarget ? 2 : 1;
    case "aborted":
      return 1;
    case "nothing":
      return 2;
    case "rollback-refused":
      return report.journal?.outcome === "done" ? 2 : 3;
    default:
      return 3;
  }
}

/** The result line's content for a finished migration (from its journal), or undefined. */
export function migrationResult(report: MigrationReport): MigrationResult | undefined {
  const j = report.journal;
  if (!report.ok || !j || j.outcome !== "done" || !j.committedAt || !j.finishedAt) return undefined;
  const downtime = report.writeDowntimeMs ?? journalDowntime(j);
  const follows = j.follower && j.follower.state !== "stopped" ? j.follower.since : undefined;
  return {
    id: j.id,
    state: "done",
    from: j.from.target,
    to: j.to.target,
    strategy: j.strategy,
    committedAt: j.committedAt,
    finishedAt: j.finishedAt,
    resumed: report.resumed,
    ...(downtime === undefined ? {} : { writeDowntimeMs: downtime }),
    ...(j.switchBack ? { switchBack: true as const } : {}),
    ...(follows === undefined ? {} : { followingSince: follows }),
  };
}

/** What to tell the operator after a run that did not finish (for the CLI). */
export function whatNext(report: MigrationReport): string | undefined {
  return report.journal && report.outcome !== "done" && report.outcome !== "already-done"
    ? nextAction(report.journal)
    : undefined;
}

/**
 * The steps a fresh run takes (no journal on record), in order, with placeholders for values only known at run time
 * (for --dry-run). The journal, lock and heartbeat steps are droplet steps too, and are listed.
 */
export function plannedCommands(
  old: Droplet,
  next: Droplet,
  strategy: "replicate" | "dump-restore",
  opts: {
    id: string;
    budgets?: Budgets;
    rates?: Rates;
    dumpJobs?: number;
    healthUrl?: string;
    skipBackup?: boolean;
    lockStaleSeconds?: number;
    /** A switch back (replicate only): no backup, no copy. */
    switchBack?: boolean;
  },
): Array<{ phase: Phase; cmd: StepCommand | string }> {
  const c = migrationCommands(old, next);
  const budgets = opts.budgets ?? DEFAULT_BUDGETS;
  const run = "<run-id>";
  const journal = c.journalWrite(run, "<journal JSON>");
  const lock = {
    runId: run,
    holder: "<host:pid>",
    startedAt: "<started>",
    staleSeconds: opts.lockStaleSeconds ?? LOCK_STALE_SECONDS.default,
  };
  const steps: Array<{ phase: Phase; cmd: StepCommand | string }> = [];
  const add = (phase: Phase, ...cmds: Array<StepCommand | string>) =>
    steps.push(...cmds.map((cmd) => ({ phase, cmd })));
  const read = [c.journalRead("old"), c.journalRead("new")];
  add(
    "preflight",
    ...read,
    c.lockAcquire("old", lock),
    c.lockAcquire("new", lock),
    ...read,
    c.preflight("old"),
    c.preflight("new"),
  );
  const claim = c.claimTarget("<old system_identifier>", opts.id);
  if (opts.switchBack && strategy === "replicate")
    add("catchup", journal, claim, c.gateClose(), c.proxyTrust(NEW_PROXY_CERT), c.redisReplica(OLD_REDIS_CERT));
  else add("backup", journal, ...(opts.skipBackup ? [] : [c.backup(opts.id)]));
  if (strategy === "replicate") {
    if (!opts.switchBack) {
      add(
        "copy",
        journal,
        claim,
        c.gateClose(),
        c.proxyTrust(NEW_PROXY_CERT),
        c.dropSlot(),
        c.pgTrust("new", OLD_PG_CERT),
        c.standby(),
        c.redisReplica(OLD_REDIS_CERT),
      );
      add("catchup", journal);
    }
    add(
      "catchup",
      c.catchup(maxLagBytesForCutover(budgets, opts.rates), 120),
      c.counts("old"),
      c.checkpoint(),
      c.pgTrust("old", NEW_PG_CERT),
      c.redisTrust(NEW_REDIS_CERT),
    );
    add(
      "cutover",
      journal,
      c.promoteArmed(60, 5),
      c.fence(budgets.downtimeBudgetSeconds),
      c.redisFollow(),
      journal,
      "move traffic to the new droplet",
    );
    add(
      "verify",
      journal,
      c.forgetPrimary(),
      journal,
      c.health(opts.healthUrl),
      journal,
      c.counts("new"),
      c.follow(FOLLOW_STREAM_SECONDS),
      journal,
      journal,
    );
  } else {
    add("copy", journal, claim, c.redisReplica(OLD_REDIS_CERT), c.pgTrust("new", OLD_PG_CERT));
    add(
      "cutover",
      journal,
      c.freeze(),
      c.counts("old"),
      c.dumpRestore(opts.dumpJobs ?? 2, opts.id),
      c.counts("new"),
      journal,
      c.redisFailover(5000, NEW_REDIS_CERT),
      c.proxyTrust(NEW_PROXY_CERT),
      c.proxyHold(budgets.downtimeBudgetSeconds),
      "move traffic to the new droplet",
    );
    add("verify", journal, c.retire(), journal, c.forgetPrimary(), journal, c.health(opts.healthUrl), journal, journal);
  }
  add("verify", c.lockRelease("new", run), c.lockRelease("old", run));
  return steps;
}
