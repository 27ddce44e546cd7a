import { describe, expect, it } from "vitest";
import { AlertConfigError, LATENCY_ALERT_MS, planAlerts, type AlertConfig } from "../../infra/alerts";
import { TIERS, TIER_NAMES } from "../../infra/tiers";
import { problemsOf } from "../fixtures/capacity/problems";

const good: AlertConfig = {
  tier: "4gb",
  domain: "chat.example.com",
  healthPath: "/healthz",
  alertEmails: ["ops@example.com"],
  slackConfigured: false,
};

const problems = (cfg: Partial<AlertConfig>) => problemsOf(AlertConfigError, () => planAlerts({ ...good, ...cfg }));

describe("planAlerts", () => {
  it("probes https://<domain><healthPath> with a latency alert above 2000 ms and a down alert", () => {
    const plan = planAlerts(good);
    expect(plan.uptimeCheck.target).toBe("https://chat.example.com/healthz");
    expect(plan.uptimeAlerts).toEqual([
      expect.objectContaining({ type: "latency", comparison: "greater_than", threshold: LATENCY_ALERT_MS }),
      expect.objectContaining({ type: "down" }),
    ]);
    expect(LATENCY_ALERT_MS).toBe(2000);
  });

  it("watches memory, CPU, disk and load with the framework's thresholds", () => {
    const byKey = Object.fromEntries(
      planAlerts(good).monitorAlerts.map((a) => [a.key, [a.type.split("/").pop(), a.value, a.window]]),
    );
    expect(byKey).toEqual({
      "memory-critical": ["memory_utilization_percent", 90, "1h"],
      "memory-warning": ["memory_utilization_percent", 80, "1h"],
      "cpu-high": ["cpu", 85, "1h"],
      "disk-high": ["disk_utilization_percent", 85, "30m"],
      "load-high": ["load_15", 2, "1h"],
    });
  });

  it.each(TIER_NAMES)("the load threshold on %s is its vCPU count", (tier) => {
    expect(planAlerts({ ...good, tier }).monitorAlerts.find((a) => a.key === "load-high")!.value).toBe(
      TIERS[tier].vcpus,
    );
  });

  it("adds Slack only when a webhook is configured, with its channel", () => {
    expect(planAlerts(good).slackChannel).toBeUndefined();
    expect(planAlerts({ ...good, slackConfigured: true, slackChannel: " #ops " }).slackChannel).toBe("#ops");
  });

  it.each<[string, Partial<AlertConfig>, RegExp]>([
    ["a URL as domain", { domain: "https://chat.example.com" }, /^domain: .*no scheme/],
    ["a relative health path", { healthPath: "healthz" }, /^healthPath: .*must start with "\/"/],
    ["no emails", { alertEmails: [] }, /^alertEmails: at least one/],
    [
      "a bad email",
      { alertEmails: ["ops@example.com", "not-an-email"] },
      /^alertEmails\[1\]: "not-an-email" is not an email/,
    ],
    ["a webhook without a channel", { slackConfigured: true }, /^slackChannel: required when a Slack webhook/],
    ["a channel without a webhook", { slackChannel: "#ops" }, /^slackChannel: set, but no Slack webhook/],
    ["an unknown tier", { tier: "2gb" as never }, /^tier: "2gb" is not a tier; allowed: 4gb, 8gb, 16gb/],
  ])("rejects %s naming the field", (_name, cfg, message) => {
    const p = problems(cfg);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(message);
  });

  it("collects every problem at once", () => {
    expect(problems({ domain: "", healthPath: "", alertEmails: [] })).toHaveLength(3);
  });
});
