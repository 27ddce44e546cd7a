/** `npm run cost` end to end: real files in, real process, exit codes. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "../..");
const FIX = join(ROOT, "tests/fixtures/cost");
const TSX = join(ROOT, "node_modules/.bin/tsx");

function cost(...args: string[]) {
  const r = spawnSync(TSX, [join(ROOT, "scripts/cost.ts"), ...args], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const f = (name: string) => join(FIX, name);
const TIER_CHANGE = ["--base", f("plan-dev-4gb.json"), "--head", f("plan-dev-8gb.json")];

describe("npm run cost", () => {
  it("--base/--head --json prints totals and resources rounded to cents", () => {
    const r = cost(...TIER_CHANGE, "--json");
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.before).toEqual({ monthly: 24 });
    expect(json.after).toEqual({ monthly: 48 });
    expect(json.diff).toEqual({ monthly: 24 });
    expect(json.resources.find((x: { urn: string }) => x.urn === "app-4gb-droplet")).toMatchObject({
      before: 24,
      after: 0,
      diff: -24,
    });
  });

  it("--fail-above exits 1 when the increase is above the limit, 0 otherwise", () => {
    const above = cost(...TIER_CHANGE, "--markdown", "--fail-above", "20");
    expect(above.code).toBe(1);
    expect(above.stderr).toContain("the steady-state monthly increase $24.00 is above --fail-above $20.00");
    expect(above.stdout).toContain("### Monthly cost will increase by $24.00 (+100%)");
    expect(cost(...TIER_CHANGE, "--fail-above", "24").code).toBe(0);
  });

  it("--preview reads a preview digest and an event stream", () => {
    const r = cost(
      "--preview",
      f("do-preview-resize-show-sames.json"),
      "--preview",
      f("do-up-events-replace.jsonl"),
      "--json",
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).diff).toEqual({ monthly: 60 }); // 28.80 + 31.20
  });

  it("--stack-export prints the current monthly cost", () => {
    const r = cost("--stack-export", f("do-stack-export-dev.json"));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("Current monthly cost: $42.95");
  });

  it("--per-user --json gives 4 user counts on each of the 3 tiers", () => {
    const r = cost("--per-user", "--json");
    expect(r.code, r.stderr).toBe(0);
    const rows = JSON.parse(r.stdout);
    expect(rows).toHaveLength(12);
    expect(rows[1]).toMatchObject({ tier: "4gb", users: 1000, monthly: 24, perUser: 0.024 });
  });

  it.each([
    [["--fail-above", "lots", ...TIER_CHANGE], /"lots" is not an amount in USD/],
    [[...TIER_CHANGE, "--json", "--markdown"], /--json and --markdown: choose one/],
    [["--base", f("plan-dev-4gb.json")], /--base needs --head/],
    [
      ["--base", f("do-preview-replace.json"), "--head", f("plan-dev-8gb.json")],
      /--base .*do-preview-replace.json: this is a preview, expected plan/,
    ],
    [["--preview", f("missing.json")], /missing.json: cannot read \(ENOENT\)/],
    [["--per-user", "--backups", "hourly"], /Allowed choices are none, weekly, daily/],
    [[], /nothing to price/],
  ])("%j fails with a clear message, exit 2 (usage)", (args, message) => {
    const r = cost(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});
