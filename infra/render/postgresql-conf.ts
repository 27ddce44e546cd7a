/**
 * postgresql.conf for the `postgres` container: the tuned settings from infra/tuning.ts plus what the stack needs
 * for streaming replication (tier migration), TLS-free VPC access guarded by pg_hba and the firewall, and the
 * slow-query evidence the capacity checker reads.
 */
import type { PostgresSettings } from "../tuning";

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

export function renderPostgresqlConf(tuned: PostgresSettings): string {
  const lines = [
    "# Rendered by infra/render/postgresql-conf.ts. Do not edit on the droplet: `pulumi up` overwrites it.",
    "",
    "# Tier-independent settings",
    ...Object.entries(POSTGRES_FIXED_SETTINGS).map(([k, v]) => `${k} = ${quote(v)}`),
    "",
    "# Tuned for this tier (pgtune web profile applied to PostgreSQL's memory share)",
    ...Object.entries(tuned).map(([k, v]) => `${k} = ${quote(v as string | number)}`),
    "",
  ];
  return lines.join("\n");
}
