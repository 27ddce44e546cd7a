/**
 * After the commit point the old server follows the new one: a migration under load (a benchmark-sized database),
 * then the old PostgreSQL is in recovery, streams from the new primary on its timeline, and replays what is written
 * there. Negative control: the old server written to after the fence (its WAL goes past the new timeline's fork)
 * is found out and not started as a follower; said in the journal, and the migration is still done.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import type { Executor } from "../../infra/migration/runner";
import { type Harness, pgCtl, readJournal, seedDatabase, waitFor, withHarness } from "./harness";
import { afterStep } from "./seams";

const TIMEOUT = 600_000;
const MB = 1024 * 1024;

/**
 * The test seam for a hand on the old droplet after the commit point (before the follow step): its server started
 * as a primary (with `options` added to its own), a write, a clean stop.
 */
function writeAfterFence(h: Harness, options = ""): (exec: Executor) => Executor {
  return (exec) =>
    afterStep(exec, "forget_primary", async () => {
      fs.rmSync(path.join(h.old.pg.dataDir, "standby.signal"));
      pgCtl(h.old, "start", "-l", h.old.pg.logFile, "-o", `${h.old.pg.ctlOptions} ${options}`);
      await h.old.pg.psql("CREATE TABLE diverged (id int); INSERT INTO diverged VALUES (1)", "chatbot");
      pgCtl(h.old, "stop", "-m", "fast");
    });
}

describe("the old server follows the new one after the commit point", () => {
  it(
    "streams from the new primary on its timeline, read-only, and replays a write made there after the commit",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const dbBytes = await seedDatabase(h.old.pg, 100 * MB);
        await h.old.pg.psql("CHECKPOINT");
        // The load goes on after the migration: the follower's lag is sampled under it (new primary's view).
        const lagSql =
          "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint FROM pg_stat_replication WHERE application_name = 'chatbot_follower'";
        const { result: migrated } = await h.withLoad(
          async () => {
            const report = await h.migrate({ strategy: "replicate" });
            const lags: number[] = [];
            for (let i = 0; i < 10; i++) {
              lags.push(Number(await h.next.pg.psql(lagSql)));
              await new Promise((r) => setTimeout(r, 200));
            }
            return { report, lags };
          },
          { settleMs: 1000 },
        );
        const { report, lags } = migrated;
        expect(report.outcome).toBe("done");
        const journal = readJournal(h.old)!;
        expect(journal.stepsDone).toContain("follow");
        expect(journal.follower).toMatchObject({ state: "streaming", of: journal.to.target });
        expect(report.notes.join("\n")).toMatch(/the old server follows the new one \(streaming, timeline 2\)/);

        // Read-only, on the new timeline, streaming from the new primary, which sees it.
        expect(fs.existsSync(path.join(h.old.pg.dataDir, "standby.signal"))).toBe(true);
        expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("t");
        const newTimeline = await h.next.pg.psql(
          "SELECT ('x' || left(pg_walfile_name(pg_current_wal_lsn()), 8))::bit(32)::int",
        );
        expect(newTimeline).toBe("2");
        expect(journal.follower?.timeline).toBe(newTimeline);
        // Stopped cleanly at the fence, promoted exactly there: its WAL ends where the new timeline forks.
        expect(journal.follower?.oldEnd).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
        expect(journal.follower?.oldEnd).toBe(journal.follower?.fork);
        expect(
          await h.old.pg.psql("SELECT status || ' ' || received_tli || ' ' || sender_host FROM pg_stat_wal_receiver"),
        ).toBe(`streaming ${newTimeline} ${h.next.host}`);
        const senders = await h.next.pg.psql(
          "SELECT application_name || ' ' || state FROM pg_stat_replication WHERE usename = 'replicator'",
        );
        expect(senders).toBe("chatbot_follower streaming");
        await expect(h.old.pg.psql("CREATE TABLE refused (id int)")).rejects.toThrow(/read-only transaction/);

        // How far behind right after the migration and its load, then a write made on the new server arrives.
        expect(await h.old.pg.psql("SELECT count(*) FROM pg_replication_slots")).toBe("0");
        const lag = await h.next.pg.psql(lagSql);
        const followMs = report.timeline.find((t) => t.step === "follow");
        await h.next.pg.psql(
          "CREATE TABLE after_commit (note text); INSERT INTO after_commit VALUES ('written on the new')",
          "chatbot",
        );
        await waitFor(
          "the write on the new server to reach the old one",
          async () => (await h.old.pg.psql("SELECT count(*) FROM after_commit", "chatbot").catch(() => "0")) === "1",
          30_000,
        );
        console.error(
          `[follow] database ${(dbBytes / MB).toFixed(0)} MB; follow step ${followMs ? followMs.endMs - followMs.startMs : "?"} ms; ` +
            `lag under load after the migration (10 samples, 200 ms apart): max ${Math.max(...lags)}, last ${lags.at(-1)} bytes; ` +
            `after the load: ${lag} bytes; write gap ${report.writeDowntimeMs} ms`,
        );
      }),
  );

  it(
    "written to after the fence with wal_log_hints on, the old server is rewound onto the new timeline, then follows",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const report = await h.migrate({ strategy: "replicate", wrap: writeAfterFence(h, "-c wal_log_hints=on") });
        expect(report.outcome).toBe("done");
        const follower = readJournal(h.old)?.follower;
        expect(follower).toMatchObject({ state: "rewound", timeline: "2" });
        expect(report.notes.join("\n")).toMatch(/the old server follows the new one \(rewound, timeline 2\)/);
        expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("t");
        // What it wrote after the fence is gone; what the new server has arrives.
        expect(await h.old.pg.psql("SELECT to_regclass('diverged') IS NULL", "chatbot")).toBe("t");
        await h.next.pg.psql("CREATE TABLE after_rewind (id int); INSERT INTO after_rewind VALUES (1)", "chatbot");
        await waitFor(
          "the write on the new server to reach the rewound old one",
          async () => (await h.old.pg.psql("SELECT count(*) FROM after_rewind", "chatbot").catch(() => "0")) === "1",
          30_000,
        );
      }),
  );

  it(
    "negative control: the old server written to after the fence is not started as a follower, and says why",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const report = await h.migrate({ strategy: "replicate", wrap: writeAfterFence(h) });
        expect(report.outcome).toBe("done");
        expect(report.ok).toBe(true);
        const follower = readJournal(h.old)?.follower;
        expect(follower).toMatchObject({ state: "stopped" });
        expect(follower?.reason).toMatch(/past the new timeline's fork point.*wal_log_hints is off/);
        expect(follower?.oldEnd && follower.fork).toBeTruthy();
        expect(report.notes.join("\n")).toMatch(/the old server does not follow the new one: its WAL goes past/);
        // Not started, and a restart by anyone comes up read-only.
        expect(fs.existsSync(path.join(h.old.pg.dataDir, "postmaster.pid"))).toBe(false);
        expect(fs.existsSync(path.join(h.old.pg.dataDir, "standby.signal"))).toBe(true);
        expect(await h.next.pg.psql("SELECT count(*) FROM pg_stat_replication")).toBe("0");
      }),
  );
});
