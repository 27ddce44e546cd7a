/**
 * npm run migrate -- --from <ssh target> --to <ssh target> [--strategy auto|replicate|dump-restore] [--dry-run]
 *                    [--overwrite-target | --switch-back] [--lock-stale-seconds <n>]
 *                    [--resume | --rollback | --status [--json]]
 *
 * Runs the tier migration by hand (to rehearse, or for a server this stack did not create), and is the command the
 * stack's TierMigration runs: the same droplet steps, over ssh, with a timeline of phases and a progress bar while
 * data is copied. Every run ends in a known state recorded in the journal on the old droplet; a re-run finishes
 * what a stopped run left (see --help for the exit codes). On success the last stdout line is the result line the
 * stack reads (infra/migration/result-line.ts).
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, Option } from "commander";
import { SingleBar } from "cli-progress";
import { validateBudgets } from "../infra/migration/budget";
import {
  type Droplet,
  dropletFromTarget,
  formatCommand,
  type MigrationCommands,
  migrationCommands,
  parseEnvList,
  parsePorts,
  readStep,
} from "../infra/migration/commands";
import {
  type DropletState,
  type FollowerNow,
  type RunMode,
  formatFollower,
  formatJournal,
  formatLock,
  lockAdvice,
  nextAction,
  parseDropletState,
  parseFollowerNow,
} from "../infra/migration/journal";
import { pinnedHostKey } from "../infra/host-keys";
import {
  HostKeyMismatchError,
  knownHostsFileIn,
  verifyPinnedHostKeys,
  withHostKey,
} from "../infra/migration/host-key-check";
import { formatMigrationResult } from "../infra/migration/result-line";
import {
  type MigrationReport,
  exitCodeFor,
  migrationResult,
  plannedCommands,
  runMigration,
  whatNext,
} from "../infra/migration/runner";
import { type SshExecutor, sshExecutor } from "../infra/migration/ssh-executor";
import { parseStrategyRequest } from "../infra/migration/strategy";
import { SWITCH_BACK_STRATEGIES } from "../infra/migration/switch-back";
import { formatTimeline } from "../infra/migration/timeline";
import { type ExitCode, NeedsHumanError, UsageError, asUsage, runCli } from "./cli-exit";
import { lockStaleOption, parseLockStaleSeconds } from "./lock-stale-option";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const WHAT_A_RUN_DOES = `
What a run does:
  It reads the migration journal on the old droplet (/var/lib/chatbot/migration/journal.json) and takes a lock on
  both droplets. A migration of this pair already done: nothing is touched, the result line is printed again (exit 0).
  Stopped before its commit point: it is rolled back, then migrated afresh. Stopped after it: it is finished (never
  repeating a finished step). Another migration unfinished on either droplet, a fresh lock, the same PostgreSQL
  cluster on both sides, a target holding data (without --overwrite-target) or data that does not fit the target:
  refused, nothing touched. SIGINT/SIGTERM before the commit point roll back; after it they leave the journal for
  --resume. On success the last stdout line is "chatbot-migration-result: {...}" (infra/migration/result-line.ts).
  --rollback that rolls back and --status that reads the journal exit 0 too.`;

const program = new Command("migrate")
  .description("Move the app's data from one droplet to another with a short write downtime")
  .requiredOption("--from <target>", "ssh target of the old droplet (user@host[:port])")
  .option("--to <target>", "ssh target of the new droplet (user@host[:port]); required except with --status")
  .option(
    "--from-private <address>",
    "old droplet's private (VPC) address, as the new one reaches it (default: --from host)",
  )
  .option("--to-private <address>", "new droplet's private (VPC) address (default: --to host)")
  .option("--from-ports <pg,redis>", "old droplet's PostgreSQL and Redis ports on its private address", "5432,6379")
  .option("--to-ports <pg,redis>", "new droplet's PostgreSQL and Redis ports on its private address", "5432,6379")
  .option("--strategy <name>", "auto | replicate | dump-restore", "auto")
  .option("--downtime-budget <seconds>", "downtimeBudgetSeconds", "300")
  .option("--migration-budget <minutes>", "migrationBudgetMinutes", "30")
  .option(
    "--ssh-option <option>",
    "extra ssh option for both droplets, repeatable (e.g. -o ...)",
    collect,
    [] as string[],
  )
  .option(
    "--from-host-key <key>",
    'the old droplet\'s pinned SSH host key, "ssh-ed25519 <base64>" (`pulumi stack output servers`: hostKey): only that key is accepted. Without: accepted on first use, with a warning',
  )
  .option("--to-host-key <key>", "the new droplet's pinned SSH host key (as --from-host-key)")
  .option(
    "--from-env <K=V>",
    "non-secret setting for the old droplet's script (e.g. CHATBOT_COMPOSE_FILE=...), repeatable",
    collect,
    [] as string[],
  )
  .option("--to-env <K=V>", "same for the new droplet", collect, [] as string[])
  .option(
    "--traffic-command <command>",
    "local shell command run after the cutover, once the old droplet's proxy forwards to the new one (e.g. reserved IP assignment); must be safe to run twice",
  )
  .option("--health-url <url>", "URL the new droplet checks after the cutover (from the droplet itself)")
  .option("--dump-jobs <n>", "pg_dump/pg_restore parallel jobs", "2")
  .addOption(lockStaleOption())
  .option("--skip-backup", "skip the pre-migration pg_dump on the old droplet")
  .option("--id <id>", "the migration id: journal, backup file (default: a timestamp)")
  .addOption(
    new Option(
      "--overwrite-target",
      "replace a target that holds data (rows in a user table, Redis keys, a fenced former primary)",
    ).conflicts(["switchBack"]),
  )
  .addOption(
    new Option(
      "--switch-back",
      "back to the server that follows --from (the old server of the last migration the other way, a streaming standby since): no backup, no copy, the same cutover. Refused (exit 2, nothing touched) when --to does not stream from --from on its timeline, or with --strategy dump-restore",
    ).conflicts(["status"]),
  )
  .addOption(
    new Option(
      "--resume",
      "continue this pair's unfinished (or rolled-back) migration; exit 2 if there is none",
    ).conflicts(["rollback", "status"]),
  )
  .addOption(
    new Option("--rollback", "roll back this pair's migration stopped before its commit point").conflicts(["status"]),
  )
  .option(
    "--status",
    "print the migration journal, the locks and the old server as a follower (role, lag), change nothing",
  )
  .option("--json", "with --status: print JSON")
  .option("--dry-run", "print the exact commands and exit")
  .addHelpText("after", WHAT_A_RUN_DOES);

interface Options {
  from: string;
  to?: string;
  fromPrivate?: string;
  toPrivate?: string;
  strategy: string;
  downtimeBudget: string;
  migrationBudget: string;
  sshOption: string[];
  fromEnv: string[];
  toEnv: string[];
  fromPorts: string;
  toPorts: string;
  fromHostKey?: string;
  toHostKey?: string;
  trafficCommand?: string;
  healthUrl?: string;
  dumpJobs: string;
  lockStaleSeconds: string;
  skipBackup?: boolean;
  id?: string;
  dryRun?: boolean;
  overwriteTarget?: boolean;
  switchBack?: boolean;
  resume?: boolean;
  rollback?: boolean;
  status?: boolean;
  json?: boolean;
}

function droplet(field: "from" | "to", o: Options): Droplet {
  const target = field === "from" ? o.from : o.to;
  if (!target) throw new UsageError("--to is required (except with --status)");
  return {
    ...dropletFromTarget(`--${field}`, target, {
      privateAddress: field === "from" ? o.fromPrivate : o.toPrivate,
      sshOptions: o.sshOption,
    }),
    env: parseEnvList(`--${field}-env`, field === "from" ? o.fromEnv : o.toEnv),
    ...parsePorts(`--${field}-ports`, field === "from" ? o.fromPorts : o.toPorts),
  };
}

/** A local shell command, asynchronously (signals keep being handled meanwhile); throws unless it exits 0. */
function runLocal(command: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn("sh", ["-c", command], { stdio: ["ignore", "inherit", "inherit"] });
    child.on("error", reject);
    child.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`traffic command exited ${code}`))));
  });
}

