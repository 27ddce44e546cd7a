/**
 * Optimize before paying more: the checks worth making before a bigger droplet, each with the evidence found.
 *
 * Every check says whether it is worth making (`worthChecking`) and why. With no evidence a check is still listed as
 * worth making ("no data"), because "we did not look" is not "it is fine".
 */
import type { CapacityInput, TimedSample } from "./metrics";

export type OptimizeCheck = "slow-queries" | "cache-hit-rate" | "proxy-tuning" | "container-limits";

export interface OptimizeFinding {
  check: OptimizeCheck;
  worthChecking: boolean;
  evidence: string;
  action: string;
}

/** Mean execution time above which a statement counts as slow. */
export const SLOW_QUERY_MEAN_MS = 100;
/** Redis keyspace hit rate below which the cache is not doing its job. */
export const REDIS_HIT_RATE_MIN = 0.8;
/** PostgreSQL buffer cache hit ratio below which shared_buffers / the working set deserve a look. */
export const POSTGRES_HIT_RATIO_MIN = 0.99;
/** A container using more than this share of its memory limit is close to being OOM-killed. */
export const CONTAINER_LIMIT_SHARE = 0.9;

const DAY = 86_400_000;

function lastDay(samples: readonly TimedSample[]): TimedSample[] {
  const last = samples[samples.length - 1];
  return last ? samples.filter((s) => s.t >= last.t - DAY) : [];
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx]!;
}

const pct = (x: number) => `${Math.round(x * 1000) / 10}%`;
const mib = (bytes: number) => `${Math.round(bytes / 1048576)} MiB`;

function slowQueries(input: CapacityInput): OptimizeFinding {
  const action =
    "EXPLAIN ANALYZE the slowest statements (pg_stat_statements), add the missing indexes, fix N+1 queries";
  const queries = input.evidence?.slowQueries;
  if (!queries)
    return {
      check: "slow-queries",
      worthChecking: true,
      evidence: "no data: pg_stat_statements not collected",
      action,
    };
  const slow = queries
    .filter((q) => q.meanMs > SLOW_QUERY_MEAN_MS)
    .sort((a, b) => b.meanMs * b.calls - a.meanMs * a.calls);
  if (slow.length === 0) {
    return {
      check: "slow-queries",
      worthChecking: false,
      evidence: `no statement averages above ${SLOW_QUERY_MEAN_MS} ms (${queries.length} checked)`,
      action,
    };
  }
  const top = slow[0]!;
  const text = top.query.replace(/\s+/g, " ").slice(0, 80);
  return {
    check: "slow-queries",
    worthChecking: true,
    evidence: `${slow.length} statement(s) average above ${SLOW_QUERY_MEAN_MS} ms; worst by total time: ${Math.round(top.meanMs)} ms x ${top.calls} calls: ${text}`,
    action,
  };
}

function cacheHitRate(input: CapacityInput): OptimizeFinding {
  const action = "raise Redis maxmemory or cache TTLs for hot keys; size shared_buffers to the working set";
  const parts: string[] = [];
  let worth = false;
  const redis = input.evidence?.redis;
  if (redis) {
    const total = redis.keyspaceHits + redis.keyspaceMisses;
    if (total === 0) parts.push("Redis has served no lookups yet");
    else {
      const rate = redis.keyspaceHits / total;
      if (rate < REDIS_HIT_RATE_MIN) worth = true;
      parts.push(
        `Redis hit rate ${pct(rate)} (${rate < REDIS_HIT_RATE_MIN ? "below" : "at or above"} ${pct(REDIS_HIT_RATE_MIN)})`,
      );
    }
    if (redis.evictedKeys && redis.evictedKeys > 0) {
      worth = true;
      parts.push(`${redis.evictedKeys} keys evicted (maxmemory reached)`);
    }
  }
  const pg = input.evidence?.postgresCacheHitRatio;
  if (pg !== undefined) {
    if (pg < POSTGRES_HIT_RATIO_MIN) worth = true;
    parts.push(
      `PostgreSQL buffer hit ratio ${pct(pg)} (${pg < POSTGRES_HIT_RATIO_MIN ? "below" : "at or above"} ${pct(POSTGRES_HIT_RATIO_MIN)})`,
    );
  }
  if (parts.length === 0)
    return {
      check: "cache-hit-rate",
      worthChecking: true,
      evidence: "no data: Redis INFO and pg_stat_database not collected",
      action,
    };
  return { check: "cache-hit-rate", worthChecking: worth, evidence: parts.join("; "), action };
}

function proxyTuning(input: CapacityInput): OptimizeFinding {
  const action =
    "check the proxy's upstream keepalive and timeouts, compression, and the app's worker count against the vCPUs";
  const day = lastDay(input.samples);
  const latencies = day.filter((s) => s.responseMs !== undefined).map((s) => s.responseMs!);
  const failed = input.evidence?.failedHealthChecks ?? 0;
  if (latencies.length === 0) {
    return {
      check: "proxy-tuning",
      worthChecking: true,
      evidence: "no data: no response times in the last 24 h",
      action,
    };
  }
  const p95 = percentile(latencies, 95);
  const cpuMedian = percentile(
    day.map((s) => s.cpuPct),
    50,
  );
  // Slow answers while the CPU idles point at queuing in front of the app, not at the droplet's size.
  const queuing = p95 > 1000 && cpuMedian < 60;
  const parts = [`p95 response ${Math.round(p95)} ms with median CPU ${Math.round(cpuMedian)}% over the last 24 h`];
  if (failed > 0) parts.push(`${failed} failed health check(s)`);
  if (queuing) parts.push("slow while the CPU is mostly idle: requests are waiting, not computing");
  return { check: "proxy-tuning", worthChecking: queuing || failed > 0, evidence: parts.join("; "), action };
}

function containerLimits(input: CapacityInput): OptimizeFinding {
  const action =
    "set mem_limit per service from infra/tuning (no unbounded container), and raise a limit that is nearly full before resizing the droplet";
  const containers = input.evidence?.containers;
  if (!containers || containers.length === 0) {
    return { check: "container-limits", worthChecking: true, evidence: "no data: docker stats not collected", action };
  }
  const host = input.evidence?.hostMemoryTotalBytes;
  const notes: string[] = [];
  let worth = false;
  for (const c of containers) {
    const unbounded = c.memLimitBytes === 0 || (host !== undefined && c.memLimitBytes >= host * 0.98);
    if (unbounded) {
      worth = true;
      notes.push(`${c.name} has no memory limit (uses ${mib(c.memUsageBytes)})`);
    } else if (c.memUsageBytes > c.memLimitBytes * CONTAINER_LIMIT_SHARE) {
      worth = true;
      notes.push(`${c.name} uses ${pct(c.memUsageBytes / c.memLimitBytes)} of its ${mib(c.memLimitBytes)} limit`);
    }
  }
  if (!worth)
    notes.push(`all ${containers.length} containers have limits and are below ${pct(CONTAINER_LIMIT_SHARE)} of them`);
  return { check: "container-limits", worthChecking: worth, evidence: notes.join("; "), action };
}

export function optimizeFirst(input: CapacityInput): OptimizeFinding[] {
  return [slowQueries(input), cacheHitRate(input), proxyTuning(input), containerLimits(input)];
}
