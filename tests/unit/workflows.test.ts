/**
 * Every GitHub workflow: GitHub's own parser accepts it, every action is pinned to a full commit SHA with its tag in a
 * comment, no expression is spliced into a shell script, every script passes shellcheck. Then what each one is for:
 * test.yml runs `.ci/run` on every pull request and push; drift.yml previews each deployed stack daily, tells drift
 * from the expected drop of a rollback target and opens an issue on drift (its check runs for real against a
 * stand-in `pulumi`, its issue step against a stand-in `gh`); deploy.yml runs
 * `pulumi up --policy-pack policy` on merge to main, dev first, prod behind the `production` environment's approval.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  type Job,
  PINNED,
  readWorkflow,
  ROOT,
  shellcheckSteps,
  type Step,
  validateWorkflow,
} from "../support/workflows";

const FILES = readdirSync(join(ROOT, ".github/workflows"))
  .filter((f) => f.endsWith(".yml"))
  .sort();
const PULUMI_ACTIONS = "pulumi/actions@8e5e406f4007fca908480587cb9893c07090f58d";
const CLOUD_SECRETS = {
  PULUMI_ACCESS_TOKEN: "${{ secrets.PULUMI_ACCESS_TOKEN }}",
  DIGITALOCEAN_TOKEN: "${{ secrets.DIGITALOCEAN_TOKEN }}",
  PULUMI_CONFIG_PASSPHRASE: "${{ secrets.PULUMI_CONFIG_PASSPHRASE }}",
};

describe.each(FILES)("%s", (file) => {
  const { content, steps } = readWorkflow(file);

  it("passes GitHub's workflow parser with no errors", () => {
    expect(validateWorkflow(content)).toEqual([]);
  });

  it("pins every action to a full commit SHA, its tag in a comment", () => {
    const uses = steps.filter((s) => s.uses).map((s) => s.uses as string);
    for (const u of uses) {
      expect(u).toMatch(PINNED);
      expect(content).toMatch(new RegExp(`uses: ${u.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")} # v\\d`));
    }
  });

  it("splices no expression into a shell script, and every script passes shellcheck", () => {
    for (const s of steps.filter((x) => x.run)) expect(s.run, s.name).not.toContain("${{");
    expect(shellcheckSteps(steps)).toEqual([]);
  });
});

it("the workflows are the four this repository documents (negative control: the parser rejects a broken one)", () => {
  expect(FILES).toEqual(["cost.yml", "deploy.yml", "drift.yml", "test.yml"]);
  expect(
    validateWorkflow(readWorkflow("deploy.yml").content.replace("environment: production", "environment: [production")),
  ).not.toEqual([]);
});

describe("test.yml", () => {
  const { workflow, steps } = readWorkflow("test.yml");

  it("runs .ci/run on every pull request and every push, read-only, in the Debian release the tests' tools come from", () => {
    expect(Object.keys(workflow.on).sort()).toEqual(["pull_request", "push"]);
    expect(workflow.on.pull_request ?? null).toBeNull(); // every branch, every path
    expect(workflow.on.push ?? null).toBeNull();
    expect(workflow.permissions).toEqual({ contents: "read" });
    expect(workflow.jobs.test?.container).toBe("debian:bookworm");
    expect(steps.at(-1)?.run).toBe(".ci/run");
    expect(readFileSync(join(ROOT, ".ci/run"), "utf8")).toMatch(/npm ci --no-audit --no-fund\nnpm test/);
  });
});

describe("drift.yml", () => {
  const { workflow, steps } = readWorkflow("drift.yml");
  const job = workflow.jobs.drift as Job;
  const preview = steps.find((s) => s.id === "preview") as Step;

  it("runs daily (and by hand) for each deployed stack, with the permission to open issues", () => {
    expect(Object.keys(workflow.on).sort()).toEqual(["schedule", "workflow_dispatch"]);
    expect((workflow.on.schedule as { cron: string }[])[0]?.cron).toMatch(/^\d+ \d+ \* \* \*$/);
    expect(job.strategy?.matrix?.stack).toEqual(["dev", "prod"]);
    for (const stack of ["dev", "prod"]) expect(existsSync(join(ROOT, `Pulumi.${stack}.yaml`))).toBe(true);
    expect(workflow.permissions).toEqual({ contents: "read", issues: "write" });
  });

  it("installs the CLI through pulumi/actions, previews with refresh and the policy pack, the failure kept for the next steps", () => {
    const install = steps.find((s) => s.uses?.startsWith("pulumi/actions@")) as Step;
    expect(install.uses).toBe(PULUMI_ACTIONS);
    expect(install.with).toBeUndefined();
    expect(preview.run).toContain(
      'pulumi preview --stack "$STACK" --refresh --json --non-interactive --policy-pack policy',
    );
    expect(preview.run).toContain('pulumi stack output --stack "$STACK" --json');
    expect(preview.run).toContain("node --import tsx scripts/drift.ts --stack");
    expect(preview["continue-on-error"]).toBe(true);
    expect(preview.env).toEqual({ ...CLOUD_SECRETS, STACK: "${{ matrix.stack }}" });
    const after = steps.slice(steps.indexOf(preview) + 1);
    expect(after.map((s) => s.if)).toEqual([
      "steps.preview.outcome == 'failure'",
      "steps.preview.outcome == 'failure'",
    ]);
    expect(after.at(-1)?.run?.trim()).toMatch(/exit 1$/);
  });

  describe("the check, run for real (scripts/drift.ts) against a stand-in pulumi", () => {
    const work = mkdtempSync(join(tmpdir(), "drift-check-"));
    afterAll(() => rmSync(work, { recursive: true, force: true }));
    const urn = (type: string, name: string) => `urn:pulumi:prod::chatbot::${type}::${name}`;
    const DROPLET = "digitalocean:index/droplet:Droplet";
    const outputs = (hoursAgo: number) => ({
      migration: {
        state: "done",
        from: "app-8gb",
        to: "app-16gb",
        rollbackTarget: "app-8gb",
        rollbackUntil: new Date(Date.now() - hoursAgo * 3600_000).toISOString(),
      },
      servers: { "app-8gb": { role: "previous", dropletId: "111", volumeId: "vol-1" } },
    });
    const step = (op: string, name: string, size: string, newSize?: string) => ({
      op,
      urn: urn(DROPLET, name),
      oldState: { urn: urn(DROPLET, name), type: DROPLET, custom: true, inputs: { size } },
      ...(newSize
        ? { newState: { urn: urn(DROPLET, name), type: DROPLET, custom: true, inputs: { size: newSize } } }
        : {}),
    });

    function runCheck(name: string, digest: unknown, previewExit = 0, out: unknown = outputs(1)) {
      const bin = join(work, name);
      mkdirSync(bin);
      writeFileSync(join(bin, "preview.json"), JSON.stringify(digest));
      writeFileSync(join(bin, "outputs.json"), JSON.stringify(out));
      writeFileSync(
        join(bin, "pulumi"),
        `#!/usr/bin/env bash\nif [ "$1" = preview ]; then cat "${bin}/preview.json"; exit ${previewExit}; fi\ncat "${bin}/outputs.json"\n`,
      );
      chmodSync(join(bin, "pulumi"), 0o755);
      const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, RUNNER_TEMP: bin, STACK: "prod" };
      const r = spawnSync("bash", ["-c", preview.run as string], { cwd: ROOT, env, encoding: "utf8" });
      return { status: r.status, stderr: r.stderr, report: readFileSync(join(bin, "drift", "report.md"), "utf8") };
    }

    it("the drop of the rollback target after its rollbackUntil: passes, the drop named as expected", () => {
      const r = runCheck("drop", { steps: [step("delete", "app-8gb-droplet", "s-4vcpu-8gb")] });
      expect(r.status, r.stderr).toBe(0);
      expect(r.report).toContain("### No drift in stack `prod`");
      expect(r.report).toContain("Expected, not drift: the rollback target `app-8gb`");
    });

    it("the same drop before rollbackUntil, or a droplet resized by hand: drift, the check fails", () => {
      const early = runCheck("early", { steps: [step("delete", "app-8gb-droplet", "s-4vcpu-8gb")] }, 0, outputs(-1));
      expect(early.status).toBe(1);
      expect(early.report).toContain("### Drift: stack `prod` differs from its program");
      const resized = runCheck("resized", {
        steps: [step("update", "app-16gb-droplet", "s-4vcpu-8gb", "s-8vcpu-16gb")],
      });
      expect(resized.status).toBe(1);
      expect(resized.report).toContain("- `app-16gb-droplet` (`digitalocean:index/droplet:Droplet`): update: size");
    });

    it("a preview that fails (a policy violation): the check fails with the diagnostics in the report", () => {
      const r = runCheck(
        "failed",
        { diagnostics: [{ severity: "error", message: "policy: volume must be retained" }] },
        255,
      );
      expect(r.status).toBe(1);
      expect(r.report).toContain("pulumi preview failed (exit 255)");
      expect(r.report).toContain("error: policy: volume must be retained");
    });
  });

  describe("the issue step, run for real against a stand-in gh", () => {
    const work = mkdtempSync(join(tmpdir(), "drift-wf-"));
    afterAll(() => rmSync(work, { recursive: true, force: true }));
    const issueStep = steps.find((s) => /drift issue/.test(s.name ?? "")) as Step;

    function runIssueStep(openIssue: string) {
      const bin = join(work, `bin-${openIssue || "none"}`);
      mkdirSync(bin);
      const log = join(bin, "calls.log");
      writeFileSync(
        join(bin, "gh"),
        `#!/usr/bin/env bash\nprintf '%s\\n' "$*" >> "${log}"\nif [ "$1 $2" = "issue list" ]; then echo "${openIssue}"; fi\n`,
      );
      chmodSync(join(bin, "gh"), 0o755);
      mkdirSync(join(bin, "drift"));
      writeFileSync(
        join(bin, "drift", "report.md"),
        "### Drift: stack `prod` differs from its program (1 change(s))\n\n- `app-8gb-droplet` (`digitalocean:index/droplet:Droplet`): update: size\n",
      );
      const env = {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        RUNNER_TEMP: bin,
        GITHUB_REPOSITORY: "acme/chatbot-infra",
        STACK: "prod",
        RUN_URL: "https://github.com/acme/chatbot-infra/actions/runs/1",
      };
      const r = spawnSync("bash", ["-c", issueStep.run as string], { env, encoding: "utf8" });
      return { status: r.status, stderr: r.stderr, calls: readFileSync(log, "utf8") };
    }

    it("opens an issue labelled drift, with the stack, the run and the check's report", () => {
      const r = runIssueStep("");
      expect(r.status, r.stderr).toBe(0);
      expect(r.calls).toContain("label create drift --repo acme/chatbot-infra");
      expect(r.calls).toMatch(
        /^issue list --repo acme\/chatbot-infra --state open --label drift --search "Drift: stack prod differs from its program" in:title/m,
      );
      expect(r.calls).toMatch(
        /^issue create --repo acme\/chatbot-infra --title Drift: stack prod differs from its program --label drift --body The scheduled `pulumi preview --refresh --policy-pack policy` of stack `prod` shows drift/m,
      );
      expect(r.calls).toContain("Run: https://github.com/acme/chatbot-infra/actions/runs/1");
      expect(r.calls).toContain("- `app-8gb-droplet` (`digitalocean:index/droplet:Droplet`): update: size");
    });

    it("comments on the open drift issue instead of opening another", () => {
      const r = runIssueStep("42");
      expect(r.status, r.stderr).toBe(0);
      expect(r.calls).toMatch(/^issue comment 42 --repo acme\/chatbot-infra --body /m);
      expect(r.calls).not.toMatch(/^issue create/m);
    });
  });
});

describe("deploy.yml", () => {
  const { workflow } = readWorkflow("deploy.yml");
  const upOf = (job: Job) => job.steps.find((s) => s.uses?.startsWith("pulumi/actions@")) as Step;

  it("runs on merge to main (and by hand), one deploy at a time", () => {
    expect(workflow.on).toMatchObject({ push: { branches: ["main"] } });
    expect(Object.keys(workflow.on).sort()).toEqual(["push", "workflow_dispatch"]);
    expect((workflow as unknown as { concurrency: unknown }).concurrency).toEqual({
      group: "deploy",
      "cancel-in-progress": false,
    });
    expect(workflow.permissions).toEqual({ contents: "read" });
  });

  it("deploys dev, then prod behind the production environment, both with pulumi up --policy-pack policy", () => {
    expect(Object.keys(workflow.jobs)).toEqual(["dev", "prod"]);
    const { dev, prod } = workflow.jobs as { dev: Job; prod: Job };
    expect(prod.needs).toBe("dev");
    expect(prod.environment).toBe("production");
    for (const [stack, job] of [
      ["dev", dev],
      ["prod", prod],
    ] as const) {
      const up = upOf(job);
      expect(up.uses).toBe(PULUMI_ACTIONS);
      expect(up.with).toEqual({ command: "up", "stack-name": stack, policyPacks: "policy", "suppress-progress": true });
      expect(up.env).toEqual(CLOUD_SECRETS);
      expect(job.steps.map((s) => s.run?.trim()).filter(Boolean)[0]).toBe("npm ci"); // installs the policy pack (a workspace)
    }
  });

  it("loads the deploy key into an ssh-agent for the config sync, or leaves it to the stack's sshPrivateKey", () => {
    const load = (workflow.jobs.prod as Job).steps.find((s) => /ssh-agent/.test(s.name ?? "")) as Step;
    expect(load.env).toEqual({ DEPLOY_SSH_KEY: "${{ secrets.DEPLOY_SSH_KEY }}" });
    const r = spawnSync("bash", ["-c", load.run as string], {
      env: { ...process.env, DEPLOY_SSH_KEY: "" },
      encoding: "utf8",
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("::notice::no DEPLOY_SSH_KEY");
  });
});
