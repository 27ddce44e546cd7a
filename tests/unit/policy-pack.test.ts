/**
 * The CrossGuard pack (policy/): each policy on resources that comply and on resources that violate it, as
 * compliance / non-compliance pairs, called the way the analyzer calls them (tests/support/policy.ts).
 */
import { describe, expect, it } from "vitest";
import {
  dropletBackups,
  dropletSizeCeiling,
  monthlyCostCeiling,
  noPublicDatabasePort,
  PACK_NAME,
  policies,
  sshAllowlist,
  statefulProtected,
  volumesKept,
} from "../../policy/policies";
import { isProdStack, portRangeCovers, stackOfUrn, TYPES } from "../../policy/rules";
import { type TestResource, validateResource, validateStack } from "../support/policy";

const urn = (stack: string, chain: string, name: string) => `urn:pulumi:${stack}::chatbot::${chain}::${name}`;
const serverChain = (type: string) => `${TYPES.appServer}$${type}`;

const firewall = (
  stack: string,
  rules: { protocol: string; portRange?: string; sourceAddresses?: string[]; sourceTags?: string[] }[],
): TestResource => ({
  type: TYPES.firewall,
  name: "network-firewall",
  urn: urn(stack, `chatbot:network:Network$${TYPES.firewall}`, "network-firewall"),
  props: { inboundRules: rules },
});

const droplet = (
  stack: string,
  props: Record<string, unknown>,
  opts: { protect?: boolean; parent?: string; name?: string } = {},
): TestResource => ({
  type: TYPES.droplet,
  name: opts.name ?? "app-8gb-droplet",
  urn: urn(stack, serverChain(TYPES.droplet), opts.name ?? "app-8gb-droplet"),
  props,
  protect: opts.protect ?? false,
  ...(opts.parent ? { parent: opts.parent } : {}),
});

describe("the pack", () => {
  it("is named, and every policy has a unique name and a description", () => {
    expect(PACK_NAME).toMatch(/^[a-zA-Z0-9._-]+$/);
    expect(new Set(policies.map((p) => p.name)).size).toBe(policies.length);
    for (const p of policies) expect(p.description.length, p.name).toBeGreaterThan(20);
  });

  it.each([
    ["prod", true],
    ["prod-eu", true],
    ["dev", false],
    ["production", false],
    ["scale", false],
  ])("stack %s is prod by default: %s (the program's pattern)", (stack, prod) => {
    expect(stackOfUrn(urn(stack, TYPES.firewall, "fw"))).toBe(stack);
    expect(isProdStack(urn(stack, TYPES.firewall, "fw"))).toBe(prod);
  });

  it.each([
    ["22", 22, true],
    ["1-65535", 5432, true],
    ["all", 6379, true],
    [undefined, 6379, true],
    ["8000-9000", 5432, false],
    ["80", 22, false],
  ])("port range %s covers %i: %s", (range, port, covers) => {
    expect(portRangeCovers(range, port)).toBe(covers);
  });
});

describe("prod-ssh-allowlist", () => {
  it("passes an office /28 in prod", async () => {
    expect(
      await validateResource(
        sshAllowlist,
        firewall("prod", [{ protocol: "tcp", portRange: "22", sourceAddresses: ["203.0.113.0/28"] }]),
      ),
    ).toEqual({ applicable: true, violations: [] });
  });

  it.each([
    [
      "the world",
      [{ protocol: "tcp", portRange: "22", sourceAddresses: ["0.0.0.0/0"] }],
      /port 22 is open to the world \(0\.0\.0\.0\/0\)/,
    ],
    [
      "IPv6's world",
      [{ protocol: "tcp", portRange: "22", sourceAddresses: ["::/0"] }],
      /port 22 is open to the world \(::\/0\)/,
    ],
    [
      "the world split in halves",
      [{ protocol: "tcp", portRange: "22", sourceAddresses: ["0.0.0.0/1", "128.0.0.0/1"] }],
      /admit 4,294,967,296 IPv4 addresses/,
    ],
    [
      "two /24s together (the union is over the limit)",
      [
        { protocol: "tcp", portRange: "22", sourceAddresses: ["198.51.100.0/24"] },
        { protocol: "tcp", portRange: "1-1024", sourceAddresses: ["203.0.113.0/24"] },
      ],
      /at most 256 IPv4 addresses/,
    ],
  ])("refuses SSH from %s in prod", async (_label, rules, message) => {
    const r = await validateResource(sshAllowlist, firewall("prod", rules));
    expect(r.applicable).toBe(true);
    expect(r.violations.join("\n")).toMatch(message);
  });

  it("leaves dev alone (not applicable), and applies to a stack the config's prodStacks names", async () => {
    const world = [{ protocol: "tcp", portRange: "22", sourceAddresses: ["0.0.0.0/0"] }];
    expect(await validateResource(sshAllowlist, firewall("dev", world))).toEqual({ applicable: false, violations: [] });
    expect(
      (await validateResource(sshAllowlist, firewall("scale", world), { prodStacks: "^(prod|scale)(-|$)" })).violations,
    ).not.toEqual([]);
  });
});

