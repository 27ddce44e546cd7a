/** The journal's decisions and the preflight's judgement of a target: pure, table-driven. */
import { describe, expect, it } from "vitest";
import { checkRoom, judgeTarget } from "../../infra/migration/checks";
import {
  type Journal,
  type JournalEnd,
  type RunMode,
  decide,
  journalEnd,
  lockAdvice,
  nextAction,
  parseJournal,
  sshTarget,
} from "../../infra/migration/journal";

const A: JournalEnd = { target: "root@a", privateAddress: "10.0.0.2", pgPort: 5432, redisPort: 6379 };
const B: JournalEnd = { target: "root@b", privateAddress: "10.0.0.3", pgPort: 5432, redisPort: 6379 };
const C: JournalEnd = { target: "root@c", privateAddress: "10.0.0.4", pgPort: 5432, redisPort: 6379 };

function j(over: Partial<Journal> = {}): Journal {
  return {
    version: 1,
    id: "m1",
    from: A,
    to: B,
    strategy: "replicate",
    phase: "copy",
    phasesDone: ["preflight", "backup"],
    stepsDone: [],
    committed: false,
    startedAt: "t0",
    updatedAt: "t1",
    outcome: "running",
    holder: "h:1",
    runs: 1,
    ...over,
  };
}
const committed = (over: Partial<Journal> = {}) =>
  j({
    committed: true,
    committedAt: "2026-12-01T10:05:00.000Z",
    phase: "verify",
    outcome: "failed-after-commit",
    ...over,
  });

