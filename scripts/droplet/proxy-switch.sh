#!/usr/bin/env bash
# The droplet's public proxy (Caddy) during a tier migration. Runs ON a droplet, sent over ssh as standard input
# (`bash -s -- <action> [args]`) by the migration runner (infra/migration/commands.ts builds the lines):
#
#   trust
#       OLD droplet, before the hold. The certificates of the internal listeners it will forward to (PEM, one or
#       more, following this script on standard input: the runner read them from those droplets over their own ssh
#       connections) become the only roots the hold trusts, in $PROXY_TLS_DIR_HOST/peers.crt.
#   hold <host:port>[,<host:port>...] <hold seconds> [drain seconds]
#       OLD droplet, at the cutover, before the fence. The public site forwards to <host:port> (the new droplet's
#       internal listener, still closed by `gate close`; in the scale-out cutover, the app droplets' internal
#       listeners, all closed) over TLS, checking the certificate against peers.crt and asking for the name
#       "proxy" (the name tls-cert.sh gives it), so users' requests cross the VPC encrypted to the droplet that
#       was trusted. Caddy cannot connect while the gate is closed, and a request it could not even
#       connect for was certainly not applied, so Caddy retries it every 50 ms for up to <hold seconds> (the
#       downtime budget) instead of failing it; past that it answers 502, never hangs. Caddy retries a failed
#       connection for any method, but not a request that reached an upstream unless it is a GET (Caddy's
#       reverse_proxy `lb_try_duration`, `lb_retry_match`): a write is never applied twice. Then it waits up to
#       [drain seconds] (default 5) until no request is in flight to the local app (Caddy's admin API,
#       /reverse_proxy/upstreams), so the fence that follows cuts no request short. The rendered Caddyfile is kept
#       as Caddyfile.serving, which `local` puts back.
#   local [settle seconds]
#       OLD droplet, rollback: the rendered Caddyfile back (the local app serves again). Nothing to do without a hold.
#       With [settle seconds] (after a bounce, below), first waits up to that long until no attempt to the hold's
#       upstreams has failed for a second: no held request is then waiting to retry, which the reload would fail.
#   gate close | gate open | gate serve
#       NEW droplet. `close` (before the copy) takes its internal listener away, so the old proxy's connections to
#       it are refused and held; `serve` (right after the promotion) brings it back and the held requests go
#       through, and a public site an earlier migration from here left forwarding to the server it moved to serves
#       the local app again (public=local); `open` (a rollback) brings the listener back and leaves the public site
#       as it was: a follower whose switch back rolled back still forwards to the server that serves. All print the
#       listener's certificate (tls_cert=<base64 PEM>, public), for the forwarding droplet's `trust`.
#   gate bounce <host:port> [armed]
#       NEW droplet, rollback of a cutover, once the old server is writable again and before the old proxy lets go of
#       its hold. The old droplet's internal listener certificate (PEM) follows this script on standard input and
#       becomes this droplet's peers.crt (as `trust`). The internal listener opens, but forwarding to <host:port>
#       (the old droplet's internal listener, over TLS, that certificate only): the requests the old proxy holds
#       go back to the old app instead of failing when that proxy reloads. `gate open`, `serve` or `close` ends it.
#       With `armed`, started while the old server is still coming back: one certificate, then everything but the
#       reload is made ready, and the script waits for the line `go` on standard input; if standard input ends
#       without it, nothing changes (bounced=0).
#   cert
#       Any droplet, read-only: prints its internal listener's certificate (tls_cert=<base64 PEM>, public), for
#       another droplet's `gate bounce` (the scale-out's rollback bounces the app droplets' held requests to it).
#
# Output: `key=value` lines on stdout. Exit codes: 0 done, 1 failed (a failed reload puts the previous Caddyfile
# back: the file and the running proxy agree), 2 usage.
#
# Caddy is the `proxy` service of the compose project in $CONFIG_DIR (/etc/chatbot), its admin API on localhost:2019
# inside the container. The Caddyfile is rewritten in place (same inode): Docker's single-file bind mount would
# otherwise keep showing the container the old file.
# The internal listener's certificate directory: /etc/caddy/tls as Caddy sees it in its container, mounted from
# /var/lib/chatbot/tls/proxy (CHATBOT_PROXY_TLS_DIR_HOST).
set -euo pipefail

