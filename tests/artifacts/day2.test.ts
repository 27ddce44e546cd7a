/**
 * The day-2 artifacts through their real consumers: systemd-analyze verifies the rendered units (in a scratch root
 * holding the rendered scripts and the system's own units), systemd-analyze calendar checks the schedules, and every
 * script passes shellcheck.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { COLLECT_CALENDAR, DAY2_SCRIPTS, renderDay2Files } from "../../infra/render/day2";
import { runCommand } from "../support/servers";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "day2-root-"));
const files = renderDay2Files({
  domain: "chat.example.com",
  healthPath: "/healthz",
  spaces: { bucket: "acme-backups", region: "fra1" },
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

function install(at: string): void {
  for (const f of files) {
    const p = path.join(at, f.path);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, f.content, { mode: parseInt(f.mode, 8) });
  }
  // systemd-analyze --root resolves the dependencies (sysinit.target, timers.target, docker.service) inside the root.
  fs.cpSync("/lib/systemd/system", path.join(at, "lib/systemd/system"), { recursive: true });
  const docker = path.join(at, "lib/systemd/system/docker.service");
  if (!fs.existsSync(docker))
    fs.writeFileSync(docker, "[Unit]\nDescription=stand-in for docker.service\n[Service]\nExecStart=/bin/true\n");
}

const units = files.filter((f) => /\.(service|timer)$/.test(f.path)).map((f) => f.path);

describe("systemd units", () => {
  it("pass systemd-analyze verify with no warning", async () => {
    install(root);
    const r = await runCommand("systemd-analyze", ["verify", `--root=${root}`, ...units]);
    expect(r.stderr.trim()).toBe("");
    expect(r.code).toBe(0);
  });

  it("a broken unit is caught (the check can fail)", async () => {
    const bad = path.join(root, "etc/systemd/system/chatbot-bad.service");
    fs.writeFileSync(
      bad,
      "[Service]\nType=oneshot\nExecStart=/usr/local/lib/chatbot/missing.sh\nIOSchedulingClass=sometimes\n",
    );
    const r = await runCommand("systemd-analyze", [
      "verify",
      `--root=${root}`,
      "/etc/systemd/system/chatbot-bad.service",
    ]);
    fs.rmSync(bad);
    expect(`${r.code} ${r.stderr}`).toMatch(/missing\.sh|IO scheduling class/);
  });

  it.each(
    files
      .filter((f) => f.path.endsWith(".timer"))
      .map((f) => [path.basename(f.path), /OnCalendar=(.*)\n/.exec(f.content)![1]!] as const),
  )("%s has a valid calendar (%s)", async (_name, calendar) => {
    const r = await runCommand("systemd-analyze", ["calendar", calendar]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Next elapse:/);
  });

  it("the collector fires often enough for the 1-hour response rule (gaps of at most 5 minutes)", async () => {
    const r = await runCommand("systemd-analyze", ["calendar", "--iterations=40", COLLECT_CALENDAR]);
    expect(r.code, r.stderr).toBe(0);
    const times = [
      ...r.stdout.matchAll(/(?:Next elapse|Iter\. #\d+):\s+\w{3} (\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) UTC/g),
    ].map((m) => Date.parse(`${m[1]!.replace(" ", "T")}Z`));
    expect(times.length).toBe(40);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(5 * 60_000);
  });
});

describe("day-2 scripts", () => {
  it.each(DAY2_SCRIPTS)("%s passes shellcheck", async (name) => {
    const r = await runCommand("shellcheck", ["-x", path.join("scripts", "droplet", name)], {
      cwd: path.join(__dirname, "..", ".."),
    });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it("cleanup.sh prunes exactly what it says, through docker and journalctl", async () => {
    const shims = fs.mkdtempSync(path.join(os.tmpdir(), "day2-shims-"));
    const logFile = path.join(shims, "calls.log");
    for (const tool of ["docker", "journalctl"]) {
      fs.writeFileSync(path.join(shims, tool), `#!/bin/sh\necho "${tool} $*" >> "${logFile}"\n`, { mode: 0o755 });
    }
    const script = path.join(__dirname, "..", "..", "scripts", "droplet", "cleanup.sh");
    const r = await runCommand("bash", [script], {
      env: { PATH: `${shims}:${process.env.PATH}`, CLEANUP_DF_PATHS: "/", CLEANUP_KEEP_HOURS: "72" },
    });
    const calls = fs.readFileSync(logFile, "utf8");
    fs.rmSync(shims, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(calls.trim().split("\n")).toEqual([
      "docker container prune --force --filter until=72h",
      "docker image prune --all --force --filter until=72h",
      "docker builder prune --all --force --filter until=72h",
      "journalctl --vacuum-time=14d",
    ]);
    expect(r.stdout).toMatch(/^disk_used_pct_before\.\/=\d+\ndisk_used_pct_after\.\/=\d+\n$/);
  });
});
