# shellcheck shell=bash
# Tier migration steps: migration state on the droplet (sent after migrate-common.sh, see migrate.sh).
#
# State lives on the droplet's data volume, in $CHATBOT_MIGRATION_DIR (default /var/lib/chatbot/migration):
#   journal.json   (old droplet) where the migration stands; written only by journal_write: the JSON arrives on
#                  standard input after the script, goes to a temp file, is synced and renamed into place
#   history/       earlier, finished journals
#   lock/          (both droplets) owner (run=, holder=, started=) and heartbeat (its mtime: the droplet's clock
#                  judges staleness); created with mkdir (atomic), under flock on the directory
#   replica-of     (new droplet) written by claim_target before the migration changes anything there: this
#                  server is being replaced by a copy of the named source cluster (system_identifier=, migration=,
#                  source=); forget_primary removes it once the migration has committed
#   step.pgid      (new droplet) the process group of a long step in progress, so a rollback can stop one left behind

# On the NEW droplet, before the migration changes anything there: claim_target <source system identifier>
# <migration id> <source addr:port>. A copy stopped half-way (or a Redis that replicated, a database restored) is
# then known as this source's, and the next attempt replaces it without --overwrite-target.
step_claim_target() {
  local sysid="${1:?claim_target needs the source system identifier}" id="${2:?claim_target needs the migration id}" source="${3:?}"
  check_word "system identifier" "$sysid"
  check_word "migration id" "$id"
  check_word source "$source"
  write_file "$REPLICA_MARKER" "$(printf 'system_identifier=%s\nmigration=%s\nsource=%s' "$sysid" "$id" "$source")"
  out claimed 1
}

# shellcheck disable=SC2153 # STEP is set by main() (migrate.sh)
register_step() {
  local pgid
  mkdir -p "$MIGRATION_DIR"
  # Field 5 of /proc/PID/stat is the process group: ssh started this shell as a session (and group) leader.
  read -r _ _ _ _ pgid _ <"/proc/$$/stat"
  printf '%s %s\n' "$pgid" "$STEP" >"$MIGRATION_DIR/step.pgid"
  trap 'rm -f "$MIGRATION_DIR/step.pgid"' EXIT
}

group_alive() { kill -0 -- "-$1" 2>/dev/null; }

# Stop the long step recorded in step.pgid if its process group still runs that step (the group leader's command
# line names it: a recycled group id is left alone).
stop_registered_step() {
  local file="$MIGRATION_DIR/step.pgid" pgid="" step=""
  [ -f "$file" ] || return 0
  read -r pgid step <"$file" || true
  if [[ "$pgid" =~ ^[0-9]+$ ]] && group_alive "$pgid" &&
    tr '\0' ' ' <"/proc/$pgid/cmdline" 2>/dev/null | grep -q -- " $step"; then
    log "stopping the $step step still running (process group $pgid)"
    kill -TERM -- "-$pgid" 2>/dev/null || true
    wait_until 30 not group_alive "$pgid" || kill -KILL -- "-$pgid" 2>/dev/null || true
    out stopped_step "$step"
  fi
  rm -f "$file"
}

# The lock owner's fields, as lock_* (the holder now) or previous_* (one being taken over) keys.
lock_fields() { sed -n 's/^run=/lock_run=/p; s/^holder=/lock_holder=/p; s/^started=/lock_started=/p' "$LOCK_DIR/owner" 2>/dev/null || true; }
previous_lock_fields() { sed -n 's/^run=/previous_run=/p; s/^holder=/previous_holder=/p; s/^started=/previous_started=/p' "$LOCK_DIR/owner" 2>/dev/null || true; }

# Seconds since the lock's last heartbeat, by this droplet's clock.
lock_age() { echo $(($(date +%s) - $(stat -c %Y "$LOCK_DIR/heartbeat" 2>/dev/null || stat -c %Y "$LOCK_DIR"))); }

