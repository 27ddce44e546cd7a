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
# script on standard input for `fence`, `switch` and `unfence` and is run with bash, never sourced) holds them while
# the source is fenced and the subscriber catches up, then lets them through to the app droplets:
#   fence     (one round trip) the internal listener closes (proxy-switch.sh gate close), the public site forwards to
#             it (proxy-switch.sh hold: Caddy retries a refused connection every 100 ms, drains the local app), then
#             the fence, over a psql session started before the hold.
#   switch    (one round trip) marker wait, setval and exact counts in one session on the subscriber (fed by one
#             session on the frozen source, started together), then the internal listener, now forwarding to the app
#             droplets, opens (proxy-switch.sh gate open): the held requests go through. Its success is the commit point.
#   unfence   (rollback) the source takes writes again, the public site forwards to the local app again
#             (proxy-switch.sh local) and the internal listener reopens to it; exit 7 if the switch had already
#             opened the gate to the app droplets (committed: nothing is rolled back).
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
#     TARGET_REDIS_HOST TARGET_REDIS_PORT TARGET_REDIS_USER TARGET_REDIS_PASSWORD TARGET_REDIS_TLS (1 = TLS).
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

load_env() {
  RUNTIME="${CHATBOT_RUNTIME:-container}"
  case "$RUNTIME" in container | host) ;; *) die "CHATBOT_RUNTIME must be container or host, got '$RUNTIME'" ;; esac
  ENV_FILE="${CHATBOT_ENV_FILE:-/etc/chatbot/app.env}"
  TARGET_ENV_FILE="${CHATBOT_TARGET_ENV_FILE:-/etc/chatbot/scale-out-target.env}"
  [ -r "$ENV_FILE" ] || die "secrets file $ENV_FILE is not readable (set CHATBOT_ENV_FILE)"
  [ -r "$TARGET_ENV_FILE" ] || die "target file $TARGET_ENV_FILE is not readable (set CHATBOT_TARGET_ENV_FILE)"
  read_secrets
  # The target file is the stack's own (renderTargetEnv): single-quoted values that hold no quote, $, ` or newline.
  # shellcheck disable=SC1090
  set -a && . "$TARGET_ENV_FILE" && set +a
  : "${TARGET_PGHOST:?TARGET_PGHOST is not set}" "${TARGET_PGPORT:?TARGET_PGPORT is not set}"
  : "${TARGET_PGUSER:?TARGET_PGUSER is not set}" "${TARGET_PGDATABASE:?TARGET_PGDATABASE is not set}"
  TARGET_PGSSLMODE="${TARGET_PGSSLMODE:-require}"
  COMPOSE_FILE_PATH="${CHATBOT_COMPOSE_FILE:-/etc/chatbot/compose.yaml}"
  CADDYFILE="${CONFIG_DIR:-/etc/chatbot}/Caddyfile"
  SAVED_CADDYFILE="${CONFIG_DIR:-/etc/chatbot}/Caddyfile.serving"
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

# The proxy script (scripts/droplet/proxy-switch.sh) when it follows this one on standard input (fence, switch and
# unfence): read whole before the step does anything else, then run with bash, never sourced.
read_proxy_script() {
  PROXY_SCRIPT=$(mktemp)
  cat >"$PROXY_SCRIPT"
  [ -s "$PROXY_SCRIPT" ] || die "the proxy script must follow this script on standard input"
}
proxy() { bash "$PROXY_SCRIPT" "$@"; }

check_upstream() { [[ "$1" =~ ^[A-Za-z0-9.-]+:[0-9]{1,5}$ ]] || die "upstream must be host:port, got '$1'"; }

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

