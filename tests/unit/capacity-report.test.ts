import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseCapacityInput } from "../../infra/capacity/metrics";
import {
  buildReport,
  checkFailure,
  recommend,
  renderHuman,
  reportJson,
  scaleOutEstimate,
} from "../../infra/capacity/report";
import { DATABASE_NODE_MONTHLY_USD, LOAD_BALANCER_CENTS_PER_NODE } from "../../infra/pricing";
import { optimizeFirst } from "../../infra/capacity/optimize";
import { userPlanningLimit } from "../../infra/capacity/rules";
import { TIERS, TIER_NAMES, type TierName } from "../../infra/tiers";
import { DAY, HOUR, MINUTE, series, type SeriesSpec } from "../fixtures/capacity/series";

/** Eight days of samples every 5 minutes: enough history for every window. */
const week = (spec: Partial<SeriesSpec> = {}) => series({ spanMs: 8 * DAY, stepMs: 5 * MINUTE, ...spec });

function report(extra: Record<string, unknown>, spec: Partial<SeriesSpec> = {}, tier: TierName = "4gb") {
  return buildReport(parseCapacityInput({ tier, samples: week(spec), ...extra }));
}

describe("verdict", () => {
  it.each<[string, Record<string, unknown>, Partial<SeriesSpec>, string, string[]]>([
    ["quiet droplet", {}, {}, "none", []],
    ["memory above 90 for a day", {}, { memoryPct: () => 93 }, "upgrade-now", ["memory-above-90pct-24h"]],
    [
      "CPU above 85 for six hours",
      {},
      { cpuPct: (_i, t) => (t > Date.parse("2026-11-20T05:00:00Z") ? 92 : 40) },
      "upgrade-now",
      ["cpu-above-85pct-6h"],
    ],
    [
      "responses above 2 s for an hour",
      {},
      { responseMs: (_i, t) => (t > Date.parse("2026-11-20T10:50:00Z") ? 2600 : 300) },
      "upgrade-now",
      ["response-above-2000ms-1h"],
    ],
    ["user complaints", { complaints: true }, {}, "upgrade-now", ["user-complaints"]],
    ["memory above 80 for a week", {}, { memoryPct: () => 84 }, "plan-upgrade", ["memory-above-80pct-7d"]],
    [
      "users grew 25 %",
      {
        monthlyActiveUsers: [
          { month: "2026-09", users: 500 },
          { month: "2026-10", users: 800 },
          { month: "2026-11", users: 1000 },
        ],
      },
      {},
      "plan-upgrade",
      ["user-growth-above-20pct"],
    ],
    [
      "users grew exactly 20 %",
      {
        monthlyActiveUsers: [
          { month: "2026-10", users: 1000 },
          { month: "2026-11", users: 1200 },
        ],
      },
      {},
      "none",
      [],
    ],
    [
      "users from zero",
      {
        monthlyActiveUsers: [
          { month: "2026-10", users: 0 },
          { month: "2026-11", users: 5 },
        ],
      },
      {},
      "plan-upgrade",
      ["user-growth-above-20pct"],
    ],
    [
      "users shrank",
      {
        monthlyActiveUsers: [
          { month: "2026-10", users: 900 },
          { month: "2026-11", users: 500 },
        ],
      },
      {},
      "none",
      [],
    ],
    ["users at 80 % of the band", { activeUsers: 1200 }, {}, "plan-upgrade", ["users-near-tier-band"]],
    ["users just below 80 % of the band", { activeUsers: 1199 }, {}, "none", []],
    [
      "upgrade-now wins, only its triggers listed",
      { activeUsers: 1400, complaints: true },
      { memoryPct: () => 95 },
      "upgrade-now",
      ["memory-above-90pct-24h", "user-complaints"],
    ],
    ["complaints false is not a trigger", { complaints: false }, {}, "none", []],
  ])("%s", (_name, extra, spec, verdict, triggers) => {
    const r = report(extra, spec);
    expect(r.verdict).toBe(verdict);
    expect(r.triggers.map((t) => t.rule)).toEqual(triggers);
  });

  it("memory above 90 for a day is also above 80, but only for a day: no week-long trigger", () => {
    const r = report({}, { memoryPct: (_i, t) => (t > Date.parse("2026-11-19T11:00:00Z") ? 95 : 60) });
    expect(r.rules.find((x) => x.rule === "memory-above-80pct-7d")!.met).toBe(false);
  });

  it("too little history decides nothing and says so", () => {
    const r = buildReport(
      parseCapacityInput({
        tier: "4gb",
        samples: series({ spanMs: 2 * HOUR, stepMs: 5 * MINUTE, memoryPct: () => 99 }),
      }),
    );
    expect(r.verdict).toBe("none");
    expect(r.rules.find((x) => x.rule === "memory-above-90pct-24h")!.insufficient).toBe(
      "history covers 2 h of the 24 h window",
    );
  });

  it.each(TIER_NAMES.map((t) => [t, userPlanningLimit(t)] as const))(
    "users band for %s: plan from %i",
    (tier, limit) => {
      expect(limit).toBe(Math.round(TIERS[tier].users.planUpgradeAt * 0.8));
      expect(report({ activeUsers: limit }, {}, tier).verdict).toBe("plan-upgrade");
      expect(report({ activeUsers: limit - 1 }, {}, tier).verdict).toBe("none");
    },
  );

  it("the JSON has the documented shape with observed, threshold and window", () => {
    const json = reportJson(report({ activeUsers: 1300 }, { memoryPct: () => 85 }));
    expect(json).toMatchObject({
      verdict: "plan-upgrade",
      triggers: [
        { rule: "memory-above-80pct-7d", observed: 85, threshold: 80, window: "7d" },
        { rule: "users-near-tier-band", observed: 1300, threshold: 1200, window: null },
      ],
      recommendation: { tier: "8gb", monthlyCostDelta: 24 },
    });
    expect(json.optimizeFirst).toHaveLength(4);
  });
});

