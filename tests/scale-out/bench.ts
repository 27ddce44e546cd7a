/**
 * The scale-out cutover benchmark, on the migration harness: a fresh pair of droplets, the old one filled with
 * pgbench tables, then the logical cutover under load through Caddy and the set check on the target. Figures, not
 * assertions (tests/bench/bench-migration.ts prints them with the tier migration's, `--strategies scale-out`).
 */
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { runLogicalCutover } from "../../infra/scale-out-migration/runner";
import { cutoverFigures, type CutoverFigures, loadAverage } from "../migration/bench";
import { seedDatabase, startHarness } from "../migration/harness";
import { harnessCutover, prepare } from "./harness";

const MB = 1024 * 1024;

export interface ScaleOutBenchRow extends CutoverFigures {
  strategy: "scale-out";
  /** The cutover committed and finished (report.ok). */
  completed: boolean;
  /** Writes recorded as failed that are present on the new primary (a wrong classification). */
  failedButPresent: number;
  note?: string;
}

export async function benchScaleOut(
  sizeLabel: string,
  bytes: number,
  log: (s: string) => void = console.error,
): Promise<ScaleOutBenchRow> {
  const loadAvg1 = loadAverage();
  const h = await startHarness();
  const ssh = sshExecutor();
  try {
    log(`[${sizeLabel} scale-out] seeding ~${sizeLabel}`);
    const dbBytes = await seedDatabase(h.old.pg, bytes);
    const targetEnv = await prepare(h);
    log(`[${sizeLabel} scale-out] database ${(dbBytes / MB).toFixed(0)} MB; logical cutover under load through Caddy`);
    const { switchedAt: _, ...options } = harnessCutover(h, targetEnv);
    const { result: report, records } = await h.withLoad(() => runLogicalCutover({ ...options, exec: ssh }), {
      settleMs: 1000,
    });
    const check = await h.check(records, report.committed ? h.next : h.old);
    // What the clients saw for the writes not acknowledged, grouped (status and the start of the answer).
    const seen = new Map<string, number>();
    for (const r of records.filter((x) => x.pg !== "ok")) {
      const what = `${r.pg} ${r.status}: ${r.detail?.slice(0, 80)}`;
      seen.set(what, (seen.get(what) ?? 0) + 1);
    }
    for (const [what, n] of seen) log(`[${sizeLabel} scale-out] ${n} x ${what}`);
    const note = report.aborted ?? report.error;
    return {
      ...cutoverFigures({ strategy: "scale-out", size: sizeLabel, records, check, totalMs: report.totalMs, loadAvg1 }),
      strategy: "scale-out",
      completed: report.ok,
      failedButPresent: check.failedButPresent.length,
      ...(note ? { note } : {}),
    };
  } finally {
    ssh.close();
    await h.stop();
  }
}
