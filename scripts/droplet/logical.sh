#!/usr/bin/env bash
# Scale-out migration steps: logical replication from this droplet's PostgreSQL (the publisher) into the managed
# PostgreSQL cluster (the subscriber), the cutover, and the cache warm-up into managed Valkey. One step per call:
#
#   logical.sh <step> [args...]
#
# Every step runs ON the single droplet (the source), sent over ssh as standard input (`bash -s -- <step> args`) by
# the runner (infra/scale-out-migration/commands.ts builds the exact command lines); the managed cluster is reached
# from here with psql, so it needs no ssh. Everything runs inside main(), so no command can read the rest of the
# script from stdin.
#
# The cutover keeps every request: the droplet's proxy (Caddy, scripts/droplet/proxy-switch.sh, which follows this
# script on standard input for `cutover` and `unfence` and is run with bash, never sourced) holds them while the source
# is fenced and the subscriber catches up. The gate is on the app droplets' side, as in the tier migration: the
# runner closes their internal listeners (proxy-switch.sh gate close, over ssh to each) before the fence, and opens
# them right after the cutover step. So the Caddy that holds the requests is never reloaded at the commit point (a reload
# ends the old config's retry loop: the held requests would get a 502).
#   cutover   (one round trip) a subscriber session and a source session connect first; then the public site forwards
#             to the app droplets' closed listeners (proxy-switch.sh hold: Caddy retries a refused connection every
#             100 ms, drains the local app), the fence, the marker wait and setval, then the commit record
#             ($CONFIG_DIR/scale-out-switched). Its success is the commit point: the runner opens the app droplets'
#             gates next. Nothing in it grows with the data.
#   counts    (after the commit point) every published table's exact row count on the source and the cluster.
#   unfence [keep-hold]
#             (rollback) exit 7, touching nothing, if the cutover wrote its commit record; else the source takes
#             writes again and the public site forwards to the local app again (proxy-switch.sh local: a reload, so
#             the requests it holds then get Caddy's 502, never applied: a refused connection only). With keep-hold
#             the site keeps holding: the runner bounces the held requests back here first, then runs `local`.
#
# Output: `key=value` lines on stdout, human progress on stderr.
# Exit codes: 0 ok, 1 error, 3 timeout (nothing changed that a rollback cannot undo), 7 unfence found the switch done.
#
# Runtime (CHATBOT_RUNTIME), as in migrate.sh:
#   container (default, on droplets): PostgreSQL is the `postgres` service of the compose project in
#     $CHATBOT_COMPOSE_FILE; its psql/pg_dump also talk to the managed cluster (over the droplet's network).
#   host (the test harness): PG_BINDIR, PGHOST, PGPORT, PG_SOCKET_DIR (optional), REDIS_HOST, REDIS_PORT.
# Secrets never go on a command line:
#   $CHATBOT_ENV_FILE (default /etc/chatbot/app.env): POSTGRES_PASSWORD, REPLICATION_PASSWORD, REDIS_PASSWORD.
#   $CHATBOT_TARGET_ENV_FILE (default /etc/chatbot/scale-out-target.env, mode 0600, written by the stack):
#     TARGET_PGHOST TARGET_PGPORT TARGET_PGUSER TARGET_PGPASSWORD TARGET_PGDATABASE TARGET_PGSSLMODE TARGET_APP_USER
#     TARGET_REDIS_HOST TARGET_REDIS_PORT TARGET_REDIS_USER TARGET_REDIS_PASSWORD TARGET_REDIS_TLS (1 = TLS)
#     TARGET_REDIS_CA (optional: a CA file Valkey's certificate is checked against instead of the system's store).
set -euo pipefail

log() { printf '[%s logical %s] %s\n' "$(date +%H:%M:%S.%3N)" "${STEP:-}" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }
out() { printf '%s=%s\n' "$1" "$2"; }
now_ms() { date +%s%3N; }

PUB=chatbot_scaleout
SUB=chatbot_scaleout
MARKER=chatbot_cutover_marker

