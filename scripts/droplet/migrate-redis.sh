# shellcheck shell=bash
# Tier migration steps: Redis (the replica link over TLS, the handover at the cutover), sent after
# migrate-common.sh (see migrate.sh).

# The other droplet's Redis certificate follows this script on standard input (the runner read it from that
# droplet's preflight, over its own ssh connection). A replica checks its master's certificate against
# tls-ca-cert-file: this server trusts its own and, from now on, that one. Both go in a bundle beside its own
# certificate, named after the peer's fingerprint; CONFIG SET loads it (a restart goes back to the rendered trust).
trust_redis_peer() {
  local pem fingerprint bundle
  pem=$(cat)
  [ -n "$pem" ] || die "the other droplet's Redis certificate must follow this script on standard input"
  fingerprint=$(pem_fingerprint <<<"$pem")
  bundle="trusted-${fingerprint:0:16}.crt"
  { cat "$REDIS_TLS_DIR_HOST/server.crt" && printf '%s\n' "$pem"; } >"$REDIS_TLS_DIR_HOST/$bundle.tmp"
  chmod 0644 "$REDIS_TLS_DIR_HOST/$bundle.tmp"
  mv -f "$REDIS_TLS_DIR_HOST/$bundle.tmp" "$REDIS_TLS_DIR_HOST/$bundle"
  redis_cli CONFIG SET tls-ca-cert-file "$REDIS_TLS_DIR/$bundle" | grep -q OK || die "Redis did not load $bundle as its trust"
}

# On the NEW droplet: make Redis a replica of the old one: redis_replica <old addr> <old port> <announce ip>, the old
# droplet's Redis certificate on standard input (after this script). The link is TLS (tls-replication yes).
step_redis_replica() {
  local old="${1:?}" port="${2:-6379}" announce="${3:?redis_replica needs the address this replica announces}"
  register_step
  trust_redis_peer
  # The password travels on stdin (-x: last argument from stdin), never in argv (ps, docker's own logs).
  printf '%s' "${REDIS_PASSWORD:-}" | redis_cli_stdin -x CONFIG SET masterauth >/dev/null
  redis_cli CONFIG SET replica-announce-ip "$announce" >/dev/null
  redis_cli REPLICAOF "$old" "$port" >/dev/null
  wait_until 300 redis_link_up || die "Redis replication link to $old:$port did not come up"
  out redis_replica 1
}

redis_link_up() { [ "$(redis_info_field master_link_status)" = up ] && [ "$(redis_info_field master_sync_in_progress)" = 0 ]; }

# redis_pause <ms>: this Redis (a master) stops taking writes for <ms> (CLIENT PAUSE WRITE, which stops expiry too;
# they resume by themselves after that, or at redis_follow or a rollback) and prints its replication offset, which
# no longer moves but for the pings to its replica. Prints nothing if it is not a master or refused the pause.
redis_pause() {
  local state
  state=$(printf 'CLIENT PAUSE %s WRITE\nINFO replication\n' "$1" | redis_cli_stdin | tr -d '\r')
  [ "$(head -n1 <<<"$state")" = OK ] && grep -qx role:master <<<"$state" || return 1
  sed -n 's/^master_repl_offset://p' <<<"$state"
}

# redis_take_over <offset> <seconds>: this replica has processed the old master's stream up to <offset> (the old
# one's writes are paused there), so it stops following and is the master, with everything the old one had.
# Fails, changing nothing, if it did not get that far within <seconds>.
redis_take_over() {
  wait_until "$2" redis_has_offset "$1" || { log "Redis here did not reach offset $1 within $2 s"; return 1; }
  redis_cli REPLICAOF NO ONE | grep -q OK
}

redis_has_offset() {
  local got
  got=$(redis_info_field master_repl_offset)
  [[ "$got" =~ ^[0-9]+$ ]] && [ "$got" -ge "$1" ]
}

redis_is_master() { [ "$(redis_info_field role)" = master ]; }

