/** The operator outputs' rules (infra/stack-outputs.ts): roles, the serving server and the migration's state. */
import { describe, expect, it } from "vitest";
import { type DeploymentRecord, firstServerNames, newServerNames } from "../../infra/deployed";
import { type DropletValues, migrationStatus, serverOutputs, servingServer } from "../../infra/stack-outputs";

const prefix = "chatbot-prod";
const s8 = firstServerNames(prefix, "8gb");
const s16 = newServerNames(prefix, "16gb", 2, [s8.key]);
const base = { version: 1 as const, region: "nyc3", volumeSizeGiB: 100, dnsTtlSeconds: 300 };

const single: DeploymentRecord = { ...base, tier: "8gb", generation: 1, serving: s8 };
const migrated: DeploymentRecord = {
  ...base,
  tier: "16gb",
  generation: 2,
  serving: s16,
  previous: s8,
  migration: { id: "mig-1", from: s8.key, to: s16.key, strategy: "replicate", committedAt: "2026-12-01T10:00:00.000Z" },
};
const legacy: DeploymentRecord = {
  ...base,
  tier: "16gb",
  generation: 2,
  serving: s16,
  previous: { ...s8, retainUntil: "2026-12-03T00:00:00.000Z" },
  legacy: true,
};
const scaleOut: DeploymentRecord = {
  ...base,
  tier: "scale-out",
  generation: 2,
  previous: firstServerNames(prefix, "16gb"),
  migration: {
    id: "mig-2",
    from: "app-16gb",
    to: "scale-out",
    strategy: "logical",
    committedAt: "2026-12-01T10:00:00.000Z",
  },
};

const droplet = (key: string, extra: Partial<DropletValues> = {}): DropletValues => ({
  key,
  dropletId: `id-${key}`,
  dropletName: `name-${key}`,
  publicIp: "203.0.113.10",
  privateIp: "10.10.0.10",
  ...extra,
});

describe("servingServer", () => {
  it.each([
    ["one droplet", single, "app-8gb"],
    ["after a migration", migrated, "app-16gb"],
    ["scale-out", scaleOut, "scale-out"],
  ])("%s: %s", (_label, record, expected) => {
    expect(servingServer(record)).toBe(expected);
  });
});

describe("serverOutputs", () => {
  it("gives each droplet its role from the record: serving, previous (the rollback target) or a scale-out app droplet", () => {
    const out = serverOutputs(migrated, [
      droplet("app-16gb", { tier: "16gb", volumeId: "v16", volumeName: "data-16" }),
      droplet("app-8gb", { tier: "8gb", volumeId: "v8" }),
    ]);
    expect(out).toEqual({
      "app-16gb": {
        role: "serving",
        tier: "16gb",
        dropletId: "id-app-16gb",
        dropletName: "name-app-16gb",
        publicIp: "203.0.113.10",
        privateIp: "10.10.0.10",
        volumeId: "v16",
        volumeName: "data-16",
      },
      "app-8gb": {
        role: "previous",
        tier: "8gb",
        dropletId: "id-app-8gb",
        dropletName: "name-app-8gb",
        publicIp: "203.0.113.10",
        privateIp: "10.10.0.10",
        volumeId: "v8",
      },
    });
    expect(serverOutputs(scaleOut, [droplet("scale-out-app-1"), droplet("app-16gb", { tier: "16gb" })])).toMatchObject({
      "scale-out-app-1": { role: "app" },
      "app-16gb": { role: "previous", tier: "16gb" },
    });
  });
});

describe("migrationStatus", () => {
  it.each([
    ["no server migrated from", single, { hours: 24 }, { state: "none" }],
    [
      "a committed migration: kept for the retention hours after the commit",
      migrated,
      { hours: 24 },
      {
        state: "done",
        id: "mig-1",
        from: "app-8gb",
        to: "app-16gb",
        strategy: "replicate",
        committedAt: "2026-12-01T10:00:00.000Z",
        rollbackTarget: "app-8gb",
        rollbackUntil: "2026-12-02T10:00:00.000Z",
      },
    ],
    [
      "an explicit previousTierRetainUntil wins",
      migrated,
      { hours: 24, until: "2026-12-05T00:00:00Z" },
      { state: "done", rollbackTarget: "app-8gb", rollbackUntil: "2026-12-05T00:00:00.000Z" },
    ],
    [
      "a legacy record: its own time, no migration id",
      legacy,
      { hours: 24 },
      {
        state: "done",
        from: "app-8gb",
        to: "app-16gb",
        rollbackTarget: "app-8gb",
        rollbackUntil: "2026-12-03T00:00:00.000Z",
      },
    ],
    [
      "the move onto scale-out",
      scaleOut,
      { hours: 48 },
      {
        state: "done",
        from: "app-16gb",
        to: "scale-out",
        rollbackTarget: "app-16gb",
        rollbackUntil: "2026-12-03T10:00:00.000Z",
      },
    ],
  ])("%s", (_label, record, retain, expected) => {
    const status = migrationStatus(record as DeploymentRecord, retain);
    expect(status).toMatchObject(expected);
    if (expected.state === "none") expect(status).toEqual(expected);
  });

  it("says whom the rollback target follows since when, and a switch back; neither when the record has none", () => {
    const since = "2026-12-01T10:00:02.000Z";
    const back: DeploymentRecord = {
      ...migrated,
      tier: "8gb",
      serving: s8,
      previous: { ...s16, follows: { key: s8.key, since } },
      migration: { ...migrated.migration!, from: s16.key, to: s8.key, switchBack: true },
    };
    expect(migrationStatus(back, { hours: 24 })).toMatchObject({
      from: "app-16gb",
      to: "app-8gb",
      switchBack: true,
      follows: { server: "app-8gb", since },
    });
    const plain = migrationStatus(migrated, { hours: 24 });
    expect(plain).not.toHaveProperty("follows");
    expect(plain).not.toHaveProperty("switchBack");
  });
});
