/**
 * npm run scale-out-migrate -- --source root@<droplet> --source-private <ip> --upstreams <ip:8081,...> --app-nodes <root@ip,...> [--json]
 *
 * Moves a single-droplet stack's data into the managed PostgreSQL of the scale-out tier by logical replication,
 * warms Valkey, and points the droplet's proxy at the app droplets, whose gates (their Caddy's internal listener) it
 * closes before the cutover and opens at its commit point, over ssh (infra/scale-out-migration/). The managed
 * endpoints are read on the droplet from /etc/chatbot/scale-out-target.env, written there by the stack.
 * Exit codes: see --help (scripts/cli-exit.ts).
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Command, Option } from "commander";
import { pinnedHostKey, targetHostKeys } from "../infra/host-keys";
import { UNPINNED_SSH_OPTIONS } from "../infra/migration/ssh-options";
import {
  HostKeyMismatchError,
  knownHostsFileIn,
  verifyPinnedHostKeys,
  withHostKey,
} from "../infra/migration/host-key-check";
import { validateBudgets } from "../infra/migration/budget";
import { parseEnvList } from "../infra/migration/commands";
import { checkUpstreams } from "../infra/scale-out-migration/commands";
import {
  appNodeDroplets,
  type LogicalOutcome,
  logicalOutcome,
  type ScaleOutMode,
  scaleOutMigrate,
  scaleOutStatus,
  sourceDroplet,
} from "../infra/scale-out-migration/over-ssh";
import type { LogicalReport } from "../infra/scale-out-migration/runner";
import { formatStatus } from "../infra/scale-out-migration/status";
import { lockStaleOption, parseLockStaleSeconds } from "./lock-stale-option";
import { formatMigrationResult } from "../infra/migration/result-line";
import { formatTimeline } from "../infra/migration/timeline";
import { asUsage, EXIT, NeedsHumanError, runCli, type ExitCode } from "./cli-exit";

const collect = (value: string, previous: string[]) => [...previous, value];

interface Options {
  source: string;
  sourcePrivate: string;
  upstreams: string;
  appNodes: string;
  downtimeBudget: string;
  migrationBudget: string;
  sshOption: string[];
  sourceHostKey?: string;
  appNodeHostKey: string[];
  sourceEnv: string[];
  appNodeEnv: string[];
  sourcePgPort: string;
  lockStaleSeconds: string;
  status?: boolean;
  resume?: boolean;
  rollback?: boolean;
  json?: boolean;
}

const program = new Command("scale-out-migrate")
  .description("Move a droplet's PostgreSQL and Redis data onto the managed engines of the scale-out tier")
  .requiredOption("--source <target>", "ssh target of the single droplet (user@host[:port])")
  .requiredOption("--source-private <address>", "its VPC address (the managed cluster subscribes there)")
  .requiredOption("--upstreams <list>", "the app droplets' internal listeners, <private ip>:8081, comma-separated")
  .requiredOption(
    "--app-nodes <list>",
    "the app droplets' ssh targets (user@host[:port]), comma-separated, in the order of --upstreams",
  )
  .option("--downtime-budget <seconds>", "downtimeBudgetSeconds", "300")
  .option("--migration-budget <minutes>", "migrationBudgetMinutes", "30")
  .option("--ssh-option <option>", "extra ssh option, repeatable", collect, [] as string[])
  .option(
    "--source-host-key <key>",
    'the droplet\'s pinned SSH host key, "ssh-ed25519 <base64>" (`pulumi stack output servers`: hostKey): only that key is accepted. Without: accepted on first use, with a warning',
  )
  .option(
    "--app-node-host-key <target=key>",
    'an app droplet\'s pinned SSH host key, "<user@host>=ssh-ed25519 <base64>" (`pulumi stack output servers`: hostKey), repeatable, one per --app-nodes target: only that key is accepted there. An app droplet without one: accepted on first use, with a warning',
    collect,
    [] as string[],
  )
  .option(
    "--source-env <K=V>",
    "non-secret setting for the droplet's scripts (e.g. CHATBOT_COMPOSE_FILE=...), repeatable",
    collect,
    [] as string[],
  )
  .option("--app-node-env <K=V>", "the same for every app droplet's", collect, [] as string[])
  .option(
    "--source-pg-port <port>",
    "the droplet's PostgreSQL port on its VPC address (the cluster subscribes there)",
    "5432",
  )
  .addOption(
    new Option(
      "--status",
      "print where an interrupted move stands (phase, what it left, what to run next), change nothing",
    ).conflicts(["resume", "rollback"]),
  )
  .addOption(
    new Option(
      "--rollback",
      "undo an interrupted move before its commit point (the droplet writable and serving again, the subscription dropped, the gates open); refused past it",
    ).conflicts(["resume"]),
  )
  .option("--resume", "finish a move interrupted after its commit point; refused before it")
  .addOption(lockStaleOption())
  .option("--json", "print the report as JSON")
  .addHelpText(
    "after",
    `
What a run does:
  It takes the droplet's migration lock (the tier migration's: one move of a droplet at a time) and reads what an
  earlier run left on the droplet and the cluster (the commit record, the fence, the publication,
  the slot, the subscription), as the next \`pulumi up\` runs it again: stopped before its commit point, that run
  is rolled back, then the move starts afresh; stopped after it, it is finished; done, nothing is touched and the
  result line is printed again. --status prints that state and changes nothing; --rollback and --resume act on it
  only. On success the last stdout line is "chatbot-migration-result: {...}".`,
  );

/** A run's end as an exit code: a rollback asked for and done is the command done. */
const EXIT_OF: Record<ScaleOutMode, Record<LogicalOutcome, ExitCode>> = {
  run: {
    done: EXIT.done,
    refused: EXIT.no,
    "rolled-back": EXIT.no,
    "rollback-incomplete": EXIT.human,
    "failed-after-commit": EXIT.human,
  },
  resume: {
    done: EXIT.done,
    refused: EXIT.no,
    "rolled-back": EXIT.human,
    "rollback-incomplete": EXIT.human,
    "failed-after-commit": EXIT.human,
  },
  rollback: {
    done: EXIT.human,
    refused: EXIT.no,
    "rolled-back": EXIT.done,
    "rollback-incomplete": EXIT.human,
    "failed-after-commit": EXIT.human,
  },
};

