/**
 * Tuning, derived from the tier: how the droplet's memory is split between the host and the four containers, and
 * the PostgreSQL, Redis, app and container settings that follow from each share. Pure: no I/O, no Pulumi.
 *
 * The memory split (MiB), for a droplet of R MiB with C vCPUs:
 *   reserve  = 512 + 64 * C            kernel, page tables, dockerd/containerd, sshd, journald, cloud agents
 *   proxy    = 128                     Caddy
 *   app      = workers * 384           one uvicorn worker per vCPU; 384 MiB each covers the interpreter, FastAPI,
 *                                      the SQLAlchemy pool and request buffers of a chat backend
 *   redis    = R / 8                   container limit; maxmemory is 75 % of it (fork copy-on-write for RDB saves
 *                                      and replication, client buffers and fragmentation live in the other 25 %)
 *   postgres = R - everything above    shared buffers plus the memory pgtune's formulas hand out
 * The container limits therefore add up to R - reserve exactly.
 *
 * PostgreSQL follows pgtune's "web application" profile (le0pard/pgtune, src/features/configuration/
 * configurationSlice.js) applied to PostgreSQL's share, not to the droplet's RAM, with max_connections derived
 * from the app's connection pools instead of pgtune's default of 200.
 */
import type { TierName } from "./tiers";
import { TIERS } from "./tiers";

export interface PoolSizes {
  /** SQLAlchemy pool_size per uvicorn worker. */
  dbPoolSize: number;
  /** SQLAlchemy max_overflow per uvicorn worker. */
  dbMaxOverflow: number;
}

export interface MemorySplit {
  totalMiB: number;
  reserveMiB: number;
  proxyMiB: number;
  appMiB: number;
  redisMiB: number;
  postgresMiB: number;
}

export interface PostgresSettings {
  max_connections: number;
  shared_buffers: string;
  effective_cache_size: string;
  maintenance_work_mem: string;
  work_mem: string;
  wal_buffers: string;
  checkpoint_completion_target: number;
  default_statistics_target: number;
  random_page_cost: number;
  effective_io_concurrency: number;
  min_wal_size: string;
  max_wal_size: string;
  max_worker_processes?: number;
  max_parallel_workers_per_gather?: number;
  max_parallel_workers?: number;
  max_parallel_maintenance_workers?: number;
}

export interface RedisSettings {
  maxmemory: string;
  "maxmemory-policy": "allkeys-lru";
}

export interface Tuning {
  tier: TierName;
  memory: MemorySplit;
  app: { workers: number; dbPoolSize: number; dbMaxOverflow: number };
  postgres: PostgresSettings;
  redis: RedisSettings;
  /** Shared memory for PostgreSQL's parallel workers (/dev/shm in the container), counted inside its limit. */
  postgresShmMiB: number;
  /** Seconds Docker waits after SIGINT before SIGKILL. PostgreSQL's fast shutdown writes a checkpoint of up to
   * max_wal_size (4 GB); 120 s covers that at 35 MB/s, far below a droplet SSD's write rate. */
  stopGraceSeconds: { postgres: number; redis: number; app: number; proxy: number };
  swapMiB: number;
}

export const PROXY_MIB = 128;
export const APP_MIB_PER_WORKER = 384;
/** Connections kept free beyond the app's pools: backups, migrations, psql sessions, monitoring. */
export const ADMIN_CONNECTIONS = 10;
/** PostgreSQL's background workers assumed by pgtune's work_mem formula below 4 CPUs (its max_worker_processes default). */
const DEFAULT_WORKER_PROCESSES = 8;
/** pgtune's floor for work_mem (MiB): the formula never hands out less. */
const WORK_MEM_FLOOR_MIB = 4;
/** pgtune's work_mem formula divides the memory beyond shared_buffers by (connections + workers) * 3. */
const WORK_MEM_PER_CONNECTION = 3;

const MiB = 1024; // kB per MiB

export function splitMemory(tier: TierName): MemorySplit {
  const { memoryMiB: total, vcpus } = TIERS[tier];
  const reserveMiB = 512 + 64 * vcpus;
  const appMiB = appWorkers(tier) * APP_MIB_PER_WORKER;
  const redisMiB = Math.floor(total / 8);
  const postgresMiB = total - reserveMiB - PROXY_MIB - appMiB - redisMiB;
  return { totalMiB: total, reserveMiB, proxyMiB: PROXY_MIB, appMiB, redisMiB, postgresMiB };
}

/** One async uvicorn worker per vCPU. */
export function appWorkers(tier: TierName): number {
  return TIERS[tier].vcpus;
}

