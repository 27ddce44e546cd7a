/**
 * .github/workflows/cost.yml, checked by GitHub's own parser (@actions/workflow-parser: schema, expressions,
 * context availability) and its shell steps by shellcheck. Negative controls show the validator can fail.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  PINNED,
  readWorkflow,
  ROOT,
  shellcheckSteps,
  type Step,
  validateWorkflow as validate,
} from "../support/workflows";

const { content: CONTENT, workflow, steps } = readWorkflow("cost.yml");
const job = Object.values(workflow.jobs)[0]!;
const step = (pattern: RegExp) => steps.find((s) => pattern.test(s.name ?? "")) as Step;

describe("cost.yml", () => {
  it("passes GitHub's workflow parser with no errors", () => {
    expect(validate(CONTENT)).toEqual([]);
  });

  it.each([
    ["an unknown job key", (c: string) => c.replace("runs-on:", "runs-onn:"), /Unexpected value 'runs-onn'/],
    [
      "secrets in a step condition",
      (c: string) => c.replace("if: env.HAS_CLOUD_SECRETS == 'true'", "if: secrets.X != ''"),
      /Unrecognized named-value: 'secrets'/,
    ],
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
    for (const u of uses) expect(u).toMatch(PINNED);
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
    expect(plan).toContain(
      '(cd base && npm run --silent plan -- --stack "$stack" --json --write-state "$out/base-$stack.state.json")',
    );
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

  it("runs pulumi preview --json with the policy pack only when both cloud secrets exist, with prod's passphrase from a secret", () => {
    expect(job.env?.HAS_CLOUD_SECRETS).toBe(
      "${{ secrets.PULUMI_ACCESS_TOKEN != '' && secrets.DIGITALOCEAN_TOKEN != '' }}",
    );
    const install = steps.find((s) => s.uses?.startsWith("pulumi/actions@")) as Step;
    const preview = step(/Preview every stack/);
    for (const s of [install, preview, step(/real preview failed/)])
      expect(s.if).toBe("env.HAS_CLOUD_SECRETS == 'true'");
    expect(preview.run).toContain(
      'pulumi preview --stack "$stack" --json --show-sames --non-interactive --policy-pack policy',
    );
    expect(preview.run).toContain('npm run --silent cost -- "${previews[@]}" --markdown');
    expect(preview.env).toEqual({
      PULUMI_ACCESS_TOKEN: "${{ secrets.PULUMI_ACCESS_TOKEN }}",
      DIGITALOCEAN_TOKEN: "${{ secrets.DIGITALOCEAN_TOKEN }}",
      PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
    });
    // prod is encrypted with the passphrase provider: without the passphrase its preview cannot decrypt a secret.
    expect(readFileSync(join(ROOT, "Pulumi.prod.yaml"), "utf8")).toMatch(/^encryptionsalt: v1:/m);
  });

  it("posts or updates one sticky comment from the report file", () => {
    const comment = step(/sticky|comment/i);
    expect(comment.uses).toMatch(/^marocchino\/sticky-pull-request-comment@/);
    expect(comment.with).toEqual({ header: "monthly-cost", path: "${{ runner.temp }}/cost/comment.md" });
  });

  it("splices no expression into a shell script", () => {
    for (const s of steps.filter((x) => x.run)) expect(s.run, s.name).not.toContain("${{");
  });

  it("the limits step passes --fail-above and --fail-above-transient only for the variables that are set", () => {
    const limits = step(/Enforce the cost limits/);
    expect(limits.if).toBe("env.COST_FAIL_ABOVE != '' || env.COST_FAIL_ABOVE_TRANSIENT != ''");
    expect(job.env).toMatchObject({
      COST_FAIL_ABOVE: "${{ vars.COST_FAIL_ABOVE }}",
      COST_FAIL_ABOVE_TRANSIENT: "${{ vars.COST_FAIL_ABOVE_TRANSIENT }}",
    });
    // The step's script with `npm` as a stand-in that prints the arguments it got.
    const dir = mkdtempSync(join(tmpdir(), "cost-limits-"));
    try {
      mkdirSync(join(dir, "cost"));
      writeFileSync(join(dir, "cost", "args"), "--base\nb.json\n--head\nh.json\n");
      writeFileSync(join(dir, "npm"), '#!/bin/sh\necho "$@" > "$RUNNER_TEMP/npm-args"\n');
      chmodSync(join(dir, "npm"), 0o755);
      const run = (env: Record<string, string>) => {
        const r = spawnSync("bash", ["-c", limits.run as string], {
          cwd: dir,
          env: {
            PATH: `${dir}:${process.env.PATH}`,
            RUNNER_TEMP: dir,
            COST_FAIL_ABOVE: "",
            COST_FAIL_ABOVE_TRANSIENT: "",
            ...env,
          },
          encoding: "utf8",
        });
        expect(r.status, r.stderr).toBe(0);
        return readFileSync(join(dir, "npm-args"), "utf8").trim();
      };
      expect(run({ COST_FAIL_ABOVE: "50" })).toBe("run --silent cost -- --base b.json --head h.json --fail-above 50");
      expect(run({ COST_FAIL_ABOVE_TRANSIENT: "5" })).toBe(
        "run --silent cost -- --base b.json --head h.json --fail-above-transient 5",
      );
      expect(run({ COST_FAIL_ABOVE: "50", COST_FAIL_ABOVE_TRANSIENT: "5" })).toBe(
        "run --silent cost -- --base b.json --head h.json --fail-above 50 --fail-above-transient 5",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every shell step passes shellcheck (bash)", () => {
    expect(shellcheckSteps(steps)).toEqual([]);
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
    for (const f of ["infra", "scripts", "package.json", "tsconfig.json", "Pulumi.yaml", "Pulumi.dev.yaml"])
      cpSync(join(ROOT, f), join(head, f), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(head, "node_modules"));
    const state = join(work, "dev-state.json");
    const r = spawnSync("npm", ["run", "--silent", "plan", "--", "--stack", "dev", "--json", "--write-state", state], {
      cwd: head,
      encoding: "utf8",
    });
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
    state.deployment.resources.find((x) => x.type === "digitalocean:index/volume:Volume")!.inputs.name =
      "renamed-by-hand";
    const r = runWorkflow("loss", { state, writesState: true });
    expect(r.plan.status, r.plan.stderr).toBe(0);
    expect(r.comment).toMatch(
      /^### This change would lose data\n\n> \*\*Data loss \(dev\):\*\* `app-4gb-volume` \(`digitalocean:index\/volume:Volume`\) would be replaced: volume replaced \(name cannot change in place\)/,
    );
    expect(r.comment).toContain("| dev |"); // the cost report follows
    expect(r.fail.status).toBe(1);
    expect(r.fail.stdout).toMatch(
      /^::error title=Data loss \(dev\)::app-4gb-volume \(digitalocean:index\/volume:Volume\) would be replaced: /m,
    );
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

/**
 * The real-preview step runs for real (bash, jq, the head's cost command) with a stand-in `pulumi` on PATH: dev's
 * preview succeeds (a recorded `pulumi preview --json`), prod's fails as it does without the passphrase. The comment
 * still gets the priced dev preview and says prod's failed, with its diagnostics; the check fails afterwards.
 */
