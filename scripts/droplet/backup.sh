#!/usr/bin/env bash
# Nightly backup of the app database (run by chatbot-backup.timer):
#   1. pg_dump -Fc to $BACKUP_DIR/chatbot-<UTC time>.dump.partial, checked readable with pg_restore --list, then
#      renamed (a crash never leaves a half dump under a backup's name), with a .sha256 beside it;
#   2. retention: dumps older than BACKUP_KEEP_DAYS (default 7) days are deleted, but never the newest
#      BACKUP_KEEP_MIN (default 3), so a stopped timer cannot age every backup away;
#   3. off-site copy to DigitalOcean Spaces (S3-compatible) when SPACES_BUCKET is set, with SPACES_REGION,
#      SPACES_ACCESS_KEY_ID and SPACES_SECRET_ACCESS_KEY from the env file; uses the `aws` CLI, else `s3cmd`.
#      Not verified against real Spaces here.
# Settings: see backup-common.sh; BACKUP_KEEP_DAYS, BACKUP_KEEP_MIN, SPACES_BUCKET, SPACES_REGION, SPACES_PREFIX.
# Output: backup=<file> bytes=<n> dump_seconds=<s> pruned=<n> kept=<n> spaces=<uploaded|skipped>.
set -euo pipefail

if [ -z "${CHATBOT_DAY2_COMMON:-}" ]; then
  # shellcheck source=scripts/droplet/backup-common.sh disable=SC1091 # followed with shellcheck -x from the repo root
  . "$(dirname "${BASH_SOURCE[0]}")/backup-common.sh"
fi
export JOB=backup

dump() {
  local name="$1" started
  started="$(now_ms)"
  log "pg_dump $DB -> $BACKUP_DIR/$name"
  pg_client pg_dump -Fc -d "$DB" -f "$BACKUP_DIR_PG/$name.partial"
  # A dump pg_restore cannot list is no backup.
  pg_file_tool pg_restore --list "$BACKUP_DIR_PG/$name.partial" >/dev/null ||
    die "the new dump $name does not read back with pg_restore --list"
  mv "$BACKUP_DIR/$name.partial" "$BACKUP_DIR/$name"
  (cd "$BACKUP_DIR" && sha256sum "$name" >"$name.sha256")
  out backup "$BACKUP_DIR/$name"
  out bytes "$(stat -c %s "$BACKUP_DIR/$name")"
  out dump_seconds "$(seconds_since "$started")"
}

prune() {
  local keep_days="${BACKUP_KEEP_DAYS:-7}" keep_min="${BACKUP_KEEP_MIN:-3}" pruned=0 f
  case "$keep_days$keep_min" in *[!0-9]*) die "BACKUP_KEEP_DAYS and BACKUP_KEEP_MIN must be whole numbers" ;; esac
  # Newest first; the first keep_min always stay.
  local -a all
  mapfile -t all < <(find "$BACKUP_DIR" -maxdepth 1 -name 'chatbot-*.dump' -printf '%f\n' | sort -r)
  for f in "${all[@]:$keep_min}"; do
    if [ -n "$(find "$BACKUP_DIR/$f" -mtime +"$((keep_days - 1))" -print)" ]; then
      rm -f "$BACKUP_DIR/$f" "$BACKUP_DIR/$f.sha256"
      pruned=$((pruned + 1))
      log "pruned $f (older than $keep_days days)"
    fi
  done
  # Leftovers of a crashed run.
  find "$BACKUP_DIR" -maxdepth 1 -name 'chatbot-*.dump.partial' -mmin +720 -delete
  out pruned "$pruned"
  out kept "$((${#all[@]} - pruned))"
}

upload() {
  local file="$1"
  if [ -z "${SPACES_BUCKET:-}" ]; then
    out spaces skipped
    return
  fi
  : "${SPACES_REGION:?SPACES_BUCKET needs SPACES_REGION (e.g. fra1)}"
  : "${SPACES_ACCESS_KEY_ID:?SPACES_BUCKET needs SPACES_ACCESS_KEY_ID in the env file}"
  : "${SPACES_SECRET_ACCESS_KEY:?SPACES_BUCKET needs SPACES_SECRET_ACCESS_KEY in the env file}"
  local endpoint="https://${SPACES_REGION}.digitaloceanspaces.com"
  local dest
  dest="s3://${SPACES_BUCKET}/${SPACES_PREFIX:-chatbot}/$(basename "$file")"
  if command -v aws >/dev/null; then
    AWS_ACCESS_KEY_ID="$SPACES_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SPACES_SECRET_ACCESS_KEY" \
      aws s3 cp --only-show-errors --endpoint-url "$endpoint" "$file" "$dest" </dev/null
  elif command -v s3cmd >/dev/null; then
    # s3cmd takes keys from its config or the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY).
    AWS_ACCESS_KEY_ID="$SPACES_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$SPACES_SECRET_ACCESS_KEY" \
      s3cmd --host="${SPACES_REGION}.digitaloceanspaces.com" --host-bucket="%(bucket)s.${SPACES_REGION}.digitaloceanspaces.com" \
      put "$file" "$dest" </dev/null >&2
  else
    die "SPACES_BUCKET is set but neither the aws CLI nor s3cmd is installed"
  fi
  out spaces uploaded
  out spaces_object "$dest"
}

main() {
  load_env
  [ -d "$BACKUP_DIR" ] || die "backup directory $BACKUP_DIR does not exist (is the volume mounted?)"
  local name
  name="chatbot-$(date -u +%Y%m%dT%H%M%SZ).dump"
  [ -e "$BACKUP_DIR/$name" ] && die "$name already exists (two backups in the same second?)"
  dump "$name"
  prune
  upload "$BACKUP_DIR/$name"
}

main "$@"
