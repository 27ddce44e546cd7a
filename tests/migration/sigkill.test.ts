/**
 * `npm run migrate` killed with SIGKILL in the middle of the copy (no handler runs: the journal says running, both
 * locks stay held), against the loopback droplets with the app under load. --status names the phase and the held
 * lock; a run within the lock's staleness window is refused (the lock is fresh); once the window has passed, a run
 * with a short window takes the lock over, rolls the killed migration back and migrates afresh; the set checker reads
 * every write back from the new primary.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseJournal } from "../../infra/migration/journal";
import { runningServers } from "../support/servers";
import { cliArgs, copyUnderWay, killLeftoverClis, runCli, startCli } from "./cli-process";
import {
  type Harness,
  type HarnessDroplet,
  migrationFiles,
  readJournal,
  seedDatabase,
  waitFor,
  withHarness as withHarnessThen,
} from "./harness";

const TIMEOUT = 600_000;
/** The takeover run's window: a few seconds, so the test waits for it rather than the default minute. */
const STALE_SECONDS = 5;

const withHarness = <T>(body: (h: Harness) => Promise<T>) => withHarnessThen(body, killLeftoverClis);

afterEach(killLeftoverClis);

const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/**
 * What a refused run must leave as it found it: the journal and both locks' owners. (Not the databases: the load
 * writes on, and the killed run's copy may still be finishing on the new droplet, its ssh session orphaned.)
 */
function claims(h: Harness): unknown[] {
  const owner = (d: HarnessDroplet) => fs.readFileSync(path.join(d.migrationDir, "lock", "owner"), "utf8");
  return [readJournal(h.old), owner(h.old), owner(h.next)];
}

/** Seconds since the lock's last heartbeat on a droplet (the droplet's clock is this machine's), or undefined. */
function heartbeatAge(d: HarnessDroplet): number | undefined {
  const file = path.join(d.migrationDir, "lock", "heartbeat");
  return fs.existsSync(file) ? (Date.now() - fs.statSync(file).mtimeMs) / 1000 : undefined;
}

describe("npm run migrate killed with SIGKILL during the copy", () => {
  it(
    "--status names the phase and the held lock; a run within the window is refused; after it, a run takes the stale lock over, rolls back, migrates afresh and loses nothing",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        await seedDatabase(h.old.pg, 300 * 1024 * 1024);
        const args = cliArgs(h.old, h.next);
        const { result, records } = await h.withLoad(async () => {
          const killed = startCli([...args, "--id", "killed", "--lock-stale-seconds", String(STALE_SECONDS)]);
          await copyUnderWay(killed, h.next);
          killed.kill("SIGKILL");
          const exit = await killed.exited;
          const journalAfterKill = readJournal(h.old);
          const filesAfterKill = [migrationFiles(h.old), migrationFiles(h.next)];
          const status = await runCli([...args, "--status"]);

          // Negative control: within its window (five minutes, far longer than this takes) the lock is fresh.
          const before = claims(h);
          const fresh = await runCli([...args, "--id", "too-soon", "--lock-stale-seconds", "300"]);
          const untouched = claims(h);

          await waitFor(
            "the killed run's locks to go stale",
            async () => [h.old, h.next].every((d) => (heartbeatAge(d) ?? 0) > STALE_SECONDS + 1),
            60_000,
          );
          const takeover = await runCli([...args, "--id", "afresh", "--lock-stale-seconds", String(STALE_SECONDS)]);
          return { killed, exit, journalAfterKill, filesAfterKill, status, before, fresh, untouched, takeover };
        });
        const { killed, exit, status, fresh, takeover } = result;

        // Killed outright: no handler ran, no result line; the journal still says running in the copy.
        expect(exit.signal).toBe("SIGKILL");
        expect(exit.stderr).not.toMatch(/stopping/);
        expect(exit.result).toBeUndefined();
        expect(result.journalAfterKill).toMatchObject({
          id: "killed",
          outcome: "running",
          phase: "copy",
          committed: false,
        });
        expect(result.filesAfterKill[0]).toContain("lock");
        expect(result.filesAfterKill[1]).toContain("lock");

        const holder = `[\\w.-]+:${killed.pid}, run \\S+, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z`;
        expect(status.code).toBe(0);
        expect(status.stdout).toMatch(/ {2}migration {4}killed\n/);
        expect(status.stdout).toMatch(/ {2}outcome {6}running\n/);
        expect(status.stdout).toMatch(/ {2}phase {8}copy \(done: preflight, backup\)\n/);
        expect(status.stdout).toMatch(/ {2}committed {4}no\n/);
        expect(status.stdout).toMatch(/ {2}next {9}npm run migrate -- --from .* --rollback +\(or a plain re-run/);
        expect(status.stdout).toMatch(new RegExp(` {2}lock \\(old\\) {3}held by ${holder}, last heartbeat \\d+ s ago`));
        expect(status.stdout).toMatch(new RegExp(` {2}lock \\(new\\) {3}held by ${holder}, last heartbeat \\d+ s ago`));

        // Exit 1 (refused, nothing touched), as --help says, naming the dead run as the holder.
        expect(fresh.code).toBe(1);
        expect(fresh.stderr).toMatch(
          new RegExp(
            `REFUSED: another migration holds the lock on the old droplet \\(${escaped(`${h.old.ssh.target}:${h.old.ssh.port}`)}\\): ${holder}, last heartbeat \\d+ s ago`,
          ),
        );
        expect(fresh.result).toBeUndefined();
        expect(result.untouched).toEqual(result.before);

        expect(takeover.stderr).toBe("");
        expect(takeover.code).toBe(0);
        for (const side of ["old", "new"])
          expect(takeover.stdout).toMatch(
            new RegExp(`took over a stale lock on the ${side} droplet: ${holder}, no heartbeat for \\d+ s`),
          );
        // The killed migration stopped before its commit point: rolled back first, then a fresh one.
        const rollback = takeover.stdout.search(/^ {3}rollback_new \(new\)$/m);
        const copy = takeover.stdout.search(/^ {3}standby \(new\)$/m);
        expect(rollback).toBeGreaterThanOrEqual(0);
        expect(copy).toBeGreaterThan(rollback);
        // resumed: the run finished what an earlier run had left (here by rolling it back) before its own migration.
        expect(takeover.result).toMatchObject({ id: "afresh", state: "done", resumed: true });
        expect(readJournal(h.old)).toMatchObject({ id: "afresh", outcome: "done", committed: true, runs: 1 });
        // The killed migration's journal is kept, rolled back, beside the new one; no lock is left.
        expect(migrationFiles(h.old)).toEqual(["history", "history/killed.json", "journal.json"]);
        const killedJournal = fs.readFileSync(path.join(h.old.migrationDir, "history", "killed.json"), "utf8");
        expect(parseJournal(killedJournal)).toMatchObject({ id: "killed", outcome: "rolled-back", committed: false });
        expect(migrationFiles(h.next)).toEqual([]);
        expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");

        // The front address stays on the old droplet, whose proxy forwards to the new one after the cutover.
        const check = await h.check(records, h.next);
        console.log(
          `SIGKILL then takeover: ${check.acknowledged} acknowledged, ${check.failed} refused, ${check.unknown} unknown, ${check.lost.length} lost`,
        );
        expect(check.acknowledged).toBeGreaterThan(50);
        expect(check.lost).toEqual([]);
        expect(check.failedButPresent).toEqual([]);
        expect(check.redisLost).toEqual([]);
      }),
  );

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