void runCli<Options>(program, {
  help: {
    no: "aborted before the traffic switch (a failure, a budget, a refused preflight) and rolled back: the droplet still serves with all its data; refused, nothing touched: another run holds the droplet's migration lock (a tier migration's too), or with --rollback or --resume the move is past, or not yet at, its commit point (--status says which)",
    usage:
      "a bad --source, --source-private, --source-pg-port, --source-env, --upstreams, --app-nodes, --app-node-env, --app-node-host-key, --lock-stale-seconds or budget (checked before anything runs)",
    human:
      "the droplet or an app droplet offered another SSH host key than --source-host-key or its --app-node-host-key (HOST KEY MISMATCH: nothing ran), the rollback is incomplete (the subscription or the fence could not be undone: see the report), or it failed after the traffic switch (the managed cluster already takes writes: --status, then --resume; never write to the droplet again)",
    examples: [
      "npm run scale-out-migrate -- --source root@203.0.113.10 --source-private 10.10.0.10 --upstreams 10.10.0.21:8081,10.10.0.22:8081 --app-nodes root@203.0.113.21,root@203.0.113.22",
      "npm run scale-out-migrate -- --source root@203.0.113.10 --source-private 10.10.0.10 --upstreams 10.10.0.21:8081 --app-nodes root@203.0.113.21 --downtime-budget 120 --json",
      "npm run scale-out-migrate -- --source root@203.0.113.10 --source-private 10.10.0.10 --upstreams 10.10.0.21:8081 --app-nodes root@203.0.113.21 --status",
    ],
  },
  // Past the checks below, a thrown error may have left the droplet half way.
  otherErrors: "human",
  main: async (o): Promise<ExitCode> => {
    const upstreams = o.upstreams.split(",").filter(Boolean);
    const appNodes = o.appNodes.split(",").filter(Boolean);
    const budgets = asUsage(() =>
      validateBudgets({
        downtimeBudgetSeconds: Number(o.downtimeBudget),
        migrationBudgetMinutes: Number(o.migrationBudget),
      }),
    );
    const sourcePgPort = asUsage(() => tcpPort("--source-pg-port", o.sourcePgPort));
    const lockStaleSeconds = parseLockStaleSeconds(o.lockStaleSeconds);
    const sourceEnv = asUsage(() => parseEnvList("--source-env", o.sourceEnv));
    const appNodeEnv = asUsage(() => parseEnvList("--app-node-env", o.appNodeEnv));
    const given = { source: o.source, sourcePrivate: o.sourcePrivate, sourcePgPort, sourceEnv };
    asUsage(() => sourceDroplet(given));
    asUsage(() => checkUpstreams(upstreams));
    asUsage(() => appNodeDroplets({ appNodes, upstreams, appNodeEnv }));
    const appHostKeys = asUsage(() => targetHostKeys("appNodeHostKey", o.appNodeHostKey, appNodes));
    // The droplet's host key: pinned (only that key, checked once before anything runs: exit 3 on another), or
    // accepted on first use with a warning (a server created before pinning).
    const hostKey = o.sourceHostKey === undefined ? undefined : asUsage(() => pinnedHostKey(o.sourceHostKey!));
    const warn = (line: string) => process.stderr.write(`${line}\n`);
    const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), "chatbot-known-hosts-"));
    const pin = { label: `the droplet ${o.source}`, hostKey };
    const source = withHostKey(
      sourceDroplet({ ...given, sshOptions: o.sshOption }),
      "old",
      pin,
      knownHostsFileIn(keysDir),
      warn,
    );
    const pinned = {
      source: o.source,
      sourcePrivate: o.sourcePrivate,
      sourceEnv,
      sourceSshOptions: [...(source.sshOptions ?? [])],
    };
    if (o.status) {
      // Read-only, on the droplet alone: the app droplets are not reached.
      const status = await verifyPinnedHostKeys([{ droplet: source, role: "old", pin }])
        .catch(hostKeyMismatch)
        .then(() => scaleOutStatus({ ...pinned, log: warn }))
        .finally(() => fs.rmSync(keysDir, { recursive: true, force: true }));
      process.stdout.write(`${o.json ? JSON.stringify(status) : formatStatus(o.source, status)}\n`);
      return EXIT.done;
    }
    // The app droplets are the move's new side: each pinned to its own key and checked with the droplet before
    // anything runs; one without a key is accepted on first use, with a warning.
    const apps = appNodeDroplets({ appNodes, upstreams, sshOptions: o.sshOption }).map((node, i) => {
      const appPin = { label: `the app droplet ${appNodes[i]}`, hostKey: appHostKeys[i] };
      if (!appPin.hostKey) {
        warn(
          `warning: ${appPin.label}: no --app-node-host-key, its SSH host key is accepted on first use (StrictHostKeyChecking=accept-new); an app droplet the stack pins has its key in \`pulumi stack output servers\` (hostKey)`,
        );
        return { droplet: { ...node, sshOptions: [...(node.sshOptions ?? []), ...UNPINNED_SSH_OPTIONS] }, pin: appPin };
      }
      return { droplet: withHostKey(node, "new", appPin, knownHostsFileIn(keysDir), warn), pin: appPin };
    });
    const mode: ScaleOutMode = o.rollback ? "rollback" : o.resume ? "resume" : "run";
    const report = await verifyPinnedHostKeys([
      { droplet: source, role: "old", pin },
      ...apps.map((a) => ({ ...a, role: "new" as const })),
    ])
      .catch(hostKeyMismatch)
      .then(() =>
        scaleOutMigrate({
          ...pinned,
          sourcePgPort,
          appNodeEnv,
          mode,
          lockStaleSeconds,
          upstreams,
          appNodes,
          ...budgets,
          appNodeSshOptions: apps.map((a) => a.droplet.sshOptions ?? []),
          log: warn,
        }),
      )
      .finally(() => fs.rmSync(keysDir, { recursive: true, force: true }));
    const outcome = logicalOutcome(report);
    if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else
      process.stdout.write(
        `${formatTimeline(report.timeline, report.startedAt)}\n${report.ok ? `done${report.writeDowntimeMs === undefined ? "" : `: write downtime ${report.writeDowntimeMs} ms`}` : `stopped (${outcome}): ${report.refused ?? report.aborted ?? report.error}`}\n`,
      );
    if (outcome === "done") process.stdout.write(`${resultLine(report, o.source, mode)}\n`);
    return EXIT_OF[mode][outcome];
  },
});

