import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { getTier, isTierName, nextTier, SCALE_OUT, TIER_NAMES, TIERS } from "../../infra/tiers";
import { doSize } from "../support/digitalocean-sizes";

const README = readFileSync(join(__dirname, "..", "..", "README.md"), "utf8");

interface ReadmeTierRow {
  slug: string;
  vcpus: number;
  memoryGb: number;
  monthlyUsd: number;
  forWhom: string;
}

/** The README's tier table (written by hand, not generated): `| tier | droplet | price | for |`. */
function readmeTierRows(readme: string): Map<string, ReadmeTierRow> {
  const rows = new Map<string, ReadmeTierRow>();
  for (const m of readme.matchAll(
    /^\| `([^`]+)` \| `([a-z0-9-]+)` \((\d+) vCPU, (\d+) GB\) \| \$(\d+)\/month \| (.*) \|$/gm,
  )) {
    rows.set(m[1]!, {
      slug: m[2]!,
      vcpus: Number(m[3]),
      memoryGb: Number(m[4]),
      monthlyUsd: Number(m[5]),
      forWhom: m[6]!,
    });
  }
  return rows;
}

const users = (text: string, before: string) => {
  const m = new RegExp(`${before} ([\\d,]+)`).exec(text);
  return m ? Number(m[1]!.replace(/,/g, "")) : undefined;
};

describe("tier catalog", () => {
  it.each(TIER_NAMES)(
    "%s has the vCPUs, memory and monthly price DigitalOcean's /v2/sizes gives for its slug",
    (name) => {
      const t = getTier(name);
      const size = doSize(t.slug);
      expect(t).toMatchObject({ name, vcpus: size.vcpus, memoryMiB: size.memory, monthlyUsd: size.price_monthly });
      expect(size.description).toBe("Basic");
    },
  );

  it.each(TIER_NAMES)(
    "%s has the disk /v2/sizes gives for its slug (an unconfirmed figure above 25 GB: see the fixture)",
    (name) => {
      expect(TIERS[name].diskGiB).toBe(doSize(TIERS[name].slug).disk);
    },
  );

  const readme = readmeTierRows(README);
  it("is the README's tier table, row for row (plus the scale-out row)", () => {
    expect([...readme.keys()]).toEqual(TIER_NAMES);
    expect(README).toMatch(new RegExp(`^\\| \`${SCALE_OUT}\` \\|`, "m"));
  });

  it.each(TIER_NAMES)("%s has the README's droplet, price and user band", (name) => {
    const row = readme.get(name)!;
    const t = TIERS[name];
    expect({ slug: t.slug, vcpus: t.vcpus, memoryMiB: t.memoryMiB, monthlyUsd: t.monthlyUsd }).toEqual({
      slug: row.slug,
      vcpus: row.vcpus,
      memoryMiB: row.memoryGb * 1024,
      monthlyUsd: row.monthlyUsd,
    });
    // "up to about 1,000 active users; plan the upgrade by 1,500"; a row without "by" names no upgrade point.
    expect(t.users.comfortable).toBe(users(row.forWhom, "about"));
    const upgradeBy = users(row.forWhom, "by");
    if (upgradeBy !== undefined) expect(t.users.planUpgradeAt).toBe(upgradeBy);
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
