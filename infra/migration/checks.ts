/** Pure checks over what the droplet steps print. */

/** A PostgreSQL LSN ("16/B374D848") as a number of bytes. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m || m[1] === undefined || m[2] === undefined)
    throw new Error(`not a PostgreSQL LSN (expected hex "X/Y"): "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** Bytes from `from` to `to` (negative if `to` is behind). */
export function lsnDiff(to: string, from: string): number {
  return Number(parseLsn(to) - parseLsn(from));
}

/** The `count.<schema.table>=N` lines of the counts step. */
export function tableCounts(values: Readonly<Record<string, string | undefined>>): Map<string, number> {
  const counts = new Map<string, number>();
  for (const [k, v] of Object.entries(values)) {
    if (k.startsWith("count.")) counts.set(k.slice("count.".length), Number(v));
  }
  return counts;
}

/**
 * Compare per-table row counts. `exact`: the old server was frozen when counted (dump-restore). `at-least`: the old
 * was counted just before the fence and kept taking writes until then, so the new must have at least as many rows
 * (append-only tables; a table that deletes rows in that window shows up as a warning-worthy difference).
 */
export function compareCounts(
  old: Map<string, number>,
  next: Map<string, number>,
  mode: "exact" | "at-least",
): string[] {
  const problems: string[] = [];
  for (const [table, n] of old) {
    const m = next.get(table);
    if (m === undefined) problems.push(`${table}: missing on the new server`);
    else if (mode === "exact" ? m !== n : m < n)
      problems.push(`${table}: ${n} rows on the old server, ${m} on the new`);
  }
  return problems;
}

/**
 * Tables that record which schema migrations ran (Alembic, Rails-style tools), not user data: a fresh app writes
 * them at start, so they do not make a target "hold data".
 */
export const BOOKKEEPING_TABLES = ["public.alembic_version", "public.schema_migrations"] as const;

export type TargetVerdict = { ok: true; ours: boolean; notes: string[] } | { ok: false; reason: string };

/**
 * May the migration replace what the target holds? From both sides' preflight values. The target is refused when it
 * is the same PostgreSQL cluster as the source (same system identifier: compared, not the addresses) unless it is a
 * copy this source's migration made (its replica-of marker, written by claim_target, names the source's system
 * identifier), and when it holds
 * data (a row in any user table of the app database, or a Redis key) unless `overwrite`.
 */
export function judgeTarget(
  source: Readonly<Record<string, string | undefined>>,
  target: Readonly<Record<string, string | undefined>>,
  opts: { overwrite: boolean },
): TargetVerdict {
  const sourceId = source.system_identifier;
  if (!sourceId) return { ok: false, reason: "the old server did not report its PostgreSQL system identifier" };
  if (target.replica_of === sourceId) {
    return {
      ok: true,
      ours: true,
      notes: [
        `the target is a copy of this source from an earlier attempt (marker replica-of, system identifier ${sourceId}): it is replaced again`,
      ],
    };
  }
  const overwriteHint = "Nothing was changed. --overwrite-target replaces it (everything on it is lost).";
  if (target.pg_running !== "1") {
    if (target.fenced !== "1") return { ok: false, reason: "PostgreSQL is not running on the new server" };
    if (!opts.overwrite)
      return {
        ok: false,
        reason: `the target holds data: it is a fenced former primary (its PostgreSQL is stopped). ${overwriteHint}`,
      };
    return { ok: true, ours: false, notes: ["overwriting the target: a fenced former primary"] };
  }
  if (target.system_identifier === sourceId && target.fenced !== "1") {
    return {
      ok: false,
      reason: `the same server on both sides: --from and --to reach the same PostgreSQL cluster (system identifier ${sourceId}), or a copy of it that this migration did not make. Nothing was changed.`,
    };
  }
  const tables = Object.entries(target)
    .filter(([k, v]) => k.startsWith("table_rows.") && v === "true")
    .map(([k]) => k.slice("table_rows.".length))
    .filter((t) => !(BOOKKEEPING_TABLES as readonly string[]).includes(t));
  const keys = Number(target.redis_keys_total ?? target.redis_keys ?? 0);
  const held = [
    ...(tables.length ? [`rows in ${tables.join(", ")}`] : []),
    ...(keys > 0 ? [`${keys} Redis key${keys === 1 ? "" : "s"}`] : []),
    ...(target.fenced === "1" ? ["a fenced former primary"] : []),
  ];
  if (!held.length)
    return { ok: true, ours: false, notes: ["the target holds no data (no rows in any user table, no Redis keys)"] };
  if (!opts.overwrite) return { ok: false, reason: `the target holds data: ${held.join("; ")}. ${overwriteHint}` };
  return { ok: true, ours: false, notes: [`overwriting the target's data: ${held.join("; ")}`] };
}

