/**
 * The one line a finished migration prints for the stack: `pulumi up` runs the migration as a local command, and the
 * program reads this line from the command's stdout (kept in the stack state) to learn the commit time, which
 * starts the old server's retention window. Pure: no Pulumi, no I/O.
 */

export const RESULT_PREFIX = "chatbot-migration-result: ";

export interface MigrationResult {
  /** The journal's migration id. */
  id: string;
  /** Only a finished migration prints a result. */
  state: "done";
  /** The ssh targets as given (`user@host`). */
  from: string;
  to: string;
  strategy: "replicate" | "dump-restore" | "logical";
  /** When the commit point was passed (ISO 8601, UTC): the old server's retention counts from here. */
  committedAt: string;
  finishedAt: string;
  /** True when this run finished a migration an earlier run had started (or had already finished). */
  resumed: boolean;
  writeDowntimeMs?: number;
  /** A switch back: the target was the follower of the source, so nothing was copied. */
  switchBack?: true;
  /**
   * When the server migrated from started to follow the new primary (the `follow` step), ISO 8601; absent when it
   * does not follow (then no switch back to it can be planned).
   */
  followingSince?: string;
}

export function formatMigrationResult(r: MigrationResult): string {
  return RESULT_PREFIX + JSON.stringify(r);
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

/** The last result line in a command's stdout, or undefined when there is none (or it is malformed). */
export function parseMigrationResult(stdout: string | undefined): MigrationResult | undefined {
  if (!stdout) return undefined;
  const lines = stdout.split("\n").filter((l) => l.startsWith(RESULT_PREFIX));
  const last = lines[lines.length - 1];
  if (!last) return undefined;
  try {
    const r = JSON.parse(last.slice(RESULT_PREFIX.length)) as Partial<MigrationResult>;
    if (r.state !== "done" || typeof r.committedAt !== "string" || !ISO.test(r.committedAt)) return undefined;
    if (typeof r.id !== "string" || typeof r.from !== "string" || typeof r.to !== "string") return undefined;
    if (r.switchBack !== undefined && r.switchBack !== true) return undefined;
    if (r.followingSince !== undefined && (typeof r.followingSince !== "string" || !ISO.test(r.followingSince)))
      return undefined;
    return r as MigrationResult;
  } catch {
    return undefined;
  }
}
