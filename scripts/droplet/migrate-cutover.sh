# shellcheck shell=bash
# Tier migration steps: the cutover (fence, promote, the proxy actions run in the same round trip) and what undoes
# or ends it (rollback_old, rollback_new, retire), sent after migrate-common.sh (see migrate.sh).

# The armed promotion's standard input: the proxy script, GO_MARK, then (later) the go line; GO_LSN and GO_OFFSET
# are set from it. Read line by line: nothing past the go line is taken.
GO_MARK='#-- the go line follows --'
read_proxy_script_then_go() {
  local line marked=0 word=""
  PROXY_SCRIPT=$(mktemp)
  while IFS= read -r line; do
    if [ "$line" = "$GO_MARK" ]; then
      marked=1
      break
    fi
    printf '%s\n' "$line"
  done >"$PROXY_SCRIPT"
  if [ "$marked" != 1 ] || [ ! -s "$PROXY_SCRIPT" ]; then die "the proxy script, then the line '$GO_MARK', must follow this script on standard input" 4; fi
  GO_LSN="" GO_OFFSET=""
  read -r word GO_LSN GO_OFFSET || true
  [ "$word" = go ] || die "no go line from the runner (the fence did not finish): nothing promoted" 4
  [[ "$GO_LSN" =~ ^[0-9A-F]{1,8}/[0-9A-F]{1,8}$ ]] || die "the go line's fence lsn must look like 0/3000148, not '$GO_LSN': nothing promoted" 4
}

# The proxy script (scripts/droplet/proxy-switch.sh) when it follows this one on standard input (fence and promote
# with their proxy action): read whole before the step does anything else, then run with bash, never sourced.
read_proxy_script() {
  PROXY_SCRIPT=$(mktemp)
  cat >"$PROXY_SCRIPT"
  [ -s "$PROXY_SCRIPT" ] || die "the proxy script must follow this script on standard input"
}
proxy() { bash "$PROXY_SCRIPT" "$@"; }

# On the OLD droplet: the fence [hold <new internal host:port> <hold seconds>]. With `hold` (one round trip), first
# the proxy holds new requests and waits for those in flight to the local app (proxy-switch.sh hold): nothing
# writes here any more when the server stops, and nothing is fenced if the proxy did not take the hold. Then a
# fast shutdown, a check that it was clean, and a mark on the data directory so nothing restarts it as a primary
# (standby.signal). Prints the location of the shutdown checkpoint: the
# standby must replay up to it before it may be promoted.
# With `hold`, Redis pauses writes too, while PostgreSQL shuts down (redis_pause), and its offset is printed
# (redis_offset): the new droplet's Redis takes over once it has that much (promote ... gate). No offset printed
# when the pause was refused; the runner's Redis handover then runs as before.
step_fence() {
  local start control state lsn paused offset=""
  if [ "${1:-}" = hold ]; then
    read_proxy_script
    proxy hold "${2:?fence hold needs host:port}" "${3:?fence hold needs seconds}" || die "the proxy did not take the hold: nothing fenced"
    exec {paused}< <(redis_pause $(($3 * 1000)) || true)
  fi
  # No CHECKPOINT of its own: the `checkpoint` step ran just before the cutover, so the shutdown checkpoint has
  # only the last moment's writes to flush, and a CHECKPOINT here would sit inside the write downtime.
  # Read only at startup: from here on, a restart of this server (by anyone) comes up read-only.
  set_standby_signal
  start=$(now_ms)
  pg_stop_fast
  lsn=$(shutdown_checkpoint)
  if [ -z "$lsn" ]; then
    control=$(controldata)
    state=$(sed -n 's/^Database cluster state: *//p' <<<"$control")
    [ "$state" = "shut down" ] || die "PostgreSQL did not shut down cleanly (state '$state')"
    lsn=$(sed -n 's/^Latest checkpoint location: *//p' <<<"$control")
    [ -n "$lsn" ] || die "no checkpoint location in pg_controldata"
  fi
  out fence_lsn "$lsn"
  out stop_ms $(($(now_ms) - start))
  if [ -n "${paused:-}" ]; then
    read -r -u "$paused" offset || true
    exec {paused}<&-
    if [[ "$offset" =~ ^[0-9]+$ ]]; then out redis_offset "$offset"; else log "Redis did not pause writes: it hands over after the promotion"; fi
  fi
}

