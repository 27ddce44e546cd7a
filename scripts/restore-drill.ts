/**
 * npm run restore-drill -- --host <ssh target> [--ssh-arg=<arg> ...] [--env KEY=VALUE ...] [--json]
 *
 * Restores the droplet's latest backup into a scratch PostgreSQL there, checks every table's row count against the
 * dump and prints how long the restore took. Exit codes: see --help (scripts/cli-exit.ts).
 */
import Table from "cli-table3";
import { Command } from "commander";
import { parseEnvPairs, spawnRunner } from "../infra/capacity/live";
import { DrillFailedError, drillCommand, runDrill } from "../infra/capacity/restore-drill";
import { pinnedHostKey } from "../infra/host-keys";
import { HostKeyMismatchError, pinSingleTarget } from "../infra/migration/host-key-check";
import { dropletScript } from "../infra/render/droplet-scripts";
import { asUsage, collect, EXIT, NeedsHumanError, runCli } from "./cli-exit";

const formatBytes = (n: number) => (n >= 1048576 ? `${(n / 1048576).toFixed(1)} MiB` : `${(n / 1024).toFixed(1)} KiB`);

interface Options {
  host: string;
  sshArg?: string[];
  hostKey?: string;
  env?: string[];
  json?: boolean;
}

const program = new Command("restore-drill")
  .description("Restore the latest backup into a scratch PostgreSQL on the droplet and check tables and row counts")
  .requiredOption("--host <target>", "ssh target (user@host)")
  .option("--ssh-arg <arg>", "extra ssh option, repeatable (e.g. --ssh-arg=-p --ssh-arg=2222)", collect)
  .option("--env <KEY=VALUE>", "settings for the script on the droplet, repeatable (no secrets)", collect)
  .option(
    "--host-key <key>",
    'the droplet\'s pinned SSH host key, "ssh-ed25519 <base64>" (`pulumi stack output servers`: hostKey): only that key is accepted, another stops the drill before it runs (exit 3)',
  )
  .option("--json", "print the report as JSON");

void runCli<Options>(program, {
  help: {
    no: "the drill says the backup does not restore: no backup, checksum mismatch, pg_restore refuses the dump, a table's rows differ, or the latest backup is more than 36 h old",
    usage: "an --env that is not KEY=VALUE or names a secret",
    human:
      "the droplet cannot be reached over ssh, or offered another host key than --host-key (the drill did not run)",
    examples: [
      "npm run restore-drill -- --host root@203.0.113.10",
      "npm run restore-drill -- --host root@203.0.113.10 --ssh-arg=-p --ssh-arg=2222 --json",
      "npm run restore-drill -- --host root@203.0.113.10 --env CHATBOT_BACKUP_DIR=/mnt/chatbot/backups",
    ],
  },
  otherErrors: "human",
  classify: (e) => (e instanceof DrillFailedError ? EXIT.no : undefined),
  main: async (o) => {
    const hostKey = o.hostKey === undefined ? undefined : asUsage(() => pinnedHostKey(o.hostKey!));
    const given = { target: o.host, env: asUsage(() => parseEnvPairs(o.env ?? [])) };
    const scripts = { common: dropletScript("backup-common.sh"), drill: dropletScript("restore-drill.sh") };
    // Refuses a secret in --env before the pin: a usage error leaves no warning and no known_hosts file behind.
    asUsage(() => drillCommand({ ...given, sshArgs: [] }, scripts.common, scripts.drill));
    const pin = pinSingleTarget(o.host, o.sshArg ?? [], hostKey, (line) => console.error(line));
    const target = { ...given, sshArgs: pin.sshArgs };
    const report = await pin
      .verify()
      .catch((e: unknown) => {
        throw e instanceof HostKeyMismatchError ? new NeedsHumanError(e.message) : e;
      })
      .then(() => runDrill(target, scripts, spawnRunner))
      .finally(pin.cleanup);
    if (o.json) {
      console.log(JSON.stringify(report, null, 2));
    } else {
      console.log(
        `Backup ${report.backup} (${formatBytes(report.backupBytes)}, ${report.backupAgeHours} h old, checksum ${report.checksum})`,
      );
      const table = new Table({
        head: ["table", "rows in dump", "rows restored", ""],
        style: { head: [], border: [] },
      });
      for (const t of report.tables)
        table.push([t.table, t.expected, t.restored ?? "missing", t.ok ? "ok" : "MISMATCH"]);
      console.log(table.toString());
      console.log(
        `Restore took ${report.restoreSeconds.toFixed(2)} s (drill total ${report.totalSeconds.toFixed(2)} s).`,
      );
      console.log(report.ok ? "Restore drill PASSED." : `Restore drill FAILED:\n  - ${report.problems.join("\n  - ")}`);
    }
    return report.ok ? EXIT.done : EXIT.no;
  },
});
