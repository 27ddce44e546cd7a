/** Pure migration planning: commands as data, strategy choice, budgets, LSNs and count comparison. */
import { describe, expect, it } from "vitest";
import {
  ASSUMED_RATES,
  DEFAULT_BUDGETS,
  checkBudgets,
  estimateMigration,
  maxLagBytesForCutover,
  validateBudgets,
} from "../../infra/migration/budget";
import { compareCounts, lsnDiff, parseLsn, tableCounts } from "../../infra/migration/checks";
import {
  type Droplet,
  type MigrationCommands,
  type StepCommand,
  formatCommand,
  migrationCommands,
  parseValues,
  shellQuote,
  stepCommand,
} from "../../infra/migration/commands";
import { heartbeatMsFor, LOCK_STALE_SECONDS } from "../../infra/migration/run-api";
import { type AnySpec, scriptFiles } from "../../infra/migration/steps";
import { chooseStrategy, majorVersion, parseStrategyRequest } from "../../infra/migration/strategy";

const old: Droplet = { ssh: "root@203.0.113.10", privateAddress: "10.10.0.2" };
const next: Droplet = { ssh: "root@203.0.113.11", privateAddress: "10.10.0.3", sshOptions: ["-p", "2222"] };

describe("step commands", () => {
  it("builds the exact ssh argv and remote command, script on stdin", () => {
    const cmd = migrationCommands(old, next).standby();
    expect(cmd.argv.at(-1)).toBe("bash -s -- standby 10.10.0.2 5432");
    expect(cmd.argv).toEqual(["ssh", "-p", "2222", "root@203.0.113.11", cmd.argv.at(-1)]);
    expect(cmd.stdinFiles).toEqual(scriptFiles("migrate"));
    expect(cmd.side).toBe("new");
  });

  it.each([
    ["preflight old", (c: ReturnType<typeof migrationCommands>) => c.preflight("old"), "preflight"],
    ["fence", (c: ReturnType<typeof migrationCommands>) => c.fence(), "fence"],
    ["promote", (c: ReturnType<typeof migrationCommands>) => c.promote("0/3000148", 60), "promote 0/3000148 60"],
    [
      "redis failover",
      (c: ReturnType<typeof migrationCommands>) => c.redisFailover(5000, "PEM"),
      "redis_failover 10.10.0.3 6379 5000",
    ],
    [
      "redis replica",
      (c: ReturnType<typeof migrationCommands>) => c.redisReplica("PEM"),
      "redis_replica 10.10.0.2 6379 10.10.0.3",
    ],
    [
      "dump restore",
      (c: ReturnType<typeof migrationCommands>) => c.dumpRestore(4, "m1"),
      "dump_restore 10.10.0.2 5432 4 m1",
    ],
    ["catchup", (c: ReturnType<typeof migrationCommands>) => c.catchup(1048576, 120), "catchup 1048576 120"],
  ])("%s runs `%s`", (_name, build, expected) => {
    expect(build(migrationCommands(old, next)).argv.at(-1)).toBe(`bash -s -- ${expected}`);
  });

  it("journal_write carries the journal on stdin after the script, never in argv; lock steps name the run", () => {
    const c = migrationCommands(old, next);
    const json = JSON.stringify({ id: "m1", note: "a 'quoted' value" });
    const write = c.journalWrite("run-1", json, "m0");
    expect(write.argv.at(-1)).toBe("bash -s -- journal_write run-1 m0");
    expect(write.stdinData).toBe(json);
    expect(write.argv.join(" ")).not.toContain("quoted");
    expect(formatCommand(write)).toMatch(
      /^cat scripts\/droplet\/migrate-common\.sh .* scripts\/droplet\/migrate\.sh \| ssh .*journal_write run-1 m0' \(then the journal JSON on the same stdin\)$/,
    );
    expect(
      c
        .lockAcquire("new", {
          runId: "run-1",
          holder: "ci:42",
          startedAt: "2026-12-01T10:00:00.000Z",
          staleSeconds: 60,
        })
        .argv.at(-1),
    ).toBe("bash -s -- lock_acquire run-1 ci:42 2026-12-01T10:00:00.000Z 60");
    expect(c.lockAcquire("new", { runId: "r", holder: "h", startedAt: "s", staleSeconds: 60 }).argv).toContain(
      "root@203.0.113.11",
    );
    expect(c.journalRead("old").side).toBe("old");
    expect(c.claimTarget("7312345678901234567", "m1").argv.at(-1)).toBe(
      "bash -s -- claim_target 7312345678901234567 m1 10.10.0.2:5432",
    );
  });

  it("builds every step exactly, on the droplet its declaration names (one line per builder, none left out)", () => {
    const c = migrationCommands(old, next);
    const lock = { runId: "r1", holder: "ci:1", startedAt: "t0", staleSeconds: 60 };
    const exact: Record<keyof MigrationCommands, [StepCommand<AnySpec>, string]> = {
      preflight: [c.preflight("new"), "new: preflight"],
      backup: [c.backup("m1"), "old: backup m1"],
      dropSlot: [c.dropSlot(), "old: drop_slot"],
      claimTarget: [c.claimTarget("73", "m1"), "new: claim_target 73 m1 10.10.0.2:5432"],
      pgTrust: [c.pgTrust("new", "PEM"), "new: pg_trust"],
      standby: [c.standby(), "new: standby 10.10.0.2 5432"],
      redisReplica: [c.redisReplica("PEM"), "new: redis_replica 10.10.0.2 6379 10.10.0.3"],
      lag: [c.lag(), "new: lag"],
      catchup: [c.catchup(1024, 120), "new: catchup 1024 120"],
      checkpoint: [c.checkpoint(), "old: checkpoint"],
      fence: [c.fence(29.5), "old: fence hold 10.10.0.3:8081 30"],
      promoteArmed: [c.promoteArmed(60, 5), "new: promote - 60 gate 5"],
      promote: [c.promote("0/3000148", 60), "new: promote 0/3000148 60"],
      redisFailover: [c.redisFailover(5000), "old: redis_failover 10.10.0.3 6379 5000"],
      redisFollow: [c.redisFollow(), "old: redis_follow 10.10.0.3 6379"],
      redisTrust: [c.redisTrust("PEM"), "old: redis_trust"],
      redisPromote: [c.redisPromote(), "new: redis_promote"],
      forgetPrimary: [c.forgetPrimary(), "new: forget_primary"],
      follow: [c.follow(60), "old: follow 10.10.0.3 5432 60"],
      follower: [c.follower(), "old: follower"],
      counts: [c.counts("old"), "old: counts"],
      health: [c.health("http://10.10.0.3:8081/health"), "new: health http://10.10.0.3:8081/health"],
      freeze: [c.freeze(), "old: freeze"],
      dumpRestore: [c.dumpRestore(2, "m1"), "new: dump_restore 10.10.0.2 5432 2 m1"],
      rollbackOld: [c.rollbackOld(), "old: rollback_old"],
      rollbackNew: [c.rollbackNew(), "new: rollback_new"],
      retire: [c.retire(), "old: retire"],
      proxyHold: [c.proxyHold(0.2), "old: hold 10.10.0.3:8081 1"],
      proxyTrust: [c.proxyTrust("PEM"), "old: trust"],
      proxyLocal: [c.proxyLocal(), "old: local"],
      gateClose: [c.gateClose(), "new: gate close"],
      gateOpen: [c.gateOpen(), "new: gate open"],
      gateServe: [c.gateServe(), "new: gate serve"],
      gateBounce: [c.gateBounce("PEM"), "new: gate bounce 10.10.0.2:8081"],
      journalRead: [c.journalRead("new"), "new: journal_read"],
      journalWrite: [c.journalWrite("r1", "{}"), "old: journal_write r1"],
      lockAcquire: [c.lockAcquire("old", lock), "old: lock_acquire r1 ci:1 t0 60"],
      lockHeartbeat: [c.lockHeartbeat("new", "r1"), "new: lock_heartbeat r1"],
      lockRelease: [c.lockRelease("old", "r1"), "old: lock_release r1"],
    };
    expect(Object.keys(exact).sort()).toEqual(Object.keys(c).sort());
    for (const [cmd, line] of Object.values(exact)) {
      const [side, words] = line.split(": ");
      expect(cmd.side).toBe(side);
      expect(cmd.argv.slice(0, -1)).toEqual([
        "ssh",
        ...(side === "old" ? [] : ["-p", "2222"]),
        side === "old" ? old.ssh : next.ssh,
      ]);
      expect(cmd.argv.at(-1)).toBe(`bash -s -- ${words}`);
    }
  });

  it("refuses a step on the droplet its declaration does not name", () => {
    expect(() => stepCommand("new", next, "fence", {})).toThrow("step fence runs on the old droplet, not the new");
    expect(stepCommand("new", next, "counts", undefined).side).toBe("new"); // either droplet
  });

  it("passes non-secret settings as an env prefix, quoted", () => {
    const withEnv: Droplet = { ...old, env: { CHATBOT_COMPOSE_FILE: "/tmp/my compose.yaml", PG_STOP_TIMEOUT: "60" } };
    expect(stepCommand("old", withEnv, "fence", {}).argv.at(-1)).toBe(
      "env CHATBOT_COMPOSE_FILE='/tmp/my compose.yaml' PG_STOP_TIMEOUT=60 bash -s -- fence",
    );
  });

  it("refuses secrets and bad names on the command line", () => {
    expect(() => stepCommand("old", { ...old, env: { REDIS_PASSWORD: "x" } }, "fence", {})).toThrow(
      /REDIS_PASSWORD.*secret.*env file/,
    );
    expect(() => stepCommand("old", { ...old, env: { "bad-name": "x" } }, "fence", {})).toThrow(
      /"bad-name" is not an environment variable name/,
    );
  });

  it("quotes for a POSIX shell and formats a copy-pasteable line", () => {
    expect(shellQuote("plain-1.2/x")).toBe("plain-1.2/x");
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote("")).toBe("''");
    expect(formatCommand(migrationCommands(old, next).fence())).toBe(
      "cat scripts/droplet/migrate-common.sh scripts/droplet/migrate-state.sh scripts/droplet/migrate-postgres.sh " +
        "scripts/droplet/migrate-redis.sh scripts/droplet/migrate-cutover.sh scripts/droplet/migrate-follow.sh scripts/droplet/migrate.sh | " +
        "ssh root@203.0.113.10 'bash -s -- fence'",
    );
  });

  it("parses key=value output and ignores other lines", () => {
    expect(parseValues("noise\nfence_lsn=0/3000148\ncount.public.writes=12\n  a=b=c \n")).toEqual({
      fence_lsn: "0/3000148",
      "count.public.writes": "12",
      a: "b=c",
    });
  });
});

