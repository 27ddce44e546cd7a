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
import { Command } from "commander";
import { pinnedHostKey, targetHostKeys } from "../infra/host-keys";
import { UNPINNED_SSH_OPTIONS } from "../infra/migration/ssh-options";
import {
  HostKeyMismatchError,
  knownHostsFileIn,
  verifyPinnedHostKeys,
  withHostKey,
} from "../infra/migration/host-key-check";
import { validateBudgets } from "../infra/migration/budget";
import { checkUpstreams } from "../infra/scale-out-migration/commands";
import { appNodeDroplets, logicalOutcome, scaleOutMigrate, sourceDroplet } from "../infra/scale-out-migration/over-ssh";
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
  json?: boolean;
}

const program = new Command("scale-out-migrate")
  .description("Move a droplet's PostgreSQL and Redis data onto the managed engines of the scale-out tier")
  .requiredOption("--source <target>", "ssh target of the single droplet (user@host)")
  .requiredOption("--source-private <address>", "its VPC address (the managed cluster subscribes there)")
  .requiredOption("--upstreams <list>", "the app droplets' internal listeners, <private ip>:8081, comma-separated")
  .requiredOption(
    "--app-nodes <list>",
    "the app droplets' ssh targets (user@host), comma-separated, in the order of --upstreams",
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
  .option("--json", "print the report as JSON");

const EXIT_OF = {
  done: EXIT.done,
  "rolled-back": EXIT.no,
  "rollback-incomplete": EXIT.human,
  "failed-after-commit": EXIT.human,
} as const;

void runCli<Options>(program, {
  help: {
    no: "aborted before the traffic switch (a failure, a budget, a refused preflight) and rolled back: the droplet still serves with all its data",
    usage:
      "a bad --source, --source-private, --upstreams, --app-nodes, --app-node-host-key or budget (checked before anything runs)",
    human:
      "the droplet or an app droplet offered another SSH host key than --source-host-key or its --app-node-host-key (HOST KEY MISMATCH: nothing ran), the rollback is incomplete (the subscription or the fence could not be undone: see the report), or it failed after the traffic switch (the managed cluster already takes writes: finish by hand, never write to the droplet again)",
    examples: [
      "npm run scale-out-migrate -- --source root@203.0.113.10 --source-private 10.10.0.10 --upstreams 10.10.0.21:8081,10.10.0.22:8081 --app-nodes root@203.0.113.21,root@203.0.113.22",
      "npm run scale-out-migrate -- --source root@203.0.113.10 --source-private 10.10.0.10 --upstreams 10.10.0.21:8081 --app-nodes root@203.0.113.21 --downtime-budget 120 --json",
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
    asUsage(() => sourceDroplet({ source: o.source, sourcePrivate: o.sourcePrivate }));
    asUsage(() => checkUpstreams(upstreams));
    asUsage(() => appNodeDroplets({ appNodes, upstreams }));
    const appHostKeys = asUsage(() => targetHostKeys("appNodeHostKey", o.appNodeHostKey, appNodes));
    // The droplet's host key: pinned (only that key, checked once before anything runs: exit 3 on another), or
    // accepted on first use with a warning (a server created before pinning).
    const hostKey = o.sourceHostKey === undefined ? undefined : asUsage(() => pinnedHostKey(o.sourceHostKey!));
    const warn = (line: string) => process.stderr.write(`${line}\n`);
    const keysDir = fs.mkdtempSync(path.join(os.tmpdir(), "chatbot-known-hosts-"));
    const pin = { label: `the droplet ${o.source}`, hostKey };
    const source = withHostKey(
      sourceDroplet({ source: o.source, sourcePrivate: o.sourcePrivate, sshOptions: o.sshOption }),
      "old",
      pin,
      knownHostsFileIn(keysDir),
      warn,
    );
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
    const report = await verifyPinnedHostKeys([
      { droplet: source, role: "old", pin },
      ...apps.map((a) => ({ ...a, role: "new" as const })),
    ])
      .catch((e: unknown) => {
        throw e instanceof HostKeyMismatchError ? new NeedsHumanError(e.message) : e;
      })
      .then(() =>
        scaleOutMigrate({
          source: o.source,
          sourcePrivate: o.sourcePrivate,
          upstreams,
          appNodes,
          ...budgets,
          sourceSshOptions: [...(source.sshOptions ?? [])],
          appNodeSshOptions: apps.map((a) => a.droplet.sshOptions ?? []),
          log: warn,
        }),
      )
      .finally(() => fs.rmSync(keysDir, { recursive: true, force: true }));
    const outcome = logicalOutcome(report);
    if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else
      process.stdout.write(
        `${formatTimeline(report.timeline, report.startedAt)}\n${report.ok ? `done: write downtime ${report.writeDowntimeMs} ms` : `stopped (${outcome}): ${report.aborted ?? report.error}`}\n`,
      );
    if (outcome === "done") {
      // The stack reads this line: the droplet's retention as the rollback target counts from the traffic switch.
      const moved = report.timeline.find((e) => e.step === "cutover" && e.status === "ok");
      const at = (ms: number) => new Date(ms).toISOString();
      process.stdout.write(
        `${formatMigrationResult({
          id: at(report.startedAt).replace(/[-:]/g, "").replace(/\..*/, ""),
          state: "done",
          from: o.source,
          to: "scale-out",
          strategy: "logical",
          committedAt: at(moved?.endMs ?? report.startedAt + report.totalMs),
          finishedAt: at(report.startedAt + report.totalMs),
          resumed: false,
          ...(report.writeDowntimeMs !== undefined ? { writeDowntimeMs: report.writeDowntimeMs } : {}),
        })}\n`,
      );
    }
    return EXIT_OF[outcome];
  },
});
