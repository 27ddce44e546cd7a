/**
 * The scaling rules from the plan we started from, evaluated at the last sample.
 *
 * upgrade-now:  memory > 90 % sustained over 24 h; CPU > 85 % sustained over 6 h; responses > 2000 ms sustained over
 *               1 h; users complain.
 * plan-upgrade: memory > 80 % sustained over 7 days; monthly active users grew more than 20 % (second-to-last to last
 *               entry); active users at or above 80 % of the tier's planning threshold.
 *
 * "Sustained over W": the samples reach back at least W before the last sample, the window has no hole longer than
 * W/12 (counting the pair that straddles the window start, so one old sample cannot stand in for a whole day), and
 * more than 90 % of the samples inside the window (start and end included) are strictly above the threshold.
 *
 * Pending: a sustained rule that cannot be decided yet (the history is shorter than its window, or a hole in it is
 * too long) while the samples since the last hole are above the threshold as a sustained rule needs. It is not met
 * (the framework's verdict stays) and not clear either: the report says so and `--check` fails on it.
 */
import { TIERS, type TierName } from "../tiers";
import type { CapacityInput, TimedSample } from "./metrics";

export type Verdict = "upgrade-now" | "plan-upgrade" | "none";
export type RuleLevel = Exclude<Verdict, "none">;
export type SeriesField = "memoryPct" | "cpuPct" | "responseMs";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** Share of in-window samples that must be above the threshold (strictly more than this). */
export const SUSTAINED_SHARE = 0.9;
/** Largest allowed hole in a window, as a fraction of the window. */
export const MAX_GAP_FRACTION = 1 / 12;
/** Users at or above this share of the tier's planning threshold mean "plan an upgrade". */
export const USER_BAND_SHARE = 0.8;
/** Month-over-month growth above this (a fraction) means "plan an upgrade". */
export const USER_GROWTH_LIMIT = 0.2;

export interface SustainedRule {
  id: string;
  level: RuleLevel;
  field: SeriesField;
  threshold: number;
  windowMs: number;
  window: string;
}

export const SUSTAINED_RULES: readonly SustainedRule[] = [
  {
    id: "memory-above-90pct-24h",
    level: "upgrade-now",
    field: "memoryPct",
    threshold: 90,
    windowMs: DAY,
    window: "24h",
  },
  { id: "cpu-above-85pct-6h", level: "upgrade-now", field: "cpuPct", threshold: 85, windowMs: 6 * HOUR, window: "6h" },
  {
    id: "response-above-2000ms-1h",
    level: "upgrade-now",
    field: "responseMs",
    threshold: 2000,
    windowMs: HOUR,
    window: "1h",
  },
  {
    id: "memory-above-80pct-7d",
    level: "plan-upgrade",
    field: "memoryPct",
    threshold: 80,
    windowMs: 7 * DAY,
    window: "7d",
  },
];

/** What the samples since the last hole (inside the window) say while a rule cannot be decided yet. */
export interface SoFar {
  /** The first and last sample of that stretch (ms since the epoch). */
  from: number;
  to: number;
  samples: number;
  above: number;
  sharePct: number;
}

export type SustainedStatus =
  | { status: "sustained" | "not-sustained"; samples: number; above: number; sharePct: number; median: number }
  | { status: "insufficient-data"; reason: string; soFar?: SoFar };

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

function formatSpan(ms: number): string {
  if (ms > 2 * DAY) return `${Math.round((ms / DAY) * 10) / 10} d`;
  if (ms >= HOUR) return `${Math.round((ms / HOUR) * 10) / 10} h`;
  return `${Math.round(ms / 60_000)} min`;
}

/**
 * Whether `field` stays strictly above `threshold` over the window `windowMs` ending at the last sample.
 * Samples without the field (responseMs is optional) are left out first: a missing reading is a hole, not a pass.
 */