describe("recommendation", () => {
  it.each<[TierName, string, number]>([
    ["4gb", "8gb", TIERS["8gb"].monthlyUsd - TIERS["4gb"].monthlyUsd],
    ["8gb", "16gb", TIERS["16gb"].monthlyUsd - TIERS["8gb"].monthlyUsd],
  ])("from %s moves to %s for the price difference", (tier, next, delta) => {
    expect(recommend(tier)).toEqual({ tier: next, monthlyCostDelta: delta });
    expect(delta).toBeGreaterThan(0);
  });

  it("from the largest tier recommends scale-out, priced as the stack would plan its default layout", () => {
    // By hand: 2 app droplets s-2vcpu-4gb, 1 load balancer node, PostgreSQL db-s-2vcpu-4gb x 2, Valkey db-s-1vcpu-2gb x 2.
    const lb = LOAD_BALANCER_CENTS_PER_NODE / 100;
    const pg = DATABASE_NODE_MONTHLY_USD.pg["db-s-2vcpu-4gb"];
    const valkey = DATABASE_NODE_MONTHLY_USD.valkey["db-s-1vcpu-2gb"];
    const layout = 2 * TIERS["4gb"].monthlyUsd + lb + 2 * pg + 2 * valkey;
    expect(scaleOutEstimate().monthlyUsd).toBe(layout);
    expect(recommend("16gb")).toEqual({
      tier: "scale-out",
      monthlyCostDelta: layout - TIERS["16gb"].monthlyUsd,
      note: expect.stringMatching(
        /^the default scale-out layout: 2 x s-2vcpu-4gb app droplets .* PostgreSQL db-s-2vcpu-4gb x 2/,
      ),
    });
    expect(recommend("16gb", { scaleOutMonthlyUsd: 150 })).toEqual({
      tier: "scale-out",
      monthlyCostDelta: 150 - TIERS["16gb"].monthlyUsd,
    });
  });

  it("no recommendation when nothing fired", () => {
    expect(report({}).recommendation).toBeNull();
  });
});

describe("human output", () => {
  it("explains each trigger in a sentence and names the cost", () => {
    const text = renderHuman(report({ complaints: true }, { memoryPct: () => 95 }));
    expect(text).toContain("UPGRADE NOW");
    expect(text).toMatch(
      /Memory was above 90% in 100% of the 289 samples over the last 24 hours \(median 95%\); that is sustained/,
    );
    expect(text).toContain("Users are complaining");
    expect(text).toContain("Recommendation: move to 8gb (+$24.00/month)");
  });
});

describe("human output with live evidence", () => {
  it("shows host and container memory and the biggest processes", () => {
    const input = parseCapacityInput({
      tier: "4gb",
      samples: week(),
      evidence: {
        hostMemoryTotalBytes: 4096 * 1048576,
        containers: [
          { name: "chatbot-postgres-1", memUsageBytes: 900 * 1048576, memLimitBytes: 1536 * 1048576 },
          { name: "chatbot-app-1", memUsageBytes: 700 * 1048576, memLimitBytes: 4096 * 1048576 },
        ],
        topProcesses: [{ command: "postgres", rssBytes: 300 * 1048576, cpuPct: 4.5 }],
      },
    });
    const text = renderHuman(buildReport(input));
    expect(text).toContain(
      "Memory now:\n  host: 4096 MiB total\n  container chatbot-postgres-1: 900 MiB of 1536 MiB\n  container chatbot-app-1: 700 MiB of no limit\n  process postgres: 300 MiB resident, 4.5% CPU",
    );
    expect(text).toContain("[check] container-limits: chatbot-app-1 has no memory limit");
  });
});