/** The most connections the app can open: every worker's pool plus its overflow, plus the admin headroom. */
export function maxConnections(tier: TierName, pools: PoolSizes): number {
  return appWorkers(tier) * (pools.dbPoolSize + pools.dbMaxOverflow) + ADMIN_CONNECTIONS;
}

/** PostgreSQL memory units: whole MB when exact, kB otherwise. */
const kb = (kB: number) => (Math.floor(kB) % 1024 === 0 ? `${Math.floor(kB) / 1024}MB` : `${Math.floor(kB)}kB`);

/** The background workers pgtune's work_mem formula counts: one per CPU with 4 or more, else PostgreSQL's default. */
function backgroundWorkers(vcpus: number): number {
  return vcpus >= 4 ? vcpus : DEFAULT_WORKER_PROCESSES;
}

/**
 * The most connections a tier's PostgreSQL share carries: pgtune's work_mem formula solved for max_connections with
 * work_mem at its floor. Past it, work_mem stays at the floor while connections grow, so connections x 3 x work_mem
 * outgrows the memory left beside shared_buffers.
 */
export function connectionBudget(tier: TierName): {
  shareMiB: number;
  sharedBuffersMiB: number;
  workMemFloorMiB: number;
  backgroundWorkers: number;
  appWorkers: number;
  adminConnections: number;
  connections: number;
} {
  const shareMiB = splitMemory(tier).postgresMiB;
  const sharedBuffersMiB = shareMiB / 4;
  const workers = backgroundWorkers(TIERS[tier].vcpus);
  const carried = Math.floor((shareMiB - sharedBuffersMiB) / (WORK_MEM_PER_CONNECTION * WORK_MEM_FLOOR_MIB));
  return {
    shareMiB,
    sharedBuffersMiB,
    workMemFloorMiB: WORK_MEM_FLOOR_MIB,
    backgroundWorkers: workers,
    appWorkers: appWorkers(tier),
    adminConnections: ADMIN_CONNECTIONS,
    connections: carried - workers,
  };
}

export function tunePostgres(shareMiB: number, vcpus: number, maxConn: number): PostgresSettings {
  const shareKb = shareMiB * MiB;
  const sharedBuffersKb = shareKb / 4;
  let walBuffersKb = Math.floor((3 * sharedBuffersKb) / 100);
  if (walBuffersKb > 16 * MiB) walBuffersKb = 16 * MiB;
  if (walBuffersKb > 14 * MiB && walBuffersKb < 16 * MiB) walBuffersKb = 16 * MiB; // pgtune rounds up to 16MB
  if (walBuffersKb < 32) walBuffersKb = 32;

  const parallel = vcpus >= 4;
  const workers = backgroundWorkers(vcpus);
  const workMemKb = Math.max(
    WORK_MEM_FLOOR_MIB * MiB,
    (shareKb - sharedBuffersKb) / ((maxConn + workers) * WORK_MEM_PER_CONNECTION),
  );

  const settings: PostgresSettings = {
    max_connections: maxConn,
    shared_buffers: kb(sharedBuffersKb),
    effective_cache_size: kb((shareKb * 3) / 4),
    maintenance_work_mem: kb(shareKb / 16),
    work_mem: kb(workMemKb),
    wal_buffers: kb(walBuffersKb),
    checkpoint_completion_target: 0.9,
    default_statistics_target: 100,
    random_page_cost: 1.1,
    effective_io_concurrency: 200,
    min_wal_size: "1GB",
    max_wal_size: "4GB",
  };
  if (parallel) {
    const half = Math.min(4, Math.ceil(vcpus / 2));
    settings.max_worker_processes = vcpus;
    settings.max_parallel_workers_per_gather = half;
    settings.max_parallel_workers = vcpus;
    settings.max_parallel_maintenance_workers = half;
  }
  return settings;
}

export function tune(tier: TierName, pools: PoolSizes): Tuning {
  const memory = splitMemory(tier);
  const { vcpus, memoryMiB } = TIERS[tier];
  const workers = appWorkers(tier);
  return {
    tier,
    memory,
    app: { workers, dbPoolSize: pools.dbPoolSize, dbMaxOverflow: pools.dbMaxOverflow },
    postgres: tunePostgres(memory.postgresMiB, vcpus, maxConnections(tier, pools)),
    redis: { maxmemory: `${Math.floor((memory.redisMiB * 3) / 4)}mb`, "maxmemory-policy": "allkeys-lru" },
    postgresShmMiB: Math.min(1024, Math.floor(memory.postgresMiB / 8)),
    stopGraceSeconds: { postgres: 120, redis: 30, app: 30, proxy: 10 },
    // Swap is a cushion against an OOM kill during a spike, not capacity: 1 GiB up to 8 GB, 2 GiB above.
    swapMiB: memoryMiB > 8192 ? 2048 : 1024,
  };
}
