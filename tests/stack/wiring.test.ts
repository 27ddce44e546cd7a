import { beforeAll, describe, expect, it } from "vitest";
import { PASSWORD_MIN_LENGTH } from "../../infra/config";
import { isSecret, type OfflineRun, revealSecrets } from "../../infra/offline/run";
import { all, find, runStack, T } from "./run-stack";

let dev: OfflineRun;
let prod: OfflineRun;

beforeAll(async () => {
  dev = await runStack("dev");
  prod = await runStack("prod");
});

const shortParent = (urn: string | undefined) => urn?.split("::").pop();

describe("resources and their parents", () => {
  it("creates one droplet of the tier, in the VPC, tagged, with monitoring", () => {
    const droplets = all(prod, T.droplet);
    expect(droplets).toHaveLength(1);
    const d = droplets[0]!;
    expect(d.name).toBe("app-8gb-droplet");
    expect(d.inputs).toMatchObject({
      size: "s-4vcpu-8gb",
      region: "nyc3",
      image: "ubuntu-24-04-x64",
      monitoring: true,
      tags: ["chatbot-prod"],
    });
    expect(d.inputs.vpcUuid).toBe(find(prod, T.vpc).id);
    expect(shortParent(d.parent)).toBe("app-8gb");
  });

  it("parents every resource to a component of the stack", () => {
    const components = new Set(prod.resources.filter((r) => !r.custom).map((r) => r.urn));
    for (const r of prod.resources.filter((x) => x.custom)) {
      expect(components.has(r.parent ?? ""), `${r.name} has parent ${r.parent}`).toBe(true);
    }
    for (const c of prod.resources.filter((r) => !r.custom)) expect(c.type).toMatch(/^chatbot:[a-z]+:[A-Z][A-Za-z]+$/);
  });

  it("attaches the volume to the droplet, with the droplet id as a number", () => {
    const droplet = find(prod, T.droplet);
    const att = find(prod, T.attachment);
    expect(att.inputs.dropletId).toBe(Number(droplet.id));
    expect(att.inputs.volumeId).toBe(find(prod, T.volume).id);
    expect(att.deleteBeforeReplace).toBe(true);
    expect(find(prod, T.volume).inputs).toMatchObject({
      size: 100,
      initialFilesystemType: "ext4",
      name: "chatbot-prod-8gb-data",
    });
  });

  it("assigns the reserved IP to the droplet and points the domain's A record at it", () => {
    const droplet = find(dev, T.droplet);
    const ip = find(dev, T.reservedIp);
    expect(find(dev, T.assignment).inputs).toEqual({ ipAddress: ip.outputs.ipAddress, dropletId: Number(droplet.id) });
    // The zone's id is its name at DigitalOcean; depending on it orders the record after the zone.
    expect(find(dev, T.record).inputs).toMatchObject({
      type: "A",
      name: "chat-dev",
      value: ip.outputs.ipAddress,
      ttl: 300,
      domain: find(dev, T.domain).id,
    });
    expect(find(dev, T.domain).inputs).toMatchObject({ name: "example.com" });
  });

  it("groups the droplet, volume, reserved IP and domain in a DigitalOcean project", () => {
    const p = find(prod, T.project).inputs;
    expect(p.environment).toBe("Production");
    expect(find(dev, T.project).inputs.environment).toBe("Development");
    expect(p.resources).toEqual([
      find(prod, T.droplet).outputs.dropletUrn,
      find(prod, T.volume).outputs.volumeUrn,
      find(prod, T.reservedIp).outputs.reservedIpUrn,
      find(prod, T.domain).outputs.domainUrn,
    ]);
  });

  it("does not create the zone when manageDnsZone is false", async () => {
    const run = await runStack("dev", { "chatbot:manageDnsZone": "false" });
    expect(all(run, T.domain)).toHaveLength(0);
    expect(find(run, T.record).inputs.domain).toBe("example.com");
  });
});

