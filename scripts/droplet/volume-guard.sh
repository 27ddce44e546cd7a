#!/usr/bin/env bash
# The data volume's guard. PostgreSQL, Redis and Caddy keep their data on the block-storage volume mounted at
# $DATA_DIR. The volume is mounted `nofail` (a droplet must boot without it), so if it is missing or slow to attach,
# Docker would bind-mount empty directories of the root disk instead and PostgreSQL would initialise an empty
# cluster there, which the app would then serve. The marker file on the volume is what tells the two apart.
#
#   volume-guard.sh check   exit 1 unless $DATA_DIR is a mount point carrying the marker. Runs before dockerd starts
#                           (ExecStartPre of docker.service, which also RequiresMountsFor= the volume: at boot no
#                           container starts without it) and before every `docker compose up` of the config sync.
#   volume-guard.sh init    the config sync, after mounting: the same, except that a mounted volume without the
#                           marker gets one when it is fresh (empty but for lost+found) or when it holds only the
#                           data directories of a server set up before the marker existed. Anything else is refused.
#
# Environment: DATA_DIR (default /var/lib/chatbot).
set -euo pipefail

DATA_DIR=${DATA_DIR:-/var/lib/chatbot}
MARKER="$DATA_DIR/.chatbot-volume"
# What the stack itself writes on the volume (infra/render/layout.ts, the day-2 jobs, the migration's journal).
KNOWN="postgres redis caddy backups log metrics migration tls"

refuse() {
  printf '[volume-guard] refusing to start the containers: %s\n' "$*" >&2
  exit 1
}

mode=${1:-check}
case "$mode" in
  check | init) ;;
  *) echo "usage: volume-guard.sh check|init" >&2; exit 2 ;;
esac

if [ ! -d "$DATA_DIR" ] || ! mountpoint -q "$DATA_DIR"; then
  refuse "$DATA_DIR is not mounted: the data volume is missing (PostgreSQL would initialise an empty cluster on the root disk)"
fi
[ ! -f "$MARKER" ] || exit 0
if [ "$mode" = check ]; then
  refuse "$DATA_DIR is mounted but has no marker ($MARKER): not a data volume the config sync initialised (\`pulumi up\` initialises a fresh one)"
fi

contents=()
while IFS= read -r -d '' entry; do
  contents+=("${entry##*/}")
done < <(find "$DATA_DIR" -mindepth 1 -maxdepth 1 ! -name lost+found -print0)
if [ "${#contents[@]}" -eq 0 ]; then
  how="a fresh volume"
else
  for entry in "${contents[@]}"; do
    case " $KNOWN " in
      *" $entry "*) ;;
      *) refuse "$DATA_DIR is mounted, has no marker and holds $entry, which this stack does not write: look at the volume before anything starts on it" ;;
    esac
  done
  how="data from before the marker (${contents[*]})"
fi
printf 'chatbot data volume\nmarked=%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$MARKER.tmp"
mv "$MARKER.tmp" "$MARKER"
printf '[volume-guard] marked %s as the data volume: %s\n' "$DATA_DIR" "$how"