/** The old server as a follower now (read only); its failure is reported as such, not as the status's. */
async function followerNow(cmds: MigrationCommands, exec: SshExecutor): Promise<FollowerNow | undefined> {
  const cmd = cmds.follower();
  const r = await exec(cmd);
  if (r.code !== 0) {
    console.error(
      `migrate --status: the follower step exited ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").pop()}`,
    );
    return undefined;
  }
  return parseFollowerNow(readStep(cmd, r.stdout));
}

async function status(o: Options, exec: SshExecutor, lockStaleSeconds: number): Promise<ExitCode> {
  const old = droplet("from", o);
  const next = o.to ? droplet("to", o) : undefined;
  const cmds = migrationCommands(old, next ?? old);
  const read = async (side: "old" | "new"): Promise<DropletState> => {
    const cmd = cmds.journalRead(side);
    const r = await exec(cmd);
    if (r.code !== 0)
      throw new Error(
        `journal_read on the ${side} droplet exited ${r.code}: ${(r.stderr || r.stdout).trim().split("\n").slice(-2).join(" | ")}`,
      );
    return parseDropletState(readStep(cmd, r.stdout));
  };
  const oldState = await read("old");
  const newState = next ? await read("new") : undefined;
  const j = oldState.journal;
  const follower = j?.committed && j.strategy === "replicate" ? await followerNow(cmds, exec) : undefined;
  if (o.json) {
    const from = { target: o.from, ...oldState, ...(follower ? { follower: { ...j?.follower, now: follower } } : {}) };
    console.log(JSON.stringify({ from, ...(next ? { to: { target: o.to, ...newState } } : {}) }, null, 2));
    return 0;
  }
  console.log(
    j
      ? `migration journal on ${o.from}:\n${formatJournal(j)}\n  next         ${nextAction(j)}`
      : `no migration journal on ${o.from}`,
  );
  const advice = j ? undefined : lockAdvice([oldState.lock, newState?.lock], lockStaleSeconds);
  if (advice) console.log(`  next         ${advice}`);
  if (j && (j.follower || follower)) console.log(formatFollower(j, follower));
  console.log(formatLock("old", oldState.lock));
  if (newState) {
    console.log(formatLock("new", newState.lock));
    if (newState.journal)
      console.log(`migration journal on ${o.to} (a migration from there):\n${formatJournal(newState.journal)}`);
  }
  return 0;
}

