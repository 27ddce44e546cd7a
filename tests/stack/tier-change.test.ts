/**
 * The one-key tier change, planned by the real program against the state a successful `pulumi up` leaves (the
 * offline plan's --write-state / --state): a migration planned by itself, no volume deleted or replaced, traffic
 * moved only through the migration's output, the old server kept for its retention counted from the recorded commit.
 */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { DeploymentRecord } from "../../infra/deployed";
import { stateAfterUp } from "../../infra/offline/plan-report";
import { type OfflineRun, type Program, runOffline } from "../../infra/offline/run";
import { checkDataLoss, type Operation, planOperations } from "../../infra/offline/state-diff";
import { type DeployedState, parseStateExport, readStateFile } from "../../infra/offline/state-file";
import { ROOT, T } from "./run-stack";

const LOCAL = "command:local:Command";

interface Planned {
  run: OfflineRun;
  ops: Operation[];
  dataLoss: ReturnType<typeof checkDataLoss>;
  /** The state a successful `pulumi up` of this plan leaves. */
  after: DeployedState;
}

async function plan(stack: string, overrides: Record<string, string>, state?: DeployedState): Promise<Planned> {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  const run = await runOffline({ projectDir: ROOT, stack, program: mod.default ?? mod, overrides, state });
  const ops = planOperations(run.resources, run.state);
  return {
    run,
    ops,
    dataLoss: state ? checkDataLoss(ops, run.resources, state) : [],
    after: parseStateExport(stateAfterUp(run), `${stack}-after`),
  };
}

const opsOf = (p: Planned, op: Operation["op"]) =>
  p.ops
    .filter((o) => o.op === op)
    .map((o) => o.name)
    .sort();
const byName = (p: Planned, name: string) => p.run.resources.find((r) => r.name === name)!;
const recordOf = (s: DeployedState) => s.stackOutputs.deployment as DeploymentRecord;

/** The state with the recorded commit moved `hoursAgo` into the past (time passing since the migration). */
function committedHoursAgo(s: DeployedState, hoursAgo: number): DeployedState {
  const record = recordOf(s);
  const committedAt = new Date(Date.now() - hoursAgo * 3600_000).toISOString();
  return {
    ...s,
    stackOutputs: { ...s.stackOutputs, deployment: { ...record, migration: { ...record.migration!, committedAt } } },
  };
}

