/**
 * Exact to the cent. Every expected figure below was worked out by hand from the list prices
 * (droplets $24 / $48 / $96; backups weekly +20 %, daily +30 %; volumes $0.10/GiB; snapshots $0.06/GiB;
 * unassigned reserved IP $5; load balancer $12/node; uptime check $1), never computed by the code under test.
 */
import { describe, expect, it } from "vitest";
import {
  UNKNOWN_VALUE,
  TYPES,
  changedInputs,
  costPerUser,
  diffResourceSets,
  dropletWarnings,
  estimateMonthly,
  exceedsLimit,
  formatPercent,
  formatUsd,
  headline,
  priceChanges,
  combineStacks,
} from "../../infra/cost";
import type { PlannedResource } from "../../infra/resource-shapes";
import type { TierName } from "../../infra/tiers";

const SLUG: Record<TierName, string> = { "4gb": "s-2vcpu-4gb", "8gb": "s-4vcpu-8gb", "16gb": "s-8vcpu-16gb" };

function droplet(size: string, backups?: "weekly" | "daily" | "default", name = "app-droplet"): PlannedResource {
  const inputs: Record<string, unknown> = { size, image: "ubuntu-24-04-x64", region: "fra1" };
  if (backups) inputs.backups = true;
  if (backups === "weekly" || backups === "daily") inputs.backupPolicy = { plan: backups, hour: 4 };
  return { type: TYPES.droplet, name, inputs };
}

function r(
  type: string,
  name: string,
  inputs: Record<string, unknown> = {},
  extra: Partial<PlannedResource> = {},
): PlannedResource {
  return { type, name, inputs, ...extra };
}

describe("estimateMonthly: each tier, with and without backups (hand-computed)", () => {
  it.each([
    ["4gb", undefined, 24.0],
    ["4gb", "weekly", 28.8],
    ["4gb", "daily", 31.2],
    ["8gb", undefined, 48.0],
    ["8gb", "weekly", 57.6],
    ["8gb", "daily", 62.4],
    ["16gb", undefined, 96.0],
    ["16gb", "weekly", 115.2],
    ["16gb", "daily", 124.8],
  ] as const)("%s droplet, backups %s: $%s", (tier, backups, expected) => {
    const est = estimateMonthly([droplet(SLUG[tier], backups)]);
    expect(est.monthly).toBe(expected);
    expect(est.resources[0]?.monthly).toBe(expected);
  });

  it("backups without a policy are daily, as the provider defaults", () => {
    expect(estimateMonthly([droplet("s-2vcpu-4gb", "default")]).monthly).toBe(31.2);
  });

  it("a whole stack: 8gb + daily backups, 100 GiB volume, assigned IP, uptime check, 12.5 GiB snapshot = $74.15", () => {
    const est = estimateMonthly([
      r("pulumi:pulumi:Stack", "chatbot-dev"),
      r("chatbot:server:AppServer", "app"),
      r("digitalocean:index/vpc:Vpc", "app-vpc"),
      r("digitalocean:index/firewall:Firewall", "app-firewall"),
      droplet("s-4vcpu-8gb", "daily"),
      r(TYPES.volume, "app-data", { size: 100 }),
      r(TYPES.reservedIp, "app-ip", { region: "fra1" }),
      r(TYPES.reservedIpAssignment, "app-ip-assignment", { dropletId: 1 }),
      r(TYPES.uptimeCheck, "app-uptime", { target: "https://x" }),
      r(TYPES.volumeSnapshot, "pre-migration", { volumeId: "v" }, { outputs: { size: 12.5 } }),
      r("command:remote:Command", "deploy", { connection: "[secret]" }),
      r("random:index/randomPassword:RandomPassword", "db-password", { length: 32 }),
    ]);
    expect(est.monthly).toBe(74.15);
    expect(est.unpricedTypes).toEqual([]);
    expect(est.unpriced).toEqual([]);
  });
});

