/**
 * npm run restore-drill -- --host <ssh target> [--ssh-arg=<arg> ...] [--env KEY=VALUE ...] [--json]
 *
 * Restores the droplet's latest backup into a scratch PostgreSQL there, checks every table's row count against the
 * dump and prints how long the restore took. Exit 0 when the drill passes, 1 when it does not, 2 on errors.
 */
import Table from "cli-table3";
import { Command } from "commander";
import { parseEnvPairs, spawnRunner } from "../infra/capacity/live";
import { runDrill } from "../infra/capacity/restore-drill";
import { dropletScript } from "../infra/render/droplet-scripts";

const collect = (v: string, prev: string[] = []) => [...prev, v];
const formatBytes = (n: number) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

const program = new Command("restore-drill")
  .description("Restore the latest backup into a scratch PostgreSQL on the droplet and check tables and row counts")
  .requiredOption("--host <target>", "ssh target (user@host)")
  .option("--ssh-arg <arg>", "extra ssh option, repeatable (e.g. --ssh-arg=-p --ssh-arg=2222)", collect)
  .option("--env <KEY=VALUE>", "settings for the script on the droplet, repeatable (no secrets)", collect)
  .option("--json", "print the report as JSON");

async function main(): Promise<number> {
  const o = program.parse().opts();
  const env = parseEnvPairs((o.env as string[] | undefined) ?? []);
  const report = await runDrill(
    { target: o.host, sshArgs: o.sshArg ?? [], env },
    { common: dropletScript("backup-common.sh"), drill: dropletScript("restore-drill.sh") },
    spawnRunner,
  );
  if (o.json) {
    console.log(JSON.stringify(report, null, 2));
  } else {
    console.log(`Backup ${report.backup} (${formatBytes(report.backupBytes)}, ${report.backupAgeHours} h old, checksum ${report.checksum})`);
    const table = new Table({ head: ["table", "rows in dump", "rows restored", ""], style: { head: [], border: [] } });
    for (const t of report.tables) table.push([t.table, t.expected, t.restored ?? "missing", t.ok ? "ok" : "MISMATCH"]);
    console.log(table.toString());
    console.log(`Restore took ${report.restoreSeconds.toFixed(2)} s (drill total ${report.totalSeconds.toFixed(2)} s).`);
    console.log(report.ok ? "Restore drill PASSED." : `Restore drill FAILED:\n  - ${report.problems.join("\n  - ")}`);
  }
  return report.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`restore-drill: ${err.message}`);
    process.exit(2);
  },
);