function printReport(report: MigrationReport, mode: RunMode): void {
  console.log(formatTimeline(report.timeline, report.startedAt));
  if (report.writeDowntimeMs !== undefined)
    console.log(`write downtime (requests held to gate open): ${(report.writeDowntimeMs / 1000).toFixed(2)} s`);
  console.log(`total: ${(report.totalMs / 1000).toFixed(1)} s`);
  if (report.journal?.switchBack && report.committed)
    console.log(
      `switch back: ${report.journal.to.target} took over from ${report.journal.from.target}, nothing copied`,
    );
  if (report.backupFile) console.log(`pre-migration backup on the old droplet: ${report.backupFile}`);
  if (report.countProblems?.length) console.log(`row count differences:\n  ${report.countProblems.join("\n  ")}`);
  const stopped = report.interruptedBy ? ` (stopped by ${report.interruptedBy})` : "";
  switch (report.outcome) {
    case "refused":
      console.error(`REFUSED: ${report.refused}`);
      break;
    case "nothing":
      console.error(report.refused);
      break;
    case "aborted":
      console.error(`ABORTED before anything changed${stopped}: ${report.aborted}`);
      break;
    case "rolled-back":
      if (mode === "rollback") console.log("rolled back: the old droplet serves with all its data");
      else
        console.error(
          `ABORTED before the commit point${stopped}: ${report.aborted ?? report.journal?.lastError}\nrolled back: the old droplet serves with all its data`,
        );
      break;
    case "rollback-incomplete":
      console.error(
        `ABORTED before the commit point${stopped}: ${report.aborted ?? ""}\nROLLBACK INCOMPLETE: ${report.error}`,
      );
      break;
    case "rollback-refused":
      console.error(`REFUSED: ${report.error}`);
      break;
    case "stopped-after-commit":
      console.error(`STOPPED after the commit point${stopped} (the new droplet is the primary): ${report.error}`);
      break;
    case "lock-lost":
      console.error(`STOPPED: ${report.error}`);
      break;
    default:
      break;
  }
  const next = whatNext(report);
  if (next && report.outcome !== "rolled-back") console.error(`next: ${next}`);
}

