#!/usr/bin/env bash
# Tier migration steps that run ON a droplet (old or new). One file, one step per call:
#
#   migrate.sh <step> [args...]
#
# It is sent over ssh as standard input (`bash -s -- <step> args`) by the migration runner
# (infra/migration/commands.ts builds the exact command lines), so nothing needs to be installed first; everything
# runs inside main() so no command can swallow the rest of the script from stdin.
#
# Output: machine-readable `key=value` lines on stdout, human progress on stderr.
# Exit codes: 0 ok, 1 error, 3 budget/timeout (nothing changed that a rollback cannot undo), 4 promote refused
# (the standby had not replayed the fence point: the old server may be restarted), 5 commit point uncertain,
# 6 the migration lock is held by another run (or no longer by this one), 7 rollback refused: this droplet's copy
# was already promoted (the commit point was passed even if the journal did not record it).
#
# Migration state lives on the droplet's data volume, in $CHATBOT_MIGRATION_DIR (container runtime default
# /var/lib/chatbot/migration; the host runtime must set it):
#   journal.json   (old droplet) where the migration stands; written only by journal_write: the JSON arrives on
#                  standard input after this script, goes to a temp file, is synced and renamed into place
#   history/       earlier, finished journals
#   lock/          (both droplets) owner (run=, holder=, started=) and heartbeat (its mtime: the droplet's clock
#                  judges staleness); created with mkdir (atomic), under flock on the directory
#   replica-of     (new droplet) written by claim_target before the migration changes anything there: this
#                  server is being replaced by a copy of the named source cluster (system_identifier=, migration=,
#                  source=); forget_primary removes it once the migration has committed
#   step.pgid      (new droplet) the process group of a long step in progress, so a rollback can stop one left behind
#
# Runtime switch, CHATBOT_RUNTIME:
#   container (default, on droplets): PostgreSQL and Redis are the `postgres` and `redis` services of the compose
#     project in $CHATBOT_COMPOSE_FILE (/etc/chatbot/compose.yaml); the data directory is /var/lib/chatbot/postgres
#     on the host (/var/lib/postgresql/data in the container), backups /var/lib/chatbot/backups (/backups inside).
#   host (the test harness): PostgreSQL and Redis are host processes described by PG_BINDIR, PGDATA, PGHOST,
#     PGPORT, PG_SOCKET_DIR (optional: local tools use the Unix socket), PG_CTL_OPTS (options passed to the postmaster by pg_ctl -o), PG_LOGFILE, PG_OS_USER (postgres),
#     REDIS_HOST, REDIS_PORT, REDIS_TLS_DIR (the Redis certificate's directory), PROXY_TLS_DIR (optional: the Caddy
#     internal listener's) and CHATBOT_BACKUP_DIR.
# Private connections are TLS only: PostgreSQL's pg_hba.conf refuses clear text over TCP, Redis has no clear-text
# port. Each droplet's certificates are its own (scripts/droplet/tls-cert.sh, on the data volume).
# Secrets come from $CHATBOT_ENV_FILE (default /etc/chatbot/app.env, mode 0600): POSTGRES_PASSWORD,
# REPLICATION_PASSWORD, REDIS_PASSWORD. The file is data, read as KEY=value lines (never sourced as shell); the
# values reach the tools through their environment (PGPASSWORD, REDISCLI_AUTH), never a command line.
set -euo pipefail

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S.%3N)" "${STEP:-migrate}" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }
out() { printf '%s=%s\n' "$1" "$2"; }
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------------------------------------------
# Runtime: how to reach PostgreSQL and Redis on this droplet
# ---------------------------------------------------------------------------------------------------------------

load_env() {
  RUNTIME="${CHATBOT_RUNTIME:-container}"
  case "$RUNTIME" in container | host) ;; *) die "CHATBOT_RUNTIME must be container or host, got '$RUNTIME'" ;; esac
  ENV_FILE="${CHATBOT_ENV_FILE:-/etc/chatbot/app.env}"
  [ -r "$ENV_FILE" ] || die "secrets file $ENV_FILE is not readable (set CHATBOT_ENV_FILE)"
  read_secrets
  COMPOSE_FILE_PATH="${CHATBOT_COMPOSE_FILE:-/etc/chatbot/compose.yaml}"
  DB="${CHATBOT_DB:-chatbot}"
  SLOT="${CHATBOT_SLOT:-chatbot_migration}"
  if [ "$RUNTIME" = host ]; then
    : "${PG_BINDIR:?host runtime needs PG_BINDIR}" "${PGDATA:?host runtime needs PGDATA}"
    : "${PGHOST:?host runtime needs PGHOST}" "${PGPORT:?host runtime needs PGPORT}"
    : "${REDIS_HOST:?host runtime needs REDIS_HOST}" "${REDIS_PORT:?host runtime needs REDIS_PORT}"
    PG_OS_USER="${PG_OS_USER:-postgres}"
    PG_LOCAL_HOST="${PG_SOCKET_DIR:-$PGHOST}" # local tools prefer the Unix socket when its directory is given
    PG_LOGFILE="${PG_LOGFILE:-$PGDATA/../postgres.log}"
    BACKUP_DIR="${CHATBOT_BACKUP_DIR:?host runtime needs CHATBOT_BACKUP_DIR}"
    BACKUP_DIR_PG="$BACKUP_DIR"
    DATA_DIR_HOST="$PGDATA"
    MIGRATION_DIR="${CHATBOT_MIGRATION_DIR:?host runtime needs CHATBOT_MIGRATION_DIR}"
    REDIS_TLS_DIR="${REDIS_TLS_DIR:?host runtime needs REDIS_TLS_DIR}"
    REDIS_TLS_DIR_HOST="$REDIS_TLS_DIR"
    PROXY_TLS_DIR_HOST="${PROXY_TLS_DIR:-}" # only the preflight reads it (a droplet without it reports none)
  else
    PGDATA=/var/lib/postgresql/data
    BACKUP_DIR="${CHATBOT_BACKUP_DIR:-/var/lib/chatbot/backups}"
    BACKUP_DIR_PG=/backups
    DATA_DIR_HOST="${CHATBOT_PGDATA_HOST:-/var/lib/chatbot/postgres}"
    MIGRATION_DIR="${CHATBOT_MIGRATION_DIR:-/var/lib/chatbot/migration}"
    # The volume's tls/redis directory, mounted read-only in the redis container (infra/render/compose.ts).
    REDIS_TLS_DIR=/usr/local/etc/redis/tls
    REDIS_TLS_DIR_HOST="${CHATBOT_REDIS_TLS_DIR_HOST:-/var/lib/chatbot/tls/redis}"
    PROXY_TLS_DIR_HOST="${CHATBOT_PROXY_TLS_DIR_HOST:-/var/lib/chatbot/tls/proxy}"
  fi
  JOURNAL="$MIGRATION_DIR/journal.json"
  LOCK_DIR="$MIGRATION_DIR/lock"
  REPLICA_MARKER="$MIGRATION_DIR/replica-of"
}

