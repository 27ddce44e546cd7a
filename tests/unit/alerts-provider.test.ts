/**
 * Provider compatibility: every enum-like value the alert plan emits must be one the DigitalOcean provider validates.
 * Mocks accept anything, so these lists are copied from the provider source and cited; a value outside them would
 * pass every mock test and fail the first real `pulumi up`.
 */
import { describe, expect, it } from "vitest";
import { dropletEntityId, planAlerts } from "../../infra/alerts";
import {
  MONITOR_ALERT,
  UPTIME_ALERT,
  UPTIME_CHECK,
  checkMonitorAlert,
  checkUptimeAlert,
  checkUptimeCheck,
} from "../../infra/provider-rules";
import { TIER_NAMES } from "../../infra/tiers";

// The provider's validation lives in infra/provider-rules/monitoring.ts, copied from:
//   digitalocean/terraform-provider-digitalocean digitalocean/monitoring/resource_monitor_alert.go (window
//     StringInSlice{"5m","10m","30m","1h"}, compare {godo.GreaterThan, godo.LessThan} = "GreaterThan"/"LessThan" in
//     digitalocean/godo monitoring.go, value FloatAtLeast(0), entities a set of strings, alerts MaxItems 1);
//   digitalocean/uptime/resource_uptime_alert.go (type {"latency","down","down_global","ssl_expiry"}, comparison
//     {"greater_than","less_than"}, period {"2m","3m","5m","10m","15m","30m","1h"}, threshold TypeInt; only
//     notifications[0] is read);
//   digitalocean/uptime/resource_uptime_check.go (type {"ping","http","https"}; regions per docs/resources/uptime_check.md).
// These tests hold the alert plan to those rules, and pin the facts the plan depends on.
it("the provider facts the alert plan relies on", () => {
  expect(MONITOR_ALERT.windows).toEqual(["5m", "10m", "30m", "1h"]);
  expect(MONITOR_ALERT.compares).toEqual(["GreaterThan", "LessThan"]);
  expect(UPTIME_ALERT.comparisons).toEqual(["greater_than", "less_than"]);
  expect(UPTIME_ALERT.types).toContain("latency");
  expect(UPTIME_ALERT.types).toContain("down");
  expect(UPTIME_CHECK.types).toContain("https");
});

const plans = TIER_NAMES.map(
  (tier) =>
    [
      tier,
      planAlerts({
        tier,
        domain: "chat.example.com",
        healthPath: "/healthz",
        alertEmails: ["ops@example.com"],
        slackConfigured: true,
        slackChannel: "#ops",
      }),
    ] as const,
);

describe.each(plans)("alert plan for %s", (_tier, plan) => {
  it.each(plan.monitorAlerts.map((a) => [a.key, a] as const))(
    "monitor alert %s passes the provider's validation",
    (_key, a) => {
      expect(checkMonitorAlert({ ...a, entities: ["123456"] })).toEqual([]);
    },
  );

  it.each(plan.uptimeAlerts.map((a) => [a.key, a] as const))(
    "uptime alert %s passes the provider's validation",
    (_key, a) => {
      expect(checkUptimeAlert(a)).toEqual([]);
    },
  );

  it("uptime check passes the provider's validation", () => {
    expect(checkUptimeCheck(plan.uptimeCheck)).toEqual([]);
  });
});

describe("the checks can fail", () => {
  it.each<[string, string[]]>([
    [
      "a 24h window (DigitalOcean has none)",
      checkMonitorAlert({
        type: "v1/insights/droplet/cpu",
        compare: "GreaterThan",
        window: "24h",
        value: 85,
        description: "x",
      }),
    ],
    [
      "a snake_case compare on a monitor alert",
      checkMonitorAlert({
        type: "v1/insights/droplet/cpu",
        compare: "greater_than",
        window: "1h",
        value: 85,
        description: "x",
      }),
    ],
    [
      "a numeric droplet id as entity",
      checkMonitorAlert({
        type: "v1/insights/droplet/cpu",
        compare: "GreaterThan",
        window: "1h",
        value: 85,
        description: "x",
        entities: [123],
      }),
    ],
    [
      "a camelCase uptime comparison (as the SDK docs print it)",
      checkUptimeAlert({ type: "latency", comparison: "greaterThan", period: "5m", threshold: 2000 }),
    ],
  ])("%s is rejected", (_name, problems) => {
    expect(problems.length).toBeGreaterThan(0);
  });
});

describe("droplet ids as alert entities", () => {
  it.each([
    ["123456789", "123456789"],
    [987654321, "987654321"],
  ])("%s becomes the string %s", (id, expected) => {
    expect(dropletEntityId(id)).toBe(expected);
  });

  it.each(["", "abc", "12a", "-4", "0", "1.5"])("rejects %j naming the field", (id) => {
    expect(() => dropletEntityId(id)).toThrow(/^dropletIds: ".*" is not a droplet id/);
  });
});