CONFIG_DIR=${CONFIG_DIR:-/etc/chatbot}
CADDYFILE="$CONFIG_DIR/Caddyfile"
SAVED="$CONFIG_DIR/Caddyfile.serving"
GATE_MARK='#gate-closed# '
BOUNCE_BEGIN='# gate bounce: begin (proxy-switch.sh gate bounce; gate open or close removes it)'
BOUNCE_END='# gate bounce: end'
TMP=$(mktemp)
trap 'rm -f "$TMP" "$TMP.base" "$TMP.base.closed" "$TMP.closed" "$TMP.peers" "$TMP.cert"' EXIT

out() { printf '%s=%s\n' "$1" "$2"; }
die() { echo "proxy-switch: $1" >&2; exit "${2:-1}"; }
now_ms() { date +%s%3N; }
usage() { die "usage: proxy-switch.sh trust (PEM on stdin) | hold <host:port>[,<host:port>...] <hold seconds> [drain seconds] | local [settle seconds] | gate close|open|serve | gate bounce <host:port> [armed] (PEM on stdin) | cert" 2; }

PROXY_TLS_DIR=/etc/caddy/tls
PROXY_TLS_DIR_HOST=${CHATBOT_PROXY_TLS_DIR_HOST:-/var/lib/chatbot/tls/proxy}
PEERS="$PROXY_TLS_DIR_HOST/peers.crt"
# The name in the internal listeners' certificates (tls-cert.sh <dir> <owner> proxy).
PEER_NAME=proxy
[ -f "$CADDYFILE" ] || die "no Caddyfile at $CADDYFILE"

dc() { docker compose -p chatbot --project-directory "$CONFIG_DIR" -f "$CONFIG_DIR/compose.yaml" "$@"; }

caddy_reload() { dc exec -T proxy caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile; }

# install <file>: its content becomes the Caddyfile (in place) and Caddy reloads it; if the reload fails, the
# previous content goes back (Caddy keeps running the previous config when a reload is refused).
install() {
  local before start
  before=$(mktemp)
  cat "$CADDYFILE" >"$before"
  cat "$1" >"$CADDYFILE"
  start=$(now_ms)
  if ! caddy_reload >&2; then
    cat "$before" >"$CADDYFILE"
    rm -f "$before"
    die "caddy reload failed: the previous Caddyfile is back in place and still served"
  fi
  rm -f "$before"
  out reload_ms $(($(now_ms) - start))
}

# The upstreams of the public site (its first `reverse_proxy <upstream>... {` block) in a Caddyfile, space-separated.
public_upstream() { sed -n 's/^\treverse_proxy \([^{]*[^ {]\) {$/\1/p' "$1" | head -n 1; }

check_upstream() { [[ "$1" =~ ^[A-Za-z0-9._-]+:[0-9]{1,5}$ ]] || die "upstream must be host:port, got '$1'" 2; }

check_seconds() { [[ "$2" =~ ^[1-9][0-9]{0,4}$ ]] || die "$1 must be a whole number of seconds (1-99999), got '$2'" 2; }

