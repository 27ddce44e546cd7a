/**
 * postgresql.conf for the `postgres` container: the tuned settings from infra/tuning.ts plus what the stack needs
 * for streaming replication (tier migration), TLS for every TCP connection (pg_hba refuses clear text), and the
 * slow-query evidence the capacity checker reads.
 */
import type { PostgresSettings } from "../tuning";

/**
 * Where PostgreSQL finds the droplet's certificate in its container: the data volume's tls/postgres directory
 * (LAYOUT.postgresTls), made on the droplet by scripts/droplet/tls-cert.sh, mounted read-only.
 */
export const POSTGRES_TLS_DIR = "/etc/postgresql/tls";

/**
 * TLS on the server. The key must be owned by the server's user with mode 0600 (or by root, 0640), or PostgreSQL
 * refuses to start (src/backend/libpq/be-secure-common.c, check_ssl_key_file_permissions). TLS 1.2 is the
 * default minimum since PostgreSQL 14; stated so that a lower one is a visible change.
 * Source: postgresql.org/docs/15/ssl-tcp.html, runtime-config-connection.html#RUNTIME-CONFIG-CONNECTION-SSL.
 */
export function postgresTlsSettings(dir: string = POSTGRES_TLS_DIR) {
  return {
    ssl: "on",
    ssl_cert_file: `${dir}/server.crt`,
    ssl_key_file: `${dir}/server.key`,
    ssl_min_protocol_version: "TLSv1.2",
  } as const;
}

/** Settings that do not depend on the tier. */
export const POSTGRES_FIXED_SETTINGS = {
  listen_addresses: "*",
  port: 5432,
  hba_file: "/etc/postgresql/pg_hba.conf",
  password_encryption: "scram-sha-256",
  // Streaming replication for tier migration (a replica of the old droplet on the new one), and logical
  // replication for the move onto managed PostgreSQL (scale-out); `logical` covers both.
  wal_level: "logical",
  max_wal_senders: 10,
  max_replication_slots: 10,
  wal_keep_size: "1GB",
  hot_standby: "on",
  // Evidence for "optimize before paying more": slow statements in the log and in pg_stat_statements.
  shared_preload_libraries: "pg_stat_statements",
  log_min_duration_statement: "500ms",
  log_checkpoints: "on",
  log_lock_waits: "on",
  log_temp_files: "0",
} as const;

function quote(value: string | number): string {
  return typeof value === "number" ? String(value) : `'${value.replace(/'/g, "''")}'`;
}

/** The TLS settings as postgresql.conf lines. */
export function renderPostgresTls(dir: string = POSTGRES_TLS_DIR): string[] {
  return Object.entries(postgresTlsSettings(dir)).map(([k, v]) => `${k} = ${quote(v)}`);
}

export function renderPostgresqlConf(tuned: PostgresSettings, opts: { tlsDir?: string } = {}): string {
  const lines = [
    "# Rendered by infra/render/postgresql-conf.ts. Do not edit on the droplet: `pulumi up` overwrites it.",
    "",
    "# Tier-independent settings",
    ...Object.entries(POSTGRES_FIXED_SETTINGS).map(([k, v]) => `${k} = ${quote(v)}`),
    "",
    "# TLS with the droplet's own certificate (scripts/droplet/tls-cert.sh); pg_hba.conf refuses clear-text TCP",
    ...renderPostgresTls(opts.tlsDir),
    "",
    "# Tuned for this tier (pgtune web profile applied to PostgreSQL's memory share)",
    ...Object.entries(tuned).map(([k, v]) => `${k} = ${quote(v as string | number)}`),
    "",
  ];
  return lines.join("\n");
}