# The secrets file is data: KEY=value lines, of which only the three keys the steps need are kept (not exported:
# each tool gets its value through its own variable).
read_secrets() {
  local line key
  while IFS= read -r line || [ -n "$line" ]; do
    key="${line%%=*}"
    case "$line" in
      POSTGRES_PASSWORD=* | REPLICATION_PASSWORD=* | REDIS_PASSWORD=*) printf -v "$key" '%s' "${line#*=}" ;;
    esac
  done <"$ENV_FILE"
}

dc() { docker compose -p chatbot -f "$COMPOSE_FILE_PATH" "$@"; }

# Connections to the other droplet's PostgreSQL go over TLS: its pg_hba.conf refuses clear-text TCP, and `require`
# makes the client refuse a server that would not encrypt. The certificate is not checked (each droplet makes its
# own, self-signed): encrypted against listening on the private network, not proof of the peer; the ssh channel the
# runner uses is what authenticates the droplets. libpq sslmode: postgresql.org/docs/15/libpq-ssl.html.
PG_REMOTE_TLS="sslmode=require"

# Run a PostgreSQL client/server binary as the postgres OS user. PGPASSWORD passes through the environment.
pg_run() {
  local bin="$1"
  shift
  if [ "$RUNTIME" = container ]; then
    dc exec -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres "$bin" "$@"
  elif [ "$(id -u)" = 0 ]; then
    runuser -u "$PG_OS_USER" -- "$PG_BINDIR/$bin" "$@"
  else
    "$PG_BINDIR/$bin" "$@"
  fi
}

# Same, for when the postgres service is stopped (container: a one-off container on the same volumes).
pg_run_offline() {
  local bin="$1"
  shift
  if [ "$RUNTIME" = container ]; then
    dc run --rm --no-deps -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres "$bin" "$@"
  else
    pg_run "$bin" "$@"
  fi
}

# psql on the local server as the superuser: psql_local <db> <sql>
psql_local() {
  local db="$1" sql="$2"
  if [ "$RUNTIME" = container ]; then
    pg_run psql -X -q -At -v ON_ERROR_STOP=1 -U postgres -d "$db" -c "$sql" </dev/null
  else
    PGPASSWORD="${POSTGRES_PASSWORD:-}" pg_run psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_LOCAL_HOST" -p "$PGPORT" \
      -U postgres -d "$db" -c "$sql" </dev/null
  fi
}

# Several statements, each in its own transaction (ALTER SYSTEM cannot run in a transaction block), one connection.
psql_local_multi() {
  local args=() sql
  for sql in "$@"; do args+=(-c "$sql"); done
  if [ "$RUNTIME" = container ]; then
    pg_run psql -X -q -At -v ON_ERROR_STOP=1 -U postgres -d postgres "${args[@]}" </dev/null
  else
    PGPASSWORD="${POSTGRES_PASSWORD:-}" pg_run psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_LOCAL_HOST" -p "$PGPORT" \
      -U postgres -d postgres "${args[@]}" </dev/null
  fi
}

pg_ready() { psql_local postgres "SELECT 1" >/dev/null 2>&1; }

pg_running() {
  if [ "$RUNTIME" = container ]; then
    [ -n "$(dc ps -q --status running postgres 2>/dev/null)" ]
  else
    pg_run pg_ctl status -D "$PGDATA" >/dev/null 2>&1
  fi
}

pg_start() {
  if [ "$RUNTIME" = container ]; then
    dc start postgres >&2
  else
    pg_run pg_ctl start -w -t 120 -D "$PGDATA" -l "$PG_LOGFILE" -o "${PG_CTL_OPTS:-}" >&2 </dev/null
  fi
  wait_until 120 pg_ready || die "PostgreSQL did not accept connections after start"
}

# Fast shutdown (the walsender sends all WAL, shutdown checkpoint included, before it exits). In a container the
# image's stop signal is SIGINT (= fast) and compose's stop_grace_period is raised: never the 10 s default + KILL.
pg_stop_fast() {
  if [ "$RUNTIME" = container ]; then
    dc stop -t "${PG_STOP_TIMEOUT:-300}" postgres >&2
  else
    pg_run pg_ctl stop -w -t "${PG_STOP_TIMEOUT:-300}" -D "$PGDATA" -m fast >&2 </dev/null
  fi
}