describe("optimize first", () => {
  const base = () => parseCapacityInput({ tier: "4gb", samples: week({ responseMs: () => 1500, cpuPct: () => 20 }) });
  const withEvidence = (evidence: Record<string, unknown>) =>
    Object.fromEntries(optimizeFirst({ ...base(), evidence: evidence as never }).map((f) => [f.check, f])) as Record<
      string,
      { worthChecking: boolean; evidence: string }
    >;

  it("without evidence every check is still worth making, saying there is no data", () => {
    const all = optimizeFirst(parseCapacityInput({ tier: "4gb", samples: week({ responseMs: null }) }));
    expect(all.map((f) => [f.check, f.worthChecking])).toEqual([
      ["slow-queries", true],
      ["cache-hit-rate", true],
      ["proxy-tuning", true],
      ["container-limits", true],
    ]);
    expect(all.every((f) => f.evidence.startsWith("no data"))).toBe(true);
  });

  it.each<[string, Record<string, unknown>, string, boolean, RegExp]>([
    [
      "a slow statement",
      { slowQueries: [{ query: "SELECT * FROM messages WHERE chat_id = $1", calls: 900, meanMs: 340 }] },
      "slow-queries",
      true,
      /340 ms x 900 calls: SELECT \* FROM messages/,
    ],
    [
      "fast statements",
      { slowQueries: [{ query: "SELECT 1", calls: 9, meanMs: 0.1 }] },
      "slow-queries",
      false,
      /no statement averages above 100 ms/,
    ],
    ["a cold Redis", { redis: { keyspaceHits: 60, keyspaceMisses: 40 } }, "cache-hit-rate", true, /Redis hit rate 60%/],
    [
      "a warm Redis",
      { redis: { keyspaceHits: 95, keyspaceMisses: 5 }, postgresCacheHitRatio: 0.999 },
      "cache-hit-rate",
      false,
      /95%.*99\.9%/,
    ],
    [
      "evictions",
      { redis: { keyspaceHits: 95, keyspaceMisses: 5, evictedKeys: 12 } },
      "cache-hit-rate",
      true,
      /12 keys evicted/,
    ],
    ["a low PostgreSQL hit ratio", { postgresCacheHitRatio: 0.9 }, "cache-hit-rate", true, /buffer hit ratio 90%/],
    [
      "an unbounded container",
      { hostMemoryTotalBytes: 4e9, containers: [{ name: "app", memUsageBytes: 1e9, memLimitBytes: 4e9 }] },
      "container-limits",
      true,
      /app has no memory limit/,
    ],
    [
      "a nearly full limit",
      { containers: [{ name: "postgres", memUsageBytes: 950e6, memLimitBytes: 1e9 }] },
      "container-limits",
      true,
      /postgres uses 95% of its 954 MiB limit/,
    ],
    [
      "comfortable limits",
      { containers: [{ name: "redis", memUsageBytes: 100e6, memLimitBytes: 1e9 }] },
      "container-limits",
      false,
      /all 1 containers have limits/,
    ],
  ])("%s", (_name, evidence, check, worth, text) => {
    const f = withEvidence(evidence)[check]!;
    expect(f.worthChecking).toBe(worth);
    expect(f.evidence).toMatch(text);
  });

  it("slow answers with an idle CPU point at the proxy and workers, busy CPU does not", () => {
    expect(withEvidence({})["proxy-tuning"]).toMatchObject({
      worthChecking: true,
      evidence: expect.stringMatching(/requests are waiting/),
    });
    const busy = optimizeFirst(
      parseCapacityInput({ tier: "4gb", samples: week({ responseMs: () => 1500, cpuPct: () => 90 }) }),
    );
    expect(busy.find((f) => f.check === "proxy-tuning")!.worthChecking).toBe(false);
  });
});