# The secrets file as data: of its KEY=value lines (split at the first =), only the keys the steps use are kept.
read_secrets() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      POSTGRES_PASSWORD=* | REPLICATION_PASSWORD=* | REDIS_PASSWORD=*) printf -v "${line%%=*}" '%s' "${line#*=}" ;;
    esac
  done <"$ENV_FILE"
}

# The target file (the stack's own, renderTargetEnv: KEY='value' lines) as data too: it holds the managed cluster's
# passwords, so it is read, never sourced; only the TARGET_* keys below are kept (and exported for the tools).
read_target() {
  local line key value
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      TARGET_PGHOST=* | TARGET_PGPORT=* | TARGET_PGUSER=* | TARGET_PGPASSWORD=* | TARGET_PGDATABASE=* | TARGET_PGSSLMODE=* | \
        TARGET_APP_USER=* | TARGET_REDIS_HOST=* | TARGET_REDIS_PORT=* | TARGET_REDIS_USER=* | TARGET_REDIS_PASSWORD=* | \
        TARGET_REDIS_TLS=* | TARGET_REDIS_CA=*)
        key="${line%%=*}" value="${line#*=}"
        if [[ "$value" == \'*\' ]]; then value="${value:1:${#value}-2}"; fi
        printf -v "$key" '%s' "$value"
        export "${key?}"
        ;;
    esac
  done <"$TARGET_ENV_FILE"
}

load_env() {
  RUNTIME="${CHATBOT_RUNTIME:-container}"
  case "$RUNTIME" in container | host) ;; *) die "CHATBOT_RUNTIME must be container or host, got '$RUNTIME'" ;; esac
  ENV_FILE="${CHATBOT_ENV_FILE:-/etc/chatbot/app.env}"
  TARGET_ENV_FILE="${CHATBOT_TARGET_ENV_FILE:-/etc/chatbot/scale-out-target.env}"
  [ -r "$ENV_FILE" ] || die "secrets file $ENV_FILE is not readable (set CHATBOT_ENV_FILE)"
  [ -r "$TARGET_ENV_FILE" ] || die "target file $TARGET_ENV_FILE is not readable (set CHATBOT_TARGET_ENV_FILE)"
  read_secrets
  read_target
  : "${TARGET_PGHOST:?TARGET_PGHOST is not set}" "${TARGET_PGPORT:?TARGET_PGPORT is not set}"
  : "${TARGET_PGUSER:?TARGET_PGUSER is not set}" "${TARGET_PGDATABASE:?TARGET_PGDATABASE is not set}"
  TARGET_PGSSLMODE="${TARGET_PGSSLMODE:-require}"
  COMPOSE_FILE_PATH="${CHATBOT_COMPOSE_FILE:-/etc/chatbot/compose.yaml}"
  SWITCHED_FILE="${CONFIG_DIR:-/etc/chatbot}/scale-out-switched"
  DB="${CHATBOT_DB:-chatbot}"
  if [ "$RUNTIME" = host ]; then
    : "${PG_BINDIR:?host runtime needs PG_BINDIR}" "${PGHOST:?host runtime needs PGHOST}" "${PGPORT:?host runtime needs PGPORT}"
    PG_LOCAL_HOST="${PG_SOCKET_DIR:-$PGHOST}"
  else
    REDIS_HOST="${REDIS_HOST:-$(sed -n 's/^CHATBOT_PRIVATE_IP=//p' /etc/chatbot/.env 2>/dev/null || true)}"
    REDIS_PORT="${REDIS_PORT:-6379}"
    REDIS_TLS_CA="${REDIS_TLS_CA:-/var/lib/chatbot/tls/redis/server.crt}" # the droplet's Redis is TLS only
  fi
}

dc() { docker compose -p chatbot -f "$COMPOSE_FILE_PATH" "$@"; }

# A PostgreSQL client tool. Connection settings and passwords travel in the environment (PG* names), never argv.
pg_tool() {
  local bin="$1"
  shift
  if [ "$RUNTIME" = container ]; then
    dc exec -T -u postgres -e PGHOST -e PGPORT -e PGUSER -e PGPASSWORD -e PGDATABASE -e PGSSLMODE -e PGCONNECT_TIMEOUT \
      postgres "$bin" "$@"
  else
    "$PG_BINDIR/$bin" "$@"
  fi
}

