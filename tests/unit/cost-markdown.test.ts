/**
 * The pull-request comment for a tier change, kept as a snapshot (tests/unit/__snapshots__/cost-markdown.test.ts.snap)
 * and checked to read as plain text. A snapshot change is a change to what users see in every pull request.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { buildCostReport, renderJson, renderMarkdown, renderText } from "../../infra/cost";
import { parsePulumiJson, type ParsedPlan, type ParsedPreview } from "../../infra/pulumi-json";

const OURS = join(__dirname, "../fixtures/cost");
const plan = (file: string) => parsePulumiJson(readFileSync(join(OURS, file), "utf8"), file) as ParsedPlan;
const preview = (file: string) => parsePulumiJson(readFileSync(join(OURS, file), "utf8"), file) as ParsedPreview;

/** What a reader sees with the markup stripped: no tags, no table pipes, no backticks. */
function asPlainText(markdown: string): string {
  return markdown
    .replace(/<\/?(details|summary|sub)>/g, "")
    .replace(/^\|?\s*-+[-:| ]*$/gm, "")
    .replace(/\|/g, " ")
    .replace(/[`*#>]/g, "")
    .replace(/[ \t]+/g, " ");
}

describe("markdown for a tier change (dev 4gb -> 8gb, prod gains an uptime check)", () => {
  const report = buildCostReport({
    bases: [plan("plan-dev-4gb.json"), plan("plan-prod-8gb-daily.json")],
    heads: [plan("plan-dev-8gb.json"), plan("plan-prod-8gb-daily-uptime.json")],
  });
  const markdown = renderMarkdown(report);

  it("matches the snapshot", () => {
    expect(markdown).toMatchSnapshot();
  });

  it("reads as plain text: headline, per-stack figures, the warning with its budget", () => {
    const text = asPlainText(markdown);
    expect(text).toContain("Monthly cost will increase by $25.00 (+29%)");
    expect(text).toMatch(/dev \$24\.00 \$48\.00 \+\$24\.00 \(\+100%\)/);
    expect(text).toMatch(/prod \$62\.40 \$63\.40 \+\$1\.00 \(\+2%\)/);
    expect(text).toMatch(/Total \$86\.40 \$111\.40 \+\$25\.00 \(\+29%\)/);
    expect(text).toContain(
      "Warning (dev): droplet app-4gb-droplet (s-2vcpu-4gb) will be replaced by app-8gb-droplet (s-4vcpu-8gb): " +
        "the app and its data must move within the downtime budget of 300 s (5 min).",
    );
    expect(markdown).not.toMatch(/<(?!\/?(details|summary|sub)>)/);
  });

  it("puts the per-resource breakdown of each stack in a collapsible block", () => {
    expect(markdown.match(/<details>/g)).toHaveLength(2);
    expect(markdown).toContain("<summary>Cost breakdown per resource: dev</summary>");
    expect(markdown).toContain("| app-4gb-droplet | digitalocean:Droplet | delete | $24.00 | $0.00 | -$24.00 |");
    expect(markdown).toContain("| app-8gb-droplet | digitalocean:Droplet | create | $0.00 | $48.00 | +$48.00 |");
  });

  it("the JSON has the documented shape, names for URNs", () => {
    const json = renderJson(report) as {
      before: { monthly: number };
      after: { monthly: number };
      diff: { monthly: number };
      resources: { urn: string; type: string; before: number | null; after: number | null; diff: number | null }[];
    };
    expect([json.before.monthly, json.after.monthly, json.diff.monthly]).toEqual([86.4, 111.4, 25]);
    expect(json.resources).toContainEqual(
      expect.objectContaining({
        urn: "app-8gb-droplet",
        type: "digitalocean:index/droplet:Droplet",
        before: 0,
        after: 48,
        diff: 48,
      }),
    );
  });

  it("the terminal text carries the same headline and warning", () => {
    const text = renderText(report);
    expect(text.split("\n")[0]).toBe("Monthly cost will increase by $25.00 (+29%)");
    expect(text).toContain("Warning: droplet `app-4gb-droplet` (s-2vcpu-4gb) will be replaced by `app-8gb-droplet`");
  });
});

describe("markdown for a partial preview", () => {
  it("says the totals cover changed resources only, gives no percentage, lists what is not priced", () => {
    const markdown = renderMarkdown(buildCostReport({ previews: [preview("do-preview-replace.json")] }));
    expect(markdown).toContain("### Monthly cost will decrease by $14.00\n");
    expect(markdown).toContain("| dev (changed resources only) | $48.00 | $34.00 | -$14.00 |");
    expect(markdown).toContain("`db-droplet` (size unknown until apply)");
    expect(markdown).toContain("run `pulumi preview --json --show-sames` for full totals");
    expect(markdown).toContain("unassigned reserved IPs ($5.00/month)");
  });
});

describe("markdown for a tier change recorded from `npm run plan -- --stack dev --json`", () => {
  // Recorded with the plan command at this commit: dev on 4gb without backups, then on 8gb with weekly backups.
  const report = buildCostReport({
    bases: [plan("recorded-plan-dev-4gb.json")],
    heads: [plan("recorded-plan-dev-8gb-weekly.json")],
  });

  it("prices it by hand: $24 + 20 GiB volume $2 -> $48 + weekly $9.60 + $2 = +$33.60", () => {
    expect([report.before, report.after, report.diff]).toEqual([26, 59.6, 33.6]);
  });

  it("matches the snapshot", () => {
    expect(renderMarkdown(report)).toMatchSnapshot();
  });
});
