#!/usr/bin/env bash
# Points this droplet's public proxy (Caddy) at another upstream and reloads it without dropping connections:
#   proxy-switch.sh <host:port>    forward the site to another droplet's internal listener (tier migration cutover)
#   proxy-switch.sh --local        back to this droplet's own app (rollback)
# The Caddyfile is rewritten in place (same inode): Docker's single-file bind mount would otherwise keep showing the
# container the old file.
set -euo pipefail

CONFIG_DIR=${CONFIG_DIR:-/etc/chatbot}
CADDYFILE="$CONFIG_DIR/Caddyfile"
target=${1:?usage: proxy-switch.sh <host:port> | --local}

app_port=$(sed -n 's/^APP_PORT=//p' "$CONFIG_DIR/app.env")
[ -n "$app_port" ] || { echo "APP_PORT is not set in $CONFIG_DIR/app.env" >&2; exit 1; }
[ "$target" = --local ] && target="app:$app_port"
case "$target" in
  *[!A-Za-z0-9.:_-]* | "") echo "upstream must be host:port, got '$target'" >&2; exit 2 ;;
esac

# Only the public site's upstream (the first reverse_proxy, with its health-check block) changes; the internal
# listener keeps serving the local app.
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
awk -v up="$target" '!done && /^\treverse_proxy [^ ]+ \{$/ { print "\treverse_proxy " up " {"; done = 1; next } { print }' "$CADDYFILE" > "$tmp"
grep -q "reverse_proxy $target {" "$tmp" || { echo "no public reverse_proxy block found in $CADDYFILE" >&2; exit 1; }
cat "$tmp" > "$CADDYFILE"
docker compose -p chatbot --project-directory "$CONFIG_DIR" -f "$CONFIG_DIR/compose.yaml" exec -T proxy \
  caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile
echo "upstream=$target"
