/**
 * Parsers of the raw tool output that scripts/droplet/collect.sh prints: `free -b`, `vmstat N 2`, `df -P -B1`,
 * `ps -eo pid,rss,pcpu,comm`, `docker stats --no-stream --format ...`, `curl -w '%{http_code} %{time_total}'`,
 * `redis-cli INFO stats` and two `psql -At` queries. Headers are read by name, so a column added by a newer procps
 * (vmstat's "gu") does not shift the others.
 */
import type { Evidence, Sample } from "./metrics";

export class ParseError extends Error {
  constructor(tool: string, message: string, text: string) {
    super(`${tool}: ${message}\n--- output was ---\n${text.slice(0, 600)}`);
    this.name = "ParseError";
  }
}

const lines = (text: string) => text.split(/\r?\n/).filter((l) => l.trim() !== "");

export interface FreeReading {
  totalBytes: number;
  usedBytes: number;
  availableBytes: number;
  /** (total - available) / total: the memory applications hold, page cache excluded (as DigitalOcean reports it). */
  memoryPct: number;
}

/** `free -b`. */
export function parseFree(text: string): FreeReading {
  const ls = lines(text);
  const header = ls[0]?.trim().split(/\s+/);
  const mem = ls
    .find((l) => l.startsWith("Mem:"))
    ?.trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  if (!header || !mem) throw new ParseError("free", "no header or Mem: line", text);
  const col = (name: string) => {
    const i = header.indexOf(name);
    const v = i >= 0 ? mem[i] : undefined;
    if (v === undefined || !Number.isFinite(v)) throw new ParseError("free", `no numeric "${name}" column`, text);
    return v;
  };
  const totalBytes = col("total");
  const availableBytes = col("available");
  if (totalBytes <= 0) throw new ParseError("free", "total memory is zero", text);
  return {
    totalBytes,
    usedBytes: col("used"),
    availableBytes,
    memoryPct: round1(((totalBytes - availableBytes) / totalBytes) * 100),
  };
}

/** `vmstat N 2`: the last line covers the N-second interval (the first is the average since boot). */
export function parseVmstat(text: string): { cpuPct: number } {
  const ls = lines(text);
  const headerIdx = ls.findIndex((l) => /\bid\b/.test(l) && /\bus\b/.test(l));
  const header = ls[headerIdx]?.trim().split(/\s+/);
  const last = ls[ls.length - 1]?.trim().split(/\s+/).map(Number);
  if (!header || !last || ls.length - 1 <= headerIdx) throw new ParseError("vmstat", "no header and data line", text);
  const idle = last[header.indexOf("id")];
  if (idle === undefined || !Number.isFinite(idle)) throw new ParseError("vmstat", 'no numeric "id" column', text);
  return { cpuPct: clampPct(100 - idle) };
}

export interface DfRow {
  filesystem: string;
  sizeBytes: number;
  usedBytes: number;
  availableBytes: number;
  usePct: number;
  mount: string;
}

/** `df -P -B1 <paths>`. */
export function parseDf(text: string): DfRow[] {
  const ls = lines(text);
  if (!ls[0]?.startsWith("Filesystem")) throw new ParseError("df", "no Filesystem header", text);
  return ls.slice(1).map((l) => {
    const m = /^(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)%\s+(.+)$/.exec(l.trim());
    if (!m) throw new ParseError("df", `unreadable line "${l}"`, text);
    return {
      filesystem: m[1]!,
      sizeBytes: Number(m[2]),
      usedBytes: Number(m[3]),
      availableBytes: Number(m[4]),
      usePct: Number(m[5]),
      mount: m[6]!,
    };
  });
}

export interface PsRow {
  pid: number;
  rssBytes: number;
  cpuPct: number;
  command: string;
}

