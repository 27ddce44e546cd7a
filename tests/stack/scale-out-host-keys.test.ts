/**
 * The scale-out app droplets' pinned host keys in the real program under mocks, and against a recorded state:
 *
 * - a new scale-out stack: each app droplet's host key is a tls.PrivateKey (ED25519), its public half in the
 *   droplet's user data (a secret), in both its syncs' `connection.hostKey`, in the `servers` / `knownHosts` outputs
 *   and recorded as pinned in `deployment.scaleOut`;
 * - a scale-out stack deployed by the version before (tests/fixtures/state/v2-scale-prod.json, its record without
 *   `scaleOut`): every resource `same` but the config syncs (re-run: the compose file mounts the cluster's CA since
 *   the app checks the pool's certificate), the app droplets' user data byte-identical plain text, no key resource, no
 *   `hostKey` on the connections, a warning per droplet; raising appCount pins only the new droplet, and the record
 *   it leaves keeps the old ones unpinned on the next plan.
 */
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it, vi } from "vitest";
import type { DeploymentRecord } from "../../infra/deployed";
import { pinnedHostKey } from "../../infra/host-keys";
import { FAKE_PRIVATE_HOST_KEY } from "../../infra/offline/fake-cloud";
import { stateAfterUp } from "../../infra/offline/plan-report";
import { type OfflineRun, type Program, type RecordedResource, runOffline } from "../../infra/offline/run";
import { isSecret } from "../../infra/offline/secret-values";
import { type Operation, planOperations } from "../../infra/offline/state-diff";
import { type DeployedState, parseStateExport, readStateFile } from "../../infra/offline/state-file";
import type { ServerOutput } from "../../infra/stack-outputs";
import { ROOT } from "./run-stack";

const KEY = "tls:index/privateKey:PrivateKey";
const APPS = ["app-1", "app-2", "app-3"];

async function plan(overrides: Record<string, string> = {}, state?: DeployedState, stack = "scale") {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  const run = await runOffline({ projectDir: ROOT, stack, program: mod.default ?? mod, overrides, state });
  return {
    run,
    ops: planOperations(run.resources, run.state),
    after: parseStateExport(JSON.parse(JSON.stringify(stateAfterUp(run))), "scale-after"),
  };
}
const byName = (run: OfflineRun, name: string): RecordedResource | undefined =>
  run.resources.find((x) => x.name === name);
const must = (run: OfflineRun, name: string): RecordedResource => {
  const r = byName(run, name);
  if (!r) throw new Error(`no ${name} among ${run.resources.map((x) => x.name).join(", ")}`);
  return r;
};
const notSame = (ops: Operation[]) => ops.filter((o) => o.op !== "same").map((o) => `${o.op} ${o.name}`);
const servers = (run: OfflineRun) => run.outputs.servers as Record<string, ServerOutput>;
const record = (run: OfflineRun) => run.outputs.deployment as DeploymentRecord;
const plainConnection = (r: RecordedResource) => {
  const c = r.inputs.connection;
  return (isSecret(c) ? c.value : c) as Record<string, unknown>;
};
const fixture = () => readStateFile(join(ROOT, "tests", "fixtures", "state", "v2-scale-prod.json"));

/**
 * What a pinned app droplet has: its key resource, the key in its (secret) user data, both syncs pinned to it. The
 * private half is checked when the key is created in this run (read back from a state it is a secret placeholder).
 */
function expectPinned(run: OfflineRun, app: string, created = true): string {
  const key = must(run, `scale-out-${app}-host-key`);
  expect(key.type).toBe(KEY);
  // Spelled as the tls provider validates it (terraform-provider-tls resource_private_key.go: OneOf RSA, ECDSA,
  // ED25519).
  expect(key.inputs).toEqual({ algorithm: "ED25519" });
  expect(key.parent).toBe(must(run, "scale-out").urn);
  const pinned = pinnedHostKey(String(key.outputs.publicKeyOpenssh));
  const userData = must(run, `scale-out-${app}`).inputs.userData;
  expect(isSecret(userData), app).toBe(true);
  const text = String((userData as { value: unknown }).value);
  expect(text).toContain(`ed25519_public: ${pinned}`);
  expect(text).toContain("ssh_deletekeys: true");
  if (created) expect(text).toContain(FAKE_PRIVATE_HOST_KEY.split("\n")[1]);
  for (const sync of [`scale-out-${app}-secrets`, `scale-out-${app}-config`])
    expect(plainConnection(must(run, sync)).hostKey, sync).toBe(pinned);
  expect(servers(run)[`scale-out-${app}`]?.hostKey).toBe(pinned);
  return pinned;
}

/** What an app droplet deployed before pinning keeps: plain user data as deployed, no key, syncs unpinned. */
function expectUnpinned(run: OfflineRun, state: DeployedState, app: string): void {
  expect(byName(run, `scale-out-${app}-host-key`), app).toBeUndefined();
  const droplet = must(run, `scale-out-${app}`);
  expect(typeof droplet.inputs.userData).toBe("string");
  expect(droplet.inputs.userData).toBe(state.resources.find((r) => r.urn === droplet.urn)!.inputs.userData);
  for (const sync of [`scale-out-${app}-secrets`, `scale-out-${app}-config`])
    expect(plainConnection(must(run, sync)), sync).not.toHaveProperty("hostKey");
  expect(servers(run)[`scale-out-${app}`]).not.toHaveProperty("hostKey");
}

