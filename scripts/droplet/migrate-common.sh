#!/usr/bin/env bash
# The prelude of the tier migration's droplet steps (migrate.sh): how to reach PostgreSQL and Redis on this droplet,
# output, waits and file helpers. It goes first on standard input, followed by the step files and migrate.sh's
# dispatch (infra/migration/steps.ts lists them, in order); nothing here runs a step.
#
# PostgreSQL and Redis are the `postgres` and `redis` services of the compose project in $CHATBOT_COMPOSE_FILE
# (/etc/chatbot/compose.yaml); the data directory is /var/lib/chatbot/postgres on the host (/var/lib/postgresql/data
# in the container), backups /var/lib/chatbot/backups (/backups inside), the migration's state
# /var/lib/chatbot/migration (CHATBOT_MIGRATION_DIR). CHATBOT_PGDATA_HOST, CHATBOT_BACKUP_DIR,
# CHATBOT_PG_TLS_DIR_HOST, CHATBOT_REDIS_TLS_DIR_HOST and CHATBOT_PROXY_TLS_DIR_HOST name other host directories.
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

# shellcheck disable=SC2034 # the step files sent after this prelude read these
load_env() {
  ENV_FILE="${CHATBOT_ENV_FILE:-/etc/chatbot/app.env}"
  [ -r "$ENV_FILE" ] || die "secrets file $ENV_FILE is not readable (set CHATBOT_ENV_FILE)"
  read_secrets
  COMPOSE_FILE_PATH="${CHATBOT_COMPOSE_FILE:-/etc/chatbot/compose.yaml}"
  DB="${CHATBOT_DB:-chatbot}"
  SLOT="${CHATBOT_SLOT:-chatbot_migration}"
  PGDATA=/var/lib/postgresql/data
  BACKUP_DIR="${CHATBOT_BACKUP_DIR:-/var/lib/chatbot/backups}"
  BACKUP_DIR_PG=/backups
  DATA_DIR_HOST="${CHATBOT_PGDATA_HOST:-/var/lib/chatbot/postgres}"
  MIGRATION_DIR="${CHATBOT_MIGRATION_DIR:-/var/lib/chatbot/migration}"
  # The volume's tls/redis directory, mounted read-only in the redis container (infra/render/compose.ts).
  REDIS_TLS_DIR=/usr/local/etc/redis/tls
  REDIS_TLS_DIR_HOST="${CHATBOT_REDIS_TLS_DIR_HOST:-/var/lib/chatbot/tls/redis}"
  # The volume's tls/postgres directory, mounted read-only in the postgres container at /etc/postgresql/tls.
  PG_TLS_DIR_HOST="${CHATBOT_PG_TLS_DIR_HOST:-/var/lib/chatbot/tls/postgres}"
  PROXY_TLS_DIR_HOST="${CHATBOT_PROXY_TLS_DIR_HOST:-/var/lib/chatbot/tls/proxy}"
  JOURNAL="$MIGRATION_DIR/journal.json"
  LOCK_DIR="$MIGRATION_DIR/lock"
  REPLICA_MARKER="$MIGRATION_DIR/replica-of"
  # Beside the certificates, for as long as a standby here streams with them (pg_trust): where the other droplet's
  # PostgreSQL certificate is, and where this server reads its own, as PostgreSQL and its client containers see them.
  PG_PEER_CA="$PG_TLS_DIR_HOST/peer-ca-path"
  PG_TLS_DIR_SEEN="$PG_TLS_DIR_HOST/tls-dir-path"
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

# Connections to the other droplet's PostgreSQL go over TLS (its pg_hba.conf refuses clear-text TCP) and check its
# server: verify-ca against that droplet's own certificate, which the runner read from its preflight over its own
# ssh connection and pg_trust put here. Self-signed with CA:TRUE and keyCertSign (tls-cert.sh), it is its own CA, so
# exactly that server passes; its names (postgres, localhost) are not the address dialled, hence verify-ca, not
# verify-full. libpq sslmode: postgresql.org/docs/15/libpq-ssl.html. A step calls it before it connects (sets
# PG_REMOTE_TLS, which stays unset otherwise: set -u then stops any use); it dies when pg_trust has not run here.
pg_remote_tls() {
  local ca
  ca=$(cat "$PG_PEER_CA" 2>/dev/null) ||
    die "no trusted certificate for the other droplet's PostgreSQL ($PG_PEER_CA): the pg_trust step must run first"
  # shellcheck disable=SC2034 # read by the PostgreSQL steps (migrate-postgres.sh, migrate-follow.sh)
  PG_REMOTE_TLS="sslmode=verify-ca sslrootcert=$ca"
}

# The SHA-256 fingerprint (hex) of the PEM certificate on standard input; dies when it is not one.
pem_fingerprint() {
  local fingerprint
  fingerprint=$(openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//; s/://g') ||
    die "what follows on standard input is not a PEM certificate"
  [ -n "$fingerprint" ] || die "what follows on standard input is not a PEM certificate"
  printf '%s' "$fingerprint"
}

# The timeline a primary writes on now: its current WAL file's name (the checkpoint's timeline can lag a promotion).
# shellcheck disable=SC2034 # read by the PostgreSQL steps
TIMELINE_NOW="('x' || left(pg_walfile_name(pg_current_wal_lsn()), 8))::bit(32)::int"

# Run a PostgreSQL client/server binary as the postgres OS user. PGPASSWORD passes through the environment.
pg_run() {
  local bin="$1"
  shift
  dc exec -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres "$bin" "$@"
}

# Same, for when the postgres service is stopped (container: a one-off container on the same volumes).
pg_run_offline() {
  local bin="$1"
  shift
  dc run --rm --no-deps -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres "$bin" "$@"
}

# psql on the local server as the superuser: psql_local <db> <sql>
psql_local() {
  local db="$1" sql="$2"
  pg_run psql -X -q -At -v ON_ERROR_STOP=1 -U postgres -d "$db" -c "$sql" </dev/null
}

# Several statements, each in its own transaction (ALTER SYSTEM cannot run in a transaction block), one connection.
psql_local_multi() {
  local args=() sql
  for sql in "$@"; do args+=(-c "$sql"); done
  pg_run psql -X -q -At -v ON_ERROR_STOP=1 -U postgres -d postgres "${args[@]}" </dev/null
}

pg_ready() { psql_local postgres "SELECT 1" >/dev/null 2>&1; }

pg_running() { [ -n "$(dc ps -q --status running postgres 2>/dev/null)" ]; }

pg_start() {
  dc start postgres >&2
  wait_until 120 pg_ready || die "PostgreSQL did not accept connections after start"
}

# Fast shutdown (the walsender sends all WAL, shutdown checkpoint included, before it exits). In a container the
# image's stop signal is SIGINT (= fast) and compose's stop_grace_period is raised: never the 10 s default + KILL.
pg_stop_fast() { dc stop -t "${PG_STOP_TIMEOUT:-300}" postgres >&2; }

controldata() { pg_run_offline pg_controldata "$PGDATA" </dev/null; }

# The checkpoint location of a cleanly shut down server, read from global/pg_control on the host: pg_controldata
# would start a one-off container inside the write gap. PostgreSQL 15's ControlFileData on x86-64 (pg_control.h):
# pg_control_version (uint32) at byte 8, state (int32) at 16 (1: DB_SHUTDOWNED), checkPoint (uint64, little-endian)
# at 32. Prints nothing (the caller falls back to pg_controldata) for another control version or state.
shutdown_checkpoint() {
  local f="$DATA_DIR_HOST/global/pg_control" version state lo hi
  version=$(od -An -v -t u4 -j 8 -N 4 "$f" 2>/dev/null) || return 0
  state=$(od -An -v -t d4 -j 16 -N 4 "$f" 2>/dev/null) || return 0
  [ "${version// /}" = 1300 ] && [ "${state// /}" = 1 ] || return 0
  read -r lo hi < <(od -An -v -t u4 -j 32 -N 8 "$f") || return 0
  printf '%X/%X\n' "$hi" "$lo"
}

redis_cli() { redis_cli_stdin "$@" </dev/null; }

# redis-cli with the caller's stdin (never the script's: callers pipe into it), e.g. -x for a secret argument.
# Over TLS (the only port), checking the server's certificate against itself: it is this droplet's own.
redis_cli_stdin() {
  REDISCLI_AUTH="${REDIS_PASSWORD:-}" dc exec -T -e REDISCLI_AUTH redis redis-cli --tls --cacert "$REDIS_TLS_DIR/server.crt" "$@"
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

fence_marker() { printf '%s/chatbot-fenced' "$DATA_DIR_HOST"; }

# standby.signal in the old data directory: if anything restarts that server, it comes up read-only, never as a
# primary. Written through the host path (root), owned like the data directory.
set_standby_signal() {
  touch "$DATA_DIR_HOST/standby.signal"
  chown --reference="$DATA_DIR_HOST" "$DATA_DIR_HOST/standby.signal"
  date -u +%FT%TZ >"$(fence_marker)"
}

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

not() { ! "$@"; }