# On the NEW droplet: promote <fence lsn> [timeout s] [gate <redis seconds> [<redis offset>]]. Exit 4 if it never
# replayed the fence point (the old server may then be restarted unchanged); after pg_promote() the migration is
# committed. A server already promoted (a resumed migration) answers promoted=1 without doing anything. With `gate`
# (same round trip), once Redis here is the master too, the internal listener opens (proxy-switch.sh gate serve) and
# the requests the old proxy holds go through; gate=closed when Redis had not taken over within <redis seconds>,
# and the runner opens it after its own Redis handover. With the old Redis's paused offset (the fence's
# redis_offset), Redis here takes over by itself, while PostgreSQL promotes (redis_take_over); without it, it
# waits for the old droplet's FAILOVER.
#
# Armed (`promote - <timeout s> gate <redis seconds>`): started before the fence, the step reads the proxy script up
# to GO_MARK and then waits for the runner's line `go <fence lsn> [<redis offset>]`, sent once the fence is done:
# what a round trip costs (ssh, this shell, the proxy script) is paid before the write gap. If standard input ends
# without that line (the fence failed), it exits 4 having done nothing.
step_promote() {
  local lsn="${1:?promote needs the fence lsn}" seconds="${2:-30}" start result redis_job="" offset="${5:-}"
  if [ "${3:-}" = gate ]; then
    if [ "$lsn" = - ]; then
      read_proxy_script_then_go
      lsn=$GO_LSN offset=$GO_OFFSET
    else
      read_proxy_script
    fi
    if [ -n "$offset" ]; then
      [[ "$offset" =~ ^[0-9]+$ ]] || die "the Redis offset must be a number, not '$offset'" 2
      exec {redis_job}< <(if redis_take_over "$offset" "${4:-5}"; then echo master; else echo replica; fi)
    fi
  elif [ "$lsn" = - ]; then
    die "an armed promotion (promote -) opens the gate: promote - <seconds> gate <redis seconds>" 2
  fi
  start=$(now_ms)
  # One connection in the usual case (each psql start is a `docker compose exec` on a droplet): promote only if the
  # fence point has been replayed, then wait for the end of recovery; a server no longer in recovery (a resumed
  # migration) answers `already`. pg_promote(true) would wait too, but it looks every 100 ms (WAITS_PER_SECOND in
  # PostgreSQL 15's xlogfuncs.c), a random 0-100 ms of the write gap; this loop looks every 10 ms (at most 60 s).
  until result=$(psql_local_multi "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 'already'
      WHEN pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$lsn') >= 0 THEN pg_promote(false)::text
      ELSE 'behind' END || ' ' || coalesce(pg_last_wal_replay_lsn()::text, '-')" \
    "DO \$\$ BEGIN FOR i IN 1..6000 LOOP
        EXIT WHEN NOT pg_is_in_recovery() OR pg_wal_lsn_diff(pg_last_wal_replay_lsn(), '$lsn') < 0;
        PERFORM pg_sleep(0.01);
      END LOOP; END \$\$" \
    "SELECT pg_is_in_recovery()") &&
    [ "${result%% *}" != behind ]; do
    [ $(($(now_ms) - start)) -lt $((seconds * 1000)) ] || die "standby did not replay up to $lsn within ${seconds}s" 4
    sleep 0.05
  done
  if [ "${result%% *}" = already ]; then
    out already_promoted 1
    out promoted 1
    open_gate_after_redis "${3:-}" "${4:-5}" "$redis_job"
    return
  fi
  # First line: "<signalled> <replay lsn>"; last line: still in recovery (t/f).
  out replay_lsn "$(head -n1 <<<"$result" | cut -d' ' -f2)"
  if [ "${result%% *}" != true ] || [ "$(tail -n1 <<<"$result")" != f ]; then
    die "pg_promote did not finish: commit point uncertain" 5
  fi
  out promoted 1
  out promote_ms $(($(now_ms) - start))
  open_gate_after_redis "${3:-}" "${4:-5}" "$redis_job"
}

# open_gate_after_redis <gate> <redis seconds> [<fd of redis_take_over's answer>]
open_gate_after_redis() {
  [ "$1" = gate ] || return 0
  local role="" job="${3:-}"
  if [ -n "$job" ]; then
    read -r -u "$job" role || true
    exec {job}<&-
    out redis_took_over "$([ "$role" = master ] && echo 1 || echo 0)"
  elif wait_until "$2" redis_is_master; then
    role=master
  fi
  if [ "$role" = master ]; then proxy gate serve; else out gate closed; fi
}

# On the OLD droplet, before the commit point only: undo whatever the migration did here. Idempotent. Held requests
# wait for it: once the server is a writable primary again (and Redis takes writes), `serving=1` is printed, and the
# runner sends the held requests back then (the armed bounce's go), while this step ends the migration's
# replication here. Each check is one `docker compose exec`, not one per question.
step_rollback_old() {
  local rc start redis_job state
  if [ -f "$(fence_marker)" ]; then
    log "unfencing: the old server restarts unchanged, as the primary"
    rm -f "$DATA_DIR_HOST/standby.signal" "$(fence_marker)"
  fi
  # `start` leaves a running container as it is: no `ps` first.
  dc start postgres >&2
  # Redis resumes writes while PostgreSQL starts: no request reaches the old app before `serving` (the proxy holds
  # them, the bounce waits for its go), so the order of the two costs nothing. REPLICAOF NO ONE changes nothing on a
  # master; a handover stopped midway (redis_failover) or the fence's pause may have left writes paused: they resume
  # now, not when the pause times out.
  printf 'CLIENT UNPAUSE\nREPLICAOF NO ONE\n' | redis_cli_stdin >/dev/null &
  redis_job=$!
  # The state query is the readiness probe too: psql exits 2 until the server accepts connections.
  start=$(now_ms)
  while :; do
    rc=0
    state=$(psql_local postgres "SELECT current_setting('default_transaction_read_only') || ' ' || pg_is_in_recovery()") || rc=$?
    if [ "$rc" != 2 ] || [ $(($(now_ms) - start)) -ge 120000 ]; then break; fi
    sleep 0.02
  done
  wait "$redis_job" || die "Redis did not take writes again (CLIENT UNPAUSE, REPLICAOF NO ONE failed)"
  [ "$rc" != 2 ] || die "PostgreSQL did not accept connections within 120 s"
  [ "$rc" = 0 ] || die "the old server's state could not be read"
  # PostgreSQL's text of a boolean is true/false.
  [ "${state#* }" = false ] || die "the old server is not a primary"
  if [ "${state% *}" = on ]; then step_unfreeze >/dev/null; fi
  out serving 1
  end_replication_here
  out rolled_back 1
}

# The migration's replication connections end and its slot is let go (a copy still running, its runner gone, holds
# it: at most 30 s) and dropped, in one connection.
end_replication_here() {
  psql_local_multi "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_replication WHERE usename = 'replicator'" \
    "DO \$\$ BEGIN FOR i IN 1..3000 LOOP
        EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = '$SLOT' AND active);
        PERFORM pg_sleep(0.01);
      END LOOP; END \$\$" \
    "SELECT count(pg_drop_replication_slot(slot_name)) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null ||
    die "the migration's replication slot $SLOT could not be dropped (still in use by a standby?)"
}

