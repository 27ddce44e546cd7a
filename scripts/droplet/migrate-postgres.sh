# shellcheck shell=bash
# Tier migration steps: PostgreSQL (preflight, backup, the standby copy, lag, dump-restore, counts, health), sent
# after migrate-common.sh (see migrate.sh).

# Facts the runner needs to choose a strategy, check budgets and judge the target (which cluster this is, whether
# it is a copy this migration made, whether it holds data, whether the data fits, whether a switch back's target
# follows the source). Reads only.
step_preflight() {
  local recovery
  if ! pg_running; then
    out pg_running 0
    out pg_binary_version_num "$(binary_version_num)"
    if [ -f "$DATA_DIR_HOST/global/pg_control" ]; then
      out system_identifier "$(controldata | sed -n 's/^Database system identifier: *//p')"
    fi
  else
    out pg_running 1
    out pg_version_num "$(psql_local postgres "SHOW server_version_num")"
    recovery=$(psql_local postgres "SELECT pg_is_in_recovery()")
    out pg_in_recovery "$recovery"
    if [ "$recovery" = t ]; then
      # A standby (a switch back's target): whom it streams from, on which timeline, how far behind.
      psql_local postgres "SELECT 'standby_status=' || status, 'standby_sender=' || sender_host || ':' || sender_port,
          'standby_timeline=' || received_tli FROM pg_stat_wal_receiver" | tr '|' '\n'
      out standby_lag_bytes "$(pg_lag_bytes)"
    else
      out pg_timeline "$(psql_local postgres "SELECT $TIMELINE_NOW")"
    fi
    out db_bytes "$(psql_local postgres "SELECT coalesce(pg_database_size('$DB'), 0)")"
    out cluster_bytes "$(psql_local postgres "SELECT sum(pg_database_size(datname))::bigint FROM pg_database")"
    out system_identifier "$(psql_local postgres "SELECT system_identifier FROM pg_control_system()")"
    if [ "$(psql_local postgres "SELECT count(*) FROM pg_database WHERE datname = '$DB'")" = 1 ]; then
      # One `table_rows.<schema.table>=true|false` line per user table: does it hold at least one row?
      psql_local "$DB" "SELECT 'table_rows.' || table_schema || '.' || table_name || '=' ||
          (xpath('/row/e/text()', query_to_xml(format('SELECT EXISTS (SELECT 1 FROM %I.%I) AS e', table_schema, table_name), false, true, '')))[1]::text
        FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
        ORDER BY 1"
    fi
  fi
  if [ -f "$(fence_marker)" ]; then out fenced 1; else out fenced 0; fi
  if [ -f "$REPLICA_MARKER" ]; then out replica_of "$(sed -n 's/^system_identifier=//p' "$REPLICA_MARKER")"; fi
  out redis_role "$(redis_info_field role)"
  # Public: the other droplet's PostgreSQL clients check this server against it. One line, base64.
  out pg_tls_cert "$(base64 -w0 "$PG_TLS_DIR_HOST/server.crt")"
  # Public: the other droplet's Redis trusts it for the replica link (trust_redis_peer). One line, base64.
  out redis_tls_cert "$(base64 -w0 "$REDIS_TLS_DIR_HOST/server.crt")"
  # Public: the other droplet's Caddy trusts it when it forwards to this one's internal listener (proxy-switch.sh
  # trust). Absent on a droplet whose config sync predates it.
  if [ -n "$PROXY_TLS_DIR_HOST" ] && [ -s "$PROXY_TLS_DIR_HOST/server.crt" ]; then out proxy_tls_cert "$(base64 -w0 "$PROXY_TLS_DIR_HOST/server.crt")"; fi
  out redis_keys "$(redis_cli DBSIZE)"
  out redis_keys_total "$(redis_cli INFO keyspace | tr -d '\r' | sed -n 's/^db[0-9]*:keys=\([0-9]*\).*/\1/p' | awk '{n += $1} END {print n + 0}')"
  out data_bytes "$(du -sb "$DATA_DIR_HOST" | cut -f1)"
  out data_free_bytes "$(free_bytes "$DATA_DIR_HOST")"
  mkdir -p "$BACKUP_DIR"
  out backup_free_bytes "$(free_bytes "$BACKUP_DIR")"
}

free_bytes() { echo $(($(df -Pk "$1" | awk 'NR==2 {print $4}') * 1024)); }

