/**
 * .github/workflows/cost.yml, checked by GitHub's own parser (@actions/workflow-parser: schema, expressions,
 * context availability) and its shell steps by shellcheck. Negative controls show the validator can fail.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
    expect(plan).toContain('(cd head && npm run --silent plan -- --stack "$stack" --json)');
    expect(plan).toContain('(cd base && npm run --silent plan -- --stack "$stack" --json)');
    expect(plan).toContain('npm run --silent cost -- "${args[@]}" --markdown');
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