# Source (local) and target (managed) sessions. SQL comes as arguments (-c each) or on stdin (-f -).
psql_source() {
  if [ "$RUNTIME" = container ]; then
    PGHOST=/var/run/postgresql PGPORT=5432 PGUSER=postgres PGPASSWORD="${POSTGRES_PASSWORD:-}" PGDATABASE="$DB" \
      PGSSLMODE=disable PGCONNECT_TIMEOUT=10 pg_tool psql -X -q -At -v ON_ERROR_STOP=1 "$@"
  else
    PGHOST="$PG_LOCAL_HOST" PGUSER=postgres PGPASSWORD="${POSTGRES_PASSWORD:-}" PGDATABASE="$DB" PGSSLMODE=disable \
      PGCONNECT_TIMEOUT=10 pg_tool psql -X -q -At -v ON_ERROR_STOP=1 "$@"
  fi
}
psql_target() {
  PGHOST="$TARGET_PGHOST" PGPORT="$TARGET_PGPORT" PGUSER="$TARGET_PGUSER" PGPASSWORD="${TARGET_PGPASSWORD:-}" \
    PGDATABASE="$TARGET_PGDATABASE" PGSSLMODE="$TARGET_PGSSLMODE" PGCONNECT_TIMEOUT=10 \
    pg_tool psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}
# One-value query helpers (stdin closed so psql never reads the script). Source sessions switch the fence's
# read-only default off for themselves: the migration's own statements must work on a fenced source.
qs() { psql_source -c "SET default_transaction_read_only = off" -c "$1" </dev/null; }
qt() { psql_target -c "$1" </dev/null; }

# The proxy script (scripts/droplet/proxy-switch.sh) when it follows this one on standard input (cutover and unfence):
# read whole before the step does anything else, then run with bash, never sourced.
read_proxy_script() {
  PROXY_SCRIPT=$(mktemp)
  cat >"$PROXY_SCRIPT"
  [ -s "$PROXY_SCRIPT" ] || die "the proxy script must follow this script on standard input"
}
proxy() { bash "$PROXY_SCRIPT" "$@"; }

