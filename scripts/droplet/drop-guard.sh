#!/usr/bin/env bash
# Runs ON a droplet when `pulumi up` is about to drop it: the delete step of its drop guard
# (infra/components/app-server.ts), run over ssh before its volume attachment, droplet and volume are deleted.
#
#   drop-guard.sh <server name>
#
# A server is dropped only when it neither serves nor could: its PostgreSQL is stopped (a migration's fence left it
# so) or a standby (it follows another server). A primary here means it serves, or was switched back to by hand
# since the stack last looked: the guard refuses and the update stops before anything is deleted. So does a droplet
# whose PostgreSQL cannot be asked (Docker not answering): unknown is not safe.
#
# Output: one `key=value` line, `pg=stopped|standby|primary|unknown`. Exit codes: 0 droppable, 1 refused, 2 usage.
set -euo pipefail

CONFIG_DIR=${CONFIG_DIR:-/etc/chatbot}
name="${1:-}"
[[ "$name" =~ ^[a-z0-9-]+$ ]] || {
  echo "usage: drop-guard.sh <server name>" >&2
  exit 2
}

dc() { docker compose -p chatbot --project-directory "$CONFIG_DIR" -f "$CONFIG_DIR/compose.yaml" "$@"; }

# The state of this droplet's PostgreSQL: stopped, standby, primary, or unknown.
pg_state() {
  local running recovery
  running=$(dc ps -q --status running postgres 2>/dev/null) || {
    echo unknown
    return
  }
  if [ -z "$running" ]; then
    echo stopped
    return
  fi
  recovery=$(dc exec -T -u postgres postgres psql -X -q -At -U postgres -d postgres -c 'SELECT pg_is_in_recovery()' </dev/null 2>/dev/null) || recovery=""
  case "$recovery" in
    t) echo standby ;;
    f) echo primary ;;
    *) echo unknown ;;
  esac
}

state=$(pg_state)
echo "pg=$state"
case "$state" in
  stopped | standby) echo "drop guard: $name's PostgreSQL is $state, not a primary: it may be dropped" >&2 ;;
  primary)
    echo "drop guard: refusing to drop $name: its PostgreSQL is a primary (it serves, or was switched to by hand). Nothing was deleted. Check which server serves (npm run migrate -- --status) and set the stack's tier to it; if this server must go anyway, stop its PostgreSQL first" >&2
    exit 1
    ;;
  *)
    echo "drop guard: refusing to drop $name: cannot tell whether its PostgreSQL is a primary (docker compose did not answer). Nothing was deleted. Check the droplet by hand; once it is safe, stop its PostgreSQL and run pulumi up again" >&2
    exit 1
    ;;
esac
