/**
 * The scale-out migration's droplet authenticates the managed cluster: logical.sh's psql sessions to the target run
 * with the target env the stack renders (TARGET_PGSSLMODE=verify-ca, TARGET_PGSSLROOTCERT), over real ssh, through
 * the docker shim, against the harness's target PostgreSQL 15 serving TLS. The CA that signed the target's
 * certificate is accepted; a CA that did not (the old droplet's own) is refused before any SQL reaches the target.
 */
import * as fs from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { logicalCommands } from "../../infra/scale-out-migration/commands";
import { type Harness, startHarness } from "../migration/harness";
import { runningServers, stopAll } from "../support/servers";
import { harnessCutover, postgresCertificate, prepare, writeTargetEnv } from "./harness";

let h: Harness;
let ssh: ReturnType<typeof sshExecutor>;
beforeAll(async () => {
  h = await startHarness();
  await prepare(h);
  ssh = sshExecutor();
}, 240_000);
afterAll(async () => {
  ssh?.close();
  await h?.stop();
  await stopAll();
  expect(runningServers()).toEqual([]);
});

/** The preflight step (one session on each side) with the target env handing `pgCa` as the cluster's CA. */
async function preflight(pgCa: string) {
  const targetEnv = writeTargetEnv(h, { pgCa });
  expect(fs.readFileSync(targetEnv, "utf8")).toMatch(/^TARGET_PGSSLMODE='verify-ca'$/m);
  return ssh(logicalCommands(harnessCutover(h, targetEnv).source).preflight());
}

describe("the scale-out migration's sessions to the managed cluster (verify-ca)", () => {
  it("connect when the handed CA signed the cluster's certificate", { timeout: 120_000 }, async () => {
    const r = await preflight(postgresCertificate(h.next));
    expect(r.stderr).not.toMatch(/certificate/);
    expect(r.stdout).toMatch(/^target_version_num=15\d{4}$/m);
    expect(r.code).toBe(0);
  });

  it("NEGATIVE CONTROL: are refused when it did not (another server's certificate as the CA)", {
    timeout: 120_000,
  }, async () => {
    const r = await preflight(postgresCertificate(h.old));
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/certificate verify failed/);
    expect(r.stderr).toMatch(/ERROR: no session to the managed cluster at /);
    expect(r.stdout).not.toMatch(/target_version_num/);
  });
});
