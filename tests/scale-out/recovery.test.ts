/**
 * A scale-out move whose runner dies (./seams.ts `diesAfter`: nothing after the step reaches a droplet, as after a
 * SIGKILL), recovered through the real CLI over real ssh, as an operator would: `--status` names the phase and the
 * flag, then `--rollback` or `--resume`. Under the harness's load and set checker (../migration/harness.ts), on the
 * migration harness as ./logical-cutover.test.ts sets it up.
 */
import { afterEach, describe, expect, it } from "vitest";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { type LogicalExecutor, runLogicalCutover } from "../../infra/scale-out-migration/runner";
import { killLeftoverClis } from "../migration/cli-process";
import type { WriteRecord } from "../migration/checker";
import { expectNowhere, neverSent } from "../migration/never-sent";
import { type Harness, startHarness } from "../migration/harness";
import { runningServers, stopAll } from "../support/servers";
import { lockStale, runScaleOutCli, scaleOutCliArgs } from "./cli";
import { harnessCutover, prepare } from "./harness";
import { beforeCutover, diesAfter } from "./seams";

let h: Harness | undefined;
afterEach(async () => {
  killLeftoverClis();
  await h?.stop();
  h = undefined;
  await stopAll();
  expect(runningServers()).toEqual([]);
});

/**
 * No request refused, none of unknown fate but a connection reset before its TLS handshake at a Caddy reload (never
 * sent: the known gap ./logical-cutover.test.ts describes).
 */
function expectNoneFailed(records: readonly WriteRecord[]): void {
  expect(records.filter((r) => r.pg === "fail" || (r.pg === "unknown" && !neverSent(r)))).toEqual([]);
}

const phaseOf = (stdout: string) => /^ {2}phase +(.+)$/m.exec(stdout)?.[1];
const nextOf = (stdout: string) => /^ {2}next +(.+)$/m.exec(stdout)?.[1];

/**
 * The move until its runner dies, then the CLI's --status and the recovery it advises (or, `plain`, a plain run, as
 * the next `pulumi up` runs it), all under load.
 */
async function diedThenRecovered(
  harness: Harness,
  targetEnv: string,
  wrap: (e: LogicalExecutor) => LogicalExecutor,
  plain = false,
) {
  const ssh = sshExecutor();
  const { switchedAt: _, ...base } = harnessCutover(harness, targetEnv);
  const args = scaleOutCliArgs(harness, targetEnv);
  try {
    return await harness.withLoad(
      async () => {
        const died = await runLogicalCutover({ ...base, exec: wrap(ssh), warmCache: false });
        const status = await runScaleOutCli([...args, "--status"]);
        // The dead run's lock: --status names it, and any run waits until it is stale (then takes it over).
        await lockStale(harness);
        const flag = plain ? "" : nextOf(status.stdout)?.match(/^--(rollback|resume)/)?.[0];
        const recovered = flag === undefined ? undefined : await runScaleOutCli([...args, ...(flag ? [flag] : [])]);
        if (recovered?.result) harness.front.moveTo(harness.next.host);
        const after = await runScaleOutCli([...args, "--status"]);
        return { died, status, flag, recovered, after };
      },
      { settleMs: 1500, workers: 4 },
    );
  } finally {
    ssh.close();
  }
}

