#!/usr/bin/env bash
# Restore drill: prove the latest backup restores. Sent over ssh by `npm run restore-drill -- --host <target>`
# (backup-common.sh prepended, `bash -s`), or run on the droplet from /usr/local/lib/chatbot.
#   1. pick the newest chatbot-*.dump in the backup directory (or CHATBOT_DRILL_BACKUP), check its .sha256;
#   2. count the rows of every table inside the dump itself (its COPY blocks): what a good restore must hold;
#   3. start a scratch PostgreSQL that serves nobody (a throwaway postgres:15-bookworm container with no network),
#      pg_restore into it, timed;
#   4. count the rows of every table in the scratch database, then remove the scratch server whatever happened.
# It only reports; the caller compares (infra/capacity/restore-drill.ts).
# Output: backup=, backup_bytes=, backup_age_hours=, checksum=ok|missing, expected.<table>=N, count.<table>=N,
# expected_seconds=, restore_seconds=, total_seconds=.
set -euo pipefail

if [ -z "${CHATBOT_DAY2_COMMON:-}" ]; then
  # shellcheck source=scripts/droplet/backup-common.sh disable=SC1091 # followed with shellcheck -x from the repo root
  . "$(dirname "${BASH_SOURCE[0]}")/backup-common.sh"
fi
export JOB=restore-drill

SCRATCH_NAME="chatbot-restore-drill-$$"

scratch_start() {
  local image="${CHATBOT_PG_IMAGE:-postgres:15-bookworm}"
  docker run -d --rm --name "$SCRATCH_NAME" --network none -v "$BACKUP_DIR:/backups:ro" \
    -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=drill "$image" >/dev/null
  # The image's entrypoint runs a temporary server for initialisation, then restarts: wait for the real one.
  for _ in $(seq 1 120); do
    if docker logs "$SCRATCH_NAME" 2>&1 | grep -q 'init process complete' &&
      docker exec "$SCRATCH_NAME" pg_isready -U postgres -q; then
      return 0
    fi
    sleep 1
  done
  die "scratch PostgreSQL container did not become ready (try: docker logs $SCRATCH_NAME)"
}

scratch_stop() { docker rm -f "$SCRATCH_NAME" >/dev/null 2>&1 || true; }

# A client tool against the scratch server: scratch_tool <tool> [args...]
scratch_tool() {
  local bin="$1"
  shift
  docker exec -i -u postgres "$SCRATCH_NAME" "$bin" -U postgres "$@" </dev/null
}

# The dump's own row counts: lines between "COPY <table> (...) FROM stdin;" and "\." in its data section.
dump_counts() {
  pg_file_tool pg_restore --data-only -f - "$BACKUP_DIR_PG/$1" |
    awk '/^COPY .* FROM stdin;$/ { t = $2; n = 0; copying = 1; next }
         copying && $0 == "\\." { print "expected." t "=" n; copying = 0; next }
         copying { n++ }'
}

main() {
  load_env
  local name="${CHATBOT_DRILL_BACKUP:-}" started total_started expected table
  [ -n "$name" ] || name="$(latest_backup)"
  [ -n "$name" ] || die "no chatbot-*.dump in $BACKUP_DIR: has the backup timer run?"
  [ -r "$BACKUP_DIR/$name" ] || die "backup $BACKUP_DIR/$name is not readable"
  total_started="$(now_ms)"
  out backup "$BACKUP_DIR/$name"
  out backup_bytes "$(stat -c %s "$BACKUP_DIR/$name")"
  out backup_age_hours "$(awk -v m="$(stat -c %Y "$BACKUP_DIR/$name")" -v n="$(date +%s)" 'BEGIN { printf "%.1f", (n - m) / 3600 }')"
  if [ -r "$BACKUP_DIR/$name.sha256" ]; then
    (cd "$BACKUP_DIR" && sha256sum --quiet -c "$name.sha256" >&2) || die "checksum of $name does not match its .sha256"
    out checksum ok
  else
    out checksum missing
  fi

  started="$(now_ms)"
  expected="$(dump_counts "$name")" || die "pg_restore cannot read $name"
  printf '%s\n' "$expected"
  out expected_seconds "$(seconds_since "$started")"

  trap scratch_stop EXIT
  log "starting a scratch PostgreSQL"
  scratch_start
  log "restoring $name"
  started="$(now_ms)"
  scratch_tool pg_restore -d drill --no-owner --no-privileges --exit-on-error -j "${CHATBOT_DRILL_JOBS:-2}" "/backups/$name"
  out restore_seconds "$(seconds_since "$started")"

  while IFS= read -r table; do
    [ -n "$table" ] || continue
    out "count.$table" "$(scratch_tool psql -X -q -At -v ON_ERROR_STOP=1 -d drill -c "SELECT count(*) FROM $table")"
  done < <(printf '%s\n' "$expected" | sed -n 's/^expected\.\(.*\)=[0-9]*$/\1/p')
  out total_seconds "$(seconds_since "$total_started")"
}

main "$@"
