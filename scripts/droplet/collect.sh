#!/usr/bin/env bash
# Capacity metrics of one droplet, as the raw output of the standard tools (free, vmstat, df, ps, docker stats,
# curl, redis-cli, psql). The capacity checker (infra/capacity/parsers.ts) parses them; nothing is computed here.
#
#   collect.sh snapshot        print one full snapshot (default)
#   collect.sh append          append a light snapshot (no ps/docker/redis/psql) to today's history file and prune
#                              files older than CHATBOT_METRICS_KEEP_DAYS; run by the chatbot-collect timer
#   collect.sh history DAYS    print the history files of the last DAYS days, then one full snapshot
#
# Output: snapshots that start with "=== snapshot", each made of sections "--- <name>" followed by the tool's output.
#
# It is installed as /usr/local/lib/chatbot/collect.sh and also sent over ssh as standard input
# (`bash -s -- history 8`) by `npm run capacity -- --host`, so everything runs inside main().
#
# Redis and PostgreSQL are the `redis` and `postgres` services of the compose project in $CHATBOT_COMPOSE_FILE
# (/etc/chatbot/compose.yaml); secrets come from $CHATBOT_ENV_FILE.
# The droplet's Redis has no clear-text port: redis-cli goes over TLS, checked against the droplet's own certificate.
# Settings are read from the environment, then from $CHATBOT_COLLECT_ENV (default /etc/chatbot/collect.env, KEY=value
# lines written by the config sync) for what the environment does not set: CHATBOT_HEALTH_URL (the app's health endpoint, required), CHATBOT_HEALTH_RESOLVE (optional curl
# --resolve entry, e.g. chat.example.com:443:127.0.0.1 to go through the local proxy), CHATBOT_DF_PATHS (filesystems
# to report; default "/ /var/lib/chatbot"), CHATBOT_CPU_SECONDS (vmstat sampling
# interval, default 2), CHATBOT_METRICS_DIR (default /var/lib/chatbot/metrics).
# Secrets (REDIS_PASSWORD) are read from $CHATBOT_ENV_FILE as data (KEY=value lines, never sourced
# as shell) and reach the tools through the environment, never the command line.
set -euo pipefail

die() { printf 'collect.sh: %s\n' "$*" >&2; exit 1; }

# The secrets file as data: of its KEY=value lines (split at the first =), only the keys the snapshots use are kept.
read_secrets() {
  local line
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in
      REDIS_PASSWORD=*) printf -v "${line%%=*}" '%s' "${line#*=}" ;;
    esac
  done <"$ENV_FILE"
}

load_env() {
  # Non-secret settings written by the config sync (CHATBOT_HEALTH_URL, ...); the caller's environment wins.
  local collect_env="${CHATBOT_COLLECT_ENV:-/etc/chatbot/collect.env}" line key
  if [ -r "$collect_env" ]; then
    while IFS= read -r line; do
      case "$line" in
        CHATBOT_*=*)
          key="${line%%=*}"
          [ -n "${!key:-}" ] || export "${key}=${line#*=}"
          ;;
      esac
    done <"$collect_env"
  fi
  ENV_FILE="${CHATBOT_ENV_FILE:-/etc/chatbot/app.env}"
  if [ -r "$ENV_FILE" ]; then
    read_secrets
  fi
  COMPOSE_FILE_PATH="${CHATBOT_COMPOSE_FILE:-/etc/chatbot/compose.yaml}"
  DB="${CHATBOT_DB:-chatbot}"
  METRICS_DIR="${CHATBOT_METRICS_DIR:-/var/lib/chatbot/metrics}"
  KEEP_DAYS="${CHATBOT_METRICS_KEEP_DAYS:-9}"
  CPU_SECONDS="${CHATBOT_CPU_SECONDS:-2}"
  HEALTH_URL="${CHATBOT_HEALTH_URL:?set CHATBOT_HEALTH_URL to the app health endpoint}"
  DF_PATHS="${CHATBOT_DF_PATHS:-/ /var/lib/chatbot}"
}

dc() { docker compose -p chatbot -f "$COMPOSE_FILE_PATH" "$@"; }

section() { printf -- '--- %s\n' "$1"; }

# A section whose tool may be missing or fail: print what it gave, never abort the snapshot.
optional() {
  local name="$1"
  shift
  section "$name"
  "$@" 2>/dev/null || true
}

health() {
  local resolve=()
  [ -n "${CHATBOT_HEALTH_RESOLVE:-}" ] && resolve=(--resolve "$CHATBOT_HEALTH_RESOLVE")
  # -w prints "000 <seconds>" even when the request fails, so a down app is a reading, not a gap.
  curl -sS -o /dev/null --max-time 10 "${resolve[@]}" -w '%{http_code} %{time_total}\n' "$HEALTH_URL" 2>/dev/null ||
    true
}

redis_stats() {
  REDISCLI_AUTH="${REDIS_PASSWORD:-}" dc exec -T -e REDISCLI_AUTH redis redis-cli --tls --cacert /usr/local/etc/redis/tls/server.crt INFO stats
}

psql_query() {
  local sql="$1"
  dc exec -T -u postgres postgres psql -X -q -At -F $'\t' -d "$DB" -c "$sql" </dev/null
}

top_processes() { ps -eo pid,rss,pcpu,comm --sort=-rss | head -n 16; }

light_snapshot() {
  printf '=== snapshot\n'
  section at
  date -u +%Y-%m-%dT%H:%M:%SZ
  section free
  free -b
  section vmstat
  vmstat "$CPU_SECONDS" 2
  section df
  # shellcheck disable=SC2086 # DF_PATHS is a space-separated list of paths
  df -P -B1 $DF_PATHS 2>/dev/null || true
  section curl
  health
}

full_snapshot() {
  light_snapshot
  optional ps top_processes
  optional docker-stats docker stats --no-stream --format '{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}'
  optional redis-info redis_stats
  optional pg-cache psql_query "SELECT sum(blks_hit), sum(blks_read) FROM pg_stat_database"
  optional pg-statements psql_query "SELECT calls, round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 200)
    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 10"
}

append() {
  mkdir -p "$METRICS_DIR"
  light_snapshot >>"$METRICS_DIR/samples-$(date -u +%Y-%m-%d).log"
  find "$METRICS_DIR" -maxdepth 1 -name 'samples-*.log' -mtime +"$KEEP_DAYS" -delete
}

history() {
  local days="$1" d
  case "$days" in '' | *[!0-9]*) die "history needs a number of days, got '$days'" ;; esac
  for ((d = days; d >= 0; d--)); do
    local f
    f="$METRICS_DIR/samples-$(date -u -d "-$d days" +%Y-%m-%d).log"
    [ -r "$f" ] && cat "$f"
  done
  full_snapshot
}

main() {
  load_env
  case "${1:-snapshot}" in
    snapshot) full_snapshot ;;
    append) append ;;
    history) history "${2:-}" ;;
    *) die "unknown command '$1' (snapshot, append, history DAYS)" ;;
  esac
}

main "$@"