describe("no-public-database-port", () => {
  it("passes database ports open to the stack's tag only, in any stack", async () => {
    for (const stack of ["dev", "prod"]) {
      const fw = firewall(stack, [
        { protocol: "tcp", portRange: "5432", sourceTags: ["chatbot-dev"] },
        { protocol: "tcp", portRange: "6379", sourceTags: ["chatbot-dev"] },
        { protocol: "tcp", portRange: "443", sourceAddresses: ["0.0.0.0/0", "::/0"] },
      ]);
      expect(await validateResource(noPublicDatabasePort, fw)).toEqual({ applicable: true, violations: [] });
    }
  });

  it.each([
    [
      "PostgreSQL to 0.0.0.0/0",
      [{ protocol: "tcp", portRange: "5432", sourceAddresses: ["0.0.0.0/0"] }],
      ["port 5432 is open to 0.0.0.0/0 (rule tcp 5432)"],
    ],
    [
      "Redis to ::/0",
      [{ protocol: "tcp", portRange: "6379", sourceAddresses: ["::/0"] }],
      ["port 6379 is open to ::/0 (rule tcp 6379)"],
    ],
    [
      "every port to the world",
      [{ protocol: "tcp", portRange: "1-65535", sourceAddresses: ["0.0.0.0/0"] }],
      ["port 5432 is open to 0.0.0.0/0 (rule tcp 1-65535)", "port 6379 is open to 0.0.0.0/0 (rule tcp 1-65535)"],
    ],
  ])("refuses %s, even in dev", async (_label, rules, violations) => {
    expect(await validateResource(noPublicDatabasePort, firewall("dev", rules))).toEqual({
      applicable: true,
      violations,
    });
  });

  it("refuses a managed database firewall that admits the world, passes one that admits a tag", async () => {
    const dbfw = (rules: unknown[]): TestResource => ({
      type: TYPES.databaseFirewall,
      name: "pg-fw",
      urn: urn("prod", TYPES.databaseFirewall, "pg-fw"),
      props: { rules },
    });
    expect(
      (await validateResource(noPublicDatabasePort, dbfw([{ type: "tag", value: "chatbot-prod-app" }]))).violations,
    ).toEqual([]);
    expect(
      (await validateResource(noPublicDatabasePort, dbfw([{ type: "ip_addr", value: "0.0.0.0/0" }]))).violations,
    ).toEqual(["the managed database admits 0.0.0.0/0"]);
  });
});

describe("prod-droplet-backups", () => {
  it("passes a prod server droplet with backups, refuses one without; leaves dev and scale-out app droplets alone", async () => {
    expect(
      await validateResource(dropletBackups, droplet("prod", { backups: true, backupPolicy: { plan: "daily" } })),
    ).toEqual({ applicable: true, violations: [] });
    expect((await validateResource(dropletBackups, droplet("prod", { backups: false }))).violations).toEqual([
      "droplet app-8gb-droplet has backups off: set chatbot:backups to weekly or daily",
    ]);
    expect((await validateResource(dropletBackups, droplet("dev", { backups: false }))).applicable).toBe(false);
    const app: TestResource = {
      type: TYPES.droplet,
      name: "scale-out-app-1",
      urn: urn("prod", `chatbot:scaleout:ScaleOut$${TYPES.droplet}`, "scale-out-app-1"),
      props: { backups: false },
    };
    expect(await validateResource(dropletBackups, app)).toEqual({ applicable: false, violations: [] }); // stateless: no data to back up
  });
});

describe("droplet-size-ceiling", () => {
  it("passes the largest tier, refuses a bigger or unknown size, and takes its ceiling from the config", async () => {
    expect((await validateResource(dropletSizeCeiling, droplet("dev", { size: "s-8vcpu-16gb" }))).violations).toEqual(
      [],
    );
    expect(
      (
        await validateResource(dropletSizeCeiling, droplet("dev", { size: "s-8vcpu-16gb" }), {
          maxDropletMonthlyUsd: 48,
        })
      ).violations,
    ).toEqual([
      "droplet app-8gb-droplet: size s-8vcpu-16gb costs $96/month, above the ceiling of $48 (policy config maxDropletMonthlyUsd)",
    ]);
    expect(
      (await validateResource(dropletSizeCeiling, droplet("prod", { size: "m-32vcpu-256gb" }))).violations[0],
    ).toMatch(/size "m-32vcpu-256gb" is not in the price table/);
  });
});

