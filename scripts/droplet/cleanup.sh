#!/usr/bin/env bash
# Weekly disk hygiene (run by chatbot-cleanup.timer): Docker images, build cache and stopped containers older than
# CLEANUP_KEEP_HOURS (default 168 = a week, so a rollback image of the last deploy stays), and the systemd journal
# beyond JOURNAL_KEEP (default 14d). Container logs are bounded by Docker's json-file max-size/max-file options.
# Output: disk_used_pct_before=<n> disk_used_pct_after=<n> for / and the volume.
set -euo pipefail

log() { printf '[%s cleanup] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
out() { printf '%s=%s\n' "$1" "$2"; }

disk_pct() { df -P "$1" 2>/dev/null | awk 'NR == 2 { sub("%", "", $5); print $5 }'; }

main() {
  local hours="${CLEANUP_KEEP_HOURS:-168}" keep="${JOURNAL_KEEP:-14d}" paths="${CLEANUP_DF_PATHS:-/ /var/lib/chatbot}" p
  case "$hours" in '' | *[!0-9]*) log "CLEANUP_KEEP_HOURS must be a whole number, got '$hours'"; exit 1 ;; esac
  for p in $paths; do out "disk_used_pct_before.$p" "$(disk_pct "$p")"; done
  log "docker: containers, images and build cache unused for ${hours}h"
  docker container prune --force --filter "until=${hours}h" >&2
  docker image prune --all --force --filter "until=${hours}h" >&2
  docker builder prune --all --force --filter "until=${hours}h" >&2
  log "journal: keep ${keep}"
  journalctl --vacuum-time="$keep" >&2
  for p in $paths; do out "disk_used_pct_after.$p" "$(disk_pct "$p")"; done
}

main "$@"