describe("estimateMonthly: every other priced type", () => {
  it.each([
    ["volume 50 GiB", r(TYPES.volume, "v", { size: 50 }), 5.0],
    ["snapshot 7 GiB", r(TYPES.volumeSnapshot, "s", {}, { outputs: { size: 7 } }), 0.42],
    ["unassigned reserved IP", r(TYPES.reservedIp, "ip", { region: "fra1" }), 5.0],
    ["reserved IP with dropletId", r(TYPES.reservedIp, "ip", { dropletId: 42 }), 0],
    ["load balancer, 2 nodes", r(TYPES.loadBalancer, "lb", { sizeUnit: 2 }), 24.0],
    ["load balancer, legacy lb-medium", r(TYPES.loadBalancer, "lb", { size: "lb-medium" }), 36.0],
    ["load balancer, defaults", r(TYPES.loadBalancer, "lb", {}), 12.0],
    [
      "PostgreSQL 2 × db-s-1vcpu-2gb",
      r(TYPES.databaseCluster, "pg", { engine: "pg", size: "db-s-1vcpu-2gb", nodeCount: 2 }),
      60.0,
    ],
    [
      "Valkey 1 × db-s-1vcpu-1gb",
      r(TYPES.databaseCluster, "kv", { engine: "valkey", size: "db-s-1vcpu-1gb", nodeCount: 1 }),
      15.0,
    ],
    [
      "autoscale pool, 2 × s-2vcpu-4gb",
      r(TYPES.dropletAutoscale, "pool", {
        config: { minInstances: 2, maxInstances: 5 },
        dropletTemplate: { size: "s-2vcpu-4gb" },
      }),
      48.0,
    ],
    ["uptime check", r(TYPES.uptimeCheck, "u", {}), 1.0],
  ])("%s", (_label, resource, expected) => {
    expect(estimateMonthly([resource]).monthly).toBe(expected);
  });

  it("a reserved IP is free when an assignment in the same plan accounts for it, billed otherwise", () => {
    const ip = r(TYPES.reservedIp, "ip", { region: "fra1" });
    const ip2 = r(TYPES.reservedIp, "ip2", { region: "fra1" });
    const assignment = r(TYPES.reservedIpAssignment, "a", {});
    expect(estimateMonthly([ip, assignment]).monthly).toBe(0);
    const two = estimateMonthly([ip, ip2, assignment]);
    expect(two.monthly).toBe(5.0);
    expect(two.resources.map((x) => x.monthly)).toEqual([0, 5, 0]);
    expect(two.resources[1]?.note).toMatch(/unassigned/);
  });

  it("the autoscale note gives the cost at maxInstances", () => {
    const est = estimateMonthly([
      r(TYPES.dropletAutoscale, "pool", {
        config: { minInstances: 2, maxInstances: 5 },
        dropletTemplate: { size: "s-2vcpu-4gb" },
      }),
    ]);
    expect(est.resources[0]?.note).toContain("up to 5 × = $120.00");
  });
});

describe("estimateMonthly: what it cannot price is not priced, never $0", () => {
  it.each([
    ["an AWS bucket", r("aws:s3/bucket:Bucket", "b", { bucket: "x" }), /not in the price table/],
    [
      "a droplet whose size is unknown until apply",
      r(TYPES.droplet, "d", { size: UNKNOWN_VALUE }),
      /size unknown until apply/,
    ],
    ["a droplet whose size is secret", r(TYPES.droplet, "d", { size: "[secret]" }), /size secret/],
    [
      "a droplet size not in the table",
      r(TYPES.droplet, "d", { size: "c-32" }),
      /"c-32" is not in the droplet price table/,
    ],
    [
      "daily-ish backups of an unknown plan",
      r(TYPES.droplet, "d", { size: "s-2vcpu-4gb", backups: true, backupPolicy: { plan: "hourly" } }),
      /"hourly" is not priced/,
    ],
    ["a volume of unknown size", r(TYPES.volume, "v", { size: UNKNOWN_VALUE }), /size unknown until apply/],
    ["a snapshot before it is taken", r(TYPES.volumeSnapshot, "s", { volumeId: "v" }), /known only once it is taken/],
    ["a global load balancer", r(TYPES.loadBalancer, "lb", { type: "GLOBAL" }), /GLOBAL is not priced/],
    [
      "a MySQL cluster",
      r(TYPES.databaseCluster, "db", { engine: "mysql", size: "db-s-1vcpu-1gb" }),
      /"mysql" is not priced/,
    ],
    [
      "a cluster with an unknown slug",
      r(TYPES.databaseCluster, "db", { engine: "pg", size: "db-x" }),
      /"db-x" is not in the pg price table/,
    ],
  ])("%s", (_label, resource, note) => {
    const est = estimateMonthly([droplet("s-2vcpu-4gb"), resource]);
    expect(est.monthly).toBe(24.0);
    expect(est.resources[1]?.monthly).toBeNull();
    expect(est.resources[1]?.note).toMatch(note);
  });

  it("lists unknown types once, and known types it could not price by name", () => {
    const est = estimateMonthly([
      r("aws:s3/bucket:Bucket", "a"),
      r("aws:s3/bucket:Bucket", "b"),
      r("tls:index/selfSignedCert:SelfSignedCert", "k"),
      r(TYPES.volume, "v", { size: UNKNOWN_VALUE }),
    ]);
    expect(est.unpricedTypes).toEqual(["aws:s3/bucket:Bucket", "tls:index/selfSignedCert:SelfSignedCert"]);
    expect(est.unpriced).toEqual([{ type: TYPES.volume, name: "v", note: "size unknown until apply" }]);
    expect(est.monthly).toBe(0);
  });

  it("prices components (custom: false) of any provider at nothing", () => {
    const est = estimateMonthly([r("aws:s3:BucketEventSubscription", "sub", {}, { custom: false })]);
    expect(est.resources[0]?.monthly).toBe(0);
    expect(est.unpricedTypes).toEqual([]);
  });
});

