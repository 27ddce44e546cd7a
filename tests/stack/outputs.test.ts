/**
 * The stack outputs of the real program under mocks: the ones the program reads back (`deployment`, `tier`) and the
 * other original ones unchanged, and those operators use (`pulumi stack output`): every droplet's id and addresses,
 * its volume, the reserved IP, which server serves, the migration's state, the monthly cost; secrets marked secret.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../infra/config";
import { readDeployed } from "../../infra/deployed";
import { pinnedHostKey } from "../../infra/host-keys";
import { buildPlanDocument, stateAfterUp } from "../../infra/offline/plan-report";
import { type OfflineRun, type Program, runOffline } from "../../infra/offline/run";
import { type DeployedState, parseStateExport } from "../../infra/offline/state-file";
import { rawConfigOf, readStackFiles } from "../../infra/offline/stack-files";
import { planStack } from "../../infra/plan";
import type { ServerOutput } from "../../infra/stack-outputs";
import { all, find, ROOT, T } from "./run-stack";

async function run(stack: string, overrides: Record<string, string> = {}, state?: DeployedState): Promise<OfflineRun> {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  return runOffline({ projectDir: ROOT, stack, program: mod.default ?? mod, overrides, ...(state ? { state } : {}) });
}

const ORIGINAL = ["deployment", "tier", "dropletSize", "publicIp", "url"];
const OPERATOR = ["servers", "servingServer", "migration", "monthlyCost"];
const servers = (r: OfflineRun) => r.outputs.servers as Record<string, ServerOutput>;

let dev: OfflineRun;
let prod: OfflineRun;
let scale: OfflineRun;
beforeAll(async () => {
  dev = await run("dev");
  prod = await run("prod");
  scale = await run("scale");
}, 120_000);

describe("outputs of a single-droplet stack", () => {
  it("keeps the original outputs, in name and shape, and adds the operator outputs", () => {
    expect(Object.keys(prod.outputs).sort()).toEqual(
      [...ORIGINAL, ...OPERATOR, "servingDropletId", "sshTarget", "reservedIp", "knownHosts"].sort(),
    );
    expect(prod.outputs).toMatchObject({ tier: "8gb", dropletSize: "s-4vcpu-8gb", url: "https://chat.example.com" });
    expect(prod.outputs.publicIp).toBe(find(prod, T.reservedIp).outputs.ipAddress);
    expect(readDeployed(prod.outputs, "chatbot-prod")).toMatchObject({ tier: "8gb", serving: { key: "app-8gb" } });
  });

  it("gives the serving droplet's id, addresses and volume, the reserved IP, and an ssh target for capacity and restore-drill", () => {
    const droplet = find(prod, T.droplet);
    const volume = find(prod, T.volume);
    expect(servers(prod)).toEqual({
      "app-8gb": {
        role: "serving",
        tier: "8gb",
        dropletId: droplet.id,
        dropletName: "chatbot-prod-8gb",
        publicIp: droplet.outputs.ipv4Address,
        privateIp: droplet.outputs.ipv4AddressPrivate,
        volumeId: volume.id,
        volumeName: "chatbot-prod-8gb-data",
        // A new stack's server is pinned: its public host key, from the stack's key resource.
        hostKey: pinnedHostKey(
          String(find(prod, "tls:index/privateKey:PrivateKey", "app-8gb-host-key").outputs.publicKeyOpenssh),
        ),
      },
    });
    expect(droplet.id).toMatch(/^\d+$/); // what `capacity --droplet-id` and DigitalOcean's API take
    expect(prod.outputs).toMatchObject({
      servingServer: "app-8gb",
      servingDropletId: droplet.id,
      sshTarget: `root@${String(droplet.outputs.ipv4Address)}`,
      reservedIp: find(prod, T.reservedIp).outputs.ipAddress,
      migration: { state: "none" },
    });
  });

  it.each(["dev", "prod", "scale"])(
    "%s: monthlyCost is the offline plan's monthly cost (infra/cost over the same resources)",
    (stack) => {
      const r = { dev, prod, scale }[stack]!;
      const files = readStackFiles(ROOT, stack);
      const plan = planStack(parseConfig(rawConfigOf(files), { project: files.project, stack }), undefined, r.now);
      expect(r.outputs.monthlyCost).toBe(buildPlanDocument(r, plan).monthlyCost);
      expect(r.outputs.monthlyCost).toBeGreaterThan(0);
    },
  );

  it("marks no output of a single-droplet stack secret (none holds a secret)", () => {
    expect(dev.secretOutputs).toEqual([]);
    expect(prod.secretOutputs).toEqual([]);
  });
});

describe("outputs of the scale-out tier", () => {
  it("lists the app droplets with their pinned host keys, no ssh target or reserved IP, and the database and cache URIs as secrets", () => {
    expect(Object.keys(scale.outputs).sort()).toEqual(
      [...ORIGINAL, ...OPERATOR, "knownHosts", "databaseUrl", "redisUrl"].sort(),
    );
    const droplets = all(scale, T.droplet);
    expect(Object.keys(servers(scale))).toHaveLength(droplets.length);
    for (const d of droplets) {
      const hostKey = pinnedHostKey(String(find(scale, T.privateKey, `${d.name}-host-key`).outputs.publicKeyOpenssh));
      expect(servers(scale)[d.name]).toEqual({
        role: "app",
        dropletId: d.id,
        dropletName: d.inputs.name,
        publicIp: d.outputs.ipv4Address,
        privateIp: d.outputs.ipv4AddressPrivate,
        hostKey,
      });
    }
    expect(scale.outputs.servingServer).toBe("scale-out");
    expect(scale.secretOutputs.sort()).toEqual(["databaseUrl", "redisUrl"]);
  });

  it("writes the secret outputs into the state encrypted, never in plain text", () => {
    const written = parseStateExport(stateAfterUp(scale), "scale-after");
    expect(written.undecryptedOutputs.sort()).toEqual(["databaseUrl", "redisUrl"]);
    expect(JSON.stringify(stateAfterUp(scale))).not.toContain("mock-password");
  });
});

describe("outputs during and after a tier migration", () => {
  it("names the new server as serving, the old one as the rollback target, and the migration done with its commit", {
    timeout: 120_000,
  }, async () => {
    const deployed = parseStateExport(stateAfterUp(dev), "dev-4gb");
    const change = await run("dev", { "chatbot:tier": "8gb" }, deployed);
    const roles = Object.fromEntries(Object.entries(servers(change)).map(([k, s]) => [k, s.role]));
    expect(roles).toEqual({ "app-8gb": "serving", "app-4gb": "previous" });
    expect(servers(change)["app-4gb"]?.dropletId).toBe(servers(dev)["app-4gb"]?.dropletId); // the deployed droplet, kept
    const committedAt = change.now.toISOString();
    expect(change.outputs).toMatchObject({
      servingServer: "app-8gb",
      servingDropletId: servers(change)["app-8gb"]?.dropletId,
      migration: {
        state: "done",
        from: "app-4gb",
        to: "app-8gb",
        committedAt,
        rollbackTarget: "app-4gb",
        rollbackUntil: new Date(change.now.getTime() + 24 * 3600_000).toISOString(),
      },
      tier: "8gb",
      dropletSize: "s-4vcpu-8gb",
    });
  });
});
