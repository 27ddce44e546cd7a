/** Pure checks over what the droplet steps print. */

/** A PostgreSQL LSN ("16/B374D848") as a number of bytes. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn.trim());
  if (!m || m[1] === undefined || m[2] === undefined) throw new Error(`not a PostgreSQL LSN (expected hex "X/Y"): "${lsn}"`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** Bytes from `from` to `to` (negative if `to` is behind). */
export function lsnDiff(to: string, from: string): number {
  return Number(parseLsn(to) - parseLsn(from));
}

/** The `count.<schema.table>=N` lines of the counts step. */
export function tableCounts(values: Record<string, string>): Map<string, number> {
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
    else if (mode === "exact" ? m !== n : m < n) problems.push(`${table}: ${n} rows on the old server, ${m} on the new`);
  }
  return problems;
}
