/**
 * The scale-out migration's command builders (exact command lines), the target env file, and the runner's
 * decisions (order, budget aborts, rollback, commit point) driven by a scripted executor.
 */
import { describe, expect, it } from "vitest";
import type { Droplet } from "../../infra/migration/commands";
import { LOGICAL_SCRIPT, logicalCommands, renderTargetEnv, sequenceValues, splitCounts, type TargetEndpoints } from "../../infra/scale-out-migration/commands";
import { sourceDroplet } from "../../infra/scale-out-migration/cli-core";
import { type LogicalRunnerOptions, runLogicalCutover } from "../../infra/scale-out-migration/runner";
import { scaleOutMigrateCommandLine } from "../../infra/components/scale-out-migration";

const SOURCE: Droplet = { ssh: "root@203.0.113.5", privateAddress: "10.10.0.5", runtime: "container" };

describe("logical.sh command lines", () => {
  const c = logicalCommands(SOURCE);

  it("sends the script on stdin with the runtime in an env prefix, over ssh to the droplet", () => {
    const cmd = c.subscribe();
    expect(cmd.remote).toBe("env CHATBOT_RUNTIME=container bash -s -- subscribe 10.10.0.5 5432");
    expect(cmd.argv).toEqual(["ssh", "root@203.0.113.5", cmd.remote]);
    expect(cmd.stdinFile).toBe(LOGICAL_SCRIPT);
  });

  it.each([
    [() => c.preflight(), "preflight"],
    [() => c.sync(1800), "sync 1800"],
    [() => c.fence("c20261128"), "fence c20261128"],
    [() => c.catchup("c20261128", 150), "catchup c20261128 150"],
    [() => c.traffic(["10.10.0.7:80", "10.10.0.8:80"]), "traffic 10.10.0.7:80 10.10.0.8:80"],
    [() => c.rollbackTarget(), "rollback_target"],
    [() => c.cacheWarm(), "cache_warm"],
  ])("%#: %s", (build, tail) => {
    expect(build().remote).toBe(`env CHATBOT_RUNTIME=container bash -s -- ${tail}`);
  });

  it("refuses ids and upstreams that would reach SQL or the Caddyfile unchecked", () => {
    expect(() => c.fence("x'; DROP TABLE writes; --")).toThrow(/^id: .* must be 1-64 letters/);
    expect(() => c.traffic(["10.0.0.1"])).toThrow(/must be host:port/);
    expect(() => c.traffic([])).toThrow(/at least one upstream/);
    expect(() => c.sync(0)).toThrow(/sync timeout: 0 must be a whole number of seconds/);
  });

  it("refuses secret-looking names in the env prefix (they belong in the env files)", () => {
    expect(() => logicalCommands({ ...SOURCE, env: { TARGET_PGPASSWORD: "x" } }).preflight()).toThrow(/looks like a secret/);
  });

  it("parses counts and sequence values", () => {
    const counts = splitCounts({ "source.public.writes": "10", "target.public.writes": "9", other: "x" });
    expect([...counts.source]).toEqual([["public.writes", 10]]);
    expect([...counts.target]).toEqual([["public.writes", 9]]);
    expect(sequenceValues({ sequences: "1", "seq.public.writes_seq_seq": "742" })).toEqual({ "public.writes_seq_seq": 742 });
  });
});

describe("the target env file", () => {
  const t: TargetEndpoints = {
    pg: { host: "private-db.example", port: 25060, user: "doadmin", password: "pw1", database: "chatbot", sslmode: "require", appUser: "chatbot" },
    redis: { host: "private-cache.example", port: 25061, user: "default", password: "pw2", tls: true },
  };

  it("holds every endpoint, single-quoted", () => {
    const text = renderTargetEnv(t);
    expect(text).toContain("TARGET_PGPASSWORD='pw1'\n");
    expect(text).toContain("TARGET_REDIS_TLS='1'\n");
    expect(text.split("\n").filter((l) => l.startsWith("TARGET_"))).toHaveLength(12);
  });

  it("refuses values that could break out of the quotes", () => {
    expect(() => renderTargetEnv({ ...t, pg: { ...t.pg, password: "a'b" } })).toThrow(/^TARGET_PGPASSWORD: must not contain/);
    expect(() => renderTargetEnv({ ...t, redis: { ...t.redis, password: "$(id)" } })).toThrow(/^TARGET_REDIS_PASSWORD/);
  });
});

describe("the CLI's inputs and the stack's command line", () => {
  it("validates the source", () => {
    expect(() => sourceDroplet({ source: "203.0.113.5", sourcePrivate: "10.0.0.1" })).toThrow(/^source: .* must be user@host/);
    expect(() => sourceDroplet({ source: "root@203.0.113.5", sourcePrivate: "x" })).toThrow(/^sourcePrivate/);
  });

  it("puts hosts and budgets on the line, the key only in the environment", () => {
    const line = scaleOutMigrateCommandLine({ user: "root", sourceIp: "203.0.113.5", sourcePrivate: "10.10.0.5", upstreams: ["10.10.0.7:80"] }, { downtimeBudgetSeconds: 120, migrationBudgetMinutes: 45 });
    expect(line).toContain("node --import tsx scripts/scale-out-migrate.ts --source root@203.0.113.5 --source-private 10.10.0.5 --upstreams 10.10.0.7:80 --downtime-budget 120 --migration-budget 45");
    expect(line).toContain('"$CHATBOT_SSH_PRIVATE_KEY" > "$key"');
  });
});

