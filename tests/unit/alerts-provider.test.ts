/**
 * Provider compatibility: every enum-like value the alert plan emits must be one the DigitalOcean provider validates.
 * Mocks accept anything, so these lists are copied from the provider source and cited; a value outside them would
 * pass every mock test and fail the first real `pulumi up`.
 */
import { describe, expect, it } from "vitest";
import { dropletEntityId, planAlerts } from "../../infra/alerts";
import { TIER_NAMES } from "../../infra/tiers";

// digitalocean/terraform-provider-digitalocean digitalocean/monitoring/resource_monitor_alert.go:
// "window" ValidateFunc StringInSlice{"5m", "10m", "30m", "1h"}; "compare" StringInSlice{godo.GreaterThan, godo.LessThan};
// "value" FloatAtLeast(0); "entities" TypeSet of TypeString; "alerts" MaxItems 1, slack {channel, url} both required
// and non-empty. The type list is godo's constants (digitalocean/godo monitoring.go):
const PROVIDER_MONITOR = {
  windows: ["5m", "10m", "30m", "1h"],
  compares: ["GreaterThan", "LessThan"], // godo monitoring.go: GreaterThan AlertPolicyComp = "GreaterThan", LessThan = "LessThan"
  types: [
    "v1/insights/droplet/cpu",
    "v1/insights/droplet/memory_utilization_percent",
    "v1/insights/droplet/disk_utilization_percent",
    "v1/insights/droplet/public_outbound_bandwidth",
    "v1/insights/droplet/public_inbound_bandwidth",
    "v1/insights/droplet/private_outbound_bandwidth",
    "v1/insights/droplet/private_inbound_bandwidth",
    "v1/insights/droplet/disk_read",
    "v1/insights/droplet/disk_write",
    "v1/insights/droplet/load_1",
    "v1/insights/droplet/load_5",
    "v1/insights/droplet/load_15",
  ],
};

// digitalocean/terraform-provider-digitalocean digitalocean/uptime/resource_uptime_alert.go:
// "type" StringInSlice{"latency", "down", "down_global", "ssl_expiry"}; "comparison" {"greater_than", "less_than"};
// "period" {"2m", "3m", "5m", "10m", "15m", "30m", "1h"}; "threshold" TypeInt; "notifications" is a list of which only
// element [0] is read (expandNotifications: config[0]).
const PROVIDER_UPTIME_ALERT = {
  types: ["latency", "down", "down_global", "ssl_expiry"],
  comparisons: ["greater_than", "less_than"],
  periods: ["2m", "3m", "5m", "10m", "15m", "30m", "1h"],
};

// digitalocean/terraform-provider-digitalocean digitalocean/uptime/resource_uptime_check.go: "type" StringInSlice
// {"ping", "http", "https"}; regions per docs/resources/uptime_check.md: "us_east", "us_west", "eu_west", "se_asia".
const PROVIDER_UPTIME_CHECK = { types: ["ping", "http", "https"], regions: ["us_east", "us_west", "eu_west", "se_asia"] };

const plans = TIER_NAMES.map((tier) => [
  tier,
  planAlerts({ tier, domain: "chat.example.com", healthPath: "/healthz", alertEmails: ["ops@example.com"], slackConfigured: true, slackChannel: "#ops" }),
] as const);

describe.each(plans)("alert plan for %s", (_tier, plan) => {
  it.each(plan.monitorAlerts.map((a) => [a.key, a] as const))("monitor alert %s uses provider values", (_key, a) => {
    expect(PROVIDER_MONITOR.windows).toContain(a.window);
    expect(PROVIDER_MONITOR.compares).toContain(a.compare);
    expect(PROVIDER_MONITOR.types).toContain(a.type);
    expect(a.value).toBeGreaterThanOrEqual(0);
    expect(a.description.length).toBeGreaterThan(0);
  });

  it.each(plan.uptimeAlerts.map((a) => [a.key, a] as const))("uptime alert %s uses provider values", (_key, a) => {
    expect(PROVIDER_UPTIME_ALERT.types).toContain(a.type);
    expect(PROVIDER_UPTIME_ALERT.periods).toContain(a.period);
    if (a.comparison !== undefined) expect(PROVIDER_UPTIME_ALERT.comparisons).toContain(a.comparison);
    if (a.threshold !== undefined) expect(Number.isInteger(a.threshold)).toBe(true);
  });

  it("uptime check uses provider values", () => {
    expect(PROVIDER_UPTIME_CHECK.types).toContain(plan.uptimeCheck.type);
    for (const r of plan.uptimeCheck.regions) expect(PROVIDER_UPTIME_CHECK.regions).toContain(r);
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