# On the NEW droplet: stop following the old server (it will be rebuilt by the next run): rollback_new
# [keep_following]. A long step a lost runner left running (a copy, a Redis sync) is stopped first. With
# keep_following (a switch back: this server followed the source before it started, and nothing was copied), it goes
# on following: only the claim goes (the runner makes its Redis a replica again).
step_rollback_new() {
  stop_registered_step
  # pg_promote() is the commit point. The journal records it one round trip later, and the new server may already
  # take writes by then (its proxy gate opens right after the promotion): a copy of the old cluster that is no
  # longer in recovery was promoted, and rolling back now would lose what it acknowledged. The runner goes forward.
  if pg_running && [ -f "$REPLICA_MARKER" ] && [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = f ] &&
    [ "$(psql_local postgres "SELECT system_identifier FROM pg_control_system()")" = "$(sed -n 's/^system_identifier=//p' "$REPLICA_MARKER")" ]; then
    out promoted 1
    die "this server is the migration's copy and it was promoted: past the commit point, nothing rolled back" 7
  fi
  if [ "${1:-}" = keep_following ]; then
    rm -f "$REPLICA_MARKER"
    out rolled_back 1
    return
  fi
  if pg_running && [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = t ]; then forget_primary; fi
  [ "$(redis_info_field role)" = master ] || redis_cli REPLICAOF NO ONE >/dev/null
  out rolled_back 1
}

# On the OLD droplet, after the commit point, dump-restore: fence the frozen server for good.
step_retire() {
  if pg_running; then pg_stop_fast; fi
  set_standby_signal
  out retired 1
}
