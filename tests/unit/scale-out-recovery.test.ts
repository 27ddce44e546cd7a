/**
 * An interrupted scale-out move: where it stands (infra/scale-out-migration/status.ts, from what logical.sh `state`
 * prints), a new run refusing an earlier one's leftovers, and the two recoveries (rollbackLogical, resumeLogical)
 * against a scripted droplet. The same, for real over ssh after a killed CLI: tests/scale-out/recovery.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  type LogicalRunnerOptions,
  resumeLogical,
  rollbackLogical,
  runLogicalCutover,
} from "../../infra/scale-out-migration/runner";
import { formatStatus, readState, type ScaleOutState, statusOf } from "../../infra/scale-out-migration/status";
import { APP_NODES, BOUNCED_ROLLBACK, CLEAN, HAPPY, SOURCE, scripted, UPSTREAMS } from "./scale-out-scripted";

const NOTHING: ScaleOutState = { switched: "", fenced: false, publication: false, slot: false, subscription: false };
const opts = (exec: LogicalRunnerOptions["exec"]): LogicalRunnerOptions => ({
  source: SOURCE,
  exec,
  upstreams: UPSTREAMS,
  appNodes: APP_NODES,
});
const OPEN = ["gate_open root@a1", "gate_open root@a2"];
const state = (s: string) => ({ state: { out: s } });
const BEFORE = "switched=\nswitched_at=\nfenced=1\npublication=1\nslot=1\nsubscription=1\n";
const AFTER = "switched=c1\nswitched_at=2026-12-08T03:00:00.000Z\nfenced=1\npublication=1\nslot=1\nsubscription=1\n";
const DONE = "switched=c1\nswitched_at=2026-12-08T03:00:00.000Z\nfenced=1\npublication=0\nslot=0\nsubscription=0\n";

describe("where an interrupted scale-out move stands", () => {
  it.each([
    ["nothing left", NOTHING, "none"],
    ["a publication only (stopped right after publish)", { ...NOTHING, publication: true }, "before-commit"],
    ["a subscription only (the slot dropped by hand)", { ...NOTHING, subscription: true }, "before-commit"],
    ["the fence only (a rollback cut after the subscription went)", { ...NOTHING, fenced: true }, "before-commit"],
    ["the fence and replication", { ...NOTHING, fenced: true, publication: true, slot: true }, "before-commit"],
    ["the commit record and replication", { ...NOTHING, switched: "c1", fenced: true, slot: true }, "after-commit"],
    [
      "the commit record, the cluster silent, the publication still here",
      { ...NOTHING, switched: "c1", publication: true, subscription: "unknown" as const },
      "after-commit",
    ],
    ["the commit record, replication ended", { ...NOTHING, switched: "c1", fenced: true }, "done"],
  ])("%s: %s", (_name, s, phase) => {
    const st = statusOf(s);
    expect(st.phase).toBe(phase);
    if (phase === "before-commit") expect(st.next).toMatch(/^--rollback/);
    else if (phase === "after-commit") expect(st.next).toMatch(/^--resume/);
    else expect(st.next).toBeUndefined();
  });

  it("reads the step's keys, refusing a value it does not know", () => {
    expect(
      readState({
        switched: "c1",
        switched_at: "t",
        fenced: "1",
        publication: "0",
        slot: "0",
        subscription: "unknown",
      }),
    ).toEqual({
      switched: "c1",
      switchedAt: "t",
      fenced: true,
      publication: false,
      slot: false,
      subscription: "unknown",
    });
    expect(() => readState({ fenced: "yes", publication: "0", slot: "0", subscription: "0" })).toThrow(
      /fenced=yes is not 0 or 1/,
    );
  });

  it("prints the phase and the advice as `migrate --status` prints its own (two-space indented key, value)", () => {
    const text = formatStatus("root@203.0.113.5", statusOf({ ...NOTHING, fenced: true, publication: true }));
    expect(text).toMatch(/^ {2}phase +before-commit$/m);
    expect(text).toMatch(/^ {2}left +the fence \(the droplet's database is read-only\); the publication$/m);
    expect(text).toMatch(/^ {2}next +--rollback /m);
    expect(formatStatus("x", statusOf(NOTHING))).not.toMatch(/^ {2}next/m);
  });
});

describe("a plain run on an earlier run's leftovers (what the next `pulumi up` runs)", () => {
  /** The droplet as `left` says until the first step that changes it (the rollback's unfence), clean after. */
  function leftUntilUndone(left: string) {
    let now = left;
    const { calls, exec } = scripted({});
    const answer: LogicalRunnerOptions["exec"] = async (cmd, ...rest) => {
      const r = await exec(cmd, ...rest);
      if (cmd.step === "unfence") now = CLEAN;
      const canned: Record<string, string> = { state: now, preflight: HAPPY.preflight.out.replace(CLEAN, now) };
      const happy = (HAPPY as Record<string, { out: string } | undefined>)[cmd.step];
      return {
        ...r,
        stdout: canned[cmd.step] ?? (cmd.step === "unfence" ? "unfenced=1\nhold=kept\n" : (happy?.out ?? "")),
      };
    };
    return { calls, exec: answer };
  }

  it("stopped before the commit point: rolls it back (the held requests bounced), then moves afresh", async () => {
    const { calls, exec } = leftUntilUndone(BEFORE);
    const events: string[] = [];
    const r = await runLogicalCutover({ ...opts(exec), onEvent: (e) => e.kind === "info" && events.push(e.message) });
    expect(calls.slice(0, 10)).toEqual(["preflight", "state", "proxy_cert", ...BOUNCED_ROLLBACK, ...OPEN]);
    expect(calls.slice(10, 12)).toEqual(["preflight", "schema"]);
    expect(calls.at(-1)).toBe("finish");
    expect(r).toMatchObject({ ok: true, committed: true, recovered: "rolled-back" });
    expect(events.join("\n")).toMatch(/an earlier run left .*\(phase before-commit\)[\s\S]*starts afresh/);
    // One timeline from the first preflight to the end.
    expect(r.timeline.map((e) => e.step).filter((s) => s === "preflight")).toHaveLength(2);
  });

  it("stopped after the commit point: finishes it, copying nothing again", async () => {
    const { calls, exec } = leftUntilUndone(AFTER);
    const r = await runLogicalCutover(opts(exec));
    expect(calls).toEqual(["preflight", "state", ...OPEN, "counts", "cache_warm", "finish"]);
    expect(r).toMatchObject({ ok: true, committed: true, recovered: "resumed" });
  });

  it("done: touches nothing", async () => {
    const { calls, exec } = leftUntilUndone(DONE);
    const r = await runLogicalCutover(opts(exec));
    expect(calls).toEqual(["preflight", "state"]);
    expect(r).toMatchObject({ ok: true, committed: true, recovered: "resumed" });
  });

  it("a rollback that cannot finish stops there (exit 3 in the CLI), never moving afresh on top of it", async () => {
    const { calls, exec } = leftUntilUndone(BEFORE);
    const failing: LogicalRunnerOptions["exec"] = async (cmd, ...rest) =>
      cmd.step === "rollback_target" ? { code: 1, stdout: "", stderr: "cluster gone" } : exec(cmd, ...rest);
    const r = await runLogicalCutover(opts(failing));
    expect(calls).not.toContain("schema");
    expect(r).toMatchObject({ committed: false, rolledBack: false, recovered: "rolled-back" });
  });

  it("a clean droplet: no state step, straight on (the control)", async () => {
    const { calls, exec } = scripted(HAPPY);
    const r = await runLogicalCutover(opts(exec));
    expect(r.ok).toBe(true);
    expect(r.recovered).toBeUndefined();
    expect(calls.slice(0, 2)).toEqual(["preflight", "schema"]);
  });
});

