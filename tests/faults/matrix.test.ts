/**
 * The fault sweep's matrix, its sampling and the benchmark's flag checks (pure; no harness). The step lists' order
 * against real runs is checked by ./sample.test.ts.
 */
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { MIGRATION_STEPS } from "../../infra/migration/commands";
import { PROXY_STEPS } from "../../infra/migration/steps";
import { LOGICAL_STEPS } from "../../infra/scale-out-migration/steps";
import { UsageError } from "../../scripts/cli-exit";
import { chosenCells, faultProblems } from "../bench/bench-faults";
import {
  addressOf,
  aimable,
  cellName,
  FAULTS,
  MIGRATIONS,
  matrix,
  QUIET_STEPS,
  STEPS,
  sample,
  sampleSize,
  seedOfDay,
  stepIds,
  UNORDERED_STEPS,
} from "./matrix";
import type { FaultRun } from "./run-one";

const ROOT = path.resolve(__dirname, "../..");

/** The steps each migration's runner can call. */
const REAL_STEPS = {
  tier: Object.keys(MIGRATION_STEPS),
  "switch-back": Object.keys(MIGRATION_STEPS),
  "scale-out": [...Object.keys(LOGICAL_STEPS), ...Object.keys(PROXY_STEPS), "lock_acquire", "lock_release"],
};

describe("the matrix", () => {
  it.each(MIGRATIONS)("%s: every step id names a real step, once, and none whose place depends on the clock", (m) => {
    for (const id of STEPS[m]) {
      const at = addressOf(id);
      expect(REAL_STEPS[m]).toContain(at.step);
      expect(UNORDERED_STEPS).not.toContain(at.step);
    }
    expect(new Set(STEPS[m]).size).toBe(STEPS[m].length);
  });

  it("numbers repeated calls per side: the first plain, then #2, #3", () => {
    expect(stepIds(["old:journal_write", "new:journal_write", "old:journal_write", "old:journal_write"])).toEqual([
      "old:journal_write",
      "new:journal_write",
      "old:journal_write#2",
      "old:journal_write#3",
    ]);
    expect(addressOf("old:journal_write#3")).toEqual({ side: "old", step: "journal_write", nth: 3 });
    expect(() => addressOf("journal_write")).toThrow(/not a step id/);
  });

  it("by default: every step of every migration with every fault aimable there, in migration, step, fault order", () => {
    const all = matrix();
    const steps = MIGRATIONS.flatMap((m) => STEPS[m]);
    const printed = steps.filter((s) => !(QUIET_STEPS as readonly string[]).includes(addressOf(s).step));
    expect(all).toHaveLength(steps.length * (FAULTS.length - 1) + printed.length);
    expect(all.slice(0, 2)).toEqual([
      { migration: "tier", step: "old:journal_read", fault: "step-fails" },
      { migration: "tier", step: "old:journal_read", fault: "ssh-cut" },
    ]);
    expect(all.filter((c) => c.step === "new:standby").map((c) => c.fault)).toEqual([...FAULTS]);
    expect(all.at(-1)).toEqual({ migration: "scale-out", step: "old:lock_release", fault: FAULTS.at(-1) });
  });

  it("--migrations scale-out: every fault at every step of the move, the source's and the app droplets' alike", () => {
    const cells = matrix({ migrations: ["scale-out"] });
    // The lock steps run quietly: no cli-sigkill there.
    expect(cells).toHaveLength(STEPS["scale-out"].length * FAULTS.length - 2);
    expect(cells.filter((c) => c.step === "app:gate_close").map((c) => c.fault)).toEqual([...FAULTS]);
    expect(addressOf("app:gate_open")).toEqual({ side: "app", step: "gate_open", nth: 1 });
    expect(matrix({ migrations: ["scale-out"], steps: ["old:cutover"], faults: ["ssh-cut"] })).toEqual([
      { migration: "scale-out", step: "old:cutover", fault: "ssh-cut" },
    ]);
  });

  it("cli-sigkill is aimed only at steps whose line the CLI prints", () => {
    expect(aimable("cli-sigkill", "new:standby")).toBe(true);
    expect(aimable("cli-sigkill", "old:journal_write#3")).toBe(false);
    expect(aimable("ssh-cut", "old:journal_write#3")).toBe(true);
    expect(matrix({ faults: ["cli-sigkill"], steps: ["old:lock_acquire"] })).toEqual([]);
  });

  it("--steps picks the ids in every chosen migration that has them", () => {
    expect(matrix({ steps: ["new:standby", "old:fence"], faults: ["ssh-cut"] }).map(cellName)).toEqual([
      "tier new:standby ssh-cut",
      "tier old:fence ssh-cut",
      "switch-back old:fence ssh-cut",
    ]);
  });

  it.each([
    [{ migrations: ["tier", "scale"] }, /^--migrations: "scale" not one of tier, switch-back, scale-out$/],
    [
      { faults: ["ssh-cut", "cut"] },
      /^--faults: "cut" not one of step-fails, ssh-cut, cli-sigkill, pg-kill-target, reboot-old, net-cut, unfenced$/,
    ],
    [
      { migrations: ["switch-back"], steps: ["old:drop_slot"] },
      /^--steps: "old:drop_slot" not one of old:journal_read, /,
    ],
    [
      { faults: [] },
      /^--faults: empty; allowed: step-fails, ssh-cut, cli-sigkill, pg-kill-target, reboot-old, net-cut, unfenced$/,
    ],
  ])("refuses %j naming the flag and the allowed values", (choice, message) => {
    expect(() => matrix(choice)).toThrow(UsageError);
    expect(() => matrix(choice)).toThrow(message);
  });
});