controldata() { pg_run_offline pg_controldata "$PGDATA" </dev/null; }

redis_cli() { redis_cli_stdin "$@" </dev/null; }

# redis-cli with the caller's stdin (never the script's: callers pipe into it), e.g. -x for a secret argument.
# Over TLS (the only port), checking the server's certificate against itself: it is this droplet's own.
redis_cli_stdin() {
  if [ "$RUNTIME" = container ]; then
    REDISCLI_AUTH="${REDIS_PASSWORD:-}" dc exec -T -e REDISCLI_AUTH redis redis-cli --tls --cacert "$REDIS_TLS_DIR/server.crt" "$@"
  else
    REDISCLI_AUTH="${REDIS_PASSWORD:-}" redis-cli --tls --cacert "$REDIS_TLS_DIR/server.crt" -h "$REDIS_HOST" -p "$REDIS_PORT" "$@"
  fi
}

# The other droplet's Redis certificate follows this script on standard input (the runner read it from that
# droplet's preflight, over its own ssh connection). A replica checks its master's certificate against
# tls-ca-cert-file: this server trusts its own and, from now on, that one. Both go in a bundle beside its own
# certificate, named after the peer's fingerprint; CONFIG SET loads it (a restart goes back to the rendered trust).
trust_redis_peer() {
  local pem fingerprint bundle
  pem=$(cat)
  [ -n "$pem" ] || die "the other droplet's Redis certificate must follow this script on standard input"
  fingerprint=$(openssl x509 -noout -fingerprint -sha256 <<<"$pem" 2>/dev/null | sed 's/.*=//; s/://g') ||
    die "what follows on standard input is not a PEM certificate"
  [ -n "$fingerprint" ] || die "what follows on standard input is not a PEM certificate"
  bundle="trusted-${fingerprint:0:16}.crt"
  { cat "$REDIS_TLS_DIR_HOST/server.crt" && printf '%s\n' "$pem"; } >"$REDIS_TLS_DIR_HOST/$bundle.tmp"
  chmod 0644 "$REDIS_TLS_DIR_HOST/$bundle.tmp"
  mv -f "$REDIS_TLS_DIR_HOST/$bundle.tmp" "$REDIS_TLS_DIR_HOST/$bundle"
  redis_cli CONFIG SET tls-ca-cert-file "$REDIS_TLS_DIR/$bundle" | grep -q OK || die "Redis did not load $bundle as its trust"
}

# redis_info_field <field> [redis-cli options]: a field of INFO replication (this server's, or the named one's).
redis_info_field() { redis_cli "${@:2}" INFO replication | tr -d '\r' | sed -n "s/^$1://p"; }

# wait_until <seconds> <command...>: poll every 50 ms.
wait_until() {
  local limit_ms=$(($1 * 1000)) start
  shift
  start=$(now_ms)
  until "$@"; do
    [ $(($(now_ms) - start)) -lt "$limit_ms" ] || return 1
    sleep 0.05
  done
}

