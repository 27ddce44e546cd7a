/**
 * `--days N`: the droplet's history from DigitalOcean's monitoring API.
 *
 * Endpoints (digitalocean/godo monitoring.go, getDropletMetrics): GET /v2/monitoring/metrics/droplet/<metric>
 * ?host_id=<droplet id>&start=<unix s>&end=<unix s>, answering {"status": "success", "data": {"resultType": "matrix",
 * "result": [{"metric": {labels}, "values": [[<unix s>, "<value>"], ...]}]}} (Prometheus' SampleStream).
 *   memory:  memory_total and memory_available (bytes): used % = (total - available) / total
 *   cpu:     cumulative CPU seconds per `mode` label: busy % between two points = 1 - d(idle) / d(all modes)
 *   disk:    filesystem_size and filesystem_free per device/mountpoint: the fullest filesystem
 * Response times are not droplet metrics (the uptime check has them), so these samples carry no responseMs.
 * The step DigitalOcean picks for a long range is not documented here and is unverified: the checker's gap rule will
 * say "not decided" if it is too coarse for a window.
 *
 * Requests go through infra/do-api.ts: a 429 or a 5xx is retried (after its Retry-After), each retry logged.
 */
import { type ApiClient, DO_API, getWithRetry } from "../do-api";
import type { Sample } from "./metrics";

export type { FetchLike } from "../do-api";

/** A request that cannot be valid (no token, a bad droplet id or day count): nothing was asked of the API. */
export class MonitoringRequestError extends Error {}

export interface SeriesPoint {
  metric: Record<string, string>;
  values: [number, string][];
}

export interface DoMonitoringOptions extends ApiClient {
  dropletId: string;
  days: number;
  /** End of the range; defaults to now. */
  now?: Date;
}

export function metricUrl(base: string, metric: string, dropletId: string, start: number, end: number): string {
  const q = new URLSearchParams({ host_id: dropletId, start: String(start), end: String(end) });
  return `${base}/v2/monitoring/metrics/droplet/${metric}?${q.toString()}`;
}

async function getSeries(o: DoMonitoringOptions, metric: string, start: number, end: number): Promise<SeriesPoint[]> {
  const url = metricUrl(o.baseUrl ?? DO_API, metric, o.dropletId, start, end);
  return parseSeries(metric, await getWithRetry(o, url, `DigitalOcean monitoring API ${metric}`));
}

function parseSeries(metric: string, body: string): SeriesPoint[] {
  let parsed: {
    status?: string;
    data?: { result?: { metric?: Record<string, string>; values?: [number, string][] }[] };
  };
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new Error(`DigitalOcean monitoring API ${metric}: the answer is not JSON`);
  }
  const result = parsed.data?.result;
  if (parsed.status !== "success" || !Array.isArray(result)) {
    throw new Error(`DigitalOcean monitoring API ${metric}: unexpected answer (status ${String(parsed.status)})`);
  }
  return result.map((r) => ({
    metric: r.metric ?? {},
    values: (r.values ?? []).map(([t, v]) => [Number(t), String(v)] as [number, string]),
  }));
}

function byTime(series: SeriesPoint | undefined): Map<number, number> {
  return new Map((series?.values ?? []).map(([t, v]) => [t, Number(v)]));
}

/** Memory used % per timestamp present in both series. */
export function memoryPercent(total: SeriesPoint[], available: SeriesPoint[]): Map<number, number> {
  const tot = byTime(total[0]);
  const avail = byTime(available[0]);
  const out = new Map<number, number>();
  for (const [t, size] of tot) {
    const a = avail.get(t);
    if (a !== undefined && size > 0) out.set(t, ((size - a) / size) * 100);
  }
  return out;
}

/** CPU busy % between consecutive timestamps from cumulative per-mode counters. */
export function cpuPercent(series: SeriesPoint[]): Map<number, number> {
  const totals = new Map<number, { all: number; idle: number }>();
  for (const s of series) {
    const idle = s.metric.mode === "idle";
    for (const [t, v] of s.values) {
      const cur = totals.get(t) ?? { all: 0, idle: 0 };
      cur.all += Number(v);
      if (idle) cur.idle += Number(v);
      totals.set(t, cur);
    }
  }
  const times = [...totals.keys()].sort((a, b) => a - b);
  const out = new Map<number, number>();
  for (let i = 1; i < times.length; i++) {
    const a = totals.get(times[i - 1]!)!;
    const b = totals.get(times[i]!)!;
    const dAll = b.all - a.all;
    // A counter reset (reboot) gives a negative delta: skip that interval rather than invent a value.
    if (dAll > 0 && b.idle >= a.idle)
      out.set(times[i]!, Math.min(100, Math.max(0, (1 - (b.idle - a.idle) / dAll) * 100)));
  }
  return out;
}

/** Fullest filesystem % per timestamp. */
export function diskPercent(size: SeriesPoint[], free: SeriesPoint[]): Map<number, number> {
  const key = (m: Record<string, string>) => `${m.device ?? ""}|${m.mountpoint ?? ""}`;
  const freeByKey = new Map(free.map((s) => [key(s.metric), byTime(s)]));
  const out = new Map<number, number>();
  for (const s of size) {
    const f = freeByKey.get(key(s.metric));
    if (!f) continue;
    for (const [t, v] of s.values) {
      const sz = Number(v);
      const fr = f.get(t);
      if (fr === undefined || sz <= 0) continue;
      out.set(t, Math.max(out.get(t) ?? 0, ((sz - fr) / sz) * 100));
    }
  }
  return out;
}

const round1 = (x: number) => Math.round(x * 10) / 10;

/** Samples for the checker: one per timestamp that has both memory and CPU. */
export function joinSamples(
  memory: Map<number, number>,
  cpu: Map<number, number>,
  disk: Map<number, number>,
): Sample[] {
  return [...memory.keys()]
    .filter((t) => cpu.has(t))
    .sort((a, b) => a - b)
    .map((t) => {
      const s: Sample = {
        at: new Date(t * 1000).toISOString(),
        memoryPct: round1(memory.get(t)!),
        cpuPct: round1(cpu.get(t)!),
      };
      const d = disk.get(t);
      if (d !== undefined) s.diskPct = round1(d);
      return s;
    });
}

/** Reads N days of memory, CPU and disk for one droplet. The token goes in the Authorization header only. */
export async function fetchDropletSamples(o: DoMonitoringOptions): Promise<Sample[]> {
  if (!o.token) throw new MonitoringRequestError("DIGITALOCEAN_TOKEN: a DigitalOcean API token is required for --days");
  if (!/^[1-9]\d*$/.test(o.dropletId))
    throw new MonitoringRequestError(`--droplet-id: "${o.dropletId}" is not a droplet id (a positive integer)`);
  if (!Number.isInteger(o.days) || o.days < 1 || o.days > 30)
    throw new MonitoringRequestError(`--days: ${o.days} must be a whole number from 1 to 30`);
  const end = Math.floor((o.now ?? new Date()).getTime() / 1000);
  const start = end - o.days * 86400;
  const [total, available, cpu, fsSize, fsFree] = await Promise.all(
    ["memory_total", "memory_available", "cpu", "filesystem_size", "filesystem_free"].map((m) =>
      getSeries(o, m, start, end),
    ),
  );
  const samples = joinSamples(memoryPercent(total!, available!), cpuPercent(cpu!), diskPercent(fsSize!, fsFree!));
  if (samples.length === 0)
    throw new Error(
      `DigitalOcean returned no memory/CPU points for droplet ${o.dropletId} (is the metrics agent installed?)`,
    );
  return samples;
}
