/** The runner's decisions (strategy, budgets, abort, rollback, commit point), driven by a scripted executor. */
import { describe, expect, it } from "vitest";
import type { Droplet, StepCommand, StepName } from "../../infra/migration/commands";
import { type RunnerOptions, type StepResult, plannedCommands, runMigration } from "../../infra/migration/runner";

const old: Droplet = { ssh: "root@old", privateAddress: "10.0.0.2" };
const next: Droplet = { ssh: "root@new", privateAddress: "10.0.0.3" };

type Script = Partial<Record<StepName, (side: "old" | "new") => Partial<StepResult> | string>>;

const DEFAULT_OUTPUT: Script = {
  preflight: () => "pg_running=1\npg_version_num=150010\npg_in_recovery=f\ndb_bytes=1000000\ncluster_bytes=2000000\n",
  backup: () => "backup_file=/var/lib/chatbot/backups/pre-migration-t.dump\n",
  standby: () => "copied_bytes=2000000\ncopy_ms=100\n",
  catchup: () => "pg_lag_bytes=0\n",
  counts: () => "count.public.writes=5\n",
  fence: () => "fence_lsn=0/3000148\n",
  dump_restore: () => "dump_bytes=10\ndump_ms=5\nrestore_ms=5\n",
};

function fakeRun(script: Script = {}, extra: Partial<RunnerOptions> = {}) {
  const calls: string[] = [];
  let traffic = 0;
  const exec = async (cmd: StepCommand): Promise<StepResult> => {
    calls.push(`${cmd.side}:${cmd.step}`);
    const out = (script[cmd.step] ?? DEFAULT_OUTPUT[cmd.step])?.(cmd.side) ?? "";
    return typeof out === "string" ? { code: 0, stdout: out, stderr: "" } : { code: 0, stdout: "", stderr: "", ...out };
  };
  const done = runMigration({ old, next, exec, moveTraffic: async () => void traffic++, id: "t", ...extra });
  return { calls, done, traffic: () => traffic };
}

describe("migration runner", () => {
  it("replicate: runs the planned steps in order, commits, moves traffic once", async () => {
    const run = fakeRun();
    const report = await run.done;
    expect(report).toMatchObject({ ok: true, committed: true, strategy: { strategy: "replicate" } });
    expect(run.traffic()).toBe(1);
    const planned = plannedCommands(old, next, "replicate", { id: "t" }).flatMap(({ cmd }) => (typeof cmd === "string" ? [] : [`${cmd.side}:${cmd.step}`]));
    expect([...run.calls].sort()).toEqual([...planned].sort());
    expect(run.calls.indexOf("old:fence")).toBeLessThan(run.calls.indexOf("new:promote"));
    expect(run.calls.indexOf("new:promote")).toBeLessThan(run.calls.indexOf("new:health"));
    expect(report.writeDowntimeMs).toBeGreaterThanOrEqual(0);
  });

  it("promote refused (standby behind, exit 4): rolls back both sides, traffic stays", async () => {
    const run = fakeRun({ promote: () => ({ code: 4, stderr: "standby did not replay up to 0/3000148" }) });
    const report = await run.done;
    expect(report).toMatchObject({ ok: false, committed: false, rolledBack: true });
    expect(report.aborted).toMatch(/promote on new exited 4: standby did not replay/);
    expect(run.calls).toContain("new:rollback_new");
    expect(run.calls).toContain("old:rollback_old");
    expect(run.traffic()).toBe(0);
  });

  it("promote uncertain (exit 5): past the commit point, no automatic rollback", async () => {
    const run = fakeRun({ promote: () => ({ code: 5, stderr: "commit point uncertain" }) });
    const report = await run.done;
    expect(report).toMatchObject({ ok: false, committed: true });
    expect(report.error).toMatch(/commit point uncertain/);
    expect(run.calls).not.toContain("old:rollback_old");
  });

  it("aborts at preflight when the estimate breaks the migration budget, before any backup or copy", async () => {
    const huge = "pg_running=1\npg_version_num=150010\npg_in_recovery=f\ndb_bytes=1e12\ncluster_bytes=1000000000000\n";
    const run = fakeRun({ preflight: () => huge });
    const report = await run.done;
    expect(report.aborted).toMatch(/preflight: .* exceeds migrationBudgetMinutes 30/);
    expect(run.calls).not.toContain("old:backup");
    expect(run.calls).not.toContain("new:standby");
    expect(run.calls).toContain("old:rollback_old");
  });

  it("aborts before the fence when replication lag says the downtime budget cannot hold", async () => {
    const run = fakeRun({ catchup: () => "pg_lag_bytes=99999999999\n" }, { budgets: { downtimeBudgetSeconds: 20, migrationBudgetMinutes: 30 } });
    const report = await run.done;
    expect(report.aborted).toMatch(/before cutover: estimated write downtime .* exceeds downtimeBudgetSeconds 20/);
    expect(run.calls).not.toContain("old:fence");
    expect(run.calls).toContain("new:rollback_new");
    expect(report.committed).toBe(false);
  });

  it("chooses dump-restore across major versions and says why; refuses replicate there", async () => {
    const pre = (side: "old" | "new") => `pg_running=1\npg_in_recovery=f\ndb_bytes=1000\ncluster_bytes=1000\npg_version_num=${side === "old" ? 150010 : 160002}\n`;
    const auto = await fakeRun({ preflight: pre }).done;
    expect(auto.strategy).toEqual({ strategy: "dump-restore", reason: expect.stringMatching(/15 -> 16 crosses a major version/) });
    expect(auto.committed).toBe(true);
    const forced = await fakeRun({ preflight: pre }, { strategy: "replicate" }).done;
    expect(forced.aborted).toMatch(/strategy replicate needs the same PostgreSQL major version/);
  });

  it("dump-restore: a count mismatch after restore rolls back (old unfrozen), traffic stays", async () => {
    let n = 0;
    const run = fakeRun({ counts: () => `count.public.writes=${n++ === 0 ? 5 : 4}\n` }, { strategy: "dump-restore" });
    const report = await run.done;
    expect(report.aborted).toMatch(/restored data differs: public.writes: 5 rows on the old server, 4 on the new/);
    expect(run.calls).toContain("old:rollback_old");
    expect(run.traffic()).toBe(0);
  });

  it("falls back to promoting the Redis replica when FAILOVER fails", async () => {
    const run = fakeRun({ redis_failover: () => ({ code: 1, stderr: "FAILOVER refused" }) });
    const report = await run.done;
    expect(report.ok).toBe(true);
    expect(run.calls).toContain("new:redis_promote");
  });

  it("fault injection stops right after the named point and rolls back", async () => {
    const run = fakeRun({}, { faultAfter: "fence" });
    const report = await run.done;
    expect(report.aborted).toBe("fault injected after fence");
    expect(run.calls).not.toContain("new:promote");
    expect(run.calls.slice(-2)).toEqual(["new:rollback_new", "old:rollback_old"]);
  });
});