# wait_upstreams <idle|settled> <seconds> <host:port>...: polls Caddy's admin API (/reverse_proxy/upstreams, every
# 20 ms, at most <seconds>) until every upstream named has no request in flight (idle) or no failed attempt within
# its fail_duration (settled); an upstream Caddy no longer lists has neither. Exits 0 when reached, 1 at the limit,
# 2 when the API does not answer. Runs where the admin API is reachable: inside the proxy container (busybox wget).
wait_upstreams() {
  local fetch='wget -qO- http://localhost:2019/reverse_proxy/upstreams' loop
  # shellcheck disable=SC2016 # expanded by the inner sh
  loop='mode=$1; max=$(($2 * 50)); shift 2; n=0
  while [ "$n" -lt "$max" ]; do
    body=$('"$fetch"') || exit 2
    ok=1
    for u in "$@"; do
      case "$body" in *"\"address\":\"$u\","*) ;; *) continue ;; esac
      if [ "$mode" = idle ]; then pat="\"address\":\"$u\",\"num_requests\":0[,}]"; else pat="\"address\":\"$u\",\"num_requests\":[0-9]*,\"fails\":0[,}]"; fi
      printf "%s" "$body" | grep -q "$pat" || { ok=0; break; }
    done
    [ "$ok" = 1 ] && exit 0
    n=$((n + 1)); sleep 0.02
  done; exit 1'
  dc exec -T proxy sh -c "$loop" sh "$@"
}

# timed_wait <idle|settled> <seconds> <note> <host:port>...: wait_upstreams, setting WAITED_MS and WAITED (1, or 0
# with <note> on stderr when the limit was reached).
timed_wait() {
  local mode="$1" seconds="$2" note="$3" start rc=0
  shift 3
  start=$(now_ms)
  wait_upstreams "$mode" "$seconds" "$@" || rc=$?
  WAITED_MS=$(($(now_ms) - start))
  case "$rc" in
    0) WAITED=1 ;;
    1) WAITED=0; echo "proxy-switch: $note" >&2 ;;
    *) die "could not read Caddy's upstreams from its admin API" ;;
  esac
}

# How a forward to another droplet's internal listener connects: TLS, checking its certificate against peers.crt
# and asking for the name in it (indented for a reverse_proxy block). Extra transport lines may follow as arguments.
transport_block() {
  printf '\t\ttransport http {\n\t\t\ttls\n\t\t\ttls_trusted_ca_certs %s\n\t\t\ttls_server_name %s\n' "$PROXY_TLS_DIR/peers.crt" "$PEER_NAME"
  local line
  for line in "$@"; do printf '\t\t\t%s\n' "$line"; done
  printf '\t\t}'
}

# The bounce forwards to a Caddy that reloads while it does (the rollback puts that droplet's public site back). A
# pooled connection to it then fails a request whose body was already sent, and Caddy does not retry a write: over
# HTTP/2 the reload's GOAWAY ("cannot retry ... after Request.Body was written"), over HTTP/1.1 a kept-alive
# connection the old server instance closes (EOF, broken pipe). One HTTP/1.1 connection per request has neither.
BOUNCE_TRANSPORT=("versions 1.1" "keepalive off")

# The certificates on standard input (after this script) become the hold's trusted roots. Only the certificate
# blocks are kept, each checked by openssl; anything else fails before peers.crt changes.
trust() {
  trust_check
  trust_commit
}

# The certificate blocks on standard input, checked, into $TMP.peers (TRUSTED: how many).
trust_check() {
  local checked
  sed -n '/^-----BEGIN CERTIFICATE-----$/,/^-----END CERTIFICATE-----$/p' >"$TMP.peers"
  TRUSTED=$(grep -c '^-----BEGIN CERTIFICATE-----$' "$TMP.peers" || true)
  [ "$TRUSTED" -gt 0 ] || die "trust: no PEM certificate on standard input"
  checked=$(openssl crl2pkcs7 -nocrl -certfile "$TMP.peers" 2>/dev/null | openssl pkcs7 -print_certs -noout 2>/dev/null | grep -c '^subject=' || true)
  [ "$checked" = "$TRUSTED" ] || die "trust: $TRUSTED certificate block(s) on standard input, $checked readable by openssl"
}

trust_commit() {
  mkdir -p "$PROXY_TLS_DIR_HOST"
  cat "$TMP.peers" >"$PEERS.new"
  chmod 0644 "$PEERS.new"
  mv -f "$PEERS.new" "$PEERS"
  out trusted "$TRUSTED"
}

