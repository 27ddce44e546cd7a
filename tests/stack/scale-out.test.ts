/**
 * Wiring of the ScaleOut component, under Pulumi mocks through infra/offline/run.ts with a small program of our own
 * (the lead wires the component into infra/index.ts): resources, parents, forwarding rules and health check, the
 * VPC, database firewalls, the pool, secrecy, protection in prod, rolling config sync, and every input's type as
 * the provider takes it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSecret, type OfflineRun, type RecordedResource, revealSecrets, runOffline } from "../../infra/offline/run";
import { checkInputTypes } from "../../infra/provider-rules";
import { planScaleOut, type ScaleOutInput } from "../../infra/scale-out";
import { PROD_INPUT } from "../scale-out/input";

const PROD: ScaleOutInput = { ...PROD_INPUT, appEnv: [], appCount: 3, appDropletSize: "s-2vcpu-4gb" };

const T = {
  component: "chatbot:scaleout:ScaleOut",
  droplet: "digitalocean:index/droplet:Droplet",
  lb: "digitalocean:index/loadBalancer:LoadBalancer",
  cert: "digitalocean:index/certificate:Certificate",
  cluster: "digitalocean:index/databaseCluster:DatabaseCluster",
  db: "digitalocean:index/databaseDb:DatabaseDb",
  user: "digitalocean:index/databaseUser:DatabaseUser",
  pool: "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool",
  dbFirewall: "digitalocean:index/databaseFirewall:DatabaseFirewall",
  valkeyConfig: "digitalocean:index/databaseValkeyConfig:DatabaseValkeyConfig",
  firewall: "digitalocean:index/firewall:Firewall",
  tag: "digitalocean:index/tag:Tag",
  command: "command:remote:Command",
} as const;

const projectDir = mkdtempSync(join(tmpdir(), "scale-out-stack-"));
writeFileSync(join(projectDir, "Pulumi.yaml"), "name: chatbot\nruntime: nodejs\n");
writeFileSync(join(projectDir, "Pulumi.test.yaml"), "config: {}\n");
afterAll(() => rmSync(projectDir, { recursive: true, force: true }));

let outputs: { databaseUrl?: pulumi.Output<string>; redisUrl?: pulumi.Output<string> } = {};

async function runScaleOut(input: ScaleOutInput, protect?: boolean): Promise<OfflineRun> {
  const { ScaleOut } = await import("../../infra/components/scale-out");
  return runOffline({
    projectDir,
    stack: "test",
    program: async () => {
      const so = new ScaleOut("scaleout", {
        plan: planScaleOut(input),
        vpcId: "vpc-uuid-1",
        tag: input.stackTag,
        ssh: { user: "root", privateKey: pulumi.secret("PRIVATE-KEY") },
        ...(protect === undefined ? {} : { protect }),
      });
      outputs = { databaseUrl: so.databaseUrl, redisUrl: so.redisUrl };
      return {};
    },
  });
}

const of = (run: OfflineRun, type: string) => run.resources.filter((r) => r.type === type);
function one(run: OfflineRun, type: string, name: string): RecordedResource {
  const r = run.resources.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} ${name} among ${run.resources.map((x) => x.name).join(", ")}`);
  return r;
}

let prod: OfflineRun;
let dev: OfflineRun;
beforeAll(async () => {
  prod = await runScaleOut(PROD);
  dev = await runScaleOut({
    ...PROD,
    prefix: "chatbot-dev",
    stackTag: "chatbot-dev",
    environment: "dev",
    dbNodeCount: 1,
    appCount: 2,
  });
});

describe("ScaleOut component", () => {
  it("creates the load balancer, certificate, N droplets, both clusters, the database, role, pool and firewalls under one component", () => {
    const component = one(prod, T.component, "scaleout");
    const children = prod.resources.filter((r) => r.custom);
    expect(children.every((r) => r.parent === component.urn)).toBe(true);
    const count = (t: string) => of(prod, t).length;
    expect({
      lb: count(T.lb),
      cert: count(T.cert),
      droplets: count(T.droplet),
      clusters: count(T.cluster),
      db: count(T.db),
      user: count(T.user),
      pool: count(T.pool),
      dbFirewalls: count(T.dbFirewall),
      valkeyConfig: count(T.valkeyConfig),
      firewall: count(T.firewall),
    }).toEqual({
      lb: 1,
      cert: 1,
      droplets: 3,
      clusters: 2,
      db: 1,
      user: 1,
      pool: 1,
      dbFirewalls: 2,
      valkeyConfig: 1,
      firewall: 1,
    });
    expect(
      of(prod, T.droplet)
        .map((d) => d.inputs.name)
        .sort(),
    ).toEqual(["chatbot-prod-app-1", "chatbot-prod-app-2", "chatbot-prod-app-3"]);
  });

  it("forwards HTTPS 443 (the certificate, by name) and HTTP 80 to the droplets' port 80, redirects HTTP, and checks the health path", () => {
    const lb = one(prod, T.lb, "scaleout-lb");
    const cert = one(prod, T.cert, "scaleout-cert");
    expect(cert.inputs).toMatchObject({ type: "lets_encrypt", domains: ["chat.example.com"] });
    expect(lb.inputs.forwardingRules).toEqual([
      {
        entryProtocol: "https",
        entryPort: 443,
        targetProtocol: "http",
        targetPort: 80,
        certificateName: cert.inputs.name,
      },
      { entryProtocol: "http", entryPort: 80, targetProtocol: "http", targetPort: 80 },
    ]);
    expect(lb.inputs).toMatchObject({
      redirectHttpToHttps: true,
      dropletTag: "chatbot-prod-app",
      region: "nyc3",
      sizeUnit: 1,
    });
    expect(lb.inputs.healthcheck).toMatchObject({
      protocol: "http",
      port: 80,
      path: "/healthz",
      checkIntervalSeconds: 5,
      unhealthyThreshold: 2,
    });
  });

  it("puts the droplets, the load balancer and both clusters in the stack's VPC", () => {
    for (const d of of(prod, T.droplet))
      expect(d.inputs).toMatchObject({
        vpcUuid: "vpc-uuid-1",
        tags: ["chatbot-prod-app"],
        backups: false,
        region: "nyc3",
        size: "s-2vcpu-4gb",
      });
    expect(one(prod, T.lb, "scaleout-lb").inputs.vpcUuid).toBe("vpc-uuid-1");
    for (const c of of(prod, T.cluster)) expect(c.inputs.privateNetworkUuid).toBe("vpc-uuid-1");
  });

  it("runs PostgreSQL 15 (engine pg) with a standby in prod and Valkey (engine valkey) evicting LRU keys", () => {
    expect(one(prod, T.cluster, "scaleout-pg").inputs).toMatchObject({
      engine: "pg",
      version: "15",
      size: "db-s-2vcpu-4gb",
      nodeCount: 2,
      name: "chatbot-prod-pg",
    });
    expect(one(dev, T.cluster, "scaleout-pg").inputs).toMatchObject({ nodeCount: 1 });
    const valkey = one(prod, T.cluster, "scaleout-valkey");
    expect(valkey.inputs).toMatchObject({ engine: "valkey", version: "8", size: "db-s-1vcpu-2gb" });
    expect(one(prod, T.valkeyConfig, "scaleout-valkey-config").inputs).toMatchObject({
      clusterId: valkey.id,
      valkeyMaxmemoryPolicy: "allkeys-lru",
    });
  });

  it("admits only the app droplets' tag to both clusters", () => {
    const pg = one(prod, T.cluster, "scaleout-pg");
    const valkey = one(prod, T.cluster, "scaleout-valkey");
    expect(one(prod, T.dbFirewall, "scaleout-pg-firewall").inputs).toEqual({
      clusterId: pg.id,
      rules: [{ type: "tag", value: "chatbot-prod-app" }],
    });
    expect(one(prod, T.dbFirewall, "scaleout-valkey-firewall").inputs).toEqual({
      clusterId: valkey.id,
      rules: [{ type: "tag", value: "chatbot-prod-app" }],
    });
  });

  it("also admits the stack's tag while a single droplet's data moves in", async () => {
    const migrating = await runScaleOut({ ...PROD, migrating: true });
    expect(one(migrating, T.dbFirewall, "scaleout-pg-firewall").inputs.rules).toEqual([
      { type: "tag", value: "chatbot-prod-app" },
      { type: "tag", value: "chatbot-prod" },
    ]);
  });

  it("pools transaction-mode connections to the app's database as the app's role", () => {
    const pg = one(prod, T.cluster, "scaleout-pg");
    expect(one(prod, T.db, "scaleout-pg-db").inputs).toEqual({ clusterId: pg.id, name: "chatbot" });
    expect(one(prod, T.user, "scaleout-pg-user").inputs).toEqual({ clusterId: pg.id, name: "chatbot" });
    expect(one(prod, T.pool, "scaleout-pg-pool").inputs).toEqual({
      clusterId: pg.id,
      name: "chatbot-pool",
      mode: "transaction",
      size: 87,
      dbName: "chatbot",
      user: "chatbot",
    });
  });

  it("opens the app droplets' port 80 to the load balancer only, SSH to the allowlist only", () => {
    const fw = one(prod, T.firewall, "scaleout-app-firewall");
    const lb = one(prod, T.lb, "scaleout-lb");
    const inbound = fw.inputs.inboundRules as Record<string, unknown>[];
    expect(inbound.filter((r) => r.portRange === "80")).toEqual([
      { protocol: "tcp", portRange: "80", sourceLoadBalancerUids: [lb.id] },
    ]);
    expect(inbound.find((r) => r.portRange === "22")).toEqual({
      protocol: "tcp",
      portRange: "22",
      sourceAddresses: ["203.0.113.0/28"],
    });
    expect(fw.inputs.tags).toEqual(["chatbot-prod-app"]);
  });

  it("protects both clusters and the database in prod, nothing in dev", () => {
    for (const n of ["scaleout-pg", "scaleout-valkey"]) {
      expect(one(prod, T.cluster, n).protect).toBe(true);
      expect(one(dev, T.cluster, n).protect).toBe(false);
    }
    expect(one(prod, T.db, "scaleout-pg-db").protect).toBe(true);
    expect(one(prod, T.lb, "scaleout-lb").protect).toBe(false);
  });

  it("keeps the database and cache URIs secret: app.env goes only through a secret stdin, the exports are secret", async () => {
    for (const key of ["app-1", "app-2", "app-3"]) {
      const s = one(prod, T.command, `scaleout-${key}-secrets`);
      expect(isSecret(s.inputs.stdin)).toBe(true);
      expect(String(revealSecrets(s.inputs.stdin))).toContain("DATABASE_URL=");
      const c = one(prod, T.command, `scaleout-${key}-config`);
      expect(isSecret(c.inputs.stdin)).toBe(false);
      expect(String(c.inputs.stdin)).not.toMatch(/DATABASE_URL|REDIS_URL/);
    }
    expect(await pulumi.isSecret(outputs.databaseUrl!)).toBe(true);
    expect(await pulumi.isSecret(outputs.redisUrl!)).toBe(true);
  });

  it("syncs config one droplet after another, after the pool and the database firewalls exist", () => {
    const c = (k: string) => one(prod, T.command, `scaleout-${k}-config`);
    expect(c("app-2").dependencies).toContain(c("app-1").urn);
    expect(c("app-3").dependencies).toContain(c("app-2").urn);
    expect(c("app-1").dependencies).toContain(one(prod, T.pool, "scaleout-pg-pool").urn);
    expect(one(prod, T.command, "scaleout-app-1-secrets").dependencies).toEqual(
      expect.arrayContaining([
        one(prod, T.dbFirewall, "scaleout-pg-firewall").urn,
        one(prod, T.dbFirewall, "scaleout-valkey-firewall").urn,
      ]),
    );
    expect(String(c("app-1").inputs.stdin)).toContain(
      "DRAIN_SECONDS=12 HEALTH_PATH='/healthz' bash /etc/chatbot/.incoming/bin/apply-app-node.sh",
    );
  });

  it("gives every resource inputs of the types the provider takes (numbers for ports, strings for versions)", () => {
    const problems = prod.resources.flatMap((r) => checkInputTypes(r.type, r.inputs));
    expect(problems).toEqual([]);
    // The checker can fail: a string port is reported.
    const lb = one(prod, T.lb, "scaleout-lb");
    expect(
      checkInputTypes(T.lb, { ...lb.inputs, healthcheck: { ...(lb.inputs.healthcheck as object), port: "80" } }),
    ).toEqual([expect.stringContaining("healthcheck.port: must be a number")]);
  });

  it("adding an app droplet adds resources and changes none of the existing droplets, clusters or the pool", async () => {
    const more = await runScaleOut({ ...PROD, appCount: 4 });
    const pick = (run: OfflineRun) =>
      Object.fromEntries(
        run.resources
          .filter((r) => [T.droplet, T.cluster, T.pool].includes(r.type as never))
          .map((r) => [r.name, JSON.stringify(r.inputs)]),
      );
    const before = pick(prod);
    const after = pick(more);
    for (const [name, inputs] of Object.entries(before)) expect(after[name]).toBe(inputs);
    expect(Object.keys(after).filter((n) => !(n in before))).toEqual(["scaleout-app-4"]);
  });
});
