/**
 * The migration benchmark, on the harness: for each size and strategy, a fresh pair of droplets, the old one filled
 * with pgbench tables, a raw copy of its data directory timed as the yardstick, then a migration under load and
 * the set check. Run by tests/bench/bench-migration.ts; figures, not assertions.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import Table from "cli-table3";
import type { Executor } from "../../infra/migration/runner";
import type { Strategy } from "../../infra/migration/strategy";
import type { CheckResult, WriteRecord } from "./checker";
import { caddyVersion } from "./front-door";
import { rawCopy, seedDatabase, startHarness } from "./harness";
import { unfenced } from "./seams";

/**
 * The fields every benchmark run reports (tier migration and scale-out alike), from what the clients saw and what
 * the new primary holds. `writeGapMs`: the longest time in which no write committed (commit times on the new
 * primary); `frontDoor`: the front door's program and version; `loadAvg1`: the machine's 1-minute load average at
 * the start of the run.
 */
export interface CutoverFigures {
  strategy: string;
  size: string;
  requests: number;
  ok: number;
  failed: number;
  unknown: number;
  lost: number;
  maxLatencyMs: number;
  p99LatencyMs: number;
  writeGapMs: number;
  totalSeconds: number;
  frontDoor: string;
  loadAvg1: number;
}

/** The client-side figures of a run: requests sent, outcomes, latencies (ms, from send to answer). */
export function clientFigures(
  records: readonly WriteRecord[],
): Pick<CutoverFigures, "requests" | "maxLatencyMs" | "p99LatencyMs"> {
  const latencies = records.map((r) => r.endMs - r.startMs).sort((a, b) => a - b);
  const p99 = latencies.length ? latencies[Math.min(latencies.length - 1, Math.ceil(latencies.length * 0.99) - 1)]! : 0;
  return { requests: records.length, maxLatencyMs: latencies.at(-1) ?? 0, p99LatencyMs: p99 };
}

/** The fields of a run from what its clients saw and what the set check found (both benchmarks build rows with it). */
export function cutoverFigures(run: {
  strategy: string;
  size: string;
  records: readonly WriteRecord[];
  check: CheckResult;
  totalMs: number;
  loadAvg1: number;
}): CutoverFigures {
  return {
    strategy: run.strategy,
    size: run.size,
    ...clientFigures(run.records),
    ok: run.check.acknowledged,
    failed: run.check.failed,
    unknown: run.check.unknown,
    lost: run.check.lost.length,
    writeGapMs: run.check.pgGapMs,
    totalSeconds: Number((run.totalMs / 1000).toFixed(1)),
    frontDoor: caddyVersion(),
    loadAvg1: run.loadAvg1,
  };
}

/** The 1-minute load average now, as the rows carry it. */
export function loadAverage(): number {
  return Number(os.loadavg()[0]!.toFixed(2));
}

/** The machine's CPU time so far (/proc/stat's first line, in ticks): all of it, and what the hypervisor took. */
export function cpuTicks(): { total: number; steal: number } {
  const fields = (fs.readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1, 9);
  const ticks = fields.map(Number);
  return { total: ticks.reduce((a, b) => a + b, 0), steal: ticks[7] ?? 0 };
}

/**
 * Percent of the CPU time between two readings that the hypervisor gave to other machines (steal): a "quiet" run
 * on a shared host can still lose half its CPU, which the load average does not show.
 */
export function stealPercent(from: ReturnType<typeof cpuTicks>, to = cpuTicks()): number {
  const total = to.total - from.total;
  return total > 0 ? Math.round(((to.steal - from.steal) / total) * 100) : 0;
}

export interface BenchRow extends CutoverFigures {
  strategy: Strategy | "replicate (unfenced: negative control)";
  sizeLabel: string;
  dbBytes: number;
  copyMBps: number;
  rawCopyMBps: number;
  frontDoorGapMs: number;
  redisGapMs: number;
  runnerDowntimeMs: number;
  failedButPresent: number;
  /** The migration finished (outcome done). */
  completed: boolean;
  note?: string;
}

