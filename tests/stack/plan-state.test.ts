/**
 * The real program under mocks against a deployed state: what the StackReference sees, what the mocks answer for
 * resources already deployed, the state a successful `pulumi up` would leave (`--write-state`), and chains of plans
 * (state at one tier, change the tier, plan against it, write, plan again).
 */
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { parseMigrationResult } from "../../infra/migration/result-line";
import { buildPlanDocument, stateAfterUp } from "../../infra/offline/plan-report";
import { type OfflineRun, type Program, revealSecrets, runOffline } from "../../infra/offline/run";
import { SECRET_SIG, SECRET_VALUE } from "../../infra/offline/secret-values";
import { type DeployedState, parseStateExport } from "../../infra/offline/state-file";
import { rawConfigOf, readStackFiles } from "../../infra/offline/stack-files";
import { parseConfig } from "../../infra/config";
import { planStack } from "../../infra/plan";
import { ROOT, T } from "./run-stack";

const realProgram = async (): Promise<Program> => {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  return mod.default ?? mod;
};

async function plan(
  stack: string,
  opts: { state?: DeployedState; overrides?: Record<string, string>; now?: Date } = {},
) {
  const run = await runOffline({ projectDir: ROOT, stack, program: await realProgram(), ...opts });
  const files = readStackFiles(ROOT, stack);
  const raw = rawConfigOf({ ...files, config: { ...files.config, ...opts.overrides } });
  const doc = buildPlanDocument(run, planStack(parseConfig(raw, { project: files.project, stack })));
  return { run, doc };
}

/** What `--write-state` writes, read back as `--state` reads it. */
function written(run: OfflineRun): { text: string; state: DeployedState } {
  const text = JSON.stringify(stateAfterUp(run));
  return { text, state: parseStateExport(JSON.parse(text), `${run.stack.stack}-state.json`) };
}

const opsOf = (doc: { operations: { name: string; op: string }[] }) =>
  Object.fromEntries(doc.operations.map((o) => [o.name, o.op]));
const notSame = (doc: { operations: { name: string; op: string }[] }) =>
  doc.operations.filter((o) => o.op !== "same").map((o) => `${o.op} ${o.name}`);

describe("a StackReference to the stack itself, under the mocks", () => {
  const state = parseStateExport(
    {
      version: 3,
      deployment: {
        resources: [
          {
            urn: "urn:pulumi:dev::chatbot::pulumi:pulumi:Stack::chatbot-dev",
            custom: false,
            type: "pulumi:pulumi:Stack",
            outputs: {
              deployment: { tier: "4gb", generation: 1 },
              tier: "4gb",
              token: { [SECRET_SIG]: SECRET_VALUE, ciphertext: "v1:abc" },
            },
          },
        ],
      },
    },
    "ref.json",
  );
  // The way infra/pulumi-config.ts reads it: the org/project/stack name, getOutputDetails per output.
  const reader: Program = async () => {
    const self = new pulumi.StackReference("deployed", {
      name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
    });
    const other = new pulumi.StackReference("other", { name: "organization/chatbot/prod" });
    const read = async (ref: pulumi.StackReference, name: string) => JSON.stringify(await ref.getOutputDetails(name));
    return {
      deployment: await read(self, "deployment"),
      tier: await read(self, "tier"),
      token: await read(self, "token"),
      missing: await read(self, "missing"),
      other: await read(other, "tier"),
    };
  };

  it("reads the state's stack outputs through getOutputDetails; an encrypted one is absent", async () => {
    const run = await runOffline({ projectDir: ROOT, stack: "dev", program: reader, state });
    expect(Object.fromEntries(Object.entries(run.outputs).map(([k, v]) => [k, JSON.parse(String(v))]))).toEqual({
      deployment: { value: { tier: "4gb", generation: 1 } },
      tier: { value: "4gb" },
      token: {},
      missing: {},
      other: {},
    });
    expect(state.undecryptedOutputs).toEqual(["token"]);
    expect(run.stackReferences).toEqual([
      { name: "organization/chatbot/dev", source: "state" },
      { name: "organization/chatbot/prod", source: "other" },
    ]);
    expect(run.resources.some((r) => r.type === "pulumi:pulumi:StackReference")).toBe(false);
  });

  it("without a state, the stack has no outputs (never deployed)", async () => {
    const run = await runOffline({ projectDir: ROOT, stack: "dev", program: reader });
    expect(run.outputs.deployment).toBe("{}");
    expect(run.stackReferences[0]).toEqual({ name: "organization/chatbot/dev", source: "none" });
  });
});

describe.each(["dev", "prod", "scale"])("the %s stack planned against the state it wrote", (stack) => {
  it("shows only `same`, keeps every id, and the written state holds no secret in plain text", async () => {
    const first = await plan(stack, { now: new Date("2030-01-01T00:00:00Z") });
    const { text, state } = written(first.run);
    const second = await plan(stack, { state, now: new Date("2030-01-03T00:00:00Z") });
    expect(notSame(second.doc)).toEqual([]);
    expect(second.doc.dataLoss).toEqual([]);
    const ids = (run: OfflineRun) => Object.fromEntries(run.resources.map((r) => [r.urn, r.id]));
    expect(ids(second.run)).toEqual(ids(first.run));
    const byUrn = (s: DeployedState) => Object.fromEntries(s.resources.map((r) => [r.urn, r]));
    expect(byUrn(written(second.run).state)).toEqual(byUrn(state));

    expect(text).not.toMatch(/mock-password/);
    const secrets = first.run.resources
      .flatMap((r) => [r.inputs, r.outputs])
      .flatMap((v) => Object.values(v as Record<string, unknown>))
      .filter((v) => (v as Record<string, unknown>)?.[SECRET_SIG] === SECRET_VALUE);
    expect(secrets.length).toBeGreaterThan(0);
    for (const s of secrets) {
      const plain = JSON.stringify(revealSecrets(s));
      if (plain.length > 12) expect(text).not.toContain(plain.slice(1, -1));
    }
  });
});

