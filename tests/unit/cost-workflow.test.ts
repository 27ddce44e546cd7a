/**
 * .github/workflows/cost.yml, checked by GitHub's own parser (@actions/workflow-parser: schema, expressions,
 * context availability) and its shell steps by shellcheck. Negative controls show the validator can fail.
 */
import { spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const ROOT = join(__dirname, "../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");
const FILE = join(ROOT, ".github/workflows/cost.yml");
const CONTENT = readFileSync(FILE, "utf8");

/**
 * The parser ships JSON imported without an import attribute, which Node's ESM loader (and so vitest's external
 * loader) rejects; tsx loads it. So the validator runs in a tsx subprocess: the workflow on stdin, errors as JSON.
 */
const VALIDATOR = `
import { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } from "@actions/workflow-parser";
import { readFileSync } from "node:fs";
const parsed = parseWorkflow({ name: "cost.yml", content: readFileSync(0, "utf8") }, new NoOperationTraceWriter());
let errors = parsed.context.errors.getErrors().map((e) => e.message);
if (!errors.length && parsed.value) {
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  errors = (template.errors ?? []).map((e) => String(e.Message ?? e));
}
process.stdout.write(JSON.stringify(errors));
`;

function validate(content: string): string[] {
  const r = spawnSync(TSX, ["--input-type=module", "--eval", VALIDATOR], { cwd: ROOT, input: content, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`validator failed to run: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}
const workflow = parseYaml(CONTENT) as {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, { env?: Record<string, string>; steps: Step[] }>;
};
const job = Object.values(workflow.jobs)[0] as { env?: Record<string, string>; steps: Step[] };
const steps = job.steps;
const step = (pattern: RegExp) => steps.find((s) => pattern.test(s.name ?? "")) as Step;

describe("cost.yml", () => {
  it("passes GitHub's workflow parser with no errors", () => {
    expect(validate(CONTENT)).toEqual([]);
  });

  it.each([
    ["an unknown job key", (c: string) => c.replace("runs-on:", "runs-onn:"), /Unexpected value 'runs-onn'/],
    ["secrets in a step condition", (c: string) => c.replace("if: env.HAS_CLOUD_SECRETS == 'true'", "if: secrets.X != ''"), /Unrecognized named-value: 'secrets'/],
  ])("the validator rejects %s (negative control)", (_label, mutate, message) => {
    const errors = validate(mutate(CONTENT));
    expect(errors.join("\n")).toMatch(message);
  });

  it("runs on pull requests and may write pull-request comments, nothing more", () => {
    expect(Object.keys(workflow.on)).toEqual(["pull_request"]);
    expect(workflow.permissions).toEqual({ contents: "read", "pull-requests": "write" });
  });

  it("pins every action to a full commit SHA", () => {
    const uses = steps.filter((s) => s.uses).map((s) => s.uses as string);
    expect(uses.length).toBeGreaterThanOrEqual(5);
    for (const u of uses) expect(u).toMatch(/^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/);
    expect(CONTENT).toMatch(/pulumi\/actions@[0-9a-f]{40} # v\d/);
    expect(CONTENT).toMatch(/marocchino\/sticky-pull-request-comment@[0-9a-f]{40} # v\d/);
  });

  it("checks out base and head, installs with npm ci, plans every Pulumi.<stack>.yaml on both", () => {
    const checkouts = steps.filter((s) => s.uses?.startsWith("actions/checkout@"));
    expect(checkouts.map((s) => s.with?.path)).toEqual(["head", "base"]);
    expect(checkouts[1]?.with?.ref).toBe("${{ github.event.pull_request.base.sha }}");
    expect(steps.filter((s) => s.run?.trim() === "npm ci")).toHaveLength(2);
    const plan = step(/Plan every stack/).run ?? "";
    expect(plan).toContain("for file in head/Pulumi.*.yaml");
    expect(plan).toContain('(cd base && npm run --silent plan -- --stack "$stack" --json --write-state "$out/base-$stack.state.json")');
    expect(plan).toContain('head_args+=(--state "$base_state")');
    expect(plan).toContain('(cd head && npm run --silent plan -- "${head_args[@]}")');
    expect(plan).toContain('npm run --silent cost -- "${args[@]}" --markdown');
  });

  it("fails on data loss only after the comment is posted, whatever the fork", () => {
    const names = steps.map((s) => s.name ?? "");
    const fail = names.findIndex((n) => /lose data/.test(n));
    expect(fail).toBeGreaterThan(names.findIndex((n) => /comment/i.test(n)));
    expect(steps[fail]?.if).toBeUndefined();
  });

  it("runs pulumi preview --json only when both cloud secrets exist", () => {
    expect(job.env?.HAS_CLOUD_SECRETS).toBe("${{ secrets.PULUMI_ACCESS_TOKEN != '' && secrets.DIGITALOCEAN_TOKEN != '' }}");
    const install = steps.find((s) => s.uses?.startsWith("pulumi/actions@")) as Step;
    const preview = step(/Preview every stack/);
    for (const s of [install, preview]) expect(s.if).toBe("env.HAS_CLOUD_SECRETS == 'true'");
    expect(preview.run).toContain('pulumi preview --stack "$stack" --json --show-sames');
    expect(preview.run).toContain('npm run --silent cost -- "${previews[@]}" --markdown');
    expect(Object.keys(preview.env ?? {}).sort()).toEqual(["DIGITALOCEAN_TOKEN", "PULUMI_ACCESS_TOKEN"]);
  });

  it("posts or updates one sticky comment from the report file", () => {
    const comment = step(/sticky|comment/i);
    expect(comment.uses).toMatch(/^marocchino\/sticky-pull-request-comment@/);
    expect(comment.with).toEqual({ header: "monthly-cost", path: "${{ runner.temp }}/cost/comment.md" });
  });

  it("splices no expression into a shell script", () => {
    for (const s of steps.filter((x) => x.run)) expect(s.run, s.name).not.toContain("${{");
  });

  it("every shell step passes shellcheck (bash)", () => {
    const dir = mkdtempSync(join(tmpdir(), "cost-wf-"));
    try {
      steps
        .filter((s) => s.run)
        .forEach((s, i) => {
          const file = join(dir, `step-${i}.sh`);
          writeFileSync(file, `#!/usr/bin/env bash\n${s.run}`);
          const r = spawnSync("shellcheck", ["--shell=bash", file], { encoding: "utf8" });
          expect(r.status, `${s.name}:\n${r.stdout}${r.stderr}`).toBe(0);
        });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * The plan step and the data-loss step run for real (bash, npm, jq, the head's plan and cost) in a sandbox: `head` is
 * a copy of this repository with the dev stack only; `base` is a stand-in whose `npm run plan` prints the dev plan
 * and, for --write-state, copies a prepared state (as a base commit with the state-writing plan would), or refuses
 * --write-state (as a base commit from before it).
 */
describe("cost.yml against a base state", () => {
  const work = mkdtempSync(join(tmpdir(), "cost-wf-run-"));
  const script = (pattern: RegExp) => step(pattern).run as string;
  let basePlan = "";
  let baseState: { deployment: { resources: { type: string; inputs: Record<string, unknown> }[] } };

  beforeAll(() => {
    const head = join(work, "head");
    mkdirSync(head);
    for (const f of ["infra", "scripts", "package.json", "tsconfig.json", "Pulumi.yaml", "Pulumi.dev.yaml"]) cpSync(join(ROOT, f), join(head, f), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(head, "node_modules"));
    const state = join(work, "dev-state.json");
    const r = spawnSync("npm", ["run", "--silent", "plan", "--", "--stack", "dev", "--json", "--write-state", state], { cwd: head, encoding: "utf8" });
    if (r.status !== 0) throw new Error(`plan failed: ${r.stderr}`);
    basePlan = r.stdout;
    baseState = JSON.parse(readFileSync(state, "utf8"));
  }, 120_000);
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  function runWorkflow(name: string, base: { state?: unknown; writesState: boolean }) {
    const dir = join(work, name);
    const baseDir = join(dir, "base");
    mkdirSync(baseDir, { recursive: true });
    symlinkSync(join(work, "head"), join(dir, "head"));
    writeFileSync(join(baseDir, "Pulumi.dev.yaml"), "");
    writeFileSync(join(baseDir, "plan.json"), basePlan);
    if (base.state) writeFileSync(join(baseDir, "state.json"), JSON.stringify(base.state));
    writeFileSync(join(baseDir, "package.json"), JSON.stringify({ scripts: { plan: "node fake-plan.js" } }));
    writeFileSync(
      join(baseDir, "fake-plan.js"),
      `const fs = require("node:fs");
const i = process.argv.indexOf("--write-state");
if (i >= 0 && !${base.writesState}) { console.error("error: unknown option '--write-state'"); process.exit(1); }
if (i >= 0) fs.copyFileSync("state.json", process.argv[i + 1]);
process.stdout.write(fs.readFileSync("plan.json", "utf8"));
`,
    );
    const env = { ...process.env, RUNNER_TEMP: join(dir, "tmp"), BASE_INSTALL: "success" };
    const bash = (pattern: RegExp) => spawnSync("bash", ["-c", script(pattern)], { cwd: dir, env, encoding: "utf8" });
    const plan = bash(/Plan every stack/);
    const comment = plan.status === 0 ? readFileSync(join(dir, "tmp", "cost", "comment.md"), "utf8") : "";
    return { plan, comment, fail: bash(/lose data/) };
  }

  it("a base state the head keeps as it is: the cost comment alone, the check passes", () => {
    const r = runWorkflow("clean", { state: baseState, writesState: true });
    expect(r.plan.status, r.plan.stderr).toBe(0);
    expect(r.comment).toMatch(/^### /);
    expect(r.comment).not.toContain("lose data");
    expect(r.comment).toContain("| dev |");
    expect(r.fail.status).toBe(0);
  }, 120_000);

  it("a base whose volume the head would replace: the volume named at the top of the comment, the check fails", () => {
    const state = structuredClone(baseState);
    state.deployment.resources.find((x) => x.type === "digitalocean:index/volume:Volume")!.inputs.name = "renamed-by-hand";
    const r = runWorkflow("loss", { state, writesState: true });
    expect(r.plan.status, r.plan.stderr).toBe(0);
    expect(r.comment).toMatch(/^### This change would lose data\n\n> \*\*Data loss \(dev\):\*\* `app-4gb-volume` \(`digitalocean:index\/volume:Volume`\) would be replaced: volume replaced \(name cannot change in place\)/);
    expect(r.comment).toContain("| dev |"); // the cost report follows
    expect(r.fail.status).toBe(1);
    expect(r.fail.stdout).toMatch(/^::error title=Data loss \(dev\)::app-4gb-volume \(digitalocean:index\/volume:Volume\) would be replaced: /m);
  }, 120_000);

  it("a base from before --write-state: priced as before, not checked, and says so", () => {
    const r = runWorkflow("old", { writesState: false });
    expect(r.plan.status, r.plan.stderr).toBe(0);
    expect(r.plan.stdout).toContain("::notice::stack dev has no state from the base commit: not checked for data loss");
    expect(r.comment).toContain("| dev |");
    expect(r.comment).not.toContain("lose data");
    expect(r.fail.status).toBe(0);
  }, 120_000);
});
