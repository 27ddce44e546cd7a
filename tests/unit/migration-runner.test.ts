/**
 * The runner's decisions (strategy, budgets, refusals, abort, rollback, commit, journal, lock, resume, signals),
 * driven by a scripted executor that keeps what the droplets would hold: the journal on the old droplet, a lock on
 * each, and the steps asked for.
 */
import { describe, expect, it } from "vitest";
import type { Droplet, Side, StepCommand, StepName } from "../../infra/migration/commands";
import { type Journal, parseJournal } from "../../infra/migration/journal";
import {
  type RunnerOptions,
  type StepHooks,
  type StepResult,
  exitCodeFor,
  migrationResult,
  plannedCommands,
  runMigration,
} from "../../infra/migration/runner";
import { FAULT_POINTS, failAfter } from "../migration/seams";
import { INTERNAL_PORT } from "../../infra/render/caddyfile";

const old: Droplet = { ssh: "root@old", privateAddress: "10.0.0.2" };
const next: Droplet = { ssh: "root@new", privateAddress: "10.0.0.3" };
const GIB = 1024 ** 3;

type Output = Partial<StepResult> | string;
type Script = Partial<Record<StepName, (side: Side, cmd: StepCommand, hooks?: StepHooks) => Output | Promise<Output>>>;

const preflight = (side: Side) =>
  [
    "pg_running=1",
    "pg_version_num=150010",
    "pg_in_recovery=f",
    "db_bytes=1000000",
    "cluster_bytes=2000000",
    `system_identifier=${side === "old" ? "7001" : "7002"}`,
    `table_rows.public.writes=${side === "old" ? "true" : "false"}`,
    `redis_keys_total=${side === "old" ? 3 : 0}`,
    "data_bytes=40000000",
    `data_free_bytes=${50 * GIB}`,
    `pg_tls_cert=${Buffer.from(`-----BEGIN CERTIFICATE-----\n${side} pg\n-----END CERTIFICATE-----\n`).toString("base64")}`,
    `redis_tls_cert=${Buffer.from(`-----BEGIN CERTIFICATE-----\n${side}\n-----END CERTIFICATE-----\n`).toString("base64")}`,
    `proxy_tls_cert=${Buffer.from(`-----BEGIN CERTIFICATE-----\n${side} proxy\n-----END CERTIFICATE-----\n`).toString("base64")}`,
    "",
  ].join("\n");

const certLines = `${preflight("new")
  .split("\n")
  .filter((l) => /^(pg|proxy|redis)_tls_cert=/.test(l))
  .join("\n")}\n`;

/** The go line the armed promotion read (after the proxy script and its mark), if any. */
function goLine(cmd: StepCommand): { fenceLsn: string; redisOffset?: string } | undefined {
  const m = /\n#-- the go line follows --\ngo (\S+)(?: (\d+))?\n$/.exec(cmd.stdinData ?? "");
  return m ? { fenceLsn: m[1]!, ...(m[2] ? { redisOffset: m[2] } : {}) } : undefined;
}

const DEFAULT_OUTPUT: Script = {
  preflight,
  backup: () => "backup_file=/var/lib/chatbot/backups/pre-migration-t.dump\n",
  standby: () => "copied_bytes=2000000\ncopy_ms=100\n",
  catchup: () => "pg_lag_bytes=0\n",
  counts: () => "count.public.writes=5\n",
  // The fence with the hold pauses the old Redis and prints its offset (migrate.sh step_fence).
  fence: (_side, cmd) =>
    cmd.args.includes("hold") ? "fence_lsn=0/3000148\nstop_ms=10\nredis_offset=4242\n" : "fence_lsn=0/3000148\n",
  // With `gate`, the droplet opens its internal listener in the same step (proxy-switch.sh prints gate=open); with
  // the old Redis's offset after it, its own Redis takes over first.
  promote: (_side, cmd) => {
    if (!cmd.args.includes("gate")) return "promoted=1\n";
    return goLine(cmd)?.redisOffset ? "promoted=1\nredis_took_over=1\ngate=open\n" : "promoted=1\ngate=open\n";
  },
  dump_restore: () => "dump_bytes=10\ndump_ms=5\nrestore_ms=5\n",
  follow: () => "follow_old_end=0/30001C0\nfollow_timeline=2\nfollow_fork=0/30001C0\nfollow=streaming\n",
};

interface Lock {
  run: string;
  holder: string;
  started: string;
  age: number;
}

/** Two droplets' migration state, and the steps asked of them. `sameDroplet`: --from and --to reach one server. */
class Droplets {
  journal?: string;
  journalOnNew?: string;
  history: string[] = [];
  locks: Partial<Record<Side, Lock>> = {};
  calls: string[] = [];
  traffic = 0;
  stealLock = false;
  constructor(
    private readonly script: Script = {},
    private readonly sameDroplet = false,
  ) {}

  private key = (side: Side): Side => (this.sameDroplet ? "old" : side);

  exec = async (cmd: StepCommand, hooks?: StepHooks): Promise<StepResult> => {
    if (hooks?.stdinTail && cmd.step === "gate_bounce") {
      // The armed bounce (proxy-switch.sh): it reloads only on its go line; without one it changes nothing.
      if ((await hooks.stdinTail) !== "go\n") {
        this.calls.push(`${cmd.side}:${cmd.step}`);
        return result("bounced=0\n");
      }
    } else if (hooks?.stdinTail) {
      // The armed promotion (migrate.sh): it goes on only with a go line, which it reads as the rest of its stdin.
      const tail = await hooks.stdinTail;
      if (!tail.startsWith("go "))
        return { code: 4, stdout: "", stderr: "no go line from the runner: nothing promoted" };
      cmd = { ...cmd, stdinData: `${cmd.stdinData ?? ""}${tail}` };
    }
    if (cmd.step !== "lock_heartbeat") this.calls.push(`${cmd.side}:${cmd.step}`);
    const step = cmd.step as StepName;
    const own = this.script[step];
    if (own) return result(await own(cmd.side, cmd, hooks));
    return result(this.state(cmd) ?? (await DEFAULT_OUTPUT[step]?.(cmd.side, cmd, hooks)) ?? "");
  };

  /** The journal and lock steps, as migrate.sh implements them. */
  private state(cmd: StepCommand): Output | undefined {
    const side = this.key(cmd.side);
    const lock = this.locks[side];
    const fields = (l: Lock, prefix: string) =>
      `${prefix}_run=${l.run}\n${prefix}_holder=${l.holder}\n${prefix}_started=${l.started}\n${prefix}_age_s=${l.age}\n`;
    const [run = "", a2, a3, a4] = cmd.args;
    switch (cmd.step) {
      case "journal_read": {
        const j = cmd.side === "old" || this.sameDroplet ? this.journal : this.journalOnNew;
        return `${j ? `journal_present=1\njournal=${j}\n` : "journal_present=0\n"}${lock ? `lock_present=1\n${fields(lock, "lock")}` : "lock_present=0\n"}`;
      }
      case "journal_write":
        if (lock?.run !== run) return { code: 6, stderr: "not the lock holder" };
        if (a2 && this.journal) this.history.push(this.journal);
        this.journal = cmd.stdinData;
        return "journal_written=1\n";
      case "lock_acquire":
        if (!lock) {
          this.locks[side] = { run, holder: a2!, started: a3!, age: 0 };
          return "lock=acquired\n";
        }
        if (lock.run === run) return "lock=held-by-this-run\n";
        if (lock.age <= Number(a4)) return { code: 6, stdout: fields(lock, "lock"), stderr: "held" };
        this.locks[side] = { run, holder: a2!, started: a3!, age: 0 };
        return `${fields(lock, "previous")}lock=taken-over\n`;
      case "lock_heartbeat":
        if (this.stealLock || lock?.run !== run) return { code: 6, stderr: "lost" };
        return "heartbeat=1\n";
      case "lock_release":
        if (lock?.run === run) delete this.locks[side];
        return "lock_released=1\n";
      default:
        return undefined;
    }
  }