describe("a tier change planned against the state of the tier before", () => {
  const before = new Date("2030-01-01T00:00:00Z");
  const planned = new Date("2030-01-01T12:00:00Z");
  const later = new Date("2030-01-01T18:00:00Z");

  it.each([
    ["dev", "4gb", "8gb"],
    ["prod", "8gb", "16gb"],
  ])(
    "%s %s -> %s: a new server and a migration, no volume deleted or replaced, traffic only through the migration; then only `same`",
    async (stack, from, to) => {
      const deployed = written((await plan(stack, { now: before })).run).state;
      const change = await plan(stack, { state: deployed, overrides: { "chatbot:tier": to }, now: planned });
      const ops = opsOf(change.doc);
      expect(change.doc.dataLoss).toEqual([]);
      expect(ops[`app-${to}-droplet`]).toBe("create");
      expect(ops["migration-run"]).toBe("create");
      for (const o of change.doc.operations.filter((x) => x.type === T.volume))
        expect(["same", "create", "update"], o.name).toContain(o.op);
      expect(ops[`app-${from}-droplet`]).toBe("same");
      const migration = change.run.resources.find((r) => r.name === "migration-run")!;
      for (const r of change.run.resources.filter(
        (x) =>
          x.type === T.assignment ||
          (x.type === T.record && change.doc.operations.find((o) => o.urn === x.urn)?.op !== "same"),
      )) {
        expect(r.dependencies, r.name).toContain(migration.urn);
      }
      // The migration's command answers with the result line a successful run prints, committed at the plan's clock.
      const result = parseMigrationResult(String(revealSecrets(migration.outputs.stdout)));
      expect(result).toMatchObject({
        state: "done",
        committedAt: planned.toISOString(),
        strategy: "replicate",
        resumed: false,
      });
      expect(result?.from).toMatch(/^\w+@203\.0\.113\.\d+$/);
      expect(result?.to).toMatch(/^\w+@203\.0\.113\.\d+$/);
      expect(result?.from).not.toBe(result?.to);

      // After that `pulumi up`: the same config plans nothing, and the commit time recorded then is kept.
      const after = written(change.run).state;
      const again = await plan(stack, { state: after, overrides: { "chatbot:tier": to }, now: later });
      expect(notSame(again.doc)).toEqual([]);
      const kept = again.run.resources.find((r) => r.name === "migration-run")!;
      expect(parseMigrationResult(String(revealSecrets(kept.outputs.stdout)))?.committedAt).toBe(planned.toISOString());
    },
  );
});

describe("deployed resources the program would not leave as they are", () => {
  it("a volume renamed in the state is replaced on `name`: data loss", async () => {
    const { state } = written((await plan("dev")).run);
    const volume = state.resources.find((r) => r.type === T.volume)!;
    volume.inputs = { ...volume.inputs, name: "renamed-by-hand" };
    const { doc } = await plan("dev", { state });
    expect(doc.operations.find((o) => o.urn === volume.urn)).toMatchObject({ op: "replace", replaceKeys: ["name"] });
    expect(doc.dataLoss).toEqual([expect.objectContaining({ urn: volume.urn, op: "replace" })]);
  });

  it("a resource the program no longer registers is deleted; a dev volume not retained loses its data", async () => {
    const { state } = written((await plan("dev")).run);
    const volume = state.resources.find((r) => r.type === T.volume)!;
    state.resources.push({
      ...volume,
      urn: volume.urn.replace(/::[^:]+$/, "::app-old-volume"),
      name: "app-old-volume",
      retainOnDelete: false,
    });
    const { doc } = await plan("dev", { state });
    expect(opsOf(doc)["app-old-volume"]).toBe("delete");
    expect(doc.dataLoss).toEqual([expect.objectContaining({ name: "app-old-volume", op: "delete" })]);
  });
});

describe("fake ids", () => {
  const droplets =
    (names: string[]): Program =>
    async () => {
      for (const n of names)
        new digitalocean.Droplet(n, { image: "ubuntu-24-04-x64", size: "s-1vcpu-1gb", region: "nyc3" });
      return {};
    };
  const ids = async (names: string[]) =>
    Object.fromEntries(
      (await runOffline({ projectDir: ROOT, stack: "dev", program: droplets(names) })).resources.map((r) => [
        r.name,
        [r.id, r.outputs.ipv4Address],
      ]),
    );

  it("are derived from the URN: resources registered before a droplet do not change its id or address; droplet ids are numeric strings", async () => {
    const alone = await ids(["web"]);
    const more = await ids(["first", "second", "web"]);
    expect(more.web).toEqual(alone.web);
    expect(Object.values(more).map(([id]) => id)).toEqual([
      expect.stringMatching(/^\d+$/),
      expect.stringMatching(/^\d+$/),
      expect.stringMatching(/^\d+$/),
    ]);
    expect(new Set(Object.values(more).map(([id]) => id)).size).toBe(3);
    expect(new Set(Object.values(more).map(([, ip]) => ip)).size).toBe(3);
  });
});