describe.each([
  { stack: "dev", from: "4gb", to: "8gb", protectServing: false },
  { stack: "prod", from: "8gb", to: "16gb", protectServing: true },
])(
  "$stack: `pulumi config set tier $to && pulumi up` on a stack deployed at $from",
  ({ stack, from, to, protectServing }) => {
    let deployed: Planned;
    let change: Planned;

    it("plans the migration by itself: a new server, the migration, the old server kept, nothing deleted", {
      timeout: 120_000,
    }, async () => {
      deployed = await plan(stack, { "chatbot:tier": from });
      expect(recordOf(deployed.after)).toMatchObject({ tier: from, serving: { key: `app-${from}` } });
      change = await plan(stack, { "chatbot:tier": to }, deployed.after);

      expect(opsOf(change, "delete")).toEqual([]);
      expect(opsOf(change, "replace")).toEqual(["edge-ip-assignment"]); // its dropletId: see the next test
      expect(change.dataLoss).toEqual([]);
      expect(opsOf(change, "create")).toEqual(
        expect.arrayContaining([
          `app-${to}-droplet`,
          `app-${to}-volume`,
          `app-${to}-volume-attachment`,
          `app-${to}-config`,
          "migration-run",
        ]),
      );
      // The deployed server is untouched: same inputs, same names.
      for (const r of ["droplet", "volume", "volume-attachment", "config", "secrets"]) {
        expect(change.ops.find((o) => o.name === `app-${from}-${r}`)?.op, r).toBe("same");
      }
      expect(byName(change, `app-${to}-volume`).inputs.name).toBe(`chatbot-${stack}-${to}-data-g2`);
    });

    it("moves the public address only through the migration's output", () => {
      // dropletId is ForceNew: the assignment is replaced, create first (assign moves the IP), then the old one's
      // delete finds the IP on another droplet and leaves it (resource_reserved_ip_assignment.go, Delete).
      const moved = change.ops.filter((o) => o.type === T.assignment);
      expect(moved.map((o) => [o.op, o.replaceKeys])).toEqual([["replace", ["dropletId"]]]);
      expect(byName(change, "edge-ip-assignment").deleteBeforeReplace).toBe(false);
      const assignment = byName(change, "edge-ip-assignment");
      expect(assignment.dependencies).toContain(byName(change, "migration-run").urn);
      expect(Number(assignment.inputs.dropletId)).toBe(Number(byName(change, `app-${to}-droplet`).id));
    });

    it("protects the target until the migration has succeeded and, in prod, the server that serves; keeps every data volume at DigitalOcean", () => {
      expect(byName(change, `app-${to}-droplet`).protect).toBe(true);
      expect(byName(change, `app-${from}-droplet`).protect).toBe(protectServing);
      expect(byName(change, `app-${from}-volume`).protect).toBe(protectServing);
      for (const v of [`app-${to}-volume`, `app-${from}-volume`])
        expect(byName(change, v).retainOnDelete, v).toBe(true);
    });

    it("records the commit time in the stack's output; planning the same config again changes nothing", {
      timeout: 120_000,
    }, async () => {
      const record = recordOf(change.after);
      expect(record).toMatchObject({
        tier: to,
        serving: { key: `app-${to}` },
        previous: { key: `app-${from}` },
        migration: { from: `app-${from}`, to: `app-${to}` },
      });
      expect(Date.now() - new Date(record.migration!.committedAt).getTime()).toBeLessThan(600_000);
      const again = await plan(stack, { "chatbot:tier": to }, change.after);
      expect(again.ops.filter((o) => o.op !== "same")).toEqual([]);
      expect(byName(again, `app-${to}-droplet`).protect).toBe(protectServing);
    });

    it("drops the old server once its retention after the commit has passed; its volume stays at DigitalOcean", {
      timeout: 120_000,
    }, async () => {
      const within = await plan(stack, { "chatbot:tier": to }, committedHoursAgo(change.after, 23));
      expect(opsOf(within, "delete")).toEqual([]);
      let after = await plan(stack, { "chatbot:tier": to }, committedHoursAgo(change.after, 25));
      if (protectServing) {
        // Prod: the first update past the retention only takes the protection off (Pulumi deletes nothing
        // protected); the next drops the server.
        expect(opsOf(after, "delete")).toEqual([]);
        for (const r of ["droplet", "volume", "host-key"])
          expect(byName(after, `app-${from}-${r}`).protect, r).toBe(false);
        expect(byName(after, `app-${to}-droplet`).protect).toBe(true);
        expect(recordOf(after.after).previous?.protectReleasedAt).toBeDefined();
        after = await plan(stack, { "chatbot:tier": to }, after.after);
      }
      expect(opsOf(after, "delete")).toEqual(
        // The stack was created by this version: its first server's host key goes with it.
        [
          `app-${from}`,
          `app-${from}-config`,
          `app-${from}-drop-guard`,
          `app-${from}-droplet`,
          `app-${from}-host-key`,
          `app-${from}-secrets`,
          `app-${from}-volume`,
          `app-${from}-volume-attachment`,
          "migration",
          "migration-run",
        ].sort(),
      );
      expect(after.ops.find((o) => o.name === `app-${from}-volume`)).toMatchObject({
        op: "delete",
        retainOnDelete: true,
      });
      expect(after.dataLoss).toEqual([]);
      expect(after.ops.find((o) => o.name === "edge-ip-assignment")?.op).toBe("same");
      expect(recordOf(after.after).previous).toBeUndefined();
      // A shorter retention, set by one key, drops it sooner.
      const shorter = await plan(
        stack,
        { "chatbot:tier": to, "chatbot:previousTierRetainHours": "2" },
        committedHoursAgo(change.after, 3),
      );
      if (protectServing) expect(byName(shorter, `app-${from}-droplet`).protect).toBe(false);
      else expect(opsOf(shorter, "delete")).toContain(`app-${from}-droplet`);
    });
  },
);