# An armed bounce's standard input up to the end of its one certificate: `read` takes a line at a time, so the go
# line that follows later stays unread.
cert_lines() {
  local line
  while IFS= read -r line; do
    printf '%s\n' "$line"
    if [ "$line" = '-----END CERTIFICATE-----' ]; then return 0; fi
  done
  die "trust: standard input ended before a certificate's END CERTIFICATE line"
}

hold() {
  local target hold_s="${2:-}" drain_s="${3:-5}" serving local_up u ups
  IFS=, read -r -a ups <<<"${1:-}"
  [ "${#ups[@]}" -gt 0 ] || usage
  for u in "${ups[@]}"; do check_upstream "$u"; done
  target="${ups[*]}"
  check_seconds "hold seconds" "$hold_s"
  check_seconds "drain seconds" "$drain_s"
  [ -s "$PEERS" ] || die "no trusted certificate for the upstream in $PEERS: run \`trust\` first (the new droplet's internal listener certificate)"
  # The rendered file: the copy an earlier hold kept, else the Caddyfile now (kept once the reload succeeded).
  if [ -f "$SAVED" ]; then serving="$SAVED"; else serving=$(mktemp) && cat "$CADDYFILE" >"$serving"; fi
  local_up=$(public_upstream "$serving")
  [ -n "$local_up" ] || die "no public reverse_proxy block in $serving"
  # The public site's block only; the internal listener keeps serving the local app. A failed attempt counts for
  # 1 s (fail_duration) and never marks the upstream down (max_fails): `local <settle seconds>` reads that count.
  TRANSPORT=$(transport_block) awk -v up="$target" -v hold="$hold_s" '
    !done && /^\treverse_proxy [^ ]+ \{$/ {
      print "\treverse_proxy " up " {"
      print "\t\tlb_try_duration " hold "s"
      print "\t\tlb_try_interval 50ms"
      print "\t\tfail_duration 1s"
      print "\t\tmax_fails 1000000"
      print ENVIRON["TRANSPORT"]
      print "\t}"
      skip = 1; done = 1; next
    }
    skip { if ($0 == "\t}") skip = 0; next }
    { print }' "$serving" >"$TMP"
  grep -q "^	reverse_proxy $target {" "$TMP" || die "no public reverse_proxy block found in $CADDYFILE"
  install "$TMP"
  if [ "$serving" != "$SAVED" ]; then mv "$serving" "$SAVED"; fi
  out upstream "$target"
  out hold_s "$hold_s"
  timed_wait idle "$drain_s" "requests to $local_up still in flight after ${drain_s}s; the fence goes ahead" "$local_up"
  out drained_ms "$WAITED_MS"
  out drained "$WAITED"
}

back_local() {
  local settle_s="${1:-}" ups
  if [ -n "$settle_s" ]; then check_seconds "settle seconds" "$settle_s"; fi
  if [ ! -f "$SAVED" ]; then
    out upstream "$(public_upstream "$CADDYFILE")"
    out changed 0
    return
  fi
  # A reload ends the outgoing config's retries at once: a held request waiting for its next attempt gets a 502.
  # Once the hold's upstreams answer again (a rollback's bounce), every waiting request connects within one retry
  # interval; no failed attempt within the last second means none is left waiting.
  if [ -n "$settle_s" ]; then
    read -r -a ups <<<"$(public_upstream "$CADDYFILE")"
    timed_wait settled "$settle_s" "attempts to ${ups[*]} still failing after ${settle_s}s; the reload goes ahead" "${ups[@]}"
    out settled_ms "$WAITED_MS"
    out settled "$WAITED"
  fi
  install "$SAVED"
  rm -f "$SAVED"
  out upstream "$(public_upstream "$CADDYFILE")"
  out changed 1
}

# The internal listener's site block: from `https://:<port> {` (`http://` before TLS) to the next `}` at the start of
# a line.
gate() {
  [ -s "$PROXY_TLS_DIR_HOST/server.crt" ] || die "no certificate for the internal listener in $PROXY_TLS_DIR_HOST (the config sync makes it)"
  # A bounce (below) is always ended first: its site block is the lines between its two markers.
  awk -v b="$BOUNCE_BEGIN" -v e="$BOUNCE_END" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip { print }' "$CADDYFILE" >"$TMP.base"
  local restored=0
  case "${1:-}" in
    close) close_internal "$TMP.base" >"$TMP" ;;
    open) sed "s/^${GATE_MARK}//" "$TMP.base" >"$TMP" ;;
    serve)
      # A droplet that was a migration's source and is now promoted again (a switch back, a migration back) still
      # forwards its public site to the other droplet until here: from now on it serves its own app.
      if [ -f "$SAVED" ]; then
        sed "s/^${GATE_MARK}//" "$SAVED" >"$TMP"
        restored=1
      else
        sed "s/^${GATE_MARK}//" "$TMP.base" >"$TMP"
      fi
      ;;
    bounce)
      check_upstream "${2:-}"
      if [ -z "${3:-}" ]; then
        trust_check
      elif [ "$3" = armed ]; then
        cert_lines >"$TMP.cert"
        trust_check <"$TMP.cert"
      else
        usage
      fi
      # The listener's own lines (address, certificate) from the rendered block; only the upstream differs.
      close_internal "$TMP.base" >"$TMP.closed"
      {
        cat "$TMP.closed"
        echo "$BOUNCE_BEGIN"
        sed -n "s/^${GATE_MARK}//p" "$TMP.closed" | TRANSPORT=$(transport_block "${BOUNCE_TRANSPORT[@]}") awk -v up="$2" '
          /^\treverse_proxy / { print "\treverse_proxy " up " {"; print ENVIRON["TRANSPORT"]; print "\t}"; next }
          { print }'
        echo "$BOUNCE_END"
      } >"$TMP"
      grep -q "^	reverse_proxy $2 {" "$TMP" || die "no reverse_proxy line in the internal listener of $CADDYFILE"
      ;;
    *) usage ;;
  esac
  rm -f "$TMP.base" "$TMP.closed"
  if [ "$1" = bounce ]; then
    if [ "${3:-}" = armed ] && ! go_line; then
      out bounced 0
      return
    fi
    trust_commit
  fi
  if cmp -s "$TMP" "$CADDYFILE"; then
    out changed 0
  else
    install "$TMP"
    out changed 1
  fi
  if [ "$restored" = 1 ]; then
    rm -f "$SAVED"
    out public local
  fi
  # The runner reads gate=open once the listener is open, whichever way it opened.
  out gate "$([ "$1" = serve ] && echo open || echo "$1")"
  print_cert
}

