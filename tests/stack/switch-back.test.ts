/**
 * The switch back, planned by the real program against the state each successful `pulumi up` leaves (the offline
 * plan's --write-state / --state chain): tier A, then B (a migration), then A within the window (a switch back:
 * nothing created, nothing deleted or replaced that holds data, traffic moved only through the switch's result,
 * protect kept in prod, the words), then B again (a flip, also a switch back), then past the window (release, drop).
 */
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../infra/config";
import { buildCostReport, renderMarkdown } from "../../infra/cost";
import { DEPLOYED_OUTPUTS, type DeploymentRecord, readDeployed } from "../../infra/deployed";
import { parseMigrationResult } from "../../infra/migration/result-line";
import { buildPlanDocument, type PlanDocument, renderPlanText, stateAfterUp } from "../../infra/offline/plan-report";
import { type OfflineRun, type Program, revealSecrets, runOffline } from "../../infra/offline/run";
import { rawConfigOf, readStackFiles } from "../../infra/offline/stack-files";
import { type DeployedState, parseStateExport } from "../../infra/offline/state-file";
import { planStack } from "../../infra/plan";
import { parsePlan } from "../../infra/pulumi-json";
import { ROOT } from "./run-stack";

interface Planned {
  run: OfflineRun;
  doc: PlanDocument;
  text: string;
  /** The state a successful `pulumi up` of this plan leaves. */
  after: DeployedState;
}

/** `npm run plan -- --stack <stack> [--state] --now <now> --write-state`, with `tier` set, in process. */
async function plan(stack: string, tier: string, now: Date, state?: DeployedState): Promise<Planned> {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  const overrides = { "chatbot:tier": tier };
  // The plan the header and words come from, as scripts/plan.ts makes it before running the program (a config
  // problem stops it there): the config and the state's outputs.
  const files = readStackFiles(ROOT, stack);
  const config = parseConfig(rawConfigOf({ ...files, config: { ...files.config, ...overrides } }), {
    project: files.project,
    stack,
  });
  const outputs = Object.fromEntries(
    DEPLOYED_OUTPUTS.filter((k) => state?.stackOutputs[k] !== undefined).map((k) => [k, state!.stackOutputs[k]]),
  );
  const stackPlan = planStack(config, readDeployed(outputs, `${files.project}-${stack}`), now);
  const run = await runOffline({ projectDir: ROOT, stack, program: mod.default ?? mod, overrides, state, now });
  const doc = buildPlanDocument(run, stackPlan);
  const after = parseStateExport(JSON.parse(JSON.stringify(stateAfterUp(run))), `${stack}-after.json`);
  return { run, doc, text: renderPlanText(doc, stackPlan), after };
}

/** What changes besides the alerts, whose thresholds follow the tier's vCPUs (prod has alerts, dev none). */
const notSame = (p: Planned) =>
  p.doc.operations
    .filter((o) => o.op !== "same" && !(o.op === "update" && o.name.startsWith("monitoring-")))
    .map((o) => `${o.op} ${o.name}`);
const opOf = (p: Planned, name: string) => p.doc.operations.find((o) => o.name === name)?.op;
const byName = (p: Planned, name: string) => p.run.resources.find((r) => r.name === name)!;
const recordOf = (s: DeployedState) => s.stackOutputs.deployment as DeploymentRecord;
const resultOf = (p: Planned) => parseMigrationResult(String(revealSecrets(byName(p, "migration-run").outputs.stdout)));
const ip = (p: Planned, key: string) => String(byName(p, `${key}-droplet`).outputs.ipv4Address);
const at = (h: number) => new Date(Date.UTC(2030, 0, 1) + h * 3600_000);