/** A prod server: its component, droplet and volume, protected or not. */
function server(stack: string, key: string, protect: boolean, extra: Record<string, unknown> = {}): TestResource[] {
  const component: TestResource = {
    type: TYPES.appServer,
    name: key,
    urn: urn(stack, TYPES.appServer, key),
    props: {},
    protect: false,
  };
  return [
    component,
    droplet(
      stack,
      { size: "s-4vcpu-8gb", backups: true, ...extra },
      { name: `${key}-droplet`, protect, parent: component.urn },
    ),
    {
      type: TYPES.volume,
      name: `${key}-volume`,
      urn: urn(stack, serverChain(TYPES.volume), `${key}-volume`),
      props: { size: 100 },
      protect,
      parent: component.urn,
    },
  ];
}
const migration = (stack: string): TestResource => ({
  type: TYPES.tierMigration,
  name: "migration",
  urn: urn(stack, TYPES.tierMigration, "migration"),
  props: {},
});

describe("prod-stateful-protected and prod-volumes-kept", () => {
  it("pass a protected prod server", async () => {
    const stack = server("prod", "app-8gb", true);
    for (const policy of [statefulProtected, volumesKept])
      expect(await validateStack(policy, stack)).toEqual({ applicable: true, violations: [] });
  });

  it("refuse an unprotected prod server: its droplet, and its volume", async () => {
    const stack = server("prod", "app-8gb", false);
    expect((await validateStack(statefulProtected, stack)).violations).toEqual([
      "app-8gb-droplet: droplet app-8gb-droplet of server app-8gb is not protected (protect: true)",
    ]);
    expect((await validateStack(volumesKept, stack)).violations).toEqual([
      "app-8gb-volume: volume app-8gb-volume is not protected: a plan that drops or replaces it would delete its data",
    ]);
  });

  it("during a migration: pass the server migrated from unprotected (the rollback target), refuse a second one", async () => {
    const migrating = [...server("prod", "app-16gb", true), ...server("prod", "app-8gb", false), migration("prod")];
    for (const policy of [statefulProtected, volumesKept])
      expect((await validateStack(policy, migrating)).violations, policy.name).toEqual([]);
    const twoBare = [...server("prod", "app-16gb", false), ...server("prod", "app-8gb", false), migration("prod")];
    expect((await validateStack(statefulProtected, twoBare)).violations).toHaveLength(2);
    expect((await validateStack(volumesKept, twoBare)).violations).toHaveLength(2);
    const noMigration = [...server("prod", "app-16gb", true), ...server("prod", "app-8gb", false)];
    expect((await validateStack(volumesKept, noMigration)).violations).toEqual([
      "app-8gb-volume: volume app-8gb-volume is not protected: a plan that drops or replaces it would delete its data",
    ]);
  });

  it("refuse an unprotected managed database cluster; leave dev alone", async () => {
    const cluster: TestResource = {
      type: TYPES.databaseCluster,
      name: "scale-out-pg",
      urn: urn("prod", `chatbot:scaleout:ScaleOut$${TYPES.databaseCluster}`, "scale-out-pg"),
      props: {},
      protect: false,
    };
    expect((await validateStack(statefulProtected, [cluster])).violations).toEqual([
      "scale-out-pg: managed database cluster scale-out-pg is not protected (protect: true)",
    ]);
    expect((await validateStack(statefulProtected, [{ ...cluster, protect: true }])).violations).toEqual([]);
    expect((await validateStack(statefulProtected, server("dev", "app-4gb", false))).applicable).toBe(false);
  });
});

describe("monthly-cost-ceiling", () => {
  const priced = server("dev", "app-8gb", false, { backupPolicy: { plan: "daily" } }); // $48 + 30 % + 100 GiB = $72.40

  it("passes a stack under the ceiling, refuses it over a lower ceiling, with the cost from infra/cost", async () => {
    expect(await validateStack(monthlyCostCeiling, priced)).toEqual({ applicable: true, violations: [] });
    expect((await validateStack(monthlyCostCeiling, priced, { maxMonthlyCostUsd: 50 })).violations).toEqual([
      "the stack costs $72.40/month, above the ceiling of $50 (policy config maxMonthlyCostUsd)",
    ]);
  });

  it("prices what is known while a preview leaves values unknown, and says the total is a lower bound", async () => {
    // What the analyzer hands a policy during a preview: the sentinel for a number not known yet (@pulumi/policy proxy.js).
    const { unknownNumberValue } = (await import("@pulumi/policy/proxy")) as unknown as { unknownNumberValue: string };
    const unknownSize = priced.map((r) =>
      r.type === TYPES.volume ? { ...r, props: { ...r.props, size: unknownNumberValue } } : r,
    );
    expect((await validateStack(monthlyCostCeiling, unknownSize, { maxMonthlyCostUsd: 50 })).violations).toEqual([
      "the stack costs at least (not priced yet: app-8gb-volume (size unknown until apply)) $62.40/month, above the ceiling of $50 (policy config maxMonthlyCostUsd)",
    ]);
  });
});
