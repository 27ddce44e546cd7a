import { describe, expect, it } from "vitest";
import { parseCapacityInput, type TimedSample } from "../../infra/capacity/metrics";
import { SUSTAINED_RULES, evaluateRules, evaluateSustained, type SustainedRule } from "../../infra/capacity/rules";
import { END, MINUTE, type SeriesSpec, series } from "../fixtures/capacity/series";

function timed(spec: SeriesSpec): TimedSample[] {
  return parseCapacityInput({ tier: "4gb", samples: series(spec) }).samples;
}

/** A series where only `rule.field` varies: values(i) for that field, quiet defaults elsewhere. */
function ruleSeries(
  rule: SustainedRule,
  spanMs: number,
  stepMs: number,
  value: (i: number, t: number) => number,
  extra: Partial<SeriesSpec> = {},
) {
  return timed({ spanMs, stepMs, [rule.field]: value, ...extra });
}

// The share above must be strictly more than 90 %: 20 in-window samples with 2 below is exactly 90 %.
const step20 = (r: SustainedRule) => r.windowMs / 19;
// A value just above and exactly at each rule's threshold (ms thresholds move by 1 ms, percentages by 0.1).
const above = (r: SustainedRule) => r.threshold + (r.field === "responseMs" ? 1 : 0.1);
const at = (r: SustainedRule) => r.threshold;
const below = (r: SustainedRule) => r.threshold - 10;

type Case = [
  name: string,
  build: (r: SustainedRule) => TimedSample[],
  expected: "sustained" | "not-sustained" | "insufficient-data",
];

const cases: Case[] = [
  [
    "every sample exactly at the threshold (not strictly above)",
    (r) => ruleSeries(r, r.windowMs, step20(r), () => at(r)),
    "not-sustained",
  ],
  ["every sample just above the threshold", (r) => ruleSeries(r, r.windowMs, step20(r), () => above(r)), "sustained"],
  [
    "exactly 90 % above (18 of 20)",
    (r) => ruleSeries(r, r.windowMs, step20(r), (i) => (i === 3 || i === 11 ? below(r) : above(r))),
    "not-sustained",
  ],
  [
    "95 % above (19 of 20)",
    (r) => ruleSeries(r, r.windowMs, step20(r), (i) => (i === 7 ? below(r) : above(r))),
    "sustained",
  ],
  [
    "the one sample below is the last one",
    (r) => ruleSeries(r, r.windowMs, step20(r), (i) => (i === 19 ? below(r) : above(r))),
    "sustained",
  ],
  [
    "history one step short of the window",
    (r) => ruleSeries(r, r.windowMs - step20(r), step20(r), () => above(r) + 5),
    "insufficient-data",
  ],
  ["history exactly one window long", (r) => ruleSeries(r, r.windowMs, r.windowMs / 12, () => above(r)), "sustained"],
  [
    "a gap of exactly W/12 (one sample missing from a W/24 series) is allowed",
    (r) => ruleSeries(r, r.windowMs, r.windowMs / 24, () => above(r)).filter((_s, i) => i !== 12),
    "sustained",
  ],
  [
    "a gap one minute over W/12 makes it undecidable",
    (r) => {
      const samples = ruleSeries(r, r.windowMs, r.windowMs / 24, () => above(r)).filter((_s, i) => i !== 12);
      const moved = samples[12]!; // the sample after the hole, one minute later
      samples[12] = { ...moved, t: moved.t + MINUTE, at: new Date(moved.t + MINUTE).toISOString() };
      return samples;
    },
    "insufficient-data",
  ],
  [
    "one old sample cannot stand in for the start of the window",
    (r) => {
      const old = ruleSeries(r, r.windowMs * 2, r.windowMs, () => above(r)).slice(0, 1);
      const recent = ruleSeries(r, r.windowMs / 2, r.windowMs / 24, () => above(r));
      return [...old, ...recent];
    },
    "insufficient-data",
  ],
  [
    "samples before the window do not count",
    (r) => ruleSeries(r, r.windowMs * 2, r.windowMs / 24, (_i, t) => (t < END - r.windowMs ? below(r) : above(r))),
    "sustained",
  ],
  [
    "noisy data around a level well above, 1 dip in 25",
    (r) =>
      ruleSeries(r, r.windowMs, r.windowMs / 24, (i) => (i % 25 === 12 ? below(r) : above(r) + ((i * 7919) % 9) / 2)),
    "sustained",
  ],
  [
    "noisy data hovering around the threshold",
    (r) => ruleSeries(r, r.windowMs, r.windowMs / 24, (i) => r.threshold + (((i * 7919) % 11) - 5)),
    "not-sustained",
  ],
];

describe.each(SUSTAINED_RULES.map((r) => [r.id, r] as const))("sustained rule %s", (_id, rule) => {
  it.each(cases)("%s", (_name, build, expected) => {
    expect(evaluateSustained(build(rule), rule.field, rule.threshold, rule.windowMs).status).toBe(expected);
  });
});