describe("--rollback", () => {
  it("before the commit point: unfences, bounces the held requests to the droplet's app, drops the subscription, opens the gates", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(BEFORE), unfence: { out: "unfenced=1\nhold=kept\n" } });
    const seen: string[][] = [];
    const r = await rollbackLogical(
      opts(async (cmd, ...rest) => {
        seen.push([cmd.step, ...cmd.args]);
        return exec(cmd, ...rest);
      }),
    );
    expect(calls).toEqual(["state", "proxy_cert", ...BOUNCED_ROLLBACK, ...OPEN]);
    expect(seen.find(([step]) => step === "unfence")).toEqual(["unfence", "keep-hold"]);
    expect(r).toMatchObject({ rolledBack: true, committed: false });
    expect(r.refused).toBeUndefined();
  });

  it("without the droplet's certificate: no bounce (the held requests get Caddy's 502, never applied)", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(BEFORE), proxy_cert: { code: 1 } });
    const r = await rollbackLogical(opts(exec));
    expect(calls).toEqual(["state", "proxy_cert", "unfence", "rollback_target", ...OPEN]);
    expect(r.rolledBack).toBe(true);
  });

  it("past the commit point: refused, nothing touched", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(AFTER) });
    const r = await rollbackLogical(opts(exec));
    expect(calls).toEqual(["state"]);
    expect(r.refused).toMatch(/past the commit point .*--resume/);
  });

  it("a commit that landed meanwhile (unfence answers 7): refused, nothing else touched", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(BEFORE), unfence: { code: 7, out: "switched=1\n" } });
    const r = await rollbackLogical(opts(exec));
    expect(calls).toEqual(["state", "proxy_cert", "unfence"]);
    expect(r.refused).toMatch(/committed meanwhile/);
  });

  it("an incomplete rollback (the cluster gone) says so", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(BEFORE), rollback_target: { code: 1 } });
    const r = await rollbackLogical(opts(exec));
    // The gates stay as the bounce left them: forwarding to the droplet, which serves.
    expect(calls).toEqual(["state", "proxy_cert", ...BOUNCED_ROLLBACK]);
    expect(r.rolledBack).toBe(false);
    expect(r.aborted).toMatch(/rollback incomplete: .*rollback_target/);
  });
});

