/**
 * The scale-out data move, run for real: logical replication from the "droplet" (127.0.0.2, PostgreSQL 15 +
 * Redis 7 + the app, the publisher) into a second PostgreSQL 15 standing in for the managed cluster (127.0.0.3, with
 * its Redis standing in for managed Valkey and its app for the app droplets), under the migration harness's load
 * generator and set checker (tests/migration/harness.ts, checker.ts). Every step is scripts/droplet/logical.sh over
 * real ssh, driven by infra/scale-out-migration/runner.ts; the front door stands in for the traffic switch.
 *
 * The app's `writes` table gets a `seq bigserial UNIQUE` column on the droplet, so a sequence that was not set at
 * cutover makes the new primary refuse the next writes, and the check can see it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { formatTimeline } from "../../infra/migration/timeline";
import { renderTargetEnv } from "../../infra/scale-out-migration/commands";
import { fromStepExecutor, type LogicalReport, type LogicalRunnerOptions, runLogicalCutover } from "../../infra/scale-out-migration/runner";
import type { WriteRecord } from "../migration/checker";
import { type Harness, NEW_HOST, startHarness } from "../migration/harness";
import { makeTempDir, osUser, PG_BINDIR, run, runningServers, stopAll } from "../support/servers";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  await stopAll();
  expect(runningServers()).toEqual([]);
});

/** The droplet as a logical publisher (wal_level = logical, a sequence on the app's table); the target empty. */
async function prepare(harness: Harness): Promise<string> {
  const { old, next } = harness;
  await old.pg.psql("ALTER SYSTEM SET wal_level = logical;");
  await run(path.join(PG_BINDIR, "pg_ctl"), ["restart", "-w", "-t", "60", "-m", "fast", "-D", old.pg.dataDir, "-l", old.pg.logFile, "-o", old.pg.ctlOptions], { user: "postgres" });
  expect(await old.pg.psql("SHOW wal_level")).toBe("logical");
  await old.pg.psql("ALTER TABLE writes ADD COLUMN seq bigserial UNIQUE;", "chatbot");
  // A fresh managed cluster has only the empty database and the app's role (DatabaseDb, DatabaseUser).
  await next.pg.psql("DROP TABLE writes;", "chatbot");
  await next.pg.psql("CREATE ROLE chatbot LOGIN;");
  const dir = makeTempDir("scale-out-target", "postgres");
  const file = path.join(dir, "target.env");
  fs.writeFileSync(
    file,
    renderTargetEnv({
      pg: { host: NEW_HOST, port: next.pg.port, user: "postgres", password: harness.secrets.POSTGRES_PASSWORD, database: "chatbot", sslmode: "disable", appUser: "chatbot" },
      redis: { host: NEW_HOST, port: next.redis.port, user: "", password: harness.secrets.REDIS_PASSWORD, tls: false },
    }),
    { mode: 0o600 },
  );
  const who = osUser("postgres");
  if (who) fs.chownSync(file, who.uid, who.gid);
  return file;
}

async function cutover(harness: Harness, targetEnv: string, extra: Partial<LogicalRunnerOptions> = {}) {
  const exec = sshExecutor();
  let switchedAt = Number.POSITIVE_INFINITY;
  try {
    const { result, records } = await harness.withLoad(
      () =>
        runLogicalCutover({
          source: { ...harness.old.droplet, env: { ...harness.old.droplet.env, CHATBOT_TARGET_ENV_FILE: targetEnv } },
          exec: fromStepExecutor(exec),
          moveTraffic: async () => {
            harness.front.moveTo(harness.next.host);
            switchedAt = Date.now();
          },
          budgets: { downtimeBudgetSeconds: 60, migrationBudgetMinutes: 10 },
          ...extra,
        }),
      { settleMs: 1500, workers: 4 },
    );
    return { report: result, records, switchedAt };
  } finally {
    exec.close();
  }
}

const afterSwitch = (records: WriteRecord[], at: number) => records.filter((r) => r.startMs > at);

async function sequenceState(harness: Harness): Promise<{ lastValue: number; maxSeq: number }> {
  const [lastValue, maxSeq] = (await harness.next.pg.psql("SELECT (SELECT coalesce(last_value, 0) FROM pg_sequences WHERE sequencename = 'writes_seq_seq') || ' ' || (SELECT coalesce(max(seq), 0) FROM writes)", "chatbot")).split(" ");
  return { lastValue: Number(lastValue), maxSeq: Number(maxSeq) };
}

