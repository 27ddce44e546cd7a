/**
 * The cost of prod's tier change 8gb -> 16gb as an operator budgets it, end to end through `npm run plan` and
 * `npm run cost` against the state prod leaves today (tests/fixtures/state/v1-prod-8gb.json), with the prices of
 * infra/pricing.ts: the steady state is the headline, the overlap its own line, and the old server's volume, kept at
 * DigitalOcean when the server is dropped, stays in the cost (and in the stack's record) until it is deleted.
 * docs/cost.md's example (dev 4gb -> 8gb) is held to the comment the same commands print.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runScript } from "../support/run-script";
import { ROOT } from "./run-stack";

const STATE = join(ROOT, "tests", "fixtures", "state", "v1-prod-8gb.json");
const dir = mkdtempSync(join(tmpdir(), "cost-tier-change-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = runScript;

/** `npm run plan -- --json` to a file; returns the parsed document. */
function plan(out: string, ...args: string[]) {
  const r = run("plan.ts", ["--stack", "prod", "--json", ...args]);
  expect(r.status, r.stderr).toBe(0);
  writeFileSync(join(dir, out), r.stdout);
  return JSON.parse(r.stdout) as {
    monthlyCost: number;
    afterWindow?: { monthlyCost: number; transient: number; hours: number; drops: { name: string }[] };
    retainedVolumes?: { volumeName: string; volumeId?: string; monthlyCost: number; deleteCommand: string }[];
    operations: { name: string; op: string }[];
    outputs: { deployment: { retainedVolumes?: unknown[] }; monthlyCost: number };
  };
}

const cost = (...args: string[]) => run("cost.ts", args);

describe("prod 8gb -> 16gb, planned against prod's state", () => {
  const project = join(dir, "project");
  beforeAll(() => {
    rmSync(project, { recursive: true, force: true });
    mkdirSync(project, { recursive: true });
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    const prod = readFileSync(join(ROOT, "Pulumi.prod.yaml"), "utf8");
    expect(prod).toContain("chatbot:tier: 8gb");
    writeFileSync(join(project, "Pulumi.prod.yaml"), prod.replace("chatbot:tier: 8gb", "chatbot:tier: 16gb"));
  });

  it("the headline is the steady state (+$72.40: the 16gb server, the 8gb volume kept), the overlap $2.28 once", () => {
    const base = plan("base.json", "--state", STATE);
    expect(base.monthlyCost).toBe(73.4); // s-4vcpu-8gb $48 + daily backups 30 %, 100 GiB volume $10, uptime check $1
    expect(base.afterWindow).toBeUndefined();
    const head = plan("head.json", "--state", STATE, "--project-dir", project, "--write-state", join(dir, "s1.json"));
    // While both servers run: +$134.80, what the comment used to headline.
    expect(head.monthlyCost).toBe(208.2);
    expect(head.afterWindow).toMatchObject({ monthlyCost: 145.8, hours: 24.5, transient: 2.28 });
    expect(head.afterWindow?.drops.map((d) => d.name)).toContain("app-8gb-droplet");
    expect(head.afterWindow?.drops.map((d) => d.name)).not.toContain("app-8gb-volume");

    const md = cost("--base", join(dir, "base.json"), "--head", join(dir, "head.json"), "--markdown");
    expect(md.status, md.stderr).toBe(0);
    expect(md.stdout).toContain("### Monthly cost will increase by $72.40 (+99%) once the migration window has passed");
    expect(md.stdout).not.toContain("$134.80 (+184%)");
    expect(md.stdout).toMatch(/Once, for the overlap: \$2\.28\. The 8gb server .* while both run, \$208\.20\/month/);
    expect(md.stdout).toContain(
      "volume `chatbot-prod-8gb-data` (100 GiB) of the dropped 8gb server stays at DigitalOcean (retainOnDelete): $10.00/month",
    );
    expect(md.stdout).toContain("`doctl compute volume delete app-8gb-volume-id`");

    const json = JSON.parse(cost("--base", join(dir, "base.json"), "--head", join(dir, "head.json"), "--json").stdout);
    expect(json).toMatchObject({ diff: { monthly: 72.4 }, transient: 2.28 });
    expect(json.stacks[0].window).toMatchObject({ running: true, during: { after: 208.2, diff: 134.8 } });
  });

  it("the plan's text says the same under its monthly cost", () => {
    const r = run("plan.ts", ["--stack", "prod", "--state", STATE, "--project-dir", project]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      "Monthly cost: $208.20\n  once the 8gb server is dropped: $145.80; until then (about 24.5 h: the migration and its window) it costs $2.28 more, billed per second\n  retained volume chatbot-prod-8gb-data (100 GiB, of the 8gb server, once it is dropped): $10.00/month until you delete it: doctl compute volume delete app-8gb-volume-id\n",
    );
  });

  it("--fail-above judges the steady state, --fail-above-transient the overlap", () => {
    const pair = ["--base", join(dir, "base.json"), "--head", join(dir, "head.json")];
    expect(cost(...pair, "--fail-above", "72.40").status).toBe(0);
    const above = cost(...pair, "--fail-above", "72");
    expect(above.status).toBe(1);
    expect(above.stderr).toContain("the steady-state monthly increase $72.40 is above --fail-above $72.00");
    expect(cost(...pair, "--fail-above", "100", "--fail-above-transient", "2.28").status).toBe(0);
    const transient = cost(...pair, "--fail-above", "100", "--fail-above-transient", "2");
    expect(transient.status).toBe(1);
    expect(transient.stderr).toContain("the overlap's one-off cost $2.28 is above --fail-above-transient $2.00");
    expect(cost(...pair, "--fail-above-transient", "-1").status).toBe(2);
  });

  it("after the window: the drop records the kept volume; the next plans bill it until it is deleted", () => {
    // The state the migration's `pulumi up` left, its commit moved 25 h back: the 24 h retention has passed.
    const s1 = JSON.parse(readFileSync(join(dir, "s1.json"), "utf8"));
    const stack = s1.deployment.resources[0];
    stack.outputs.deployment.migration.committedAt = new Date(Date.now() - 25 * 3600_000).toISOString();
    writeFileSync(join(dir, "s1-late.json"), JSON.stringify(s1));
    // Prod: the first update past the retention takes the old server's protection off; the next drops it.
    const release = plan(
      "release.json",
      "--state",
      join(dir, "s1-late.json"),
      "--project-dir",
      project,
      "--write-state",
      join(dir, "s1-released.json"),
    );
    expect(release.operations.filter((o) => o.op === "delete")).toEqual([]);
    expect(release.retainedVolumes ?? []).toEqual([]);
    const drop = plan(
      "drop.json",
      "--state",
      join(dir, "s1-released.json"),
      "--project-dir",
      project,
      "--write-state",
      join(dir, "s2.json"),
    );
    expect(drop.operations.find((o) => o.name === "app-8gb-droplet")?.op).toBe("delete");
    expect(drop.afterWindow).toBeUndefined();
    expect(drop.retainedVolumes).toEqual([
      expect.objectContaining({
        volumeName: "chatbot-prod-8gb-data",
        volumeId: "app-8gb-volume-id",
        monthlyCost: 10,
        deleteCommand: "doctl compute volume delete app-8gb-volume-id",
      }),
    ]);
    expect(drop.monthlyCost).toBe(145.8);
    expect(drop.outputs.deployment.retainedVolumes).toHaveLength(1);
    expect(drop.outputs.monthlyCost).toBe(145.8);

    // Read back from the record by the next plan: still billed, still listed in the comment.
    const next = plan("next.json", "--state", join(dir, "s2.json"), "--project-dir", project);
    expect(next.operations.filter((o) => o.op !== "same")).toEqual([]);
    expect(next.monthlyCost).toBe(145.8);
    expect(next.retainedVolumes?.map((v) => v.volumeName)).toEqual(["chatbot-prod-8gb-data"]);
    const md = cost("--base", join(dir, "drop.json"), "--head", join(dir, "next.json"), "--markdown");
    expect(md.stdout).toContain("### Monthly cost will not change");
    expect(md.stdout).toContain("`doctl compute volume delete app-8gb-volume-id`");

    // The deployed stack as `pulumi stack export` gives it: the volume is out of the state but in the record.
    const current = JSON.parse(cost("--stack-export", join(dir, "s2.json"), "--json").stdout);
    expect(current.after.monthly).toBe(145.8);
    expect(current.stacks[0].retainedVolumes.map((v: { volumeName: string }) => v.volumeName)).toEqual([
      "chatbot-prod-8gb-data",
    ]);
    const againstExport = JSON.parse(
      cost("--stack-export", join(dir, "s2.json"), "--head", join(dir, "next.json"), "--json").stdout,
    );
    expect(againstExport.diff.monthly).toBe(0);
    // Negative control: the export before the drop has no retained volume.
    const beforeDrop = JSON.parse(cost("--stack-export", join(dir, "s1-released.json"), "--json").stdout);
    expect(beforeDrop.stacks[0].retainedVolumes).toEqual([]);
  });
});

