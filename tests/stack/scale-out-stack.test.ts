/** The scale-out tier inside the real program (Pulumi.scale.yaml), and the move onto it from the largest droplet. */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { scaleOutMigrateCommandLine } from "../../infra/components/scale-out-migration";
import type { OfflineRun } from "../../infra/offline/run";
import { isSecret } from "../../infra/offline/secret-values";
import { all, find, ROOT, runStack, T } from "./run-stack";

const LB = "digitalocean:index/loadBalancer:LoadBalancer";
const CLUSTER = "digitalocean:index/databaseCluster:DatabaseCluster";
const LOCAL = "command:local:Command";
const future = new Date(Date.now() + 72 * 3600_000).toISOString();

let scale: OfflineRun;
let moving: OfflineRun;
beforeAll(async () => {
  scale = await runStack("scale");
  moving = await runStack("scale", { "chatbot:previousTier": "16gb", "chatbot:previousTierRetainUntil": future });
});
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe("the scale-out stack", () => {
  it("builds a load balancer, the app droplets and both managed clusters, and no single-droplet server", () => {
    expect(all(scale, LB)).toHaveLength(1);
    expect(all(scale, T.droplet).map((d) => d.name)).toEqual(["scale-out-app-1", "scale-out-app-2", "scale-out-app-3"]);
    expect(
      all(scale, CLUSTER)
        .map((c) => c.inputs.engine)
        .sort(),
    ).toEqual(["pg", "valkey"]);
    expect(all(scale, T.volume)).toHaveLength(0);
    for (const d of all(scale, T.droplet)) expect(d.inputs.vpcUuid).toBe(find(scale, T.vpc).id);
  });

  it("points the domain at the load balancer, with no reserved IP", () => {
    expect(all(scale, T.reservedIp)).toHaveLength(0);
    expect(find(scale, T.record).inputs.value).toBe(find(scale, LB).outputs.ip);
  });

  it("groups the clusters and the load balancer in the project, and watches the app droplets", () => {
    const resources = find(scale, T.project).inputs.resources as string[];
    expect(resources).toEqual(
      expect.arrayContaining([
        find(scale, LB).outputs.loadBalancerUrn,
        ...all(scale, CLUSTER).map((c) => c.outputs.clusterUrn),
      ]),
    );
    const alert = all(scale, "digitalocean:index/monitorAlert:MonitorAlert")[0]!;
    expect(alert.inputs.entities).toEqual(all(scale, T.droplet).map((d) => String(d.id)));
  });

  it("prices every resource of the tier", async () => {
    const r = spawnSync(
      process.execPath,
      ["--require", "./scripts/ts-register.js", "scripts/plan.ts", "--stack", "scale", "--json"],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { monthlyCost: number; unpricedTypes: string[] };
    expect(doc.unpricedTypes).toEqual([]);
    expect(doc.monthlyCost).toBeGreaterThan(3 * 24);
  });

  it("writes the app droplets' artifacts with --out, as the droplets get them", () => {
    const out = mkdtempSync(join(tmpdir(), "scale-plan-"));
    dirs.push(out);
    const r = spawnSync(
      process.execPath,
      ["--require", "./scripts/ts-register.js", "scripts/plan.ts", "--stack", "scale", "--out", out],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["Caddyfile", "compose.yaml", "user-data.yaml"]);
    // Pinned: the user data holds the droplet's host key, so it is a secret (the file shows the plan's placeholder).
    const userData = find(scale, T.droplet, "scale-out-app-1").inputs.userData;
    expect(isSecret(userData)).toBe(true);
    expect(readFileSync(join(out, "user-data.yaml"), "utf8")).toBe((userData as { value: unknown }).value);
    const schema = spawnSync("cloud-init", ["schema", "--config-file", join(out, "user-data.yaml")], {
      encoding: "utf8",
    });
    expect(schema.stdout + schema.stderr).toContain("Valid cloud-config");
  });
});

describe("moving from 16gb onto scale-out", () => {
  it("keeps the 16gb server (protected: it serves), its reserved IP (unprotected, it goes with the droplet) and its forwarding", () => {
    expect(all(moving, T.droplet).map((d) => d.name)).toContain("app-16gb-droplet");
    expect(find(moving, T.assignment).inputs.dropletId).toBe(Number(find(moving, T.droplet, "app-16gb-droplet").id));
    expect(find(moving, T.reservedIp).protect).toBe(false);
    expect(find(moving, T.volume, "app-16gb-volume")).toMatchObject({ protect: true, retainOnDelete: true });
    expect(find(moving, T.droplet, "app-16gb-droplet").protect).toBe(true);
  });

  it("moves the DNS record to the load balancer only through the move's result", () => {
    const record = find(moving, T.record);
    expect(record.inputs.value).toBe(find(moving, LB).outputs.ip);
    expect(record.dependencies).toContain(find(moving, LOCAL, "scale-out-migration-run").urn);
  });

  it("admits PostgreSQL from the VPC range while the managed cluster subscribes, and not otherwise", () => {
    type Rule = { portRange?: string; sourceAddresses?: string[] };
    const rules = (run: OfflineRun) =>
      (find(run, T.firewall, "network-firewall").inputs.inboundRules as Rule[]).filter(
        (r) => r.portRange === "5432" && r.sourceAddresses,
      );
    expect(rules(moving)).toEqual([
      { protocol: "tcp", portRange: "5432", sourceAddresses: [find(moving, T.vpc).outputs.ipRange] },
    ]);
    expect(rules(scale)).toEqual([]);
  });

  it("runs a command whose flags `npm run scale-out-migrate` accepts", () => {
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuvAddbRUXhZqAjjjcWQNvcseadSNGmRYqJIfvF+VvL";
    const line = scaleOutMigrateCommandLine(
      {
        user: "root",
        sourceIp: "203.0.113.5",
        sourcePrivate: "10.10.0.5",
        upstreams: ["10.10.0.6:8081", "10.10.0.7:8081"],
        appIps: ["203.0.113.6", "203.0.113.7"],
        sourceHostKey: KEY,
        appHostKeys: [KEY, undefined],
      },
      { downtimeBudgetSeconds: 300, migrationBudgetMinutes: 30 },
    );
    expect(line).toContain("--app-node-host-key");
    const help = spawnSync(process.execPath, ["--import", "tsx", "scripts/scale-out-migrate.ts", "--help"], {
      cwd: ROOT,
      encoding: "utf8",
    }).stdout;
    const flags = [
      ...new Set([...line.slice(line.indexOf("scale-out-migrate.ts")).matchAll(/ (--[a-z-]+)[ =]/g)].map((m) => m[1]!)),
    ];
    expect(flags.length).toBeGreaterThan(4);
    for (const flag of flags) expect(help, flag).toContain(`${flag} `);
    const dir = mkdtempSync(join(tmpdir(), "so-cmd-"));
    dirs.push(dir);
    writeFileSync(join(dir, "run.sh"), `${line}\n`);
    expect(spawnSync("shellcheck", ["-s", "sh", join(dir, "run.sh")], { encoding: "utf8" }).stdout).toBe("");
  });
});

describe("the cost of moving from 16gb to scale-out", () => {
  it("shows in the pull-request comment from two offline plans", () => {
    const dir = mkdtempSync(join(tmpdir(), "so-cost-"));
    dirs.push(dir);
    writeFileSync(join(dir, "Pulumi.yaml"), readFileSync(join(ROOT, "Pulumi.yaml")));
    writeFileSync(
      join(dir, "Pulumi.scale.yaml"),
      readFileSync(join(ROOT, "Pulumi.scale.yaml"), "utf8").replace("chatbot:tier: scale-out", "chatbot:tier: 16gb"),
    );
    const plan = (...args: string[]) =>
      spawnSync(
        process.execPath,
        ["--require", "./scripts/ts-register.js", "scripts/plan.ts", "--stack", "scale", "--json", ...args],
        { cwd: ROOT, encoding: "utf8" },
      ).stdout;
    writeFileSync(join(dir, "base.json"), plan("--project-dir", dir));
    writeFileSync(join(dir, "head.json"), plan());
    const base = JSON.parse(readFileSync(join(dir, "base.json"), "utf8")) as { monthlyCost: number };
    const head = JSON.parse(readFileSync(join(dir, "head.json"), "utf8")) as { monthlyCost: number };
    const r = spawnSync(
      process.execPath,
      [
        "--import",
        "tsx",
        "scripts/cost.ts",
        "--base",
        join(dir, "base.json"),
        "--head",
        join(dir, "head.json"),
        "--markdown",
      ],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.status, r.stderr).toBe(0);
    const diff = head.monthlyCost - base.monthlyCost;
    expect(diff).toBeGreaterThan(0);
    expect(r.stdout).toContain(`Monthly cost will increase by $${diff.toFixed(2)}`);
    expect(r.stdout).toMatch(/droplet `app-16gb-droplet` \(s-8vcpu-16gb\) will be replaced/);
  });
});

describe("scale-out config problems", () => {
  it("come back from the plan with their chatbot:<key>, nothing printed on stdout", () => {
    const dir = mkdtempSync(join(tmpdir(), "so-bad-"));
    dirs.push(dir);
    writeFileSync(join(dir, "Pulumi.yaml"), readFileSync(join(ROOT, "Pulumi.yaml")));
    writeFileSync(
      join(dir, "Pulumi.bad.yaml"),
      readFileSync(join(ROOT, "Pulumi.scale.yaml"), "utf8").replace(
        "appDropletSize: s-2vcpu-4gb",
        "appDropletSize: s-1vcpu-1gb",
      ),
    );
    const r = spawnSync(
      process.execPath,
      ["--require", "./scripts/ts-register.js", "scripts/plan.ts", "--stack", "bad", "--project-dir", dir],
      { cwd: ROOT, encoding: "utf8" },
    );
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/chatbot:appDropletSize: "s-1vcpu-1gb" cannot hold 1 worker/);
  });
});