/** `ps -eo pid,rss,pcpu,comm` (RSS in KiB; the command may contain spaces). */
export function parsePs(text: string): PsRow[] {
  const ls = lines(text);
  if (!/PID\s+RSS\s+%CPU\s+COMMAND/.test(ls[0] ?? ""))
    throw new ParseError("ps", "no PID RSS %CPU COMMAND header", text);
  return ls.slice(1).map((l) => {
    const m = /^\s*(\d+)\s+(\d+)\s+([\d.]+)\s+(.+)$/.exec(l);
    if (!m) throw new ParseError("ps", `unreadable line "${l}"`, text);
    return { pid: Number(m[1]), rssBytes: Number(m[2]) * 1024, cpuPct: Number(m[3]), command: m[4]!.trim() };
  });
}

const UNITS: Record<string, number> = {
  b: 1,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
};

/** "45.3MiB", "1GiB", "512kB", "0B" to bytes. */
export function parseSize(text: string): number {
  const m = /^\s*([\d.]+)\s*([a-z]+)\s*$/i.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new ParseError("size", `"${text}" is not a size like 45.3MiB`, text);
  return Number(m[1]) * unit;
}

export interface DockerStatsRow {
  name: string;
  cpuPct: number;
  memUsageBytes: number;
  memLimitBytes: number;
}

/** `docker stats --no-stream --format '{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}'`. */
export function parseDockerStats(text: string): DockerStatsRow[] {
  return lines(text).map((l) => {
    const [name, cpu, usage] = l.split("\t");
    const [used, limit] = (usage ?? "").split("/");
    if (!name || !cpu || used === undefined || limit === undefined)
      throw new ParseError("docker stats", `unreadable line "${l}"`, text);
    return {
      name: name.trim(),
      cpuPct: Number(cpu.replace("%", "")),
      memUsageBytes: parseSize(used),
      memLimitBytes: parseSize(limit),
    };
  });
}

/** `curl -w '%{http_code} %{time_total}'`: code 000 means no answer. */
export function parseCurlTiming(text: string): { httpCode: number; responseMs: number; ok: boolean } {
  const m = /^(\d{3})\s+([\d.]+)\s*$/.exec(text.trim());
  if (!m) throw new ParseError("curl", 'expected "<http_code> <time_total>"', text);
  const httpCode = Number(m[1]);
  return { httpCode, responseMs: Math.round(Number(m[2]) * 1000 * 10) / 10, ok: httpCode >= 200 && httpCode < 300 };
}

/** `redis-cli INFO stats`: the cache hit counters. */
export function parseRedisInfo(text: string): NonNullable<Evidence["redis"]> {
  const fields = new Map(lines(text).map((l) => l.split(":", 2) as [string, string]));
  const num = (k: string) => {
    const v = Number(fields.get(k));
    if (!fields.has(k) || !Number.isFinite(v)) throw new ParseError("redis-cli INFO", `no ${k}`, text);
    return v;
  };
  return {
    keyspaceHits: num("keyspace_hits"),
    keyspaceMisses: num("keyspace_misses"),
    evictedKeys: num("evicted_keys"),
  };
}

/** `psql -At -F '\t'` of `SELECT sum(blks_hit), sum(blks_read) FROM pg_stat_database`. */
export function parsePgCacheRatio(text: string): number | undefined {
  const [hit, read] = (lines(text)[0] ?? "").split("\t").map(Number);
  if (hit === undefined || read === undefined || !Number.isFinite(hit) || !Number.isFinite(read)) return undefined;
  return hit + read === 0 ? undefined : hit / (hit + read);
}