describe.each([
  { stack: "dev", a: "4gb", b: "8gb", prod: false },
  { stack: "prod", a: "8gb", b: "16gb", prod: true },
])("$stack: $a, then $b, then $a within the window (a switch back), then $b again", ({ stack, a, b, prod }) => {
  const A = `app-${a}`;
  const B = `app-${b}`;
  const held = ["droplet", "volume", "host-key"];
  let migrated: Planned;
  let back: Planned;

  it("the migration records that the server left follows the new one, since a moment after the commit", {
    timeout: 120_000,
  }, async () => {
    const first = await plan(stack, a, at(0));
    migrated = await plan(stack, b, at(1), first.after);
    expect(opOf(migrated, "migration-run")).toBe("create");
    expect(resultOf(migrated)).toMatchObject({ committedAt: at(1).toISOString(), followingSince: expect.any(String) });
    expect(resultOf(migrated)?.switchBack).toBeUndefined();
    expect(recordOf(migrated.after).previous).toMatchObject({
      key: A,
      follows: { key: B, since: new Date(at(1).getTime() + 1000).toISOString() },
    });
  });

  it("the switch back creates nothing and deletes or replaces nothing that holds data", {
    timeout: 120_000,
  }, async () => {
    back = await plan(stack, a, at(3), migrated.after);
    // Only the command that runs the switch back and the reserved IP's assignment (its dropletId) are replaced.
    expect(notSame(back).sort()).toEqual(["replace edge-ip-assignment", "replace migration-run"]);
    expect(back.doc.dataLoss).toEqual([]);
    for (const key of [A, B]) for (const r of held) expect(opOf(back, `${key}-${r}`), `${key}-${r}`).toBe("same");
    expect(byName(back, "migration-run").inputs.triggers).toEqual([
      byName(back, `${B}-droplet`).id,
      byName(back, `${A}-droplet`).id,
    ]);
  });

  it("runs the migration's command line with --switch-back, from the server that serves to its follower", () => {
    const create = String(byName(back, "migration-run").inputs.create);
    expect(create).toContain(`scripts/migrate.ts --switch-back --from root@${ip(back, B)} --to root@${ip(back, A)} `);
    expect(resultOf(back)).toMatchObject({ switchBack: true, committedAt: at(3).toISOString() });
  });

  it("moves the public address only through the switch back's result", () => {
    const assignment = byName(back, "edge-ip-assignment");
    expect(assignment.dependencies).toContain(byName(back, "migration-run").urn);
    expect(Number(assignment.inputs.dropletId)).toBe(Number(byName(back, `${A}-droplet`).id));
    expect(back.doc.operations.find((o) => o.name === "edge-ip-assignment")?.replaceKeys).toEqual(["dropletId"]);
  });

  it(`keeps both servers ${prod ? "protected (prod)" : "with their data volumes retained"} and their drop guards`, () => {
    for (const key of [A, B]) {
      for (const r of held) if (prod) expect(byName(back, `${key}-${r}`).protect, `${key}-${r}`).toBe(true);
      expect(byName(back, `${key}-volume`).retainOnDelete).toBe(true);
      expect(opOf(back, `${key}-drop-guard`)).toBe("same");
    }
  });

  it("says what it will do in words, in the text and in --json", () => {
    const since = new Date(at(1).getTime() + 1000).toISOString();
    const words = `switch back to ${A}: no copy, it has followed ${B} since ${since}`;
    expect(back.text).toContain(words);
    expect(back.doc.switchBack).toEqual({ fromKey: B, toKey: A, followingSince: since, summary: words });
    expect(migrated.doc.switchBack).toBeUndefined();
  });

  it("costs what `npm run cost` says: no new server, the server left kept for its window, no data to move", {
    timeout: 120_000,
  }, async () => {
    // The base: the same state planned at the tier that serves (the migration's window under way).
    const base = await plan(stack, b, at(3), migrated.after);
    const report = buildCostReport({ bases: [parsePlan(base.doc)], heads: [parsePlan(back.doc)] });
    const [cost] = report.stacks;
    // Steady state: the A server instead of the B one, the B volume retained once it is dropped.
    expect(back.doc.monthlyCost).toBe(base.doc.monthlyCost);
    expect(back.doc.afterWindow).toMatchObject({ server: B, running: true, hours: 24.5 });
    expect(cost?.window).toMatchObject({ running: true, hours: 24.5 });
    expect(cost?.warnings).toEqual([
      expect.objectContaining({ kind: "switch-back", name: `${B}-droplet`, toName: `${A}-droplet` }),
    ]);
    const md = renderMarkdown(report);
    expect(md).toContain("which follows it (switch back to");
    expect(md).not.toContain("data must move");
    if (prod) {
      // s-8vcpu-16gb $96 and s-4vcpu-8gb $48 with daily backups (+30 %): $124.80 and $62.40.
      expect([report.before, report.after, report.diff, report.transient]).toEqual([145.8, 83.4, -62.4, 4.55]);
      expect(back.doc.afterWindow?.transient).toBe(4.55);
    }
  });

  it("afterwards the roles swap: the server left follows and is the rollback target from the switch back's commit", {
    timeout: 120_000,
  }, async () => {
    expect(recordOf(back.after)).toMatchObject({
      tier: a,
      generation: 2,
      serving: { key: A },
      previous: { key: B, follows: { key: A, since: new Date(at(3).getTime() + 1000).toISOString() } },
      migration: { from: B, to: A, committedAt: at(3).toISOString(), switchBack: true },
    });
    // The same config again runs nothing: the switch back's command does not run twice.
    const again = await plan(stack, a, at(20), back.after);
    expect(notSame(again)).toEqual([]);
    expect(again.text).toContain(`Switch back ${b} -> ${a} done (committed ${at(3).toISOString()})`);
  });

  it("flips again: also a switch back, run once more; then past its window the server left is dropped", {
    timeout: 240_000,
  }, async () => {
    const flip = await plan(stack, b, at(5), back.after);
    expect(notSame(flip).sort()).toEqual(["replace edge-ip-assignment", "replace migration-run"]);
    expect(String(byName(flip, "migration-run").inputs.create)).toContain(
      `--switch-back --from root@${ip(flip, A)} --to root@${ip(flip, B)} `,
    );
    expect(recordOf(flip.after)).toMatchObject({ serving: { key: B }, previous: { key: A, follows: { key: B } } });
    expect(flip.doc.dataLoss).toEqual([]);

    // Past the window counted from the flip's commit (24 h): prod takes the protection off first, then drops.
    let late = await plan(stack, b, at(5 + 24.5), flip.after);
    if (prod) {
      expect(notSame(late).filter((o) => o.startsWith("delete"))).toEqual([]);
      for (const r of held) expect(byName(late, `${A}-${r}`).protect, r).toBe(false);
      for (const r of held) expect(byName(late, `${B}-${r}`).protect, r).toBe(true);
      late = await plan(stack, b, at(5 + 25), late.after);
    }
    expect(opOf(late, `${A}-droplet`)).toBe("delete");
    expect(opOf(late, "migration-run")).toBe("delete");
    expect(late.doc.operations.find((o) => o.name === `${A}-volume`)).toMatchObject({
      op: "delete",
      retainOnDelete: true,
    });
    expect(late.doc.dataLoss).toEqual([]);
    expect(recordOf(late.after).previous).toBeUndefined();
    expect(recordOf(late.after).retainedVolumes?.map((v) => v.key)).toEqual([A]);
  });
});

describe("a switch back refused", () => {
  it("when the record says the previous server does not follow (a result without followingSince)", {
    timeout: 120_000,
  }, async () => {
    const first = await plan("dev", "4gb", at(0));
    const migrated = await plan("dev", "8gb", at(1), first.after);
    const record = recordOf(migrated.after);
    const { follows: _, ...previous } = record.previous!;
    const notFollowing = {
      ...migrated.after,
      stackOutputs: { ...migrated.after.stackOutputs, deployment: { ...record, previous } },
    };
    await expect(plan("dev", "4gb", at(2), notFollowing)).rejects.toThrow(
      /chatbot:tier: cannot switch back to app-4gb \(4gb\): the deployment record says it does not follow app-8gb/,
    );
    // Negative control: the same state with its follower switches back.
    expect(opOf(await plan("dev", "4gb", at(2), migrated.after), "migration-run")).toBe("replace");
  });
});
