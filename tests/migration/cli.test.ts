/**
 * `npm run migrate` end to end against the loopback droplets (through the docker shim), as real processes:
 * --dry-run, a real run and its result line, a re-run that is a no-op, --status, refusals that touch nothing, SIGTERM
 * during the copy then --resume, two runs at once, and --rollback before and after the commit point.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { RESULT_PREFIX } from "../../infra/migration/result-line";
import { runningServers } from "../support/servers";
import { cliArgs, copyUnderWay, killLeftoverClis, runCli, startCli } from "./cli-process";
import {
  type Harness,
  fingerprint,
  migrationFiles,
  readJournal,
  seedDatabase,
  withHarness as withHarnessThen,
} from "./harness";
import { failAfter } from "./seams";

const TIMEOUT = 400_000;

const withHarness = <T>(body: (h: Harness) => Promise<T>) => withHarnessThen(body, killLeftoverClis);

afterEach(killLeftoverClis);

const target = (d: Harness["old"]) => `${d.ssh.target}:${d.ssh.port}`;
/** The timeline's table without its colour codes. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: the escape byte of a colour code is what it strips
const plain = (text: string) => text.replace(/\x1b\[[0-9;]*m/g, "");

describe("npm run migrate", () => {
  it(
    "--dry-run runs nothing; a real run prints the timeline and, last, the result line; a re-run is a no-op; --status reads the journal",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const args = cliArgs(h.old, h.next);
        const dry = await runCli([...args, "--dry-run", "--strategy", "replicate", "--id", "x"]);
        expect(dry.code).toBe(0);
        // The pinned host key's options come first (ssh takes the first value of an option), then the target's.
        expect(dry.stdout).toContain(`[copy] ssh -o StrictHostKeyChecking=yes -o UserKnownHostsFile=`);
        expect(dry.stdout).toMatch(
          new RegExp(
            `\\[copy\\] ssh .* -o HostKeyAlias=new-droplet\\.${h.next.host.replace(/\./g, "\\.")} .* -p ${h.next.ssh.port} -oIdentityFile=`,
          ),
        );
        expect(dry.stdout).toMatch(
          new RegExp(`bash -s -- standby ${h.old.host.replace(/\./g, "\\.")} ${h.old.pg.port}'`),
        );
        expect(dry.stdout).toMatch(/\[copy\] .* claim_target \S*<old system_identifier>\S* x /);
        expect(dry.stdout).toMatch(/\[preflight\] .* lock_acquire \S*<run-id>/);
        expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f"); // nothing ran
        expect([migrationFiles(h.old), migrationFiles(h.next)]).toEqual([[], []]);

        // A run killed between taking its lock and writing its journal: --status says nothing was changed and when a
        // re-run takes the lock over.
        const lockDir = path.join(h.next.migrationDir, "lock");
        fs.mkdirSync(lockDir, { recursive: true });
        fs.writeFileSync(path.join(lockDir, "owner"), "run=gone-1\nholder=ops:4242\nstarted=2026-12-07T19:00:00Z\n");
        fs.writeFileSync(path.join(lockDir, "heartbeat"), "");
        const locked = await runCli([...args, "--status", "--lock-stale-seconds", "60"]);
        fs.rmSync(h.next.migrationDir, { recursive: true, force: true });
        expect(locked.code).toBe(0);
        expect(locked.stdout).toMatch(
          /^no migration journal on \S+\n {2}next {9}run gone-1 \(ops:4242\) holds the lock and has written no journal: nothing was changed\. If that run is gone, a plain re-run takes the lock over once it has had no heartbeat for 60 s \(in about \d+ s\)/,
        );
        expect(locked.stdout).toMatch(/ {2}lock \(new\) {3}held by ops:4242, run gone-1/);

        await h.old.pg.psql("INSERT INTO writes (id) VALUES ('via-cli')", "chatbot");
        const real = await runCli([...args, "--id", "cli-1"]);
        expect(real.stderr).toBe("");
        expect(real.code).toBe(0);
        expect(real.stdout).toMatch(/strategy: replicate \(same PostgreSQL major version/);
        expect(real.stdout).toMatch(/data \d+(\.\d)? MiB fits: \d+(\.\d)? GiB free on the target volume/);
        expect(real.stdout).toMatch(/ cutover +\S* fence +\S* old /);
        expect(real.stdout).toMatch(/write downtime \(requests held to gate open\): \d+\.\d\d s/);
        expect(real.lastLine.startsWith(RESULT_PREFIX)).toBe(true);
        const journal = readJournal(h.old)!;
        expect(real.result).toEqual({
          id: "cli-1",
          state: "done",
          from: target(h.old),
          to: target(h.next),
          strategy: "replicate",
          committedAt: journal.committedAt,
          finishedAt: journal.finishedAt,
          resumed: false,
          writeDowntimeMs: expect.any(Number),
          followingSince: journal.follower?.since,
        });
        expect(await h.next.pg.psql("SELECT count(*) FROM writes WHERE id = 'via-cli'", "chatbot")).toBe("1");
        expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");

        // What a repeated `pulumi up` runs: exit 0, the same result (resumed), nothing touched.
        const before = [await fingerprint(h.old), await fingerprint(h.next)];
        const t0 = Date.now();
        const again = await runCli([...args]);
        const againMs = Date.now() - t0;
        expect(again.code).toBe(0);
        expect(again.result).toEqual({ ...real.result, resumed: true });
        expect(again.stdout).not.toMatch(/lock_acquire|preflight \(/);
        expect([await fingerprint(h.old), await fingerprint(h.next)]).toEqual(before);
        expect(readJournal(h.old)).toEqual(journal);
        console.log(`re-run of a finished migration: ${againMs} ms`);

        const status = await runCli([...args, "--status"]);
        expect(status.code).toBe(0);
        expect(status.stdout).toMatch(/migration journal on .*:\n {2}migration {4}cli-1\n/);
        expect(status.stdout).toMatch(/ {2}outcome {6}done\n/);
        expect(status.stdout).toMatch(/ {2}committed {4}yes, at \d{4}-.*\(fence LSN [0-9A-F]+\/[0-9A-F]+\)/);
        expect(status.stdout).toMatch(/ {2}lock \(old\) {3}free\n {2}lock \(new\) {3}free/);
        // The follower: what the journal recorded (since when) and what the old server is now (role, lag).
        expect(status.stdout).toMatch(
          new RegExp(
            ` {2}follower {5}\\S+ follows ${journal.to.target} \\(streaming\\) since ${journal.follower?.since}; checked: old end [0-9A-F]+/[0-9A-F]+, timeline 2, fork [0-9A-F]+/[0-9A-F]+\n`,
          ),
        );
        expect(status.stdout).toMatch(
          new RegExp(
            ` {2}old server {3}standby of ${h.next.host}:${h.next.pg.port}, streaming, timeline 2, lag \\d+ bytes\n`,
          ),
        );
        const json = await runCli([...args, "--status", "--json"]);
        expect(JSON.parse(json.stdout)).toMatchObject({
          from: {
            journal: { id: "cli-1", outcome: "done" },
            follower: {
              state: "streaming",
              of: journal.to.target,
              since: journal.follower?.since,
              now: { pg: "standby", status: "streaming", sender: `${h.next.host}:${h.next.pg.port}`, timeline: "2" },
            },
          },
          to: {},
        });
        expect(JSON.parse(json.stdout).from.follower.now.lagBytes).toBeGreaterThanOrEqual(0);
      }),
  );

  it(
    "refuses, touching nothing: swapped --from/--to (the target holds data), the same server on both sides, a bad flag (exit 2)",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        await h.old.pg.psql("INSERT INTO writes (id) SELECT 'seed-' || g FROM generate_series(1, 100) g", "chatbot");
        await h.old.redis.cli("SET", "w:seed", "1");
        const before = [await fingerprint(h.old), await fingerprint(h.next)];
        const untouched = async () => expect([await fingerprint(h.old), await fingerprint(h.next)]).toEqual(before);

        const swapped = await runCli(cliArgs(h.next, h.old));
        expect(swapped.code).toBe(1);
        expect(swapped.stderr).toMatch(
          /REFUSED: the target holds data: rows in public\.writes; 1 Redis key\. Nothing was changed\. --overwrite-target replaces it/,
        );
        expect(swapped.result).toBeUndefined();
        await untouched();

        const same = await runCli(cliArgs(h.old, h.old));
        expect(same.code).toBe(1);
        expect(same.stderr).toMatch(
          /REFUSED: the same server on both sides: --from and --to reach the same PostgreSQL cluster \(system identifier \d+\)/,
        );
        await untouched();

        const bad = await runCli([...cliArgs(h.old, h.next), "--no-such-flag"]);
        expect(bad.code).toBe(2);
        expect(bad.stderr).toMatch(/unknown option '--no-such-flag'/);
        const badValue = await runCli([...cliArgs(h.old, h.next), "--dump-jobs", "0"]);
        expect([badValue.code, badValue.stderr.trim()]).toEqual([
          2,
          'migrate: --dump-jobs must be a positive integer, got "0"',
        ]);
        const conflicting = await runCli([...cliArgs(h.old, h.next), "--resume", "--rollback"]);
        expect(conflicting.code).toBe(2);
        const nothing = await runCli([...cliArgs(h.old, h.next), "--resume"]);
        expect([nothing.code, nothing.stderr.trim()]).toEqual([
          2,
          `nothing to resume: no migration journal for ${target(h.old)} -> ${target(h.next)}`,
        ]);
        await untouched();
      }),
  );

  it(
    "SIGTERM during the copy rolls back (exit 1, the old server serves); --resume then completes",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        await seedDatabase(h.old.pg, 300 * 1024 * 1024);
        const args = cliArgs(h.old, h.next);
        const cli = startCli(args);
        await copyUnderWay(cli, h.next);
        cli.kill("SIGTERM");
        const stopped = await cli.exited;
        expect(stopped.code).toBe(1);
        expect(stopped.stderr).toMatch(/migrate: SIGTERM: stopping/);
        expect(stopped.stderr).toMatch(
          /ABORTED before the commit point \(stopped by SIGTERM\): interrupted by SIGTERM\nrolled back: the old droplet serves with all its data/,
        );
        expect(plain(stopped.stdout)).toMatch(
          /│ copy +│ standby +│ new +│ +[\d.]+ +│ failed +│ interrupted by SIGTERM/,
        ); // the copy stopped
        expect(stopped.result).toBeUndefined();
        // The old server serves, as a primary, with all its data; the new one follows nobody; no lock is left.
        expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
        expect(await h.old.pg.psql("INSERT INTO writes (id) VALUES ('after-sigterm') RETURNING id", "chatbot")).toBe(
          "after-sigterm",
        );
        expect(await h.old.pg.psql("SELECT count(*) FROM pg_replication_slots")).toBe("0");
        expect(readJournal(h.old)).toMatchObject({
          outcome: "rolled-back",
          committed: false,
          phase: "copy",
          lastError: "interrupted by SIGTERM",
        });
        expect(migrationFiles(h.old)).toEqual(["journal.json"]);
        expect(migrationFiles(h.next)).toEqual(["replica-of"]); // the half copy is known as this migration's
        const accounts = await h.old.pg.psql("SELECT count(*) FROM pgbench_accounts", "chatbot");

        const resumed = await runCli([...args, "--resume"]);
        expect(resumed.stderr).toBe("");
        expect(resumed.code).toBe(0);
        expect(resumed.stdout).toMatch(/the target is a copy of this source from an earlier attempt/);
        expect(resumed.result).toMatchObject({ state: "done", strategy: "replicate" });
        expect(await h.next.pg.psql("SELECT count(*) FROM writes WHERE id = 'after-sigterm'", "chatbot")).toBe("1");
        expect(await h.next.pg.psql("SELECT count(*) FROM pgbench_accounts", "chatbot")).toBe(accounts);
        expect(migrationFiles(h.next)).toEqual([]);
      }),
  );

  it(
    "two runs at once: the second is refused with the holder and its start time, the first completes",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        await seedDatabase(h.old.pg, 150 * 1024 * 1024);
        const args = cliArgs(h.old, h.next);
        const first = startCli([...args, "--id", "first"]);
        await first.waitForOutput(/^ {3}standby \(new\)$/m);
        const second = await runCli([...args, "--id", "second"]);
        expect(second.code).toBe(1);
        expect(second.stderr).toMatch(
          new RegExp(
            `REFUSED: another migration holds the lock on the old droplet \\(${target(h.old).replace(/\./g, "\\.")}\\): [\\w.-]+:${first.pid}, run \\S+, started \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z, last heartbeat \\d+ s ago`,
          ),
        );
        const done = await first.exited;
        expect(done.code).toBe(0);
        expect(done.result?.id).toBe("first");
        expect(readJournal(h.old)).toMatchObject({ id: "first", outcome: "done", runs: 1 });
      }),
  );

  it(
    "--rollback before the commit point rolls back (exit 0); SIGTERM after it exits 3, --rollback then refuses naming the way back (exit 3), --resume finishes",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const args = cliArgs(h.old, h.next);
        // A run stopped after the fence whose own rollback could not reach the old droplet (its second try over a
        // new connection neither): unfinished before the commit point, the old server still fenced.
        const unreachable = { after: "rollback_old", code: 255, skip: true } as const;
        const first = await h.migrate({
          strategy: "replicate",
          skipBackup: true,
          wrap: (exec) =>
            failAfter(failAfter(failAfter(exec, { after: "fence" }), unreachable), { ...unreachable, nth: 2 }),
        });
        expect(first.outcome).toBe("rollback-incomplete");
        expect(readJournal(h.old)).toMatchObject({ outcome: "rollback-failed", committed: false });
        expect(fs.existsSync(path.join(h.old.pg.dataDir, "standby.signal"))).toBe(true);
        const status = await runCli([...args, "--status"]);
        expect(status.stdout).toMatch(/ {2}next {9}npm run migrate -- --from .* --rollback/);
        const rolledBack = await runCli([...args, "--rollback"]);
        expect(rolledBack.code).toBe(0);
        expect(rolledBack.stdout).toMatch(/rolled back: the old droplet serves with all its data/);
        expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
        expect(fs.existsSync(path.join(h.old.pg.dataDir, "standby.signal"))).toBe(false);
        expect(readJournal(h.old)?.outcome).toBe("rolled-back");

        // SIGTERM past the commit point, delivered by the traffic command itself (to its parent, the CLI): the run
        // stops at the next step, leaves the journal for --resume and exits 3.
        const second = await runCli([...args, "--traffic-command", "kill -TERM $PPID"]);
        expect(second.code).toBe(3);
        expect(second.stderr).toMatch(
          /STOPPED after the commit point \(stopped by SIGTERM\) \(the new droplet is the primary\): interrupted by SIGTERM/,
        );
        expect(second.stderr).toMatch(/next: npm run migrate -- --from .* --resume +\(goes forward/);
        expect(second.result).toBeUndefined();
        expect(readJournal(h.old)).toMatchObject({
          outcome: "failed-after-commit",
          committed: true,
          stepsDone: ["promote", "gate", "redis", "traffic"],
        });
        expect(migrationFiles(h.next)).toEqual(["replica-of"]); // forget_primary has not run: no lock left either
        const before = [await fingerprint(h.old), await fingerprint(h.next)];
        const refused = await runCli([...args, "--rollback"]);
        expect(refused.code).toBe(3);
        expect(refused.stderr).toMatch(
          new RegExp(
            `passed its commit point at .*: the new server is the primary .*npm run migrate -- --from ${target(h.next).replace(/\./g, "\\.")} --to ${target(h.old).replace(/\./g, "\\.")} --overwrite-target`,
          ),
        );
        expect([await fingerprint(h.old), await fingerprint(h.next)]).toEqual(before);
        const resumed = await runCli([...args, "--resume"]);
        expect(resumed.code).toBe(0);
        expect(resumed.result).toMatchObject({ resumed: true, committedAt: readJournal(h.old)?.committedAt });
        const done = await runCli([...args, "--rollback"]);
        expect(done.code).toBe(2);
        expect(done.stderr).toMatch(
          /REFUSED: migration .*; done\) passed its commit point at .*the way back is a migration the other way: npm run migrate -- --from/,
        );
      }),
  );

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
