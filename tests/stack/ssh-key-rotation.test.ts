/**
 * A key rotation never replaces a droplet: every droplet the program declares (single-droplet tiers and the
 * scale-out app droplets) carries `ignoreChanges: ["sshKeys"]`, and a stack planned against the state it wrote,
 * with another key list, keeps every droplet (`same`) while the registered inputs carry the new keys (new droplets
 * get them). The negative control: the same comparison without `ignoreChanges` replaces the droplet on `sshKeys`.
 */
import { describe, expect, it } from "vitest";
import { DROPLET_IGNORE_CHANGES } from "../../infra/droplet-options";
import { buildPlanDocument, stateAfterUp } from "../../infra/offline/plan-report";
import { type OfflineRun, type Program, runOffline } from "../../infra/offline/run";
import { diffDeployed } from "../../infra/offline/state-diff";
import { type DeployedState, parseStateExport } from "../../infra/offline/state-file";
import { rawConfigOf, readStackFiles } from "../../infra/offline/stack-files";
import { parseConfig } from "../../infra/config";
import { planStack } from "../../infra/plan";
import { all, ROOT, T } from "./run-stack";

const ROTATED = '["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"]';

async function plan(stack: string, opts: { state?: DeployedState; overrides?: Record<string, string> } = {}) {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  const run = await runOffline({
    projectDir: ROOT,
    stack,
    program: mod.default ?? mod,
    now: new Date("2030-01-01T00:00:00Z"),
    ...opts,
  });
  const files = readStackFiles(ROOT, stack);
  const raw = rawConfigOf({ ...files, config: { ...files.config, ...opts.overrides } });
  return { run, doc: buildPlanDocument(run, planStack(parseConfig(raw, { project: files.project, stack }))) };
}

const written = (run: OfflineRun) =>
  parseStateExport(JSON.parse(JSON.stringify(stateAfterUp(run))), `${run.stack.stack}-state.json`);

describe("ssh key rotation", () => {
  it("the list the components use is sshKeys", () => {
    expect([...DROPLET_IGNORE_CHANGES]).toEqual(["sshKeys"]);
  });

  it.each(["dev", "prod", "scale"])(
    "%s: every droplet ignores sshKeys; a new key list plans every droplet `same`",
    async (stack) => {
      const deployed = await plan(stack);
      const droplets = all(deployed.run, T.droplet);
      expect(droplets.length).toBeGreaterThan(0);
      for (const d of droplets) expect(d.ignoreChanges, d.name).toEqual(["sshKeys"]);

      const rotated = await plan(stack, { state: written(deployed.run), overrides: { "chatbot:sshKeys": ROTATED } });
      const ops = rotated.doc.operations.filter((o) => o.type === T.droplet);
      expect(ops.map((o) => `${o.name} ${o.op}`)).toEqual(droplets.map((d) => `${d.name} same`));
      expect(rotated.doc.dataLoss ?? []).toEqual([]);
      for (const d of all(rotated.run, T.droplet)) expect(d.inputs.sshKeys, d.name).toEqual(JSON.parse(ROTATED));
    },
  );

  it("negative control: without ignoreChanges the same comparison replaces the droplet on sshKeys", async () => {
    const deployed = await plan("prod");
    const state = written(deployed.run);
    const rotated = await plan("prod", { state, overrides: { "chatbot:sshKeys": ROTATED } });
    const droplet = all(rotated.run, T.droplet)[0]!;
    const before = state.resources.find((r) => r.urn === droplet.urn)!;
    expect(diffDeployed(before, droplet).op).toBe("same");
    const unguarded = diffDeployed(before, { ...droplet, ignoreChanges: [] });
    expect(unguarded.op).toBe("replace");
    expect(unguarded.replaceKeys).toEqual(["sshKeys"]);
  });
});