describe("stacks deployed by the version before the deployment record", () => {
  const legacy = (file: string) => readStateFile(join(ROOT, "tests", "fixtures", "state", file));

  it.each([
    ["dev", "4gb", "v0-dev-4gb.json"],
    ["prod", "8gb", "v0-prod-8gb.json"],
  ])("%s at %s upgrades with no replacement and no delete", { timeout: 120_000 }, async (stack, tier, file) => {
    const p = await plan(stack, { "chatbot:tier": tier }, legacy(file));
    // The synced files changed since that version (the proxy's Strict-Transport-Security header, the data volume's
    // guard): the config sync runs once more, in place. The droplet, its user data and the volume stay the same.
    // Its drop guard is new (created, runs nothing until the server is dropped).
    expect(p.ops.filter((o) => o.op !== "same").map((o) => `${o.op} ${o.name}`)).toEqual([
      `replace app-${tier}-config`,
      `create app-${tier}-drop-guard`,
    ]);
    expect(p.ops.find((o) => o.name === `app-${tier}-config`)?.replaceKeys).toEqual(["triggers"]);
    expect(recordOf(p.after)).toMatchObject({
      tier,
      serving: { key: `app-${tier}`, volumeName: `chatbot-${stack}-${tier}-data` },
    });
    // What changes is state only: the serving prod droplet becomes protected, every data volume retained.
    expect(byName(p, `app-${tier}-droplet`).protect).toBe(stack === "prod");
    expect(byName(p, `app-${tier}-volume`).retainOnDelete).toBe(true);
  });

  it("a one-key tier change on such a stack migrates from the deployed server", { timeout: 120_000 }, async () => {
    const p = await plan("prod", { "chatbot:tier": "16gb" }, legacy("v0-prod-8gb.json"));
    expect(opsOf(p, "delete")).toEqual([]);
    expect(p.dataLoss).toEqual([]);
    expect(opsOf(p, "create")).toContain("migration-run");
    expect(String(byName(p, "migration-run").inputs.create)).toContain(
      `--from root@${byName(p, "app-8gb-droplet").outputs.ipv4Address}`,
    );
  });
});

describe("what the data-loss check catches", () => {
  it("a volume replaced by a region change on a stack that allows data loss", { timeout: 120_000 }, async () => {
    const deployed = await plan("dev", {});
    const moved = await plan("dev", { "chatbot:region": "sfo3", "chatbot:allowDataLoss": "true" }, deployed.after);
    expect(moved.dataLoss.map((d) => d.name)).toContain("app-4gb-volume");
    expect(moved.ops.find((o) => o.name === "app-4gb-volume")).toMatchObject({
      op: "replace",
      replaceKeys: ["region"],
    });
  });

  it("traffic sent to a server that received no data (a state whose record is missing: planned as a new stack)", {
    timeout: 120_000,
  }, async () => {
    const deployed = await plan("dev", {});
    // Negative control: hide the deployed record and the tier from the program. It then plans a first server of the
    // new tier and points the reserved IP at it, with no migration: the check must say so.
    const blind: DeployedState = { ...deployed.after, stackOutputs: {} };
    const p = await plan("dev", { "chatbot:tier": "8gb" }, blind);
    expect(all(p, LOCAL)).toEqual([]);
    expect(p.dataLoss.map((d) => d.name)).toEqual(["edge-ip-assignment"]);
  });
});

function all(p: Planned, type: string) {
  return p.run.resources.filter((r) => r.type === type);
}
