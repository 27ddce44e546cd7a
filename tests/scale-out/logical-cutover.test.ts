/**
 * The scale-out data move, run for real: logical replication from the "droplet" (127.0.0.2, PostgreSQL 15 +
 * Redis 7 + the app, the publisher) into a second PostgreSQL 15 standing in for the managed cluster (127.0.0.3, with
 * its Redis standing in for managed Valkey and its app for the app droplets), under the migration harness's load
 * generator and set checker (tests/migration/harness.ts, checker.ts). Every step is scripts/droplet/logical.sh over
 * real ssh, driven by infra/scale-out-migration/runner.ts. Clients write over HTTPS through the droplet's real Caddy
 * (the front address): at the cutover it forwards their requests to the target's internal listener (standing in for
 * the app droplets), whose gate (proxy-switch.sh over ssh, on the target's own Caddy) is closed until the switch has
 * committed, so they are held and then go through; the front address moves to the target afterwards (the DNS move).
 *
 * The app's `writes` table gets a `seq bigserial UNIQUE` column on the droplet, so a sequence that was not set at
 * cutover makes the new primary refuse the next writes, and the check can see it.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { formatTimeline } from "../../infra/migration/timeline";
import { INTERNAL_PORT } from "../../infra/render/caddyfile";
import {
  type LogicalExecutor,
  type LogicalReport,
  type LogicalRunnerOptions,
  runLogicalCutover,
} from "../../infra/scale-out-migration/runner";
import { clientFigures } from "../migration/bench";
import { handshakeFailures } from "../migration/front-door";
import type { WriteRecord } from "../migration/checker";
import { expectNowhere, MAX_NEVER_SENT, neverSent } from "../migration/never-sent";
import { type Harness, startHarness } from "../migration/harness";
import { runningServers, stopAll } from "../support/servers";
import { harnessCutover, prepare } from "./harness";
import { beforeCutover, failAfter, unfenced } from "./seams";

let h: Harness | undefined;
afterEach(async () => {
  await h?.stop();
  h = undefined;
  await stopAll();
  expect(runningServers()).toEqual([]);
});

/** The requests in flight from before a step of the report's timeline started until after it ended (held through it). */
function heldThrough(report: LogicalReport, records: readonly WriteRecord[], step: string): WriteRecord[] {
  const entry = report.timeline.find((e) => e.step === step);
  if (!entry) throw new Error(`no ${step} step in the timeline`);
  return records.filter((r) => r.startMs < entry.startMs && r.endMs > entry.endMs);
}

async function cutover(
  harness: Harness,
  targetEnv: string,
  extra: Partial<LogicalRunnerOptions> & { wrap?: (exec: LogicalExecutor) => LogicalExecutor } = {},
) {
  const ssh = sshExecutor();
  const { switchedAt, ...base } = harnessCutover(harness, targetEnv);
  const { wrap, ...rest } = extra;
  try {
    const { result, records } = await harness.withLoad(
      () => runLogicalCutover({ ...base, exec: wrap ? wrap(ssh) : ssh, ...rest }),
      { settleMs: 1500, workers: 4 },
    );
    return { report: result, records, switchedAt: switchedAt() };
  } finally {
    ssh.close();
  }
}

const afterSwitch = (records: WriteRecord[], at: number) => records.filter((r) => r.startMs > at);

async function sequenceState(harness: Harness): Promise<{ lastValue: number; maxSeq: number }> {
  const [lastValue, maxSeq] = (
    await harness.next.pg.psql(
      "SELECT (SELECT coalesce(last_value, 0) FROM pg_sequences WHERE sequencename = 'writes_seq_seq') || ' ' || (SELECT coalesce(max(seq), 0) FROM writes)",
      "chatbot",
    )
  ).split(" ");
  return { lastValue: Number(lastValue), maxSeq: Number(maxSeq) };
}

function summary(report: LogicalReport): string {
  return JSON.stringify({
    ok: report.ok,
    committed: report.committed,
    aborted: report.aborted,
    error: report.error,
    syncMs: report.syncMs,
    drainedMs: report.drainedMs,
    fenceMs: report.fenceMs,
    catchupMs: report.catchupMs,
    writeDowntimeMs: report.writeDowntimeMs,
    cache: report.cache,
  });
}