function summary(report: LogicalReport): string {
  return JSON.stringify({ ok: report.ok, committed: report.committed, aborted: report.aborted, error: report.error, syncMs: report.syncMs, catchupMs: report.catchupMs, writeDowntimeMs: report.writeDowntimeMs, cache: report.cache });
}

describe("logical-replication cutover into the managed cluster (real PostgreSQL 15 on loopback)", () => {
  it("moves every acknowledged write, sets the sequences, warms the cache and moves traffic under load", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const { report, records, switchedAt } = await cutover(h, targetEnv);
    console.log(`[scale-out] safe cutover: ${summary(report)}\n${formatTimeline(report.timeline, report.startedAt)}`);
    expect(report.aborted).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.committed).toBe(true);
    expect(report.countProblems).toEqual([]);

    const check = await h.check(records, h.next);
    console.log(`[scale-out] safe cutover check: attempted ${check.attempted}, acknowledged ${check.acknowledged}, failed ${check.failed}, unknown ${check.unknown}, lost ${check.lost.length}, redis lost ${check.redisLost.length}, front-door gap ${check.frontDoorGapMs} ms`);
    expect(check.acknowledged).toBeGreaterThan(50);
    expect(check.lost).toEqual([]);
    expect(check.failedButPresent).toEqual([]);
    expect(check.redisLost).toEqual([]);

    // Sequences: set at cutover, so the new primary kept taking writes with fresh values.
    const after = afterSwitch(records, switchedAt);
    expect(after.filter((r) => r.pg === "ok").length).toBeGreaterThan(10);
    expect(after.filter((r) => r.pg === "fail")).toEqual([]);
    const seq = await sequenceState(h);
    expect(seq.lastValue).toBeGreaterThanOrEqual(seq.maxSeq);
    expect(report.sequences?.["public.writes_seq_seq"]).toBeGreaterThan(0);
    expect(report.cache?.keys).toBeGreaterThan(0);
    expect(report.writeDowntimeMs).toBeLessThan(60_000);

    // The app's role owns its tables on the cluster, as on the droplet.
    expect(await h.next.pg.psql("SELECT string_agg(tableowner, ',') FROM pg_tables WHERE schemaname = 'public'", "chatbot")).toBe("chatbot");
    // The source stays read-only: a write straight to it is refused.
    await expect(h.old.pg.psql("INSERT INTO writes (id) VALUES ('after-cutover');", "chatbot")).rejects.toThrow(/read-only/);
    expect(await h.next.pg.psql("SELECT count(*) FROM pg_subscription", "chatbot")).toBe("0");
    expect(await h.old.pg.psql("SELECT count(*) FROM pg_replication_slots")).toBe("0");
  }, 240_000);

  it("negative control: without the fence, the marker wait and setval, the checker reports lost writes and the sequence refuses new ones", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const { report, records, switchedAt } = await cutover(h, targetEnv, { unsafeNoFence: true, warmCache: false });
    console.log(`[scale-out] unsafe cutover: ${summary(report)}`);
    expect(report.committed).toBe(true);
    const check = await h.check(records, h.next);
    console.log(`[scale-out] unsafe cutover check: acknowledged ${check.acknowledged}, lost ${check.lost.length}, failed after switch ${afterSwitch(records, switchedAt).filter((r) => r.pg === "fail").length}`);
    expect(check.lost.length).toBeGreaterThan(0);
    expect(afterSwitch(records, switchedAt).filter((r) => r.pg === "fail").length).toBeGreaterThan(0);
  }, 240_000);

  it("rolls back before the commit point: the droplet takes writes again and nothing acknowledged is lost", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const { report, records } = await cutover(h, targetEnv, { faultAfter: "catchup" });
    console.log(`[scale-out] rollback: ${summary(report)}`);
    expect(report.committed).toBe(false);
    expect(report.aborted).toMatch(/fault injected after catchup/);
    expect(report.rolledBack).toBe(true);
    expect(h.serving()).toBe(h.old);

    const check = await h.check(records, h.old);
    expect(check.lost).toEqual([]);
    expect(check.failedButPresent).toEqual([]);
    // Writes were refused during the fence and acknowledged again after the rollback.
    const last = records.slice(-20);
    expect(last.every((r) => r.pg === "ok")).toBe(true);
    expect(await h.next.pg.psql("SELECT count(*) FROM pg_subscription", "chatbot")).toBe("0");
    expect(await h.old.pg.psql("SELECT count(*) FROM pg_replication_slots")).toBe("0");
    expect(await h.old.pg.psql("SELECT count(*) FROM pg_publication", "chatbot")).toBe("0");
  }, 240_000);
});
