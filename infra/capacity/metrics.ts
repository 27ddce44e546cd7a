/**
 * The capacity checker's input: a tier, a time series of samples and a few business figures.
 *
 * ```json
 * {"tier": "4gb",
 *  "samples": [{"at": "2026-11-01T00:00:00Z", "memoryPct": 71.5, "cpuPct": 40, "diskPct": 35, "responseMs": 180}],
 *  "activeUsers": 900, "monthlyActiveUsers": [{"month": "2026-10", "users": 800}], "complaints": false,
 *  "evidence": {...}}
 * ```
 *
 * `evidence` is optional and feeds the optimize-first checks (slow queries, cache hit rates, container limits); the
 * live collector fills it, a hand-written file may leave it out.
 *
 * Parsing collects every problem and throws once; each message names the sample (`samples[3] (at ...)`) or the field.
 */
import { z } from "zod";
import { TIER_NAMES, isTierName, type TierName } from "../tiers";

const ISO_WITH_ZONE = /^(\d{4})-(\d{2})-(\d{2})T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

const pct = z.number().finite().min(0).max(100);

export const sampleSchema = z.strictObject({
  at: z.string(),
  memoryPct: pct,
  cpuPct: pct,
  diskPct: pct.optional(),
  responseMs: z.number().finite().min(0).optional(),
});

const containerSchema = z.strictObject({
  name: z.string().min(1),
  memUsageBytes: z.number().min(0),
  /** The container's memory limit; equal to the host's RAM when no limit is set. */
  memLimitBytes: z.number().min(0),
  cpuPct: z.number().min(0).optional(),
});

const slowQuerySchema = z.strictObject({
  query: z.string(),
  calls: z.number().int().min(0),
  meanMs: z.number().min(0),
});

export const evidenceSchema = z.strictObject({
  hostMemoryTotalBytes: z.number().min(0).optional(),
  containers: z.array(containerSchema).optional(),
  /** Top processes by resident memory (from `ps`), for the human report. */
  topProcesses: z
    .array(z.strictObject({ command: z.string(), rssBytes: z.number().min(0), cpuPct: z.number().min(0) }))
    .optional(),
  redis: z
    .strictObject({
      keyspaceHits: z.number().min(0),
      keyspaceMisses: z.number().min(0),
      evictedKeys: z.number().min(0).optional(),
    })
    .optional(),
  /** PostgreSQL buffer cache hit ratio from pg_stat_database (blks_hit / (blks_hit + blks_read)), 0..1. */
  postgresCacheHitRatio: z.number().min(0).max(1).optional(),
  slowQueries: z.array(slowQuerySchema).optional(),
  /** Health checks that failed (non-2xx or no answer) among the collected samples. */
  failedHealthChecks: z.number().int().min(0).optional(),
});

const inputSchema = z.strictObject({
  tier: z.string(),
  samples: z.array(z.unknown()).min(1),
  activeUsers: z.number().int().min(0).optional(),
  monthlyActiveUsers: z
    .array(
      z.strictObject({
        month: z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, "month must be YYYY-MM"),
        users: z.number().int().min(0),
      }),
    )
    .optional(),
  complaints: z.boolean().optional(),
  evidence: evidenceSchema.optional(),
});

export type Sample = z.infer<typeof sampleSchema>;
export type Evidence = z.infer<typeof evidenceSchema>;

/** A validated sample with its parsed time. */
export interface TimedSample extends Sample {
  t: number; // epoch milliseconds
}

export interface CapacityInput {
  tier: TierName;
  samples: TimedSample[];
  activeUsers?: number;
  monthlyActiveUsers?: { month: string; users: number }[];
  complaints?: boolean;
  evidence?: Evidence;
}

export class MetricsError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid metrics input:\n  - ${problems.join("\n  - ")}`);
    this.name = "MetricsError";
  }
}

function describeIssue(prefix: string, issue: z.core.$ZodIssue): string {
  const path = issue.path.map(String).join(".");
  const where = path ? `${prefix}${prefix ? "." : ""}${path}` : prefix || "(input)";
  return `${where}: ${issue.message}`;
}

/** Parses an ISO 8601 time that carries a zone (Z or +hh:mm); undefined when it is not one. */
export function parseIsoTime(value: string): number | undefined {
  const m = ISO_WITH_ZONE.exec(value);
  if (!m) return undefined;
  // Date.parse rolls 2026-02-30 over to March: reject days the month does not have.
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (month < 1 || month > 12 || day < 1 || day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/** Validates the parsed JSON of a metrics file. Throws a MetricsError listing every problem found. */
export function parseCapacityInput(raw: unknown): CapacityInput {
  const problems: string[] = [];
  const top = inputSchema.safeParse(raw);
  if (!top.success) {
    // Report the sample problems too, where the top level was readable enough to reach them.
    problems.push(...top.error.issues.map((i) => describeIssue("", i)));
    throw new MetricsError(problems);
  }
  const data = top.data;

  if (!isTierName(data.tier)) problems.push(`tier: "${data.tier}" is not a tier; allowed: ${TIER_NAMES.join(", ")}`);

  const samples: TimedSample[] = [];
  // Order is checked on every sample whose time reads, even if another field is bad, so one run reports it all.
  let previous: { index: number; t: number; at: string } | undefined;
  data.samples.forEach((rawSample, i) => {
    const at = typeof rawSample === "object" && rawSample !== null ? (rawSample as { at?: unknown }).at : undefined;
    const label = `samples[${i}]${typeof at === "string" ? ` (at ${at})` : ""}`;
    const t = typeof at === "string" ? parseIsoTime(at) : undefined;
    if (typeof at === "string" && t === undefined) {
      problems.push(`${label}: at "${at}" is not an ISO 8601 time with a zone (e.g. 2026-11-01T12:00:00Z)`);
    }
    if (t !== undefined && typeof at === "string") {
      if (previous && t === previous.t)
        problems.push(`${label}: duplicate time, samples[${previous.index}] has the same time`);
      else if (previous && t < previous.t) {
        problems.push(
          `${label}: out of order, earlier than samples[${previous.index}] (at ${previous.at}); sort samples oldest first`,
        );
      }
      previous = { index: i, t, at };
    }
    const parsed = sampleSchema.safeParse(rawSample);
    if (!parsed.success) {
      problems.push(...parsed.error.issues.map((issue) => describeIssue(label, issue)));
      return;
    }
    if (t !== undefined) samples.push({ ...parsed.data, t });
  });

  const months = data.monthlyActiveUsers ?? [];
  for (let i = 1; i < months.length; i++) {
    const prev = months[i - 1]!;
    const cur = months[i]!;
    if (cur.month <= prev.month) {
      problems.push(
        `monthlyActiveUsers[${i}] (${cur.month}): months must be distinct and sorted oldest first (after ${prev.month})`,
      );
    }
  }

  if (problems.length > 0) throw new MetricsError(problems);

  return {
    tier: data.tier as TierName,
    samples,
    ...(data.activeUsers !== undefined ? { activeUsers: data.activeUsers } : {}),
    ...(data.monthlyActiveUsers !== undefined ? { monthlyActiveUsers: data.monthlyActiveUsers } : {}),
    ...(data.complaints !== undefined ? { complaints: data.complaints } : {}),
    ...(data.evidence !== undefined ? { evidence: data.evidence } : {}),
  };
}

/** Parses the text of a metrics file (JSON). */
export function parseCapacityFile(text: string, fileName = "metrics file"): CapacityInput {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new MetricsError([`${fileName}: not valid JSON (${(err as Error).message})`]);
  }
  return parseCapacityInput(raw);
}
