/**
 * The daily drift check's verdict (infra/drift.ts, scripts/drift.ts) on the preview of prod after its 8gb -> 16gb
 * migration, once the 8gb rollback target's retention has passed: the planned drop (its server, the migration, the
 * project's and alerts' references to it) is expected, not drift; before `rollbackUntil`, or with a change by hand,
 * it is drift. The preview is the offline plan against the state `pulumi up` leaves, in `pulumi preview --json` shape.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { classifyDrift, type DriftOutputs } from "../../infra/drift";
import { parsePulumiJson, type ParsedPreview } from "../../infra/pulumi-json";
import { previewFromPlan } from "../support/preview-from-plan";
import { runScript } from "../support/run-script";
import { ROOT } from "./run-stack";

const dir = mkdtempSync(join(tmpdir(), "drift-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = runScript;

interface Export {
  deployment: {
    resources: { urn: string; type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> }[];
  };
}

let previewDoc: unknown;
let releasePreviewDoc: unknown;
let outputs: DriftOutputs;
let rollbackUntil: Date;
const parse = (doc: unknown) => parsePulumiJson(JSON.stringify(doc), "preview") as ParsedPreview;

beforeAll(() => {
  const project = join(dir, "project");
  mkdirSync(project);
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
  const prod = readFileSync(join(ROOT, "Pulumi.prod.yaml"), "utf8").replace("chatbot:tier: 8gb", "chatbot:tier: 16gb");
  writeFileSync(join(project, "Pulumi.prod.yaml"), prod);
  const plan = (...args: string[]) => {
    const r = run("plan.ts", ["--stack", "prod", "--json", "--project-dir", project, ...args]);
    if (r.status !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout);
  };
  // The migration's `pulumi up`, then its commit moved 25 h back: the 24 h retention has passed.
  plan("--state", join(ROOT, "tests/fixtures/state/v1-prod-8gb.json"), "--write-state", join(dir, "s1.json"));
  const state = JSON.parse(readFileSync(join(dir, "s1.json"), "utf8")) as Export;
  const stackOutputs = state.deployment.resources[0]!.outputs as Record<string, Record<string, unknown>>;
  const committed = new Date(Date.now() - 25 * 3600_000);
  rollbackUntil = new Date(committed.getTime() + 24 * 3600_000);
  (stackOutputs.deployment!.migration as Record<string, unknown>).committedAt = committed.toISOString();
  stackOutputs.migration!.committedAt = committed.toISOString();
  stackOutputs.migration!.rollbackUntil = rollbackUntil.toISOString();
  writeFileSync(join(dir, "late.json"), JSON.stringify(state));
  // Prod: the first update past the retention takes the rollback target's protection off; the one after drops it.
  releasePreviewDoc = previewFromPlan(
    state,
    plan("--state", join(dir, "late.json"), "--write-state", join(dir, "released.json")),
  );
  const released = JSON.parse(readFileSync(join(dir, "released.json"), "utf8")) as Export;
  previewDoc = previewFromPlan(released, plan("--state", join(dir, "released.json")));
  writeFileSync(join(dir, "preview.json"), JSON.stringify(previewDoc));
  outputs = stackOutputs as DriftOutputs;
  writeFileSync(join(dir, "outputs.json"), JSON.stringify(outputs));
}, 120_000);

describe("the drift verdict after a migration", () => {
  it("after rollbackUntil, the drop of the rollback target is expected: no drift", () => {
    const v = classifyDrift(parse(previewDoc), outputs, new Date());
    expect(v.drift).toEqual([]);
    expect(v.dueDrop).toEqual({ server: "app-8gb", rollbackUntil: rollbackUntil.toISOString() });
    const expected = v.expected.map((e) => `${e.op} ${e.name}`);
    expect(expected).toEqual(
      expect.arrayContaining([
        "delete app-8gb",
        "delete app-8gb-droplet",
        "delete app-8gb-volume",
        "delete migration-run",
        "update group-project",
        "update monitoring-cpu-high",
      ]),
    );
  });

  it("the update before it, which takes the rollback target's protection off, changes no input: no drift", () => {
    const v = classifyDrift(parse(releasePreviewDoc), outputs, new Date());
    expect(v.drift).toEqual([]);
    expect(v.expected).toEqual([]);
  });

  it("negative control: before rollbackUntil the same changes are drift", () => {
    const v = classifyDrift(parse(previewDoc), outputs, new Date(rollbackUntil.getTime() - 1000));
    expect(v.expected).toEqual([]);
    expect(v.drift.map((d) => d.name)).toContain("app-8gb-droplet");
  });

  it("a change by hand is drift even while the drop is due; so is a project change beyond the drop", () => {
    const doc = structuredClone(previewDoc) as { steps: Record<string, unknown>[] };
    const droplet = doc.steps.find((s) => String(s.urn).endsWith("::app-16gb-droplet"))!;
    const inputs = { ...(droplet.newState as { inputs: Record<string, unknown> }).inputs };
    doc.steps.push({
      ...droplet,
      op: "update",
      oldState: { ...(droplet.newState as object), inputs: { ...inputs, size: "s-4vcpu-8gb" } },
      diffReasons: ["size"],
    });
    doc.steps = doc.steps.filter((s) => s !== droplet);
    const project = doc.steps.find((s) => String(s.urn).endsWith("::group-project"))!;
    const after = project.newState as { inputs: { resources: string[] } };
    after.inputs = { ...after.inputs, resources: after.inputs.resources.slice(1) }; // the 16gb droplet leaves too
    const v = classifyDrift(parse(doc), outputs, new Date());
    expect(v.drift.map((d) => `${d.op} ${d.name} ${d.detail}`)).toEqual([
      "update group-project resources",
      "update app-16gb-droplet size",
    ]);
    expect(v.expected.map((e) => e.name)).toContain("app-8gb-droplet");
  });
});

describe("scripts/drift.ts", () => {
  it("exit 0 with the expected drop named; exit 1 on drift; exit 2 on a file it cannot read", () => {
    const ok = run("drift.ts", [
      "--stack",
      "prod",
      "--preview",
      join(dir, "preview.json"),
      "--outputs",
      join(dir, "outputs.json"),
    ]);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain("### No drift in stack `prod`");
    expect(ok.stdout).toMatch(/Expected, not drift: the rollback target `app-8gb` is past its retention/);
    expect(ok.stdout).toContain(
      "- `app-8gb-droplet` (`digitalocean:index/droplet:Droplet`): delete: the rollback target app-8gb is dropped",
    );

    const early = structuredClone(outputs) as { migration: { rollbackUntil: string } };
    early.migration.rollbackUntil = new Date(Date.now() + 3600_000).toISOString();
    writeFileSync(join(dir, "outputs-early.json"), JSON.stringify(early));
    const drift = run("drift.ts", [
      "--stack",
      "prod",
      "--preview",
      join(dir, "preview.json"),
      "--outputs",
      join(dir, "outputs-early.json"),
    ]);
    expect(drift.status).toBe(1);
    expect(drift.stdout).toMatch(/^### Drift: stack `prod` differs from its program/);

    const missing = run("drift.ts", [
      "--stack",
      "prod",
      "--preview",
      join(dir, "nope.json"),
      "--outputs",
      join(dir, "outputs.json"),
    ]);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("nope.json: cannot read (ENOENT)");
  });
});