export function evaluateSustained(
  samples: readonly TimedSample[],
  field: SeriesField,
  threshold: number,
  windowMs: number,
): SustainedStatus {
  const series = samples.filter((s) => s[field] !== undefined).map((s) => ({ t: s.t, v: s[field] as number }));
  const last = series[series.length - 1];
  if (!last) return { status: "insufficient-data", reason: `no ${field} samples` };
  const start = last.t - windowMs;
  const first = series[0]!;
  const maxGap = windowMs * MAX_GAP_FRACTION;
  const soFar = () => stretchSinceLastHole(series, start, maxGap, threshold);
  if (first.t > start) {
    return {
      status: "insufficient-data",
      reason: `history covers ${formatSpan(last.t - first.t)} of the ${formatSpan(windowMs)} window`,
      soFar: soFar(),
    };
  }
  // The last sample at or before the window start anchors coverage of the window's beginning.
  let anchor = 0;
  while (anchor + 1 < series.length && series[anchor + 1]!.t <= start) anchor++;
  for (let i = anchor + 1; i < series.length; i++) {
    const gap = series[i]!.t - series[i - 1]!.t;
    if (gap > maxGap) {
      return {
        status: "insufficient-data",
        reason: `a ${formatSpan(gap)} gap before ${new Date(series[i]!.t).toISOString()} exceeds ${formatSpan(maxGap)} (1/12 of the window)`,
        soFar: soFar(),
      };
    }
  }
  const inside = series.filter((p) => p.t >= start).map((p) => p.v);
  const above = inside.filter((v) => v > threshold).length;
  const share = above / inside.length;
  return {
    status: share > SUSTAINED_SHARE ? "sustained" : "not-sustained",
    samples: inside.length,
    above,
    sharePct: Math.round(share * 1000) / 10,
    median: Math.round(median(inside) * 10) / 10,
  };
}

/** The samples inside the window after its last hole longer than `maxGap` (all of them when there is none). */
function stretchSinceLastHole(
  series: readonly { t: number; v: number }[],
  start: number,
  maxGap: number,
  threshold: number,
): SoFar {
  let from = series.length - 1;
  while (from > 0 && series[from - 1]!.t >= start && series[from]!.t - series[from - 1]!.t <= maxGap) from--;
  const stretch = series.slice(from);
  const above = stretch.filter((p) => p.v > threshold).length;
  return {
    from: stretch[0]!.t,
    to: stretch[stretch.length - 1]!.t,
    samples: stretch.length,
    above,
    sharePct: Math.round((above / stretch.length) * 1000) / 10,
  };
}

/** A rule whose threshold is exceeded over the history there is, but whose window is not full yet. */
export interface Pending {
  field: SeriesField;
  /** How long the samples since the last hole reach back, such as "5 h". */
  observedFor: string;
  /** The rule's window in the same words, such as "24 h". */
  needs: string;
  samples: number;
  above: number;
  sharePct: number;
  /** The earliest time the rule can be decided if sampling goes on without a hole (ISO 8601). */
  decidableAt: string;
}

export interface RuleResult {
  rule: string;
  level: RuleLevel;
  met: boolean;
  /** Why the rule could not be decided (too little or too sparse history, no user figures). */
  insufficient?: string;
  /**
   * A sustained rule undecided for want of history (short, or with a hole): the earliest time it can be decided if
   * sampling goes on without a hole (ISO 8601). Absent when time alone will not decide it (no samples of the field).
   */
  decidableAt?: string;
  /** Set when the rule is undecided but its threshold is exceeded as it would need to be met: not clear. */
  pending?: Pending;
  observed: number | boolean | null;
  threshold: number | boolean;
  window: string | null;
  /** Extra figures behind `observed` (sample counts, share above the threshold). */
  detail?: Record<string, number | string>;
}

