/**
 * redis.conf for the cache. The password lives in a separate, secret file (`auth.conf`) that this one includes,
 * so this file holds no secret and can be shown in plans and diffs.
 */
import { assertPasswordCharacters } from "../config";
import type { RedisSettings } from "../tuning";

export const REDIS_AUTH_INCLUDE = "/usr/local/etc/redis/auth.conf";

/**
 * Where Redis finds the droplet's certificate in its container: the data volume's tls/redis directory
 * (LAYOUT.redisTls), made on the droplet by scripts/droplet/tls-cert.sh, mounted read-only.
 */
export const REDIS_TLS_DIR = "/usr/local/etc/redis/tls";
/** The one port, TLS only. */
export const REDIS_PORT = 6379;

/**
 * TLS for clients and replication (redis.io/docs/latest/operate/oss_and_stack/management/security/encryption/;
 * redis/redis TLS.md and redis.conf). The certificate is self-signed, so it is also what this server trusts for its
 * own outgoing connections: a replica verifies its master's certificate against `tls-ca-cert-file` (a replica that
 * does not trust it logs "certificate verify failed" and never syncs). A migration adds the other droplet's
 * certificate to that trust at run time (scripts/droplet/migrate-redis.sh, trust_redis_peer). Clients prove themselves
 * with the password, not a certificate: `tls-auth-clients no`.
 */
export function renderRedisTls(dir: string = REDIS_TLS_DIR): string[] {
  return [
    `tls-cert-file ${dir}/server.crt`,
    `tls-key-file ${dir}/server.key`,
    `tls-ca-cert-file ${dir}/server.crt`,
    "tls-auth-clients no",
    "tls-replication yes",
    'tls-protocols "TLSv1.2 TLSv1.3"',
  ];
}

export function renderRedisConf(
  tuned: RedisSettings,
  opts: { dataDir: string; authInclude: string; tlsDir?: string } = {
    dataDir: "/data",
    authInclude: REDIS_AUTH_INCLUDE,
  },
): string {
  return [
    "# Rendered by infra/render/redis-conf.ts. Do not edit on the droplet: `pulumi up` overwrites it.",
    "bind 0.0.0.0",
    "# TLS only: the clear-text port is closed; clients and replication use TLS with the droplet's own certificate.",
    "port 0",
    `tls-port ${REDIS_PORT}`,
    ...renderRedisTls(opts.tlsDir),
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
