/**
 * The phase model: what a migration goes through, in order, and the timeline it records (phase, step, duration,
 * outcome), printed at the end of every run.
 */
import Table from "cli-table3";

export const PHASES = ["preflight", "backup", "copy", "catchup", "cutover", "verify", "rollback"] as const;
export type Phase = (typeof PHASES)[number];

export interface TimelineEntry {
  phase: Phase;
  /** The droplet step (or runner action) inside the phase. */
  step: string;
  side?: "old" | "new" | "local";
  startMs: number;
  endMs: number;
  status: "ok" | "failed" | "aborted";
  detail?: string;
}

export class Timeline {
  readonly entries: TimelineEntry[] = [];
  readonly startedAt: number;
  constructor(private readonly now: () => number = Date.now) {
    this.startedAt = now();
  }

  /** Time a unit of work and record it, failed or not. */
  async time<T>(
    phase: Phase,
    step: string,
    side: TimelineEntry["side"],
    work: () => Promise<T>,
    detail?: (result: T) => string | undefined,
  ): Promise<T> {
    const startMs = this.now();
    try {
      const result = await work();
      this.entries.push({ phase, step, side, startMs, endMs: this.now(), status: "ok", detail: detail?.(result) });
      return result;
    } catch (e) {
      this.entries.push({ phase, step, side, startMs, endMs: this.now(), status: "failed", detail: firstLine(e) });
      throw e;
    }
  }

  record(entry: Omit<TimelineEntry, "endMs"> & { endMs?: number }): void {
    this.entries.push({ ...entry, endMs: entry.endMs ?? this.now() });
  }

  elapsedSeconds(): number {
    return (this.now() - this.startedAt) / 1000;
  }

  /** Seconds per phase, in phase order. */
  phaseTotals(): Array<{ phase: Phase; seconds: number }> {
    return PHASES.flatMap((phase) => {
      const own = this.entries.filter((e) => e.phase === phase);
      if (!own.length) return [];
      const start = Math.min(...own.map((e) => e.startMs));
      const end = Math.max(...own.map((e) => e.endMs));
      return [{ phase, seconds: (end - start) / 1000 }];
    });
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split("\n")[0] ?? "";
}

export function formatTimeline(entries: readonly TimelineEntry[], startedAt: number): string {
  const table = new Table({
    head: ["t+ (s)", "phase", "step", "on", "took (s)", "status", "detail"],
    style: { head: [] },
  });
  for (const e of entries) {
    table.push([
      ((e.startMs - startedAt) / 1000).toFixed(2),
      e.phase,
      e.step,
      e.side ?? "",
      ((e.endMs - e.startMs) / 1000).toFixed(2),
      e.status,
      (e.detail ?? "").slice(0, 70),
    ]);
  }
  return table.toString();
}