describe("strategy choice", () => {
  it.each([
    [150010, 150004, "auto", "replicate", /same PostgreSQL major version \(15\)/],
    [150010, 160002, "auto", "dump-restore", /15 -> 16 crosses a major version/],
    [150010, 150010, "dump-restore", "dump-restore", /dump-restore requested/],
  ] as const)("old %i, new %i, %s -> %s", (o, n, requested, strategy, reason) => {
    const choice = chooseStrategy({ oldVersionNum: o, newVersionNum: n, requested });
    expect(choice.strategy).toBe(strategy);
    expect(choice.reason).toMatch(reason);
  });

  it("rejects replicate across major versions, downgrades and unknown names", () => {
    expect(() => chooseStrategy({ oldVersionNum: 150010, newVersionNum: 160000, requested: "replicate" })).toThrow(
      /same PostgreSQL major version \(old 15, new 16\)/,
    );
    expect(() => chooseStrategy({ oldVersionNum: 160000, newVersionNum: 150010 })).toThrow(
      /downgrades are not supported/,
    );
    expect(() => parseStrategyRequest("rsync")).toThrow(
      /strategy must be one of auto, replicate, dump-restore; got "rsync"/,
    );
    expect(() => majorVersion(90624)).toThrow(/server_version_num must be an integer >= 100000/);
  });
});

