/**
 * The scale-out app droplets' pinned host keys, pure: the user data without a key (with one: host-keys.test.ts),
 * which droplets a plan pins from what the record says is deployed, the record's `scaleOut` field read back (and for
 * a stack deployed before it, from its `servers` output), and the warning for an unpinned droplet.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { type DeploymentRecord, firstServerNames, readDeployed } from "../../infra/deployed";
import { unpinnedAppDropletWarning, unpinnedHostKeyWarning } from "../../infra/host-keys";
import { readStateFile } from "../../infra/offline/state-file";
import { renderAppNodeCloudInit } from "../../infra/render/app-node";
import { deployedAppDroplets, planScaleOut, scaleOutRecord } from "../../infra/scale-out";
import { PROD_INPUT } from "../scale-out/input";

const ROOT = join(__dirname, "..", "..");
describe("an app droplet's user data without a key", () => {
  it("is byte for byte what the version before deployed (tests/fixtures/state/v2-scale-prod.json)", () => {
    const state = readStateFile(join(ROOT, "tests", "fixtures", "state", "v2-scale-prod.json"));
    const deployed = state.resources.find((r) => r.urn.endsWith("::scale-out-app-1"))?.inputs.userData;
    expect(typeof deployed).toBe("string");
    expect(renderAppNodeCloudInit({ swapMiB: 1024 })).toBe(deployed);
  });
});

describe("which app droplets a scale-out plan pins", () => {
  const pins = (deployed: Parameters<typeof deployedAppDroplets>[0], appCount = 3) =>
    planScaleOut({
      ...PROD_INPUT,
      appCount,
      deployedAppDroplets: deployedAppDroplets(deployed, appCount),
    }).app.droplets.map((d) => `${d.key}:${d.pinHostKey}`);

  it.each([
    ["nothing deployed", undefined, 3, ["app-1:true", "app-2:true", "app-3:true"]],
    [
      "a single-droplet tier deployed (the move onto scale-out)",
      { tier: "16gb" as const },
      3,
      ["app-1:true", "app-2:true", "app-3:true"],
    ],
    [
      "a record listing app-1 pinned and app-2 not; app-3 new",
      {
        tier: "scale-out" as const,
        scaleOut: { appDroplets: [{ key: "app-1", hostKey: "pinned" as const }, { key: "app-2" }] },
      },
      3,
      ["app-1:true", "app-2:false", "app-3:true"],
    ],
    [
      "a scale-out record that lists nothing and has no `servers` to read it from: none pinned",
      { tier: "scale-out" as const },
      4,
      ["app-1:false", "app-2:false", "app-3:false", "app-4:false"],
    ],
  ])("%s", (_what, deployed, appCount, expected) => {
    expect(pins(deployed as Parameters<typeof deployedAppDroplets>[0], appCount)).toEqual(expected);
  });

  it("the record after the update lists every planned droplet and which are pinned", () => {
    const plan = planScaleOut({ ...PROD_INPUT, appCount: 3, deployedAppDroplets: [{ key: "app-2" }] });
    expect(scaleOutRecord(plan)).toEqual({
      appDroplets: [{ key: "app-1", hostKey: "pinned" }, { key: "app-2" }, { key: "app-3", hostKey: "pinned" }],
    });
  });
});

describe("the record's scaleOut read back", () => {
  const prefix = "chatbot-scale";
  const base: DeploymentRecord = {
    version: 1,
    tier: "scale-out",
    region: "nyc3",
    volumeSizeGiB: 20,
    dnsTtlSeconds: 300,
    generation: 1,
  };
  const appServer = { role: "app", dropletId: "1", dropletName: "x", publicIp: "203.0.113.9", privateIp: "10.0.0.9" };

  it("a record with it: as recorded (the servers output does not override it)", () => {
    const scaleOut = { appDroplets: [{ key: "app-1", hostKey: "pinned" as const }] };
    const r = readDeployed(
      { deployment: { ...base, scaleOut }, servers: { "scale-out-app-1": appServer, "scale-out-app-2": appServer } },
      prefix,
    );
    expect(r?.scaleOut).toEqual(scaleOut);
  });

  it("a scale-out record from before it: the app droplets the servers output shows, none pinned", () => {
    const r = readDeployed(
      { deployment: base, servers: { "scale-out-app-1": appServer, "scale-out-app-2": appServer, other: appServer } },
      prefix,
    );
    expect(r?.scaleOut).toEqual({ appDroplets: [{ key: "app-1" }, { key: "app-2" }] });
    expect(readDeployed({ deployment: base }, prefix)).not.toHaveProperty("scaleOut");
  });

  it("a single-droplet record gets none; a malformed field is refused naming its path", () => {
    expect(
      readDeployed(
        {
          deployment: { ...base, tier: "8gb", serving: firstServerNames(prefix, "8gb") },
          servers: { "scale-out-app-1": appServer },
        },
        prefix,
      ),
    ).not.toHaveProperty("scaleOut");
    expect(() =>
      readDeployed({ deployment: { ...base, scaleOut: { appDroplets: [{ key: "app-1", hostKey: "yes" }] } } }, prefix),
    ).toThrow(/deployment\.scaleOut\.appDroplets\.0\.hostKey/);
    expect(() =>
      readDeployed({ deployment: { ...base, scaleOut: { appDroplets: [{ key: "web" }] } } }, prefix),
    ).toThrow(/deployment\.scaleOut\.appDroplets\.0\.key/);
  });
});

describe("the warning for an unpinned app droplet", () => {
  it("says what is not checked and when the stack pins app droplets; the servers' warning is unchanged", () => {
    const w = unpinnedAppDropletWarning("scale-out-app-1 (chatbot-prod-app-1)");
    expect(w).toMatch(
      /^scale-out-app-1 \(chatbot-prod-app-1\): its SSH host key is not pinned \(the app droplet was created before/,
    );
    expect(w).toContain("StrictHostKeyChecking=accept-new");
    expect(w).toContain("a higher appCount");
    expect(unpinnedHostKeyWarning("app-8gb (x)")).toBe(
      "app-8gb (x): its SSH host key is not pinned (the server was created before pinned host keys; pinning it now would change its user data, and DigitalOcean replaces a droplet whose user data changes). The config sync connects without checking its key, and the migration accepts it on first use (StrictHostKeyChecking=accept-new). To get it pinned, move to a new server: the next tier migration (`pulumi config set tier <tier>`, `pulumi up`) creates one whose host key the stack generates and pins.",
    );
  });
});