check_upstreams() {
  local u ups
  IFS=, read -r -a ups <<<"$1"
  [ "${#ups[@]}" -gt 0 ] || die "at least one upstream host:port"
  for u in "${ups[@]}"; do [[ "$u" =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] || die "upstream must be host:port, got '$u'"; done
}

safe_word() { [[ "$1" =~ ^[A-Za-z0-9_.-]+$ ]] || die "'$1' must be letters, digits, '.', '_' or '-'"; }

# ---------------------------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------------------------

step_preflight() {
  local wal
  wal=$(qs "SHOW wal_level")
  out wal_level "$wal"
  out source_version_num "$(qs "SHOW server_version_num")"
  out target_version_num "$(qt "SHOW server_version_num")"
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
  if [ "$RUNTIME" = container ]; then
    PGHOST=/var/run/postgresql PGPORT=5432 PGUSER=postgres PGPASSWORD="${POSTGRES_PASSWORD:-}" PGDATABASE="$DB" PGSSLMODE=disable \
      pg_tool pg_dump --schema-only --clean --if-exists --no-owner --no-privileges --no-publications --no-subscriptions </dev/null
  else
    PGHOST="$PG_LOCAL_HOST" PGUSER=postgres PGPASSWORD="${POSTGRES_PASSWORD:-}" PGDATABASE="$DB" PGSSLMODE=disable \
      pg_tool pg_dump --schema-only --clean --if-exists --no-owner --no-privileges --no-publications --no-subscriptions </dev/null
  fi | psql_target -f - >/dev/null
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

# fence <id> <upstream host:port>[,...] <hold seconds> (part of `cutover`): this droplet's public site forwards to
# the app droplets' closed listeners (held, see the header) and drains the local app, then no new writes on the
# source (read-only by default, every client session ended), then a marker row committed after every acknowledged
# write: once the subscriber has it, it has everything before it. The psql session connects before the hold;
# nothing is fenced if the proxy did not take the hold.
fence() {
  local id="$1" t0 fifo pid rc=0 out_file
  # The session connects now (before the hold) and runs the fence as soon as its SQL arrives.
  fifo=$(mktemp -u) && mkfifo -m 600 "$fifo"
  out_file=$(mktemp)
  exec 3<>"$fifo"
  psql_source -f - <"$fifo" >"$out_file" 3>&- &
  pid=$!
  proxy hold "$2" "$3" 3>&- || { exec 3>&-; wait "$pid" || true; rm -f "$fifo"; die "the proxy did not take the hold: nothing fenced"; }
  t0=$(now_ms)
  # Every session is signalled at once, then waited for (5 ms polls, a fresh activity snapshot each time): a session
  # still committing must be gone before the marker. pg_terminate_backend(pid, timeout) would wait in 100 ms steps,
  # one session after the other. Twice: a session that was starting while the setting changed is caught by the
  # second pass.
  cat >&3 <<SQL
SET default_transaction_read_only = off;
ALTER DATABASE $DB SET default_transaction_read_only = on;
SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = '$DB'
  AND backend_type = 'client backend' AND pid <> pg_backend_pid() \gset
$(ended_sql)
SELECT pg_sleep(0.05) \gset
SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = '$DB'
  AND backend_type = 'client backend' AND pid <> pg_backend_pid() \gset
$(ended_sql)
INSERT INTO public.$MARKER (id) VALUES ('$id');
SELECT 'fence_lsn=' || pg_current_wal_lsn();
SQL
  exec 3>&-
  wait "$pid" || rc=$?
  cat "$out_file"
  rm -f "$out_file" "$fifo"
  [ "$rc" = 0 ] || die "the fence failed (psql exit $rc)"
  out fence_ms "$(($(now_ms) - t0))"
}

# SQL: wait (at most 5 s) until no other client session of the database is left.
ended_sql() {
  cat <<SQL
DO \$\$DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '$DB' AND backend_type = 'client backend'
      AND pid <> pg_backend_pid());
    IF clock_timestamp() - t0 > interval '5 seconds' THEN RAISE EXCEPTION 'client sessions still open 5 s after they were ended'; END IF;
    PERFORM pg_sleep(0.005);
  END LOOP; END\$\$;
SQL
}

# The setval lines and exact row counts of the (fenced) source, as SQL for the subscriber: it prints the values the
# runner reads (seq.*, source.*, target.*). Counted in one statement (query_to_xml runs each count).
target_checks_sql() {
  psql_source -c "SET default_transaction_read_only = off" \
    -c "SELECT string_agg(format('SELECT setval(%L, %s, %s) \gset', format('%I.%I', schemaname, sequencename),
      coalesce(last_value, start_value), CASE WHEN last_value IS NULL THEN 'false' ELSE 'true' END), E'\n') FROM pg_sequences" \
    -c "SELECT format('SELECT ''sequences=%s'';', count(*)) FROM pg_sequences" \
    -c "SELECT format('SELECT %L;', 'tables=' || count(*)) FROM pg_publication_tables WHERE pubname = '$PUB'" </dev/null
  echo "SELECT format('seq.%s.%s=%s', schemaname, sequencename, coalesce(last_value, 0)) FROM pg_sequences ORDER BY 1;"
  echo "SELECT 'checked=1';"
}

# SQL for the subscriber: every published table's exact row count there and on the source (counted now, on the
# source's session), as target.<table>=N and source.<table>=N lines.
counts_sql() {
  psql_source -c "SELECT format('SELECT %L || ''='' || count(*) FROM %I.%I; SELECT %L;', 'target.' || schemaname || '.' || tablename,
      schemaname, tablename, 'source.' || schemaname || '.' || tablename || '=' ||
      (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text)
    FROM pg_publication_tables WHERE pubname = '$PUB' ORDER BY 1" </dev/null
}

