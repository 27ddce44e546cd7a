/**
 * Tier migration for real, on two loopback "droplets" (see ./harness.ts): a load generator writes through the front
 * door for the whole run, and the set checker reads everything back from the new primary. Small database here;
 * large sizes and timings are in scripts/bench-migration.ts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { FAULT_POINTS, type FaultPoint } from "../../infra/migration/timeline";
import { runningServers } from "../support/servers";
import { type Harness, httpRequest, startHarness } from "./harness";

const TIMEOUT = 300_000;

async function withHarness<T>(body: (h: Harness) => Promise<T>): Promise<T> {
  const h = await startHarness();
  try {
    return await body(h);
  } finally {
    await h.stop();
  }
}

describe("tier migration between loopback droplets", () => {
  it("replicate: every acknowledged write survives, the old primary is fenced, traffic is on the new one", { timeout: TIMEOUT }, () =>
    withHarness(async (h) => {
      const { result: report, records } = await h.withLoad(() => h.migrate({ strategy: "auto" }));
      expect(report.aborted).toBeUndefined();
      expect(report.strategy?.strategy).toBe("replicate");
      expect(report.strategy?.reason).toMatch(/same PostgreSQL major version \(15\)/);
      expect(report.committed).toBe(true);
      expect(report.countProblems).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.backupFile && fs.statSync(report.backupFile).size).toBeGreaterThan(0);
      expect(h.serving()).toBe(h.next);

      const check = await h.check(records, h.next);
      expect(check.acknowledged).toBeGreaterThan(50);
      expect(check.lost).toEqual([]);
      expect(check.failedButPresent).toEqual([]);
      expect(check.redisLost).toEqual([]);

      // The old server is down and marked so that a restart comes up read-only.
      expect(fs.existsSync(path.join(h.old.pg.dataDir, "postmaster.pid"))).toBe(false);
      expect(fs.existsSync(path.join(h.old.pg.dataDir, "standby.signal"))).toBe(true);
      expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
      expect(await h.next.redis.cli("ROLE")).toMatch(/^master/);
      expect(await h.old.redis.cli("ROLE")).toMatch(/^slave/);
    }),
  );

  it("dump-restore: every acknowledged write survives; writes refused while frozen are not applied", { timeout: TIMEOUT }, () =>
    withHarness(async (h) => {
      const { result: report, records } = await h.withLoad(() => h.migrate({ strategy: "dump-restore" }));
      expect(report.aborted).toBeUndefined();
      expect(report.strategy?.strategy).toBe("dump-restore");
      expect(report.ok).toBe(true);
      const check = await h.check(records, h.next);
      expect(check.acknowledged).toBeGreaterThan(50);
      expect(check.failed).toBeGreaterThan(0); // the freeze refused some writes...
      expect(check.failedButPresent).toEqual([]); // ...and none of them was applied
      expect(check.lost).toEqual([]);
      expect(check.redisLost).toEqual([]);
    }),
  );

  it("negative control: promoting without fencing loses acknowledged writes, and the checker sees it", { timeout: TIMEOUT }, () =>
    withHarness(async (h) => {
      const { records } = await h.withLoad(() => h.migrate({ strategy: "replicate", unsafeNoFence: true, skipBackup: true }));
      const check = await h.check(records, h.next);
      expect(check.lost.length).toBeGreaterThan(0);
    }),
  );

  const faults: Array<["replicate" | "dump-restore", FaultPoint]> = [
    ...FAULT_POINTS.replicate.map((p) => ["replicate", p] as ["replicate", FaultPoint]),
    ["dump-restore", "freeze"],
    ["dump-restore", "restore"],
  ];
  it.each(faults)(
    "%s, fault after %s: rolls back, the old server keeps serving and loses nothing, a second run completes",
    { timeout: TIMEOUT },
    (strategy, faultAfter) =>
      withHarness(async (h) => {
        const { result, records } = await h.withLoad(async () => {
          const first = await h.migrate({ strategy, faultAfter, skipBackup: faultAfter !== "backup" });
          const servingAfterFault = h.serving();
          const probe = await httpRequest("POST", `http://127.0.0.1:${h.frontDoor.port}/write/probe-${faultAfter}`, 5000);
          const second = await h.migrate({ strategy, skipBackup: true });
          return { first, second, servingAfterFault, probe };
        });
        expect(result.first.aborted).toMatch(new RegExp(`fault injected after ${faultAfter}`));
        expect(result.first.committed).toBe(false);
        expect(result.first.rolledBack).toBe(true);
        expect(result.servingAfterFault).toBe(h.old);
        expect(result.probe.status).toBe(200);
        expect(result.second.ok).toBe(true);
        expect(h.serving()).toBe(h.next);
        const check = await h.check(records, h.next);
        expect(check.lost).toEqual([]);
        expect(check.failedButPresent).toEqual([]);
        expect(await h.next.pg.psql("SELECT count(*) FROM writes WHERE id = 'probe-" + faultAfter + "'", "chatbot")).toBe("1");
      }),
  );

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
