import { beforeAll, describe, expect, it } from "vitest";
import type { OfflineRun } from "../../infra/offline/run";
import { isSecret } from "../../infra/offline/secret-values";
import { dropGuardCommand } from "../../infra/render/drop-guard";
import { all, find, runStack, T } from "./run-stack";

const LOCAL = "command:local:Command";
const future = new Date(Date.now() + 72 * 3600_000).toISOString();
const past = new Date(Date.now() - 3600_000).toISOString();
const migrating = { "chatbot:tier": "16gb", "chatbot:previousTier": "8gb", "chatbot:previousTierRetainUntil": future };

let run: OfflineRun;
beforeAll(async () => {
  run = await runStack("prod", migrating);
});

// The keys of the version before the deployment record: on a stack planned without its state (or deployed by that
// version), previousTier + previousTierRetainUntil describe a migration to the config's tier. The one-key change
// against the deployed state is in tier-change.test.ts.
describe("a tier migration described by the legacy keys (previousTier)", () => {
  it("keeps the old tier's server and adds the new one, each with its own volume, in the same region and VPC", () => {
    const droplets = all(run, T.droplet);
    expect(droplets.map((d) => d.name).sort()).toEqual(["app-16gb-droplet", "app-8gb-droplet"]);
    expect(new Set(droplets.map((d) => d.inputs.vpcUuid)).size).toBe(1);
    expect(new Set(droplets.map((d) => d.inputs.region)).size).toBe(1);
    expect(
      all(run, T.volume)
        .map((v) => v.inputs.name)
        .sort(),
    ).toEqual(["chatbot-prod-16gb-data", "chatbot-prod-8gb-data"]);
  });

  it("runs the migration after both servers' config is synced, once per pair of droplets", () => {
    const m = find(run, LOCAL, "migration-run");
    expect(m.dependencies).toEqual(
      expect.arrayContaining([find(run, T.command, "app-8gb-config").urn, find(run, T.command, "app-16gb-config").urn]),
    );
    expect(m.inputs.triggers).toEqual([
      find(run, T.droplet, "app-8gb-droplet").id,
      find(run, T.droplet, "app-16gb-droplet").id,
    ]);
    const create = String(m.inputs.create);
    const old = find(run, T.droplet, "app-8gb-droplet").outputs;
    const next = find(run, T.droplet, "app-16gb-droplet").outputs;
    expect(create).toContain(`--from root@${old.ipv4Address} --to root@${next.ipv4Address}`);
    expect(create).toContain(`--from-private ${old.ipv4AddressPrivate} --to-private ${next.ipv4AddressPrivate}`);
    expect(create).toContain("--downtime-budget 300 --migration-budget 30");
  });

  it("gives each server a drop guard that runs on its droplet and is deleted before the rest of it", () => {
    for (const server of ["app-8gb", "app-16gb"]) {
      const guard = find(run, T.command, `${server}-drop-guard`);
      expect(guard.inputs.delete).toBe(dropGuardCommand(server));
      expect(guard.inputs.create).toBeUndefined();
      const raw = guard.inputs.connection;
      const connection = (isSecret(raw) ? raw.value : raw) as { host?: string };
      expect(connection.host).toBe(find(run, T.droplet, `${server}-droplet`).outputs.ipv4Address);
      // Pulumi deletes a resource before what it depends on: the guard goes first, and a refusal stops the rest.
      expect(guard.dependencies).toEqual(
        expect.arrayContaining([
          find(run, T.attachment, `${server}-volume-attachment`).urn,
          find(run, T.command, `${server}-config`).urn,
        ]),
      );
    }
  });

  it("moves the reserved IP to the new droplet only through the migration's result", () => {
    const assignment = find(run, T.assignment);
    expect(assignment.inputs.dropletId).toBe(Number(find(run, T.droplet, "app-16gb-droplet").id));
    expect(assignment.dependencies).toContain(find(run, LOCAL, "migration-run").urn);
  });

  it("protects both servers while the old one is the rollback target, every volume left at DigitalOcean when dropped", () => {
    expect(find(run, T.volume, "app-8gb-volume")).toMatchObject({ protect: true, retainOnDelete: true });
    expect(find(run, T.droplet, "app-8gb-droplet")).toMatchObject({ protect: true });
    expect(find(run, T.volume, "app-16gb-volume")).toMatchObject({ protect: true, retainOnDelete: true });
    expect(find(run, T.droplet, "app-16gb-droplet")).toMatchObject({ protect: true });
  });

  it("once the retention time has passed, takes the old server's protection off (the next update drops it)", async () => {
    const after = await runStack("prod", { ...migrating, "chatbot:previousTierRetainUntil": past });
    expect(all(after, T.droplet).map((d) => [d.name, d.protect])).toEqual([
      ["app-16gb-droplet", true],
      ["app-8gb-droplet", false],
    ]);
    expect(find(after, T.volume, "app-8gb-volume")).toMatchObject({ protect: false, retainOnDelete: true });
    expect(find(after, T.assignment).inputs.dropletId).toBe(Number(find(after, T.droplet, "app-16gb-droplet").id));
  });

  it("without previousTier and without a deployed state, the config is planned as a stack never deployed", async () => {
    const plain = await runStack("prod", { "chatbot:tier": "16gb" });
    expect(all(plain, T.droplet).map((d) => d.name)).toEqual(["app-16gb-droplet"]);
    expect(all(plain, LOCAL)).toHaveLength(0);
  });
});

describe("DNS traffic switch", () => {
  it("points the record at the serving droplet, with no reserved IP", async () => {
    const dns = await runStack("dev", { "chatbot:trafficSwitch": "dns" });
    expect(all(dns, T.reservedIp)).toHaveLength(0);
    expect(find(dns, T.record).inputs.value).toBe(find(dns, T.droplet).outputs.ipv4Address);
  });

  it("switches the record to the new droplet through the migration's result", async () => {
    const dns = await runStack("dev", {
      "chatbot:trafficSwitch": "dns",
      "chatbot:dnsTtlSeconds": "30",
      "chatbot:tier": "8gb",
      "chatbot:previousTier": "4gb",
      "chatbot:previousTierRetainUntil": future,
    });
    const record = find(dns, T.record);
    expect(record.inputs.value).toBe(find(dns, T.droplet, "app-8gb-droplet").outputs.ipv4Address);
    expect(record.dependencies).toContain(find(dns, LOCAL, "migration-run").urn);
  });
});
