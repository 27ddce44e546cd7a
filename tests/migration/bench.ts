/**
 * The migration benchmark, on the harness: for each size and strategy, a fresh pair of droplets, the old one filled
 * with pgbench tables, a raw copy of its data directory timed as the yardstick, then a migration under load and
 * the set check. Run by scripts/bench-migration.ts; figures, not assertions.
 */
import Table from "cli-table3";
import type { Executor } from "../../infra/migration/runner";
import type { Strategy } from "../../infra/migration/strategy";
import { rawCopy, seedDatabase, startHarness } from "./harness";
import { unfenced } from "./seams";

export interface BenchRow {
  strategy: Strategy | "replicate (unfenced: negative control)";
  sizeLabel: string;
  dbBytes: number;
  totalSeconds: number;
  copyMBps: number;
  rawCopyMBps: number;
  frontDoorGapMs: number;
  pgGapMs: number;
  redisGapMs: number;
  runnerDowntimeMs: number;
  acknowledged: number;
  lost: number;
  failedButPresent: number;
  ok: boolean;
  note?: string;
}

const MB = 1024 * 1024;

/** "100MB", "1GB", "512mb" -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(MB|GB)$/i.exec(text.trim());
  if (!m || !m[1] || !m[2]) throw new Error(`--sizes: "${text}" is not a size like 100MB or 1GB`);
  return Math.round(Number(m[1]) * (m[2].toUpperCase() === "GB" ? 1024 : 1) * MB);
}

export async function benchOne(sizeLabel: string, bytes: number, strategy: Strategy, unsafeNoFence = false, log = console.error): Promise<BenchRow> {
  const h = await startHarness();
  try {
    log(`[${sizeLabel} ${strategy}${unsafeNoFence ? " unfenced" : ""}] seeding ~${sizeLabel}`);
    const dbBytes = await seedDatabase(h.old.pg, bytes);
    await h.old.pg.psql("CHECKPOINT");
    log(`[${sizeLabel} ${strategy}] database ${(dbBytes / MB).toFixed(0)} MB; raw copy of the data directory`);
    const raw = await rawCopy(h.old.pg.dataDir);
    log(`[${sizeLabel} ${strategy}] migrating under load`);
    const control = unsafeNoFence ? { wrap: (exec: Executor) => unfenced(exec) } : {};
    const { result: report, records } = await h.withLoad(() => h.migrate({ strategy, ...control }), { settleMs: 1000 });
    const check = await h.check(records, h.serving());
    const copyMBps = report.copy && report.copy.ms > 0 ? report.copy.bytes / MB / (report.copy.ms / 1000) : 0;
    return {
      strategy: unsafeNoFence ? "replicate (unfenced: negative control)" : strategy,
      sizeLabel,
      dbBytes,
      totalSeconds: report.totalMs / 1000,
      copyMBps,
      rawCopyMBps: raw.bytes / MB / (raw.ms / 1000),
      frontDoorGapMs: check.frontDoorGapMs,
      pgGapMs: check.pgGapMs,
      redisGapMs: check.redisGapMs,
      runnerDowntimeMs: report.writeDowntimeMs ?? 0,
      acknowledged: check.acknowledged,
      lost: check.lost.length,
      failedButPresent: check.failedButPresent.length,
      ok: report.ok,
      note: report.aborted ?? report.error,
    };
  } finally {
    await h.stop();
  }
}

const HEAD = [
  "strategy", "size", "db MB", "total s", "copy MB/s", "raw copy MB/s", "copy/raw", "front-door gap ms", "PG gap ms",
  "Redis gap ms", "acked writes", "lost", "fail present",
];

function cells(r: BenchRow): string[] {
  return [
    r.strategy, r.sizeLabel, (r.dbBytes / MB).toFixed(0), r.totalSeconds.toFixed(1), r.copyMBps.toFixed(0),
    r.rawCopyMBps.toFixed(0), r.rawCopyMBps ? `${Math.round((100 * r.copyMBps) / r.rawCopyMBps)} %` : "-",
    String(r.frontDoorGapMs), String(r.pgGapMs), String(r.redisGapMs), String(r.acknowledged), String(r.lost),
    String(r.failedButPresent),
  ];
}

export function formatBenchTable(rows: readonly BenchRow[]): string {
  const t = new Table({ head: HEAD, style: { head: [] } });
  for (const r of rows) t.push(cells(r));
  return t.toString();
}

export function formatBenchMarkdown(rows: readonly BenchRow[]): string {
  const line = (c: string[]) => `| ${c.join(" | ")} |`;
  return [line(HEAD), line(HEAD.map(() => "---")), ...rows.map((r) => line(cells(r)))].join("\n");
}