lsn_ge() { [ "$(psql_local postgres "SELECT pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$1') >= 0")" = t ]; }

fence_marker() { printf '%s/chatbot-fenced' "$DATA_DIR_HOST"; }

# standby.signal in the old data directory: if anything restarts that server, it comes up read-only, never as a
# primary. Written through the host path (root), owned like the data directory.
set_standby_signal() {
  touch "$DATA_DIR_HOST/standby.signal"
  chown --reference="$DATA_DIR_HOST" "$DATA_DIR_HOST/standby.signal"
  date -u +%FT%TZ >"$(fence_marker)"
}

# ---------------------------------------------------------------------------------------------------------------
# Steps
# ---------------------------------------------------------------------------------------------------------------

# Facts the runner needs to choose a strategy, check budgets and judge the target (which cluster this is, whether
# it is a copy this migration made, whether it holds data, whether the data fits). Reads only.
step_preflight() {
  if ! pg_running; then
    out pg_running 0
    out pg_binary_version_num "$(binary_version_num)"
    if [ -f "$DATA_DIR_HOST/global/pg_control" ]; then
      out system_identifier "$(controldata | sed -n 's/^Database system identifier: *//p')"
    fi
  else
    out pg_running 1
    out pg_version_num "$(psql_local postgres "SHOW server_version_num")"
    out pg_in_recovery "$(psql_local postgres "SELECT pg_is_in_recovery()")"
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

pg_dump_local() {
  if [ "$RUNTIME" = container ]; then
    pg_run pg_dump -U postgres -d "$DB" "$@" </dev/null
  else
    pg_run pg_dump -h "$PG_LOCAL_HOST" -p "$PGPORT" -U postgres -d "$DB" "$@" </dev/null
  fi
}

# On the NEW droplet, before the migration changes anything there: claim_target <source system identifier>
# <migration id> <source addr:port>. A copy stopped half-way (or a Redis that replicated, a database restored) is
# then known as this source's, and the next attempt replaces it without --overwrite-target.
step_claim_target() {
  local sysid="${1:?claim_target needs the source system identifier}" id="${2:?claim_target needs the migration id}" source="${3:?}"
  check_word "system identifier" "$sysid"
  check_word "migration id" "$id"
  check_word source "$source"
  write_file "$REPLICA_MARKER" "$(printf 'system_identifier=%s\nmigration=%s\nsource=%s' "$sysid" "$id" "$source")"
  out claimed 1
}

# On the NEW droplet: replace the local cluster with a streaming standby of the old one: standby <old addr> <port>
step_standby() {
  local old="${1:?standby needs the old address}" port="${2:-5432}" start
  [ -n "${REPLICATION_PASSWORD:-}" ] || die "REPLICATION_PASSWORD is not set in $ENV_FILE"
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
  # Over TLS (the old server's pg_hba refuses clear text): -d's sslmode=require goes into primary_conninfo with
  # the rest of the connection's settings, so the streaming that follows is encrypted too.
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

# Drop the migration's replication slot (old droplet; before the copy, and on rollback).
step_drop_slot() {
  wait_until 30 slot_inactive || die "replication slot $SLOT is still in use by a standby"
  psql_local postgres "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
  out slot_dropped 1
}

slot_inactive() { [ "$(psql_local postgres "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT' AND active")" = 0 ]; }

# On the NEW droplet: make Redis a replica of the old one: redis_replica <old addr> <old port> <announce ip>, the old
# droplet's Redis certificate on standard input (after this script). The link is TLS (tls-replication yes).
step_redis_replica() {
  local old="${1:?}" port="${2:-6379}" announce="${3:?redis_replica needs the address this replica announces}"
  register_step
  trust_redis_peer
  # The password travels on stdin (-x: last argument from stdin), never in argv (ps, docker's own logs).
  printf '%s' "${REDIS_PASSWORD:-}" | redis_cli_stdin -x CONFIG SET masterauth >/dev/null
  redis_cli CONFIG SET replica-announce-ip "$announce" >/dev/null
  redis_cli REPLICAOF "$old" "$port" >/dev/null
  wait_until 300 redis_link_up || die "Redis replication link to $old:$port did not come up"
  out redis_replica 1
}

redis_link_up() { [ "$(redis_info_field master_link_status)" = up ] && [ "$(redis_info_field master_sync_in_progress)" = 0 ]; }

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

# The armed promotion's standard input: the proxy script, GO_MARK, then (later) the go line; GO_LSN and GO_OFFSET
# are set from it. Read line by line: nothing past the go line is taken.
GO_MARK='#-- the go line follows --'
read_proxy_script_then_go() {
  local line marked=0 word=""
  PROXY_SCRIPT=$(mktemp)
  while IFS= read -r line; do
    if [ "$line" = "$GO_MARK" ]; then
      marked=1
      break
    fi
    printf '%s\n' "$line"
  done >"$PROXY_SCRIPT"
  if [ "$marked" != 1 ] || [ ! -s "$PROXY_SCRIPT" ]; then die "the proxy script, then the line '$GO_MARK', must follow this script on standard input" 4; fi
  GO_LSN="" GO_OFFSET=""
  read -r word GO_LSN GO_OFFSET || true
  [ "$word" = go ] || die "no go line from the runner (the fence did not finish): nothing promoted" 4
  [[ "$GO_LSN" =~ ^[0-9A-F]{1,8}/[0-9A-F]{1,8}$ ]] || die "the go line's fence lsn must look like 0/3000148, not '$GO_LSN': nothing promoted" 4
}

# The proxy script (scripts/droplet/proxy-switch.sh) when it follows this one on standard input (fence and promote
# with their proxy action): read whole before the step does anything else, then run with bash, never sourced.
read_proxy_script() {
  PROXY_SCRIPT=$(mktemp)
  cat >"$PROXY_SCRIPT"
  [ -s "$PROXY_SCRIPT" ] || die "the proxy script must follow this script on standard input"
}
proxy() { bash "$PROXY_SCRIPT" "$@"; }

# On the OLD droplet: the fence [hold <new internal host:port> <hold seconds>]. With `hold` (one round trip), first
# the proxy holds new requests and waits for those in flight to the local app (proxy-switch.sh hold): nothing
# writes here any more when the server stops, and nothing is fenced if the proxy did not take the hold. Then a
# fast shutdown, a check that it was clean, and a mark on the data directory so nothing restarts it as a primary
# (standby.signal). Prints the location of the shutdown checkpoint: the
# standby must replay up to it before it may be promoted.
# With `hold`, Redis pauses writes too, while PostgreSQL shuts down (redis_pause), and its offset is printed
# (redis_offset): the new droplet's Redis takes over once it has that much (promote ... gate). No offset printed
# when the pause was refused; the runner's Redis handover then runs as before.
step_fence() {
  local start control state lsn paused offset=""
  if [ "${1:-}" = hold ]; then
    read_proxy_script
    proxy hold "${2:?fence hold needs host:port}" "${3:?fence hold needs seconds}" || die "the proxy did not take the hold: nothing fenced"
    exec {paused}< <(redis_pause $(($3 * 1000)) || true)
  fi
  # No CHECKPOINT of its own: the `checkpoint` step ran just before the cutover, so the shutdown checkpoint has
  # only the last moment's writes to flush, and a CHECKPOINT here would sit inside the write downtime.
  # Read only at startup: from here on, a restart of this server (by anyone) comes up read-only.
  set_standby_signal
  start=$(now_ms)
  pg_stop_fast
  control=$(controldata)
  state=$(sed -n 's/^Database cluster state: *//p' <<<"$control")
  [ "$state" = "shut down" ] || die "PostgreSQL did not shut down cleanly (state '$state')"
  lsn=$(sed -n 's/^Latest checkpoint location: *//p' <<<"$control")
  [ -n "$lsn" ] || die "no checkpoint location in pg_controldata"
  out fence_lsn "$lsn"
  out stop_ms $(($(now_ms) - start))
  if [ -n "${paused:-}" ]; then
    read -r -u "$paused" offset || true
    exec {paused}<&-
    if [[ "$offset" =~ ^[0-9]+$ ]]; then out redis_offset "$offset"; else log "Redis did not pause writes: it hands over after the promotion"; fi
  fi
}

# redis_pause <ms>: this Redis (a master) stops taking writes for <ms> (CLIENT PAUSE WRITE, which stops expiry too;
# they resume by themselves after that, or at redis_follow or a rollback) and prints its replication offset, which
# no longer moves but for the pings to its replica. Prints nothing if it is not a master or refused the pause.
redis_pause() {
  local state
  state=$(printf 'CLIENT PAUSE %s WRITE\nINFO replication\n' "$1" | redis_cli_stdin | tr -d '\r')
  [ "$(head -n1 <<<"$state")" = OK ] && grep -qx role:master <<<"$state" || return 1
  sed -n 's/^master_repl_offset://p' <<<"$state"
}

# On the NEW droplet: promote <fence lsn> [timeout s] [gate <redis seconds> [<redis offset>]]. Exit 4 if it never
# replayed the fence point (the old server may then be restarted unchanged); after pg_promote() the migration is
# committed. A server already promoted (a resumed migration) answers promoted=1 without doing anything. With `gate`
# (same round trip), once Redis here is the master too, the internal listener opens (proxy-switch.sh gate open) and
# the requests the old proxy holds go through; gate=closed when Redis had not taken over within <redis seconds>,
# and the runner opens it after its own Redis handover. With the old Redis's paused offset (the fence's
# redis_offset), Redis here takes over by itself, while PostgreSQL promotes (redis_take_over); without it, it
# waits for the old droplet's FAILOVER.
#
# Armed (`promote - <timeout s> gate <redis seconds>`): started before the fence, the step reads the proxy script up
# to GO_MARK and then waits for the runner's line `go <fence lsn> [<redis offset>]`, sent once the fence is done:
# what a round trip costs (ssh, this shell, the proxy script) is paid before the write gap. If standard input ends
# without that line (the fence failed), it exits 4 having done nothing.
step_promote() {
  local lsn="${1:?promote needs the fence lsn}" seconds="${2:-30}" start result redis_job="" offset="${5:-}"
  if [ "${3:-}" = gate ]; then
    if [ "$lsn" = - ]; then
      read_proxy_script_then_go
      lsn=$GO_LSN offset=$GO_OFFSET
    else
      read_proxy_script
    fi
    if [ -n "$offset" ]; then
      [[ "$offset" =~ ^[0-9]+$ ]] || die "the Redis offset must be a number, not '$offset'" 2
      exec {redis_job}< <(if redis_take_over "$offset" "${4:-5}"; then echo master; else echo replica; fi)
    fi
  elif [ "$lsn" = - ]; then
    die "an armed promotion (promote -) opens the gate: promote - <seconds> gate <redis seconds>" 2
  fi
  start=$(now_ms)
  # One connection in the usual case (each psql start is a `docker compose exec` on a droplet): promote only if the
  # fence point has been replayed, then wait for the end of recovery; a server no longer in recovery (a resumed
  # migration) answers `already`. pg_promote(true) would wait too, but it looks every 100 ms (WAITS_PER_SECOND in
  # PostgreSQL 15's xlogfuncs.c), a random 0-100 ms of the write gap; this loop looks every 10 ms (at most 60 s).
  until result=$(psql_local_multi "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'already'
      WHEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$lsn') >= 0 THEN pg_promote(false)::text
      ELSE 'behind' END || ' ' || coalesce(pg_last_wal_replay_lsn()::text, '-')" \
    "DO \$\$ BEGIN FOR i IN 1..6000 LOOP
        EXIT WHEN NOT pg_is_in_recovery() OR pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$lsn') < 0;
        PERFORM pg_sleep(0.01);
      END LOOP; END \$\$" \
    "SELECT pg_is_in_recovery()") &&
    [ "${result%% *}" != behind ]; do
    [ $(($(now_ms) - start)) -lt $((seconds * 1000)) ] || die "standby did not replay up to $lsn within ${seconds}s" 4
    sleep 0.05
  done
  if [ "${result%% *}" = already ]; then
    out already_promoted 1
    out promoted 1
    open_gate_after_redis "${3:-}" "${4:-5}" "$redis_job"
    return
  fi
  # First line: "<signalled> <replay lsn>"; last line: still in recovery (t/f).
  out replay_lsn "$(head -n1 <<<"$result" | cut -d' ' -f2)"
  if [ "${result%% *}" != true ] || [ "$(tail -n1 <<<"$result")" != f ]; then
    die "pg_promote did not finish: commit point uncertain" 5
  fi
  out promoted 1
  out promote_ms $(($(now_ms) - start))
  open_gate_after_redis "${3:-}" "${4:-5}" "$redis_job"
}

# open_gate_after_redis <gate> <redis seconds> [<fd of redis_take_over's answer>]
open_gate_after_redis() {
  [ "$1" = gate ] || return 0
  local role="" job="${3:-}"
  if [ -n "$job" ]; then
    read -r -u "$job" role || true
    exec {job}<&-
    out redis_took_over "$([ "$role" = master ] && echo 1 || echo 0)"
  elif wait_until "$2" redis_is_master; then
    role=master
  fi
  if [ "$role" = master ]; then proxy gate open; else out gate closed; fi
}

# redis_take_over <offset> <seconds>: this replica has processed the old master's stream up to <offset> (the old
# one's writes are paused there), so it stops following and is the master, with everything the old one had.
# Fails, changing nothing, if it did not get that far within <seconds>.
redis_take_over() {
  wait_until "$2" redis_has_offset "$1" || { log "Redis here did not reach offset $1 within $2 s"; return 1; }
  redis_cli REPLICAOF NO ONE | grep -q OK
}

redis_has_offset() {
  local got
  got=$(redis_info_field master_repl_offset)
  [[ "$got" =~ ^[0-9]+$ ]] && [ "$got" -ge "$1" ]
}

redis_is_master() { [ "$(redis_info_field role)" = master ]; }

# On the NEW droplet, after the commit point: stop pointing at the old server (a no-op on a restored primary). From
# here it is a server of its own, no longer this migration's copy: the replica marker goes.
step_forget_primary() {
  forget_primary
  rm -f "$REPLICA_MARKER"
  out forgot_primary 1
}

# The old primary is gone for good (or must not be followed any more): drop its connection settings, which also
# removes the replication password from the data directory.
forget_primary() {
  psql_local_multi "ALTER SYSTEM RESET primary_conninfo" "ALTER SYSTEM RESET primary_slot_name" "SELECT pg_reload_conf()" >/dev/null
}

# On the OLD droplet: FAILOVER TO <new addr> <new port> [timeout ms], the new droplet's Redis certificate on standard
# input (this server becomes its replica, over TLS), or nothing there when redis_trust ran before (the cutover: the
# trust is then outside the write gap). Pauses writes, waits for the replica to have everything, swaps roles.
#
# FAILOVER's own check waits until the replica's acknowledged offset equals this server's, and a Redis 7.0 replica
# acknowledges once a second (replicationCron) or on REPLCONF GETACK, whose own bytes it does not count: measured
# here, FAILOVER alone took 65-934 ms, a random part of the write gap. So the check is done here: writes paused
# (CLIENT PAUSE WRITE also stops expiry), this server's offset read, the new server asked directly until it has
# processed that offset, and then FAILOVER ... FORCE with a 1 ms timeout, which skips Redis's check (ours passed).
step_redis_failover() {
  local new="${1:?}" port="${2:-6379}" timeout="${3:-5000}" start pem state offset ca
  start=$(now_ms)
  pem=$(cat)
  if [ -n "$pem" ]; then trust_redis_peer <<<"$pem"; fi
  # One connection (each redis-cli start is a TLS handshake, and a `docker compose exec` on a droplet): the pause, the
  # offset and role, and the trust bundle, which holds the new server's certificate (trust_redis_peer).
  state=$(printf 'CLIENT PAUSE %s WRITE\nINFO replication\nCONFIG GET tls-ca-cert-file\n' "$timeout" | redis_cli_stdin | tr -d '\r')
  if grep -qx "master_host:$new" <<<"$state"; then # handed over already (a resumed migration)
    redis_cli CLIENT UNPAUSE >/dev/null
    out redis_failover_ms 0
    return
  fi
  [ "$(head -n1 <<<"$state")" = OK ] || redis_failover_abort "CLIENT PAUSE refused"
  grep -qx "role:master" <<<"$state" || redis_failover_abort "this Redis is not a master and not a replica of $new"
  offset=$(sed -n 's/^master_repl_offset://p' <<<"$state")
  ca=$(sed -n '/^tls-ca-cert-file$/{n;p;}' <<<"$state")
  [[ "$offset" =~ ^[0-9]+$ ]] || redis_failover_abort "no master_repl_offset in INFO replication"
  [ -n "$ca" ] || redis_failover_abort "no tls-ca-cert-file in CONFIG GET"
  until peer_has_offset "$new" "$port" "$ca" "$offset"; do
    [ $(($(now_ms) - start)) -lt "$timeout" ] || redis_failover_abort "the new server $new:$port did not reach offset $offset within ${timeout} ms"
    sleep 0.01
  done
  out redis_synced_ms $(($(now_ms) - start))
  redis_cli FAILOVER TO "$new" "$port" TIMEOUT 1 FORCE | grep -q OK || redis_failover_abort "FAILOVER TO $new $port refused"
  # The forced failover happens on the server's next pass through its event loop: the polling (one connection, a
  # command every 10 ms for up to 30 s; grep stops it at the first match) provides it.
  { redis_cli -r 3000 -i 0.01 INFO replication || true; } | grep -m1 -qxF "master_host:$new"$'\r' ||
    redis_failover_abort "Redis did not hand over to $new"
  redis_cli CLIENT UNPAUSE >/dev/null
  out redis_failover_ms $(($(now_ms) - start))
}

# On the OLD droplet, after the new Redis took over by itself (promote with the fence's offset): follow it over TLS
# (redis_trust ran before the cutover; a partial resync, since this server's writes stayed paused at the offset the
# new one had), then let writes resume, which a replica refuses. redis_follow <new addr> <new port>
step_redis_follow() {
  local new="${1:?}" port="${2:-6379}" answer
  answer=$(printf 'REPLICAOF %s %s\nCLIENT UNPAUSE\n' "$new" "$port" | redis_cli_stdin | tr -d '\r')
  [[ "$(head -n1 <<<"$answer")" == OK* ]] || die "REPLICAOF $new $port refused: $(head -n1 <<<"$answer")"
  out redis_following 1
}

# Writes here resume (they would anyway once the pause times out) before the step fails.
redis_failover_abort() {
  redis_cli CLIENT UNPAUSE >/dev/null 2>&1 || true
  die "$1"
}

# The new server (a replica of this one) has processed this server's replication stream up to <offset>.
peer_has_offset() {
  local got
  got=$(redis_info_field master_repl_offset --cacert "$3" -h "$1" -p "$2")
  [[ "$got" =~ ^[0-9]+$ ]] && [ "$got" -ge "$4" ]
}


# On the OLD droplet, before the cutover: trust the new droplet's Redis certificate (on standard input) for the
# replica link the FAILOVER will make.
step_redis_trust() {
  trust_redis_peer
  out redis_trusted 1
}

# On the NEW droplet: make local Redis a master without the old one (fallback when FAILOVER cannot run).
step_redis_promote() {
  redis_cli REPLICAOF NO ONE >/dev/null
  out redis_role "$(redis_info_field role)"
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
  if [ "$RUNTIME" = container ]; then
    pg_run pg_restore -U postgres -d "$DB" -j "$jobs" "$BACKUP_DIR_PG/$dir" </dev/null
  else
    PGPASSWORD="${POSTGRES_PASSWORD:-}" pg_run pg_restore -h "$PG_LOCAL_HOST" -p "$PGPORT" -U postgres -d "$DB" -j "$jobs" \
      "$BACKUP_DIR_PG/$dir" </dev/null
  fi
  out restore_ms $(($(now_ms) - start))
  rm -rf "${BACKUP_DIR:?}/$dir"
}

# On the OLD droplet, before the commit point only: undo whatever the migration did here. Idempotent.
step_rollback_old() {
  if [ -f "$(fence_marker)" ]; then
    log "unfencing: the old server restarts unchanged, as the primary"
    rm -f "$DATA_DIR_HOST/standby.signal" "$(fence_marker)"
  fi
  pg_running || pg_start
  if [ "$(psql_local postgres "SHOW default_transaction_read_only")" = on ]; then step_unfreeze >/dev/null; fi
  [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = f ] || die "the old server is not a primary"
  [ "$(redis_info_field role)" = master ] || redis_cli REPLICAOF NO ONE >/dev/null
  # A handover stopped midway (redis_failover) may have left writes paused: they resume now, not when it times out.
  redis_cli CLIENT UNPAUSE >/dev/null
  # A copy still running (its runner gone) holds the slot: end the replication connections, then drop it.
  psql_local postgres "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication WHERE usename = 'replicator'" >/dev/null
  step_drop_slot >/dev/null
  out rolled_back 1
}

# On the NEW droplet: stop following the old server (it will be rebuilt by the next run). A long step a lost runner
# left running (a copy, a Redis sync) is stopped first.
step_rollback_new() {
  stop_registered_step
  # pg_promote() is the commit point. The journal records it one round trip later, and the new server may already
  # take writes by then (its proxy gate opens right after the promotion): a copy of the old cluster that is no
  # longer in recovery was promoted, and rolling back now would lose what it acknowledged. The runner goes forward.
  if pg_running && [ -f "$REPLICA_MARKER" ] && [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = f ] &&
    [ "$(psql_local postgres "SELECT system_identifier FROM pg_control_system()")" = "$(sed -n 's/^system_identifier=//p' "$REPLICA_MARKER")" ]; then
    out promoted 1
    die "this server is the migration's copy and it was promoted: past the commit point, nothing rolled back" 7
  fi
  if pg_running && [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = t ]; then forget_primary; fi
  [ "$(redis_info_field role)" = master ] || redis_cli REPLICAOF NO ONE >/dev/null
  out rolled_back 1
}

# On the OLD droplet, after the commit point, dump-restore: fence the frozen server for good.
step_retire() {
  if pg_running; then pg_stop_fast; fi
  set_standby_signal
  out retired 1
}

# ---------------------------------------------------------------------------------------------------------------
# Migration state: journal, lock, long steps in progress (see the header)
# ---------------------------------------------------------------------------------------------------------------

# write_file <path> <content>: temp file, synced, renamed into place (a reader sees the old or the new, whole).
write_file() {
  local tmp="$1.tmp.$$"
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$2" >"$tmp"
  sync "$tmp"
  mv -f "$tmp" "$1"
}

# Values the runner sends (run ids, holders, times) are single words: refuse anything else before writing it.
check_word() { [[ "$2" =~ ^[A-Za-z0-9._:@+-]+$ ]] || die "$1 '$2' may only hold letters, digits and ._:@+-"; }

register_step() {
  local pgid
  mkdir -p "$MIGRATION_DIR"
  # Field 5 of /proc/PID/stat is the process group: ssh started this shell as a session (and group) leader.
  read -r _ _ _ _ pgid _ <"/proc/$$/stat"
  printf '%s %s\n' "$pgid" "$STEP" >"$MIGRATION_DIR/step.pgid"
  trap 'rm -f "$MIGRATION_DIR/step.pgid"' EXIT
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# Stop the long step recorded in step.pgid if its process group still runs that step (the group leader's command
# line names it: a recycled group id is left alone).
stop_registered_step() {
  local file="$MIGRATION_DIR/step.pgid" pgid="" step=""
  [ -f "$file" ] || return 0
  read -r pgid step <"$file" || true
  if [[ "$pgid" =~ ^[0-9]+$ ]] && group_alive "$pgid" &&
    tr '\0' ' ' <"/proc/$pgid/cmdline" 2>/dev/null | grep -q -- " $step"; then
    log "stopping the $step step still running (process group $pgid)"
    kill -TERM -- "-$pgid" 2>/dev/null || true
    wait_until 30 not group_alive "$pgid" || kill -KILL -- "-$pgid" 2>/dev/null || true
    out stopped_step "$step"
  fi
  rm -f "$file"
}

not() { ! "$@"; }

# The lock owner's fields, as lock_* (the holder now) or previous_* (one being taken over) keys.
lock_fields() { sed -n 's/^run=/lock_run=/p; s/^holder=/lock_holder=/p; s/^started=/lock_started=/p' "$LOCK_DIR/owner" 2>/dev/null || true; }
previous_lock_fields() { sed -n 's/^run=/previous_run=/p; s/^holder=/previous_holder=/p; s/^started=/previous_started=/p' "$LOCK_DIR/owner" 2>/dev/null || true; }

# Seconds since the lock's last heartbeat, by this droplet's clock.
lock_age() { echo $(($(date +%s) - $(stat -c %Y "$LOCK_DIR/heartbeat" 2>/dev/null || stat -c %Y "$LOCK_DIR"))); }

own_lock() { [ -d "$LOCK_DIR" ] && [ "$(sed -n 's/^run=//p' "$LOCK_DIR/owner" 2>/dev/null)" = "$1" ]; }

# Serialise lock changes on this droplet: flock on the migration directory itself (no extra file left behind).
guard() {
  mkdir -p "$MIGRATION_DIR"
  exec 9<"$MIGRATION_DIR"
  flock -w 30 9 || die "could not lock $MIGRATION_DIR within 30 s"
}

# lock_acquire <run id> <holder host:pid> <started ISO> <stale seconds>. Exit 6 with the holder if another run
# holds a fresh lock; a lock whose heartbeat is older than <stale seconds> is taken over (its runner is gone).
step_lock_acquire() {
  local run="${1:?}" holder="${2:?}" started="${3:?}" stale="${4:-60}" age
  check_word run "$run"
  check_word holder "$holder"
  check_word started "$started"
  guard
  if mkdir "$LOCK_DIR" 2>/dev/null; then
    out lock acquired
  elif own_lock "$run"; then
    touch "$LOCK_DIR/heartbeat"
    out lock held-by-this-run
    return
  else
    age=$(lock_age)
    if [ "$age" -le "$stale" ]; then
      lock_fields
      out lock_age_s "$age"
      die "the migration lock on this droplet is held by $(sed -n 's/^holder=//p' "$LOCK_DIR/owner" 2>/dev/null) (heartbeat ${age}s ago)" 6
    fi
    previous_lock_fields
    out previous_age_s "$age"
    out lock taken-over
  fi
  write_file "$LOCK_DIR/owner" "$(printf 'run=%s\nholder=%s\nstarted=%s' "$run" "$holder" "$started")"
  touch "$LOCK_DIR/heartbeat"
}

# lock_heartbeat <run id>: refresh the lock's heartbeat; exit 6 if this run no longer holds it.
step_lock_heartbeat() {
  guard
  own_lock "${1:?}" || { lock_fields; die "the migration lock is no longer held by run $1" 6; }
  touch "$LOCK_DIR/heartbeat"
  out heartbeat 1
}

# lock_release <run id>: remove the lock if this run holds it; the directory goes too when nothing else is in it.
step_lock_release() {
  if [ ! -d "$MIGRATION_DIR" ]; then
    out lock_released 0
    return
  fi
  guard
  if own_lock "${1:?}"; then
    rm -rf "$LOCK_DIR"
    out lock_released 1
  else
    out lock_released 0
  fi
  rmdir "$MIGRATION_DIR" 2>/dev/null || true
}

# journal_read: the journal (one JSON line) and the lock, for the runner's decisions and --status.
step_journal_read() {
  if [ -f "$JOURNAL" ]; then
    out journal_present 1
    out journal "$(tr -d '\n' <"$JOURNAL")"
  else
    out journal_present 0
  fi
  if [ -d "$LOCK_DIR" ]; then
    out lock_present 1
    lock_fields
    out lock_age_s "$(lock_age)"
  else
    out lock_present 0
  fi
}

# journal_write <run id> [<id of the journal to archive>]: the JSON comes on standard input (after this script).
# Only the run holding this droplet's lock may write; a finished journal of another migration moves to history/.
step_journal_write() {
  local run="${1:?journal_write needs the run id}" archive="${2:-}" json
  check_word run "$run"
  own_lock "$run" || die "run $run does not hold the migration lock here: journal not written" 6
  json=$(cat)
  [[ "$json" == "{"*"}" ]] || die "journal_write expects one JSON object on standard input"
  if [ -n "$archive" ] && [ -f "$JOURNAL" ]; then
    check_word archive "$archive"
    mkdir -p "$MIGRATION_DIR/history"
    mv -f "$JOURNAL" "$MIGRATION_DIR/history/$archive.json"
  fi
  write_file "$JOURNAL" "$json"
  sync "$MIGRATION_DIR"
  out journal_written 1
}

main() {
  STEP="${1:-}"
  [ -n "$STEP" ] || die "usage: migrate.sh <step> [args]"
  shift
  load_env
  case "$STEP" in
    preflight | backup | standby | drop_slot | redis_replica | lag | catchup | checkpoint | fence | promote | redis_failover | redis_follow | redis_trust | \
      redis_promote | forget_primary | counts | health | freeze | unfreeze | dump_restore | rollback_old | rollback_new | retire | \
      claim_target | journal_read | journal_write | lock_acquire | lock_heartbeat | lock_release)
      "step_$STEP" "$@"
      ;;
    *) die "unknown step '$STEP'" ;;
  esac
}

# bash reads this script from standard input; what follows it there (journal_write: the journal; fence and promote
# with their proxy action: proxy-switch.sh) is read by that step to the end, or the step dies first: it is never run
# as commands.
main "$@"
