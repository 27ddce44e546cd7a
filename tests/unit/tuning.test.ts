import { describe, expect, it } from "vitest";
import { TIER_NAMES, TIERS } from "../../infra/tiers";
import { ADMIN_CONNECTIONS, maxConnections, splitMemory, tune, tunePostgres } from "../../infra/tuning";

const pools = { dbPoolSize: 5, dbMaxOverflow: 5 };

/** "512MB" / "13797kB" -> kB */
function toKb(v: string): number {
  const m = /^(\d+)(kB|MB|GB)$/.exec(v);
  if (!m) throw new Error(`not a PostgreSQL memory value: ${v}`);
  return Number(m[1]) * { kB: 1, MB: 1024, GB: 1024 * 1024 }[m[2] as "kB" | "MB" | "GB"];
}

describe.each(TIER_NAMES)("tuning of %s", (tier) => {
  const t = tune(tier, pools);
  const { memoryMiB, vcpus } = TIERS[tier];

  it("splits memory so the container limits fit beside the reserve", () => {
    const m = splitMemory(tier);
    const containers = m.proxyMiB + m.appMiB + m.redisMiB + m.postgresMiB;
    expect(m.totalMiB).toBe(memoryMiB);
    expect(containers).toBeLessThanOrEqual(memoryMiB - m.reserveMiB);
    expect(m.reserveMiB).toBeGreaterThanOrEqual(512);
    for (const share of [m.proxyMiB, m.appMiB, m.redisMiB, m.postgresMiB]) expect(share).toBeGreaterThan(0);
    expect(m.postgresMiB).toBeGreaterThan(m.redisMiB);
  });

  it("applies pgtune's web profile to PostgreSQL's share, not to the droplet", () => {
    const shareKb = t.memory.postgresMiB * 1024;
    const p = t.postgres;
    expect(toKb(p.shared_buffers)).toBe(Math.floor(shareKb / 4));
    expect(toKb(p.effective_cache_size)).toBe(Math.floor((shareKb * 3) / 4));
    expect(toKb(p.maintenance_work_mem)).toBe(Math.floor(shareKb / 16));
    const workers = vcpus >= 4 ? vcpus : 8;
    const expectedWorkMem = Math.max(4096, (shareKb - shareKb / 4) / ((p.max_connections + workers) * 3));
    expect(toKb(p.work_mem)).toBe(Math.floor(expectedWorkMem));
    expect(toKb(p.wal_buffers)).toBeLessThanOrEqual(16 * 1024);
    expect(p).toMatchObject({
      checkpoint_completion_target: 0.9,
      random_page_cost: 1.1,
      effective_io_concurrency: 200,
      default_statistics_target: 100,
      min_wal_size: "1GB",
      max_wal_size: "4GB",
    });
    expect(toKb(p.shared_buffers)).toBeLessThan((memoryMiB * 1024) / 4); // a quarter of the share, well below a quarter of RAM
  });

  it("sets parallel workers from the vCPUs only with 4 or more", () => {
    if (vcpus >= 4) {
      expect(t.postgres.max_worker_processes).toBe(vcpus);
      expect(t.postgres.max_parallel_workers).toBe(vcpus);
      expect(t.postgres.max_parallel_workers_per_gather).toBe(Math.min(4, Math.ceil(vcpus / 2)));
    } else {
      expect(t.postgres.max_worker_processes).toBeUndefined();
    }
  });

  it("derives max_connections from the app's pools", () => {
    expect(t.app.workers).toBe(vcpus);
    expect(t.postgres.max_connections).toBe(vcpus * 10 + ADMIN_CONNECTIONS);
  });

  it("gives Redis an explicit maxmemory with headroom inside its container, evicting LRU", () => {
    const maxmemoryMiB = Number(/^(\d+)mb$/.exec(t.redis.maxmemory)![1]);
    expect(maxmemoryMiB).toBeLessThanOrEqual(t.memory.redisMiB * 0.8);
    expect(maxmemoryMiB).toBeGreaterThan(t.memory.redisMiB * 0.5);
    expect(t.redis["maxmemory-policy"]).toBe("allkeys-lru");
  });

  it("gives PostgreSQL a stop grace period far above Docker's 10 s default", () => {
    expect(t.stopGraceSeconds.postgres).toBeGreaterThanOrEqual(60);
    expect(t.postgresShmMiB).toBeLessThan(t.memory.postgresMiB);
  });
});

describe("tuning formulas", () => {
  it("rounds wal_buffers between 14 and 16 MB up to 16 MB, as pgtune does", () => {
    // share 2000 MiB -> shared_buffers 500 MiB -> 3 % = 15 MiB -> 16MB
    expect(tunePostgres(2000, 2, 30).wal_buffers).toBe("16MB");
    // share 1000 MiB -> 250 MiB -> 3 % = 7.5 MiB
    expect(tunePostgres(1000, 2, 30).wal_buffers).toBe("7680kB");
  });

  it("never lets work_mem fall below 4MB", () => {
    expect(tunePostgres(512, 2, 500).work_mem).toBe("4MB");
  });

  it("grows max_connections with the pools", () => {
    expect(maxConnections("4gb", { dbPoolSize: 10, dbMaxOverflow: 10 })).toBe(2 * 20 + ADMIN_CONNECTIONS);
    expect(tune("8gb", { dbPoolSize: 10, dbMaxOverflow: 0 }).postgres.max_connections).toBe(4 * 10 + ADMIN_CONNECTIONS);
  });
});