# cutover <id> <upstream host:port>[,...] <hold seconds> <catchup seconds>: the whole cutover in one round trip.
# One subscriber session connects first (before the hold, so its start-up is outside the write gap); after the
# fence it waits for the marker (the apply worker applies in commit order: every write the source committed before
# the fence is on the cluster once the marker is), then runs the setval statements one source session produces
# meanwhile. Then the commit record: its success is the commit point. Nothing in the write gap grows with the data:
# the row counts are compared after it (`counts`).
step_cutover() {
  local id="${1:?cutover needs an id}" upstreams="${2:?cutover needs the upstreams}" hold_s="${3:?cutover needs the hold seconds}"
  local seconds="${4:?cutover needs the catchup seconds}" t0 tfifo tpid result_file result rc=0
  safe_word "$id"
  check_upstreams "$upstreams"
  [[ "$hold_s" =~ ^[1-9][0-9]{0,4}$ ]] || die "hold seconds must be a whole number, got '$hold_s'"
  [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "catchup seconds must be a whole number, got '$seconds'"
  read_proxy_script
  tfifo=$(mktemp -u) && mkfifo -m 600 "$tfifo"
  result_file=$(mktemp)
  trap 'rm -f "${tfifo:-}" "${result_file:-}"' EXIT
  exec 4<>"$tfifo"
  psql_target -f - <"$tfifo" >"$result_file" 4>&- &
  tpid=$!
  # Should the fence die, this shell's exit closes fd 4: the subscriber session ends with nothing run.
  fence "$id" "$upstreams" "$hold_s" 4>&-
  t0=$(now_ms)
  {
    cat <<SQL
SELECT clock_timestamp() AS t0 \gset
DO \$\$DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM public.$MARKER WHERE id = '$id') LOOP
    IF clock_timestamp() - t0 > interval '$seconds seconds' THEN
      RAISE EXCEPTION 'the subscriber has not applied the fence marker after ${seconds}s';
    END IF;
    PERFORM pg_sleep(0.005);
  END LOOP; END\$\$;
SELECT 'catchup_ms=' || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
SQL
    target_checks_sql 4>&-
  } >&4
  exec 4>&-
  wait "$tpid" || rc=$?
  result=$(cat "$result_file")
  rm -f "$result_file" "$tfifo"
  [ "$rc" = 0 ] || die "catchup or sequences failed on the subscriber (psql exit $rc): not switched"
  printf '%s\n' "$result"
  grep -qx 'checked=1' <<<"$result" || die "the subscriber did not run every check: not switched"
  grep -qx 'tables=0' <<<"$result" && die "publication $PUB has no tables"
  out checks_ms "$(($(now_ms) - t0))"
  # The commit record, written whole (rename): from here the managed cluster is the primary.
  printf 'id=%s\nat=%s\n' "$id" "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" >"$SWITCHED_FILE.tmp"
  mv -f "$SWITCHED_FILE.tmp" "$SWITCHED_FILE"
  out switched "$id"
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

# rollback_target: the subscriber stops following and forgets the slot; the source drops it.
step_rollback_target() {
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

# unfence [keep-hold]: the source takes writes again (rollback before the commit point); then its proxy serves the
# local app again (proxy-switch.sh local, if it holds; the requests it held get Caddy's 502 at that reload, never
# applied). With keep-hold the proxy is left holding: the runner first bounces the held requests (the app droplets'
# gates forward to this droplet's internal listener, so they reach the local app) and then runs `local` itself.
# Exit 7, touching nothing, when the switch wrote its commit record: past the commit point.
step_unfence() {
  read_proxy_script
  if [ -f "$SWITCHED_FILE" ]; then
    out switched 1
    die "the switch is done ($(tr '\n' ' ' <"$SWITCHED_FILE")in $SWITCHED_FILE): committed, nothing rolled back" 7
  fi
  qs "ALTER DATABASE $DB RESET default_transaction_read_only" >/dev/null
  out unfenced 1
  if [ "${1:-}" = keep-hold ]; then out hold kept; else proxy local; fi
}

# cache_warm: copy every key of the droplet's Redis into managed Valkey (DUMP/RESTORE, TTLs kept). Keys that already
# exist on the target are left alone: after the cutover the new app's writes are newer than the copy.
step_cache_warm() {
  : "${TARGET_REDIS_HOST:?TARGET_REDIS_HOST is not set}" "${TARGET_REDIS_PORT:?TARGET_REDIS_PORT is not set}"
  : "${REDIS_HOST:?REDIS_HOST is not set}" "${REDIS_PORT:?REDIS_PORT is not set}"
  export REDIS_HOST REDIS_PORT REDIS_PASSWORD REDIS_TLS_CA
  python3 - <<'PY'
import os, socket, ssl, time

class RespError(Exception):
    pass

def connect(host, port, user, password, tls):
    s = socket.create_connection((host, int(port)), timeout=30)
    if tls:
        ctx = tls if isinstance(tls, ssl.SSLContext) else ssl.create_default_context()
        s = ctx.wrap_socket(s, server_hostname=host)
    c = (s, s.makefile("rb"))
    if password:
        call(c, [b"AUTH"] + ([user.encode()] if user else []) + [password.encode()])
    return c

def encode(args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)

def read(f):
    line = f.readline()
    if not line:
        raise ConnectionError("connection closed")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RespError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [read(f) for _ in range(n)]
    raise ConnectionError("unexpected reply %r" % line)

def pipeline(c, commands):
    c[0].sendall(b"".join(encode(a) for a in commands))
    return [read(c[1]) for _ in commands]

def call(c, args):
    (r,) = pipeline(c, [args])
    if isinstance(r, RespError):
        raise r
    return r

env = os.environ.get
src_tls = False
if env("REDIS_TLS_CA"):  # the droplet's own certificate, reached on its private address (not a name it carries)
    src_tls = ssl.create_default_context(cafile=env("REDIS_TLS_CA"))
    src_tls.check_hostname = False
src = connect(env("REDIS_HOST"), env("REDIS_PORT"), None, env("REDIS_PASSWORD"), src_tls)
dst_tls = env("TARGET_REDIS_TLS") == "1"
if dst_tls and env("TARGET_REDIS_CA"):  # a private CA pinned by file (its certificates need not name the address)
    dst_tls = ssl.create_default_context(cafile=env("TARGET_REDIS_CA"))
    dst_tls.check_hostname = False
dst = connect(env("TARGET_REDIS_HOST"), env("TARGET_REDIS_PORT"), env("TARGET_REDIS_USER") or None,
              env("TARGET_REDIS_PASSWORD"), dst_tls)
t0 = time.time()
copied = skipped = 0
cursor = b"0"
while True:
    cursor, keys = call(src, [b"SCAN", cursor, b"COUNT", b"500"])
    if keys:
        replies = pipeline(src, [a for k in keys for a in ([b"DUMP", k], [b"PTTL", k])])
        restores = []
        for i, k in enumerate(keys):
            payload, ttl = replies[2 * i], replies[2 * i + 1]
            if payload is None or isinstance(payload, RespError) or ttl == -2:
                skipped += 1  # expired or deleted meanwhile
                continue
            restores.append([b"RESTORE", k, max(ttl, 0), payload])
        for r in pipeline(dst, restores):
            if isinstance(r, RespError):
                if not str(r).startswith("BUSYKEY"):
                    raise r
                skipped += 1
            else:
                copied += 1
    if cursor == b"0":
        break
print("warm_keys=%d" % copied)
print("warm_skipped=%d" % skipped)
print("warm_ms=%d" % int((time.time() - t0) * 1000))
PY
}

main() {
  STEP="${1:?usage: logical.sh <step> [args...]}"
  shift
  load_env
  case "$STEP" in
    preflight | schema | publish | subscribe | sync | lag | cutover | counts | finish | \
      rollback_target | unfence | cache_warm) "step_$STEP" "$@" ;;
    *) die "unknown step '$STEP'" ;;
  esac
}

# bash reads this script from standard input; what follows it there (cutover and unfence: proxy-switch.sh) is
# read by that step to the end, or the step dies first: it is never run as commands.
main "$@"
