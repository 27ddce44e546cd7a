/**
 * The switch back, for real, on the loopback droplets (./harness.ts): after a migration old -> new (the old server
 * follows), `switchBack` from new to old under load through the front door, then again the other way, each judged
 * by the set checker; the follower behind or restarted; the refusals; a rollback after the fence; and the negative
 * control (promoting a follower that is behind, through the executor seam) that shows the checker sees losses.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { type Executor, exitCodeFor, type MigrationReport, migrationResult } from "../../infra/migration/runner";
import { osUser, sleep } from "../support/processes";
import type { WriteRecord } from "./checker";
import { cliArgs, killLeftoverClis, runCli } from "./cli-process";
import {
  fingerprint,
  type Harness,
  type HarnessDroplet,
  pgCtl,
  readJournal,
  seedDatabase,
  waitFor,
  withHarness,
} from "./harness";
import { frontRequest } from "./front-door";
import { expectNowhere, MAX_NEVER_SENT, neverSent } from "./never-sent";
import { FAULT_POINTS, failAfter, recorder, unfenced } from "./seams";

const TIMEOUT = 600_000;
const MB = 1024 * 1024;
/** The timeline a primary writes on now. */
const TIMELINE = "SELECT ('x' || left(pg_walfile_name(pg_current_wal_lsn()), 8))::bit(32)::int";

/** `standby` streams from `primary` on the timeline it writes on, and replays a write made there. */
async function follows(standby: HarnessDroplet, primary: HarnessDroplet, probe: string): Promise<string> {
  expect(await standby.pg.psql("SELECT pg_is_in_recovery()")).toBe("t");
  const timeline = await primary.pg.psql(TIMELINE);
  let seen = "";
  await waitFor(
    `${standby.name} to stream from ${primary.name} on timeline ${timeline}`,
    async () =>
      (seen = await standby.pg.psql(
        "SELECT status || ' ' || received_tli || ' ' || sender_host FROM pg_stat_wal_receiver",
      )) === `streaming ${timeline} ${primary.host}`,
    30_000,
  ).catch((e: Error) => Promise.reject(new Error(`${e.message} (its WAL receiver: "${seen}")`)));
  await primary.pg.psql(`INSERT INTO writes (id) VALUES ('${probe}')`, "chatbot");
  await waitFor(
    `the write on ${primary.name} to reach ${standby.name}`,
    async () => (await standby.pg.psql(`SELECT count(*) FROM writes WHERE id = '${probe}'`, "chatbot")) === "1",
    30_000,
  );
  expect(await standby.redis.cli("ROLE")).toMatch(/^slave/);
  return timeline;
}

/** A switch back, done, that copied nothing: no backup, no base backup, its journal (on `from`) says so. */
function switchedBack(report: MigrationReport, from: HarnessDroplet, calls: string[]): void {
  expect(report.outcome, report.refused ?? report.aborted ?? report.error).toBe("done");
  expect(report.copy).toBeUndefined();
  expect(report.backupFile).toBeUndefined();
  for (const step of ["backup", "standby", "drop_slot", "dump_restore"])
    expect(calls.filter((c) => c.endsWith(`:${step}`))).toEqual([]);
  const j = readJournal(from)!;
  expect(j).toMatchObject({ switchBack: true, outcome: "done", strategy: "replicate" });
  expect(j.phasesDone).toEqual(["preflight", "catchup", "cutover", "verify"]);
  // Stopped cleanly at the fence, the new one promoted exactly there: no rewind.
  expect(j.follower).toMatchObject({ state: "streaming" });
  expect(j.follower?.oldEnd).toBe(j.follower?.fork);
  expect(migrationResult(report)).toMatchObject({ switchBack: true, followingSince: j.follower?.since });
}

/** Every request answered 200 (but for the known never-sent resets), none lost, read back from `from`. */
async function nothingLostOrFailed(h: Harness, records: WriteRecord[], from: HarnessDroplet, cutovers: number) {
  const check = await h.check(records, from);
  const unsent = records.filter(neverSent);
  expect(unsent.length).toBeLessThanOrEqual(MAX_NEVER_SENT * cutovers);
  await expectNowhere(h, unsent, [h.old, h.next]);
  expect([...new Set(records.filter((r) => !neverSent(r)).map((r) => r.status))]).toEqual([200]);
  expect({ failed: check.failed, unknown: check.unknown - unsent.length, lost: check.lost.length }).toEqual({
    failed: 0,
    unknown: 0,
    lost: 0,
  });
  expect(check.failedButPresent).toEqual([]);
  expect(check.redisLost).toEqual([]);
  return check;
}

