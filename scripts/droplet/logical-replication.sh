# shellcheck shell=bash
# Scale-out steps: logical replication from this droplet's PostgreSQL into the managed cluster (preflight, schema,
# publish, subscribe, sync, lag), the row counts after the cutover, and its end (finish) or undoing
# (rollback_target). Sent after logical-common.sh (see logical.sh).

step_preflight() {
  local wal target
  print_state
  wal=$(qs "SHOW wal_level")
  out wal_level "$wal"
  out source_version_num "$(qs "SHOW server_version_num")"
  # A failed session inside $(...) would print an empty value and go on: the first session to the managed cluster
  # stops the step instead (unreachable, wrong password, or a certificate its CA did not sign: psql's error above).
  target=$(qt "SHOW server_version_num") || die "no session to the managed cluster at $TARGET_PGHOST:$TARGET_PGPORT"
  out target_version_num "$target"
  out db_bytes "$(qs "SELECT pg_database_size(current_database())")"
  out free_slots "$(qs "SELECT current_setting('max_replication_slots')::int - count(*) FROM pg_replication_slots")"
  # UPDATE and DELETE of a table without a primary key (or replica identity) cannot be replicated logically.
  out tables_without_pk "$(qs "SELECT coalesce(string_agg(format('%s.%s', n.nspname, c.relname), ','), '') FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema')
    AND c.relreplident = 'd' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)")"
  [ "$wal" = logical ] || die "wal_level is '$wal' on the source: logical replication needs wal_level = logical (a PostgreSQL restart)"
}

step_schema() {
  local t0
  t0=$(now_ms)
  psql_source -c "SET default_transaction_read_only = off" \
    -c "CREATE TABLE IF NOT EXISTS public.$MARKER (id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())" </dev/null
  # The schema only (no data: the subscription copies it). --clean makes a re-run after a rollback start over.
  PGHOST=/var/run/postgresql PGPORT=5432 PGUSER=postgres PGPASSWORD="${POSTGRES_PASSWORD:-}" PGDATABASE="$DB" PGSSLMODE=disable \
    pg_tool pg_dump --schema-only --clean --if-exists --no-owner --no-privileges --no-publications --no-subscriptions </dev/null |
    psql_target -f - >/dev/null
  # The app's role owns its tables again (its own schema migrations ALTER them), as on the droplet; the migration
  # user joins that role so the subscription can still write into them. Serial sequences follow their tables.
  if [ -n "${TARGET_APP_USER:-}" ] && [ "$TARGET_APP_USER" != "$TARGET_PGUSER" ]; then
    safe_word "$TARGET_APP_USER"
    psql_target -c "GRANT \"$TARGET_APP_USER\" TO CURRENT_USER" \
      -c "GRANT USAGE, CREATE ON SCHEMA public TO \"$TARGET_APP_USER\"" \
      -c "DO \$\$DECLARE s text; BEGIN
            FOR s IN SELECT format('ALTER TABLE %I.%I OWNER TO %I', schemaname, tablename, '$TARGET_APP_USER')
              FROM pg_tables WHERE schemaname = 'public' LOOP EXECUTE s; END LOOP; END\$\$" </dev/null
  fi
  out tables "$(qt "SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")"
  out schema_ms "$(($(now_ms) - t0))"
}

step_publish() {
  psql_source -c "DO \$\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = '$PUB') THEN
      CREATE PUBLICATION $PUB FOR ALL TABLES; END IF; END\$\$" \
    -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO replicator" </dev/null
  out publication "$PUB"
}

# subscribe <publisher host> <publisher port>: the address the managed cluster reaches this droplet's PostgreSQL on.
step_subscribe() {
  local host="${1:?subscribe needs the publisher host}" port="${2:?subscribe needs the publisher port}"
  safe_word "$host"
  [[ "$port" =~ ^[0-9]+$ ]] || die "publisher port must be a number, got '$port'"
  [[ "${REPLICATION_PASSWORD:-}" =~ ^[A-Za-z0-9_.~-]+$ ]] || die "REPLICATION_PASSWORD must be set and URL-safe (letters, digits, . _ ~ -)"
  # The connection string holds a password: it goes on psql's stdin, never on a command line.
  printf "CREATE SUBSCRIPTION %s CONNECTION 'host=%s port=%s dbname=%s user=replicator password=%s' PUBLICATION %s WITH (copy_data = true);\n" \
    "$SUB" "$host" "$port" "$DB" "$REPLICATION_PASSWORD" "$PUB" | psql_target -f -
  out subscription "$SUB"
}

