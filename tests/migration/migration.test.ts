/**
 * Tier migration for real, on two loopback "droplets" (see ./harness.ts): a load generator writes through the front
 * door for the whole run, and the set checker reads everything back from the new primary. Small database here;
 * large sizes and timings are in tests/bench/bench-migration.ts. Faults and the negative control enter through the
 * executor seam (./seams.ts).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { type Executor, exitCodeFor, migrationResult } from "../../infra/migration/runner";
import { runningServers } from "../support/servers";
import { migrationFiles, readJournal, withHarness } from "./harness";
import { FAULT_POINTS, type FaultSpec, failAfter, recorder, unfenced } from "./seams";

const TIMEOUT = 300_000;

describe("tier migration between loopback droplets", () => {
  it(
    "replicate: every acknowledged write survives, the old primary is fenced, traffic is on the new one; a re-run touches nothing",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const { result: report, records } = await h.withLoad(() => h.migrate({ strategy: "auto" }));
        expect(report.aborted).toBeUndefined();
        expect(report.outcome).toBe("done");
        expect(report.strategy?.strategy).toBe("replicate");
        expect(report.strategy?.reason).toMatch(/same PostgreSQL major version \(15\)/);
        expect(report.committed).toBe(true);
        expect(report.countProblems).toEqual([]);
        expect(report.ok).toBe(true);
        expect(report.notes.join("\n")).toMatch(
          /the target holds no data[\s\S]*data \d+(\.\d)? MiB fits: \d+(\.\d)? GiB free on the target volume/,
        );
        expect(report.backupFile && fs.statSync(report.backupFile).size).toBeGreaterThan(0);
        expect(h.serving()).toBe(h.next);

        const check = await h.check(records, h.next);
        expect(check.acknowledged).toBeGreaterThan(50);
        expect(check.lost).toEqual([]);
        expect(check.failedButPresent).toEqual([]);
        expect(check.redisLost).toEqual([]);

        // The old server follows the new one, read-only (standby.signal kept).
        expect(fs.existsSync(path.join(h.old.pg.dataDir, "standby.signal"))).toBe(true);
        expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("t");
        expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
        expect(await h.next.redis.cli("ROLE")).toMatch(/^master/);
        expect(await h.old.redis.cli("ROLE")).toMatch(/^slave/);

        // The journal on the old droplet says done; no lock is left; the new one is no longer marked as a copy.
        const journal = readJournal(h.old)!;
        expect(journal).toMatchObject({
          outcome: "done",
          phase: "done",
          committed: true,
          strategy: "replicate",
          runs: 1,
        });
        expect(journal.phasesDone).toEqual(["preflight", "backup", "copy", "catchup", "cutover", "verify"]);
        expect(journal.stepsDone).toEqual([
          "promote",
          "gate",
          "redis",
          "traffic",
          "forget_primary",
          "health",
          "counts",
          "follow",
        ]);
        expect(journal.follower).toMatchObject({ state: "streaming", of: journal.to.target });
        expect(migrationFiles(h.old)).toEqual(["journal.json"]);
        expect(migrationFiles(h.next)).toEqual([]);
        const result = migrationResult(report)!;
        expect(result).toMatchObject({
          id: journal.id,
          state: "done",
          committedAt: journal.committedAt,
          resumed: false,
        });

        // Re-run (what a repeated `pulumi up` does): reads the journals, touches nothing, the same result.
        const again = recorder();
        const rerun = await h.migrate({ wrap: again.wrap });
        expect(rerun.outcome).toBe("already-done");
        expect(exitCodeFor(rerun)).toBe(0);
        expect(again.calls).toEqual(["old:journal_read", "new:journal_read"]);
        expect(migrationResult(rerun)).toEqual({ ...result, resumed: true });
        expect(readJournal(h.old)).toEqual(journal);
      }),
  );

  it(
    "dump-restore: every acknowledged write survives; writes refused while frozen are not applied",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const { result: report, records } = await h.withLoad(() => h.migrate({ strategy: "dump-restore" }));
        expect(report.aborted).toBeUndefined();
        expect(report.strategy?.strategy).toBe("dump-restore");
        expect(report.ok).toBe(true);
        expect(readJournal(h.old)).toMatchObject({ outcome: "done", strategy: "dump-restore" });
        const check = await h.check(records, h.next);
        expect(check.acknowledged).toBeGreaterThan(50);
        expect(check.failed).toBeGreaterThan(0); // the freeze refused some writes...
        expect(check.failedButPresent).toEqual([]); // ...and none of them was applied
        expect(check.lost).toEqual([]);
        expect(check.redisLost).toEqual([]);
      }),
  );

  it(
    "negative control: promoting without fencing (executor seam) loses acknowledged writes, and the checker sees it",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const { records } = await h.withLoad(() =>
          h.migrate({ strategy: "replicate", skipBackup: true, wrap: (exec) => unfenced(exec) }),
        );
        const check = await h.check(records, h.next);
        console.log(`negative control: ${check.acknowledged} acknowledged, ${check.lost.length} lost`);
        expect(check.lost.length).toBeGreaterThan(0);
      }),
  );

  const faults: Array<["replicate" | "dump-restore", string, FaultSpec]> = [
    ...Object.entries(FAULT_POINTS.replicate).map(
      ([p, spec]) => ["replicate", p, spec] as ["replicate", string, FaultSpec],
    ),
    ...Object.entries(FAULT_POINTS["dump-restore"]).map(
      ([p, spec]) => ["dump-restore", p, spec] as ["dump-restore", string, FaultSpec],
    ),
  ];
  it.each(faults)(
    "%s, fault after %s: rolls back (or, at preflight, touches nothing), the old server keeps serving and loses nothing, a second run completes",
    { timeout: TIMEOUT },
    (strategy, point, spec) =>
      withHarness(async (h) => {
        const { result, records } = await h.withLoad(async () => {
          const first = await h.migrate({
            strategy,
            skipBackup: point !== "backup",
            wrap: (exec) => failAfter(exec, spec),
          });
          const servingAfterFault = h.serving();
          const journalAfterFault = readJournal(h.old);
          const probe = await h.request("POST", `/write/probe-${point}`, 5000);
          const second = await h.migrate({ strategy, skipBackup: true });
          return { first, second, servingAfterFault, journalAfterFault, probe };
        });
        expect(result.first.aborted).toMatch(/fault injected after/);
        expect(result.first.committed).toBe(false);
        expect(exitCodeFor(result.first)).toBe(1);
        if (point === "preflight") {
          // Nothing had changed: no rollback, no journal.
          expect(result.first.outcome).toBe("aborted");
          expect(result.journalAfterFault).toBeUndefined();
        } else {
          expect(result.first.outcome).toBe("rolled-back");
          expect(result.first.rolledBack).toBe(true);
          expect(result.journalAfterFault).toMatchObject({ outcome: "rolled-back", committed: false });
        }
        expect(result.servingAfterFault).toBe(h.old);
        expect(result.probe.status).toBe(200);
        expect(result.second.outcome, result.second.refused ?? result.second.aborted ?? result.second.error).toBe(
          "done",
        );
        expect(h.serving()).toBe(h.next);
        const check = await h.check(records, h.next);
        expect(check.lost).toEqual([]);
        expect(check.failedButPresent).toEqual([]);
        expect(await h.next.pg.psql(`SELECT count(*) FROM writes WHERE id = 'probe-${point}'`, "chatbot")).toBe("1");
        expect(migrationFiles(h.next)).toEqual([]);
      }),
  );

  const afterCommit: Array<[string, { wrap?: (exec: Executor) => Executor; trafficFails?: boolean }, string[]]> = [
    // pg_promote ran, then the answer was lost (ssh dropped): the commit point is uncertain, so it counts as passed.
    [
      "promote answered by a dropped connection",
      { wrap: (exec) => failAfter(exec, { after: "promote", code: 255 }) },
      ["new:promote"],
    ],
    ["the traffic switch fails", { trafficFails: true }, []],
    ["forget_primary fails after running", { wrap: (exec) => failAfter(exec, { after: "forget_primary" }) }, []],
  ];
  it.each(afterCommit)(
    "replicate, fault right after the commit point (%s): the run stops resumable (exit 3); a second run goes forward, repeats no finished step, and loses nothing",
    { timeout: TIMEOUT },
    (_label, fault, repeated) =>
      withHarness(async (h) => {
        const second = recorder();
        const { result, records } = await h.withLoad(async () => {
          let failTraffic = fault.trafficFails ?? false;
          const first = await h.migrate({
            strategy: "replicate",
            skipBackup: true,
            ...(fault.wrap ? { wrap: fault.wrap } : {}),
            moveTraffic: async () => {
              if (failTraffic) {
                failTraffic = false;
                throw new Error("traffic switch failed (injected)");
              }
              h.front.moveTo(h.next.host);
            },
          });
          const journalAfterFault = readJournal(h.old);
          const filesAfterFault = [migrationFiles(h.old), migrationFiles(h.next)];
          const resumed = await h.migrate({ strategy: "replicate", skipBackup: true, wrap: second.wrap });
          return { first, resumed, journalAfterFault, filesAfterFault };
        });
        const { first, resumed, journalAfterFault } = result;
        expect(first.outcome).toBe("stopped-after-commit");
        expect(first.committed).toBe(true);
        expect(exitCodeFor(first)).toBe(3);
        expect(journalAfterFault).toMatchObject({
          outcome: "failed-after-commit",
          committed: true,
          lastError: expect.stringMatching(/fault injected|traffic switch failed/),
        });
        expect(journalAfterFault?.committedAt).toMatch(/^\d{4}-\d\d-\d\dT/);
        expect(result.filesAfterFault[0]).not.toContain("lock"); // locks released even after a failure

        expect(resumed.outcome).toBe("done");
        expect(resumed.resumed).toBe(true);
        expect(exitCodeFor(resumed)).toBe(0);
        // Never a finished phase again: no copy, no fence; promote only when its answer was lost (idempotent).
        const droplet = second.calls.filter((c) => !/journal_|lock_/.test(c));
        for (const step of ["old:preflight", "old:backup", "new:standby", "old:fence", "old:checkpoint"])
          expect(droplet).not.toContain(step);
        expect(droplet.filter((c) => c === "new:promote")).toEqual(repeated);
        const journal = readJournal(h.old)!;
        expect(journal).toMatchObject({ outcome: "done", committedAt: journalAfterFault?.committedAt, runs: 2 });
        expect(migrationResult(resumed)).toMatchObject({ committedAt: journalAfterFault?.committedAt, resumed: true });
        expect(h.serving()).toBe(h.next);

        const check = await h.check(records, h.next);
        console.log(
          `${_label}: ${check.acknowledged} acknowledged, ${check.failed} refused, ${check.unknown} unknown, ${check.lost.length} lost`,
        );
        expect(check.acknowledged).toBeGreaterThan(20);
        expect(check.lost).toEqual([]);
        expect(check.failedButPresent).toEqual([]);
      }),
  );

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
