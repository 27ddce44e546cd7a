/**
 * Jepsen-style set checker (pure). Every write has a unique id and was recorded by the client as ok (acknowledged),
 * fail (certainly not applied) or unknown; the client never retried. After the run everything is read back from the
 * new primary: lost = ok - present; a `fail` that is present means the classification is wrong (an error).
 */
export type Outcome = "ok" | "fail" | "unknown";

export interface WriteRecord {
  id: string;
  startMs: number;
  endMs: number;
  pg: Outcome;
  /** Redis is attempted only after PostgreSQL acknowledged; "none" when it was not attempted. */
  redis: Outcome | "none";
  /** The HTTP status the client received (0: no response). */
  status?: number;
  /** What a client saw when the write was not acknowledged: the start of the body, or the connection error. */
  detail?: string;
}

export interface CheckResult {
  attempted: number;
  acknowledged: number;
  failed: number;
  unknown: number;
  /** Acknowledged by PostgreSQL, absent from the new primary. */
  lost: string[];
  /** Recorded as certainly failed, yet present: the classification is wrong. */
  failedButPresent: string[];
  redisAcknowledged: number;
  redisLost: string[];
  /** Largest gap between consecutive acknowledgements seen by clients through the front door. */
  frontDoorGapMs: number;
  /** Largest gap between consecutive commit times of the run's rows on the new primary. */
  pgGapMs: number;
  /** Largest gap between consecutive Redis write times of the run's keys on the new master. */
  redisGapMs: number;
}

/** Largest difference between consecutive values (0 for fewer than two). */
export function largestGap(times: readonly number[]): number {
  const sorted = [...times].sort((a, b) => a - b);
  let gap = 0;
  for (let i = 1; i < sorted.length; i++) gap = Math.max(gap, (sorted[i] ?? 0) - (sorted[i - 1] ?? 0));
  return gap;
}

export function checkWrites(
  records: readonly WriteRecord[],
  pgPresent: ReadonlyMap<string, number>,
  redisPresent: ReadonlyMap<string, number>,
): CheckResult {
  const ok = records.filter((r) => r.pg === "ok");
  const redisOk = records.filter((r) => r.redis === "ok");
  const ids = new Set(records.map((r) => r.id));
  const mine = (m: ReadonlyMap<string, number>) => [...m].filter(([id]) => ids.has(id)).map(([, t]) => t);
  return {
    attempted: records.length,
    acknowledged: ok.length,
    failed: records.filter((r) => r.pg === "fail").length,
    unknown: records.filter((r) => r.pg === "unknown").length,
    lost: ok.filter((r) => !pgPresent.has(r.id)).map((r) => r.id),
    failedButPresent: records.filter((r) => r.pg === "fail" && pgPresent.has(r.id)).map((r) => r.id),
    redisAcknowledged: redisOk.length,
    redisLost: redisOk.filter((r) => !redisPresent.has(r.id)).map((r) => r.id),
    frontDoorGapMs: largestGap(ok.map((r) => r.endMs)),
    pgGapMs: largestGap(mine(pgPresent)),
    redisGapMs: largestGap(mine(redisPresent)),
  };
}