const GIB = 1024 ** 3;

export function formatBytes(bytes: number): string {
  if (bytes >= GIB) return `${(bytes / GIB).toFixed(1)} GiB`;
  return `${(bytes / 1024 ** 2).toFixed(bytes >= 100 * 1024 ** 2 ? 0 : 1)} MiB`;
}

/**
 * Does the source's data fit on the target's volume? What the move writes (the whole cluster for replicate, the app
 * database for dump-restore) plus headroom for WAL and growth during the move (20 %, at least 1 GiB), against the
 * volume's free space plus what the move replaces there. The reason is printed either way (a tier change down needs it).
 */
export function checkRoom(input: { sourceBytes: number; freeBytes: number; replacedBytes: number }): {
  ok: boolean;
  reason: string;
} {
  const headroom = Math.max(input.sourceBytes * 0.2, GIB);
  const needed = input.sourceBytes + headroom;
  const available = input.freeBytes + input.replacedBytes;
  const what = `data ${formatBytes(input.sourceBytes)}`;
  const room = `${formatBytes(available)} free on the target volume${input.replacedBytes > 0 ? ` (counting ${formatBytes(input.replacedBytes)} it replaces)` : ""}`;
  if (!Number.isFinite(needed) || !Number.isFinite(available))
    return { ok: false, reason: "the preflight did not report data sizes" };
  return needed <= available
    ? { ok: true, reason: `${what} fits: ${room}, needs ${formatBytes(needed)} with headroom` }
    : {
        ok: false,
        reason: `${what} does not fit: ${room}, needs ${formatBytes(needed)} with headroom (WAL, growth). Nothing was changed.`,
      };
}

export type SwitchBackVerdict = { ok: true; lagBytes: number; notes: string[] } | { ok: false; reason: string };

/**
 * Can the target take over without a copy? From both sides' preflight values: the source a running primary, the
 * target a running standby of the same cluster (system identifier), streaming from the source (`sourceAddress`,
 * host:port as the target reaches it) on the timeline the source writes on. Its lag is reported, not judged here
 * (the catch-up waits for it within the budget).
 */
export function judgeSwitchBack(
  source: Readonly<Record<string, string | undefined>>,
  target: Readonly<Record<string, string | undefined>>,
  sourceAddress: string,
): SwitchBackVerdict {
  const no = (why: string): SwitchBackVerdict => ({
    ok: false,
    reason: `no switch back: ${why}. Nothing was changed.`,
  });
  if (source.pg_running !== "1" || source.pg_in_recovery !== "f")
    return no("the source (--from) is not a running primary");
  if (target.pg_running !== "1") return no("PostgreSQL is not running on the target (--to)");
  if (target.pg_in_recovery !== "t")
    return no("the target's PostgreSQL is not a standby (not in recovery): it does not follow the source");
  if (!source.system_identifier || target.system_identifier !== source.system_identifier)
    return no(
      `the target is another PostgreSQL cluster (system identifier ${target.system_identifier ?? "?"}, the source's ${source.system_identifier ?? "?"})`,
    );
  if (target.standby_sender !== sourceAddress)
    return no(
      `the target's standby follows ${target.standby_sender ?? "no server (no WAL receiver)"}, not the source at ${sourceAddress}`,
    );
  if (target.standby_status !== "streaming")
    return no(`the target's WAL receiver is ${target.standby_status ?? "absent"}, not streaming from the source`);
  if (!source.pg_timeline || target.standby_timeline !== source.pg_timeline)
    return no(
      `the target follows timeline ${target.standby_timeline ?? "?"}, the source writes on timeline ${source.pg_timeline ?? "?"}`,
    );
  const lagBytes = Number(target.standby_lag_bytes);
  if (!Number.isFinite(lagBytes) || lagBytes < 0) return no("the target did not report its replication lag");
  return {
    ok: true,
    lagBytes,
    notes: [
      `the target follows the source: streaming from ${sourceAddress} on timeline ${source.pg_timeline}, ${lagBytes} bytes behind; nothing is copied`,
    ],
  };
}
