/**
 * The sweep's verdict can say no: the negative control (a cutover whose fence is skipped, ../migration/seams.ts
 * `unfenced`; on the scale-out move ../scale-out/seams.ts `unfenced`) run through the benchmark on a real harness
 * must come out with acknowledged writes lost, an end state that is not a known one, and exit 1 (a check that says
 * no). Without this, "0 lost" in the sweep proves nothing.
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { EXIT } from "../../scripts/cli-exit";
import { matrix } from "./matrix";
import type { FaultRun } from "./run-one";

const ROOT = path.resolve(__dirname, "../..");

function bench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "tests/bench/bench-faults.ts", ...args], {
      cwd: ROOT,
      env: process.env,
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("the fault sweep's negative control", () => {
  it("is chosen only by name, aimed at the fence (the scale-out's cutover)", () => {
    expect(matrix().some((c) => c.fault === "unfenced")).toBe(false);
    expect(matrix({ migrations: ["tier", "scale-out"], faults: ["unfenced"] })).toEqual([
      { migration: "tier", step: "old:fence", fault: "unfenced" },
      { migration: "scale-out", step: "old:cutover", fault: "unfenced" },
    ]);
  });

  it.each([
    ["tier", "old:fence"],
    ["scale-out", "old:cutover"],
  ])(
    "%s: an unfenced cutover loses acknowledged writes: lost > 0, known false, the benchmark exits 1",
    async (migration, step) => {
      const r = await bench(["--migrations", migration, "--faults", "unfenced", "--json"]);
      expect(r.code, r.stderr).toBe(EXIT.no);
      const runs = (JSON.parse(r.stdout) as { runs: FaultRun[] }).runs;
      expect(runs).toHaveLength(1);
      const [run] = runs as [FaultRun];
      console.log(JSON.stringify(run));
      expect(run).toMatchObject({ step, fault: "unfenced", faultHit: true, known: false });
      // The tier migration completed: the loss, not a failed run, is what makes it unknown. The scale-out's
      // cluster refuses writes once the control has skipped setval, so that run fails after the switch as well.
      if (migration === "tier") expect(run.outcome).toBe("completed");
      expect(run.lost).toBeGreaterThan(0);
      expect(r.stderr).toMatch(new RegExp(`${migration} ${step} unfenced: \\d+ acknowledged write\\(s\\) lost`));
    },
    300_000,
  );
});
