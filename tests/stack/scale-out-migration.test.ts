/**
 * Wiring of the ScaleOutMigration component under mocks (infra/offline/run.ts with a small program of our own): a
 * 16gb single-droplet server, the scale-out tier planned with `migrating: true`, and the migration between them.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isSecret, type OfflineRun, type RecordedResource, revealSecrets, runOffline } from "../../infra/offline/run";
import { firstServerNames } from "../../infra/deployed";
import { TARGET_CA_IN_CONTAINER, TARGET_CA_PATH } from "../../infra/scale-out-migration/commands";
import { FAKE_DATABASE_CA } from "../../infra/offline/fake-cloud";
import { planServer } from "../../infra/plan";
import { planScaleOut } from "../../infra/scale-out";
import { PROD_INPUT } from "../scale-out/input";
import { sampleConfig } from "../support/sample-config";

const projectDir = mkdtempSync(join(tmpdir(), "scale-out-migration-stack-"));
writeFileSync(join(projectDir, "Pulumi.yaml"), "name: chatbot\nruntime: nodejs\n");
writeFileSync(join(projectDir, "Pulumi.test.yaml"), "config: {}\n");
afterAll(() => rmSync(projectDir, { recursive: true, force: true }));

const config = sampleConfig({ tier: "16gb" }, "prod");

let run: OfflineRun;
beforeAll(async () => {
  const { AppServer } = await import("../../infra/components/app-server");
  const { ScaleOut } = await import("../../infra/components/scale-out");
  const { ScaleOutMigration } = await import("../../infra/components/scale-out-migration");
  run = await runOffline({
    projectDir,
    stack: "test",
    program: async () => {
      const server = new AppServer("app-16gb", {
        server: planServer(config, firstServerNames("chatbot-prod", "16gb"), "previous"),
        region: "nyc3",
        vpcId: "vpc-uuid-1",
        tag: "chatbot-prod",
        sshKeys: config.sshKeys,
        ssh: { user: "root" },
        secrets: pulumi.secret({
          postgresPassword: "p",
          appDbPassword: "a",
          replicationPassword: "r",
          redisPassword: "s",
        }),
        appPort: 8090,
      });
      const scaleOut = new ScaleOut("scaleout", {
        plan: planScaleOut({ ...PROD_INPUT, healthPath: "/health", appEnv: [], appCount: 2, migrating: true }),
        vpcId: "vpc-uuid-1",
        tag: "chatbot-prod",
        ssh: { user: "root" },
      });
      new ScaleOutMigration("scaleout-migration", {
        source: server,
        scaleOut,
        sshUser: "root",
        sshPrivateKey: pulumi.secret("KEY"),
        downtimeBudgetSeconds: 300,
        migrationBudgetMinutes: 30,
      });
      return {};
    },
  });
});

function one(type: string, name: string): RecordedResource {
  const r = run.resources.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`no ${type} ${name}`);
  return r;
}
const REMOTE = "command:remote:Command";
const LOCAL = "command:local:Command";

describe("ScaleOutMigration component", () => {
  it("writes the managed endpoints onto the droplet through a secret stdin only", () => {
    const t = one(REMOTE, "scaleout-migration-target-env");
    expect(isSecret(t.inputs.stdin)).toBe(true);
    const text = String(revealSecrets(t.inputs.stdin));
    expect(text).toContain("TARGET_PGSSLMODE='verify-ca'");
    expect(text).toContain(`TARGET_PGSSLROOTCERT='${TARGET_CA_IN_CONTAINER}'`);
    expect(text).toContain("TARGET_PGDATABASE='chatbot'");
    expect(text).toContain("TARGET_APP_USER='chatbot'");
    expect(text).toContain("TARGET_REDIS_TLS='1'");
    expect(t.inputs.create).toBe("umask 077 && cat > /etc/chatbot/scale-out-target.env");
    // Its delete removes the path a replacement (rotated credentials) writes: the old one goes first.
    expect(t.deleteBeforeReplace).toBe(true);
    expect(t.dependencies).toEqual(
      expect.arrayContaining([
        one(REMOTE, "app-16gb-config").urn,
        one("digitalocean:index/databaseFirewall:DatabaseFirewall", "scaleout-pg-firewall").urn,
      ]),
    );
  });

  it("writes the cluster's CA (the provider's getDatabaseCa) where the droplet's psql finds it, before the run", () => {
    const ca = one(REMOTE, "scaleout-migration-target-ca");
    expect(ca.inputs.stdin).toBe(FAKE_DATABASE_CA);
    expect(ca.inputs.triggers).toEqual([FAKE_DATABASE_CA]);
    expect(ca.inputs.create).toBe(`cat > ${TARGET_CA_PATH} && chmod 0644 ${TARGET_CA_PATH}`);
    expect(ca.inputs.delete).toBe(`rm -f ${TARGET_CA_PATH}`);
    // Its delete removes the path a replacement writes: the old one goes first.
    expect(ca.deleteBeforeReplace).toBe(true);
    expect(ca.dependencies).toContain(one(REMOTE, "app-16gb-config").urn);
    expect(one(LOCAL, "scaleout-migration-run").dependencies).toContain(ca.urn);
  });

  it("runs the cutover after the endpoints and every app droplet's config are in place, once per droplet and cluster", () => {
    const r = one(LOCAL, "scaleout-migration-run");
    expect(r.dependencies).toEqual(
      expect.arrayContaining([
        one(REMOTE, "scaleout-migration-target-env").urn,
        one(REMOTE, "scaleout-app-1-config").urn,
        one(REMOTE, "scaleout-app-2-config").urn,
      ]),
    );
    expect(r.inputs.triggers).toEqual([
      one("digitalocean:index/droplet:Droplet", "app-16gb-droplet").id,
      one("digitalocean:index/databaseCluster:DatabaseCluster", "scaleout-pg").id,
    ]);
  });

  it("names the droplet, its VPC address, the app droplets' internal listeners and ssh destinations on the command line, and no secret", () => {
    const r = one(LOCAL, "scaleout-migration-run");
    const create = String(r.inputs.create);
    const src = one("digitalocean:index/droplet:Droplet", "app-16gb-droplet").outputs;
    const a1 = one("digitalocean:index/droplet:Droplet", "scaleout-app-1").outputs;
    const a2 = one("digitalocean:index/droplet:Droplet", "scaleout-app-2").outputs;
    expect(create).toContain(`--source root@${src.ipv4Address} --source-private ${src.ipv4AddressPrivate}`);
    expect(create).toContain(
      `--upstreams ${a1.ipv4AddressPrivate}:8081,${a2.ipv4AddressPrivate}:8081 --app-nodes root@${a1.ipv4Address},root@${a2.ipv4Address}`,
    );
    expect(create).toContain("--downtime-budget 300 --migration-budget 30");
    expect(create).not.toMatch(/PASSWORD|KEY=/);
    expect(isSecret(r.inputs.create)).toBe(false);
    expect(isSecret((r.inputs.environment as Record<string, unknown>).CHATBOT_SSH_PRIVATE_KEY)).toBe(true);
  });

  it("lets the stack's tag reach both clusters while migrating", () => {
    for (const n of ["scaleout-pg-firewall", "scaleout-valkey-firewall"]) {
      expect(one("digitalocean:index/databaseFirewall:DatabaseFirewall", n).inputs.rules).toEqual([
        { type: "tag", value: "chatbot-prod-app" },
        { type: "tag", value: "chatbot-prod" },
      ]);
    }
  });
});
