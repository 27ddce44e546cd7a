/**
 * npm run migrate -- --from <ssh target> --to <ssh target> [--strategy auto|replicate|dump-restore] [--dry-run]
 *
 * Runs the tier migration by hand (to rehearse, or for a server this stack did not create): the same droplet steps
 * the stack runs, over ssh, with a timeline of phases and a progress bar while data is copied. --dry-run prints the
 * exact commands without running them. Exit code: 0 done, 1 aborted and rolled back (old server still serving),
 * 2 failed after the commit point (needs an operator).
 */
import { execSync } from "node:child_process";
import { Command, Option } from "commander";
import { SingleBar } from "cli-progress";
import { validateBudgets } from "../infra/migration/budget";
import { dropletFromTarget, formatCommand, parseEnvList, parsePorts } from "../infra/migration/commands";
import { plannedCommands, runMigration } from "../infra/migration/runner";
import { sshExecutor } from "../infra/migration/ssh-executor";
import { parseStrategyRequest } from "../infra/migration/strategy";
import { formatTimeline } from "../infra/migration/timeline";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const program = new Command("migrate")
  .description("Move the app's data from one droplet to another with a short write downtime")
  .requiredOption("--from <target>", "ssh target of the old droplet (user@host[:port])")
  .requiredOption("--to <target>", "ssh target of the new droplet (user@host[:port])")
  .option("--from-private <address>", "old droplet's private (VPC) address, as the new one reaches it (default: --from host)")
  .option("--to-private <address>", "new droplet's private (VPC) address (default: --to host)")
  .option("--from-ports <pg,redis>", "old droplet's PostgreSQL and Redis ports on its private address", "5432,6379")
  .option("--to-ports <pg,redis>", "new droplet's PostgreSQL and Redis ports on its private address", "5432,6379")
  .option("--strategy <name>", "auto | replicate | dump-restore", "auto")
  .option("--downtime-budget <seconds>", "downtimeBudgetSeconds", "300")
  .option("--migration-budget <minutes>", "migrationBudgetMinutes", "30")
  .addOption(new Option("--runtime <runtime>", "how the scripts reach PostgreSQL/Redis on the droplets").choices(["container", "host"]).default("container"))
  .option("--ssh-option <option>", "extra ssh option for both droplets, repeatable (e.g. -o ...)", collect, [] as string[])
  .option("--from-env <K=V>", "non-secret setting for the old droplet's script (host runtime: PGDATA=..., PGPORT=...), repeatable", collect, [] as string[])
  .option("--to-env <K=V>", "same for the new droplet", collect, [] as string[])
  .option("--traffic-command <command>", "local shell command that moves traffic to the new droplet at cutover (e.g. reserved IP assignment)")
  .option("--health-url <url>", "URL the new droplet checks after the cutover (from the droplet itself)")
  .option("--dump-jobs <n>", "pg_dump/pg_restore parallel jobs", "2")
  .option("--skip-backup", "skip the pre-migration pg_dump on the old droplet")
  .option("--id <id>", "names the backup file (default: a timestamp)")
  .option("--dry-run", "print the exact commands and exit");

async function main(): Promise<number> {
  const o = program.parse().opts<{
    from: string; to: string; fromPrivate?: string; toPrivate?: string; strategy: string; downtimeBudget: string;
    migrationBudget: string; runtime: "container" | "host"; sshOption: string[]; fromEnv: string[]; toEnv: string[]; fromPorts: string; toPorts: string; trafficCommand?: string; healthUrl?: string;
    dumpJobs: string; skipBackup?: boolean; id?: string; dryRun?: boolean;
  }>();
  const strategy = parseStrategyRequest(o.strategy);
  const budgets = validateBudgets({ downtimeBudgetSeconds: o.downtimeBudget, migrationBudgetMinutes: o.migrationBudget });
  const dumpJobs = Number(o.dumpJobs);
  if (!Number.isInteger(dumpJobs) || dumpJobs < 1) throw new Error(`--dump-jobs must be a positive integer, got "${o.dumpJobs}"`);
  const old = { ...dropletFromTarget("--from", o.from, { privateAddress: o.fromPrivate, runtime: o.runtime, sshOptions: o.sshOption }), env: parseEnvList("--from-env", o.fromEnv), ...parsePorts("--from-ports", o.fromPorts) };
  const next = { ...dropletFromTarget("--to", o.to, { privateAddress: o.toPrivate, runtime: o.runtime, sshOptions: o.sshOption }), env: parseEnvList("--to-env", o.toEnv), ...parsePorts("--to-ports", o.toPorts) };
  const id = o.id ?? new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
  const traffic = o.trafficCommand ? `run locally: ${o.trafficCommand}` : "nothing (no --traffic-command): move the reserved IP / DNS yourself";

  if (o.dryRun) {
    const shown = strategy === "auto" ? (["replicate", "dump-restore"] as const) : ([strategy] as const);
    for (const s of shown) {
      console.log(`# strategy ${s}${strategy === "auto" ? " (auto picks it at preflight: replicate when both run the same PostgreSQL major version)" : ""}`);
      for (const { phase, cmd } of plannedCommands(old, next, s, { id, budgets, dumpJobs, healthUrl: o.healthUrl, skipBackup: o.skipBackup })) {
        console.log(`[${phase}] ${typeof cmd === "string" ? `# ${cmd}: ${traffic}` : formatCommand(cmd)}`);
      }
      console.log("");
    }
    return 0;
  }

  const bar = new SingleBar({ format: "  copy [{bar}] {percentage}% {done}/{total} MB", hideCursor: true });
  let barOn = false;
  const exec = sshExecutor();
  try {
    const report = await runMigration({
      old, next, exec, strategy, budgets, id, dumpJobs, healthUrl: o.healthUrl, skipBackup: o.skipBackup,
      moveTraffic: async () => {
        if (o.trafficCommand) execSync(o.trafficCommand, { stdio: "inherit" });
        else console.log("  >> cutover: move traffic to the new droplet now (no --traffic-command given)");
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
    console.log(formatTimeline(report.timeline, report.startedAt));
    if (report.writeDowntimeMs !== undefined) console.log(`write downtime (fence to traffic moved): ${(report.writeDowntimeMs / 1000).toFixed(2)} s`);
    console.log(`total: ${(report.totalMs / 1000).toFixed(1)} s`);
    if (report.backupFile) console.log(`pre-migration backup on the old droplet: ${report.backupFile}`);
    if (report.countProblems?.length) console.log(`row count differences:\n  ${report.countProblems.join("\n  ")}`);
    if (report.aborted) {
      console.error(`ABORTED before the commit point: ${report.aborted}\n${report.rolledBack ? "rolled back: the old droplet is serving" : "ROLLBACK INCOMPLETE: check the old droplet"}`);
      return 1;
    }
    if (report.error) {
      console.error(`FAILED after the commit point (the new droplet is the primary): ${report.error}`);
      return 2;
    }
    return report.ok ? 0 : 2;
  } finally {
    exec.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    console.error(`migrate: ${e.message}`);
    process.exit(1);
  },
);
