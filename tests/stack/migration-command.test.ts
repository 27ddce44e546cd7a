/** The command the stack's TierMigration runs: valid shell, and every flag it passes is one `npm run migrate` has. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { migrateCommandLine } from "../../infra/components/migration";
import { pinnedHostKey } from "../../infra/host-keys";
import type { MigrationPlan } from "../../infra/plan";
import { ROOT } from "./run-stack";

const plan: MigrationPlan = {
  from: "8gb",
  to: "16gb",
  fromKey: "app-8gb",
  toKey: "app-16gb-g2",
  running: true,
  committedAt: undefined,
  retainHours: 24,
  retainUntil: undefined,
  down: false,
  strategy: "auto",
  downtimeBudgetSeconds: 120,
  migrationBudgetMinutes: 20,
  trafficSwitch: "reserved-ip",
};
const line = migrateCommandLine(
  plan,
  { user: "root", oldIp: "203.0.113.10", newIp: "203.0.113.11", oldPrivate: "10.10.0.10", newPrivate: "10.10.0.11" },
  "/health",
);
const dir = mkdtempSync(join(tmpdir(), "migrate-cmd-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the stack's migration command", () => {
  it("is valid POSIX shell that passes shellcheck", () => {
    writeFileSync(join(dir, "run.sh"), `${line}\n`);
    expect(spawnSync("sh", ["-n", join(dir, "run.sh")]).status).toBe(0);
    const sc = spawnSync("shellcheck", ["-s", "sh", join(dir, "run.sh")], { encoding: "utf8" });
    expect(sc.stdout).toBe("");
  });

  it("passes the budgets and the strategy; the traffic switch is the runner's own (proxy hold and gate)", () => {
    expect(line).toContain(
      "--from root@203.0.113.10 --to root@203.0.113.11 --from-private 10.10.0.10 --to-private 10.10.0.11",
    );
    expect(line).toContain("--strategy auto --downtime-budget 120 --migration-budget 20");
    expect(line).not.toContain("--traffic-command"); // the runner's proxy steps move traffic; the reserved IP follows in pulumi up
    expect(line).toContain("--health-url http://10.10.0.11:8081/health");
    expect(line).not.toMatch(/PASSWORD|BEGIN OPENSSH/);
  });

  it("uses only flags that `npm run migrate` accepts", () => {
    const help = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "migrate.ts"), "--help"], {
      cwd: ROOT,
      encoding: "utf8",
    }).stdout;
    const migrateArgs = line.slice(line.indexOf("scripts/migrate.ts"));
    const used = [...new Set([...migrateArgs.matchAll(/ (--[a-z-]+)[ =]/g)].map((m) => m[1]!))];
    expect(used.length).toBeGreaterThan(8);
    for (const flag of used) expect(help, flag).toContain(`${flag} `);
  });

  it("runs the dry run of `npm run migrate` with these flags", () => {
    const args = line.split("\n").pop()!.replace("node --import tsx scripts/migrate.ts ", "");
    const r = spawnSync("sh", ["-c", `key=''; node --import tsx scripts/migrate.ts ${args} --dry-run`], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("root@203.0.113.11");
    expect(r.stdout).toMatch(/standby/);
  });
});

describe("the stack's switch back command", () => {
  const hosts = {
    user: "root",
    oldIp: "203.0.113.11",
    newIp: "203.0.113.10",
    oldPrivate: "10.10.0.11",
    newPrivate: "10.10.0.10",
  };
  const back = migrateCommandLine(
    { ...plan, from: "16gb", to: "8gb", fromKey: "app-16gb-g2", toKey: "app-8gb", switchBack: true },
    hosts,
    "/health",
  );

  it("is the migration's command line plus --switch-back, from the server that serves to its follower", () => {
    expect(back).toContain(" --switch-back ");
    expect(back.replace(" --switch-back", "")).toBe(
      migrateCommandLine({ ...plan, from: "16gb", to: "8gb" }, hosts, "/health"),
    );
    expect(back).toContain("--from root@203.0.113.11 --to root@203.0.113.10");
    expect(line).not.toContain("--switch-back");
    writeFileSync(join(dir, "back.sh"), `${back}\n`);
    expect(spawnSync("shellcheck", ["-s", "sh", join(dir, "back.sh")], { encoding: "utf8" }).stdout).toBe("");
  });
});

describe("the stack's migration command with a pinned target (a server created by this version)", () => {
  // A real ED25519 public key, as the tls provider's publicKeyOpenssh gives it (with its newline).
  const keyFile = join(dir, "host");
  spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", keyFile]);
  const publicKey = readFileSync(`${keyFile}.pub`, "utf8");
  const pinnedLine = migrateCommandLine(
    plan,
    {
      user: "root",
      oldIp: "203.0.113.10",
      newIp: "203.0.113.11",
      oldPrivate: "10.10.0.10",
      newPrivate: "10.10.0.11",
      newHostKey: publicKey,
    },
    "/health",
  );

  it("passes the new droplet's key, no global StrictHostKeyChecking, and stays valid shell", () => {
    expect(pinnedLine).toContain(`--to-host-key '${pinnedHostKey(publicKey)}'`);
    expect(pinnedLine).not.toContain("--from-host-key");
    expect(pinnedLine).not.toContain("StrictHostKeyChecking");
    writeFileSync(join(dir, "pinned.sh"), `${pinnedLine}\n`);
    expect(spawnSync("shellcheck", ["-s", "sh", join(dir, "pinned.sh")], { encoding: "utf8" }).stdout).toBe("");
  });

  it("its dry run pins the new droplet (only its key accepted) and accepts the old one on first use, with the warning", () => {
    const args = pinnedLine.split("\n").pop()!.replace("node --import tsx scripts/migrate.ts ", "");
    const r = spawnSync("sh", ["-c", `key=''; node --import tsx scripts/migrate.ts ${args} --dry-run`], {
      cwd: ROOT,
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    const toNew = r.stdout.split("\n").find((l) => l.includes(" root@203.0.113.11 "))!;
    expect(toNew).toMatch(
      /^\[\w+\] cat [^|]+ \| ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile=\S+ -o GlobalKnownHostsFile=\/dev\/null -o HostKeyAlias=new-droplet\.203\.0\.113\.11 /,
    );
    const toOld = r.stdout.split("\n").find((l) => l.includes(" root@203.0.113.10 "))!;
    expect(toOld).toContain("StrictHostKeyChecking=accept-new");
    expect(toOld).not.toContain("StrictHostKeyChecking=yes");
    expect(r.stderr).toMatch(
      /warning: the old droplet root@203\.0\.113\.10 \(root@203\.0\.113\.10\): its SSH host key is not pinned/,
    );
    expect(r.stderr).not.toMatch(/the new droplet.*not pinned/);
  });

  it("refuses a key that is not an ED25519 public key", () => {
    expect(() =>
      migrateCommandLine(
        plan,
        { user: "root", oldIp: "a", newIp: "b", oldPrivate: "c", newPrivate: "d", newHostKey: "ssh-rsa AAAA" },
        "/health",
      ),
    ).toThrow(/must be ssh-ed25519/);
  });
});
