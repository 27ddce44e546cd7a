/**
 * Planning against what is deployed: a one-key tier change becomes a migration from the serving server, the old
 * server's retention counts from the recorded commit time, and nothing that would lose data is planned.
 */
import { describe, expect, it } from "vitest";
import { ConfigError } from "../../infra/config";
import { type DeploymentRecord, DeployedStateError, readDeployed } from "../../infra/deployed";
import type { MigrationResult } from "../../infra/migration/result-line";
import { deploymentAfter, planStack, type StackPlan } from "../../infra/plan";
import { sampleConfig } from "../support/sample-config";

const PREFIX = "chatbot-dev";
const T0 = new Date("2026-12-01T10:00:00Z");
const hours = (h: number) => new Date(T0.getTime() + h * 3600_000);

function result(_plan: StackPlan, committedAt = T0.toISOString()): MigrationResult {
  return {
    id: "m1",
    state: "done",
    from: "root@203.0.113.10",
    to: "root@203.0.113.11",
    strategy: "replicate",
    committedAt,
    finishedAt: committedAt,
    resumed: false,
  };
}

/** The record a successful `pulumi up` leaves, for a config, from a deployed record. */
function upAt(
  overrides: Record<string, unknown>,
  deployed: DeploymentRecord | undefined,
  now = T0,
  stack = "dev",
): { plan: StackPlan; after: DeploymentRecord } {
  const plan = planStack(sampleConfig(overrides, stack), deployed, now);
  const running = plan.migration?.running || plan.scaleOutMigration?.running;
  return { plan, after: deploymentAfter(plan, running ? result(plan, now.toISOString()) : undefined) };
}

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.key}: ${i.message}`);
    throw e;
  }
  return [];
}

const at4gb = upAt({ tier: "4gb" }, undefined).after;

describe("a stack never deployed", () => {
  it("plans the config's tier with the names the stack always gave its first server", () => {
    const { plan, after } = upAt({ tier: "4gb" }, undefined);
    expect(plan.active).toMatchObject({
      name: "app-4gb",
      dropletName: `${PREFIX}-4gb`,
      volumeName: `${PREFIX}-4gb-data`,
      role: "serving",
    });
    expect(plan.active?.volumeDescription).toBe(`PostgreSQL, Redis and Caddy data of ${PREFIX}-4gb`);
    expect(plan.migration).toBeUndefined();
    expect(after).toMatchObject({
      tier: "4gb",
      generation: 1,
      region: "nyc3",
      volumeSizeGiB: 20,
      serving: { key: "app-4gb" },
    });
    expect(after.previous).toBeUndefined();
  });

  it("keeps every data volume at DigitalOcean when dropped, unless allowDataLoss (dev only)", () => {
    expect(upAt({}, undefined).plan.active?.retainVolumeOnDelete).toBe(true);
    expect(upAt({ allowDataLoss: true }, undefined).plan.active?.retainVolumeOnDelete).toBe(false);
    expect(problems(() => sampleConfig({ allowDataLoss: true }, "prod"))).toEqual([
      "chatbot:allowDataLoss: must be false in prod: data volumes are never dropped or replaced there",
    ]);
  });
});

describe("changing only the tier", () => {
  const { plan, after } = upAt({ tier: "8gb" }, at4gb);

  it("plans a new server and a migration from the deployed one, keeping the old one", () => {
    expect(plan.active).toMatchObject({
      name: "app-8gb",
      role: "target",
      dropletName: `${PREFIX}-8gb-g2`,
      volumeName: `${PREFIX}-8gb-data-g2`,
      volumeDescription: `PostgreSQL, Redis and Caddy data of ${PREFIX}-8gb-g2`,
      tier: { name: "8gb" },
    });
    expect(plan.previous).toMatchObject({
      name: "app-4gb",
      role: "previous",
      dropletName: `${PREFIX}-4gb`,
      volumeName: `${PREFIX}-4gb-data`,
      volumeDescription: `PostgreSQL, Redis and Caddy data of ${PREFIX}-4gb`,
    });
    expect(plan.migration).toMatchObject({
      from: "4gb",
      to: "8gb",
      fromKey: "app-4gb",
      toKey: "app-8gb",
      running: true,
      down: false,
      retainHours: 24,
    });
  });

  it("protects the target until its migration has succeeded and leaves the old one droppable", () => {
    expect(plan.active).toMatchObject({ protect: true, retainVolumeOnDelete: true });
    expect(plan.previous).toMatchObject({ protect: false, retainVolumeOnDelete: true });
  });

  it("records the commit time the migration printed, and refuses to record a migration that printed none", () => {
    expect(after).toMatchObject({
      tier: "8gb",
      generation: 2,
      serving: { key: "app-8gb" },
      previous: { key: "app-4gb" },
      migration: { from: "app-4gb", to: "app-8gb", committedAt: T0.toISOString() },
    });
    expect(() => deploymentAfter(plan, undefined)).toThrow(/without printing its result line/);
  });

  it("keeps the old server for previousTierRetainHours counted from the commit, then drops it", () => {
    const within = upAt({ tier: "8gb" }, after, hours(23.9));
    expect(within.plan.previous?.name).toBe("app-4gb");
    expect(within.plan.migration).toMatchObject({
      running: false,
      committedAt: T0.toISOString(),
      retainUntil: hours(24).toISOString(),
    });
    expect(within.plan.active).toMatchObject({ role: "serving", protect: false });
    expect(within.after).toEqual(after);

    const past = upAt({ tier: "8gb" }, after, hours(24));
    expect(past.plan.previous).toBeUndefined();
    expect(past.plan.migration).toBeUndefined();
    expect(past.plan.dropped?.volumeName).toBe(`${PREFIX}-4gb-data`);
    expect(past.after).toMatchObject({ tier: "8gb", serving: { key: "app-8gb" } });
    expect(past.after.previous).toBeUndefined();
    expect(past.after.migration).toBeUndefined();

    expect(upAt({ tier: "8gb", previousTierRetainHours: 2 }, after, hours(2)).plan.previous).toBeUndefined();
  });

  it("does not depend on when it is planned, only on the recorded commit", () => {
    const later = { ...after, migration: { ...after.migration!, committedAt: hours(100).toISOString() } };
    expect(upAt({ tier: "8gb" }, later, hours(110)).plan.previous?.name).toBe("app-4gb");
  });

  it("refuses another tier change while the old server is the rollback target, naming when it ends", () => {
    expect(problems(() => planStack(sampleConfig({ tier: "16gb" }), after, hours(1)))).toEqual([
      expect.stringMatching(
        /^chatbot:tier: cannot change to 16gb yet: the 4gb server migrated from at 2026-12-01T10:00:00.000Z is the rollback target until 2026-12-02T10:00:00.000Z/,
      ),
    ]);
  });

  it("drops an expired previous server and migrates in the same update, with names never used before", () => {
    const back = upAt({ tier: "4gb" }, after, hours(30));
    expect(back.plan.dropped?.key).toBe("app-4gb");
    expect(back.plan.active).toMatchObject({ name: "app-4gb-g3", volumeName: `${PREFIX}-4gb-data-g3`, role: "target" });
    expect(back.plan.previous?.name).toBe("app-8gb");
    expect(back.plan.migration).toMatchObject({ from: "8gb", to: "4gb", down: true });
    // Every server of the stack, the dropped one included, has names and a description of its own.
    const servers = [back.plan.dropped!, back.plan.previous!.record, back.plan.active!.record];
    for (const key of ["key", "dropletName", "volumeName", "volumeDescription"] as const)
      expect(new Set(servers.map((x) => x[key])).size, key).toBe(3);
    expect(back.plan.active).toMatchObject({
      dropletName: `${PREFIX}-4gb-g3`,
      volumeDescription: `PostgreSQL, Redis and Caddy data of ${PREFIX}-4gb-g3`,
    });
    // The serving server keeps the names its record gives it.
    expect(back.plan.previous).toMatchObject({ dropletName: `${PREFIX}-8gb-g2`, volumeName: `${PREFIX}-8gb-data-g2` });
  });

  it("refuses changes that would replace or shrink a data volume", () => {
    expect(problems(() => planStack(sampleConfig({ region: "sfo3" }), at4gb, T0))).toEqual([
      expect.stringMatching(/^chatbot:region: must stay nyc3: .*replaces every data volume/),
    ]);
    expect(problems(() => planStack(sampleConfig({ region: "sfo3", allowDataLoss: true }), at4gb, T0))).toEqual([]);
    expect(problems(() => planStack(sampleConfig({ volumeSizeGiB: 10 }), at4gb, T0))).toEqual([
      "chatbot:volumeSizeGiB: must be at least 20 (deployed): DigitalOcean volumes grow but never shrink",
    ]);
    expect(problems(() => planStack(sampleConfig({ volumeSizeGiB: 40 }), at4gb, T0))).toEqual([]);
  });

  it("in DNS mode, needs a TTL of 60 s or less deployed before the change", () => {
    const dns300 = upAt({ trafficSwitch: "dns" }, undefined).after;
    expect(
      problems(() => planStack(sampleConfig({ tier: "8gb", trafficSwitch: "dns", dnsTtlSeconds: 30 }), dns300, T0)),
    ).toEqual([
      expect.stringMatching(
        /^chatbot:dnsTtlSeconds: must be 60 or less, deployed for at least one old TTL.*deployed: 300 s/,
      ),
    ]);
    const dns30 = upAt({ trafficSwitch: "dns", dnsTtlSeconds: 30 }, undefined).after;
    expect(
      planStack(sampleConfig({ tier: "8gb", trafficSwitch: "dns", dnsTtlSeconds: 30 }), dns30, T0).migration
        ?.trafficSwitch,
    ).toBe("dns");
  });
});

describe("prod: no plan unprotects the server that serves or the rollback target", () => {
  const prod = (tier: string, deployed: DeploymentRecord | undefined, now = T0) =>
    upAt({ tier }, deployed, now, "prod");
  const first = prod("4gb", undefined).after;
  const move = prod("8gb", first);

  it("keeps both servers protected while the migration runs and through the retention", () => {
    expect(move.plan.previous).toMatchObject({ name: "app-4gb", protect: true });
    expect(move.plan.active).toMatchObject({ name: "app-8gb", protect: true });
    const within = prod("8gb", move.after, hours(23.9));
    expect(within.plan.previous).toMatchObject({ name: "app-4gb", protect: true });
    expect(within.plan.active).toMatchObject({ role: "serving", protect: true });
    expect(within.plan.released).toBeUndefined();
  });

  it("past the retention, takes the rollback target's protection off in one update and drops it in the next", () => {
    const release = prod("8gb", move.after, hours(24));
    expect(release.plan.dropped).toBeUndefined();
    expect(release.plan.released?.key).toBe("app-4gb");
    expect(release.plan.previous).toMatchObject({ name: "app-4gb", role: "previous", protect: false });
    expect(release.plan.active).toMatchObject({ name: "app-8gb", protect: true });
    expect(release.after.previous).toMatchObject({ key: "app-4gb", protectReleasedAt: hours(24).toISOString() });
    // Planned again before the next update: still released, not released twice.
    expect(prod("8gb", move.after, hours(24.5)).plan.released?.key).toBe("app-4gb");

    const drop = prod("8gb", release.after, hours(25));
    expect(drop.plan.released).toBeUndefined();
    expect(drop.plan.previous).toBeUndefined();
    expect(drop.plan.dropped?.key).toBe("app-4gb");
    expect(drop.after.previous).toBeUndefined();
    expect(drop.after.retainedVolumes?.map((v) => v.key)).toEqual(["app-4gb"]);
  });

  it("refuses a tier change while the rollback target is still protected, saying how to go on", () => {
    expect(problems(() => planStack(sampleConfig({ tier: "16gb" }, "prod"), move.after, hours(30)))).toEqual([
      expect.stringMatching(
        /^chatbot:tier: cannot change to 16gb yet: the 4gb server .* is past its retention .* but still protected\. Run `pulumi up` twice at tier 8gb first/,
      ),
    ]);
  });
});

describe("scale-out from what is deployed", () => {
  it("moves from a deployed 16gb server, and only from it", () => {
    const at16 = upAt({ tier: "16gb" }, undefined).after;
    const { plan, after } = upAt({ tier: "scale-out" }, at16);
    expect(plan.scaleOutMigration).toMatchObject({ from: "16gb", fromKey: "app-16gb", running: true });
    expect(plan.previous?.name).toBe("app-16gb");
    expect(after).toMatchObject({
      tier: "scale-out",
      previous: { key: "app-16gb" },
      migration: { to: "scale-out", strategy: "replicate" },
    });
    expect(after.serving).toBeUndefined();
    expect(upAt({ tier: "scale-out" }, after, hours(1)).plan.scaleOutMigration?.running).toBe(false);
    expect(upAt({ tier: "scale-out" }, after, hours(25)).plan.previous).toBeUndefined();
    expect(problems(() => planStack(sampleConfig({ tier: "scale-out" }), at4gb, T0))).toEqual([
      expect.stringMatching(/^chatbot:tier: must be 16gb before scale-out \(deployed: 4gb\)/),
    ]);
    expect(
      problems(() =>
        planStack(sampleConfig({ tier: "8gb" }), { ...after, previous: undefined, migration: undefined }, T0),
      ),
    ).toEqual([expect.stringMatching(/cannot change from scale-out back to 8gb/)]);
  });
});

describe("stacks deployed before the record (only `tier` exported)", () => {
  it("read as one server with the names that version gave it (no replacement)", () => {
    const legacy = readDeployed(
      { tier: "8gb", dropletSize: "s-4vcpu-8gb", publicIp: "198.51.100.1", url: "https://x" },
      PREFIX,
    );
    expect(legacy).toMatchObject({
      legacy: true,
      tier: "8gb",
      serving: { key: "app-8gb", volumeName: `${PREFIX}-8gb-data` },
    });
    const plan = planStack(sampleConfig({ tier: "8gb" }), legacy, T0);
    expect(plan.active).toMatchObject({
      name: "app-8gb",
      volumeName: `${PREFIX}-8gb-data`,
      volumeDescription: `PostgreSQL, Redis and Caddy data of ${PREFIX}-8gb`,
    });
    expect(planStack(sampleConfig({ tier: "16gb" }), legacy, T0).migration).toMatchObject({
      fromKey: "app-8gb",
      toKey: "app-16gb",
      running: true,
    });
  });

  it("honour previousTier and previousTierRetainUntil as the record of a migration that has run, until that time", () => {
    const legacy = readDeployed({ tier: "8gb" }, PREFIX);
    const keys = { tier: "8gb", previousTier: "4gb", previousTierRetainUntil: hours(5).toISOString() };
    const within = upAt(keys, legacy, hours(1));
    expect(within.plan.previous?.name).toBe("app-4gb");
    expect(within.plan.migration).toMatchObject({ running: false, retainUntil: hours(5).toISOString() });
    expect(within.after.previous).toMatchObject({ key: "app-4gb", retainUntil: hours(5).toISOString() });
    // The next plan reads the record; the keys still agree with it, and the time they give still wins.
    expect(upAt(keys, within.after, hours(6)).plan.previous).toBeUndefined();
    expect(upAt(keys, legacy, hours(6)).plan.previous).toBeUndefined();
  });

  it("refuse previousTier when it does not describe what is deployed: a time in the past plans no data loss", () => {
    const legacy = readDeployed({ tier: "4gb" }, PREFIX);
    const past = { tier: "8gb", previousTier: "4gb", previousTierRetainUntil: hours(-1).toISOString() };
    expect(problems(() => planStack(sampleConfig(past), legacy, T0))).toEqual([
      expect.stringMatching(
        /^chatbot:previousTier: must be removed .*the deployed tier is 4gb, and a tier change plans its own migration from it/,
      ),
    ]);
    // Without the key, the same change is a migration from the deployed 4gb server.
    expect(planStack(sampleConfig({ tier: "8gb" }), legacy, T0).migration).toMatchObject({
      fromKey: "app-4gb",
      running: true,
    });
  });
});

describe("reading the deployed outputs", () => {
  it("treats a stack with no outputs as never deployed", () => {
    expect(readDeployed(undefined, PREFIX)).toBeUndefined();
    expect(readDeployed({}, PREFIX)).toBeUndefined();
  });

  it("names the output field that is wrong", () => {
    expect(() => readDeployed({ deployment: { ...at4gb, generation: "two" } }, PREFIX)).toThrow(DeployedStateError);
    expect(() => readDeployed({ deployment: { ...at4gb, generation: "two" } }, PREFIX)).toThrow(
      /output deployment\.generation/,
    );
    expect(() => readDeployed({ publicIp: "x" }, PREFIX)).toThrow(/no `deployment` output and no known `tier` output/);
  });

  it("refuses a single-droplet record without its server, or with another tier's, and names the whole output", () => {
    const { serving: _, ...noServer } = at4gb;
    expect(() => readDeployed({ deployment: noServer }, PREFIX)).toThrow(/output deployment\.serving: missing/);
    const wrong = { ...at4gb, serving: { ...at4gb.serving!, tier: "8gb" } };
    expect(() => readDeployed({ deployment: wrong }, PREFIX)).toThrow(/output deployment\.serving\.tier: is 8gb/);
    expect(() => readDeployed({ deployment: "4gb" }, PREFIX)).toThrow(/output deployment: /);
    expect(readDeployed({ deployment: at4gb }, PREFIX)?.serving?.tier).toBe("4gb");
  });

  it("round-trips the record through JSON", () => {
    const { after } = upAt({ tier: "8gb" }, at4gb);
    expect(readDeployed({ deployment: JSON.parse(JSON.stringify(after)) }, PREFIX)).toEqual(after);
  });
});

describe("switching back within the window", () => {
  /** As upAt, with the result a real run prints: the server left follows the new primary a second after the commit. */
  function up(tier: string, deployed: DeploymentRecord | undefined, now: Date, stack = "dev") {
    const plan = planStack(sampleConfig({ tier }, stack), deployed, now);
    const r: MigrationResult = {
      ...result(plan, now.toISOString()),
      followingSince: new Date(now.getTime() + 1000).toISOString(),
      ...(plan.migration?.switchBack ? { switchBack: true as const } : {}),
    };
    return { plan, after: deploymentAfter(plan, plan.migration?.running ? r : undefined) };
  }
  const since = (h: number) => new Date(hours(h).getTime() + 1000).toISOString();
  const moved = up("8gb", at4gb, T0);

  it("records who follows whom, since when; a result without it records no follower", () => {
    expect(moved.after.previous).toMatchObject({ key: "app-4gb", follows: { key: "app-8gb", since: since(0) } });
    expect(upAt({ tier: "8gb" }, at4gb).after.previous?.follows).toBeUndefined();
    expect(up("8gb", moved.after, hours(2)).after.previous?.follows).toEqual({ key: "app-8gb", since: since(0) });
    expect(readDeployed({ deployment: JSON.parse(JSON.stringify(moved.after)) }, PREFIX)).toEqual(moved.after);
  });

  it("plans the previous tier as a switch back: no new server, no generation bump, the roles swap", () => {
    const back = up("4gb", moved.after, hours(2));
    expect(back.plan.generation).toBe(2);
    expect(back.plan.active).toMatchObject({ name: "app-4gb", dropletName: `${PREFIX}-4gb`, role: "target" });
    expect(back.plan.previous).toMatchObject({ name: "app-8gb", dropletName: `${PREFIX}-8gb-g2`, role: "previous" });
    expect(back.plan.migration).toMatchObject({
      fromKey: "app-8gb",
      toKey: "app-4gb",
      running: true,
      switchBack: true,
      followingSince: since(0),
      strategy: "auto",
    });
    // The server that served records plain: no retention, release or following carried over from its previous role.
    expect(back.plan.active?.record).toEqual({
      key: "app-4gb",
      tier: "4gb",
      generation: 1,
      dropletName: `${PREFIX}-4gb`,
      volumeName: `${PREFIX}-4gb-data`,
      volumeDescription: `PostgreSQL, Redis and Caddy data of ${PREFIX}-4gb`,
      hostKey: "pinned",
    });
    expect(back.after).toMatchObject({
      tier: "4gb",
      generation: 2,
      serving: { key: "app-4gb" },
      previous: { key: "app-8gb", follows: { key: "app-4gb", since: since(2) } },
      migration: { from: "app-8gb", to: "app-4gb", committedAt: hours(2).toISOString(), switchBack: true },
    });
    expect(back.after.serving).not.toHaveProperty("follows");
    // Its window counts from the switch back's commit; kept as a switch back while it lasts.
    const kept = up("4gb", back.after, hours(25));
    expect(kept.plan.migration).toMatchObject({
      running: false,
      switchBack: true,
      retainUntil: hours(26).toISOString(),
    });
    expect(kept.plan.migration?.followingSince).toBeUndefined();
    expect(kept.after).toEqual(back.after);
  });

  it("flips again, and a dump-restore stack passes auto (nothing is copied)", () => {
    const back = up("4gb", moved.after, hours(2));
    const again = up("8gb", back.after, hours(3));
    expect(again.plan.migration).toMatchObject({ fromKey: "app-4gb", toKey: "app-8gb", switchBack: true });
    expect(again.plan.active?.name).toBe("app-8gb");
    expect(again.plan.generation).toBe(2);
    expect(again.after.previous).toMatchObject({ key: "app-4gb", follows: { key: "app-8gb", since: since(3) } });
    const dump = planStack(sampleConfig({ tier: "4gb", migrationStrategy: "dump-restore" }), moved.after, hours(2));
    expect(dump.migration?.strategy).toBe("auto");
  });

  it("prod: both servers stay protected through the switch back and its window", () => {
    const first = up("8gb", undefined, T0, "prod").after;
    const move = up("16gb", first, T0, "prod");
    const back = up("8gb", move.after, hours(1), "prod");
    expect(back.plan.active).toMatchObject({ name: "app-8gb", protect: true });
    expect(back.plan.previous).toMatchObject({ name: "app-16gb", protect: true });
    const kept = up("8gb", back.after, hours(20), "prod");
    expect([kept.plan.active?.protect, kept.plan.previous?.protect]).toEqual([true, true]);
  });

  it("refuses the same key when the record says the previous server does not follow, saying what to do", () => {
    const notFollowing = upAt({ tier: "8gb" }, at4gb).after;
    expect(problems(() => planStack(sampleConfig({ tier: "4gb" }), notFollowing, hours(1)))).toEqual([
      expect.stringMatching(
        /^chatbot:tier: cannot switch back to app-4gb \(4gb\): the deployment record says it does not follow app-8gb, .*`npm run migrate -- --status`.*wait for its window to end \(2026-12-02T10:00:00.000Z\)/,
      ),
    ]);
    // Following another server than the one that serves is not following it.
    const other = {
      ...moved.after,
      previous: { ...moved.after.previous!, follows: { key: "app-16gb", since: since(0) } },
    };
    expect(problems(() => planStack(sampleConfig({ tier: "4gb" }), other, hours(1)))).toHaveLength(1);
  });

  it("outside the window the same key migrates to a new server; another tier within it stays refused", () => {
    const late = up("4gb", moved.after, hours(30));
    expect(late.plan.dropped?.key).toBe("app-4gb");
    expect(late.plan.migration).toMatchObject({ toKey: "app-4gb-g3", running: true });
    expect(late.plan.migration?.switchBack).toBeUndefined();
    expect(problems(() => planStack(sampleConfig({ tier: "16gb" }), moved.after, hours(1)))).toEqual([
      expect.stringMatching(/^chatbot:tier: cannot change to 16gb yet/),
    ]);
  });

  it("prod past the retention: no switch back to a server being released; once released, a new migration", () => {
    const first = up("4gb", undefined, T0, "prod").after;
    const move = up("8gb", first, T0, "prod");
    expect(problems(() => planStack(sampleConfig({ tier: "4gb" }, "prod"), move.after, hours(24.5)))).toEqual([
      expect.stringMatching(/^chatbot:tier: cannot change to 4gb yet: .* but still protected/),
    ]);
    const release = up("8gb", move.after, hours(24), "prod");
    const late = up("4gb", release.after, hours(24.5), "prod");
    expect(late.plan.dropped?.key).toBe("app-4gb");
    expect(late.plan.migration).toMatchObject({ toKey: "app-4gb-g3", running: true });
    expect(late.plan.migration?.switchBack).toBeUndefined();
  });
});
