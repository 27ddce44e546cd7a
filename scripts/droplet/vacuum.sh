#!/usr/bin/env bash
# Weekly VACUUM ANALYZE of every database (run by chatbot-vacuum.timer). Autovacuum does the routine work; this pass
# refreshes planner statistics everywhere and reclaims what autovacuum's thresholds left behind after bulk deletes.
# Plain VACUUM takes no exclusive lock: the app keeps serving. Settings: see backup-common.sh.
# Output: dead_tuples_before=<n> dead_tuples_after=<n> vacuum_seconds=<s>.
set -euo pipefail

if [ -z "${CHATBOT_DAY2_COMMON:-}" ]; then
  # shellcheck source=scripts/droplet/backup-common.sh disable=SC1091 # followed with shellcheck -x from the repo root
  . "$(dirname "${BASH_SOURCE[0]}")/backup-common.sh"
fi
export JOB=vacuum

dead_tuples() { psql_live "SELECT coalesce(sum(n_dead_tup), 0) FROM pg_stat_user_tables"; }

main() {
  load_env
  local started
  out dead_tuples_before "$(dead_tuples)"
  started="$(now_ms)"
  log "vacuumdb --all --analyze"
  pg_client vacuumdb --all --analyze --quiet
  out vacuum_seconds "$(seconds_since "$started")"
  # The statistics collector reports asynchronously; give it a moment before reading the counters back.
  sleep 1
  out dead_tuples_after "$(dead_tuples)"
}

main "$@"
