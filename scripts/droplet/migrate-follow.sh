# shellcheck shell=bash
# Tier migration steps: after the commit point, the old PostgreSQL follows the new primary as a streaming standby,
# sent after migrate-common.sh (see migrate.sh).

# On the OLD droplet, after the commit point: follow <new addr> <new port> [stream seconds]. The fence stopped this
# server cleanly (its last record is the shutdown checkpoint) and the new one was promoted once it had replayed that
# record, so this server's WAL ends exactly where the new timeline forks: it can replay that timeline as it is.
# Checked on every run, and printed: this server's end of WAL, the new timeline and its fork point (the promoted
# server's timeline history). Past the fork (it wrote after the fence), it is rewound (pg_rewind --source-server,
# which needs wal_log_hints or data checksums here) or left stopped. standby.signal stays: it never starts writable.
# Prints follow=streaming|rewound|stopped and, unless streaming as planned, follow_reason. Exits 0 when it did what
# it could (the runner reports what), 1 when a check could not run.
step_follow() {
  local new="${1:?follow needs the new address}" port="${2:-5432}" seconds="${3:-60}" start control tli end fork how=streaming
  [ -n "${REPLICATION_PASSWORD:-}" ] || die "REPLICATION_PASSWORD is not set in $ENV_FILE"
  pg_remote_tls
  start=$(now_ms)
  if pg_running; then
    [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = t ] || follow_stop "this server runs as a primary: it is left as it is"
    if wal_receiver_from "$new"; then
      out follow_timeline "$(psql_local postgres "SELECT received_tli FROM pg_stat_wal_receiver")"
      out follow_replay_lsn "$(psql_local postgres "SELECT pg_last_wal_replay_lsn()")"
      out follow streaming
      out follow_ms $(($(now_ms) - start))
      return
    fi
    log "a standby that does not stream from $new: stopped to be checked"
    pg_stop_fast
  fi
  [ -f "$DATA_DIR_HOST/standby.signal" ] || set_standby_signal
  control=$(controldata)
  case "$(sed -n 's/^Database cluster state: *//p' <<<"$control")" in
    "shut down" | "shut down in recovery") ;;
    *) follow_stop "its last shutdown was not clean (pg_controldata): it would need a rewind to be checked" ;;
  esac
  tli=$(sed -n "s/^Latest checkpoint's TimeLineID: *//p" <<<"$control")
  [[ "$tli" =~ ^[0-9]+$ ]] || die "no timeline in pg_controldata"
  out follow_old_checkpoint "$(sed -n 's/^Latest checkpoint location: *//p' <<<"$control")"
  end=$(wal_end "$tli" "$(sed -n 's/^Latest checkpoint location: *//p' <<<"$control")")
  out follow_old_timeline "$tli"
  out follow_old_end "$end"
  fork=$(fork_point "$new" "$port" "$tli") || die "could not read the new server's timeline history from $new:$port"
  out follow_timeline "${fork%% *}"
  out follow_fork "${fork#* }"
  if [ "${fork#* }" = same ]; then
    log "this server is on the new timeline already (it followed before)"
  elif [ "${fork#* }" = - ]; then
    how=rewound
    log "the new server's history does not contain timeline $tli: a rewind is needed"
  elif [ "$(lsn_number "$end")" -gt "$(lsn_number "${fork#* }")" ]; then
    how=rewound
    log "this server's WAL ends at $end, past the fork point ${fork#* }: a rewind is needed"
  fi
  if [ "$how" = rewound ]; then rewind_from "$new" "$port" "$control"; fi
  write_follow_conninfo "$new" "$port"
  [ -f "$DATA_DIR_HOST/standby.signal" ] || die "no standby.signal in $DATA_DIR_HOST: not started"
  pg_start
  [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" = t ] || die "the old server started as a primary"
  if ! wait_until "$seconds" wal_receiver_from "$new"; then
    pg_stop_fast
    follow_stop "it did not stream from $new:$port within ${seconds}s"
  fi
  # The copy's slot (pg_basebackup -C) is still here: on a standby too it would keep WAL from being recycled, for
  # as long as this server follows. Nothing uses it any more.
  psql_local postgres "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = '$SLOT'" >/dev/null
  out follow_replay_lsn "$(psql_local postgres "SELECT pg_last_wal_replay_lsn()")"
  out follow "$how"
  out follow_ms $(($(now_ms) - start))
}

# follow_stop <why>: this server does not follow; said in the output, the step ends (exit 0: the new serves).
follow_stop() {
  log "not following: $1"
  out follow stopped
  out follow_reason "$1"
  exit 0
}

wal_receiver_from() {
  [ "$(psql_local postgres "SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming' AND sender_host = '$1'")" = 1 ]
}

# "0/3000148" -> a number that orders as the position does.
lsn_number() { echo $(((16#${1%/*} << 32) + 16#${1#*/})); }

# wal_end <timeline> <checkpoint lsn>: where this server's valid WAL ends, read from its pg_wal by pg_waldump from
# the last checkpoint on (it stops at the first record that is not valid and names that position). After a clean
# stop at the fence that is the end of the shutdown checkpoint record; anything written after the fence lies beyond.
wal_end() {
  local said
  said=$(pg_run_offline pg_waldump -p "$PGDATA/pg_wal" -t "$1" -s "$2" </dev/null 2>&1 >/dev/null || true)
  grep -o 'at [0-9A-F]*/[0-9A-F]*' <<<"$said" | tail -n1 | cut -d' ' -f2 | grep . || die "pg_waldump did not say where the WAL ends: $said"
}

# fork_point <new addr> <port> <old timeline>: "<new timeline> <lsn where it left the old timeline>": the timeline
# the promoted server writes on (TIMELINE_NOW), and
# the switch point its history gives (pg_wal/<timeline>.history: parent timeline, switch point, reason); or
# "<new timeline> -" when that history does not pass through <old timeline>, "<new timeline> same" when it is the
# new timeline itself (a follower stopped and started again).
fork_point() {
  local answer
  answer=$(PGPASSWORD="${POSTGRES_PASSWORD:-}" PGCONNECT_TIMEOUT=10 pg_run_offline psql -X -q -At -v ON_ERROR_STOP=1 \
    -h "$1" -p "$2" -U postgres -d "dbname=postgres $PG_REMOTE_TLS" -c "SELECT tli,
      CASE WHEN tli = $3 THEN 'same' ELSE coalesce((SELECT split_part(line, E'\t', 2) FROM regexp_split_to_table(
        CASE WHEN tli > 1 THEN pg_read_file('pg_wal/' || lpad(upper(to_hex(tli)), 8, '0') || '.history') END,
        E'\n') AS line WHERE split_part(line, E'\t', 1) = '$3'), '-') END
      FROM (SELECT $TIMELINE_NOW AS tli) AS t" </dev/null) || return 1
  tr '|' ' ' <<<"$answer"
}

# rewind_from <new addr> <port> <pg_controldata output>: pg_rewind this (stopped) data directory onto the new
# primary's timeline; it needs wal_log_hints or data checksums here, and says so (and stops) otherwise.
rewind_from() {
  if grep -q '^wal_log_hints setting: *off' <<<"$3" && grep -q '^Data page checksum version: *0' <<<"$3"; then
    follow_stop "its WAL goes past the new timeline's fork point and pg_rewind cannot run: wal_log_hints is off and data checksums are not enabled"
  fi
  PGPASSWORD="${POSTGRES_PASSWORD:-}" PGCONNECT_TIMEOUT=10 pg_run_offline pg_rewind -D "$PGDATA" \
    --source-server="host=$1 port=$2 user=postgres dbname=postgres $PG_REMOTE_TLS" </dev/null >&2 ||
    follow_stop "pg_rewind from $1:$2 failed"
  [ -f "$DATA_DIR_HOST/standby.signal" ] || set_standby_signal
}

# The streaming settings, in postgresql.auto.conf (read at start; the server is stopped): the new primary over TLS,
# its certificate checked (pg_remote_tls), as the replication user, the latest timeline. The password is written by
# bash itself (no argv), quoted for libpq and then for the configuration file, as pg_basebackup -R does for the new
# server's copy.
write_follow_conninfo() {
  local auto="$DATA_DIR_HOST/postgresql.auto.conf" pw conn
  pw=${REPLICATION_PASSWORD//\\/\\\\}
  pw=${pw//\'/\\\'}
  conn="host=$1 port=$2 user=replicator password='$pw' application_name=chatbot_follower $PG_REMOTE_TLS"
  conn=${conn//\\/\\\\}
  conn=${conn//\'/\'\'}
  {
    grep -Ev "^(primary_conninfo|primary_slot_name|recovery_target_timeline) " "$auto" 2>/dev/null || true
    printf "primary_conninfo = '%s'\nrecovery_target_timeline = 'latest'\n" "$conn"
  } >"$auto.tmp"
  chown --reference="$DATA_DIR_HOST" "$auto.tmp"
  chmod 0600 "$auto.tmp"
  mv -f "$auto.tmp" "$auto"
}

# On the OLD droplet, read only (--status): what this server is now (stopped, primary or standby), and as a standby
# whom it streams from, on which timeline, and how far its replay is behind what it has been told was written there.
step_follower() {
  if ! pg_running; then
    out follower_pg stopped
    return
  fi
  if [ "$(psql_local postgres "SELECT pg_is_in_recovery()")" != t ]; then
    out follower_pg primary
    return
  fi
  out follower_pg standby
  psql_local postgres "SELECT 'follower_status=' || status, 'follower_sender=' || sender_host || ':' || sender_port,
      'follower_timeline=' || received_tli FROM pg_stat_wal_receiver" | tr '|' '\n'
  out follower_replay_lsn "$(psql_local postgres "SELECT pg_last_wal_replay_lsn()")"
  out follower_lag_bytes "$(pg_lag_bytes)"
}
