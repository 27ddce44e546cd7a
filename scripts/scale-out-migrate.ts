/**
 * npm run scale-out-migrate -- --source root@<droplet> --source-private <ip> --upstreams <ip:80,...> [--json]
 *
 * Moves a single-droplet stack's data into the managed PostgreSQL of the scale-out tier by logical replication,
 * warms Valkey, and points the droplet's proxy at the app droplets (infra/scale-out-migration/). The managed
 * endpoints are read on the droplet from /etc/chatbot/scale-out-target.env, written there by the stack.
 * Exit code: 0 done, 1 aborted and rolled back (the droplet still serving), 2 failed after the commit point.
 */
import { Command } from "commander";
import { validateBudgets } from "../infra/migration/budget";
import { scaleOutMigrate } from "../infra/scale-out-migration/cli-core";
import { formatMigrationResult } from "../infra/migration/result";
import { formatTimeline } from "../infra/migration/timeline";

const collect = (value: string, previous: string[]) => [...previous, value];

const o = new Command("scale-out-migrate")
  .description("Move a droplet's PostgreSQL and Redis data onto the managed engines of the scale-out tier")
  .requiredOption("--source <target>", "ssh target of the single droplet (user@host)")
  .requiredOption("--source-private <address>", "its VPC address (the managed cluster subscribes there)")
  .requiredOption("--upstreams <list>", "the app droplets' <private ip>:80, comma-separated")
  .option("--downtime-budget <seconds>", "downtimeBudgetSeconds", "300")
  .option("--migration-budget <minutes>", "migrationBudgetMinutes", "30")
  .option("--ssh-option <option>", "extra ssh option, repeatable", collect, [] as string[])
  .option("--json", "print the report as JSON")
  .parse()
  .opts<{ source: string; sourcePrivate: string; upstreams: string; downtimeBudget: string; migrationBudget: string; sshOption: string[]; json?: boolean }>();

async function main(): Promise<number> {
  const budgets = validateBudgets({ downtimeBudgetSeconds: Number(o.downtimeBudget), migrationBudgetMinutes: Number(o.migrationBudget) });
  const report = await scaleOutMigrate({
    source: o.source,
    sourcePrivate: o.sourcePrivate,
    upstreams: o.upstreams.split(",").filter(Boolean),
    ...budgets,
    sshOptions: o.sshOption,
    log: (line) => process.stderr.write(`${line}\n`),
  });
  if (o.json) process.stdout.write(JSON.stringify(report) + "\n");
  else process.stdout.write(`${formatTimeline(report.timeline, report.startedAt)}\n${report.ok ? `done: write downtime ${report.writeDowntimeMs} ms` : `stopped: ${report.aborted ?? report.error}`}\n`);
  if (report.ok) {
    // The stack reads this line: the droplet's retention as the rollback target counts from the traffic switch.
    const moved = report.timeline.find((e) => e.step === "move traffic" && e.status === "ok");
    const at = (ms: number) => new Date(ms).toISOString();
    process.stdout.write(
      formatMigrationResult({
        id: at(report.startedAt).replace(/[-:]/g, "").replace(/\..*/, ""),
        state: "done",
        from: o.source,
        to: "scale-out",
        strategy: "logical",
        committedAt: at(moved?.endMs ?? report.startedAt + report.totalMs),
        finishedAt: at(report.startedAt + report.totalMs),
        resumed: false,
        ...(report.writeDowntimeMs !== undefined ? { writeDowntimeMs: report.writeDowntimeMs } : {}),
      }) + "\n",
    );
    return 0;
  }
  return report.committed ? 2 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`scale-out-migrate: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
