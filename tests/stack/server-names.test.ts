/**
 * Each server generation has its own droplet name and volume description, for new servers only: planned against the
 * states of earlier versions (tests/fixtures/state/), every deployed droplet and volume stays `same`, and a tier
 * change names only its new server by its generation.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { isValidDropletName, isValidVolumeName } from "../../infra/provider-rules";
import { type Program, runOffline } from "../../infra/offline/run";
import { planOperations } from "../../infra/offline/state-diff";
import { type DeployedState, readStateFile } from "../../infra/offline/state-file";
import { all, ROOT, T } from "./run-stack";

async function plan(stack: string, overrides: Record<string, string>, state: DeployedState) {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  const run = await runOffline({ projectDir: ROOT, stack, program: mod.default ?? mod, overrides, state });
  return { run, ops: planOperations(run.resources, state) };
}

const fixture = (file: string) => readStateFile(join(ROOT, "tests", "fixtures", "state", file));
const deployedNames = (s: DeployedState, type: string) =>
  s.resources.filter((r) => r.type === type).map((r) => ({ name: r.name, inputs: r.inputs }));

describe.each([
  { file: "v0-dev-4gb.json", stack: "dev", tier: "4gb", next: "8gb" },
  { file: "v0-prod-8gb.json", stack: "prod", tier: "8gb", next: "16gb" },
  { file: "v1-dev-4gb.json", stack: "dev", tier: "4gb", next: "8gb" },
  { file: "v1-prod-8gb.json", stack: "prod", tier: "8gb", next: "16gb" },
])("$file", ({ file, stack, tier, next }) => {
  it("the deployed droplet and volume stay `same`, with the names and description they have", {
    timeout: 120_000,
  }, async () => {
    const state = fixture(file);
    const { run, ops } = await plan(stack, { "chatbot:tier": tier }, state);
    for (const type of [T.droplet, T.volume]) {
      expect(ops.filter((o) => o.type === type).map((o) => `${o.op} ${o.name}`)).toEqual([
        `same app-${tier}-${type === T.droplet ? "droplet" : "volume"}`,
      ]);
      const planned = all(run, type).map((r) => ({ name: r.name, inputs: r.inputs }));
      for (const key of type === T.droplet ? ["name"] : ["name", "description"])
        expect(planned.map((r) => r.inputs[key])).toEqual(deployedNames(state, type).map((r) => r.inputs[key]));
    }
  });

  it(`a change to ${next} names only the new server by its generation`, { timeout: 120_000 }, async () => {
    const { run, ops } = await plan(stack, { "chatbot:tier": next }, fixture(file));
    const prefix = `chatbot-${stack}`;
    expect(
      ops
        .filter((o) => o.type === T.droplet || o.type === T.volume)
        .map((o) => `${o.op} ${o.name}`)
        .sort(),
    ).toEqual([
      `create app-${next}-droplet`,
      `create app-${next}-volume`,
      `same app-${tier}-droplet`,
      `same app-${tier}-volume`,
    ]);
    const droplet = all(run, T.droplet).find((r) => r.name === `app-${next}-droplet`)!;
    const volume = all(run, T.volume).find((r) => r.name === `app-${next}-volume`)!;
    expect(droplet.inputs.name).toBe(`${prefix}-${next}-g2`);
    expect(volume.inputs).toMatchObject({
      name: `${prefix}-${next}-data-g2`,
      description: `PostgreSQL, Redis and Caddy data of ${prefix}-${next}-g2`,
    });
    expect(isValidDropletName(String(droplet.inputs.name))).toBe(true);
    expect(isValidVolumeName(String(volume.inputs.name))).toBe(true);
  });
});

describe("a deployed volume keeps the description it was created with", () => {
  it("another description in the state plans `same` (ignored); another name still plans `replace`", {
    timeout: 120_000,
  }, async () => {
    const state = fixture("v1-dev-4gb.json");
    const edit = (key: string, value: string): DeployedState => ({
      ...state,
      resources: state.resources.map((r) =>
        r.type === T.volume
          ? { ...r, inputs: { ...r.inputs, [key]: value }, outputs: { ...r.outputs, [key]: value } }
          : r,
      ),
    });
    const volumeOp = async (s: DeployedState) =>
      (await plan("dev", { "chatbot:tier": "4gb" }, s)).ops.find((o) => o.type === T.volume)!;
    expect(await volumeOp(edit("description", "data of an older naming"))).toMatchObject({ op: "same" });
    expect(await volumeOp(edit("name", "chatbot-dev-4gb-data-old"))).toMatchObject({
      op: "replace",
      replaceKeys: ["name"],
    });
  });
});