function sustainedResult(input: CapacityInput, rule: SustainedRule): RuleResult {
  const r = evaluateSustained(input.samples, rule.field, rule.threshold, rule.windowMs);
  const base = { rule: rule.id, level: rule.level, threshold: rule.threshold, window: rule.window };
  if (r.status === "insufficient-data") {
    const so = r.soFar;
    const decidableAt = so ? new Date(so.from + rule.windowMs).toISOString() : undefined;
    const pending: Pending | undefined =
      so && so.above / so.samples > SUSTAINED_SHARE
        ? {
            field: rule.field,
            observedFor: formatSpan(so.to - so.from),
            needs: formatSpan(rule.windowMs),
            samples: so.samples,
            above: so.above,
            sharePct: so.sharePct,
            decidableAt: decidableAt!,
          }
        : undefined;
    return {
      ...base,
      met: false,
      insufficient: r.reason,
      ...(decidableAt ? { decidableAt } : {}),
      ...(pending ? { pending } : {}),
      observed: null,
    };
  }
  return {
    ...base,
    met: r.status === "sustained",
    observed: r.median,
    detail: { field: rule.field, samples: r.samples, above: r.above, sharePct: r.sharePct, statistic: "median" },
  };
}

function complaintsResult(input: CapacityInput): RuleResult {
  const base = { rule: "user-complaints", level: "upgrade-now" as const, threshold: true, window: null };
  if (input.complaints === undefined)
    return { ...base, met: false, insufficient: "complaints not given", observed: null };
  return { ...base, met: input.complaints, observed: input.complaints };
}

function growthResult(input: CapacityInput): RuleResult {
  const months = input.monthlyActiveUsers ?? [];
  const base = { rule: "user-growth-above-20pct", level: "plan-upgrade" as const, threshold: USER_GROWTH_LIMIT * 100 };
  const prev = months[months.length - 2];
  const last = months[months.length - 1];
  if (!prev || !last)
    return { ...base, window: null, met: false, insufficient: "needs two monthlyActiveUsers entries", observed: null };
  const window = `${prev.month}..${last.month}`;
  // From zero users any growth is unbounded; report it as such rather than dividing by zero.
  const growth =
    prev.users === 0 ? (last.users > 0 ? Number.POSITIVE_INFINITY : 0) : (last.users - prev.users) / prev.users;
  const observed = Number.isFinite(growth) ? Math.round(growth * 1000) / 10 : null;
  return { ...base, window, met: growth > USER_GROWTH_LIMIT, observed, detail: { from: prev.users, to: last.users } };
}

/** The active-user level at which a tier should plan its upgrade (80 % of its planning threshold). */
export function userPlanningLimit(tier: TierName): number {
  return Math.round(TIERS[tier].users.planUpgradeAt * USER_BAND_SHARE);
}

function usersResult(input: CapacityInput): RuleResult {
  const limit = userPlanningLimit(input.tier);
  const base = { rule: "users-near-tier-band", level: "plan-upgrade" as const, threshold: limit, window: null };
  if (input.activeUsers === undefined)
    return { ...base, met: false, insufficient: "activeUsers not given", observed: null };
  return {
    ...base,
    met: input.activeUsers >= limit,
    observed: input.activeUsers,
    detail: { planUpgradeAt: TIERS[input.tier].users.planUpgradeAt },
  };
}

/** Every rule, in the order the framework lists them. */
export function evaluateRules(input: CapacityInput): RuleResult[] {
  const [memoryDay, cpu, response, memoryWeek] = SUSTAINED_RULES.map((rule) => sustainedResult(input, rule));
  return [memoryDay!, cpu!, response!, complaintsResult(input), memoryWeek!, growthResult(input), usersResult(input)];
}

/** upgrade-now wins over plan-upgrade; none when no rule is met. */
export function decideVerdict(results: readonly RuleResult[]): Verdict {
  if (results.some((r) => r.met && r.level === "upgrade-now")) return "upgrade-now";
  if (results.some((r) => r.met && r.level === "plan-upgrade")) return "plan-upgrade";
  return "none";
}