function hostKeyMismatch(e: unknown): never {
  throw e instanceof HostKeyMismatchError ? new NeedsHumanError(e.message) : e;
}

function tcpPort(flag: string, value: string): number {
  const n = Number(value);
  if (!/^\d{1,5}$/.test(value) || n < 1 || n > 65535)
    throw new Error(`${flag}: "${value}" must be a TCP port (1-65535)`);
  return n;
}

/**
 * The result line the stack reads: the droplet's retention as the rollback target counts from the traffic switch
 * (the commit record's time, as the droplet wrote it, for a resumed move).
 */
function resultLine(report: LogicalReport, source: string, mode: ScaleOutMode): string {
  const moved = report.timeline.find((e) => e.step === "cutover" && e.status === "ok");
  const at = (ms: number) => new Date(ms).toISOString();
  return formatMigrationResult({
    id: at(report.startedAt).replace(/[-:]/g, "").replace(/\..*/, ""),
    state: "done",
    from: source,
    to: "scale-out",
    strategy: "logical",
    committedAt: report.status?.switchedAt || at(moved?.endMs ?? report.startedAt + report.totalMs),
    finishedAt: at(report.startedAt + report.totalMs),
    resumed: mode === "resume" || report.recovered === "resumed",
    ...(report.writeDowntimeMs !== undefined ? { writeDowntimeMs: report.writeDowntimeMs } : {}),
  });
}