/** A scripted droplet: answers each step with canned key=value output, records the order. */
function scripted(answers: Partial<Record<string, { code?: number; out?: string }>>) {
  const calls: string[] = [];
  const exec: LogicalRunnerOptions["exec"] = async (cmd) => {
    calls.push(cmd.step);
    const a = answers[cmd.step] ?? {};
    return { code: a.code ?? 0, stdout: a.out ?? "", stderr: a.code ? `boom in ${cmd.step}` : "" };
  };
  return { calls, exec };
}

const HAPPY = {
  preflight: { out: "wal_level=logical\nsource_version_num=150010\ntarget_version_num=150008\ndb_bytes=1000000\ntables_without_pk=\n" },
  sync: { out: "sync_ms=900\nlag_bytes=0\n" },
  lag: { out: "lag_bytes=1024\n" },
  catchup: { out: "catchup_ms=120\n" },
  sequences: { out: "sequences=1\nseq.public.writes_seq_seq=42\n" },
  counts: { out: "source.public.writes=42\ntarget.public.writes=42\n" },
  cache_warm: { out: "warm_keys=10\nwarm_skipped=0\nwarm_ms=3\n" },
};

describe("the runner", () => {
  it("runs the steps in order and moves traffic once, after the counts match", async () => {
    const { calls, exec } = scripted(HAPPY);
    let moved = 0;
    const r = await runLogicalCutover({ source: SOURCE, exec, moveTraffic: async () => void moved++, id: "t1" });
    expect(calls).toEqual(["preflight", "schema", "publish", "subscribe", "sync", "lag", "fence", "catchup", "sequences", "counts", "finish", "cache_warm"]);
    expect(moved).toBe(1);
    expect(r).toMatchObject({ ok: true, committed: true, sequences: { "public.writes_seq_seq": 42 }, cache: { keys: 10 }, countProblems: [] });
  });

  it("rolls back (target, then the fence) and never moves traffic when the counts differ", async () => {
    const { calls, exec } = scripted({ ...HAPPY, counts: { out: "source.public.writes=42\ntarget.public.writes=41\n" } });
    let moved = 0;
    const r = await runLogicalCutover({ source: SOURCE, exec, moveTraffic: async () => void moved++ });
    expect(moved).toBe(0);
    expect(r).toMatchObject({ committed: false, rolledBack: true });
    expect(r.aborted).toMatch(/row counts differ after the fence: public.writes: 42 rows on the old server, 41 on the new/);
    expect(calls.slice(-2)).toEqual(["rollback_target", "unfence"]);
  });

  it("aborts before the fence when the lag is above the limit, without unfencing what was never fenced", async () => {
    const { calls, exec } = scripted({ ...HAPPY, lag: { out: "lag_bytes=999999999\n" } });
    const r = await runLogicalCutover({ source: SOURCE, exec, moveTraffic: async () => undefined });
    expect(r.aborted).toMatch(/streaming lag 999999999 bytes/);
    expect(calls).not.toContain("fence");
    expect(calls.slice(-1)).toEqual(["rollback_target"]);
  });

  it("aborts at preflight when the database cannot be copied within the migration budget", async () => {
    const { calls, exec } = scripted({ ...HAPPY, preflight: { out: "wal_level=logical\nsource_version_num=150010\ntarget_version_num=150008\ndb_bytes=100000000000\n" } });
    const r = await runLogicalCutover({ source: SOURCE, exec, moveTraffic: async () => undefined, budgets: { downtimeBudgetSeconds: 300, migrationBudgetMinutes: 30 } });
    expect(r.aborted).toMatch(/exceeds migrationBudgetMinutes 30/);
    expect(calls).toEqual(["preflight"]);
    expect(r.rolledBack).toBe(true);
  });

  it("refuses a managed cluster older than the source", async () => {
    const { exec } = scripted({ ...HAPPY, preflight: { out: "wal_level=logical\nsource_version_num=160002\ntarget_version_num=150008\ndb_bytes=1\n" } });
    const r = await runLogicalCutover({ source: SOURCE, exec, moveTraffic: async () => undefined });
    expect(r.aborted).toMatch(/older than the source/);
  });

  it("after the commit point, a failure is reported for an operator, not rolled back", async () => {
    const { calls, exec } = scripted({ ...HAPPY, finish: { code: 1 } });
    const r = await runLogicalCutover({ source: SOURCE, exec, moveTraffic: async () => undefined });
    expect(r.committed).toBe(true);
    expect(r.error).toMatch(/finish exited 1/);
    expect(calls).not.toContain("rollback_target");
  });

  it("a traffic switch that fails (and so moved nothing) rolls back: the source takes writes again", async () => {
    const { calls, exec } = scripted(HAPPY);
    const r = await runLogicalCutover({ source: SOURCE, exec, moveTraffic: async () => { throw new Error("proxy reload failed"); } });
    expect(r).toMatchObject({ committed: false, rolledBack: true });
    expect(r.aborted).toBe("proxy reload failed");
    expect(calls.slice(-2)).toEqual(["rollback_target", "unfence"]);
  });
});
