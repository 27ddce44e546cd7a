# shellcheck shell=bash
# Scale-out steps: the cutover in one round trip (hold, fence, marker wait and setval, commit record) and its
# rollback (unfence). Sent after logical-common.sh (see logical.sh).

# fence <id> <upstream host:port>[,...] <hold seconds> (part of `cutover`): this droplet's public site forwards to
# the app droplets' closed listeners (held, see the header) and drains the local app, then no new writes on the
# source (read-only by default, every client session ended), then a marker row committed after every acknowledged
# write: once the subscriber has it, it has everything before it. The psql session connects before the hold;
# nothing is fenced if the proxy did not take the hold.
fence() {
  local id="$1" t0 fifo pid rc=0 out_file
  # The session connects now (before the hold) and runs the fence as soon as its SQL arrives.
  fifo=$(mktemp -u) && mkfifo -m 600 "$fifo"
  out_file=$(mktemp)
  exec 3<>"$fifo"
  psql_source -f - <"$fifo" >"$out_file" 3>&- &
  pid=$!
  proxy hold "$2" "$3" 3>&- || { exec 3>&-; wait "$pid" || true; rm -f "$fifo"; die "the proxy did not take the hold: nothing fenced"; }
  t0=$(now_ms)
  # Every session is signalled at once, then waited for (5 ms polls, a fresh activity snapshot each time): a session
  # still committing must be gone before the marker. pg_terminate_backend(pid, timeout) would wait in 100 ms steps,
  # one session after the other. Twice: a session that was starting while the setting changed is caught by the
  # second pass.
  cat >&3 <<SQL
SET default_transaction_read_only = off;
ALTER DATABASE $DB SET default_transaction_read_only = on;
SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = '$DB'
  AND backend_type = 'client backend' AND pid <> pg_backend_pid() \gset
$(ended_sql)
SELECT pg_sleep(0.05) \gset
SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity WHERE datname = '$DB'
  AND backend_type = 'client backend' AND pid <> pg_backend_pid() \gset
$(ended_sql)
INSERT INTO public.$MARKER (id) VALUES ('$id');
SELECT 'fence_lsn=' || pg_current_wal_lsn();
SQL
  exec 3>&-
  wait "$pid" || rc=$?
  cat "$out_file"
  rm -f "$out_file" "$fifo"
  [ "$rc" = 0 ] || die "the fence failed (psql exit $rc)"
  out fence_ms "$(($(now_ms) - t0))"
}

# SQL: wait (at most 5 s) until no other client session of the database is left.
ended_sql() {
  cat <<SQL
DO \$\$DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  LOOP
    PERFORM pg_stat_clear_snapshot();
    EXIT WHEN NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = '$DB' AND backend_type = 'client backend'
      AND pid <> pg_backend_pid());
    IF clock_timestamp() - t0 > interval '5 seconds' THEN RAISE EXCEPTION 'client sessions still open 5 s after they were ended'; END IF;
    PERFORM pg_sleep(0.005);
  END LOOP; END\$\$;
SQL
}

# The setval lines and exact row counts of the (fenced) source, as SQL for the subscriber: it prints the values the
# runner reads (seq.*, source.*, target.*). Counted in one statement (query_to_xml runs each count).
target_checks_sql() {
  psql_source -c "SET default_transaction_read_only = off" \
    -c "SELECT string_agg(format('SELECT setval(%L, %s, %s) \gset', format('%I.%I', schemaname, sequencename),
      coalesce(last_value, start_value), CASE WHEN last_value IS NULL THEN 'false' ELSE 'true' END), E'\n') FROM pg_sequences" \
    -c "SELECT format('SELECT ''sequences=%s'';', count(*)) FROM pg_sequences" \
    -c "SELECT format('SELECT %L;', 'tables=' || count(*)) FROM pg_publication_tables WHERE pubname = '$PUB'" </dev/null
  echo "SELECT format('seq.%s.%s=%s', schemaname, sequencename, coalesce(last_value, 0)) FROM pg_sequences ORDER BY 1;"
  echo "SELECT 'checked=1';"
}

