# shellcheck shell=bash disable=SC2034 # variables here are used by the scripts that source this file
# Shared by the day-2 jobs (backup.sh, vacuum.sh, restore-drill.sh): how to reach PostgreSQL on this droplet.
# Sourced from the same directory (/usr/local/lib/chatbot on droplets), or prepended to a script sent over ssh
# (`cat backup-common.sh restore-drill.sh | ssh ... bash -s`): CHATBOT_DAY2_COMMON tells the script it is loaded.
#
# PostgreSQL is the `postgres` service of the compose project `chatbot` in $CHATBOT_COMPOSE_FILE
# (/etc/chatbot/compose.yaml); backups live in /var/lib/chatbot/backups on the host (CHATBOT_BACKUP_DIR), mounted at
# /backups in the container.
# Secrets come from $CHATBOT_ENV_FILE (default /etc/chatbot/app.env, mode 0600): POSTGRES_PASSWORD (and the
# SPACES_ACCESS_KEY_ID / SPACES_SECRET_ACCESS_KEY of off-site copies). The file is data, read as KEY=value lines (never
# sourced as shell). The values reach the tools through the environment (PGPASSWORD), never the command line.
# Output: machine-readable `key=value` lines on stdout, human progress on stderr.
CHATBOT_DAY2_COMMON=1

log() { printf '[%s %s] %s\n' "$(date +%H:%M:%S)" "${JOB:-day2}" "$*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }
out() { printf '%s=%s\n' "$1" "$2"; }
now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.3f", (b - a) / 1000 }'; }

# The secrets file as data: of its KEY=value lines (split at the first =), only the keys these jobs use are kept.
read_secrets() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      POSTGRES_PASSWORD=* | SPACES_ACCESS_KEY_ID=* | SPACES_SECRET_ACCESS_KEY=*) printf -v "${line%%=*}" '%s' "${line#*=}" ;;
    esac
  done <"$ENV_FILE"
}

load_env() {
  ENV_FILE="${CHATBOT_ENV_FILE:-/etc/chatbot/app.env}"
  [ -r "$ENV_FILE" ] || die "secrets file $ENV_FILE is not readable (set CHATBOT_ENV_FILE)"
  read_secrets
  COMPOSE_FILE_PATH="${CHATBOT_COMPOSE_FILE:-/etc/chatbot/compose.yaml}"
  DB="${CHATBOT_DB:-chatbot}"
  BACKUP_DIR="${CHATBOT_BACKUP_DIR:-/var/lib/chatbot/backups}"
  BACKUP_DIR_PG=/backups
  export PGPASSWORD="${POSTGRES_PASSWORD:-${PGPASSWORD:-}}" PGCONNECT_TIMEOUT="${PGCONNECT_TIMEOUT:-10}"
}

dc() { docker compose -p chatbot -f "$COMPOSE_FILE_PATH" "$@"; }

# A client tool connected to the live server as the superuser: pg_client <tool> [args...]
pg_client() {
  local bin="$1"
  shift
  dc exec -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres "$bin" -U postgres "$@" </dev/null
}

# A tool that reads a file under the backup directory and needs no server: pg_file_tool <tool> [args...]
pg_file_tool() {
  local bin="$1"
  shift
  dc exec -T -u postgres postgres "$bin" "$@" </dev/null
}

psql_live() { pg_client psql -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }

# Backups are chatbot-<UTC timestamp>.dump: the name sorts by time.
latest_backup() {
  find "$BACKUP_DIR" -maxdepth 1 -name 'chatbot-*.dump' -printf '%f\n' 2>/dev/null | sort | tail -n 1
}
