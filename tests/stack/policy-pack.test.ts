/**
 * The policy pack against the real program under mocks: what `pulumi up --policy-pack policy` would check. The
 * repository's stacks comply, including a prod tier migration (the rollback target is left unprotected by design);
 * the dev stack's resources under a prod stack name (what one config key switching the program's guardrails off
 * would deploy) violate SSH, backups and protection.
 */
import type { ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import { beforeAll, describe, expect, it } from "vitest";
import { stateAfterUp } from "../../infra/offline/plan-report";
import { type OfflineRun, type Program, revealSecrets, runOffline } from "../../infra/offline/run";
import { type DeployedState, parseStateExport } from "../../infra/offline/state-file";
import { policies } from "../../policy/policies";
import { type Outcome, type TestResource, validateResource, validateStack } from "../support/policy";
import { ROOT } from "./run-stack";

async function run(stack: string, overrides: Record<string, string> = {}, state?: DeployedState): Promise<OfflineRun> {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  return runOffline({ projectDir: ROOT, stack, program: mod.default ?? mod, overrides, ...(state ? { state } : {}) });
}

/** Every policy over the run: resource policies on each resource's inputs, stack policies on all outputs. */
async function check(
  r: OfflineRun,
  config: Record<string, unknown> = {},
  renameStack?: string,
): Promise<Record<string, Outcome>> {
  const rename = (urn: string | undefined) =>
    urn && renameStack ? urn.replace(/^urn:pulumi:[^:]+::/, `urn:pulumi:${renameStack}::`) : urn;
  const as = (props: "inputs" | "outputs"): TestResource[] =>
    r.resources.map((x) => ({
      type: x.type,
      name: x.name,
      urn: rename(x.urn)!,
      props: revealSecrets(x[props]) as Record<string, unknown>,
      protect: x.protect,
      ...(x.parent ? { parent: rename(x.parent)! } : {}),
    }));
  const out: Record<string, Outcome> = {};
  for (const policy of policies) {
    if ("validateStack" in policy) {
      out[policy.name] = await validateStack(policy as StackValidationPolicy, as("outputs"), config);
    } else {
      const resources = as("inputs");
      const outcomes = await Promise.all(
        resources.map((x) => validateResource(policy as ResourceValidationPolicy, x, config)),
      );
      out[policy.name] = {
        applicable: outcomes.some((o) => o.applicable),
        violations: outcomes.flatMap((o, i) => o.violations.map((v) => `${resources[i]!.name}: ${v}`)),
      };
    }
  }
  return out;
}

const violations = (o: Record<string, Outcome>) =>
  Object.fromEntries(
    Object.entries(o)
      .filter(([, x]) => x.violations.length)
      .map(([k, x]) => [k, x.violations]),
  );

let dev: OfflineRun;
let prod: OfflineRun;
beforeAll(async () => {
  dev = await run("dev");
  prod = await run("prod");
}, 120_000);

describe("the repository's stacks comply", () => {
  it("prod: every policy applies and none is violated", async () => {
    const o = await check(prod);
    expect(violations(o)).toEqual({});
    for (const [name, x] of Object.entries(o)) expect(x.applicable, name).toBe(true);
  });

  it("dev: the prod policies do not apply; no public database port, size and cost within the ceilings", async () => {
    const o = await check(dev);
    expect(violations(o)).toEqual({});
    expect(
      Object.entries(o)
        .filter(([, x]) => x.applicable)
        .map(([k]) => k)
        .sort(),
    ).toEqual(["droplet-size-ceiling", "monthly-cost-ceiling", "no-public-database-port"]);
  });

  it("scale (environment prod, named scale): complies when the config names it prod", { timeout: 60_000 }, async () => {
    const o = await check(await run("scale"), { prodStacks: "^(prod|scale)(-|$)" });
    expect(violations(o)).toEqual({});
    expect(o["prod-stateful-protected"]?.applicable).toBe(true);
  });

  it("prod during a tier migration 8gb -> 16gb: both servers protected, no violation", {
    timeout: 60_000,
  }, async () => {
    const change = await run("prod", { "chatbot:tier": "16gb" }, parseStateExport(stateAfterUp(prod), "prod-8gb"));
    expect(
      change.resources.filter((x) => /^app-(8|16)gb-(droplet|volume)$/.test(x.name) && !x.protect).map((x) => x.name),
    ).toEqual([]);
    expect(violations(await check(change))).toEqual({});
  });
});

describe("what the pack refuses that the program's own checks would let through with its guardrails off", () => {
  it("the dev stack's resources under the name prod: SSH from the world, no backups, droplet and volume unprotected", async () => {
    const v = violations(await check(dev, {}, "prod"));
    expect(Object.keys(v).sort()).toEqual([
      "prod-droplet-backups",
      "prod-ssh-allowlist",
      "prod-stateful-protected",
      "prod-volumes-kept",
    ]);
    expect(v["prod-ssh-allowlist"]).toContain("network-firewall: port 22 is open to the world (0.0.0.0/0)");
    expect(v["prod-droplet-backups"]).toEqual([
      "app-4gb-droplet: droplet app-4gb-droplet has backups off: set chatbot:backups to weekly or daily",
    ]);
    expect(v["prod-stateful-protected"]).toEqual([
      "app-4gb-droplet: droplet app-4gb-droplet of server app-4gb is not protected (protect: true)",
    ]);
    expect(v["prod-volumes-kept"]).toEqual([
      "app-4gb-volume: volume app-4gb-volume is not protected: a plan that drops or replaces it would delete its data",
    ]);
  });

  it("prod over a cost ceiling below its price, with a droplet above a size ceiling", async () => {
    const v = violations(await check(prod, { maxMonthlyCostUsd: 20, maxDropletMonthlyUsd: 24 }));
    expect(v["monthly-cost-ceiling"]?.[0]).toMatch(/^the stack costs \$\d+\.\d\d\/month, above the ceiling of \$20/);
    expect(v["droplet-size-ceiling"]).toEqual([
      "app-8gb-droplet: droplet app-8gb-droplet: size s-4vcpu-8gb costs $48/month, above the ceiling of $24 (policy config maxDropletMonthlyUsd)",
    ]);
  });
});