lag_bytes() {
  qs "SELECT coalesce((SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = '$SUB'), -1)"
}

# sync <seconds>: wait until the initial copy of every table is done and the subscription streams.
step_sync() {
  local seconds="${1:-3600}" t0 state
  t0=$(now_ms)
  while :; do
    state=$(qt "SELECT count(*) FILTER (WHERE srsubstate <> 'r') || ' ' || count(*) FROM pg_subscription_rel r
      JOIN pg_subscription s ON s.oid = r.srsubid WHERE s.subname = '$SUB'")
    if [ "${state%% *}" = 0 ] && [ "${state##* }" -gt 0 ]; then break; fi
    [ $(($(now_ms) - t0)) -lt $((seconds * 1000)) ] || die "initial copy not done after ${seconds}s (not ready / tables: $state)" 3
    sleep 0.5
  done
  out sync_ms "$(($(now_ms) - t0))"
  out tables_ready "${state##* }"
  out lag_bytes "$(lag_bytes)"
}

step_lag() { out lag_bytes "$(lag_bytes)"; }

# SQL for the subscriber: every published table's exact row count there and on the source (counted now, on the
# source's session), as target.<table>=N and source.<table>=N lines.
counts_sql() {
  psql_source -c "SELECT format('SELECT %L || ''='' || count(*) FROM %I.%I; SELECT %L;', 'target.' || schemaname || '.' || tablename,
      schemaname, tablename, 'source.' || schemaname || '.' || tablename || '=' ||
      (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text)
    FROM pg_publication_tables WHERE pubname = '$PUB' ORDER BY 1" </dev/null
}

# counts: after the commit point, every published table's exact row count on the source (read-only since the fence)
# and on the cluster (which takes the app droplets' writes by now, so it has at least as many rows in a table that
# only grows): source.<table>=N and target.<table>=N lines.
step_counts() {
  local sql
  sql=$(counts_sql)
  [ -n "$sql" ] || die "publication $PUB has no tables"
  psql_target -f - <<<"$sql"
}

# finish: stop replicating (drops the slot on the source) and clean up; after the traffic has moved.
step_finish() {
  qt "DROP SUBSCRIPTION IF EXISTS $SUB" >/dev/null
  qt "DROP TABLE IF EXISTS public.$MARKER" >/dev/null
  psql_source -c "SET default_transaction_read_only = off" -c "DROP PUBLICATION IF EXISTS $PUB" </dev/null
  out finished 1
}

# rollback_target: the subscriber stops following and forgets the slot; the source drops it. Exit 7, touching
# nothing, when the cutover wrote its commit record: past the commit point the cluster is the primary.
step_rollback_target() {
  if [ -f "$SWITCHED_FILE" ]; then
    out switched 1
    die "the switch is done ($(tr '\n' ' ' <"$SWITCHED_FILE")in $SWITCHED_FILE): committed, replication left as it is" 7
  fi
  if [ "$(qt "SELECT count(*) FROM pg_subscription WHERE subname = '$SUB'")" = 1 ]; then
    psql_target -c "ALTER SUBSCRIPTION $SUB DISABLE" -c "ALTER SUBSCRIPTION $SUB SET (slot_name = NONE)" \
      -c "DROP SUBSCRIPTION $SUB" </dev/null
  fi
  local i
  for i in $(seq 1 50); do
    [ "$(qs "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SUB' AND active")" = 0 ] && break
    [ "$i" = 50 ] && die "replication slot $SUB is still active on the source"
    sleep 0.2
  done
  psql_source -c "SET default_transaction_read_only = off" \
    -c "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = '$SUB'" \
    -c "DROP PUBLICATION IF EXISTS $PUB" </dev/null >/dev/null
  out rolled_back_target 1
}