describe("evaluateSustained details", () => {
  it("reports the share above and the median of the in-window samples", () => {
    const rule = SUSTAINED_RULES.find((r) => r.field === "memoryPct" && r.window === "24h")!;
    const r = evaluateSustained(
      ruleSeries(rule, rule.windowMs, step20(rule), (i) => (i === 0 ? 50 : 95)),
      "memoryPct",
      90,
      rule.windowMs,
    );
    expect(r).toEqual({ status: "sustained", samples: 20, above: 19, sharePct: 95, median: 95 });
  });

  it("treats samples without responseMs as holes, not as passes", () => {
    const rule = SUSTAINED_RULES.find((r) => r.field === "responseMs")!;
    const withLatency = ruleSeries(rule, rule.windowMs, rule.windowMs / 24, () => 2500);
    expect(evaluateSustained(withLatency, "responseMs", 2000, rule.windowMs).status).toBe("sustained");
    const holed = withLatency.map((s, i) => (i >= 5 && i <= 8 ? { ...s, responseMs: undefined } : s));
    const r = evaluateSustained(holed, "responseMs", 2000, rule.windowMs);
    expect(r.status).toBe("insufficient-data");
  });

  it("explains a short history with how much it covers", () => {
    const r = evaluateSustained(timed({ spanMs: 3 * 3_600_000, stepMs: 10 * MINUTE }), "memoryPct", 90, 86_400_000);
    expect(r).toEqual({
      status: "insufficient-data",
      reason: "history covers 3 h of the 24 h window",
      soFar: { from: END - 3 * 3_600_000, to: END, samples: 19, above: 0, sharePct: 0 },
    });
  });

  it("a single sample is never sustained", () => {
    expect(
      evaluateSustained(timed({ spanMs: 0, stepMs: MINUTE, memoryPct: () => 99 }), "memoryPct", 90, 3_600_000).status,
    ).toBe("insufficient-data");
  });
});

describe("pending: the threshold exceeded while the window is not full", () => {
  const resultOf = (rule: SustainedRule, samples: TimedSample[]) =>
    evaluateRules({ tier: "4gb", samples }).find((r) => r.rule === rule.id)!;
  const half = (r: SustainedRule) => r.windowMs / 2;

  describe.each(SUSTAINED_RULES.map((r) => [r.id, r] as const))("%s", (_id, rule) => {
    it("half a window above the threshold is pending, not met, with when it can be decided", () => {
      const r = resultOf(
        rule,
        ruleSeries(rule, half(rule), rule.windowMs / 24, () => above(rule)),
      );
      expect(r.met).toBe(false);
      expect(r.pending).toEqual({
        field: rule.field,
        observedFor: expect.stringMatching(/^[\d.]+ (min|h|d)$/),
        needs: rule.window === "7d" ? "7 d" : rule.window.replace("h", " h"),
        samples: 13,
        above: 13,
        sharePct: 100,
        decidableAt: new Date(END - half(rule) + rule.windowMs).toISOString(),
      });
    });

    it("half a window exactly at the threshold is not pending (negative control)", () => {
      const r = resultOf(
        rule,
        ruleSeries(rule, half(rule), rule.windowMs / 24, () => at(rule)),
      );
      expect(r.insufficient).toMatch(/^history covers/);
      expect(r.pending).toBeUndefined();
    });

    it.each([
      ["19 of 20 above", (i: number) => i === 7, true],
      ["exactly 90 % above (18 of 20)", (i: number) => i === 3 || i === 11, false],
    ])("a short history with %s: pending %s", (_name, isBelow, pending) => {
      const step = half(rule) / 19;
      const r = resultOf(
        rule,
        ruleSeries(rule, half(rule), step, (i) => (isBelow(i) ? below(rule) : above(rule))),
      );
      expect(r.pending !== undefined).toBe(pending);
    });

    it("after a hole too long to decide, the samples since the hole decide whether it is pending", () => {
      const hole = { from: END - half(rule), to: END - half(rule) + rule.windowMs / 6 };
      const hot = ruleSeries(rule, rule.windowMs * 2, rule.windowMs / 24, () => above(rule), { holes: [hole] });
      const r = resultOf(rule, hot);
      expect(r.insufficient).toMatch(/gap/);
      expect(r.pending?.decidableAt).toBe(new Date(hole.to + rule.windowMs).toISOString());
      // Above before the hole only: what follows the hole is below, so nothing is pending.
      const cooled = ruleSeries(
        rule,
        rule.windowMs * 2,
        rule.windowMs / 24,
        (_i, t) => (t < hole.from ? above(rule) : below(rule)),
        {
          holes: [hole],
        },
      );
      expect(resultOf(rule, cooled).pending).toBeUndefined();
    });

    it("a decided rule is never pending", () => {
      const r = resultOf(
        rule,
        ruleSeries(rule, rule.windowMs, rule.windowMs / 24, () => above(rule)),
      );
      expect(r.met).toBe(true);
      expect(r.pending).toBeUndefined();
    });
  });
});