describe("logical-replication cutover into the managed cluster (real PostgreSQL 15 on loopback)", () => {
  it("moves every acknowledged write, sets the sequences, warms the cache and moves traffic under load, failing no request", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const { report, records, switchedAt } = await cutover(h, targetEnv);
    console.log(
      `[scale-out] safe cutover: ${summary(report)}\n${formatTimeline(report.timeline, report.startedAt)}\nload started ${report.startedAt - (records[0]?.startMs ?? 0)} ms before the runner`,
    );
    expect(report.aborted).toBeUndefined();
    expect(report.ok).toBe(true);
    expect(report.committed).toBe(true);
    expect(report.countProblems).toEqual([]);

    const check = await h.check(records, h.next);
    const client = clientFigures(records);
    console.log(
      `[scale-out] safe cutover check: attempted ${check.attempted}, acknowledged ${check.acknowledged}, failed ${check.failed}, unknown ${check.unknown}, lost ${check.lost.length}, redis lost ${check.redisLost.length}, ` +
        `write gap ${check.pgGapMs} ms, front-door gap ${check.frontDoorGapMs} ms, max latency ${client.maxLatencyMs} ms, p99 ${client.p99LatencyMs} ms, load ${os.loadavg()[0]?.toFixed(2)}`,
    );
    const t0 = records[0]?.startMs ?? 0;
    for (const r of records.filter((x) => x.pg !== "ok"))
      console.log(
        `[scale-out] not acknowledged: ${r.pg} status ${r.status} sent +${r.startMs - t0} ms, answered after ${r.endMs - r.startMs} ms: ${r.detail}`,
      );
    expect(check.acknowledged).toBeGreaterThan(50);
    // Every request answered by the app: the Caddy that holds them (the droplet's) is not reloaded when the gate
    // (the app droplets' listener) opens.
    expect(check.failed).toBe(0);
    // KNOWN GAP (target: 0 unknown): a connection opened at the instant the hold reloads the droplet's Caddy can be
    // reset before its TLS handshake finishes (seen once in several runs here, Caddy 2.6.2). Such a request was never
    // sent (the client had not finished TLS), so it is not applied: asserted below. Anything else unknown fails.
    const unsent = records.filter(neverSent);
    expect(records.filter((r) => r.pg === "unknown" && !neverSent(r))).toEqual([]);
    expect(unsent.length).toBeLessThanOrEqual(MAX_NEVER_SENT);
    await expectNowhere(h, unsent);
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
    expect(
      await h.next.pg.psql("SELECT string_agg(tableowner, ',') FROM pg_tables WHERE schemaname = 'public'", "chatbot"),
    ).toBe("chatbot");
    // The droplet's public site forwards to the app droplets, the hold's retry window kept; their gates are open.
    const caddyfile = fs.readFileSync(h.old.caddy.caddyfile, "utf8");
    expect(caddyfile).toContain(
      `\treverse_proxy ${h.next.host}:${INTERNAL_PORT} {\n\t\tlb_try_duration 60s\n\t\tlb_try_interval 50ms\n`,
    );
    expect(caddyfile).not.toContain("#gate-closed#");
    expect(fs.readFileSync(h.next.caddy.caddyfile, "utf8")).toMatch(new RegExp(`^https://:${INTERNAL_PORT} \\{$`, "m"));
    expect(fs.readFileSync(h.next.caddy.caddyfile, "utf8")).not.toContain("#gate-closed#");
    // The source stays read-only: a write straight to it is refused.
    await expect(h.old.pg.psql("INSERT INTO writes (id) VALUES ('after-cutover');", "chatbot")).rejects.toThrow(
      /read-only/,
    );
    expect(await h.next.pg.psql("SELECT count(*) FROM pg_subscription", "chatbot")).toBe("0");
    expect(await h.old.pg.psql("SELECT count(*) FROM pg_replication_slots")).toBe("0");
  }, 240_000);

  it("negative control: without the hold, the fence, the marker wait and setval, the checker reports lost writes and the sequence refuses new ones", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const { report, records, switchedAt } = await cutover(h, targetEnv, {
      wrap: (exec) => unfenced(exec, harnessCutover(h!, targetEnv).source),
      warmCache: false,
    });
    console.log(`[scale-out] unsafe cutover: ${summary(report)}`);
    expect(report.committed).toBe(true);
    const check = await h.check(records, h.next);
    console.log(
      `[scale-out] unsafe cutover check: acknowledged ${check.acknowledged}, lost ${check.lost.length}, failed after switch ${afterSwitch(records, switchedAt).filter((r) => r.pg === "fail").length}`,
    );
    expect(check.lost.length).toBeGreaterThan(0);
    expect(afterSwitch(records, switchedAt).filter((r) => r.pg === "fail").length).toBeGreaterThan(0);
  }, 240_000);

  it("rolls back before the commit point: the droplet takes writes again and nothing acknowledged is lost", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const rendered = fs.readFileSync(h.old.caddy.caddyfile, "utf8");
    // The cutover holds and fences the droplet, then the cluster refuses its setval (the sequence is not where the
    // droplet's is): it does not commit.
    const { report, records } = await cutover(h, targetEnv, {
      wrap: (exec) =>
        beforeCutover(exec, () =>
          h!.next.pg.psql("ALTER SEQUENCE writes_seq_seq RENAME TO writes_seq_moved;", "chatbot"),
        ),
    });
    console.log(`[scale-out] rollback: ${summary(report)}`);
    expect(report.committed).toBe(false);
    expect(report.aborted).toMatch(
      /^cutover exited 1: .*catchup or sequences failed on the subscriber .*: not switched/,
    );
    expect(report.timeline.map((e) => e.step)).toEqual(
      expect.arrayContaining([
        "unfence",
        `gate_bounce ${h.next.droplet.ssh}`,
        "proxy_local",
        "rollback_target",
        `gate_open ${h.next.droplet.ssh}`,
      ]),
    );
    expect(report.rolledBack).toBe(true);
    expect(h.serving()).toBe(h.old);
    expect(fs.readFileSync(h.old.caddy.caddyfile, "utf8")).toBe(rendered);

    const check = await h.check(records, h.old);
    console.log(
      `[scale-out] rollback check: attempted ${check.attempted}, acknowledged ${check.acknowledged}, failed ${check.failed}, unknown ${check.unknown}, lost ${check.lost.length}, max latency ${clientFigures(records).maxLatencyMs} ms`,
    );
    // The requests the droplet's proxy held through the rollback go back to its own app through the app droplet's
    // bounced gate, and its proxy reloads only once none is left waiting to retry (the negative control below: 4 of
    // 4 held requests got Caddy's 502 in each run). Excused, and printed: Caddy 2.6.2's own gap, a bounced request
    // whose TLS handshake met the droplet's Caddy reloading, answered 502 by the app droplet's Caddy, never sent on.
    const held = heldThrough(report, records, "unfence");
    const gap = handshakeFailures(h.next.caddy);
    const excused = records.filter((r) => r.status === 502 && gap.has(`/write/${r.id}`));
    console.log(
      `[scale-out] rollback: ${held.filter((r) => r.status === 200).length} of ${held.length} held requests answered 200; ${excused.length} handshake failure(s) at the reload`,
    );
    expect(held.filter((r) => r.status === 200).length).toBeGreaterThan(0);
    expect(held.filter((r) => r.status !== 200 && !excused.includes(r))).toEqual([]);
    expect(records.filter((r) => r.pg === "fail" && !excused.includes(r))).toEqual([]);
    const unknown = records.filter((r) => r.pg === "unknown");
    if (unknown.length)
      console.log(
        `[scale-out] rollback unknown: ${JSON.stringify(unknown.map((r) => ({ status: r.status, detail: r.detail })))}`,
      );
    expect(unknown.filter((r) => !excused.includes(r) && !neverSent(r))).toEqual([]);
    expect(unknown.length).toBeLessThanOrEqual(MAX_NEVER_SENT);
    await expectNowhere(h, unknown);
    // The app droplets' gates are open again, as before the migration, and their bounce is gone.
    const appCaddyfile = fs.readFileSync(h.next.caddy.caddyfile, "utf8");
    expect(appCaddyfile).not.toContain("#gate-closed#");
    expect(appCaddyfile).not.toContain("gate bounce");
    expect(check.lost).toEqual([]);
    expect(check.failedButPresent).toEqual([]);
    // Held during the fence, acknowledged by the droplet after the rollback.
    const last = records.slice(-20);
    expect(last.every((r) => r.pg === "ok")).toBe(true);
    expect(await h.next.pg.psql("SELECT count(*) FROM pg_subscription", "chatbot")).toBe("0");
    expect(await h.old.pg.psql("SELECT count(*) FROM pg_replication_slots")).toBe("0");
    expect(await h.old.pg.psql("SELECT count(*) FROM pg_publication", "chatbot")).toBe("0");
  }, 240_000);

  it("rolls back before the commit point, negative control: no bounce (its step answered as failed without running): the held requests get Caddy's 502, never applied", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const noBounce =
      (exec: LogicalExecutor): LogicalExecutor =>
      async (cmd) =>
        cmd.step === "gate_bounce" ? { code: 1, stdout: "", stderr: "bounce skipped (negative control)" } : exec(cmd);
    const { report, records } = await cutover(h, targetEnv, {
      wrap: (exec) =>
        noBounce(
          beforeCutover(exec, () =>
            h!.next.pg.psql("ALTER SEQUENCE writes_seq_seq RENAME TO writes_seq_moved;", "chatbot"),
          ),
        ),
    });
    expect(report).toMatchObject({ committed: false, rolledBack: true });
    const held = heldThrough(report, records, "unfence");
    const refused = held.filter((r) => r.status === 502);
    console.log(
      `[scale-out] rollback without the bounce: ${refused.length} of ${held.length} held requests answered 502`,
    );
    expect(refused.length).toBeGreaterThan(0);
    await expectNowhere(h, refused);
    const check = await h.check(records, h.old);
    expect(check.lost).toEqual([]);
  }, 240_000);

  it("a cutover whose answer was lost is found done by the rollback, which goes forward: nothing lost, nothing refused", async () => {
    h = await startHarness();
    const targetEnv = await prepare(h);
    const { report, records } = await cutover(h, targetEnv, {
      wrap: (exec) => failAfter(exec, { after: "cutover", code: 255 }),
      warmCache: false,
    });
    console.log(`[scale-out] lost answer: ${summary(report)}`);
    expect(report.committed).toBe(true);
    expect(report.rolledBack).toBeUndefined();
    expect(report.timeline.map((e) => e.step)).not.toContain("rollback_target");
    const check = await h.check(records, h.next);
    console.log(
      `[scale-out] lost answer check: acknowledged ${check.acknowledged}, failed ${check.failed}, unknown ${check.unknown}, lost ${check.lost.length}, write gap ${check.pgGapMs} ms`,
    );
    // The held requests wait through the rollback's unfence (exit 7) until the gates open: none is answered by Caddy
    // (the hold's reload may reset a connection before its TLS handshake: see the first test's KNOWN GAP).
    expect(check.failed).toBe(0);
    for (const r of records.filter((x) => x.pg !== "ok"))
      console.log(`[scale-out] lost answer, not acknowledged: ${r.pg} status ${r.status}: ${r.detail}`);
    expect(records.filter((r) => r.pg === "unknown" && !neverSent(r))).toEqual([]);
    expect(records.filter(neverSent).length).toBeLessThanOrEqual(MAX_NEVER_SENT);
    await expectNowhere(h, records.filter(neverSent));
    expect(check.lost).toEqual([]);
    await expect(h.old.pg.psql("INSERT INTO writes (id) VALUES ('after-cutover');", "chatbot")).rejects.toThrow(
      /read-only/,
    );
  }, 240_000);
});
