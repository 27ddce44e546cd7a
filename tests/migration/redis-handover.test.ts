/**
 * The Redis handover inside the write gap. The usual way: the old server pauses its writes in the fence (after the
 * hold's drain) and reports its offset; the new one, in the promotion's round trip, takes over by itself once it has
 * processed that much (REPLICAOF NO ONE), and the old one then follows it. The fallback, when the fence brought no
 * offset or the new server was behind it: the old server's checked FAILOVER (migrate.sh step_redis_failover), which
 * forces the handover only once the new one has everything. Real servers, over TLS, through the real runner.
 */
import { describe, expect, it } from "vitest";
import type { StepResult } from "../../infra/migration/runner";
import { runningServers } from "../support/servers";
import { withHarness } from "./harness";

const TIMEOUT = 300_000;

describe("the Redis handover in the write gap", () => {
  it(
    "the new server takes over at the old one's paused offset, in the promotion's round trip; the old one follows without a full resync",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const seen: Record<string, StepResult> = {};
        let pausedWrite: Promise<string> | undefined;
        const report = await h.migrate({
          strategy: "replicate",
          skipBackup: true,
          wrap: (exec) => async (cmd, hooks) => {
            const r = await exec(cmd, hooks);
            seen[cmd.step] = r;
            // Right after the fence, a write to the old server waits (paused), and is refused once it follows.
            if (cmd.step === "fence")
              pausedWrite = h.old.redis.cli("SET", "written-while-paused", "1").catch((e: Error) => e.message);
            return r;
          },
        });
        expect(report.outcome).toBe("done");
        expect(seen.fence?.stdout).toMatch(/^redis_offset=\d+$/m);
        expect(seen.promote?.stdout).toMatch(/^redis_took_over=1\n(.*\n)*gate=open$/m);
        expect(seen.redis_follow?.stdout).toBe("redis_following=1\n");
        expect(Object.keys(seen)).not.toContain("redis_failover");
        expect(await h.old.redis.cli("INFO", "replication")).toMatch(
          new RegExp(
            `role:slave\\s+master_host:${h.next.host}\\s+master_port:${h.next.redis.port}\\s+master_link_status:up`,
          ),
        );
        expect(await h.next.redis.cli("INFO", "stats")).toMatch(/sync_full:0\s/);
        // The write sent while paused was never applied: the old server refused it as a replica, the new one lacks it.
        expect(await pausedWrite).toMatch(/READONLY/);
        expect(await h.next.redis.cli("EXISTS", "written-while-paused")).toBe("0");
        expect(await h.old.redis.cli("SET", "after-handover", "1").catch((e: Error) => e.message)).toMatch(/READONLY/);
      }),
  );

  it(
    "without the fence's offset: hands over in one pass with the new server's offset checked first; the old one follows without a full resync",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        let handover: StepResult | undefined;
        const report = await h.migrate({
          strategy: "replicate",
          skipBackup: true,
          wrap: (exec) => async (cmd, hooks) => {
            const r = await exec(cmd, hooks);
            if (cmd.step === "redis_failover") handover = r;
            // An old droplet that did not pause its Redis (no offset): the runner's FAILOVER hands over.
            if (cmd.step === "fence") return { ...r, stdout: r.stdout.replace(/^redis_offset=.*\n/m, "") };
            return r;
          },
        });
        expect(report.outcome).toBe("done");
        expect(handover?.code).toBe(0);
        // The check ran before the FAILOVER (its figure comes first) and the handover finished.
        expect(handover?.stdout).toMatch(/^redis_synced_ms=\d+\nredis_failover_ms=\d+\n$/);
        expect(await h.old.redis.cli("INFO", "replication")).toMatch(
          new RegExp(
            `role:slave\\s+master_host:${h.next.host}\\s+master_port:${h.next.redis.port}\\s+master_link_status:up`,
          ),
        );
        // The new server's history continues the old one's: the old server resynchronised partially, not from a copy.
        expect(await h.next.redis.cli("INFO", "stats")).toMatch(/sync_full:0\s/);
        // Writes on the old server are not left paused (CLIENT UNPAUSE): a replica answers a write at once, refusing it.
        expect(await h.old.redis.cli("SET", "after-handover", "1").catch((e: Error) => e.message)).toMatch(/READONLY/);
      }),
  );

  it(
    "a new server behind the old one's offset neither takes over nor gets a forced FAILOVER, and the old server stays the master",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        let handover: StepResult | undefined;
        let promote: StepResult | undefined;
        let oldRole = "";
        const report = await h.migrate({
          strategy: "replicate",
          skipBackup: true,
          wrap: (exec) => async (cmd, hooks) => {
            if (cmd.step === "fence") {
              // The new server stops following (its master now a port where nothing listens), then the old one takes
              // a write the new one never receives: the new server is behind the offset the fence reports.
              await h.next.redis.cli("REPLICAOF", "127.0.0.1", "1");
              await h.old.redis.cli("SET", "only-on-old", "1");
            }
            const r = await exec(cmd, hooks);
            if (cmd.step === "promote") promote = r;
            if (cmd.step === "redis_failover") {
              handover = r;
              oldRole = await h.old.redis.cli("ROLE");
            }
            return r;
          },
        });
        // The promotion did not make the new Redis a master, so the gate stayed closed for the runner's fallback.
        expect(promote?.stdout).toMatch(/^redis_took_over=0\ngate=closed$/m);
        expect(handover?.code).not.toBe(0);
        expect(handover?.stderr).toMatch(/did not reach offset \d+/);
        // No FAILOVER was forced: right after the refused step the old server is still the master.
        expect(oldRole).toMatch(/^master/);
        // The runner's fallback (redis_promote) makes the new one a master alone; PostgreSQL had committed already.
        expect(report.committed).toBe(true);
        expect(await h.next.redis.cli("ROLE")).toMatch(/^master/);
      }),
  );

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
