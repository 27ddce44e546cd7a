/**
 * The Redis handover inside the write gap (migrate.sh step_redis_failover): the old server pauses writes, asks the
 * new one for its offset, and forces the FAILOVER only once the new one has everything. Redis's own FAILOVER check
 * waits for the replica's acknowledgement, which a Redis 7.0 replica sends once a second: that wait is gone from the
 * gap, so the check that replaces it must hold on its own. Real servers, over TLS, through the real runner.
 */
import { describe, expect, it } from "vitest";
import type { StepResult } from "../../infra/migration/runner";
import { runningServers } from "../support/servers";
import { withHarness } from "./harness";

const TIMEOUT = 300_000;

describe("the Redis handover in the write gap", () => {
  it("hands over in one pass with the new server's offset checked first; the old one follows without a full resync", { timeout: TIMEOUT }, () =>
    withHarness(async (h) => {
      let handover: StepResult | undefined;
      const report = await h.migrate({
        strategy: "replicate",
        skipBackup: true,
        wrap: (exec) => async (cmd, hooks) => {
          const r = await exec(cmd, hooks);
          if (cmd.step === "redis_failover") handover = r;
          return r;
        },
      });
      expect(report.outcome).toBe("done");
      expect(handover?.code).toBe(0);
      // The check ran before the FAILOVER (its figure comes first) and the handover finished.
      expect(handover?.stdout).toMatch(/^redis_synced_ms=\d+\nredis_failover_ms=\d+\n$/);
      expect(await h.old.redis.cli("INFO", "replication")).toMatch(new RegExp(`role:slave\\s+master_host:${h.next.host}\\s+master_port:${h.next.redis.port}\\s+master_link_status:up`));
      // The new server's history continues the old one's: the old server resynchronised partially, not from a copy.
      expect(await h.next.redis.cli("INFO", "stats")).toMatch(/sync_full:0\s/);
      // Writes on the old server are not left paused (CLIENT UNPAUSE): a replica answers a write at once, refusing it.
      expect(await h.old.redis.cli("SET", "after-handover", "1").catch((e: Error) => e.message)).toMatch(/READONLY/);
    }));

  it("refuses to force the FAILOVER while the new server is behind, and the old server stays the master", { timeout: TIMEOUT }, () =>
    withHarness(async (h) => {
      let handover: StepResult | undefined;
      let oldRole = "";
      const report = await h.migrate({
        strategy: "replicate",
        skipBackup: true,
        wrap: (exec) => async (cmd, hooks) => {
          if (cmd.step === "redis_failover") {
            // The new server stops following (its master now a port where nothing listens), then the old one takes
            // a write the new one never receives: the new server is behind the old one's offset.
            await h.next.redis.cli("REPLICAOF", "127.0.0.1", "1");
            await h.old.redis.cli("SET", "only-on-old", "1");
          }
          const r = await exec(cmd, hooks);
          if (cmd.step === "redis_failover") {
            handover = r;
            oldRole = await h.old.redis.cli("ROLE");
          }
          return r;
        },
      });
      expect(handover?.code).not.toBe(0);
      expect(handover?.stderr).toMatch(/did not reach offset \d+/);
      // No FAILOVER was forced: right after the refused step the old server is still the master.
      expect(oldRole).toMatch(/^master/);
      // The runner's fallback (redis_promote) makes the new one a master alone; PostgreSQL had committed already.
      expect(report.committed).toBe(true);
      expect(await h.next.redis.cli("ROLE")).toMatch(/^master/);
    }));

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