# fence <id> [hold <internal host:port> <hold seconds>]: no new writes on the source (read-only by default, every
# client session ended), then a marker row committed after every acknowledged write: once the subscriber has it, it
# has everything before it. With `hold` (the cutover, one round trip): the psql session starts first, then this
# droplet's internal listener closes and its public site forwards there (held, see the header) and drains the local
# app; nothing is fenced if the proxy did not take the hold.
step_fence() {
  local id="${1:?fence needs an id}" t0 fifo pid rc=0 out_file
  safe_word "$id"
  if [ "${2:-}" = hold ]; then
    read_proxy_script
    check_upstream "${3:?fence hold needs host:port}"
    [[ "${4:?fence hold needs seconds}" =~ ^[1-9][0-9]{0,4}$ ]] || die "hold seconds must be a whole number, got '$4'"
  fi
  # The session connects now (before the hold) and runs the fence as soon as its SQL arrives.
  fifo=$(mktemp -u) && mkfifo -m 600 "$fifo"
  out_file=$(mktemp)
  exec 3<>"$fifo"
  psql_source -f - <"$fifo" >"$out_file" 3>&- &
  pid=$!
  if [ "${2:-}" = hold ]; then
    proxy gate close >/dev/null 3>&- || { exec 3>&-; wait "$pid" || true; rm -f "$fifo"; die "the internal listener did not close: nothing fenced"; }
    proxy hold "$3" "$4" 3>&- || { exec 3>&-; wait "$pid" || true; rm -f "$fifo"; die "the proxy did not take the hold: nothing fenced"; }
  fi
  t0=$(now_ms)
  # Twice: a session that was starting while the setting changed is caught by the second pass.
  cat >&3 <<SQL
SET default_transaction_read_only = off;
ALTER DATABASE $DB SET default_transaction_read_only = on;
SELECT count(pg_terminate_backend(pid, 5000)) AS n FROM pg_stat_activity WHERE datname = '$DB'
  AND backend_type = 'client backend' AND pid <> pg_backend_pid() \gset
SELECT pg_sleep(0.05) \gset
SELECT count(pg_terminate_backend(pid, 5000)) AS n FROM pg_stat_activity WHERE datname = '$DB'
  AND backend_type = 'client backend' AND pid <> pg_backend_pid() \gset
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

# The setval lines and exact row counts of the (fenced) source, as SQL for the subscriber: it prints the values the
# runner reads (seq.*, source.*, target.*). Counted in one statement (query_to_xml runs each count).
target_checks_sql() {
  psql_source -c "SET default_transaction_read_only = off" \
    -c "SELECT string_agg(format('SELECT setval(%L, %s, %s) \gset', format('%I.%I', schemaname, sequencename),
      coalesce(last_value, start_value), CASE WHEN last_value IS NULL THEN 'false' ELSE 'true' END), E'\n') FROM pg_sequences" \
    -c "SELECT format('SELECT ''sequences=%s'';', count(*)) FROM pg_sequences" \
    -c "SELECT format('SELECT %L || ''='' || count(*) FROM %I.%I; SELECT %L;', 'target.' || schemaname || '.' || tablename,
      schemaname, tablename, 'source.' || schemaname || '.' || tablename || '=' ||
      (xpath('/row/c/text()', query_to_xml(format('SELECT count(*) AS c FROM %I.%I', schemaname, tablename), false, true, '')))[1]::text)
    FROM pg_publication_tables WHERE pubname = '$PUB' ORDER BY 1" </dev/null
  echo "SELECT format('seq.%s.%s=%s', schemaname, sequencename, coalesce(last_value, 0)) FROM pg_sequences ORDER BY 1;"
  echo "SELECT 'checked=1';"
}

