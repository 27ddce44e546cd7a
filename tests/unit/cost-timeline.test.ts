/**
 * The cost of a change over time, pure: per-second billing of an overlap, and a report whose headline is the steady
 * state once the server migrated from is dropped, with the prices of infra/pricing.ts.
 */
import { describe, expect, it } from "vitest";
import {
  type AfterWindow,
  buildCostReport,
  costForHours,
  exceedsLimit,
  exceedsTransientLimit,
  renderMarkdown,
  retainedVolumeCost,
} from "../../infra/cost";
import { type ParsedPlan, parsePulumiJson } from "../../infra/pulumi-json";
import type { PlannedResource } from "../../infra/resource-shapes";

describe("an overlap billed per second (672 h a month, capped at the monthly price)", () => {
  it.each([
    [62.4, 24.5, 2.28], // s-4vcpu-8gb with daily backups for the migration (30 min) and a 24 h window
    [96, 1, 0.14],
    [96, 672, 96],
    [96, 2000, 96], // never more than the month
    [48, 0, 0],
    [6, 1 / 3600, 0], // 60 s minimum: well under a cent
  ])("$%s a month for %s h costs $%s", (monthly, hours, usd) => {
    expect(costForHours(monthly, hours)).toBe(usd);
  });
});

const droplet = (name: string, size: string): PlannedResource => ({
  type: "digitalocean:index/droplet:Droplet",
  name,
  inputs: { size },
});
const volume = (name: string, volumeName: string): PlannedResource => ({
  type: "digitalocean:index/volume:Volume",
  name,
  inputs: { name: volumeName, size: 100 },
});
const plan = (resources: PlannedResource[], extra: Partial<ParsedPlan> = {}): ParsedPlan => ({
  kind: "plan",
  project: "chatbot",
  stack: "prod",
  resources,
  ...extra,
});

const base = plan([droplet("app-8gb-droplet", "s-4vcpu-8gb"), volume("app-8gb-volume", "chatbot-prod-8gb-data")]);
const bothServers = [
  ...base.resources,
  droplet("app-16gb-droplet", "s-8vcpu-16gb"),
  volume("app-16gb-volume", "chatbot-prod-16gb-data"),
];
const kept = retainedVolumeCost({
  key: "app-8gb",
  tier: "8gb",
  volumeName: "chatbot-prod-8gb-data",
  volumeId: "vol-1",
  sizeGiB: 100,
});
const window: AfterWindow = {
  server: "app-8gb",
  tier: "8gb",
  running: true,
  hours: 24.5,
  monthlyCost: 0, // not read by the report: it prices both sides itself
  drops: [{ type: "digitalocean:index/droplet:Droplet", name: "app-8gb-droplet", monthlyCost: 48 }],
  transient: costForHours(48, 24.5),
  retainedVolume: kept,
};

describe("the report of a tier change", () => {
  it("headlines the steady state (the old droplet gone, its volume kept), the overlap once, the rate while both run", () => {
    const report = buildCostReport({ bases: [base], heads: [plan(bothServers, { afterWindow: window })] });
    // $48 + $10 before; $96 + $10 + the kept $10 after.
    expect(report).toMatchObject({ before: 58, after: 116, diff: 58, transient: 1.75 });
    expect(report.stacks[0]?.window).toMatchObject({ running: true, during: { after: 164, diff: 106 } });
    const md = renderMarkdown(report);
    expect(md).toMatch(/^### Monthly cost will increase by \$58\.00 \(\+100%\) once the migration window has passed$/m);
    expect(md).toContain("Once, for the overlap: $1.75.");
    expect(md).toContain("`doctl compute volume delete vol-1`");
    expect(exceedsLimit(report, 57.99)).toBe(true);
    expect(exceedsLimit(report, 58)).toBe(false);
    expect(exceedsTransientLimit(report, 1.74)).toBe(true);
    expect(exceedsTransientLimit(report, 1.75)).toBe(false);
  });

  it("negative control: the same head without its window is priced with both servers, as before", () => {
    const report = buildCostReport({ bases: [base], heads: [plan(bothServers)] });
    expect(report).toMatchObject({ diff: 106, transient: 0 });
    expect(renderMarkdown(report)).toMatch(/^### Monthly cost will increase by \$106\.00 \(\+183%\)$/m);
  });

  it("an overlap already under way (not started by this change) costs the change nothing once", () => {
    const during = plan(bothServers, { afterWindow: { ...window, running: false, until: "2026-12-02T00:00:00Z" } });
    const report = buildCostReport({ bases: [during], heads: [during] });
    expect(report).toMatchObject({ diff: 0, transient: 0 });
    expect(renderMarkdown(report)).toContain("Overlap under way: $1.75");
  });

  it("retained volumes of the record are billed on both sides and listed with the command that deletes them", () => {
    const after = plan([droplet("app-16gb-droplet", "s-8vcpu-16gb")], { retainedVolumes: [kept] });
    const report = buildCostReport({ bases: [after], heads: [after] });
    expect(report).toMatchObject({ before: 106, after: 106, diff: 0 });
    expect(report.stacks[0]?.retainedVolumes).toEqual([kept]);
    expect(renderMarkdown(report)).toContain(
      "volume `chatbot-prod-8gb-data` (100 GiB) of the dropped 8gb server stays at DigitalOcean (retainOnDelete): $10.00/month, counted above, until you delete it: `doctl compute volume delete vol-1`",
    );
    // Deleted (gone from the record): the next change saves its $10.
    const gone = buildCostReport({ bases: [after], heads: [{ ...after, retainedVolumes: [] }] });
    expect(gone.diff).toBe(-10);
  });
});

describe("what the head plan says loudly against the base's state", () => {
  it("a volume losing retainOnDelete is a warning of the comment, read from the plan's state.warnings", () => {
    const warning =
      "volume app-4gb-volume holds data and loses retainOnDelete: from this update on, a `pulumi up` that drops it deletes it with its data instead of leaving it at DigitalOcean";
    const doc = {
      project: "chatbot",
      stack: "dev",
      resources: [],
      state: { file: "s.json", notes: [], warnings: [warning] },
    };
    const head = parsePulumiJson(JSON.stringify(doc), "head") as ParsedPlan;
    expect(head.warnings).toEqual([warning]);
    const md = renderMarkdown(buildCostReport({ bases: [{ ...head, warnings: [] }], heads: [head] }));
    expect(md).toContain(`> **Warning (dev):** ${warning}.`);
    // Without warnings in the plan, none in the comment.
    const quiet = parsePulumiJson(JSON.stringify({ ...doc, state: { file: "s.json", notes: [], warnings: [] } }), "h");
    expect(renderMarkdown(buildCostReport({ heads: [quiet as ParsedPlan] }))).not.toContain("Warning");
  });
});