describe("pending is not clear", () => {
  const hours = (h: number, spec: Partial<SeriesSpec> = {}) =>
    buildReport(
      parseCapacityInput({ tier: "4gb", samples: series({ spanMs: h * HOUR, stepMs: 5 * MINUTE, ...spec }) }),
    );
  const headline = (text: string) => text.split("\n")[0]!;

  it("5 h at 99 % memory and CPU: the verdict stays none, three rules pending, never 'no upgrade needed'", () => {
    const r = hours(5, { memoryPct: () => 99, cpuPct: () => 99 });
    expect(r.verdict).toBe("none");
    expect(r.pending.map((p) => p.rule)).toEqual([
      "memory-above-90pct-24h",
      "cpu-above-85pct-6h",
      "memory-above-80pct-7d",
    ]);
    const text = renderHuman(r);
    expect(text).not.toMatch(/NO UPGRADE NEEDED/);
    expect(headline(text)).toBe(
      "Tier 4gb, evaluated at 2026-11-20T12:00:00.000Z: NOT CLEAR: 3 rules are pending (a threshold exceeded, the window not full yet)",
    );
    expect(text).toContain(
      "  - memory-above-90pct-24h (upgrade-now): memory above 90% for 5 h of the 24 h the rule needs, in 100% of 61 samples; decidable from 2026-11-21T07:00:00.000Z.",
    );
    expect(checkFailure(r)).toMatch(
      /^not clear: memory-above-90pct-24h is pending \(memory above 90% for 5 h of the 24 h/,
    );
    const json = reportJson(r);
    expect(json.clear).toBe(false);
    expect(json.pending).toContainEqual({
      rule: "cpu-above-85pct-6h",
      level: "upgrade-now",
      threshold: 85,
      window: "6h",
      field: "cpuPct",
      observedFor: "5 h",
      needs: "6 h",
      samples: 61,
      above: 61,
      sharePct: 100,
      decidableAt: "2026-11-20T13:00:00.000Z",
    });
    expect(
      (json.rules as { rule: string; pending?: unknown }[]).find((x) => x.rule === "cpu-above-85pct-6h")!.pending,
    ).toBeDefined();
  });

  it("docs/capacity.md's example is the report's own opening", () => {
    const docs = readFileSync(join(__dirname, "..", "..", "docs", "capacity.md"), "utf8");
    const shown = /```\n(Tier 4gb, evaluated at [^`]*?)\n```/.exec(docs)?.[1];
    expect(shown).toContain("NOT CLEAR");
    const end = Date.parse("2026-12-06T05:00:00Z");
    const text = renderHuman(hours(5, { memoryPct: () => 99, cpuPct: () => 99, end }));
    expect(text.startsWith(`${shown}\n`)).toBe(true);
  });

  it("5 h of a quiet droplet: nothing pending, clear, but 'so far' (negative control)", () => {
    const r = hours(5);
    expect(r.pending).toEqual([]);
    expect(checkFailure(r)).toBeUndefined();
    expect(reportJson(r).clear).toBe(true);
    expect(headline(renderHuman(r))).toMatch(
      /: NO UPGRADE NEEDED SO FAR \(3 rules without the history to decide yet: see below\)$/,
    );
  });

  it("a week of a quiet droplet: the plain headline, also without latency samples (time alone cannot add them)", () => {
    expect(headline(renderHuman(report({})))).toMatch(/: NO UPGRADE NEEDED$/);
    expect(reportJson(report({})).clear).toBe(true);
    const noLatency = report({}, { responseMs: null });
    expect(noLatency.rules.find((r) => r.rule === "response-above-2000ms-1h")).toMatchObject({
      insufficient: "no responseMs samples",
    });
    expect(headline(renderHuman(noLatency))).toMatch(/: NO UPGRADE NEEDED$/);
  });

  it("a rule waiting for history says from when it can be decided", () => {
    const r = hours(5);
    expect(r.rules.find((x) => x.rule === "memory-above-90pct-24h")!.decidableAt).toBe("2026-11-21T07:00:00.000Z");
    expect(renderHuman(r)).toContain(
      "memory-above-90pct-24h: not decided, history covers 5 h of the 24 h window; decidable from 2026-11-21T07:00:00.000Z.",
    );
  });

  it("a pending upgrade-now rule under a plan-upgrade verdict is named; the verdict decides the check", () => {
    // Latency is measured only for the last 30 minutes, above 2 s: the 1 h rule is pending.
    const recent = Date.parse("2026-11-20T11:30:00Z");
    const samples = week({ memoryPct: () => 84, responseMs: null }).map((s) =>
      Date.parse(s.at) >= recent ? { ...s, responseMs: 2600 } : s,
    );
    const withLatency = buildReport(parseCapacityInput({ tier: "4gb", samples }));
    expect(withLatency.verdict).toBe("plan-upgrade");
    expect(withLatency.pending.map((p) => p.rule)).toEqual(["response-above-2000ms-1h"]);
    expect(headline(renderHuman(withLatency))).toMatch(
      /PLAN AN UPGRADE \(schedule it within 2 to 4 weeks\); 1 more rule pending$/,
    );
    expect(checkFailure(withLatency)).toBe("the verdict is plan-upgrade");
  });
});
