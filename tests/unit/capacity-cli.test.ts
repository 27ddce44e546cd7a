/**
 * `npm run capacity` end to end on metrics files: the verdicts, the JSON shape, the errors and the exit codes; and
 * capacity and restore-drill against a droplet that does not answer.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { HOUR, MINUTE, series } from "../fixtures/capacity/series";

const root = join(__dirname, "..", "..");
const fixture = (name: string) => join(root, "tests", "fixtures", "capacity", name);

const capacity = (...args: string[]) => run(["scripts/capacity.ts", ...args]);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)("npx", ["tsx", ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("npm run capacity", () => {
  it.each([
    ["metrics-upgrade-now.json", "upgrade-now", ["memory-above-90pct-24h"], { tier: "8gb", monthlyCostDelta: 24 }],
    [
      "metrics-plan-upgrade.json",
      "plan-upgrade",
      ["memory-above-80pct-7d", "user-growth-above-20pct"],
      { tier: "16gb", monthlyCostDelta: 48 },
    ],
    ["metrics-none.json", "none", [], null],
  ])("%s --json: %s", async (file, verdict, rules, recommendation) => {
    const r = await capacity("--metrics", fixture(file), "--json");
    expect(r.code).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.verdict).toBe(verdict);
    expect(json.triggers.map((t: { rule: string }) => t.rule)).toEqual(rules);
    for (const t of json.triggers) expect(Object.keys(t)).toEqual(["rule", "observed", "threshold", "window"]);
    expect(json.recommendation).toEqual(recommendation);
    expect(json.optimizeFirst.map((f: { check: string }) => f.check)).toEqual([
      "slow-queries",
      "cache-hit-rate",
      "proxy-tuning",
      "container-limits",
    ]);
  });

  it("human output explains the trigger and writes the chart", async () => {
    const dir = mkdtempSync(join(tmpdir(), "capacity-cli-"));
    const r = await capacity("--metrics", fixture("metrics-upgrade-now.json"), "--chart", join(dir, "c.svg"));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /UPGRADE NOW[\s\S]*Memory was above 90% in 100% of the 289 samples over the last 24 hours/,
    );
    expect(readFileSync(join(dir, "c.svg"), "utf8")).toContain("memory now (90%, 24 h)");
  });

  it("--complaints overrides the file", async () => {
    const r = await capacity("--metrics", fixture("metrics-none.json"), "--complaints", "--json");
    expect(JSON.parse(r.stdout).triggers).toEqual([
      { rule: "user-complaints", observed: true, threshold: true, window: null },
    ]);
    expect(JSON.parse(r.stdout).recommendation).toMatchObject({
      tier: "scale-out",
      monthlyCostDelta: 144,
      note: expect.stringMatching(/^the default scale-out layout/),
    });
  });

  it("malformed input: exit 2, every bad sample named", async () => {
    const r = await capacity("--metrics", fixture("metrics-malformed.json"));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("samples[1] (at 2026-11-20T10:05:00Z).memoryPct: Too big");
    expect(r.stderr).toContain("samples[2] (at 2026-11-20T10:04:00Z): out of order, earlier than samples[1]");
    expect(r.stderr).toContain('samples[3] (at 20/11/2026 10:10): at "20/11/2026 10:10" is not an ISO 8601 time');
  });

  it.each([
    [[], /give exactly one of --metrics <file>, --host <target>, --days <n>/],
    [["--host", "root@x"], /--tier is required with --host/],
    [["--days", "7", "--tier", "4gb", "--droplet-id", "1"], /DIGITALOCEAN_TOKEN: a DigitalOcean API token is required/],
    [
      ["--metrics", "x.json", "--tier", "2gb"],
      /option '--tier <tier>' argument '2gb' is invalid. Allowed choices are 4gb, 8gb, 16gb/,
    ],
  ])("usage error %j: exit 2", async (args, message) => {
    const r = await capacity(...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it.each([
    [
      "5 h at 99 % memory and CPU: pending, --check exits 1",
      99,
      1,
      /^capacity: --check: not clear: memory-above-90pct-24h is pending/m,
    ],
    ["5 h of a quiet droplet: --check exits 0 (negative control)", 50, 0, /^$/],
  ])("%s", async (_name, pct, code, stderr) => {
    const file = join(mkdtempSync(join(tmpdir(), "capacity-cli-")), "m.json");
    const samples = series({ spanMs: 5 * HOUR, stepMs: 5 * MINUTE, memoryPct: () => pct, cpuPct: () => pct });
    writeFileSync(file, JSON.stringify({ tier: "4gb", samples }));
    const r = await capacity("--metrics", file, "--check", "--json");
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(stderr);
    expect(JSON.parse(r.stdout)).toMatchObject({ verdict: "none", clear: code === 0 });
  });
});

describe("commands that reach a droplet over ssh, against one that does not answer", () => {
  // Port 1 on loopback refuses at once; the real ssh runs, so the line naming the host is the executor's own.
  const host = ["--ssh-arg=-p", "--ssh-arg=1", "--ssh-arg=-oBatchMode=yes"];
  it.each([
    ["capacity", ["scripts/capacity.ts", "--host", "root@127.0.0.1", "--tier", "4gb", ...host]],
    ["restore-drill", ["scripts/restore-drill.ts", "--host", "root@127.0.0.1", ...host]],
  ])(
    "%s: exit 3, the host named",
    async (_name, args) => {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toContain("ssh: root@127.0.0.1 did not answer (exit 255: no connection, or it dropped)");
      expect(r.stdout).toBe("");
    },
    60_000,
  );
});