# On the OLD droplet: FAILOVER TO <new addr> <new port> [timeout ms], the new droplet's Redis certificate on standard
# input (this server becomes its replica, over TLS), or nothing there when redis_trust ran before (the cutover: the
# trust is then outside the write gap). Pauses writes, waits for the replica to have everything, swaps roles.
#
# FAILOVER's own check waits until the replica's acknowledged offset equals this server's, and a Redis 7.0 replica
# acknowledges once a second (replicationCron) or on REPLCONF GETACK, whose own bytes it does not count: measured
# here, FAILOVER alone took 65-934 ms, a random part of the write gap. So the check is done here: writes paused
# (CLIENT PAUSE WRITE also stops expiry), this server's offset read, the new server asked directly until it has
# processed that offset, and then FAILOVER ... FORCE with a 1 ms timeout, which skips Redis's check (ours passed).
step_redis_failover() {
  local new="${1:?}" port="${2:-6379}" timeout="${3:-5000}" start pem state offset ca
  start=$(now_ms)
  pem=$(cat)
  if [ -n "$pem" ]; then trust_redis_peer <<<"$pem"; fi
  # One connection (each redis-cli start is a TLS handshake, and a `docker compose exec` on a droplet): the pause, the
  # offset and role, and the trust bundle, which holds the new server's certificate (trust_redis_peer).
  state=$(printf 'CLIENT PAUSE %s WRITE\nINFO replication\nCONFIG GET tls-ca-cert-file\n' "$timeout" | redis_cli_stdin | tr -d '\r')
  if grep -qx "master_host:$new" <<<"$state"; then # handed over already (a resumed migration)
    redis_cli CLIENT UNPAUSE >/dev/null
    out redis_failover_ms 0
    return
  fi
  [ "$(head -n1 <<<"$state")" = OK ] || redis_failover_abort "CLIENT PAUSE refused"
  grep -qx "role:master" <<<"$state" || redis_failover_abort "this Redis is not a master and not a replica of $new"
  offset=$(sed -n 's/^master_repl_offset://p' <<<"$state")
  ca=$(sed -n '/^tls-ca-cert-file$/{n;p;}' <<<"$state")
  [[ "$offset" =~ ^[0-9]+$ ]] || redis_failover_abort "no master_repl_offset in INFO replication"
  [ -n "$ca" ] || redis_failover_abort "no tls-ca-cert-file in CONFIG GET"
  until peer_has_offset "$new" "$port" "$ca" "$offset"; do
    [ $(($(now_ms) - start)) -lt "$timeout" ] || redis_failover_abort "the new server $new:$port did not reach offset $offset within ${timeout} ms"
    sleep 0.01
  done
  out redis_synced_ms $(($(now_ms) - start))
  redis_cli FAILOVER TO "$new" "$port" TIMEOUT 1 FORCE | grep -q OK || redis_failover_abort "FAILOVER TO $new $port refused"
  # The forced failover happens on the server's next pass through its event loop: the polling (one connection, a
  # command every 10 ms for up to 30 s; grep stops it at the first match) provides it.
  { redis_cli -r 3000 -i 0.01 INFO replication || true; } | grep -m1 -qxF "master_host:$new"$'\r' ||
    redis_failover_abort "Redis did not hand over to $new"
  redis_cli CLIENT UNPAUSE >/dev/null
  out redis_failover_ms $(($(now_ms) - start))
}

# On the OLD droplet, after the new Redis took over by itself (promote with the fence's offset): follow it over TLS
# (redis_trust ran before the cutover; a partial resync, since this server's writes stayed paused at the offset the
# new one had), then let writes resume, which a replica refuses. redis_follow <new addr> <new port>
step_redis_follow() {
  local new="${1:?}" port="${2:-6379}" answer
  answer=$(printf 'REPLICAOF %s %s\nCLIENT UNPAUSE\n' "$new" "$port" | redis_cli_stdin | tr -d '\r')
  [[ "$(head -n1 <<<"$answer")" == OK* ]] || die "REPLICAOF $new $port refused: $(head -n1 <<<"$answer")"
  out redis_following 1
}

# Writes here resume (they would anyway once the pause times out) before the step fails.
redis_failover_abort() {
  redis_cli CLIENT UNPAUSE >/dev/null 2>&1 || true
  die "$1"
}

# The new server (a replica of this one) has processed this server's replication stream up to <offset>.
peer_has_offset() {
  local got
  got=$(redis_info_field master_repl_offset --cacert "$3" -h "$1" -p "$2")
  [[ "$got" =~ ^[0-9]+$ ]] && [ "$got" -ge "$4" ]
}

# On the OLD droplet, before the cutover: trust the new droplet's Redis certificate (on standard input) for the
# replica link the FAILOVER will make.
step_redis_trust() {
  trust_redis_peer
  out redis_trusted 1
}

# On the NEW droplet: make local Redis a master without the old one (fallback when FAILOVER cannot run).
step_redis_promote() {
  redis_cli REPLICAOF NO ONE >/dev/null
  out redis_role "$(redis_info_field role)"
}