  get parsed(): Journal | undefined {
    return this.journal ? parseJournal(this.journal) : undefined;
  }

  run(extra: Partial<RunnerOptions> = {}) {
    return runMigration({
      old,
      next,
      exec: this.exec,
      moveTraffic: async () => void this.traffic++,
      id: "t",
      holder: "ci:1",
      ...extra,
    });
  }

  /** The droplet steps only (no journal/lock bookkeeping). */
  get steps(): string[] {
    return this.calls.filter((c) => !/journal_|lock_/.test(c));
  }
}

function result(out: Output): StepResult {
  return typeof out === "string" ? { code: 0, stdout: out, stderr: "" } : { code: 0, stdout: "", stderr: "", ...out };
}

/** A journal as a run would have left it. */
function journal(overrides: Partial<Journal> = {}): string {
  const j: Journal = {
    version: 1,
    id: "m0",
    from: { target: "root@old", privateAddress: "10.0.0.2", pgPort: 5432, redisPort: 6379 },
    to: { target: "root@new", privateAddress: "10.0.0.3", pgPort: 5432, redisPort: 6379 },
    strategy: "replicate",
    phase: "copy",
    phasesDone: ["preflight", "backup"],
    stepsDone: [],
    committed: false,
    startedAt: "2026-12-01T10:00:00.000Z",
    updatedAt: "2026-12-01T10:01:00.000Z",
    outcome: "running",
    holder: "gone:99",
    runs: 1,
    ...overrides,
  };
  return JSON.stringify(j);
}

const committedJournal = (overrides: Partial<Journal> = {}) =>
  journal({
    phase: "cutover",
    phasesDone: ["preflight", "backup", "copy", "catchup"],
    committed: true,
    committedAt: "2026-12-01T10:05:00.000Z",
    fenceLsn: "0/3000148",
    cutoverStartedAt: "2026-12-01T10:04:59.500Z",
    stepsDone: ["promote", "redis"],
    oldCounts: { "public.writes": 5 },
    outcome: "failed-after-commit",
    ...overrides,
  });

/** A rollback_new that answers once rollback_old was asked, or after 200 ms: whether the old went first. */
function raceRollbacks(): { script: Script; oldFirst: () => boolean | undefined } {
  let oldFirst: boolean | undefined;
  let release: () => void = () => {};
  const asked = new Promise<void>((r) => {
    release = r;
    setTimeout(r, 200);
  });
  let newAnswered = false;
  return {
    script: {
      rollback_new: async () => {
        await asked;
        newAnswered = true;
        return "rolled_back=1\n";
      },
      rollback_old: () => {
        oldFirst = !newAnswered;
        release();
        return "rolled_back=1\n";
      },
    },
    oldFirst: () => oldFirst,
  };
}

