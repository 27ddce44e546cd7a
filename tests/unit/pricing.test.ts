import { describe, expect, it } from "vitest";
import * as P from "../../infra/pricing";
import { TIERS, TIER_NAMES } from "../../infra/tiers";
import { DO_SIZES, doSize } from "../support/digitalocean-sizes";

describe("price table", () => {
  it.each(Object.entries(P.PRICE_SOURCES))("%s names an https source and an ISO check date", (_key, source) => {
    expect(source.url).toMatch(/^https:\/\/[a-z.]*digitalocean\.com\//);
    expect(source.checked).toMatch(/^\d{4}-\d{2}-\d{2}$/);
    expect(Number.isNaN(Date.parse(source.checked))).toBe(false);
    if (!source.confirmed) expect(source.note, "an unconfirmed figure says why").toBeTruthy();
  });

  it("flags the figures no current DigitalOcean page confirmed", () => {
    const unconfirmed = Object.entries(P.PRICE_SOURCES)
      .filter(([, s]) => !s.confirmed)
      .map(([k]) => k)
      .sort();
    expect(unconfirmed).toEqual(["databases", "loadBalancers", "reservedIps", "volumes"]);
  });

  it("prices droplets rising with size, in whole dollars", () => {
    const prices = Object.values(P.DROPLET_MONTHLY_USD);
    expect([...prices].sort((a, b) => a - b)).toEqual(prices);
    for (const p of prices) expect(Number.isInteger(p)).toBe(true);
  });

  it.each(TIER_NAMES)("prices the %s tier's droplet from the same table", (tier) => {
    expect(P.isDropletSlug(TIERS[tier].slug)).toBe(true);
    expect(TIERS[tier].monthlyUsd).toBe(P.DROPLET_MONTHLY_USD[TIERS[tier].slug]);
  });

  it("prices exactly the Basic sizes of DigitalOcean's /v2/sizes record, each at its price_monthly", () => {
    expect(Object.keys(P.DROPLET_MONTHLY_USD).sort()).toEqual(DO_SIZES.map((s) => s.slug).sort());
    for (const [slug, usd] of Object.entries(P.DROPLET_MONTHLY_USD)) expect(usd, slug).toBe(doSize(slug).price_monthly);
  });

  it("keeps the backup, snapshot and reserved IP figures the guide cites", () => {
    expect(P.BACKUP_SHARE_PERCENT).toEqual({ weekly: 20, daily: 30 });
    expect(P.DEFAULT_BACKUP_PLAN).toBe("daily");
    expect(P.SNAPSHOT_CENTS_PER_GIB_MONTH).toBe(6);
    expect(P.RESERVED_IP_CENTS.assigned).toBe(0);
    expect(P.RESERVED_IP_CENTS.unassigned).toBeGreaterThan(0);
  });

  it("prices managed database nodes rising with size for every engine", () => {
    for (const table of Object.values(P.DATABASE_NODE_MONTHLY_USD)) {
      const prices = Object.values(table);
      expect([...prices].sort((a, b) => a - b)).toEqual(prices);
      expect(table["db-s-1vcpu-1gb"]).toBe(15);
    }
  });

  it("lists only free types that the stack can create, each with a source", () => {
    for (const [type, source] of Object.entries(P.FREE_RESOURCE_TYPES)) {
      expect(type).toMatch(/^(digitalocean:index\/|command:|random:index\/|tls:index\/)/);
      expect(source.url).toMatch(/^https:\/\//);
    }
    expect(P.FREE_RESOURCE_TYPES["digitalocean:index/droplet:Droplet"]).toBeUndefined();
    expect(P.FREE_RESOURCE_TYPES["digitalocean:index/reservedIp:ReservedIp"]).toBeUndefined();
  });

  it("treats the stack, providers and our components as bookkeeping, and nothing else", () => {
    expect(P.isBookkeepingType("pulumi:pulumi:Stack")).toBe(true);
    expect(P.isBookkeepingType("pulumi:providers:digitalocean")).toBe(true);
    expect(P.isBookkeepingType("chatbot:server:AppServer")).toBe(true);
    expect(P.isBookkeepingType("aws:s3/bucket:Bucket")).toBe(false);
    expect(P.isBookkeepingType("digitalocean:index/droplet:Droplet")).toBe(false);
  });
});