async function main(o: Options): Promise<ExitCode> {
  const mode: RunMode = o.resume ? "resume" : o.rollback ? "rollback" : "run";
  const strategy = asUsage(() => parseStrategyRequest(o.strategy));
  if (o.switchBack && !(SWITCH_BACK_STRATEGIES as readonly string[]).includes(strategy))
    throw new UsageError(
      `--strategy ${strategy} cannot go with --switch-back: a switch back promotes the follower (replicate); use ${SWITCH_BACK_STRATEGIES.join(" or ")}`,
    );
  const budgets = asUsage(() =>
    validateBudgets({ downtimeBudgetSeconds: o.downtimeBudget, migrationBudgetMinutes: o.migrationBudget }),
  );
  const dumpJobs = Number(o.dumpJobs);
  if (!Number.isInteger(dumpJobs) || dumpJobs < 1)
    throw new UsageError(`--dump-jobs must be a positive integer, got "${o.dumpJobs}"`);
  const lockStaleSeconds = parseLockStaleSeconds(o.lockStaleSeconds);
  if (o.json && !o.status) throw new UsageError("--json goes with --status");
  if (o.id !== undefined && !/^[A-Za-z0-9._-]+$/.test(o.id))
    throw new UsageError(`--id may only hold letters, digits and ._-, got "${o.id}"`);
  const fromKey = o.fromHostKey === undefined ? undefined : asUsage(() => pinnedHostKey(o.fromHostKey!));
  const toKey = o.toHostKey === undefined ? undefined : asUsage(() => pinnedHostKey(o.toHostKey!));
  const oldTarget = asUsage(() => droplet("from", o));
  const nextTarget = o.status && !o.to ? undefined : asUsage(() => droplet("to", o));
  // This run's known_hosts: the pinned keys only (removed when the run ends).
  const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), "chatbot-known-hosts-"));
  const knownHosts = knownHostsFileIn(keysDir);
  const warn = (line: string) => console.error(line);
  const fromPin = { label: `the old droplet ${o.from}`, hostKey: fromKey };
  const toPin = { label: `the new droplet ${o.to ?? ""}`, hostKey: toKey };
  const old = withHostKey(oldTarget, "old", fromPin, knownHosts, warn);
  const next = nextTarget && withHostKey(nextTarget, "new", toPin, knownHosts, warn);

  const exec = sshExecutor();
  try {
    // A pinned droplet that offers another host key: stop before any step runs on either droplet (exit 3).
    if (!o.dryRun) {
      await verifyPinnedHostKeys([
        { droplet: old, role: "old", pin: fromPin },
        ...(next ? [{ droplet: next, role: "new" as const, pin: toPin }] : []),
      ]).catch((e: unknown) => {
        throw e instanceof HostKeyMismatchError ? new NeedsHumanError(e.message) : e;
      });
    }
    if (o.status) {
      // A droplet that does not answer, or a journal that cannot be read: a human looks (as capacity does).
      return await status(o, exec, lockStaleSeconds).catch((e: Error): ExitCode => {
        console.error(`migrate --status: ${e.message}`);
        return 3;
      });
    }
    if (!next) throw new UsageError("--to is required (except with --status)");
    const id = o.id;
    const traffic = o.trafficCommand
      ? `run locally: ${o.trafficCommand}`
      : "nothing (no --traffic-command): the old proxy forwards; move the reserved IP / DNS afterwards";
    if (o.dryRun) {
      const shown =
        strategy === "auto" && !o.switchBack
          ? (["replicate", "dump-restore"] as const)
          : ([strategy === "auto" ? "replicate" : strategy] as const);
      for (const s of shown) {
        console.log(
          o.switchBack
            ? "# switch back: replicate, nothing copied (the target streams from the source)"
            : `# strategy ${s}${strategy === "auto" ? " (auto picks it at preflight: replicate when both run the same PostgreSQL major version)" : ""}`,
        );
        for (const { phase, cmd } of plannedCommands(old, next, s, {
          id: id ?? "<id>",
          budgets,
          dumpJobs,
          healthUrl: o.healthUrl,
          skipBackup: o.skipBackup,
          lockStaleSeconds,
          switchBack: o.switchBack,
        })) {
          console.log(`[${phase}] ${typeof cmd === "string" ? `# ${cmd}: ${traffic}` : formatCommand(cmd)}`);
        }
        console.log("");
      }
      return 0;
    }
    return await migrate(o, mode, old, next, exec, { strategy, budgets, dumpJobs, lockStaleSeconds });
  } finally {
    exec.close();
    fs.rmSync(keysDir, { recursive: true, force: true });
  }
}