# server_version_num of the installed binaries (for a stopped server): "pg_controldata (PostgreSQL) 15.10" -> 150010.
binary_version_num() {
  local v
  v=$(pg_run_offline pg_controldata -V </dev/null | sed -n 's/.*(PostgreSQL) \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')
  [ -n "$v" ] || die "could not read the PostgreSQL version of the installed binaries"
  echo $((${v% *} * 10000 + ${v#* }))
}

# Pre-migration backup, kept on this (old) droplet's volume: backup <id>
step_backup() {
  local id="${1:?backup needs an id}" file start
  mkdir -p "$BACKUP_DIR"
  file="$BACKUP_DIR/pre-migration-$id.dump"
  start=$(now_ms)
  PGPASSWORD="${POSTGRES_PASSWORD:-}" pg_dump_local -Fc -Z "${BACKUP_COMPRESSION:-1}" >"$file.partial"
  mv "$file.partial" "$file"
  out backup_file "$file"
  out backup_bytes "$(stat -c %s "$file")"
  out backup_ms $(($(now_ms) - start))
}

pg_dump_local() { pg_run pg_dump -U postgres -d "$DB" "$@" </dev/null; }

# On the NEW droplet: replace the local cluster with a streaming standby of the old one: standby <old addr> <port>
step_standby() {
  local old="${1:?standby needs the old address}" port="${2:-5432}" start
  [ -n "${REPLICATION_PASSWORD:-}" ] || die "REPLICATION_PASSWORD is not set in $ENV_FILE"
  pg_remote_tls
  register_step
  if pg_running; then
    log "stopping the local (empty) PostgreSQL"
    pg_stop_fast
  fi
  log "emptying $DATA_DIR_HOST"
  find "$DATA_DIR_HOST" -mindepth 1 -delete
  start=$(now_ms)
  log "pg_basebackup from $old:$port"
  # -R writes standby.signal + primary_conninfo; -C -S keeps WAL on the old server until the standby has it.
  # Over TLS, checking the old server (pg_remote_tls): -d's sslmode and sslrootcert go into primary_conninfo with
  # the rest of the connection's settings, so the streaming that follows checks it too.
  PGPASSWORD="$REPLICATION_PASSWORD" PGCONNECT_TIMEOUT=10 pg_run_offline pg_basebackup -d "$PG_REMOTE_TLS" \
    -h "$old" -p "$port" -U replicator -D "$PGDATA" -R -X stream -c fast -C -S "$SLOT" -P </dev/null
  out copy_ms $(($(now_ms) - start))
  out copied_bytes "$(du -sb "$DATA_DIR_HOST" | cut -f1)"
  rm -f "$(fence_marker)"
  pg_start
  [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = t ] || die "the new server is not in recovery"
  wait_until 60 wal_receiver_streaming || die "the standby is not streaming from $old:$port"
  out standby 1
}

wal_receiver_streaming() { [ "$(psql_local postgres "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'")" = 1 ]; }

# The other droplet's PostgreSQL certificate follows this script on standard input (the runner read it from that
# droplet's preflight): this droplet's clients of that server check it against it from now on (pg_remote_tls). It is
# written beside this server's own certificate, in the directory mounted into the postgres container (0644: the
# server's WAL receiver reads it through primary_conninfo, the one-off client containers too), and its path as they
# see it is recorded for the steps that connect later, when the server may be stopped.
step_pg_trust() {
  local pem name seen
  pem=$(cat)
  [ -n "$pem" ] || die "the other droplet's PostgreSQL certificate must follow this script on standard input"
  name="peer-$(pem_fingerprint <<<"$pem" | cut -c1-16).crt"
  seen=$(pg_tls_dir_seen)
  printf '%s\n' "$pem" >"$PG_TLS_DIR_HOST/$name.tmp"
  chmod 0644 "$PG_TLS_DIR_HOST/$name.tmp"
  mv -f "$PG_TLS_DIR_HOST/$name.tmp" "$PG_TLS_DIR_HOST/$name"
  write_file "$PG_PEER_CA" "$seen/$name"
  out pg_trusted 1
}

# The directory PostgreSQL reads its own certificate from, as it sees it (SHOW ssl_cert_file; the mount's target in
# the container), remembered for when it is stopped. Checked as a path libpq's conninfo takes unquoted.
pg_tls_dir_seen() {
  local dir
  if pg_running; then
    dir=$(dirname "$(psql_local postgres "SHOW ssl_cert_file")")
    [[ "$dir" =~ ^/[A-Za-z0-9/._-]+$ ]] || die "PostgreSQL's certificate directory '$dir' may only hold letters, digits and /._-"
    write_file "$PG_TLS_DIR_SEEN" "$dir"
  fi
  cat "$PG_TLS_DIR_SEEN" 2>/dev/null ||
    die "PostgreSQL is stopped here and no earlier step recorded where it reads its certificate: start it, then run again"
}

# Drop the migration's replication slot (old droplet; before the copy, and on rollback).
step_drop_slot() {
  wait_until 30 slot_inactive || die "replication slot $SLOT is still in use by a standby"
  psql_local postgres "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
  out slot_dropped 1
}

slot_inactive() { [ "$(psql_local postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT' AND active")" = 0 ]; }

# On the NEW droplet: how far behind is it? Prints lag in bytes (primary's last reported WAL end - replayed).
step_lag() {
  out pg_lag_bytes "$(pg_lag_bytes)"
  out pg_replay_lag_ms "$(psql_local postgres "SELECT coalesce((extract(epoch FROM now() - pg_last_xact_replay_timestamp()) * 1000)::bigint, 0)")"
  out redis_link "$(redis_info_field master_link_status)"
  out redis_lag_bytes $(($(redis_info_field master_repl_offset) - $(redis_info_field slave_repl_offset)))
}

pg_lag_bytes() { psql_local postgres "SELECT coalesce(pg_wal_lsn_diff(latest_end_lsn, pg_last_wal_replay_lsn()), -1)::bigint FROM pg_stat_wal_receiver"; }

caught_up() {
  local lag
  lag=$(pg_lag_bytes)
  [ -n "$lag" ] && [ "$lag" -ge 0 ] && [ "$lag" -le "$1" ] && redis_link_up
}

# On the NEW droplet: wait until replication lag is at most <max bytes> within <seconds>, else exit 3 (budget).
step_catchup() {
  local max="${1:?catchup needs max lag bytes}" seconds="${2:-60}"
  wait_until "$seconds" caught_up "$max" || { step_lag; die "replication did not catch up to <= $max bytes within ${seconds}s" 3; }
  step_lag
}

# On the OLD droplet, just before the fence: flush dirty buffers now, so the fence's checkpoints have little to do.
step_checkpoint() {
  local start
  start=$(now_ms)
  psql_local postgres "CHECKPOINT" >/dev/null
  out checkpoint_ms $(($(now_ms) - start))
}

# On the NEW droplet, after the commit point: stop pointing at the old server (a no-op on a restored primary). From
# here it is a server of its own, no longer this migration's copy: the replica marker goes, and a fence mark.
step_forget_primary() {
  forget_primary
  # A switch back promotes a server fenced as a primary once: its fence mark no longer says anything.
  rm -f "$REPLICA_MARKER" "$(fence_marker)"
  out forgot_primary 1
}

# The old primary is gone for good (or must not be followed any more): drop its connection settings, which also
# removes the replication password from the data directory.
forget_primary() {
  psql_local_multi "ALTER SYSTEM RESET primary_conninfo" "ALTER SYSTEM RESET primary_slot_name" "SELECT pg_reload_conf()" >/dev/null
}

# Exact row count of every table in the app database, one `count.<schema.table>=N` line each, and Redis keys.
step_counts() {
  psql_local "$DB" "SELECT 'count.' || table_schema || '.' || table_name || '=' ||
      (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text
    FROM information_schema.tables
    WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')
    ORDER BY 1"
  out redis_keys "$(redis_cli DBSIZE)"
}

# On the NEW droplet: is it serving? health [url]
step_health() {
  local url="${1:-${CHATBOT_HEALTH_URL:-}}"
  [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = f ] || die "PostgreSQL is still read-only"
  [ "$(redis_info_field role)" = master ] || die "Redis is not a master"
  if [ -n "$url" ]; then
    curl -fsS -m 5 -o /dev/null "$url" || die "health check $url failed"
  fi
  out healthy 1
}

# Dump-restore, step 1 on the OLD droplet: stop writes but keep serving reads.
step_freeze() {
  local start
  start=$(now_ms)
  psql_local_multi "ALTER SYSTEM SET default_transaction_read_only = on" "SELECT pg_reload_conf()" >/dev/null
  psql_local postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$DB' AND backend_type = 'client backend' AND pid <> pg_backend_pid()" >/dev/null
  out freeze_ms $(($(now_ms) - start))
}

step_unfreeze() {
  psql_local_multi "ALTER SYSTEM RESET default_transaction_read_only" "SELECT pg_reload_conf()" >/dev/null
  out frozen 0
}

# Dump-restore, step 2 on the NEW droplet: dump_restore <old addr> <old port> <jobs> <id>. pg_dump -Fd -j from the
# old server over the private network (the newer client dumps the older server), then pg_restore -j locally.
step_dump_restore() {
  local old="${1:?}" port="${2:-5432}" jobs="${3:-2}" id="${4:?dump_restore needs an id}" dir start
  pg_remote_tls
  register_step
  dir="migrate-in-$id"
  rm -rf "${BACKUP_DIR:?}/$dir"
  mkdir -p "$BACKUP_DIR/$dir"
  chown --reference="$DATA_DIR_HOST" "$BACKUP_DIR/$dir"
  start=$(now_ms)
  PGPASSWORD="${POSTGRES_PASSWORD:-}" pg_run pg_dump -h "$old" -p "$port" -U postgres -d "dbname=$DB $PG_REMOTE_TLS" -Fd -j "$jobs" -Z 0 \
    -f "$BACKUP_DIR_PG/$dir" </dev/null
  out dump_ms $(($(now_ms) - start))
  out dump_bytes "$(du -sb "$BACKUP_DIR/$dir" | cut -f1)"
  start=$(now_ms)
  psql_local postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '$DB' AND pid <> pg_backend_pid()" >/dev/null
  psql_local postgres "DROP DATABASE IF EXISTS $DB" >/dev/null
  psql_local postgres "CREATE DATABASE $DB" >/dev/null
  pg_run pg_restore -U postgres -d "$DB" -j "$jobs" "$BACKUP_DIR_PG/$dir" </dev/null
  out restore_ms $(($(now_ms) - start))
  rm -rf "${BACKUP_DIR:?}/$dir"
}