describe("budgets", () => {
  it("validates every field, naming it", () => {
    expect(validateBudgets({})).toEqual(DEFAULT_BUDGETS);
    expect(validateBudgets({ downtimeBudgetSeconds: "60" })).toEqual({ ...DEFAULT_BUDGETS, downtimeBudgetSeconds: 60 });
    expect(() => validateBudgets({ downtimeBudgetSeconds: 0, migrationBudgetMinutes: "soon" })).toThrow(
      /downtimeBudgetSeconds: must be a positive number, got 0\n\s+migrationBudgetMinutes: must be a positive number, got "soon"/,
    );
  });

  it("replicate downtime does not grow with size; dump-restore downtime does", () => {
    const GB = 1024 ** 3;
    const small = estimateMigration("replicate", { clusterBytes: 0.1 * GB, dbBytes: 0.1 * GB });
    const big = estimateMigration("replicate", { clusterBytes: 10 * GB, dbBytes: 10 * GB });
    expect(big.downtimeSeconds).toBe(small.downtimeSeconds);
    expect(big.beforeCutoverSeconds).toBeGreaterThan(small.beforeCutoverSeconds * 50);
    const dr = estimateMigration("dump-restore", { clusterBytes: GB, dbBytes: GB });
    expect(dr.downtimeSeconds).toBeCloseTo(ASSUMED_RATES.switchoverSeconds + 1024 / ASSUMED_RATES.dumpRestoreMBps);
  });

  it("aborts when the downtime or the migration budget cannot hold (compliant and non-compliant pairs)", () => {
    const b = { downtimeBudgetSeconds: 30, migrationBudgetMinutes: 10 };
    expect(checkBudgets(b, { phase: "x", elapsedSeconds: 100, remainingSeconds: 400, downtimeSeconds: 30 })).toEqual({
      ok: true,
    });
    expect(
      checkBudgets(b, { phase: "x", elapsedSeconds: 100, remainingSeconds: 400, downtimeSeconds: 31 }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/estimated write downtime 31.0 s exceeds downtimeBudgetSeconds 30/),
    });
    expect(
      checkBudgets(b, { phase: "x", elapsedSeconds: 300, remainingSeconds: 301, downtimeSeconds: 1 }),
    ).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/exceeds migrationBudgetMinutes 10 \(600 s\)/),
    });
  });

  it("allows at most 64 MB of lag at cutover, less with a tight downtime budget", () => {
    expect(maxLagBytesForCutover(DEFAULT_BUDGETS)).toBe(64 * 1024 * 1024);
    expect(maxLagBytesForCutover({ ...DEFAULT_BUDGETS, downtimeBudgetSeconds: 10 })).toBe(
      Math.floor(ASSUMED_RATES.replayMBps * 1024 * 1024),
    );
  });
});