describe("docs/cost.md's example: dev 4gb -> 8gb, planned against its state", () => {
  it("every paragraph it shows is in the comment", () => {
    const project = join(dir, "dev-project");
    mkdirSync(project, { recursive: true });
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    const dev = readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8");
    writeFileSync(join(project, "Pulumi.dev.yaml"), dev.replace("chatbot:tier: 4gb", "chatbot:tier: 8gb"));
    const state = join(dir, "dev-4gb.json");
    const devPlan = (out: string, ...args: string[]) => {
      const r = run("plan.ts", ["--stack", "dev", "--json", ...args]);
      expect(r.status, r.stderr).toBe(0);
      writeFileSync(join(dir, out), r.stdout);
    };
    devPlan("dev-first.json", "--write-state", state);
    devPlan("dev-base.json", "--state", state);
    devPlan("dev-head.json", "--state", state, "--project-dir", project);
    const md = cost("--base", join(dir, "dev-base.json"), "--head", join(dir, "dev-head.json"), "--markdown");
    expect(md.status, md.stderr).toBe(0);

    // Paragraphs as one line each, quote marks off: the page wraps the comment's long lines. The volume's id is the
    // offline plan's placeholder; the page writes <id>.
    const paragraphs = (text: string) =>
      text
        .split(/\n\s*\n/)
        .map((p) => p.replace(/^> ?/gm, "").replace(/\s+/g, " ").trim())
        .filter(Boolean);
    const docs = readFileSync(join(ROOT, "docs", "cost.md"), "utf8");
    const shown = /```\n(### Monthly cost will[\s\S]*?)\n```/.exec(docs)?.[1] ?? "";
    expect(paragraphs(shown).length).toBe(4);
    const comment = paragraphs(md.stdout.replaceAll("app-4gb-volume-id", "<id>")).join("\n");
    for (const p of paragraphs(shown)) expect(comment, "docs/cost.md").toContain(p);
  }, 120_000);
});