describe("decide", () => {
  const pair = { from: A, to: B };
  it.each<[string, RunMode, Journal | undefined, Journal | undefined, string]>([
    ["no journal: a new migration", "run", undefined, undefined, "fresh"],
    ["this pair done: nothing to do", "run", committed({ outcome: "done", phase: "done" }), undefined, "noop"],
    [
      "this pair done, --resume: nothing to do either",
      "resume",
      committed({ outcome: "done", phase: "done" }),
      undefined,
      "noop",
    ],
    ["this pair stopped before the commit point: roll back, then afresh", "run", j(), undefined, "rollback"],
    [
      "this pair's rollback failed: roll back again, then afresh",
      "run",
      j({ outcome: "rollback-failed" }),
      undefined,
      "rollback",
    ],
    ["this pair stopped after the commit point: forward", "run", committed(), undefined, "forward"],
    [
      "this pair died after the commit point (running): forward",
      "run",
      committed({ outcome: "running" }),
      undefined,
      "forward",
    ],
    ["this pair rolled back: a new migration (archiving it)", "run", j({ outcome: "rolled-back" }), undefined, "fresh"],
    ["--resume of a rolled-back one: a new migration", "resume", j({ outcome: "rolled-back" }), undefined, "fresh"],
    ["--resume without a journal: nothing", "resume", undefined, undefined, "nothing"],
    ["another pair unfinished on the old droplet: refuse", "run", j({ to: C }), undefined, "refuse"],
    [
      "another pair finished on the old droplet: a new migration",
      "run",
      committed({ to: C, outcome: "done" }),
      undefined,
      "fresh",
    ],
    ["a migration from the target unfinished: refuse", "run", undefined, j({ from: B, to: C }), "refuse"],
    [
      "a migration from the target finished: a new migration",
      "run",
      undefined,
      committed({ from: B, to: A, outcome: "done" }),
      "fresh",
    ],
    ["--rollback before the commit point", "rollback", j(), undefined, "rollback"],
    ["--rollback after the commit point", "rollback", committed(), undefined, "past-commit"],
    ["--rollback of a finished migration", "rollback", committed({ outcome: "done" }), undefined, "past-commit"],
    ["--rollback of a rolled-back one: nothing", "rollback", j({ outcome: "rolled-back" }), undefined, "nothing"],
    ["--rollback without a journal: nothing", "rollback", undefined, undefined, "nothing"],
  ])("%s", (_label, mode, onOld, onNew, kind) => {
    expect(decide(mode, pair, onOld, onNew).kind).toBe(kind);
  });

  describe("back and forth between two servers (A -> B, B -> A, A -> B ...)", () => {
    const done = (over: Partial<Journal>) => committed({ outcome: "done", phase: "done", ...over });
    const AB1 = done({ id: "m1" });
    const BA2 = done({ id: "m2", from: B, to: A, switchBack: true, reverses: "m1" });
    const AB3 = done({ id: "m3", switchBack: true, reverses: "m2" });
    // A -> B runs from A: its journal is on A (onOld for A -> B), B -> A's on B.
    it("each switch back is a new migration that records the one it reverses", () => {
      expect(decide("run", { from: B, to: A }, undefined, AB1, { switchBack: true })).toEqual({
        kind: "fresh",
        reverses: "m1",
      });
      expect(decide("run", pair, AB1, BA2, { switchBack: true })).toEqual({
        kind: "fresh",
        archive: AB1,
        reverses: "m2",
      });
      expect(decide("run", { from: B, to: A }, BA2, AB3, { switchBack: true })).toEqual({
        kind: "fresh",
        archive: BA2,
        reverses: "m3",
      });
      // A plain run of a reversed pair is a new migration too (its preflight then judges the target).
      expect(decide("run", pair, AB1, BA2)).toEqual({ kind: "fresh", archive: AB1, reverses: "m2" });
    });

    it("the switch back done: a re-run is a no-op; --rollback and --resume find nothing of the reversed one", () => {
      expect(decide("run", pair, AB3, BA2, { switchBack: true })).toEqual({ kind: "noop", journal: AB3 });
      expect(decide("rollback", pair, AB1, BA2).kind).toBe("nothing");
      expect(decide("resume", pair, AB1, BA2).kind).toBe("nothing");
      // Not reversed (the one the other way names another migration): this pair's journal stands.
      expect(decide("run", pair, AB1, done({ id: "m2", from: B, to: A, reverses: "m0" })).kind).toBe("noop");
    });

    it("a switch back is never answered by a finished migration that was not one; a plain run is by a switch back", () => {
      expect(decide("run", pair, AB1, undefined, { switchBack: true })).toEqual({ kind: "fresh", archive: AB1 });
      expect(decide("run", pair, AB3, undefined)).toEqual({ kind: "noop", journal: AB3 });
    });

    it("the migration the other way unfinished on the target: refused, whatever this pair's journal says", () => {
      const running = committed({ id: "m2", from: B, to: A, switchBack: true, reverses: "m1" });
      expect(decide("run", pair, AB1, running, { switchBack: true }).kind).toBe("refuse");
    });
  });

  it("a refusal names the other migration and its phase; a rollback refusal names the way back", () => {
    expect(decide("run", pair, j({ id: "m7", to: C, phase: "catchup" }))).toEqual({
      kind: "refuse",
      reason:
        "the old server has an unfinished migration m7 (root@a -> root@c, replicate; running, phase catchup, before the commit point): finish it (--resume) or roll it back (--rollback) with its own --from/--to first",
    });
    const past = decide("rollback", pair, committed());
    expect(past.kind === "past-commit" && past.reason).toMatch(
      /Finish it with --resume; the way back is a migration the other way: npm run migrate -- --from root@b --to root@a --switch-back while the old server follows the new one \(--status says\), else npm run migrate -- --from root@b --to root@a --overwrite-target$/,
    );
  });

  it("the next action for each outcome", () => {
    expect(nextAction(committed())).toMatch(/--resume +\(goes forward/);
    expect(nextAction(j())).toMatch(
      /--rollback +\(or a plain re-run, npm run migrate -- --from root@a --to root@b: rolls back, then migrates afresh\)$/,
    );
    expect(nextAction(j({ outcome: "rolled-back" }))).toMatch(/^nothing needed: the old server serves.*--to root@b$/);
    // A switch back is tried again as a switch back (a plain run would be a migration onto a target with data).
    expect(nextAction(j({ switchBack: true }))).toMatch(
      /--rollback +\(or a plain re-run, npm run migrate -- --from root@a --to root@b --switch-back: rolls back, then switches back afresh\)$/,
    );
    expect(nextAction(j({ switchBack: true, outcome: "rolled-back" }))).toMatch(/To try again: .* --switch-back$/);
    expect(nextAction(committed({ outcome: "done" }))).toMatch(/^nothing: the migration is done/);
  });

  it("a pair is the ssh target (port included), the private address and the PostgreSQL port", () => {
    const d = {
      ssh: "root@203.0.113.5",
      sshOptions: ["-p", "2222", "-o", "BatchMode=yes"],
      privateAddress: "10.0.0.5",
    };
    expect(sshTarget(d)).toBe("root@203.0.113.5:2222");
    expect(journalEnd(d)).toEqual({
      target: "root@203.0.113.5:2222",
      privateAddress: "10.0.0.5",
      pgPort: 5432,
      redisPort: 6379,
    });
    expect(decide("run", { from: A, to: { ...B, privateAddress: "10.9.9.9" } }, j()).kind).toBe("refuse");
  });

  it("reads back what it writes, and refuses a journal it cannot trust", () => {
    expect(parseJournal(JSON.stringify(committed()))).toEqual(committed());
    expect(() => parseJournal("{not json")).toThrow(/not valid JSON/);
    expect(() => parseJournal(JSON.stringify({ ...j(), version: 2, outcome: "maybe" }))).toThrow(
      /version 2 .*; outcome "maybe"/,
    );
  });
});

describe("judgeTarget", () => {
  const source = { system_identifier: "7001", pg_running: "1" };
  const empty = {
    pg_running: "1",
    system_identifier: "7002",
    "table_rows.public.writes": "false",
    redis_keys_total: "0",
  };
  it.each<[string, Record<string, string>, boolean, RegExp]>([
    ["an empty server", empty, false, /^ok: the target holds no data/],
    [
      "the same cluster (whatever address reaches it)",
      { ...empty, system_identifier: "7001" },
      true,
      /^refused: the same server on both sides/,
    ],
    [
      "a copy this source's migration made",
      { ...empty, system_identifier: "7001", replica_of: "7001", "table_rows.public.writes": "true" },
      false,
      /^ok: the target is a copy of this source/,
    ],
    [
      "a copy of another source",
      { ...empty, replica_of: "9999", "table_rows.public.writes": "true" },
      false,
      /^refused: the target holds data: rows in public\.writes\./,
    ],
    [
      "rows in a user table",
      { ...empty, "table_rows.public.notes": "true" },
      false,
      /^refused: the target holds data: rows in public\.notes\. Nothing was changed/,
    ],
    [
      "rows, with --overwrite-target",
      { ...empty, "table_rows.public.notes": "true" },
      true,
      /^ok: overwriting the target's data: rows in public\.notes/,
    ],
    [
      "only alembic_version",
      { ...empty, "table_rows.public.alembic_version": "true" },
      false,
      /^ok: the target holds no data/,
    ],
    ["one Redis key", { ...empty, redis_keys_total: "1" }, false, /^refused: the target holds data: 1 Redis key\./],
    ["PostgreSQL stopped", { pg_running: "0" }, true, /^refused: PostgreSQL is not running on the new server/],
    [
      "a fenced former primary",
      { pg_running: "0", fenced: "1", system_identifier: "7001" },
      false,
      /^refused: the target holds data: it is a fenced former primary/,
    ],
    [
      "a fenced former primary, --overwrite-target",
      { pg_running: "0", fenced: "1", system_identifier: "7001" },
      true,
      /^ok: overwriting the target: a fenced former primary/,
    ],
  ])("%s", (_label, target, overwrite, expected) => {
    const v = judgeTarget(source, target, { overwrite });
    expect(v.ok ? `ok: ${v.notes.join("; ")}` : `refused: ${v.reason}`).toMatch(expected);
  });
});

describe("checkRoom", () => {
  const GIB = 1024 ** 3;
  it.each([
    [
      1.2 * GIB,
      18.3 * GIB,
      0,
      true,
      "data 1.2 GiB fits: 18.3 GiB free on the target volume, needs 2.2 GiB with headroom",
    ],
    [
      10 * GIB,
      11 * GIB,
      0,
      false,
      "data 10.0 GiB does not fit: 11.0 GiB free on the target volume, needs 12.0 GiB with headroom (WAL, growth). Nothing was changed.",
    ],
    [
      10 * GIB,
      11 * GIB,
      2 * GIB,
      true,
      "data 10.0 GiB fits: 13.0 GiB free on the target volume (counting 2.0 GiB it replaces), needs 12.0 GiB with headroom",
    ],
    [
      50 * 1024 ** 2,
      0.5 * GIB,
      0,
      false,
      "data 50.0 MiB does not fit: 512 MiB free on the target volume, needs 1.0 GiB with headroom (WAL, growth). Nothing was changed.",
    ],
  ])("%d bytes onto %d free (+%d replaced)", (sourceBytes, freeBytes, replacedBytes, ok, reason) => {
    expect(checkRoom({ sourceBytes, freeBytes, replacedBytes })).toEqual({ ok, reason });
  });
});

describe("lockAdvice: the status's next line when a lock is held and no journal is on record", () => {
  const lock = (ageSeconds: number) => ({ run: "r1", holder: "ops:42", started: "2026-12-07T19:00:00Z", ageSeconds });

  it("says nothing when no lock is held", () => {
    expect(lockAdvice([undefined, undefined], 60)).toBeUndefined();
  });

  it("a fresh lock: when a re-run may take it over, and that nothing was changed", () => {
    const advice = lockAdvice([lock(10), lock(12)], 60);
    expect(advice).toMatch(/^run r1 \(ops:42\) holds the lock and has written no journal: nothing was changed/);
    expect(advice).toMatch(/no heartbeat for 60 s \(in about 51 s\)/);
  });

  it("a stale lock: a plain re-run takes it over now", () => {
    expect(lockAdvice([undefined, lock(90)], 60)).toMatch(
      /heartbeat stopped 90 s ago: .*a plain re-run takes the lock over$/,
    );
  });
});