describe("changes between two plans", () => {
  it("names each resource's operation, ignoring __defaults", () => {
    const before = [
      droplet("s-2vcpu-4gb"),
      r(TYPES.volume, "v", { size: 10, __defaults: ["a"] }),
      r(TYPES.uptimeCheck, "gone"),
    ];
    const after = [
      droplet("s-4vcpu-8gb"),
      r(TYPES.volume, "v", { size: 10, __defaults: [] }),
      r(TYPES.uptimeCheck, "new"),
    ];
    const ops = diffResourceSets(before, after).map((c) => [c.name, c.op]);
    expect(ops).toEqual([
      ["app-droplet", "update"],
      ["v", "same"],
      ["gone", "delete"],
      ["new", "create"],
    ]);
  });

  it("a droplet whose userData changes is replaced, with the reason", () => {
    const a = droplet("s-2vcpu-4gb");
    const b = { ...a, inputs: { ...a.inputs, userData: "#cloud-config\n" } };
    const [change] = diffResourceSets([a], [b]);
    expect(change?.op).toBe("replace");
    expect(change?.replaceReasons).toEqual(["userData"]);
  });

  it("a droplet whose sshKeys alone change stays (the program declares them in ignoreChanges); other inputs still count", () => {
    const a = { ...droplet("s-2vcpu-4gb"), inputs: { ...droplet("s-2vcpu-4gb").inputs, sshKeys: ["111"] } };
    const rotated = { ...a, inputs: { ...a.inputs, sshKeys: ["222"] } };
    const [same] = diffResourceSets([a], [rotated]);
    expect(same).toMatchObject({ op: "same" });
    expect(dropletWarnings(diffResourceSets([a], [rotated]), 300)).toEqual([]);
    const [replaced] = diffResourceSets(
      [a],
      [{ ...rotated, inputs: { ...rotated.inputs, userData: "#cloud-config\n" } }],
    );
    expect(replaced).toMatchObject({ op: "replace", replaceReasons: ["userData"] });
    // Only droplets: a key list elsewhere is an ordinary input.
    const [other] = diffResourceSets(
      [r(TYPES.dropletAutoscale, "pool", { sshKeys: ["111"] })],
      [r(TYPES.dropletAutoscale, "pool", { sshKeys: ["222"] })],
    );
    expect(other?.op).toBe("update");
  });

  it("changedInputs compares nested values structurally", () => {
    expect(changedInputs({ p: { a: 1, b: 2 } }, { p: { b: 2, a: 1 } })).toEqual([]);
    expect(changedInputs({ p: { a: 1 } }, { p: { a: 2 }, q: 1 })).toEqual(["p", "q"]);
  });

  it.each([
    ["no backups", undefined, undefined, 24.0, "+100%"],
    ["weekly backups", "weekly", "weekly", 28.8, "+100%"],
    ["daily backups", "daily", "daily", 31.2, "+100%"],
    ["adding daily backups", undefined, "daily", 38.4, "+160%"],
  ] as const)("4 GB to 8 GB, %s: +$%s", (_label, fromBackups, toBackups, diff, pct) => {
    const cost = priceChanges(
      "dev",
      diffResourceSets([droplet("s-2vcpu-4gb", fromBackups)], [droplet("s-4vcpu-8gb", toBackups)]),
    );
    expect(cost.diff).toBe(diff);
    expect(cost.lines[0]?.diff).toBe(diff);
    expect(formatPercent(cost.before, cost.diff)).toBe(pct);
    expect(headline(combineStacks([cost]))).toBe(`Monthly cost will increase by ${formatUsd(diff)} (${pct})`);
  });

  it("a replacement takes the old price out and puts the new one in", () => {
    const cost = priceChanges("dev", [
      {
        key: "k",
        type: TYPES.droplet,
        name: "d",
        op: "replace",
        before: droplet("s-4vcpu-8gb", "daily"),
        after: droplet("s-2vcpu-4gb"),
      },
    ]);
    expect([cost.before, cost.after, cost.diff]).toEqual([62.4, 24.0, -38.4]);
  });

  it("a line with an unpriced side has no diff, and the totals leave it out", () => {
    const cost = priceChanges(
      "dev",
      diffResourceSets([droplet("s-2vcpu-4gb")], [droplet("s-2vcpu-4gb"), r("aws:s3/bucket:Bucket", "b")]),
    );
    const line = cost.lines.find((l) => l.name === "b");
    expect(line).toMatchObject({ op: "create", before: 0, after: null, diff: null });
    expect(cost.diff).toBe(0);
    expect(cost.unpricedTypes).toEqual(["aws:s3/bucket:Bucket"]);
  });
});