describe("migration runner: a fresh migration", () => {
  it("replicate: runs the planned steps, commits, moves traffic once, journals every phase, releases both locks", async () => {
    const d = new Droplets();
    const report = await d.run();
    expect(report).toMatchObject({
      outcome: "done",
      ok: true,
      committed: true,
      resumed: false,
      strategy: { strategy: "replicate" },
    });
    expect(exitCodeFor(report)).toBe(0);
    expect(d.traffic).toBe(1);
    const planned = plannedCommands(old, next, "replicate", { id: "t" }).flatMap(({ cmd }) =>
      typeof cmd === "string" ? [] : [`${cmd.side}:${cmd.step}`],
    );
    expect([...d.calls].sort()).toEqual([...planned].sort());
    const at = (c: string) => d.calls.indexOf(c);
    expect(at("old:lock_acquire")).toBeLessThan(at("old:preflight"));
    expect(at("new:gate_close")).toBeLessThan(at("new:standby"));
    expect(at("old:fence")).toBeLessThan(at("new:promote"));
    // The hold travels with the fence, the gate with the promotion: one round trip each, no separate proxy step but
    // the trust, before the copy: the old proxy will forward over TLS to the new droplet's certificate only.
    expect(d.calls.filter((c) => /proxy_|gate_open|gate_serve/.test(c))).toEqual(["old:proxy_trust"]);
    expect(at("new:gate_close")).toBeLessThan(at("old:proxy_trust"));
    expect(at("old:proxy_trust")).toBeLessThan(at("new:standby"));
    expect(at("new:promote")).toBeLessThan(at("new:health"));
    // The commit point is written to the journal before traffic moves (moveTraffic is not a step: check the journal order).
    const j = d.parsed!;
    expect(j).toMatchObject({
      id: "t",
      outcome: "done",
      phase: "done",
      committed: true,
      fenceLsn: "0/3000148",
      holder: "ci:1",
      runs: 1,
      oldCounts: { "public.writes": 5 },
    });
    expect(j.phasesDone).toEqual(["preflight", "backup", "copy", "catchup", "cutover", "verify"]);
    expect(j.stepsDone).toEqual([
      "promote",
      "gate",
      "redis",
      "traffic",
      "forget_primary",
      "health",
      "counts",
      "follow",
    ]);
    expect(j.follower).toMatchObject({ state: "streaming", of: "root@new", timeline: "2", fork: "0/30001C0" });
    expect(Date.parse(j.follower!.since!)).toBeGreaterThanOrEqual(Date.parse(j.committedAt!));
    expect(Date.parse(j.committedAt!)).toBeLessThanOrEqual(Date.parse(j.trafficMovedAt!));
    expect(d.locks).toEqual({});
    expect(report.writeDowntimeMs).toBeGreaterThanOrEqual(0);
    expect(migrationResult(report)).toEqual({
      id: "t",
      state: "done",
      from: "root@old",
      to: "root@new",
      strategy: "replicate",
      committedAt: j.committedAt,
      finishedAt: j.finishedAt,
      resumed: false,
      writeDowntimeMs: report.writeDowntimeMs,
      followingSince: j.follower!.since,
    });
  });

  it("records the commit in the journal before the traffic switch, and the traffic switch before verification", async () => {
    const d = new Droplets();
    const journalsAtTraffic: Journal[] = [];
    await d.run({ moveTraffic: async () => void journalsAtTraffic.push(d.parsed!) });
    expect(journalsAtTraffic[0]).toMatchObject({ committed: true, phase: "cutover", stepsDone: ["promote", "gate"] });
  });

  it("a finished migration re-run touches nothing: two journal reads, the same result, resumed", async () => {
    const d = new Droplets();
    const first = await d.run();
    d.calls = [];
    const again = await d.run();
    expect(again.outcome).toBe("already-done");
    expect(exitCodeFor(again)).toBe(0);
    expect(d.calls).toEqual(["old:journal_read", "new:journal_read"]);
    expect(migrationResult(again)).toEqual({ ...migrationResult(first), resumed: true });
  });

  it.each([
    [
      "says it cannot follow",
      (): Output => "follow_old_end=0/4000000\nfollow_fork=0/30001C0\nfollow=stopped\nfollow_reason=past the fork\n",
      /past the fork/,
    ],
    [
      "fails",
      (): Output => ({ code: 1, stderr: "could not read the new server's timeline history" }),
      /follow on old exited 1/,
    ],
  ] as const)(
    "the old server's follow step %s after the commit point: the migration is done, the journal says why",
    async (_, follow, why) => {
      const d = new Droplets({ follow });
      const report = await d.run();
      expect(report).toMatchObject({ outcome: "done", ok: true, committed: true });
      expect(exitCodeFor(report)).toBe(0);
      expect(d.steps).not.toContain("old:rollback_old");
      expect(d.parsed?.follower).toMatchObject({
        state: "stopped",
        of: "root@new",
        reason: expect.stringMatching(why),
      });
      expect(d.parsed?.follower?.since).toBeUndefined();
      expect(report.notes.join("\n")).toMatch(/the old server does not follow the new one: /);
    },
  );

  it("promote refused (standby behind, exit 4): rolls back both sides and the proxy, journal rolled-back, traffic stays", async () => {
    const d = new Droplets({ promote: () => ({ code: 4, stderr: "standby did not replay up to 0/3000148" }) });
    const report = await d.run();
    expect(report).toMatchObject({ outcome: "rolled-back", ok: false, committed: false, rolledBack: true });
    expect(exitCodeFor(report)).toBe(1);
    expect(report.aborted).toMatch(/promote on new exited 4: standby did not replay/);
    expect(d.steps.slice(-5)).toEqual([
      "old:rollback_old",
      "new:rollback_new",
      "new:gate_bounce",
      "old:proxy_local",
      "new:gate_open",
    ]);
    expect(d.traffic).toBe(0);
    expect(d.parsed).toMatchObject({
      outcome: "rolled-back",
      committed: false,
      lastError: expect.stringMatching(/exited 4/),
    });
    expect(d.locks).toEqual({});
  });

  it("promote uncertain (exit 5): past the commit point, journal resumable, no rollback, exit 3", async () => {
    const d = new Droplets({ promote: () => ({ code: 5, stderr: "commit point uncertain" }) });
    const report = await d.run();
    expect(report).toMatchObject({ outcome: "stopped-after-commit", ok: false, committed: true });
    expect(report.error).toMatch(/commit point uncertain/);
    expect(exitCodeFor(report)).toBe(3);
    expect(d.steps).not.toContain("old:rollback_old");
    expect(d.parsed).toMatchObject({ outcome: "failed-after-commit", committed: true, stepsDone: [] });
    expect(d.locks).toEqual({});
  });

  it("aborts at preflight when the estimate breaks the migration budget: nothing written, nothing to roll back", async () => {
    const huge = preflight("old").replace("cluster_bytes=2000000", "cluster_bytes=1000000000000");
    const d = new Droplets({
      preflight: (side) =>
        side === "old"
          ? huge
          : preflight("new").replace(`data_free_bytes=${50 * GIB}`, `data_free_bytes=${5000 * GIB}`),
    });
    const report = await d.run();
    expect(report.outcome).toBe("aborted");
    expect(report.aborted).toMatch(/preflight: .* exceeds migrationBudgetMinutes 30/);
    expect(exitCodeFor(report)).toBe(1);
    expect(d.steps).toEqual(["old:preflight", "new:preflight"]);
    expect(d.journal).toBeUndefined();
    expect(d.locks).toEqual({});
  });

  it("aborts before the fence when replication lag says the downtime budget cannot hold, and rolls back", async () => {
    const d = new Droplets({ catchup: () => "pg_lag_bytes=99999999999\n" });
    const report = await d.run({ budgets: { downtimeBudgetSeconds: 20, migrationBudgetMinutes: 30 } });
    expect(report.aborted).toMatch(/before cutover: estimated write downtime .* exceeds downtimeBudgetSeconds 20/);
    expect(d.steps).not.toContain("old:fence");
    expect(d.steps).toContain("new:rollback_new");
    expect(report).toMatchObject({ outcome: "rolled-back", committed: false });
  });

  it("chooses dump-restore across major versions and says why; a forced replicate is refused before anything changes", async () => {
    const pre = (side: Side) =>
      preflight(side).replace("pg_version_num=150010", `pg_version_num=${side === "old" ? 150010 : 160002}`);
    const auto = await new Droplets({ preflight: pre }).run();
    expect(auto.strategy).toEqual({
      strategy: "dump-restore",
      reason: expect.stringMatching(/15 -> 16 crosses a major version/),
    });
    expect(auto.outcome).toBe("done");
    const d = new Droplets({ preflight: pre });
    const forced = await d.run({ strategy: "replicate" });
    expect(forced.outcome).toBe("refused");
    expect(forced.refused).toMatch(/strategy replicate needs the same PostgreSQL major version/);
    expect(d.journal).toBeUndefined();
  });

  it("the old proxy trusts exactly the new droplet's internal listener certificate (from its preflight) before it forwards there", async () => {
    for (const strategy of ["replicate", "dump-restore"] as const) {
      const trusted: string[] = [];
      const d = new Droplets({
        proxy_trust: (_side, cmd) => {
          trusted.push(cmd.stdinData ?? "");
          return "trusted=1\n";
        },
      });
      expect((await d.run({ strategy })).outcome).toBe("done");
      expect(trusted).toEqual(["-----BEGIN CERTIFICATE-----\nnew proxy\n-----END CERTIFICATE-----\n"]);
      const at = (c: string) => d.calls.indexOf(c);
      const forward = strategy === "replicate" ? "old:fence" : "old:proxy_hold";
      expect(at("old:proxy_trust")).toBeGreaterThan(-1);
      expect(at("old:proxy_trust")).toBeLessThan(at(forward));
    }
  });

  it("replicate: the old Redis trusts the new one's certificate before the cutover, so the FAILOVER in the write gap carries none", async () => {
    const stdin: Record<string, string | undefined> = {};
    const record = (cmd: StepCommand) => void (stdin[cmd.step] = cmd.stdinData);
    // A fence without the Redis offset (the old Redis refused the pause): the old one hands over with FAILOVER.
    const d = new Droplets({
      fence: () => "fence_lsn=0/3000148\n",
      redis_trust: (_s, cmd) => (record(cmd), "redis_trusted=1\n"),
      redis_failover: (_s, cmd) => (record(cmd), "redis_failover_ms=5\n"),
    });
    expect((await d.run()).outcome).toBe("done");
    const at = (c: string) => d.calls.indexOf(c);
    expect(at("old:redis_trust")).toBeGreaterThan(-1);
    expect(at("old:redis_trust")).toBeLessThan(at("old:fence"));
    expect(stdin.redis_trust).toBe("-----BEGIN CERTIFICATE-----\nnew\n-----END CERTIFICATE-----\n");
    expect(at("old:redis_failover")).toBeGreaterThan(at("old:fence"));
    expect(stdin.redis_failover).toBeUndefined();
    expect(d.steps).not.toContain("old:redis_follow");
  });

  it("replicate: the fence's Redis offset goes to the promotion, the new Redis takes over there, then the old one follows it: no FAILOVER", async () => {
    let promote: StepCommand | undefined;
    const d = new Droplets({ promote: (_s, cmd) => ((promote = cmd), "promoted=1\nredis_took_over=1\ngate=open\n") });
    expect((await d.run()).outcome).toBe("done");
    // Armed before the fence: the fence's LSN and Redis offset reach it on stdin, after the proxy script.
    expect(promote?.args).toEqual(["-", "60", "gate", "5"]);
    expect(goLine(promote!)).toEqual({ fenceLsn: "0/3000148", redisOffset: "4242" });
    expect(d.steps.indexOf("old:redis_follow")).toBeGreaterThan(d.steps.indexOf("new:promote"));
    expect(d.steps).not.toContain("old:redis_failover");
    expect(d.steps).not.toContain("new:redis_promote");
    expect(d.parsed?.stepsDone).toContain("redis");
  });

  it("replicate: the armed promotion starts before the fence and gets its go line only once the fence is done; a failed fence sends none", async () => {
    const order: string[] = [];
    const tails: string[] = [];
    const exec = (d: Droplets) => async (cmd: StepCommand, hooks?: StepHooks) => {
      if (cmd.step === "fence" || cmd.step === "promote") order.push(`${cmd.step} starts`);
      if (hooks?.stdinTail && cmd.step === "promote")
        void hooks.stdinTail.then((t) => (tails.push(t), order.push(`go line ${JSON.stringify(t)}`)));
      const r = await d.exec(cmd, hooks);
      if (cmd.step === "fence") order.push("fence ends");
      return r;
    };
    const ok = new Droplets();
    expect((await runMigration({ old, next, exec: exec(ok), id: "t" })).outcome).toBe("done");
    expect(order).toEqual(["promote starts", "fence starts", "fence ends", 'go line "go 0/3000148 4242\\n"']);
    order.length = 0;
    const failing = new Droplets({ fence: () => ({ code: 1, stderr: "PostgreSQL did not shut down cleanly" }) });
    const report = await runMigration({ old, next, exec: exec(failing), id: "t" });
    expect(report.outcome).toBe("rolled-back");
    expect(order).toEqual(["promote starts", "fence starts", "fence ends", 'go line ""']);
    expect(failing.steps).not.toContain("new:promote");
    expect(failing.steps).toContain("old:rollback_old");
  });

  it("replicate: an armed promotion that ended before its go line (ssh dropped) promoted nothing: the fenced old server is rolled back", async () => {
    const d = new Droplets();
    const exec = async (cmd: StepCommand, hooks?: StepHooks) =>
      hooks?.stdinTail ? { code: 255, stdout: "", stderr: "ssh: connection to new closed" } : d.exec(cmd, hooks);
    const report = await runMigration({ old, next, exec, moveTraffic: async () => void d.traffic++, id: "t" });
    expect(report).toMatchObject({ outcome: "rolled-back", committed: false });
    expect(d.steps).toContain("old:fence");
    expect(d.steps).toContain("old:rollback_old");
    expect(d.traffic).toBe(0);
    // The same failure once the go line was sent leaves the commit point uncertain: the run stops to go forward.
    const late = new Droplets();
    const lateExec = async (cmd: StepCommand, hooks?: StepHooks) => {
      if (!hooks?.stdinTail) return late.exec(cmd, hooks);
      await hooks.stdinTail;
      return { code: 255, stdout: "", stderr: "ssh: connection to new closed" };
    };
    const uncertain = await runMigration({ old, next, exec: lateExec, moveTraffic: async () => undefined, id: "t" });
    expect(uncertain).toMatchObject({ committed: true });
    expect(late.steps).not.toContain("old:rollback_old");
  });

  it("replicate: a new Redis that did not take over (behind the offset) leaves the gate closed; FAILOVER runs, then the gate opens", async () => {
    const d = new Droplets({ promote: () => "promoted=1\nredis_took_over=0\ngate=closed\n" });
    expect((await d.run()).outcome).toBe("done");
    const at = (c: string) => d.steps.indexOf(c);
    expect(at("old:redis_failover")).toBeGreaterThan(at("new:promote"));
    expect(at("new:gate_serve")).toBeGreaterThan(at("old:redis_failover"));
    expect(d.steps).not.toContain("old:redis_follow");
  });

  it("an old Redis that does not follow the new one is noted; the migration is done", async () => {
    const d = new Droplets({ redis_follow: () => ({ code: 1, stderr: "REPLICAOF 10.0.0.3 6379 refused" }) });
    const report = await d.run();
    expect(report.outcome).toBe("done");
    expect(report.notes.join("\n")).toMatch(
      /the old Redis did not follow the new one \(.*REPLICAOF 10.0.0.3 6379 refused/,
    );
  });

  it("dump-restore: a count mismatch after restore rolls back (old unfrozen), traffic stays", async () => {
    let n = 0;
    const d = new Droplets({ counts: () => `count.public.writes=${n++ === 0 ? 5 : 4}\n` });
    const report = await d.run({ strategy: "dump-restore" });
    expect(report.aborted).toMatch(/restored data differs: public.writes: 5 rows on the old server, 4 on the new/);
    expect(d.steps).toContain("old:rollback_old");
    expect(d.traffic).toBe(0);
  });

  it("falls back to promoting the Redis replica when FAILOVER fails", async () => {
    const d = new Droplets({
      fence: () => "fence_lsn=0/3000148\n",
      redis_failover: () => ({ code: 1, stderr: "FAILOVER refused" }),
    });
    const report = await d.run();
    expect(report.ok).toBe(true);
    expect(d.steps).toContain("new:redis_promote");
  });

  it("the bounce's go goes out on rollback_old's serving line, before the step ends, and stays out if the step then fails", async () => {
    const order: string[] = [];
    const d = new Droplets({ promote: () => ({ code: 4, stderr: "standby did not replay" }) });
    const exec = async (cmd: StepCommand, hooks?: StepHooks) => {
      if (cmd.step === "gate_bounce")
        void hooks?.stdinTail?.then((t) => order.push(`bounce go line ${JSON.stringify(t)}`));
      if (cmd.step !== "rollback_old") return d.exec(cmd, hooks);
      // The old server writes again; the slot is still being let go when the go line must already be out.
      hooks?.onStdout?.("serv");
      await Promise.resolve();
      order.push("half a line");
      hooks?.onStdout?.("ing=1\n");
      // Held open until the bounce has its go line (at most 1 s: without it the order below is wrong).
      for (let i = 0; i < 200 && !order.some((o) => o.startsWith("bounce go")); i++)
        await new Promise((r) => setTimeout(r, 5));
      order.push("rollback_old ends");
      return { code: 1, stdout: "serving=1\n", stderr: "the migration's replication slot could not be dropped" };
    };
    const report = await d.run({ exec });
    expect(order).toEqual(["half a line", 'bounce go line "go\\n"', "rollback_old ends"]);
    expect(report.outcome).toBe("rollback-incomplete");
    expect(report.error).toMatch(/replication slot could not be dropped/);
    // Without the line (the old server never wrote again) the bounce gets an empty line: no go.
    const silent: string[] = [];
    const never = new Droplets({
      promote: () => ({ code: 4, stderr: "standby did not replay" }),
      rollback_old: () => ({ code: 1, stderr: "the old server is not a primary" }),
    });
    await never.run({
      exec: async (cmd: StepCommand, hooks?: StepHooks) => {
        if (cmd.step === "gate_bounce") void hooks?.stdinTail?.then((t) => silent.push(JSON.stringify(t)));
        return never.exec(cmd, hooks);
      },
    });
    expect(silent).toEqual(['""']);
  });

  it("a rollback of the cutover bounces the held requests to the old droplet: its internal listener and certificate, before the old proxy reloads", async () => {
    let bounce: StepCommand | undefined;
    const d = new Droplets({
      promote: () => ({ code: 4, stderr: "standby did not replay" }),
      gate_bounce: (_s, cmd) => ((bounce = cmd), "trusted=1\ngate=bounce\n"),
    });
    // Armed: it starts before the old server is back and gets its go line only once rollback_old answered.
    const order: string[] = [];
    const exec = async (cmd: StepCommand, hooks?: StepHooks) => {
      if (cmd.step === "gate_bounce") {
        order.push("bounce starts");
        void hooks?.stdinTail?.then((t) => order.push(`bounce go line ${JSON.stringify(t)}`));
      }
      const r = await d.exec(cmd, hooks);
      if (cmd.step === "rollback_old") order.push("rollback_old ends");
      return r;
    };
    expect((await d.run({ exec })).outcome).toBe("rolled-back");
    expect(order).toEqual(["bounce starts", "rollback_old ends", 'bounce go line "go\\n"']);
    expect(bounce?.args).toEqual([`${old.privateAddress}:${INTERNAL_PORT}`, "armed"]);
    expect(bounce?.stdinData).toBe("-----BEGIN CERTIFICATE-----\nold proxy\n-----END CERTIFICATE-----\n");
    expect(d.calls.filter((c) => c === "old:proxy_local")).toHaveLength(1);
    // The old server did not come back: the armed bounce gets no go line and changes nothing; the old proxy does not
    // wait for held requests to settle (none were bounced).
    const stuck = new Droplets({
      promote: () => ({ code: 4, stderr: "standby did not replay" }),
      rollback_old: () => ({ code: 1, stderr: "the old server is not a primary" }),
    });
    const stuckReport = await stuck.run();
    expect(stuckReport.outcome).toBe("rollback-incomplete");
    expect(stuckReport.notes.join("\n")).not.toMatch(/held requests could not be sent back/);
    expect(stuck.steps).toContain("new:gate_bounce");
    // A bounce that fails (new droplet unreachable) is noted, and the rollback still completes.
    const failing = new Droplets({
      promote: () => ({ code: 4, stderr: "standby did not replay" }),
      gate_bounce: () => ({ code: 255, stderr: "ssh: connection refused" }),
    });
    const report = await failing.run();
    expect(report).toMatchObject({ outcome: "rolled-back", rolledBack: true });
    expect(report.notes.join("\n")).toMatch(/held requests could not be sent back to the old app/);
    expect(failing.steps.slice(-3)).toEqual(["new:gate_bounce", "old:proxy_local", "new:gate_open"]);
  });

  it("a fault injected through the executor seam after the fence rolls back; nothing was promoted, so the old server goes back without waiting for the new one", async () => {
    const race = raceRollbacks();
    const d = new Droplets(race.script);
    const report = await runMigration({
      old,
      next,
      exec: failAfter(d.exec, FAULT_POINTS.replicate.fence),
      moveTraffic: async () => undefined,
      id: "t",
    });
    expect(report.aborted).toMatch(/fence on old exited 1: .*fault injected after fence/);
    expect(d.steps).not.toContain("new:promote");
    expect(race.oldFirst()).toBe(true);
    expect(d.steps.slice(-5)).toEqual([
      "old:rollback_old",
      "new:rollback_new",
      "new:gate_bounce",
      "old:proxy_local",
      "new:gate_open",
    ]);
  });
});

describe("migration runner: preflight refusals touch nothing", () => {
  const refusedCleanly = (d: Droplets) => {
    expect(d.journal).toBeUndefined();
    expect(d.locks).toEqual({});
    expect(d.steps).toEqual(["old:preflight", "new:preflight"]);
  };

  it("the same cluster on both sides (same system identifier, whatever the addresses) is refused", async () => {
    const d = new Droplets({
      preflight: (side) => preflight(side).replace("system_identifier=7002", "system_identifier=7001"),
    });
    const report = await d.run();
    expect(report).toMatchObject({ outcome: "refused" });
    expect(report.refused).toMatch(/the same server on both sides: .*system identifier 7001/);
    expect(exitCodeFor(report)).toBe(1);
    refusedCleanly(d);
  });

  it("one droplet named twice: the shared lock is taken and released once, then the same-server refusal", async () => {
    const d = new Droplets({ preflight: () => preflight("old") }, true);
    const report = await d.run();
    expect(report.refused).toMatch(/the same server on both sides/);
    refusedCleanly(d);
  });

  it.each([
    [
      "rows in a user table",
      "table_rows.public.writes=false",
      "table_rows.public.writes=true",
      /the target holds data: rows in public\.writes\./,
    ],
    ["Redis keys", "redis_keys_total=0", "redis_keys_total=7", /the target holds data: 7 Redis keys\./],
  ])("a target that holds data (%s) is refused unless --overwrite-target", async (_label, from, to, message) => {
    const pre = (side: Side) => (side === "new" ? preflight("new").replace(from, to) : preflight("old"));
    const d = new Droplets({ preflight: pre });
    const report = await d.run();
    expect(report.refused).toMatch(message);
    expect(report.refused).toMatch(/Nothing was changed\. --overwrite-target replaces it/);
    refusedCleanly(d);
    const over = await new Droplets({ preflight: pre }).run({ overwriteTarget: true });
    expect(over.outcome).toBe("done");
    expect(over.notes.join("\n")).toMatch(/overwriting the target's data/);
  });

  it("schema-migration bookkeeping rows (alembic_version) do not count as data", async () => {
    const d = new Droplets({
      preflight: (side) =>
        side === "new" ? `${preflight("new")}table_rows.public.alembic_version=true\n` : preflight("old"),
    });
    expect((await d.run()).outcome).toBe("done");
  });

  it("a copy this source's migration made (replica marker) is rebuilt without --overwrite-target, even stopped", async () => {
    const stopped = `pg_running=0\npg_binary_version_num=150010\nsystem_identifier=7001\nreplica_of=7001\nredis_keys_total=3\ndata_bytes=40000000\ndata_free_bytes=53687091200\n${certLines}`;
    const d = new Droplets({ preflight: (side) => (side === "new" ? stopped : preflight("old")) });
    const report = await d.run();
    expect(report.outcome).toBe("done");
    expect(report.notes[0]).toMatch(/a copy of this source from an earlier attempt/);
  });

  it.each(["old", "new"] as const)(
    "a %s server whose config sync predates TLS on the internal listener (no proxy_tls_cert) is refused, naming the fix",
    async (stale) => {
      const d = new Droplets({
        preflight: (side) => preflight(side).replace(/^proxy_tls_cert=.*\n/m, side === stale ? "" : "$&"),
      });
      const report = await d.run();
      expect(report.refused).toMatch(
        new RegExp(
          `the ${stale} server has no certificate for its internal listener \\(proxy_tls_cert\\).*run \`pulumi up\` first`,
        ),
      );
      refusedCleanly(d);
    },
  );

  it("a fenced former primary (the way back) needs --overwrite-target", async () => {
    const fenced = `pg_running=0\npg_binary_version_num=150010\nsystem_identifier=7001\nfenced=1\nredis_keys_total=3\ndata_bytes=40000000\ndata_free_bytes=53687091200\n${certLines}`;
    const pre = (side: Side) => (side === "new" ? fenced : preflight("old"));
    const d = new Droplets({ preflight: pre });
    expect((await d.run()).refused).toMatch(/a fenced former primary/);
    refusedCleanly(d);
    expect((await new Droplets({ preflight: pre }).run({ overwriteTarget: true })).outcome).toBe("done");
  });

  it("a tier change down is refused when the data does not fit the target volume, with the reason; allowed when it fits", async () => {
    const small = (side: Side) =>
      side === "new"
        ? preflight("new").replace(`data_free_bytes=${50 * GIB}`, `data_free_bytes=${1.5 * GIB}`)
        : preflight("old").replace("cluster_bytes=2000000", `cluster_bytes=${2 * GIB}`);
    const d = new Droplets({ preflight: small });
    const report = await d.run();
    expect(report.refused).toMatch(/data 2\.0 GiB does not fit: 1\.5 GiB free on the target volume .*needs 3\.0 GiB/);
    refusedCleanly(d);
    const fits = await new Droplets().run();
    expect(fits.notes.join("\n")).toMatch(
      /data 1\.9 MiB fits: 50\.0 GiB free on the target volume \(counting 38\.1 MiB it replaces\), needs 1\.0 GiB/,
    );
  });
});

describe("migration runner: journal, lock and resume", () => {
  it("a fresh lock held by another run refuses the migration with its holder and start time, touching nothing", async () => {
    const d = new Droplets();
    d.locks.new = { run: "other", holder: "ci-7:4242", started: "2026-12-01T09:59:00.000Z", age: 3 };
    const report = await d.run();
    expect(report.outcome).toBe("refused");
    expect(report.refused).toBe(
      "another migration holds the lock on the new droplet (root@new): ci-7:4242, run other, started 2026-12-01T09:59:00.000Z, last heartbeat 3 s ago",
    );
    expect(exitCodeFor(report)).toBe(1);
    expect(d.steps).toEqual([]);
    expect(d.locks).toEqual({
      new: { run: "other", holder: "ci-7:4242", started: "2026-12-01T09:59:00.000Z", age: 3 },
    }); // ours on old released
    expect(d.journal).toBeUndefined();
  });

  it("a rollback that cannot rule the promotion out (a killed run resumed) asks the new server first", async () => {
    const race = raceRollbacks();
    const d = new Droplets(race.script);
    d.journal = journal({ id: "m0", phase: "cutover" });
    d.locks.old = { run: "dead", holder: "gone:99", started: "2026-12-01T10:00:00.000Z", age: 600 };
    const report = await d.run({ id: "m1" });
    expect(report.outcome).toBe("done");
    expect(race.oldFirst()).toBe(false);
  });

  it("a killed run (journal running before the commit point, stale lock): a plain run takes the lock over, rolls back, then migrates afresh", async () => {
    const d = new Droplets();
    d.journal = journal({ id: "m0", phase: "copy" });
    d.locks.old = { run: "dead", holder: "gone:99", started: "2026-12-01T10:00:00.000Z", age: 600 };
    const report = await d.run({ id: "m1" });
    expect(report.outcome).toBe("done");
    expect(report.notes[0]).toMatch(
      /took over a stale lock on the old droplet: gone:99, run dead, started 2026-12-01T10:00:00.000Z, no heartbeat for 600 s/,
    );
    expect(d.steps.slice(0, 4)).toEqual(["new:rollback_new", "old:rollback_old", "new:gate_open", "old:preflight"]);
    expect(parseJournal(d.history[0]!)).toMatchObject({ id: "m0", outcome: "rolled-back" });
    expect(d.parsed).toMatchObject({ id: "m1", outcome: "done" });
  });

  it("another pair's unfinished migration on either droplet refuses, naming it and its phase", async () => {
    const other = journal({
      id: "m9",
      to: { target: "root@elsewhere", privateAddress: "10.0.0.9", pgPort: 5432, redisPort: 6379 },
      phase: "catchup",
    });
    const d = new Droplets();
    d.journal = other;
    const report = await d.run();
    expect(report.outcome).toBe("refused");
    expect(report.refused).toMatch(
      /unfinished migration m9 \(root@old -> root@elsewhere, replicate; running, phase catchup, before the commit point\)/,
    );
    expect(d.calls).toEqual(["old:journal_read", "new:journal_read"]);
    const onNew = new Droplets();
    onNew.journalOnNew = journal({
      id: "m8",
      from: { target: "root@new", privateAddress: "10.0.0.3", pgPort: 5432, redisPort: 6379 },
      committed: true,
      outcome: "failed-after-commit",
      phase: "verify",
    });
    expect((await onNew.run()).refused).toMatch(
      /the target is the old server of an unfinished migration m8 .*phase verify, after the commit point/,
    );
  });

  it("after the commit point a run goes forward from the first step not done, and never repeats one", async () => {
    const d = new Droplets();
    d.journal = committedJournal();
    const report = await d.run();
    expect(report).toMatchObject({ outcome: "done", resumed: true, ok: true });
    expect(d.steps).toEqual(["new:gate_serve", "new:forget_primary", "new:health", "new:counts", "old:follow"]); // gate: not in the journal's stepsDone
    expect(d.traffic).toBe(1);
    expect(d.parsed).toMatchObject({ id: "m0", outcome: "done", committedAt: "2026-12-01T10:05:00.000Z", runs: 2 });
    expect(migrationResult(report)).toMatchObject({ id: "m0", committedAt: "2026-12-01T10:05:00.000Z", resumed: true });
  });

  it("a run stopped between the promotion and its journal entry is not rolled back: rollback_new finds the copy promoted (exit 7), the run goes forward", async () => {
    const d = new Droplets({
      rollback_new: () => ({ code: 7, stdout: "promoted=1\n", stderr: "past the commit point" }),
    });
    d.journal = journal({
      phase: "cutover",
      phasesDone: ["preflight", "backup", "copy", "catchup"],
      fenceLsn: undefined,
    });
    const report = await d.run();
    expect(report).toMatchObject({ outcome: "done", ok: true, committed: true, resumed: true });
    expect(report.notes.join("\n")).toMatch(/already promoted: past the commit point/);
    expect(d.steps).not.toContain("old:rollback_old");
    expect(d.steps).not.toContain("old:proxy_local");
    expect(d.steps).not.toContain("new:promote");
    // The new droplet's Redis certificate is read again first (a resumed run has no preflight of its own).
    expect(d.steps.slice(0, 4)).toEqual(["new:rollback_new", "new:preflight", "old:redis_failover", "new:gate_serve"]);
    expect(d.parsed).toMatchObject({ outcome: "done", committed: true });
  });

  it("an uncertain promote is resumed by promoting (idempotent on the droplet), then the rest", async () => {
    const d = new Droplets();
    d.journal = committedJournal({ stepsDone: [] });
    await d.run();
    // Resumed: the promote without its gate; the new droplet's Redis certificate is read (preflight) for FAILOVER TO.
    expect(d.steps).toEqual([
      "new:promote",
      "new:preflight",
      "old:redis_failover",
      "new:gate_serve",
      "new:forget_primary",
      "new:health",
      "new:counts",
      "old:follow",
    ]);
  });

  it("--resume: nothing to resume without this pair's journal (exit 2); a rolled-back one starts again", async () => {
    const none = await new Droplets().run({ mode: "resume" });
    expect(none.outcome).toBe("nothing");
    expect(none.refused).toMatch(/nothing to resume: no migration journal for root@old -> root@new/);
    expect(exitCodeFor(none, "resume")).toBe(2);
    const d = new Droplets();
    d.journal = journal({ outcome: "rolled-back" });
    expect((await d.run({ mode: "resume" })).outcome).toBe("done");
  });

  it("--rollback before the commit point undoes it (exit 0); after it refuses and names the way back (exit 3); done: exit 2", async () => {
    const before = new Droplets();
    before.journal = journal({ outcome: "rollback-failed", phase: "cutover" });
    const rb = await before.run({ mode: "rollback" });
    expect(rb.outcome).toBe("rolled-back");
    expect(exitCodeFor(rb, "rollback")).toBe(0);
    // The old droplet's certificate for the bounce comes from its preflight (only reads), run here since none ran.
    expect(before.steps).toEqual([
      "new:rollback_new",
      "old:preflight",
      "old:rollback_old",
      "new:gate_bounce",
      "old:proxy_local",
      "new:gate_open",
    ]);
    expect(before.parsed?.outcome).toBe("rolled-back");

    const after = new Droplets();
    after.journal = committedJournal();
    const refused = await after.run({ mode: "rollback" });
    expect(refused.outcome).toBe("rollback-refused");
    expect(exitCodeFor(refused, "rollback")).toBe(3);
    expect(refused.error).toMatch(
      /passed its commit point at 2026-12-01T10:05:00.000Z.*npm run migrate -- --from root@new --to root@old --overwrite-target/,
    );
    expect(after.calls).toEqual(["old:journal_read", "new:journal_read"]);

    const finished = new Droplets();
    finished.journal = committedJournal({ outcome: "done", phase: "done" });
    expect(exitCodeFor(await finished.run({ mode: "rollback" }), "rollback")).toBe(2);
  });
});

describe("migration runner: signals and the lock heartbeat", () => {
  it("an abort during the copy rolls back (exit 1), journal rolled-back, locks released", async () => {
    const stop = new AbortController();
    const d = new Droplets({
      standby: (_side, _cmd, hooks) =>
        new Promise<Output>((resolve) => {
          hooks?.signal?.addEventListener("abort", () => resolve({ code: 130 }));
          stop.abort("SIGTERM");
        }),
    });
    const report = await d.run({ signal: stop.signal });
    expect(report).toMatchObject({
      outcome: "rolled-back",
      interruptedBy: "SIGTERM",
      aborted: "interrupted by SIGTERM",
    });
    expect(exitCodeFor(report)).toBe(1);
    expect(d.steps.slice(-3)).toEqual(["new:rollback_new", "old:rollback_old", "new:gate_open"]);
    expect(d.parsed).toMatchObject({ outcome: "rolled-back", phase: "copy", lastError: "interrupted by SIGTERM" });
    expect(d.locks).toEqual({});
  });

  it("an abort after the commit point stops at the next step: journal failed-after-commit, exit 3; a run then finishes", async () => {
    const stop = new AbortController();
    const d = new Droplets();
    const report = await d.run({ signal: stop.signal, moveTraffic: async () => void stop.abort("SIGINT") });
    expect(report).toMatchObject({ outcome: "stopped-after-commit", interruptedBy: "SIGINT", committed: true });
    expect(exitCodeFor(report)).toBe(3);
    expect(d.parsed).toMatchObject({
      outcome: "failed-after-commit",
      stepsDone: ["promote", "gate", "redis", "traffic"],
      lastError: "interrupted by SIGINT",
    });
    expect(d.steps).not.toContain("new:forget_primary");
    expect(d.locks).toEqual({});
    d.calls = [];
    expect((await d.run()).outcome).toBe("done");
    expect(d.steps).toEqual(["new:forget_primary", "new:health", "new:counts", "old:follow"]); // the gate is on record: not opened again
  });

  it("heartbeats refresh both locks during a long step; a lock taken over stops the run without touching anything more (exit 3)", async () => {
    let beats = 0;
    const d = new Droplets({
      standby: (_side, _cmd, hooks) =>
        new Promise<Output>((resolve) => {
          hooks?.signal?.addEventListener("abort", () => resolve({ code: 130 }));
        }),
    });
    const exec = async (cmd: StepCommand, hooks?: StepHooks) => {
      if (cmd.step === "lock_heartbeat" && ++beats === 4) d.stealLock = true;
      return d.exec(cmd, hooks);
    };
    const report = await runMigration({ old, next, exec, moveTraffic: async () => undefined, id: "t", heartbeatMs: 5 });
    expect(beats).toBeGreaterThanOrEqual(4);
    expect(report.outcome).toBe("lock-lost");
    expect(exitCodeFor(report)).toBe(3);
    expect(d.steps).not.toContain("new:rollback_new");
    expect(d.steps.at(-1)).toBe("new:standby");
  });
});

describe("migration runner: a switch back to the server that follows", () => {
  /** The source a primary on timeline 2; the target its streaming standby (same cluster), `target` overriding keys. */
  const followerPreflight =
    (target: Record<string, string> = {}, source: Record<string, string> = {}) =>
    (side: Side): string => {
      const own: Record<string, string> =
        side === "old"
          ? { pg_timeline: "2", ...source }
          : {
              system_identifier: "7001",
              pg_in_recovery: "t",
              "table_rows.public.writes": "true",
              redis_keys_total: "3",
              standby_status: "streaming",
              standby_sender: `${old.privateAddress}:5432`,
              standby_timeline: "2",
              standby_lag_bytes: "1200",
              ...target,
            };
      const lines = preflight(side)
        .split("\n")
        .filter((l) => l && !(l.slice(0, l.indexOf("=")) in own));
      return `${[...lines, ...Object.entries(own).map(([k, v]) => `${k}=${v}`)].join("\n")}\n`;
    };
  /** The finished migration new -> old whose old server (root@new) now serves: its journal is on the target. */
  const otherWay = (overrides: Partial<Journal> = {}) =>
    committedJournal({
      id: "m1",
      from: { target: "root@new", privateAddress: "10.0.0.3", pgPort: 5432, redisPort: 6379 },
      to: { target: "root@old", privateAddress: "10.0.0.2", pgPort: 5432, redisPort: 6379 },
      outcome: "done",
      phase: "done",
      finishedAt: "2026-12-01T10:06:00.000Z",
      follower: { state: "streaming", of: "root@old", since: "2026-12-01T10:05:30.000Z" },
      ...overrides,
    });

  it("no backup, no copy: the catch-up, the same cutover, then the server left follows; journal and result say switch back", async () => {
    const d = new Droplets({ preflight: followerPreflight() });
    d.journalOnNew = otherWay();
    const report = await d.run({ switchBack: true });
    expect(report).toMatchObject({ outcome: "done", ok: true, committed: true });
    expect(report.copy).toBeUndefined();
    expect(report.notes.join("\n")).toMatch(
      /the target follows the source: streaming from 10.0.0.2:5432 on timeline 2/,
    );
    for (const step of ["old:backup", "new:standby", "old:drop_slot", "new:dump_restore"])
      expect(d.steps).not.toContain(step);
    const planned = plannedCommands(old, next, "replicate", { id: "t", switchBack: true }).flatMap(({ cmd }) =>
      typeof cmd === "string" ? [] : [`${cmd.side}:${cmd.step}`],
    );
    expect([...d.calls].sort()).toEqual([...planned].sort());
    const at = (c: string) => d.steps.indexOf(c);
    expect(d.steps.slice(0, 6)).toEqual([
      "old:preflight",
      "new:preflight",
      "new:claim_target",
      "new:gate_close",
      "old:proxy_trust",
      "new:redis_replica",
    ]);
    expect(at("new:catchup")).toBeLessThan(at("old:fence"));
    expect(at("old:fence")).toBeLessThan(at("old:follow"));
    const j = d.parsed!;
    expect(j).toMatchObject({ switchBack: true, reverses: "m1", outcome: "done", strategy: "replicate" });
    expect(j.phasesDone).toEqual(["preflight", "catchup", "cutover", "verify"]);
    expect(j.follower).toMatchObject({ state: "streaming", of: "root@new" });
    expect(migrationResult(report)).toMatchObject({
      switchBack: true,
      followingSince: j.follower!.since,
      from: "root@old",
      to: "root@new",
    });
    // A re-run changes nothing and prints the same result.
    d.calls = [];
    const again = await d.run({ switchBack: true });
    expect(again.outcome).toBe("already-done");
    expect(d.calls).toEqual(["old:journal_read", "new:journal_read"]);
    expect(migrationResult(again)).toEqual({ ...migrationResult(report), resumed: true });
  });

  it("flip again: this pair's finished migration reversed by the one the other way is archived, and a new one starts", async () => {
    const d = new Droplets({ preflight: followerPreflight() });
    d.journal = committedJournal({ id: "m1", outcome: "done", phase: "done", finishedAt: "2026-12-01T10:06:00.000Z" });
    d.journalOnNew = otherWay({ id: "m2", switchBack: true, reverses: "m1" });
    const report = await d.run({ switchBack: true });
    expect(report.outcome).toBe("done");
    expect(d.parsed).toMatchObject({ id: "t", switchBack: true, reverses: "m2" });
    expect(d.history.map((h) => parseJournal(h).id)).toEqual(["m1"]);
  });

  it.each([
    ["the target is not a standby", { pg_in_recovery: "f" }, {}, /the target's PostgreSQL is not a standby/],
    ["the target is stopped", { pg_running: "0" }, {}, /PostgreSQL is not running on the target/],
    [
      "the target is another cluster",
      { system_identifier: "7002" },
      {},
      /another PostgreSQL cluster \(system identifier 7002, the source's 7001\)/,
    ],
    [
      "the target follows another server",
      { standby_sender: "10.0.0.9:5432" },
      {},
      /follows 10.0.0.9:5432, not the source at 10.0.0.2:5432/,
    ],
    ["the target does not stream", { standby_status: "waiting" }, {}, /WAL receiver is waiting, not streaming/],
    [
      "the target follows an older timeline",
      { standby_timeline: "1" },
      {},
      /follows timeline 1, the source writes on timeline 2/,
    ],
    ["the source is a standby", {}, { pg_in_recovery: "t" }, /the source \(--from\) is not a running primary/],
  ])("refused, touching nothing (exit 2): %s", async (_what, target, source, why) => {
    const d = new Droplets({ preflight: followerPreflight(target, source) });
    const report = await d.run({ switchBack: true });
    expect(report).toMatchObject({ outcome: "refused", wrongTarget: true });
    expect(report.refused).toMatch(why);
    expect(report.refused).toMatch(/Nothing was changed\.$/);
    expect(exitCodeFor(report)).toBe(2);
    expect(d.journal).toBeUndefined();
    expect(d.steps).toEqual(["old:preflight", "new:preflight"]);
  });

  it("strategy dump-restore is refused before any step on a droplet (exit 2)", async () => {
    const d = new Droplets({ preflight: followerPreflight() });
    const report = await d.run({ switchBack: true, strategy: "dump-restore" });
    expect(report.refused).toMatch(/strategy dump-restore cannot switch back; use auto or replicate/);
    expect(exitCodeFor(report)).toBe(2);
    expect(d.steps).toEqual([]);
  });

  it("a plain run is not answered by a switch back's journal the other way, nor a switch back by a plain migration's", async () => {
    const d = new Droplets({ preflight: followerPreflight() });
    d.journal = committedJournal({ id: "m1", outcome: "done", phase: "done", finishedAt: "2026-12-01T10:06:00.000Z" });
    const report = await d.run({ switchBack: true });
    expect(report.outcome).toBe("done");
    expect(d.parsed).toMatchObject({ id: "t", switchBack: true });
  });

  it("rolled back before the commit point (promotion refused): the target goes on following, nothing undone there", async () => {
    const d = new Droplets({
      preflight: followerPreflight(),
      promote: () => ({ code: 4, stderr: "standby did not replay up to 0/3000148" }),
    });
    const asked: StepCommand[] = [];
    const exec = d.exec;
    d.exec = (cmd, hooks) => {
      asked.push(cmd);
      return exec(cmd, hooks);
    };
    const report = await d.run({ switchBack: true });
    expect(report).toMatchObject({ outcome: "rolled-back", rolledBack: true, committed: false });
    expect(exitCodeFor(report)).toBe(1);
    // ... and waits until it streams again (the catch-up step, any lag), so that a retry finds it following.
    expect(d.steps.slice(-7)).toEqual([
      "old:rollback_old",
      "new:rollback_new",
      "new:gate_bounce",
      "old:proxy_local",
      "new:gate_open",
      "new:redis_replica",
      "new:catchup",
    ]);
    expect(asked.find((c) => c.step === "rollback_new")?.args).toEqual(["keep_following"]);
    expect(d.parsed).toMatchObject({ outcome: "rolled-back", switchBack: true });
    // A plain migration's rollback stops the copy following: no keep_following there.
    const plain = new Droplets({ promote: () => ({ code: 4, stderr: "behind" }) });
    const plainAsked: StepCommand[] = [];
    const plainExec = plain.exec;
    plain.exec = (cmd, hooks) => {
      plainAsked.push(cmd);
      return plainExec(cmd, hooks);
    };
    await plain.run();
    expect(plainAsked.find((c) => c.step === "rollback_new")?.args).toEqual([]);
    expect(plain.steps.at(-1)).toBe("new:gate_open");
  });
});

/** The nth call of `step` on `side` runs, then answers as a dropped connection would (ssh's 255, no output). */
function dropsAfter(
  exec: Droplets["exec"],
  at: { step: StepName; side: Side; nth?: number },
): { exec: Droplets["exec"]; fresh: string[] } {
  let seen = 0;
  const fresh: string[] = [];
  return {
    fresh,
    exec: async (cmd, hooks) => {
      if (hooks?.fresh) fresh.push(`${cmd.side}:${cmd.step}`);
      const r = await exec(cmd, hooks);
      if (cmd.step !== at.step || cmd.side !== at.side || ++seen !== (at.nth ?? 1)) return r;
      return { code: 255, stdout: "", stderr: "mux_client_request_session: read from master failed: Broken pipe" };
    },
  };
}

describe("migration runner: a dropped connection", () => {
  it("a rollback step whose connection dropped runs once more over its own connection, and the rollback completes", async () => {
    const d = new Droplets();
    // The fence's connection drops (the fence is not run again: the rollback undoes it); the old droplet's shared
    // connection is still dying when rollback_old asks it.
    const fence = dropsAfter(d.exec, { step: "fence", side: "old" });
    const rollbackOld = dropsAfter(fence.exec, { step: "rollback_old", side: "old" });
    const report = await d.run({ exec: rollbackOld.exec });
    expect(report).toMatchObject({ outcome: "rolled-back", rolledBack: true });
    expect(exitCodeFor(report)).toBe(1);
    expect(d.calls.filter((c) => c === "old:fence")).toHaveLength(1);
    expect(d.calls.filter((c) => c === "old:rollback_old")).toHaveLength(2);
    expect(rollbackOld.fresh).toEqual(["old:rollback_old"]);
    expect(d.locks).toEqual({});
  });

  it("a step outside the rollback (the promotion) is never run twice: its connection dropping leaves the commit point uncertain", async () => {
    const d = new Droplets();
    const promote = dropsAfter(d.exec, { step: "promote", side: "new" });
    const report = await d.run({ exec: promote.exec });
    expect(d.calls.filter((c) => c === "new:promote")).toHaveLength(1);
    expect(promote.fresh.filter((c) => c === "new:promote")).toEqual([]);
    expect(report.outcome).not.toBe("done");
  });

  it("the last journal write's connection drops: written again, and the run ends done", async () => {
    const d = new Droplets();
    const probe = new Droplets();
    await probe.run();
    const last = probe.calls.filter((c) => c === "old:journal_write").length;
    expect(last).toBeGreaterThan(1);
    const drop = dropsAfter(d.exec, { step: "journal_write", side: "old", nth: last });
    const report = await d.run({ exec: drop.exec });
    expect(report).toMatchObject({ outcome: "done", ok: true });
    expect(exitCodeFor(report)).toBe(0);
    expect(drop.fresh).toEqual(["old:journal_write"]);
    expect(d.parsed).toMatchObject({ outcome: "done" });
  });

  it("lock_acquire answers as a dropped connection after taking the lock: the run releases it (a re-run is not refused)", async () => {
    const d = new Droplets();
    const drop = dropsAfter(d.exec, { step: "lock_acquire", side: "new" });
    const report = await d.run({ exec: drop.exec });
    expect(report.outcome).toBe("aborted");
    expect(d.journal).toBeUndefined();
    expect(d.locks).toEqual({});
    expect((await d.run()).outcome).toBe("done");
  });
});