async function migrate(
  o: Options,
  mode: RunMode,
  old: Droplet,
  next: Droplet,
  exec: SshExecutor,
  settings: {
    strategy: ReturnType<typeof parseStrategyRequest>;
    budgets: ReturnType<typeof validateBudgets>;
    dumpJobs: number;
    lockStaleSeconds: number;
  },
): Promise<ExitCode> {
  // SIGINT/SIGTERM: the runner rolls back (before the commit point) or leaves the journal (after it); a second
  // signal only repeats that it is stopping.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    if (stop.signal.aborted) return console.error(`migrate: ${signal} again: still stopping, please wait`);
    console.error(
      `migrate: ${signal}: stopping (before the commit point: rolling back; after it: the journal is kept for --resume)`,
    );
    stop.abort(signal);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const bar = new SingleBar({ format: "  copy [{bar}] {percentage}% {done}/{total} MB", hideCursor: true });
  let barOn = false;
  const report = await runMigration({
    old,
    next,
    exec,
    mode,
    strategy: settings.strategy,
    budgets: settings.budgets,
    id: o.id,
    dumpJobs: settings.dumpJobs,
    lockStaleSeconds: settings.lockStaleSeconds,
    healthUrl: o.healthUrl,
    skipBackup: o.skipBackup,
    overwriteTarget: o.overwriteTarget,
    switchBack: o.switchBack,
    signal: stop.signal,
    moveTraffic: async () => {
      if (o.trafficCommand) await runLocal(o.trafficCommand);
      else
        console.log(
          "  >> the old droplet's proxy forwards to the new one: move the reserved IP / DNS to it (no --traffic-command given)",
        );
    },
    onEvent: (e) => {
      if (e.kind === "progress") {
        const mb = (b: number) => Math.round(b / 1048576);
        if (!barOn) bar.start(mb(e.totalBytes), 0, { done: 0, total: mb(e.totalBytes) });
        barOn = true;
        bar.update(mb(e.doneBytes), { done: mb(e.doneBytes), total: mb(e.totalBytes) });
        return;
      }
      if (barOn) {
        bar.stop();
        barOn = false;
      }
      if (e.kind === "phase") console.log(`== ${e.phase}`);
      else if (e.kind === "step") console.log(`   ${e.step} (${e.side})`);
      else console.log(`   ${e.message}`);
    },
  });
  if (barOn) bar.stop();
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
  printReport(report, mode);
  const result = migrationResult(report);
  if (result) console.log(formatMigrationResult(result)); // the last stdout line: the stack reads it
  return exitCodeFor(report, mode);
}

if (require.main === module) {
  void runCli<Options>(program, {
    help: {
      no: "the migration did not happen and the old server serves with all its data: aborted and rolled back (budget, failure, SIGINT/SIGTERM before the commit point), or refused, touching nothing (lock held, another migration unfinished, the same server on both sides, a target that holds data or is too small)",
      usage:
        "--to missing (required except with --status), --json without --status; --switch-back with --strategy dump-restore, or to a server that does not stream from --from on its timeline (nothing touched); --resume or --rollback with nothing to act on; --rollback of a finished migration",
      human:
        "a pinned droplet offered another SSH host key (HOST KEY MISMATCH: nothing was run on either droplet), stopped after the commit point (a re-run or --resume finishes it), rollback incomplete, lock lost, --rollback after the commit point (the way back is a migration the other way); with --status: a droplet did not answer or its journal could not be read",
      examples: [
        "npm run migrate -- --from root@203.0.113.10 --to root@203.0.113.11 --from-private 10.10.0.10 --to-private 10.10.0.11",
        "npm run migrate -- --from root@203.0.113.10 --to root@203.0.113.11 --status",
        "npm run migrate -- --from root@203.0.113.10 --to root@203.0.113.11 --resume",
        "npm run migrate -- --from root@203.0.113.10 --to root@203.0.113.11 --rollback",
        "npm run migrate -- --from root@203.0.113.11 --to root@203.0.113.10 --switch-back   # back, while the old one follows",
        "npm run migrate -- --from root@203.0.113.11 --to root@203.0.113.10 --overwrite-target   # back, a full copy",
      ],
    },
    // A failure the runner did not report (it reports every refusal and rollback): the droplets' state is unknown.
    otherErrors: "human",
    main,
  });
}