describe("--resume", () => {
  it("after the commit point: opens the gates, compares the counts, ends replication, warms the cache", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(AFTER) });
    const r = await resumeLogical(opts(exec));
    expect(calls).toEqual(["state", ...OPEN, "counts", "cache_warm", "finish"]);
    expect(r).toMatchObject({ ok: true, committed: true });
    expect(r.status?.switchedAt).toBe("2026-12-08T03:00:00.000Z");
  });

  it("before the commit point: refused with the rollback's advice, nothing touched", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(BEFORE) });
    const r = await resumeLogical(opts(exec));
    expect(calls).toEqual(["state"]);
    expect(r.refused).toMatch(/not past the commit point.*--rollback/);
  });

  it("a finished move: nothing to do, done", async () => {
    const { calls, exec } = scripted({ ...HAPPY, ...state(DONE) });
    const r = await resumeLogical(opts(exec));
    expect(calls).toEqual(["state"]);
    expect(r).toMatchObject({ ok: true, committed: true });
  });

  it("a clean droplet: refused (nothing to resume)", async () => {
    const { exec } = scripted({ ...HAPPY, ...state(CLEAN) });
    expect((await resumeLogical(opts(exec))).refused).toMatch(/nothing to resume; nothing is left to undo/);
  });
});

describe("the source's migration lock (the tier migration's, on the droplet)", () => {
  it("every run takes it first and releases it last; a plain run that recovers holds it for each part", async () => {
    const clean = scripted(HAPPY);
    await runLogicalCutover(opts(clean.exec));
    expect(clean.locks).toEqual(["lock_acquire", "lock_release"]);
    const back = scripted({ ...HAPPY, ...state(BEFORE) });
    await rollbackLogical(opts(back.exec));
    expect(back.locks).toEqual(["lock_acquire", "lock_release"]);
  });

  it("held by another run (fresh heartbeat): refused, nothing else touched", async () => {
    const { calls, locks, exec } = scripted({
      ...HAPPY,
      lock_acquire: { code: 6, out: "lock_run=c1-abc\nlock_holder=ci:42\nlock_started=t\nlock_age_s=3\n" },
    });
    for (const recover of [runLogicalCutover, rollbackLogical, resumeLogical]) {
      const r = await recover(opts(exec));
      expect(r.refused).toMatch(/another migration holds the lock .*ci:42, run c1-abc.*3 s ago/);
      expect(r.committed).toBe(false);
    }
    expect(calls).toEqual([]);
    expect(locks.filter((l) => l === "lock_acquire")).toHaveLength(3);
  });
});