/** `psql -At -F '\t'` of calls, mean_exec_time, query from pg_stat_statements. */
export function parsePgStatements(text: string): NonNullable<Evidence["slowQueries"]> {
  return lines(text).flatMap((l) => {
    const [calls, mean, ...query] = l.split("\t");
    const c = Number(calls);
    const m = Number(mean);
    return Number.isFinite(c) && Number.isFinite(m) ? [{ calls: c, meanMs: m, query: query.join("\t") }] : [];
  });
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

function clampPct(x: number): number {
  return Math.min(100, Math.max(0, round1(x)));
}

/** One snapshot as sections: name to raw text. */
export type Snapshot = Map<string, string>;

/** Splits collect.sh output into snapshots ("=== snapshot") of sections ("--- name"). */
export function splitSnapshots(text: string): Snapshot[] {
  const snapshots: Snapshot[] = [];
  let current: Snapshot | undefined;
  let section: string | undefined;
  for (const line of text.split("\n")) {
    if (line === "=== snapshot") {
      current = new Map();
      snapshots.push(current);
      section = undefined;
    } else if (line.startsWith("--- ") && current) {
      section = line.slice(4).trim();
      current.set(section, "");
    } else if (current && section !== undefined) {
      current.set(section, `${current.get(section)}${line}\n`);
    }
  }
  return snapshots;
}

export interface SnapshotReading {
  sample: Sample;
  /** Health check status: false when curl got no 2xx. */
  healthOk: boolean;
  free: FreeReading;
  evidence: Evidence;
}

function required(s: Snapshot, name: string, index: number): string {
  const text = s.get(name);
  if (text === undefined || text.trim() === "")
    throw new Error(`snapshot ${index}: section "${name}" is missing or empty`);
  return text;
}

/** One snapshot to a sample and the evidence it carries (the optional sections). */
export function readSnapshot(s: Snapshot, index = 0): SnapshotReading {
  const at = required(s, "at", index).trim();
  const free = parseFree(required(s, "free", index));
  const { cpuPct } = parseVmstat(required(s, "vmstat", index));
  const df = s.get("df")?.trim() ? parseDf(s.get("df")!) : [];
  const curlText = s.get("curl")?.trim();
  const health = curlText ? parseCurlTiming(curlText) : undefined;

  const sample: Sample = { at, memoryPct: free.memoryPct, cpuPct };
  if (df.length > 0) sample.diskPct = Math.max(...df.map((d) => d.usePct));
  // A failed health check has no meaningful latency: leave responseMs out (a hole), and count the failure.
  if (health?.ok) sample.responseMs = health.responseMs;

  const evidence: Evidence = { hostMemoryTotalBytes: free.totalBytes };
  const ps = s.get("ps");
  if (ps?.trim())
    evidence.topProcesses = parsePs(ps)
      .slice(0, 10)
      .map(({ command, rssBytes, cpuPct: c }) => ({ command, rssBytes, cpuPct: c }));
  const docker = s.get("docker-stats");
  if (docker?.trim()) {
    evidence.containers = parseDockerStats(docker).map((d) => ({
      name: d.name,
      memUsageBytes: d.memUsageBytes,
      memLimitBytes: d.memLimitBytes,
      cpuPct: d.cpuPct,
    }));
  }
  const redis = s.get("redis-info");
  if (redis?.includes("keyspace_hits")) evidence.redis = parseRedisInfo(redis);
  const pgCache = s.get("pg-cache");
  const ratio = pgCache ? parsePgCacheRatio(pgCache) : undefined;
  if (ratio !== undefined) evidence.postgresCacheHitRatio = ratio;
  const statements = s.get("pg-statements");
  if (statements?.trim()) evidence.slowQueries = parsePgStatements(statements);
  return { sample, healthOk: health?.ok ?? false, free, evidence };
}

/**
 * All snapshots of a collect.sh run (history then a fresh one) to samples, oldest first, duplicates dropped, and the
 * evidence of the newest snapshot that has it, plus the count of failed health checks.
 */
export function readCollectorOutput(text: string): {
  samples: Sample[];
  evidence: Evidence;
  readings: SnapshotReading[];
} {
  const readings = splitSnapshots(text).map((s, i) => readSnapshot(s, i));
  if (readings.length === 0) throw new Error("collector output holds no snapshot (=== snapshot)");
  const byTime = new Map<string, SnapshotReading>();
  for (const r of readings) byTime.set(r.sample.at, r);
  const ordered = [...byTime.values()].sort((a, b) => Date.parse(a.sample.at) - Date.parse(b.sample.at));
  const newest = ordered[ordered.length - 1]!;
  const evidence: Evidence = { ...newest.evidence, failedHealthChecks: ordered.filter((r) => !r.healthOk).length };
  return { samples: ordered.map((r) => r.sample), evidence, readings: ordered };
}