describe("cost.yml when a real preview fails", () => {
  const work = mkdtempSync(join(tmpdir(), "cost-wf-preview-"));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const run = (pattern: RegExp, cwd: string, env: Record<string, string>) =>
    spawnSync("bash", ["-c", step(pattern).run as string], { cwd, env: { ...process.env, ...env }, encoding: "utf8" });

  it("posts the comment saying which preview failed, then fails the check", () => {
    const head = join(work, "head");
    mkdirSync(head);
    for (const f of [
      "infra",
      "scripts",
      "package.json",
      "tsconfig.json",
      "Pulumi.yaml",
      "Pulumi.dev.yaml",
      "Pulumi.prod.yaml",
    ])
      cpSync(join(ROOT, f), join(head, f), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(head, "node_modules"));
    const bin = join(work, "bin");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "pulumi"),
      `#!/usr/bin/env bash
echo "$*" >> "${work}/pulumi-calls.log"
stack=""; while [ $# -gt 0 ]; do case "$1" in --stack) stack="$2"; shift 2;; *) shift;; esac; done
if [ "$stack" = dev ]; then cat "${join(ROOT, "tests/fixtures/cost/do-preview-resize-show-sames.json")}"; exit 0; fi
echo '{"diagnostics":[{"severity":"error","message":"getting secrets manager: passphrase must be set with PULUMI_CONFIG_PASSPHRASE"}]}'
echo "error: preview failed" >&2
exit 255
`,
    );
    chmodSync(join(bin, "pulumi"), 0o755);
    const temp = join(work, "tmp");
    mkdirSync(join(temp, "cost"), { recursive: true });
    writeFileSync(join(temp, "cost", "comment.md"), "### The offline report\n");
    const env = { RUNNER_TEMP: temp, PATH: `${bin}:${process.env.PATH}`, PULUMI_CONFIG_PASSPHRASE: "" };

    const preview = run(/Preview every stack/, head, env);
    expect(preview.status, preview.stderr).toBe(0);
    expect(preview.stdout).toContain("::error title=pulumi preview failed (prod)::exit 255");
    expect(readFileSync(join(work, "pulumi-calls.log"), "utf8").trim().split("\n")).toEqual([
      "preview --stack dev --json --show-sames --non-interactive --policy-pack policy",
      "preview --stack prod --json --show-sames --non-interactive --policy-pack policy",
    ]);
    const comment = readFileSync(join(temp, "cost", "comment.md"), "utf8");
    expect(comment).toMatch(
      /^### The offline report\n\n---\n\n#### From pulumi preview, against the deployed stacks\n\n> \*\*pulumi preview failed for stack `prod`\*\*/,
    );
    expect(comment).toContain(
      "error: getting secrets manager: passphrase must be set with PULUMI_CONFIG_PASSPHRASE\nerror: preview failed\n```",
    );
    expect(comment).toMatch(/\| (dev|do-dev|[^|]*dev[^|]*) \|/); // the priced dev preview follows

    const fail = run(/real preview failed/, work, env);
    expect(fail.status).toBe(1);
    expect(fail.stdout).toContain("::error title=pulumi preview failed (prod)::exit 255");
    const names = steps.map((s) => s.name ?? "");
    expect(names.findIndex((n) => /real preview failed/.test(n))).toBeGreaterThan(
      names.findIndex((n) => /Post or update the cost comment/.test(n)),
    );
  }, 120_000);

  it("passes when every real preview succeeds", () => {
    const temp = join(work, "tmp-ok");
    mkdirSync(join(temp, "cost"), { recursive: true });
    writeFileSync(join(temp, "cost", "preview-failed.txt"), "");
    expect(run(/real preview failed/, work, { RUNNER_TEMP: temp }).status).toBe(0);
  });
});
