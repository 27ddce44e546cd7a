/**
 * The scale-out cutover benchmark, on the migration harness: a fresh pair of droplets, the old one filled with
 * pgbench tables, then the logical cutover under load through Caddy and the set check on the target. Figures, not
 * assertions (scripts/bench-migration.ts prints them with the tier migration's).
 */
import * as os from "node:os";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { fromStepExecutor, runLogicalCutover } from "../../infra/scale-out-migration/runner";
import { clientFigures, type CutoverFigures } from "../migration/bench";
import { caddyVersion } from "../migration/front-door";
import { seedDatabase, startHarness } from "../migration/harness";
import { harnessCutover, prepare } from "./harness";

const MB = 1024 * 1024;

export async function benchScaleOut(sizeLabel: string, bytes: number, log: (s: string) => void = console.error): Promise<CutoverFigures & { completed: boolean; note?: string }> {
  const loadAvg1 = Number(os.loadavg()[0]!.toFixed(2));
  const h = await startHarness();
  const ssh = sshExecutor();
  try {
    log(`[${sizeLabel} scale-out] seeding ~${sizeLabel}`);
    const dbBytes = await seedDatabase(h.old.pg, bytes);
    const targetEnv = await prepare(h);
    log(`[${sizeLabel} scale-out] database ${(dbBytes / MB).toFixed(0)} MB; logical cutover under load through Caddy`);
    const { switchedAt: _, ...options } = harnessCutover(h, targetEnv);
    const { result: report, records } = await h.withLoad(() => runLogicalCutover({ ...options, exec: fromStepExecutor(ssh) }), { settleMs: 1000 });
    const check = await h.check(records, report.committed ? h.next : h.old);
    return {
      strategy: "scale-out",
      size: sizeLabel,
      ...clientFigures(records),
      ok: check.acknowledged,
      failed: check.failed,
      unknown: check.unknown,
      lost: check.lost.length,
      writeGapMs: check.pgGapMs,
      totalSeconds: Number((report.totalMs / 1000).toFixed(1)),
      frontDoor: caddyVersion(),
      loadAvg1,
      completed: report.ok,
      ...(report.aborted ?? report.error ? { note: report.aborted ?? report.error } : {}),
    };
  } finally {
    ssh.close();
    await h.stop();
  }
}
