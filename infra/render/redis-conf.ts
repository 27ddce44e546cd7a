/**
 * redis.conf for the cache. The password lives in a separate, secret file (`auth.conf`) that this one includes,
 * so this file holds no secret and can be shown in plans and diffs.
 */
import { assertPasswordCharacters } from "../config";
import type { RedisSettings } from "../tuning";

export const REDIS_AUTH_INCLUDE = "/usr/local/etc/redis/auth.conf";

export function renderRedisConf(tuned: RedisSettings, opts: { dataDir: string; authInclude: string } = { dataDir: "/data", authInclude: REDIS_AUTH_INCLUDE }): string {
  return [
    "# Rendered by infra/render/redis-conf.ts. Do not edit on the droplet: `pulumi up` overwrites it.",
    "bind 0.0.0.0",
    "port 6379",
    "protected-mode yes",
    `dir ${opts.dataDir}`,
    "tcp-keepalive 300",
    "timeout 0",
    "# Cache role: bounded memory, least-recently-used keys evicted first.",
    `maxmemory ${tuned.maxmemory}`,
    `maxmemory-policy ${tuned["maxmemory-policy"]}`,
    "# Snapshots keep the cache warm across restarts; a failed save must not stop writes to a cache.",
    "save 900 1 300 100",
    "stop-writes-on-bgsave-error no",
    "appendonly no",
    "# Replication (tier migration): diskless full sync, replica serves stale data while syncing.",
    "repl-diskless-sync yes",
    "replica-serve-stale-data yes",
    "replica-read-only yes",
    `include ${opts.authInclude}`,
    "",
  ].join("\n");
}

/**
 * The secret part: requirepass and masterauth (the same password on every server of the stack), unquoted: Redis would
 * split a space and read quotes, so the password keeps to the characters of infra/config.ts's password rule.
 */
export function renderRedisAuth(password: string): string {
  assertPasswordCharacters("redisPassword", password);
  return `requirepass ${password}\nmasterauth ${password}\n`;
}