describe("firewall", () => {
  type Rule = { protocol: string; portRange?: string; sourceAddresses?: string[]; sourceTags?: string[] };
  const inbound = (run: OfflineRun) => find(run, T.firewall).inputs.inboundRules as Rule[];

  it("applies to the stack's tag", () => {
    expect(find(prod, T.firewall).inputs.tags).toEqual(["chatbot-prod"]);
  });

  it("opens 80 and 443 to the world", () => {
    for (const port of ["80", "443"]) {
      expect(inbound(prod)).toContainEqual({
        protocol: "tcp",
        portRange: port,
        sourceAddresses: ["0.0.0.0/0", "::/0"],
      });
    }
  });

  it("opens 22 only to the allowlist", () => {
    const ssh = inbound(prod).filter((r) => r.portRange === "22");
    expect(ssh).toEqual([{ protocol: "tcp", portRange: "22", sourceAddresses: ["203.0.113.0/28"] }]);
  });

  it.each(["5432", "6379"])("never opens %s to an address, only to the stack's own droplets", (port) => {
    for (const run of [dev, prod]) {
      const rules = inbound(run).filter((r) => r.portRange === port);
      expect(rules).toEqual([
        { protocol: "tcp", portRange: port, sourceTags: [run === dev ? "chatbot-dev" : "chatbot-prod"] },
      ]);
    }
    const ranges = inbound(prod)
      .filter((r) => r.sourceAddresses?.includes("0.0.0.0/0"))
      .map((r) => r.portRange);
    expect(ranges).not.toContain(port);
    expect(ranges.some((r) => r?.includes("-"))).toBe(false);
  });
});

describe("secrets", () => {
  it("generates passwords and marks everything holding them secret", () => {
    expect(all(prod, T.password)).toHaveLength(4);
    const secretsSync = find(prod, T.command, "app-8gb-secrets");
    expect(isSecret(secretsSync.inputs.stdin)).toBe(true);
    const revealed = revealSecrets(secretsSync.inputs.stdin) as string;
    expect(revealed).toContain("POSTGRES_PASSWORD=mock-password-secrets-postgres");
    expect(revealed).toContain("requirepass mock-password-secrets-redis");
  });

  it("keeps every password out of the plain inputs of every resource", () => {
    for (const run of [dev, prod]) {
      for (const r of run.resources) {
        const plain = JSON.stringify(r.inputs, (_k, v) => (isSecret(v) ? "[secret]" : v));
        expect(plain, r.name).not.toMatch(/mock-password/);
      }
    }
  });

  it("uses the SSH private key from config as a secret connection input", () => {
    const config = find(prod, T.command, "app-8gb-config");
    const connection = config.inputs.connection as Record<string, unknown>;
    expect(isSecret(connection) || isSecret(connection.privateKey)).toBe(true);
    const devConnection = find(dev, T.command, "app-4gb-config").inputs.connection as Record<string, unknown>;
    expect(devConnection.privateKey).toBeUndefined();
  });

  it("reads postgresPassword from config instead of generating it", async () => {
    const run = await runStack("dev", { "chatbot:postgresPassword": "from-config-password" }, [
      "chatbot:postgresPassword",
    ]);
    expect(all(run, T.password).map((p) => p.name)).not.toContain("secrets-postgres");
    expect(revealSecrets(find(run, T.command, "app-4gb-secrets").inputs.stdin)).toContain(
      "POSTGRES_PASSWORD=from-config-password",
    );
  });

  it("generates passwords that keep to the password rule: 32 letters and digits, no special characters", () => {
    // hashicorp/terraform-provider-random: special: false leaves the upper, lower and numeric sets (A-Z a-z 0-9); its
    // default special set (!@#$%&*()-_=+[]{}<>:?) holds # and $, which app.env and the Redis include cannot carry.
    const generated = all(dev, T.password);
    expect(generated.map((p) => p.name).sort()).toEqual([
      "secrets-app-db",
      "secrets-postgres",
      "secrets-redis",
      "secrets-replication",
    ]);
    for (const p of generated) {
      expect(p.inputs, p.name).toMatchObject({ length: 32, special: false });
      expect(p.inputs.length as number).toBeGreaterThanOrEqual(PASSWORD_MIN_LENGTH);
      for (const set of ["upper", "lower", "numeric", "overrideSpecial", "minSpecial"])
        expect(p.inputs[set], `${p.name} ${set}`).toBeUndefined();
    }
  });
});

