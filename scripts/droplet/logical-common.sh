#!/usr/bin/env bash
# The prelude of the scale-out's droplet steps (logical.sh): settings, secrets and the PostgreSQL sessions on the
# source (this droplet) and the target (the managed cluster). It goes first on standard input, followed by the step
# files and logical.sh's dispatch (infra/migration/steps.ts lists them, in order); nothing here runs a step.
#
# PostgreSQL is the `postgres` service of the compose project in $CHATBOT_COMPOSE_FILE; its psql/pg_dump also talk to
# the managed cluster (over the droplet's network). The cache warm-up reaches the droplet's Redis directly:
# REDIS_HOST (default the droplet's private address), REDIS_PORT, REDIS_TLS_CA (its certificate).
# Secrets never go on a command line:
#   $CHATBOT_ENV_FILE (default /etc/chatbot/app.env): POSTGRES_PASSWORD, REPLICATION_PASSWORD, REDIS_PASSWORD.
#   $CHATBOT_TARGET_ENV_FILE (default /etc/chatbot/scale-out-target.env, mode 0600, written by the stack):
#     TARGET_PGHOST TARGET_PGPORT TARGET_PGUSER TARGET_PGPASSWORD TARGET_PGDATABASE TARGET_PGSSLMODE TARGET_APP_USER
#     TARGET_PGSSLROOTCERT (the cluster's CA as psql in the postgres container sees it), needed by verify-ca, the
#     default: the cluster must prove a certificate that CA signed (postgresql.org/docs/15/libpq-ssl.html).
#     TARGET_REDIS_HOST TARGET_REDIS_PORT TARGET_REDIS_USER TARGET_REDIS_PASSWORD TARGET_REDIS_TLS (1 = TLS)
#     TARGET_REDIS_CA (optional: a CA file Valkey's certificate is checked against instead of the system's store).
set -euo pipefail

log() { printf '[%s logical %s] %s\n' "$(date +%H:%M:%S.%3N)" "${STEP:-}" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }
out() { printf '%s=%s\n' "$1" "$2"; }
now_ms() { date +%s%3N; }

# The publication, the subscription and the fence marker's table (the step files name them).
# shellcheck disable=SC2034
PUB=chatbot_scaleout SUB=chatbot_scaleout MARKER=chatbot_cutover_marker

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
      TARGET_PGHOST=* | TARGET_PGPORT=* | TARGET_PGUSER=* | TARGET_PGPASSWORD=* | TARGET_PGDATABASE=* | \
        TARGET_PGSSLMODE=* | TARGET_PGSSLROOTCERT=* | TARGET_APP_USER=* | TARGET_REDIS_HOST=* | TARGET_REDIS_PORT=* | \
        TARGET_REDIS_USER=* | TARGET_REDIS_PASSWORD=* | TARGET_REDIS_TLS=* | TARGET_REDIS_CA=*)
        key="${line%%=*}" value="${line#*=}"
        if [[ "$value" == \'*\' ]]; then value="${value:1:${#value}-2}"; fi
        printf -v "$key" '%s' "$value"
        export "${key?}"
        ;;
    esac
  done <"$TARGET_ENV_FILE"
}

# shellcheck disable=SC2034 # SWITCHED_FILE is the cutover's (logical-cutover.sh)
load_env() {
  ENV_FILE="${CHATBOT_ENV_FILE:-/etc/chatbot/app.env}"
  TARGET_ENV_FILE="${CHATBOT_TARGET_ENV_FILE:-/etc/chatbot/scale-out-target.env}"
  [ -r "$ENV_FILE" ] || die "secrets file $ENV_FILE is not readable (set CHATBOT_ENV_FILE)"
  [ -r "$TARGET_ENV_FILE" ] || die "target file $TARGET_ENV_FILE is not readable (set CHATBOT_TARGET_ENV_FILE)"
  read_secrets
  read_target
  : "${TARGET_PGHOST:?TARGET_PGHOST is not set}" "${TARGET_PGPORT:?TARGET_PGPORT is not set}"
  : "${TARGET_PGUSER:?TARGET_PGUSER is not set}" "${TARGET_PGDATABASE:?TARGET_PGDATABASE is not set}"
  TARGET_PGSSLMODE="${TARGET_PGSSLMODE:-verify-ca}"
  TARGET_PGSSLROOTCERT="${TARGET_PGSSLROOTCERT:-}"
  case "$TARGET_PGSSLMODE" in
    verify-ca | verify-full)
      [ -n "$TARGET_PGSSLROOTCERT" ] || die "TARGET_PGSSLROOTCERT is not set: $TARGET_PGSSLMODE needs a CA file"
      ;;
    require | disable) ;;
    *) die "TARGET_PGSSLMODE must be verify-ca, verify-full, require or disable, got '$TARGET_PGSSLMODE'" ;;
  esac
  COMPOSE_FILE_PATH="${CHATBOT_COMPOSE_FILE:-/etc/chatbot/compose.yaml}"
  SWITCHED_FILE="${CONFIG_DIR:-/etc/chatbot}/scale-out-switched"
  DB="${CHATBOT_DB:-chatbot}"
  REDIS_HOST="${REDIS_HOST:-$(sed -n 's/^CHATBOT_PRIVATE_IP=//p' /etc/chatbot/.env 2>/dev/null || true)}"
  REDIS_PORT="${REDIS_PORT:-6379}"
  REDIS_TLS_CA="${REDIS_TLS_CA:-/var/lib/chatbot/tls/redis/server.crt}" # the droplet's Redis is TLS only
}

dc() { docker compose -p chatbot -f "$COMPOSE_FILE_PATH" "$@"; }

# A PostgreSQL client tool. Connection settings and passwords travel in the environment (PG* names), never argv.
pg_tool() {
  local bin="$1"
  shift
  dc exec -T -u postgres -e PGHOST -e PGPORT -e PGUSER -e PGPASSWORD -e PGDATABASE -e PGSSLMODE -e PGSSLROOTCERT \
    -e PGCONNECT_TIMEOUT postgres "$bin" "$@"
}

# Source (local) and target (managed) sessions. SQL comes as arguments (-c each) or on stdin (-f -).
psql_source() {
  PGHOST=/var/run/postgresql PGPORT=5432 PGUSER=postgres PGPASSWORD="${POSTGRES_PASSWORD:-}" PGDATABASE="$DB" \
    PGSSLMODE=disable PGCONNECT_TIMEOUT=10 pg_tool psql -X -q -At -v ON_ERROR_STOP=1 "$@"
}
psql_target() {
  PGHOST="$TARGET_PGHOST" PGPORT="$TARGET_PGPORT" PGUSER="$TARGET_PGUSER" PGPASSWORD="${TARGET_PGPASSWORD:-}" \
    PGDATABASE="$TARGET_PGDATABASE" PGSSLMODE="$TARGET_PGSSLMODE" PGSSLROOTCERT="$TARGET_PGSSLROOTCERT" \
    PGCONNECT_TIMEOUT=10 pg_tool psql -X -q -At -v ON_ERROR_STOP=1 "$@"
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
