/**
 * Parsing the Pulumi CLI's JSON: the real outputs in /work/shared/fixtures/pulumi-json (AWS and others: not priced,
 * no crash, operations counted as the CLI counted them) and our DigitalOcean outputs in tests/fixtures/cost (same
 * shapes).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildCostReport, estimateMonthly } from "../../infra/cost";
import {
  parsePulumiJson,
  parseUrn,
  type ParsedExport,
  type ParsedPlan,
  type ParsedPreview,
} from "../../infra/pulumi-json";

const REAL = "/work/shared/fixtures/pulumi-json";
const OURS = join(__dirname, "../fixtures/cost");

function load(dir: string, file: string) {
  return parsePulumiJson(readFileSync(join(dir, file), "utf8"), file);
}
function preview(dir: string, file: string): ParsedPreview {
  const p = load(dir, file);
  if (p.kind !== "preview" && p.kind !== "events") throw new Error(`${file} parsed as ${p.kind}`);
  return p;
}

describe("real CLI outputs", () => {
  it("01 (preview --show-sames): counts equal the CLI's changeSummary exactly", () => {
    const p = preview(REAL, "01-stratify-preview-update.json");
    expect(p.kind).toBe("preview");
    expect(p.operations).toEqual({ same: 15, update: 1 });
    expect(p.operations).toEqual(p.changeSummary);
    expect(p.partial).toBe(false);
    expect(p.stack).toBe("dev");
    expect(p.config["pulumi:tags"]).toBeDefined();
  });

  it.each([
    ["02-drift-adopter-aws-update-and-replace.json", { same: 1, update: 3, replace: 1 }],
    ["03-drift-adopter-create-update-replace-delete.json", { same: 1, create: 1, replace: 2, update: 1, delete: 1 }],
  ])("%s (no --show-sames): every change counted; unchanged resources missing, so partial", (file, ops) => {
    const p = preview(REAL, file);
    expect(p.operations).toEqual(ops);
    for (const [op, n] of Object.entries(p.changeSummary ?? {})) {
      if (op === "same") expect(p.operations.same ?? 0).toBeLessThanOrEqual(n);
      else expect(p.operations[op]).toBe(n);
    }
    expect(p.partial).toBe(true);
  });

  it("04 (engine events): replacement steps collapse to one replace, as summaryEvent counts", () => {
    const p = preview(REAL, "04-pulumi-engine-events-userdata-replace.jsonl");
    expect(p.kind).toBe("events");
    expect(p.operations).toEqual({ same: 2, replace: 1 });
    expect(p.operations).toEqual(p.changeSummary);
    const instance = p.changes.find((c) => c.type === "aws:ec2/instance:Instance");
    expect(instance?.op).toBe("replace");
    expect(instance?.before?.inputs).toBeDefined();
    expect(instance?.after?.inputs).toBeDefined();
    expect(p.config).toEqual({ "aws:region": "us-west-2" });
  });

  it("05 (stack export): every resource read; the stack and the provider are free, AWS is not priced", () => {
    const e = load(REAL, "05-stratify-stack-export.json") as ParsedExport;
    expect(e.kind).toBe("export");
    expect(e.resources).toHaveLength(17);
    expect(e.stack).toBe("dev");
    const est = estimateMonthly(e.resources);
    expect(est.monthly).toBe(0);
    expect(est.unpricedTypes).toContain("aws:s3/bucket:Bucket");
    expect(est.unpricedTypes).toContain("aws:lambda/function:Function");
    expect(est.unpricedTypes).not.toContain("pulumi:pulumi:Stack");
    expect(est.unpricedTypes).not.toContain("pulumi:providers:aws");
  });

  it.each([
    "01-stratify-preview-update.json",
    "02-drift-adopter-aws-update-and-replace.json",
    "03-drift-adopter-create-update-replace-delete.json",
    "04-pulumi-engine-events-userdata-replace.jsonl",
  ])("%s prices to $0 with its AWS types listed as not priced, never as $0", (file) => {
    const p = preview(REAL, file);
    const report = buildCostReport({ previews: [p] });
    expect(report.diff).toBe(0);
    const stack = report.stacks[0];
    // Every AWS resource type it changes (components, like aws:s3:BucketEventSubscription, cost nothing themselves)
    // is listed as not priced; a tls PrivateKey (free: the stack's host keys) is not.
    const awsTypes = [...new Set(p.changes.map((c) => c.type).filter((t) => /^aws:[^:]+\/[^:]+:/.test(t)))];
    expect([...new Set(stack?.unpricedTypes.filter((t) => t.startsWith("aws:")))].sort()).toEqual(awsTypes.sort());
    expect(stack?.unpricedTypes).not.toContain("tls:index/privateKey:PrivateKey");
    for (const line of stack?.lines ?? []) {
      if (line.type.startsWith("aws:") && line.op !== "same") expect(line.diff).toBeNull();
    }
  });

  it("drops __defaults from inputs", () => {
    const p = preview(REAL, "01-stratify-preview-update.json");
    const bucket = p.changes.find((c) => c.type === "aws:s3/bucket:Bucket");
    expect(bucket?.before?.inputs).toBeDefined();
    expect(JSON.stringify(p.changes)).not.toContain("__defaults");
  });

  it("keeps the unknown-value sentinel as a value (it prices as unknown)", () => {
    const p = preview(REAL, "03-drift-adopter-create-update-replace-delete.json");
    const random = p.changes.find((c) => c.name === "random-str-0");
    expect(random?.after?.outputs?.result).toBe("04da6b54-80e4-46f7-96ec-b56ff0331ba9");
  });
});

describe("DigitalOcean outputs in the same shapes", () => {
  it("a resize preview with --show-sames: full totals, the budget from config", () => {
    const p = preview(OURS, "do-preview-resize-show-sames.json");
    expect(p.partial).toBe(false);
    expect(p.operations).toEqual(p.changeSummary);
    const report = buildCostReport({ previews: [p] });
    const s = report.stacks[0];
    // before: 4gb + weekly = 28.80, volume 100 GiB = 10.00, uptime 1.00 -> 39.80; after: 8gb + weekly = 57.60 -> 68.60
    expect([report.before, report.after, report.diff]).toEqual([39.8, 68.6, 28.8]);
    expect(s?.downtimeBudgetSeconds).toBe(120);
    expect(s?.warnings).toEqual([
      { kind: "resize", name: "app-droplet", from: "s-2vcpu-4gb", to: "s-4vcpu-8gb", downtimeBudgetSeconds: 120 },
    ]);
  });

  it("a preview without sames: replace, creates, delete; unknown and secret values not priced", () => {
    const p = preview(OURS, "do-preview-replace.json");
    expect(p.partial).toBe(true);
    expect(p.operations).toEqual({ same: 1, replace: 1, create: 4, delete: 1 });
    const report = buildCostReport({ previews: [p] });
    const s = report.stacks[0];
    const line = (name: string) => s?.lines.find((l) => l.name === name);
    expect(line("app-droplet")).toMatchObject({ op: "replace", before: 24, after: 24, diff: 0 });
    expect(line("app-data-2")).toMatchObject({ op: "create", before: 0, after: 5, diff: 5 });
    expect(line("standby-ip")).toMatchObject({ op: "create", after: 5 });
    expect(line("db-droplet")).toMatchObject({ op: "create", after: null, diff: null });
    expect(line("app-data-pre-migration")).toMatchObject({ after: null });
    expect(line("app-lb")).toMatchObject({ op: "delete", before: 24, after: 0, diff: -24 });
    expect(report.diff).toBe(-14);
    expect(s?.unpriced.map((u) => u.name)).toEqual(["app-data-pre-migration", "db-droplet"]);
    expect(s?.warnings[0]).toMatchObject({
      kind: "replace",
      name: "app-droplet",
      reasons: ["userData"],
      downtimeBudgetSeconds: 300,
    });
  });

  it("an up event stream: the replacement's outputs come from resOutputsEvent; budget from the prelude config", () => {
    const p = preview(OURS, "do-up-events-replace.jsonl");
    expect(p.operations).toEqual({ same: 3, replace: 1 });
    expect(p.operations).toEqual(p.changeSummary);
    const d = p.changes.find((c) => c.name === "app-droplet");
    expect(d?.after?.outputs?.id).toBe("468299001");
    expect(d?.replaceReasons).toEqual(["image"]);
    const report = buildCostReport({ previews: [p] });
    // 4gb + daily = 31.20 -> 8gb + daily = 62.40; the reserved IP is assigned: free
    expect([report.before, report.after, report.diff]).toEqual([31.2, 62.4, 31.2]);
    expect(report.stacks[0]?.downtimeBudgetSeconds).toBe(600);
  });

  it("a stack export: secrets become [secret], the current cost is $42.95", () => {
    const e = load(OURS, "do-stack-export-dev.json") as ParsedExport;
    const d = e.resources.find((r) => r.type === "digitalocean:index/droplet:Droplet");
    expect(d?.inputs.userData).toBe("[secret]");
    expect(d?.inputs).not.toHaveProperty("__defaults");
    // 31.20 droplet + daily backups, 10.00 volume, 0.75 snapshot (12.5 GiB), 1.00 uptime, IP assigned
    expect(estimateMonthly(e.resources).monthly).toBe(42.95);
  });

  it("a deployed stack (export) against a head plan: matched by type and name, priced from what is deployed", () => {
    const deployed = load(OURS, "do-stack-export-dev.json") as ParsedExport;
    const head = load(OURS, "plan-dev-8gb.json") as ParsedPlan;
    const report = buildCostReport({ exports: [deployed], heads: [head] });
    // deployed $42.95 (see above); head: 8gb droplet $48, IP assigned -> +$5.05
    expect([report.before, report.after, report.diff]).toEqual([42.95, 48, 5.05]);
    expect(report.stacks).toHaveLength(1);
  });

  it("offline plans read with their budgets", () => {
    const plan = load(OURS, "plan-prod-8gb-daily.json") as ParsedPlan;
    expect(plan).toMatchObject({
      kind: "plan",
      project: "chatbot",
      stack: "prod",
      tier: "8gb",
      budgets: { downtimeSeconds: 120 },
    });
  });
});

describe("bad input: a clear error naming the place", () => {
  it.each([
    ["", /x.json: empty input/],
    ['{"steps": [{"op": "same"}]}', /x.json: not valid:\n {2}steps.0.urn:/],
    ['{"project": "chatbot", "resources": [{"name": "a", "inputs": {}}]}', /stack:[\s\S]*resources.0.type:/],
    ['{"deployment": {"resources": [{"urn": "nope", "type": "t"}]}}', /"nope" is not a Pulumi URN/],
    ['{"sequence":0,"preludeEvent":{}}\n{not json', /x.json: line 2 is not JSON/],
    ['{"hello": 1}', /unrecognised Pulumi JSON/],
    ["[1, 2]", /not a list of engine events/],
  ])("%j", (text, message) => {
    expect(() => parsePulumiJson(text, "x.json")).toThrow(message);
  });

  it("a downtime budget in config that is not a whole number of seconds is rejected by key", () => {
    const p = preview(OURS, "do-preview-resize-show-sames.json");
    expect(() => buildCostReport({ previews: [{ ...p, config: { "chatbot:downtimeBudgetSeconds": "5m" } }] })).toThrow(
      /chatbot:downtimeBudgetSeconds: "5m" is not a positive whole number of seconds/,
    );
  });
});

describe("URNs", () => {
  it("reads stack, project, the resource's own type (not its parents') and name", () => {
    expect(
      parseUrn(
        "urn:pulumi:dev::sample::aws:s3/bucket:Bucket$aws:s3:BucketEventSubscription$aws:iam/role:Role::docsHandler",
      ),
    ).toEqual({ stack: "dev", project: "sample", type: "aws:iam/role:Role", name: "docsHandler" });
  });
});