describe("protection", () => {
  it("protects the volume, reserved IP and zone in prod, not in dev", () => {
    for (const [type, name] of [
      [T.volume, "app-8gb-volume"],
      [T.reservedIp, "edge-ip"],
      [T.domain, "edge-zone"],
    ] as const) {
      expect(find(prod, type, name).protect, name).toBe(true);
    }
    expect(find(dev, T.volume).protect).toBe(false);
    expect(find(dev, T.reservedIp).protect).toBe(false);
  });

  it("turns on droplet backups in prod with the configured plan", () => {
    expect(find(prod, T.droplet).inputs).toMatchObject({ backups: true, backupPolicy: { plan: "daily", hour: 4 } });
    expect(find(dev, T.droplet).inputs.backups).toBe(false);
  });
});

describe("changes applied in place", () => {
  it.each([
    ["tuning", { "chatbot:dbPoolSize": "12", "chatbot:dbMaxOverflow": "2" }],
    ["app image", { "chatbot:appImage": "ghcr.io/example/chatbot:0.2.0" }],
    ["app environment", { "chatbot:appEnv": '["LOG_LEVEL=debug"]' }],
    ["health path and port", { "chatbot:healthPath": "/ready", "chatbot:appPort": "8000" }],
  ])(
    "a %s change leaves the droplet's user data byte-identical and re-runs the config sync",
    async (_what, overrides) => {
      const changed = await runStack("dev", overrides);
      expect(find(changed, T.droplet).inputs.userData).toEqual(find(dev, T.droplet).inputs.userData);
      const before = find(dev, T.command, "app-4gb-config").inputs;
      const after = find(changed, T.command, "app-4gb-config").inputs;
      expect(after.triggers).not.toEqual(before.triggers);
      expect(after.stdin).not.toBe(before.stdin);
    },
  );

  it("a tier change renders different user data (a new machine: the migration's job)", async () => {
    const bigger = await runStack("dev", { "chatbot:tier": "8gb" });
    expect(find(bigger, T.droplet).inputs.userData).not.toEqual(find(dev, T.droplet).inputs.userData);
  });

  it("both syncs re-run on a replaced droplet (a connection change alone would not re-run them)", () => {
    const droplet = find(prod, T.droplet);
    for (const name of ["app-8gb-secrets", "app-8gb-config"]) {
      expect(find(prod, T.command, name).inputs.triggers).toEqual(
        expect.arrayContaining([droplet.id, find(prod, T.attachment).id]),
      );
    }
  });

  it("the config sync runs after the volume is attached and the secrets are written", () => {
    const config = find(prod, T.command, "app-8gb-config");
    expect(config.dependencies).toContain(find(prod, T.attachment).urn);
    expect(config.dependencies).toContain(find(prod, T.command, "app-8gb-secrets").urn);
  });
});

describe("monitoring", () => {
  it("watches the serving droplet and the health endpoint in prod", () => {
    const alerts = all(prod, "digitalocean:index/monitorAlert:MonitorAlert");
    expect(alerts.length).toBeGreaterThan(0);
    for (const a of alerts) expect(a.inputs.entities).toEqual([String(find(prod, T.droplet).id)]);
    expect(find(prod, "digitalocean:index/uptimeCheck:UptimeCheck").inputs.target).toBe(
      "https://chat.example.com/health",
    );
  });

  it("creates no alerts for a stack without alert emails", () => {
    expect(all(dev, "digitalocean:index/monitorAlert:MonitorAlert")).toHaveLength(0);
  });
});