describe("a scale-out move whose runner died, recovered through the CLI (real ssh, PostgreSQL 15, Caddy)", () => {
  it("died inside the write gap (fenced, held, not committed): --status says before-commit, --rollback puts the droplet back serving with every write", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    // The cutover fails after its hold and fence (the cluster's sequence renamed: setval fails), and the runner is
    // gone before it can roll back: the droplet fenced, its proxy holding, the gate closed, the subscription live.
    const renamed = () => h!.next.pg.psql("ALTER SEQUENCE writes_seq_seq RENAME TO writes_seq_moved;", "chatbot");
    const { result, records } = await diedThenRecovered(h, targetEnv, (exec) =>
      diesAfter(beforeCutover(exec, renamed), "cutover"),
    );
    const { died, status, flag, recovered, after } = result;
    console.log(`[scale-out recovery] before-commit:\n${status.stdout}${recovered?.stdout.split("\n").at(-2)}`);
    expect(died.committed).toBe(false);
    expect(status.code).toBe(0);
    expect(phaseOf(status.stdout)).toBe("before-commit");
    expect(status.stdout).toMatch(/^ {2}lock +held by .*, last heartbeat \d+ s ago/m);
    expect(status.stdout).toMatch(/^ {2}left +.*the fence.*the publication.*the subscription on the cluster$/m);
    expect(flag).toBe("--rollback");
    expect({ code: recovered?.code, stderr: recovered?.code ? recovered.stderr : "" }).toEqual({ code: 0, stderr: "" });
    expect(phaseOf(after.stdout)).toBe("none");
    expect(after.stdout).toMatch(/^ {2}lock +free$/m);
    // The droplet serves and takes writes again: every acknowledged write is on it, none refused was applied.
    const check = await h.check(records, h.old);
    console.log(
      `[scale-out recovery] before-commit check: acknowledged ${check.acknowledged}, failed ${check.failed}, unknown ${check.unknown}, lost ${check.lost.length}`,
    );
    const t0 = records[0]?.startMs ?? 0;
    for (const r of records.filter((x) => x.pg !== "ok"))
      console.log(
        `[scale-out recovery] not acknowledged: ${r.pg} status ${r.status} sent +${r.startMs - t0} ms, answered after ${r.endMs - r.startMs} ms: ${r.detail}`,
      );
    expect(check.lost).toEqual([]);
    expect(check.failedButPresent).toEqual([]);
    expect(check.acknowledged).toBeGreaterThan(20);
    // The requests the dead run's hold kept waiting were bounced to the droplet's own app, not failed.
    expectNoneFailed(records);
    await expectNowhere(h, records.filter(neverSent));
    expect(await h.old.pg.psql("SELECT count(*) FROM pg_replication_slots")).toBe("0");
    expect(await h.next.pg.psql("SELECT count(*) FROM pg_subscription", "chatbot")).toBe("0");
    expect((await h.request("POST", "/write/after-rollback", 10_000)).status).toBe(200);
  }, 300_000);

  it("died inside the write gap, then a plain run (the next `pulumi up`): rolls it back and moves afresh, every write onto the cluster", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const renamed = () => h!.next.pg.psql("ALTER SEQUENCE writes_seq_seq RENAME TO writes_seq_moved;", "chatbot");
    const { result, records } = await diedThenRecovered(
      h,
      targetEnv,
      (exec) => diesAfter(beforeCutover(exec, renamed), "cutover"),
      true,
    );
    const { recovered, after } = result;
    console.log(`[scale-out recovery] plain run:\n${recovered?.stdout.split("\n").slice(-3).join("\n")}`);
    expect({ code: recovered?.code, stderr: recovered?.code ? recovered.stderr : "" }).toEqual({ code: 0, stderr: "" });
    expect(recovered?.stderr).toMatch(/an earlier run left .*\(phase before-commit\)[\s\S]*starts afresh/);
    expect(recovered?.result).toMatchObject({ state: "done", to: "scale-out", resumed: false });
    expect(phaseOf(after.stdout)).toBe("done");
    const check = await h.check(records, h.next);
    console.log(
      `[scale-out recovery] plain run check: acknowledged ${check.acknowledged}, failed ${check.failed}, unknown ${check.unknown}, lost ${check.lost.length}`,
    );
    expect(check.lost).toEqual([]);
    expect(check.failedButPresent).toEqual([]);
    expect(check.acknowledged).toBeGreaterThan(20);
    expectNoneFailed(records);
    await expectNowhere(h, records.filter(neverSent));
  }, 300_000);

  it("died right after the commit point (the gates still closed): --status says after-commit, --resume finishes onto the cluster with every write", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const { result, records } = await diedThenRecovered(h, targetEnv, (exec) => diesAfter(exec, "cutover"));
    const { died, status, flag, recovered, after } = result;
    console.log(
      `[scale-out recovery] after-commit:\n${status.stdout}${recovered?.stdout.split("\n").slice(-3).join("\n")}`,
    );
    expect(died.committed).toBe(false); // its answer never read: the runner could not know
    expect(phaseOf(status.stdout)).toBe("after-commit");
    expect(flag).toBe("--resume");
    expect({ code: recovered?.code, stderr: recovered?.code ? recovered.stderr : "" }).toEqual({ code: 0, stderr: "" });
    // The stack's line: the retention of the droplet counts from the commit record's time, not the resume's.
    expect(recovered?.result).toMatchObject({ state: "done", to: "scale-out", resumed: true });
    expect(phaseOf(after.stdout)).toBe("done");
    const check = await h.check(records, h.next);
    console.log(
      `[scale-out recovery] after-commit check: acknowledged ${check.acknowledged}, failed ${check.failed}, unknown ${check.unknown}, lost ${check.lost.length}`,
    );
    expect(check.lost).toEqual([]);
    expect(check.failedButPresent).toEqual([]);
    expect(check.acknowledged).toBeGreaterThan(20);
    // Held through the runner's death until --resume opened the gates.
    expectNoneFailed(records);
    await expectNowhere(h, records.filter(neverSent));
    expect(await h.next.pg.psql("SELECT count(*) FROM pg_subscription", "chatbot")).toBe("0");
    expect((await h.request("POST", "/write/after-resume", 10_000)).status).toBe(200);
    expect(await h.next.pg.psql("SELECT count(*) FROM writes WHERE id = 'after-resume'", "chatbot")).toBe("1");
  }, 300_000);
});