# The internal listener's upstream (the first reverse_proxy in its `http://:<port> {` block, open or gated) in a file.
internal_upstream() {
  sed -e 's/^#gate-closed# //' "$1" | awk '/^http:\/\/:[0-9]+ \{$/ { inside = 1; next } inside && /^}$/ { exit }
    inside && /^\treverse_proxy / { sub(/^\treverse_proxy /, ""); sub(/ \{$/, ""); print; exit }'
}

# The switch done: a hold is in place (its saved Caddyfile), the internal listener is open, and it forwards elsewhere
# than the local app.
switched() {
  [ -f "$SAVED_CADDYFILE" ] && grep -q '^http://:[0-9]* {$' "$CADDYFILE" &&
    [ "$(internal_upstream "$CADDYFILE")" != "$(internal_upstream "$SAVED_CADDYFILE")" ]
}

# switch <id> <catchup seconds> <upstream host:port>...: the rest of the cutover in one round trip, on the fenced
# source whose proxy holds requests. One subscriber session (started at once) waits for the marker, then runs the
# setval and count statements one source session produces meanwhile; the counts must be equal. Then the internal
# listener (closed, the held requests wait for it) forwards to the app droplets and opens: the commit point.
step_switch() {
  local id="${1:?switch needs an id}" seconds="${2:?switch needs the catchup seconds}" t0 result u
  shift 2
  safe_word "$id"
  [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "catchup seconds must be a whole number, got '$seconds'"
  [ "$#" -gt 0 ] || die "switch needs at least one upstream host:port"
  for u in "$@"; do check_upstream "$u"; done
  read_proxy_script
  grep -q '^#gate-closed# http://:' "$CADDYFILE" || die "the internal listener is not closed: fence with its hold first"
  t0=$(now_ms)
  result=$({
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
    target_checks_sql
  } | psql_target -f -) || die "catchup, sequences or counts failed on the subscriber: the gate stays closed"
  printf '%s\n' "$result"
  grep -qx 'checked=1' <<<"$result" || die "the subscriber did not run every check: the gate stays closed"
  grep -q '^source\.' <<<"$result" || die "publication $PUB has no tables"
  [ "$(grep '^source\.' <<<"$result" | sed 's/^source\.//')" = "$(grep '^target\.' <<<"$result" | sed 's/^target\.//')" ] ||
    die "row counts differ after the fence: the gate stays closed"
  out checks_ms "$(($(now_ms) - t0))"
  # The gated internal block forwards to the app droplets (in place: a bind mount sees the same inode).
  awk -v up="$*" '/^#gate-closed# http:\/\/:[0-9]+ \{$/ { inside = 1 } inside && /^#gate-closed# \treverse_proxy / && !done {
      print "#gate-closed# \treverse_proxy " up " {"; print "#gate-closed# \t\tlb_try_duration 5s"; print "#gate-closed# \t}"; done = 1; next }
    inside && /^#gate-closed# }$/ { inside = 0 } { print }' "$CADDYFILE" >"$PROXY_SCRIPT.caddy"
  grep -q "^#gate-closed# 	reverse_proxy $* {" "$PROXY_SCRIPT.caddy" || die "no internal listener block in $CADDYFILE"
  cat "$PROXY_SCRIPT.caddy" >"$CADDYFILE"
  rm -f "$PROXY_SCRIPT.caddy"
  proxy gate open || die "the internal listener did not open: the gate stays closed"
  out upstreams "$*"
  out switch_ms "$(($(now_ms) - t0))"
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

# unfence: the source takes writes again (rollback before the commit point); then its proxy serves the local app
# again (proxy-switch.sh local, if it holds) and its internal listener reopens to it. Exit 7, touching nothing, when
# the switch already opened the gate to the app droplets: past the commit point.
step_unfence() {
  read_proxy_script
  if switched; then
    out switched 1
    die "the internal listener already forwards to $(internal_upstream "$CADDYFILE"): committed, nothing rolled back" 7
  fi
  qs "ALTER DATABASE $DB RESET default_transaction_read_only" >/dev/null
  out unfenced 1
  proxy local
  proxy gate open
}

# cache_warm: copy every key of the droplet's Redis into managed Valkey (DUMP/RESTORE, TTLs kept). Keys that already
# exist on the target are left alone: after the cutover the new app's writes are newer than the copy.
step_cache_warm() {
  : "${TARGET_REDIS_HOST:?TARGET_REDIS_HOST is not set}" "${TARGET_REDIS_PORT:?TARGET_REDIS_PORT is not set}"
  : "${REDIS_HOST:?REDIS_HOST is not set}" "${REDIS_PORT:?REDIS_PORT is not set}"
  export REDIS_HOST REDIS_PORT REDIS_PASSWORD REDIS_TLS_CA TARGET_REDIS_HOST TARGET_REDIS_PORT TARGET_REDIS_USER TARGET_REDIS_PASSWORD TARGET_REDIS_TLS
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
dst = connect(env("TARGET_REDIS_HOST"), env("TARGET_REDIS_PORT"), env("TARGET_REDIS_USER") or None,
              env("TARGET_REDIS_PASSWORD"), env("TARGET_REDIS_TLS") == "1")
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
    preflight | schema | publish | subscribe | sync | lag | fence | switch | finish | \
      rollback_target | unfence | cache_warm) "step_$STEP" "$@" ;;
    *) die "unknown step '$STEP'" ;;
  esac
}

# bash reads this script from standard input; what follows it there (fence with its hold, switch and unfence:
# proxy-switch.sh) is read by that step to the end, or the step dies first: it is never run as commands.
main "$@"
