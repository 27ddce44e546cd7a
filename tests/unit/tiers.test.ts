import { describe, expect, it } from "vitest";
import { DROPLET_MONTHLY_USD } from "../../infra/pricing";
import { getTier, isTierName, nextTier, TIER_NAMES, TIERS } from "../../infra/tiers";

describe("tier catalog", () => {
  it.each([
    ["4gb", "s-2vcpu-4gb", 2, 4096, 24],
    ["8gb", "s-4vcpu-8gb", 4, 8192, 48],
    ["16gb", "s-8vcpu-16gb", 8, 16384, 96],
  ] as const)("%s is %s with %i vCPUs, %i MiB, $%i a month", (name, slug, vcpus, mib, usd) => {
    const t = getTier(name);
    expect(t).toMatchObject({ name, slug, vcpus, memoryMiB: mib, monthlyUsd: usd });
    expect(DROPLET_MONTHLY_USD[t.slug]).toBe(usd);
  });

  it("carries the user bands of the plan we started from", () => {
    expect(TIERS["4gb"].users).toEqual({ comfortable: 1000, planUpgradeAt: 1500 });
    expect(TIERS["8gb"].users.comfortable).toBe(5000);
  });

  it("is sorted by cost, and price and capacity rise together", () => {
    const tiers = TIER_NAMES.map((n) => TIERS[n]);
    for (let i = 1; i < tiers.length; i++) {
      expect(tiers[i]!.monthlyUsd).toBeGreaterThan(tiers[i - 1]!.monthlyUsd);
      expect(tiers[i]!.memoryMiB).toBeGreaterThan(tiers[i - 1]!.memoryMiB);
      expect(tiers[i]!.users.comfortable).toBeGreaterThan(tiers[i - 1]!.users.comfortable);
    }
  });

  it("knows its names and the way up", () => {
    expect(isTierName("8gb")).toBe(true);
    expect(isTierName("2gb")).toBe(false);
    expect(isTierName("toString")).toBe(false);
    expect(nextTier("4gb")).toBe("8gb");
    expect(nextTier("8gb")).toBe("16gb");
    expect(nextTier("16gb")).toBeUndefined();
  });
});