const MB = 1024 * 1024;

/** "100MB", "1GB", "512mb" -> bytes. */
export function parseSize(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(MB|GB)$/i.exec(text.trim());
  if (!m?.[1] || !m[2]) throw new Error(`--sizes: "${text}" is not a size like 100MB or 1GB`);
  return Math.round(Number(m[1]) * (m[2].toUpperCase() === "GB" ? 1024 : 1) * MB);
}

export async function benchOne(
  sizeLabel: string,
  bytes: number,
  strategy: Strategy,
  unsafeNoFence = false,
  log = console.error,
): Promise<BenchRow> {
  const loadAvg1 = loadAverage();
  const h = await startHarness();
  try {
    log(`[${sizeLabel} ${strategy}${unsafeNoFence ? " unfenced" : ""}] seeding ~${sizeLabel}`);
    const dbBytes = await seedDatabase(h.old.pg, bytes);
    await h.old.pg.psql("CHECKPOINT");
    log(`[${sizeLabel} ${strategy}] database ${(dbBytes / MB).toFixed(0)} MB; raw copy of the data directory`);
    const raw = await rawCopy(h.old.pg.dataDir);
    log(`[${sizeLabel} ${strategy}] migrating under load through Caddy`);
    const control = unsafeNoFence ? { wrap: (exec: Executor) => unfenced(exec) } : {};
    const { result: report, records } = await h.withLoad(() => h.migrate({ strategy, ...control }), { settleMs: 1000 });
    const check = await h.check(records, h.serving());
    const copyMBps = report.copy && report.copy.ms > 0 ? report.copy.bytes / MB / (report.copy.ms / 1000) : 0;
    return {
      ...cutoverFigures({
        strategy: unsafeNoFence ? "replicate (unfenced: negative control)" : strategy,
        size: sizeLabel,
        records,
        check,
        totalMs: report.totalMs,
        loadAvg1,
      }),
      strategy: unsafeNoFence ? "replicate (unfenced: negative control)" : strategy,
      sizeLabel,
      dbBytes,
      copyMBps,
      rawCopyMBps: raw.bytes / MB / (raw.ms / 1000),
      frontDoorGapMs: check.frontDoorGapMs,
      redisGapMs: check.redisGapMs,
      runnerDowntimeMs: report.writeDowntimeMs ?? 0,
      failedButPresent: check.failedButPresent.length,
      completed: report.ok,
      note: report.aborted ?? report.error,
    };
  } finally {
    await h.stop();
  }
}

const HEAD = [
  "strategy",
  "size",
  "requests",
  "ok",
  "failed",
  "unknown",
  "lost",
  "max latency ms",
  "p99 ms",
  "write gap ms",
  "total s",
  "copy MB/s (raw)",
  "load avg",
];

function cells(r: CutoverFigures & Partial<Pick<BenchRow, "copyMBps" | "rawCopyMBps">>): string[] {
  const copy = r.copyMBps ? `${r.copyMBps.toFixed(0)} (${(r.rawCopyMBps ?? 0).toFixed(0)})` : "-";
  return [
    r.strategy,
    r.size,
    String(r.requests),
    String(r.ok),
    String(r.failed),
    String(r.unknown),
    String(r.lost),
    String(r.maxLatencyMs),
    String(r.p99LatencyMs),
    String(r.writeGapMs),
    r.totalSeconds.toFixed(1),
    copy,
    r.loadAvg1.toFixed(2),
  ];
}

/** The rows as a terminal table. */
export function formatBenchTable(rows: readonly CutoverFigures[]): string {
  const t = new Table({ head: HEAD, style: { head: [] } });
  for (const r of rows) t.push(cells(r));
  return t.toString();
}

/** The rows as the markdown table of docs/migration.md. */
export function formatBenchMarkdown(rows: readonly CutoverFigures[]): string {
  const line = (c: string[]) => `| ${c.join(" | ")} |`;
  return [line(HEAD), line(HEAD.map(() => "---")), ...rows.map((r) => line(cells(r)))].join("\n");
}