describe("LSNs and counts", () => {
  it("parses LSNs and measures distance", () => {
    expect(parseLsn("0/3000148")).toBe(0x3000148n);
    expect(parseLsn("16/B374D848")).toBe((0x16n << 32n) + 0xb374d848n);
    expect(lsnDiff("1/0", "0/FFFFFF00")).toBe(256);
    expect(() => parseLsn("3000148")).toThrow(/not a PostgreSQL LSN/);
  });

  it("compares per-table counts exactly or as at-least", () => {
    const o = tableCounts({ "count.public.a": "10", "count.public.b": "5", other: "1" });
    expect([...o]).toEqual([
      ["public.a", 10],
      ["public.b", 5],
    ]);
    const n = new Map([
      ["public.a", 12],
      ["public.b", 5],
    ]);
    expect(compareCounts(o, n, "at-least")).toEqual([]);
    expect(compareCounts(o, n, "exact")).toEqual(["public.a: 10 rows on the old server, 12 on the new"]);
    expect(compareCounts(o, new Map([["public.a", 9]]), "at-least")).toEqual([
      "public.a: 10 rows on the old server, 9 on the new",
      "public.b: missing on the new server",
    ]);
  });
});

describe("the lock's staleness window and heartbeat", () => {
  it.each([
    [LOCK_STALE_SECONDS.min, 1666],
    [6, 2000],
    [30, 10_000],
    [LOCK_STALE_SECONDS.default, 10_000],
    [LOCK_STALE_SECONDS.max, 10_000],
  ])("a %i s window: a heartbeat every %i ms, three of them fit in the window", (seconds, ms) => {
    expect(heartbeatMsFor(seconds)).toBe(ms);
    expect(3 * heartbeatMsFor(seconds)).toBeLessThanOrEqual(seconds * 1000);
  });
});