describe("droplet warnings quote the downtime budget", () => {
  it("resize, replace, and delete+create (a move between tiers)", () => {
    const resize = diffResourceSets([droplet("s-2vcpu-4gb")], [droplet("s-4vcpu-8gb")]);
    expect(dropletWarnings(resize, 300)).toEqual([
      { kind: "resize", name: "app-droplet", from: "s-2vcpu-4gb", to: "s-4vcpu-8gb", downtimeBudgetSeconds: 300 },
    ]);
    const move = diffResourceSets(
      [droplet("s-2vcpu-4gb", undefined, "app-4gb-droplet")],
      [droplet("s-4vcpu-8gb", undefined, "app-8gb-droplet")],
    );
    expect(dropletWarnings(move, 120)).toEqual([
      {
        kind: "move",
        name: "app-4gb-droplet",
        toName: "app-8gb-droplet",
        from: "s-2vcpu-4gb",
        to: "s-4vcpu-8gb",
        downtimeBudgetSeconds: 120,
      },
    ]);
    const same = diffResourceSets([droplet("s-2vcpu-4gb", "daily")], [droplet("s-2vcpu-4gb", "weekly")]);
    expect(dropletWarnings(same, 300)).toEqual([]);
  });
});

describe("formatting and limits", () => {
  it.each([
    [0, "$0.00"],
    [24, "$24.00"],
    [1234.5, "$1,234.50"],
    [-28.8, "-$28.80"],
    [0.005, "$0.01"],
  ])("formatUsd(%s) = %s", (value, text) => {
    expect(formatUsd(value)).toBe(text);
  });

  it("headline for a decrease and for no change", () => {
    const down = priceChanges("dev", diffResourceSets([droplet("s-4vcpu-8gb")], [droplet("s-2vcpu-4gb")]));
    expect(headline(combineStacks([down]))).toBe("Monthly cost will decrease by $24.00 (-50%)");
    const none = priceChanges("dev", diffResourceSets([droplet("s-4vcpu-8gb")], [droplet("s-4vcpu-8gb")]));
    expect(headline(combineStacks([none]))).toBe("Monthly cost will not change");
  });

  it("exceedsLimit is strict: an increase equal to the limit passes", () => {
    const report = combineStacks([
      priceChanges("dev", diffResourceSets([droplet("s-2vcpu-4gb")], [droplet("s-4vcpu-8gb")])),
    ]);
    expect(exceedsLimit(report, 23.99)).toBe(true);
    expect(exceedsLimit(report, 24)).toBe(false);
  });
});

describe("cost per user (hand-computed)", () => {
  it.each([
    ["4gb", 100, 0.24, true],
    ["4gb", 1000, 0.024, true],
    ["4gb", 3000, 0.008, false],
    ["4gb", 5000, 0.005, false],
    ["8gb", 100, 0.48, true],
    ["8gb", 1000, 0.048, true],
    ["8gb", 3000, 0.016, true],
    ["8gb", 5000, 0.01, true],
  ] as const)("%s with %s users: $%s per user", (tier, users, perUser, fits) => {
    const [row] = costPerUser({ tiers: [tier], users: [users] });
    expect(row).toMatchObject({ tier, users, perUser, withinBand: fits });
  });

  it("with weekly backups the 8 GB tier is $57.60 a month", () => {
    const [row] = costPerUser({ tiers: ["8gb"], users: [1000], backups: "weekly" });
    expect(row?.monthly).toBe(57.6);
    expect(row?.perUser).toBe(0.058);
  });

  it("covers 100, 1,000, 3,000 and 5,000 users on every catalog tier by default", () => {
    const rows = costPerUser();
    expect(rows.filter((x) => x.tier === "4gb").map((x) => x.users)).toEqual([100, 1000, 3000, 5000]);
    expect(new Set(rows.map((x) => x.tier))).toEqual(new Set(["4gb", "8gb", "16gb"]));
  });

  it("rejects a user count that is not a positive whole number", () => {
    expect(() => costPerUser({ users: [0] })).toThrow(/users: 0 is not a positive whole number/);
  });
});
