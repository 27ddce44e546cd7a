/**
 * `npm run restore-drill`: run scripts/droplet/restore-drill.sh on a droplet over ssh and judge what it reports.
 * The command line is data; running it goes through the same injectable runner as the live collector.
 */
import { parseValues } from "../migration/commands";
import { type CommandLine, type Runner, remoteBash } from "./live";

export interface DrillTarget {
  target: string;
  sshArgs?: string[];
  /** Non-secret settings for the script (CHATBOT_BACKUP_DIR, CHATBOT_COMPOSE_FILE, ...). */
  env?: Record<string, string>;
}

export interface DrillTable {
  table: string;
  expected: number;
  restored: number | null;
  ok: boolean;
}

export interface DrillReport {
  backup: string;
  backupBytes: number;
  backupAgeHours: number;
  checksum: "ok" | "missing";
  tables: DrillTable[];
  restoreSeconds: number;
  totalSeconds: number;
  /** Every table present with the dump's row count, and at least one table. */
  ok: boolean;
  problems: string[];
}

/** A backup older than this means the nightly job is not running. */
export const MAX_BACKUP_AGE_HOURS = 36;

/** The ssh command: backup-common.sh and restore-drill.sh concatenated on stdin. */
export function drillCommand(t: DrillTarget, commonScript: string, drillScript: string): CommandLine {
  return remoteBash(t, [], `${commonScript}\n${drillScript}`);
}

const num = (values: Record<string, string>, key: string): number => {
  const v = values[key];
  if (v === undefined || !Number.isFinite(Number(v))) throw new Error(`restore drill output has no numeric ${key}`);
  return Number(v);
};

/** Judges the script's key=value output. */
export function judgeDrill(stdout: string): DrillReport {
  const values = parseValues(stdout);
  const backup = values.backup;
  if (!backup) throw new Error("restore drill output has no backup= line");
  const tables: DrillTable[] = [];
  for (const [k, v] of Object.entries(values)) {
    if (!k.startsWith("expected.") || k === "expected_seconds") continue;
    const table = k.slice("expected.".length);
    const restoredText = values[`count.${table}`];
    const restored = restoredText === undefined ? null : Number(restoredText);
    tables.push({ table, expected: Number(v), restored, ok: restored === Number(v) });
  }
  const problems = tables
    .filter((t) => !t.ok)
    .map((t) =>
      t.restored === null
        ? `${t.table}: missing after the restore`
        : `${t.table}: ${t.expected} rows in the dump, ${t.restored} restored`,
    );
  if (tables.length === 0) problems.push("the dump holds no table data");
  const ageHours = num(values, "backup_age_hours");
  if (ageHours > MAX_BACKUP_AGE_HOURS)
    problems.push(
      `the latest backup is ${ageHours} h old (more than ${MAX_BACKUP_AGE_HOURS} h: is chatbot-backup.timer running?)`,
    );
  return {
    backup,
    backupBytes: num(values, "backup_bytes"),
    backupAgeHours: ageHours,
    checksum: values.checksum === "ok" ? "ok" : "missing",
    tables: tables.sort((a, b) => a.table.localeCompare(b.table)),
    restoreSeconds: num(values, "restore_seconds"),
    totalSeconds: num(values, "total_seconds"),
    ok: problems.length === 0,
    problems,
  };
}

/**
 * The drill ran on the droplet and stopped on what it checks: no backup, an unreadable one, a checksum mismatch, a
 * dump pg_restore refuses (the script's `die`). Not thrown when ssh itself fails (exit 255): the drill never ran.
 */
export class DrillFailedError extends Error {}

/** ssh's own exit status for a connection or authentication failure (ssh(1), EXIT STATUS). */
const SSH_FAILED = 255;

export async function runDrill(
  t: DrillTarget,
  scripts: { common: string; drill: string },
  runner: Runner,
): Promise<DrillReport> {
  const r = await runner(drillCommand(t, scripts.common, scripts.drill));
  if (r.code !== 0) {
    const message = `restore drill on ${t.target} failed (exit ${r.code}): ${r.stderr.trim().split("\n").slice(-5).join("\n")}`;
    throw r.code === SSH_FAILED ? new Error(message) : new DrillFailedError(message);
  }
  return judgeDrill(r.stdout);
}