describe("a new scale-out stack: every app droplet's host key generated by the stack and pinned", () => {
  it("key resources, user data holding the key (secret), both syncs pinned, outputs and record", {
    timeout: 120_000,
  }, async () => {
    const { run, ops } = await plan();
    const keys = APPS.map((app) => expectPinned(run, app));
    expect(new Set(keys).size).toBe(APPS.length); // one key per droplet
    expect(ops.filter((o) => o.type === KEY).map((o) => `${o.op} ${o.name}`)).toEqual(
      APPS.map((a) => `create scale-out-${a}-host-key`),
    );
    expect(run.outputs.knownHosts).toBe(
      APPS.map((a, i) => `${servers(run)[`scale-out-${a}`]?.publicIp} ${keys[i]}\n`).join(""),
    );
    expect(record(run).scaleOut).toEqual({ appDroplets: APPS.map((key) => ({ key, hostKey: "pinned" })) });
  });

  it("planned against the state it wrote: keys, droplets and syncs stay `same`, the keys unchanged", {
    timeout: 120_000,
  }, async () => {
    const first = await plan();
    const again = await plan({}, first.after);
    expect(notSame(again.ops)).toEqual([]);
    for (const app of APPS)
      expect(must(again.run, `scale-out-${app}-host-key`).outputs.publicKeyOpenssh).toBe(
        must(first.run, `scale-out-${app}-host-key`).outputs.publicKeyOpenssh,
      );
  });
});

describe("a scale-out stack deployed before pinned app droplets (its record has no scaleOut)", () => {
  it("upgrades with every resource `same` but the config syncs: user data byte-identical, not pinned, a warning each", {
    timeout: 120_000,
  }, async () => {
    const warn = vi.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
    const state = fixture();
    expect(state.stackOutputs.deployment).not.toHaveProperty("scaleOut");
    const { run, ops } = await plan({}, state);
    expect(ops.length).toBeGreaterThan(30);
    expect(notSame(ops)).toEqual(APPS.map((app) => `replace scale-out-${app}-config`));
    for (const app of APPS) expectUnpinned(run, state, app);
    expect(run.resources.filter((r) => r.type === KEY)).toEqual([]);
    expect(run.outputs).not.toHaveProperty("knownHosts");
    expect(record(run).scaleOut).toEqual({ appDroplets: APPS.map((key) => ({ key })) });
    const messages = warn.mock.calls.map((c) => String(c[0]));
    for (const app of APPS)
      expect(messages).toContainEqual(
        expect.stringMatching(
          new RegExp(`^scale-out-${app} \\(chatbot-scale-${app}\\): its SSH host key is not pinned`),
        ),
      );
    warn.mockRestore();
  });

  it("raising appCount pins only the new droplet; the record it leaves keeps the others unpinned", {
    timeout: 180_000,
  }, async () => {
    const state = fixture();
    const { run, ops, after } = await plan({ "chatbot:appCount": "4" }, state);
    for (const app of APPS) expectUnpinned(run, state, app);
    const pinned = expectPinned(run, "app-4");
    for (const app of APPS) {
      expect(ops.find((o) => o.name === `scale-out-${app}`)?.op).toBe("same");
      expect(ops.find((o) => o.name === `scale-out-${app}-config`)?.replaceKeys).toEqual(["triggers"]);
    }
    expect(ops.find((o) => o.name === "scale-out-app-4-host-key")?.op).toBe("create");
    expect(ops.find((o) => o.name === "scale-out-app-4")?.op).toBe("create");
    expect(run.outputs.knownHosts).toBe(`${servers(run)["scale-out-app-4"]?.publicIp} ${pinned}\n`);
    expect(record(run).scaleOut).toEqual({
      appDroplets: [...APPS.map((key) => ({ key })), { key: "app-4", hostKey: "pinned" }],
    });

    // The next update reads that record: nothing changes, the first three still unpinned, the fourth still pinned.
    const next = await plan({ "chatbot:appCount": "4" }, after);
    expect(notSame(next.ops)).toEqual([]);
    for (const app of APPS) expect(byName(next.run, `scale-out-${app}-host-key`)).toBeUndefined();
    expect(expectPinned(next.run, "app-4", false)).toBe(pinned);
  });
});

describe("the move onto scale-out from a single droplet", () => {
  it("creates every app droplet pinned and passes scale-out-migrate each one's key for its ssh", {
    timeout: 180_000,
  }, async () => {
    const at16 = await plan({ "chatbot:tier": "16gb" }, undefined, "prod");
    const moving = { "chatbot:tier": "scale-out", "chatbot:dbNodeCount": "2" };
    const { run } = await plan(moving, at16.after, "prod");
    const count = run.resources.filter(
      (r) => r.type === "digitalocean:index/droplet:Droplet" && /^scale-out-app-\d+$/.test(r.name),
    ).length;
    expect(count).toBeGreaterThanOrEqual(2);
    const apps = Array.from({ length: count }, (_, i) => `app-${i + 1}`);
    const create = String(must(run, "scale-out-migration-run").inputs.create);
    for (const app of apps) {
      const pinned = expectPinned(run, app);
      expect(create).toContain(`--app-node-host-key 'root@${servers(run)[`scale-out-${app}`]?.publicIp}=${pinned}'`);
    }
    expect(create.match(/--app-node-host-key/g)).toHaveLength(count);
    expect(record(run).scaleOut?.appDroplets.every((d) => d.hostKey === "pinned")).toBe(true);
  });
});
