import { describe, expect, it } from "vitest";
import { MetricsError, parseCapacityFile, parseCapacityInput } from "../../infra/capacity/metrics";
import { problemsOf } from "../fixtures/capacity/problems";

const ok = (at: string, extra: Record<string, unknown> = {}) => ({ at, memoryPct: 50, cpuPct: 20, ...extra });

function problemsIn(raw: unknown): string[] {
  const found = problemsOf(MetricsError, () => parseCapacityInput(raw));
  if (found.length === 0) throw new Error("expected a MetricsError");
  return found;
}

describe("parseCapacityInput", () => {
  it("accepts a minimal file and parses times", () => {
    const input = parseCapacityInput({
      tier: "8gb",
      samples: [ok("2026-11-01T00:00:00Z"), ok("2026-11-01T01:05:00+01:00")],
    });
    expect(input.tier).toBe("8gb");
    expect(input.samples.map((s) => s.t)).toEqual([
      Date.parse("2026-11-01T00:00:00Z"),
      Date.parse("2026-11-01T00:05:00Z"),
    ]);
  });

  it.each<[string, unknown[], RegExp]>([
    [
      "a bad timestamp",
      [ok("2026-11-01T00:00:00Z"), ok("yesterday")],
      /^samples\[1\] \(at yesterday\): at "yesterday" is not an ISO 8601 time/,
    ],
    ["a time without a zone", [ok("2026-11-01T00:00:00")], /^samples\[0\] \(at 2026-11-01T00:00:00\): .*with a zone/],
    ["an impossible date", [ok("2026-02-30T00:00:00Z")], /^samples\[0\] .*not an ISO 8601 time/],
    [
      "unsorted samples",
      [ok("2026-11-01T00:10:00Z"), ok("2026-11-01T00:05:00Z")],
      /^samples\[1\] \(at 2026-11-01T00:05:00Z\): out of order, earlier than samples\[0\] \(at 2026-11-01T00:10:00Z\)/,
    ],
    [
      "duplicate samples",
      [ok("2026-11-01T00:10:00Z"), ok("2026-11-01T00:10:00.000Z")],
      /^samples\[1\] .*duplicate time, samples\[0\] has the same time/,
    ],
    [
      "memory above 100",
      [ok("2026-11-01T00:00:00Z", { memoryPct: 100.5 })],
      /^samples\[0\] \(at 2026-11-01T00:00:00Z\)\.memoryPct: Too big/,
    ],
    ["negative CPU", [ok("2026-11-01T00:00:00Z", { cpuPct: -1 })], /^samples\[0\] .*\.cpuPct: Too small/],
    ["disk out of range", [ok("2026-11-01T00:00:00Z", { diskPct: 101 })], /^samples\[0\] .*\.diskPct: Too big/],
    [
      "a negative response time",
      [ok("2026-11-01T00:00:00Z", { responseMs: -5 })],
      /^samples\[0\] .*\.responseMs: Too small/,
    ],
    ["a missing field", [{ at: "2026-11-01T00:00:00Z", cpuPct: 1 }], /^samples\[0\] .*\.memoryPct: Invalid input/],
    ["a misspelt field", [ok("2026-11-01T00:00:00Z", { memPct: 3 })], /^samples\[0\] .*Unrecognized key: "memPct"/],
    ["a non-object sample", [42], /^samples\[0\]: Invalid input: expected object/],
  ])("rejects %s, naming the sample", (_name, samples, message) => {
    const problems = problemsIn({ tier: "4gb", samples });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(message);
  });

  it("reports every problem at once", () => {
    const problems = problemsIn({
      tier: "2gb",
      samples: [ok("2026-11-01T00:00:00Z", { memoryPct: 120 }), ok("2026-11-01T00:05:00Z"), ok("2026-11-01T00:01:00Z")],
    });
    expect(problems).toEqual([
      'tier: "2gb" is not a tier; allowed: 4gb, 8gb, 16gb',
      expect.stringMatching(/^samples\[0\].*memoryPct/),
      expect.stringMatching(/^samples\[2\].*out of order/),
    ]);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["no samples", { tier: "4gb", samples: [] }, /^samples: Too small/],
    [
      "a bad month",
      { tier: "4gb", samples: [ok("2026-11-01T00:00:00Z")], monthlyActiveUsers: [{ month: "2026-13", users: 1 }] },
      /^monthlyActiveUsers\.0\.month: month must be YYYY-MM/,
    ],
    [
      "months out of order",
      {
        tier: "4gb",
        samples: [ok("2026-11-01T00:00:00Z")],
        monthlyActiveUsers: [
          { month: "2026-10", users: 1 },
          { month: "2026-09", users: 2 },
        ],
      },
      /^monthlyActiveUsers\[1\] \(2026-09\): months must be distinct and sorted/,
    ],
    [
      "fractional users",
      { tier: "4gb", samples: [ok("2026-11-01T00:00:00Z")], activeUsers: 10.5 },
      /^activeUsers: Invalid input: expected int/,
    ],
    [
      "complaints as a string",
      { tier: "4gb", samples: [ok("2026-11-01T00:00:00Z")], complaints: "yes" },
      /^complaints: Invalid input: expected boolean/,
    ],
  ])("rejects %s, naming the field", (_name, raw, message) => {
    expect(problemsIn(raw)[0]).toMatch(message);
  });

  it("says when the file is not JSON", () => {
    expect(() => parseCapacityFile("{nope", "m.json")).toThrow(/m\.json: not valid JSON/);
  });
});