# cutover <id> <upstream host:port>[,...] <hold seconds> <catchup seconds>: the whole cutover in one round trip.
# One subscriber session connects first (before the hold, so its start-up is outside the write gap); after the
# fence it waits for the marker (the apply worker applies in commit order: every write the source committed before
# the fence is on the cluster once the marker is), then runs the setval statements one source session produces
# meanwhile. Then the commit record: its success is the commit point. Nothing in the write gap grows with the data:
# the row counts are compared after it (`counts`).
step_cutover() {
  local id="${1:?cutover needs an id}" upstreams="${2:?cutover needs the upstreams}" hold_s="${3:?cutover needs the hold seconds}"
  local seconds="${4:?cutover needs the catchup seconds}" t0 tfifo tpid result_file result rc=0
  safe_word "$id"
  check_upstreams "$upstreams"
  [[ "$hold_s" =~ ^[1-9][0-9]{0,4}$ ]] || die "hold seconds must be a whole number, got '$hold_s'"
  [[ "$seconds" =~ ^[1-9][0-9]*$ ]] || die "catchup seconds must be a whole number, got '$seconds'"
  read_proxy_script
  tfifo=$(mktemp -u) && mkfifo -m 600 "$tfifo"
  result_file=$(mktemp)
  trap 'rm -f "${tfifo:-}" "${result_file:-}"' EXIT
  exec 4<>"$tfifo"
  psql_target -f - <"$tfifo" >"$result_file" 4>&- &
  tpid=$!
  # Should the fence die, this shell's exit closes fd 4: the subscriber session ends with nothing run.
  fence "$id" "$upstreams" "$hold_s" 4>&-
  t0=$(now_ms)
  {
    cat <<SQL
SELECT clock_timestamp() AS t0 \gset
DO \$\$DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM public.$MARKER WHERE id = '$id') LOOP
    IF clock_timestamp() - t0 > interval '$seconds seconds' THEN
      RAISE EXCEPTION 'the subscriber has not applied the fence marker after ${seconds}s';
    END IF;
    PERFORM pg_sleep(0.005);
  END LOOP; END\$\$;
SELECT 'catchup_ms=' || round(extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
SQL
    target_checks_sql 4>&-
  } >&4
  exec 4>&-
  wait "$tpid" || rc=$?
  result=$(cat "$result_file")
  rm -f "$result_file" "$tfifo"
  [ "$rc" = 0 ] || die "catchup or sequences failed on the subscriber (psql exit $rc): not switched"
  printf '%s\n' "$result"
  grep -qx 'checked=1' <<<"$result" || die "the subscriber did not run every check: not switched"
  grep -qx 'tables=0' <<<"$result" && die "publication $PUB has no tables"
  out checks_ms "$(($(now_ms) - t0))"
  # The commit record, written whole (rename): from here the managed cluster is the primary.
  printf 'id=%s\nat=%s\n' "$id" "$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)" >"$SWITCHED_FILE.tmp"
  mv -f "$SWITCHED_FILE.tmp" "$SWITCHED_FILE"
  out switched "$id"
}

# unfence [keep-hold]: the source takes writes again (rollback before the commit point); then its proxy serves the
# local app again (proxy-switch.sh local, if it holds; the requests it held get Caddy's 502 at that reload, never
# applied). With keep-hold the proxy is left holding: the runner first bounces the held requests (the app droplets'
# gates forward to this droplet's internal listener, so they reach the local app) and then runs `local` itself.
# Exit 7, touching nothing, when the switch wrote its commit record: past the commit point.
step_unfence() {
  read_proxy_script
  if [ -f "$SWITCHED_FILE" ]; then
    out switched 1
    die "the switch is done ($(tr '\n' ' ' <"$SWITCHED_FILE")in $SWITCHED_FILE): committed, nothing rolled back" 7
  fi
  qs "ALTER DATABASE $DB RESET default_transaction_read_only" >/dev/null
  out unfenced 1
  if [ "${1:-}" = keep-hold ]; then out hold kept; else proxy local; fi
}

# What an earlier run left on this droplet and the cluster, read-only (`state`, and the first keys of `preflight`):
# the commit record's id and time (switched, switched_at), the fence (the database's read-only default), the publication and its slot
# here, the subscription there ("unknown" when the cluster does not answer). infra/scale-out-migration/status.ts
# reads them into a phase.
print_state() {
  local sub
  out switched "$(switched_field id)"
  out switched_at "$(switched_field at)"
  out fenced "$(qs "SELECT count(*) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase
    WHERE d.datname = '$DB' AND s.setrole = 0 AND 'default_transaction_read_only=on' = ANY (s.setconfig)")"
  out publication "$(qs "SELECT count(*) FROM pg_publication WHERE pubname = '$PUB'")"
  out slot "$(qs "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SUB'")"
  sub=$(qt "SELECT count(*) FROM pg_subscription WHERE subname = '$SUB'" 2>/dev/null) || sub=unknown
  out subscription "$sub"
}

# A field of the commit record (id, at), empty without one.
switched_field() {
  [ -f "$SWITCHED_FILE" ] || return 0
  sed -n "s/^$1=//p" "$SWITCHED_FILE" | head -n 1
}

step_state() { print_state; }