describe("the sample", () => {
  const all = matrix();

  it("the same seed gives the same cells, in matrix order; another seed others", () => {
    const a = sample(all, 5, "2026-12-07");
    expect(sample(all, 5, "2026-12-07")).toEqual(a);
    expect(a).toHaveLength(5);
    expect(a.map((c) => all.indexOf(c))).toEqual([...a.map((c) => all.indexOf(c))].sort((x, y) => x - y));
    expect(sample(all, 5, "2026-12-08")).not.toEqual(a);
  });

  it("rotates: over a month of daily seeds the samples reach many cells", () => {
    const days = Array.from({ length: 30 }, (_, i) => seedOfDay(new Date(Date.UTC(2026, 11, 1 + i))));
    const reached = new Set(days.flatMap((d) => sample(all, 2, d).map(cellName)));
    expect(reached.size).toBeGreaterThan(45);
  });

  it("asks for more than there are: all of them", () => {
    const few = matrix({ steps: ["new:standby"] });
    expect(sample(few, 10, "x")).toEqual(few);
  });

  it("the day's seed is its UTC date", () => {
    expect(seedOfDay(new Date("2026-12-07T23:59:59Z"))).toBe("2026-12-07");
  });

  it.each(["0", "-1", "2.5", "many", "10001"])("--sample %s is refused", (v) => {
    expect(() => sampleSize(v)).toThrow(/--sample must be a whole number of runs from 1 to 10000/);
  });
});

describe("bench:faults flags and verdict", () => {
  it("--sample without --seed takes the day's seed; --seed without --sample is refused", () => {
    const now = new Date("2026-12-07T10:00:00Z");
    expect(chosenCells({ sample: "3" }, now)).toMatchObject({ seed: "2026-12-07", of: matrix().length });
    expect(chosenCells({ sample: "3" }, now).cells).toEqual(sample(matrix(), 3, "2026-12-07"));
    expect(() => chosenCells({ seed: "x" }, now)).toThrow(/--seed goes with --sample N/);
    expect(chosenCells({ migrations: "tier", faults: "ssh-cut" }).cells).toHaveLength(STEPS.tier.length);
  });

  it("exits 2 before any work, naming the flag and the allowed values", () => {
    const r = spawnSync(
      process.execPath,
      ["--import", "tsx", "tests/bench/bench-faults.ts", "--faults", "step-fails,pg-kill"],
      { cwd: ROOT, encoding: "utf8", env: { ...process.env, HARNESS_NET: "127.0.254" }, timeout: 60_000 },
    );
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(
      /--faults: "pg-kill" not one of step-fails, ssh-cut, cli-sigkill, pg-kill-target, reboot-old, net-cut/,
    );
    expect(r.stderr).not.toMatch(/\[1\//); // no run started
    expect(r.stdout).toBe("");
  });

  it("--help says the exit codes", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", "tests/bench/bench-faults.ts", "--help"], {
      cwd: ROOT,
      encoding: "utf8",
      timeout: 60_000,
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Exit codes.*\n {2}0 +done\n {2}1 +ran, and its check says no: a run lost/);
    expect(r.stdout).toMatch(/ {2}3 +a human is needed: the harness failed/);
  });

  const clean: FaultRun = {
    migration: "tier",
    step: "new:standby",
    fault: "ssh-cut",
    outcome: "rolled-back",
    why: "faulted run: rolled-back",
    known: true,
    lost: 0,
    duplicated: 0,
    failed: 0,
    unknown: 0,
    acknowledged: 100,
    recoverySeconds: 2,
    lockReleased: true,
    faultHit: true,
    faultedOutcome: "rolled-back",
    recovery: "none",
    primary: "old+new",
    serving: "old",
    frontDoor: "old",
    calls: [],
  };

  it("a run that lost or duplicated a write, or ended unknown, is a problem; a clean one is not", () => {
    expect(faultProblems([clean])).toEqual([]);
    expect(faultProblems([{ ...clean, lost: 2 }])).toEqual(["tier new:standby ssh-cut: 2 acknowledged write(s) lost"]);
    expect(faultProblems([{ ...clean, duplicated: 1 }])).toEqual([
      "tier new:standby ssh-cut: 1 write(s) applied twice",
    ]);
    expect(faultProblems([{ ...clean, known: false }])[0]).toMatch(/the end state is not a known one/);
    expect(faultProblems([{ ...clean, follower: "stopped: the old server is down" }])).toEqual([]);
    expect(faultProblems([{ ...clean, leftovers: "closed gate on the app droplet: 1", statusPhase: "done" }])).toEqual([
      "tier new:standby ssh-cut: the end state keeps a closed gate on the app droplet: 1 (--status: phase done)",
    ]);
    expect(faultProblems([{ ...clean, follower: "silent: the journal says nothing, pg_is_in_recovery f" }])).toEqual([
      "tier new:standby ssh-cut: the old server neither follows nor says why (silent: the journal says nothing, pg_is_in_recovery f)",
    ]);
  });
});