# An armed bounce's go: the line `go` on standard input; anything else, or its end, is no go.
go_line() {
  local line=""
  read -r line || true
  [ "$line" = go ]
}

# The internal listener's certificate, as `gate` and `cert` print it.
print_cert() {
  [ -s "$PROXY_TLS_DIR_HOST/server.crt" ] || die "no certificate for the internal listener in $PROXY_TLS_DIR_HOST (the config sync makes it)"
  out tls_cert "$(base64 -w0 "$PROXY_TLS_DIR_HOST/server.crt")"
}

# The internal listener's site block, each line marked (the gate closed), from the file named; as it is when closed.
close_internal() {
  if grep -q "^${GATE_MARK}https\?://:" "$1" && ! grep -q '^https\?://:[0-9]* {$' "$1"; then
    cat "$1" # already closed
  else
    awk -v mark="$GATE_MARK" '/^https?:\/\/:[0-9]+ \{$/ { inside = 1 } inside { print mark $0; if ($0 == "}") inside = 0; next } { print }' "$1" >"$1.closed"
    grep -q "^${GATE_MARK}https\?://:" "$1.closed" || die "no internal listener (https://:<port> block) in $CADDYFILE"
    cat "$1.closed"
    rm -f "$1.closed"
  fi
}

main() {
  local action="${1:-}"
  shift || true
  case "$action" in
    trust) trust ;;
    hold) hold "$@" ;;
    local) back_local "$@" ;;
    gate) gate "$@" ;;
    cert) print_cert ;;
    *) usage ;;
  esac
}

main "$@"