describe("switch back to the server that follows", () => {
  it(
    "old -> new, then back by --switch-back, then again: three cutovers under load, nothing copied, lost or failed",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const back = recorder();
        const again = recorder();
        const { result, records } = await h.withLoad(
          async () => {
            const first = await h.migrate({ strategy: "auto", skipBackup: true });
            expect(first.outcome).toBe("done");
            await follows(h.old, h.next, "probe-after-first");
            const switched = await h.migrate({ from: h.next, to: h.old, switchBack: true, wrap: back.wrap });
            switchedBack(switched, h.next, back.calls);
            expect(h.serving()).toBe(h.old);
            expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
            const timeline = await follows(h.next, h.old, "probe-after-switch-back");
            const flipped = await h.migrate({ switchBack: true, wrap: again.wrap });
            switchedBack(flipped, h.old, again.calls);
            expect(h.serving()).toBe(h.next);
            const lastTimeline = await follows(h.old, h.next, "probe-after-flip");
            return { first, switched, flipped, timeline, lastTimeline };
          },
          { workers: 4 },
        );
        const { first, switched, flipped } = result;
        // Each cutover promoted onto a new timeline: 2, then 3, then 4.
        expect([result.timeline, result.lastTimeline]).toEqual(["3", "4"]);
        // Each journal names the migration it reverses (the first one's went to the old droplet's history).
        expect(readJournal(h.next)?.reverses).toBe(first.journal?.id);
        expect(readJournal(h.old)?.reverses).toBe(switched.journal?.id);
        const check = await nothingLostOrFailed(h, records, h.next, 3);
        expect(check.acknowledged).toBeGreaterThan(100);
        console.error(
          `[switch back] ${records.length} requests, ${check.acknowledged} acknowledged; write gap: migration ${first.writeDowntimeMs} ms, ` +
            `switch back ${switched.writeDowntimeMs} ms, flip again ${flipped.writeDowntimeMs} ms; max latency ${Math.max(...records.map((r) => r.endMs - r.startMs))} ms`,
        );
        // A re-run of the last switch back changes nothing.
        const rerun = await h.migrate({ switchBack: true });
        expect(rerun.outcome).toBe("already-done");
        expect(migrationResult(rerun)).toEqual({ ...migrationResult(flipped), resumed: true });
      }),
  );

  it(
    "negative control: promoting the follower while the source still writes (no fence, executor seam) loses acknowledged writes, and the checker sees it",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        expect((await h.migrate({ skipBackup: true })).outcome).toBe("done");
        const { records } = await h.withLoad(() =>
          h.migrate({ from: h.next, to: h.old, switchBack: true, wrap: (exec) => unfenced(exec) }),
        );
        const check = await h.check(records, h.old);
        console.error(`[switch back, negative control] ${check.acknowledged} acknowledged, ${check.lost.length} lost`);
        expect(check.lost.length).toBeGreaterThan(0);
      }),
  );

  it(
    "a follower restarted, then behind (replay paused): it follows again, the switch back waits in the catch-up and succeeds",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        expect((await h.migrate({ skipBackup: true })).outcome).toBe("done");
        pgCtl(h.old, "restart", "-m", "fast", "-l", h.old.pg.logFile, "-o", h.old.pg.ctlOptions);
        await follows(h.old, h.next, "probe-after-restart");
        await h.old.pg.psql("SELECT pg_wal_replay_pause()");
        await seedDatabase(h.next.pg, 100 * MB);
        const lag = Number(
          await h.next.pg.psql(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication",
          ),
        );
        expect(lag).toBeGreaterThan(64 * MB); // more than the catch-up lets through (maxLagBytesForCutover)
        // The replay resumes a while after the catch-up started waiting for it.
        const resumeAfterMs = 2000;
        let resumed: Promise<string> | undefined;
        const resumeDuringCatchup =
          (exec: Executor): Executor =>
          (cmd, hooks) => {
            if (cmd.step === "catchup")
              resumed = sleep(resumeAfterMs).then(() => h.old.pg.psql("SELECT pg_wal_replay_resume()"));
            return exec(cmd, hooks);
          };
        const rec = recorder();
        const { result: report, records } = await h.withLoad(() =>
          h.migrate({ from: h.next, to: h.old, switchBack: true, wrap: (exec) => rec.wrap(resumeDuringCatchup(exec)) }),
        );
        await resumed;
        switchedBack(report, h.next, rec.calls);
        const catchup = report.timeline.find((t) => t.step === "catchup");
        expect(catchup && catchup.endMs - catchup.startMs).toBeGreaterThan(resumeAfterMs - 200);
        await nothingLostOrFailed(h, records, h.old, 1);
        expect(await h.old.pg.psql("SELECT count(*) FROM pgbench_accounts", "chatbot")).toBe(
          await h.next.pg.psql("SELECT count(*) FROM pgbench_accounts", "chatbot"),
        );
        console.error(
          `[switch back, follower behind by ${lag} bytes] catch-up ${catchup ? catchup.endMs - catchup.startMs : "?"} ms, write gap ${report.writeDowntimeMs} ms`,
        );
      }),
  );

  it(
    "refused, touching nothing (exit 2): a target that is not a standby, one that follows no server or another cluster",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const refused = async (why: RegExp) => {
          const before = [await fingerprint(h.old), await fingerprint(h.next)];
          const report = await h.migrate({ switchBack: true });
          expect(report.outcome).toBe("refused");
          expect(report.refused).toMatch(why);
          expect(exitCodeFor(report)).toBe(2);
          expect([await fingerprint(h.old), await fingerprint(h.next)]).toEqual(before);
        };
        // Two primaries, no migration yet.
        await refused(/the target's PostgreSQL is not a standby/);
        // The target read-only (in recovery) but its own cluster.
        pgCtl(h.next, "stop", "-m", "fast");
        const signal = path.join(h.next.pg.dataDir, "standby.signal");
        fs.writeFileSync(signal, "");
        const who = osUser("postgres");
        if (who) fs.chownSync(signal, who.uid, who.gid);
        pgCtl(h.next, "start", "-l", h.next.pg.logFile, "-o", h.next.pg.ctlOptions);
        await refused(/the target is another PostgreSQL cluster/);
      }),
  );

  it("refused, touching nothing (exit 2): the follower pointed at another server", { timeout: TIMEOUT }, () =>
    withHarness(async (h) => {
      expect((await h.migrate({ skipBackup: true })).outcome).toBe("done");
      await h.old.pg.psql("ALTER SYSTEM SET primary_conninfo = 'host=127.0.0.1 port=1 connect_timeout=1'");
      await h.old.pg.psql("SELECT pg_reload_conf()");
      await waitFor(
        "the follower to stop streaming from the new server",
        async () =>
          (await h.old.pg.psql("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")) === "0",
        30_000,
      );
      const before = [await fingerprint(h.old), await fingerprint(h.next)];
      const report = await h.migrate({ from: h.next, to: h.old, switchBack: true });
      expect(report.refused).toMatch(/the target's standby follows .*not the source at /);
      expect(exitCodeFor(report)).toBe(2);
      expect([await fingerprint(h.old), await fingerprint(h.next)]).toEqual(before);
    }),
  );

  it(
    "npm run migrate -- --switch-back: refused (exit 2) while the target does not follow; after a migration, done with the result line the stack reads; --status says so",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        // --overwrite-target does not go with --switch-back: exit 2 before any step.
        expect((await runCli([...cliArgs(h.next, h.old), "--switch-back", "--overwrite-target"])).code).toBe(2);
        const refused = await runCli(cliArgs(h.old, h.next).concat("--switch-back"));
        expect(refused.code).toBe(2);
        expect(refused.stderr).toMatch(/REFUSED: no switch back: the target's PostgreSQL is not a standby/);
        expect((await h.migrate({ skipBackup: true })).outcome).toBe("done");
        const done = await runCli([...cliArgs(h.next, h.old), "--switch-back"]);
        expect(done.code, done.stderr).toBe(0);
        expect(done.stdout).toMatch(/switch back: .* took over from .*, nothing copied/);
        expect(done.result).toMatchObject({
          switchBack: true,
          state: "done",
          followingSince: readJournal(h.next)?.follower?.since,
        });
        expect(h.serving()).toBe(h.next); // the CLI moves no front address: its traffic command was not given
        const status = await runCli([...cliArgs(h.next, h.old), "--status"]);
        expect(status.stdout).toMatch(
          /switch back +yes: the target followed the source, nothing copied \(reverses migration /,
        );
      }, killLeftoverClis),
  );

  it(
    "a fault after the fence rolls the switch back back: held requests answered by the source, all data there, the target still follows; a retry succeeds",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        expect((await h.migrate({ skipBackup: true })).outcome).toBe("done");
        const { result, records } = await h.withLoad(
          async () => {
            const failed = await h.migrate({
              from: h.next,
              to: h.old,
              switchBack: true,
              wrap: (exec) => failAfter(exec, FAULT_POINTS.replicate.fence),
            });
            const servingAfter = h.serving();
            const followsAfter = await follows(h.old, h.next, "probe-after-rollback");
            return { failed, servingAfter, followsAfter };
          },
          { workers: 4 },
        );
        expect(result.failed).toMatchObject({ outcome: "rolled-back", rolledBack: true, committed: false });
        expect(result.failed.aborted).toMatch(/fault injected after fence/);
        expect(result.servingAfter).toBe(h.next);
        expect(readJournal(h.next)).toMatchObject({ outcome: "rolled-back", switchBack: true });
        await nothingLostOrFailed(h, records, h.next, 1);
        // A client still on the follower's address (a DNS answer cached before the switch back) is forwarded to the
        // source as before it, not served by the follower's read-only app.
        const stale = await frontRequest(
          h.old.host,
          [h.old.caddy.rootCert, h.next.caddy.rootCert],
          "POST",
          "/write/stale-client",
          30_000,
        );
        expect(stale.status, stale.body || stale.error).toBe(200);
        expect(await h.next.pg.psql("SELECT count(*) FROM writes WHERE id = 'stale-client'", "chatbot")).toBe("1");
        const retry = recorder();
        const report = await h.migrate({ from: h.next, to: h.old, switchBack: true, wrap: retry.wrap });
        switchedBack(report, h.next, retry.calls);
        expect(h.serving()).toBe(h.old);
        await follows(h.next, h.old, "probe-after-retry");
      }),
  );
});