own_lock() { [ -d "$LOCK_DIR" ] && [ "$(sed -n 's/^run=//p' "$LOCK_DIR/owner" 2>/dev/null)" = "$1" ]; }

# Serialise lock changes on this droplet: flock on the migration directory itself (no extra file left behind).
guard() {
  mkdir -p "$MIGRATION_DIR"
  exec 9<"$MIGRATION_DIR"
  flock -w 30 9 || die "could not lock $MIGRATION_DIR within 30 s"
}

# lock_acquire <run id> <holder host:pid> <started ISO> <stale seconds>. Exit 6 with the holder if another run
# holds a fresh lock; a lock whose heartbeat is older than <stale seconds> is taken over (its runner is gone).
step_lock_acquire() {
  local run="${1:?}" holder="${2:?}" started="${3:?}" stale="${4:-60}" age
  check_word run "$run"
  check_word holder "$holder"
  check_word started "$started"
  guard
  if mkdir "$LOCK_DIR" 2>/dev/null; then
    out lock acquired
  elif own_lock "$run"; then
    touch "$LOCK_DIR/heartbeat"
    out lock held-by-this-run
    return
  else
    age=$(lock_age)
    if [ "$age" -le "$stale" ]; then
      lock_fields
      out lock_age_s "$age"
      die "the migration lock on this droplet is held by $(sed -n 's/^holder=//p' "$LOCK_DIR/owner" 2>/dev/null) (heartbeat ${age}s ago)" 6
    fi
    previous_lock_fields
    out previous_age_s "$age"
    out lock taken-over
  fi
  write_file "$LOCK_DIR/owner" "$(printf 'run=%s\nholder=%s\nstarted=%s' "$run" "$holder" "$started")"
  touch "$LOCK_DIR/heartbeat"
}

# lock_heartbeat <run id>: refresh the lock's heartbeat; exit 6 if this run no longer holds it.
step_lock_heartbeat() {
  guard
  own_lock "${1:?}" || { lock_fields; die "the migration lock is no longer held by run $1" 6; }
  touch "$LOCK_DIR/heartbeat"
  out heartbeat 1
}

# lock_release <run id>: remove the lock if this run holds it; the directory goes too when nothing else is in it.
step_lock_release() {
  if [ ! -d "$MIGRATION_DIR" ]; then
    out lock_released 0
    return
  fi
  guard
  if own_lock "${1:?}"; then
    rm -rf "$LOCK_DIR"
    out lock_released 1
  else
    out lock_released 0
  fi
  rmdir "$MIGRATION_DIR" 2>/dev/null || true
}

# journal_read: the journal (one JSON line) and the lock, for the runner's decisions and --status.
step_journal_read() {
  if [ -f "$JOURNAL" ]; then
    out journal_present 1
    out journal "$(tr -d '\n' <"$JOURNAL")"
  else
    out journal_present 0
  fi
  if [ -d "$LOCK_DIR" ]; then
    out lock_present 1
    lock_fields
    out lock_age_s "$(lock_age)"
  else
    out lock_present 0
  fi
}

# journal_write <run id> [<id of the journal to archive>]: the JSON comes on standard input (after this script).
# Only the run holding this droplet's lock may write; a finished journal of another migration moves to history/.
step_journal_write() {
  local run="${1:?journal_write needs the run id}" archive="${2:-}" json
  check_word run "$run"
  own_lock "$run" || die "run $run does not hold the migration lock here: journal not written" 6
  json=$(cat)
  [[ "$json" == "{"*"}" ]] || die "journal_write expects one JSON object on standard input"
  if [ -n "$archive" ] && [ -f "$JOURNAL" ]; then
    check_word archive "$archive"
    mkdir -p "$MIGRATION_DIR/history"
    mv -f "$JOURNAL" "$MIGRATION_DIR/history/$archive.json"
  fi
  write_file "$JOURNAL" "$json"
  sync "$MIGRATION_DIR"
  out journal_written 1
}
