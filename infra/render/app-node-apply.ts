import { INTERNAL_TLS_NAME } from "./caddyfile";
import { LAYOUT } from "./layout";

/**
 * apply-app-node.sh: installs the config that `pulumi up` staged in /etc/chatbot/.incoming on an app droplet of the
 * scale-out tier, in place. When the app container must be recreated (compose.yaml or app.env changed), the droplet
 * drains first: the drain flag makes Caddy fail the load balancer's health check, the script waits DRAIN_SECONDS
 * (the check's interval times its unhealthy threshold, plus a margin) so the load balancer has stopped sending new
 * requests, recreates the app, waits until it answers the health path, and lifts the flag. A Caddyfile change alone
 * is a graceful `caddy reload`. The stack syncs droplets one after another, so at most one is out of the pool.
 *
 * Kept as text here (and checked by shellcheck in tests/artifacts/scale-out-artifacts.test.ts) because it is one of
 * the rendered files: its hash is part of the config sync's trigger.
 */
export function renderAppNodeApplyScript(): string {
  return `#!/usr/bin/env bash
# Rendered by infra/render/app-node-apply.ts. Applies staged config on a scale-out app droplet (see that file).
# Environment: CONFIG_DIR (default /etc/chatbot), DRAIN_SECONDS (default 12), HEALTH_PATH (default /health),
# PROXY_TLS_DIR (where the internal listener's certificate is kept, default ${LAYOUT.proxyTls}, the directory
# compose.yaml mounts at /etc/caddy/tls: the tests point it elsewhere, as apply-config.sh's DATA_DIR).
set -euo pipefail

CONFIG_DIR=\${CONFIG_DIR:-/etc/chatbot}
DRAIN_SECONDS=\${DRAIN_SECONDS:-12}
HEALTH_PATH=\${HEALTH_PATH:-/health}
PROXY_TLS_DIR=\${PROXY_TLS_DIR:-${LAYOUT.proxyTls}}
INCOMING="$CONFIG_DIR/.incoming"
FLAG="$CONFIG_DIR/state/draining"

log() { printf '[apply-app-node] %s\\n' "$*"; }

if command -v cloud-init >/dev/null 2>&1; then
  cloud-init status --wait >/dev/null || log "cloud-init reported a problem; continuing"
fi
install -d -m 0755 "$CONFIG_DIR/state"

recreate=0
reload_proxy=0
changed=0
while IFS= read -r -d '' staged; do
  rel=\${staged#"$INCOMING"/}
  target="$CONFIG_DIR/$rel"
  if [ -f "$target" ] && cmp -s "$staged" "$target"; then
    continue
  fi
  if [ -f "$target" ]; then
    # Same inode: a single-file bind mount keeps showing the container the old inode otherwise.
    cat "$staged" > "$target"
    chmod "$(stat -c '%a' "$staged")" "$target"
  else
    install -D -m "$(stat -c '%a' "$staged")" "$staged" "$target"
  fi
  changed=$((changed + 1))
  log "updated $rel"
  case "$rel" in
    compose.yaml | app.env) recreate=1 ;;
    Caddyfile) reload_proxy=1 ;;
  esac
done < <(find "$INCOMING" -type f -print0)
rm -rf "$INCOMING"

# The internal listener's certificate (bin/tls-cert.sh): made here the first time, never in the stack; Caddy
# (root in its container) reads it at a reload.
cert=$(bash "$CONFIG_DIR/bin/tls-cert.sh" "$PROXY_TLS_DIR" 0:0 ${INTERNAL_TLS_NAME})
[ "$cert" = tls_cert=kept ] || { log "TLS certificate for the proxy: \${cert#tls_cert=}"; reload_proxy=1; }

compose=(docker compose --project-directory "$CONFIG_DIR" -f "$CONFIG_DIR/compose.yaml")
running=$("\${compose[@]}" ps -q --status running app 2>/dev/null || true)

app_port=$(sed -n 's/^APP_PORT=//p' "$CONFIG_DIR/app.env")
[ -n "$app_port" ] || { log "APP_PORT is not set in $CONFIG_DIR/app.env"; exit 1; }
# Ask the app itself, from the proxy container (the public health path answers 503 while draining).
healthy() { "\${compose[@]}" exec -T proxy wget -q -T 3 -O /dev/null "http://app:$app_port$HEALTH_PATH" >/dev/null 2>&1; }

if [ "$recreate" = 1 ] && [ -n "$running" ]; then
  touch "$FLAG"
  log "draining for \${DRAIN_SECONDS}s before recreating the app"
  sleep "$DRAIN_SECONDS"
fi
"\${compose[@]}" up -d --remove-orphans --wait --wait-timeout 300
if [ "$reload_proxy" = 1 ] && [ "$recreate" = 0 ]; then
  "\${compose[@]}" exec -T proxy caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile
fi
ok=0
for _ in $(seq 1 150); do
  if healthy; then ok=1 && break; fi
  sleep 2
done
# Left in place when the app is unhealthy: the load balancer keeps this droplet out of the pool.
[ "$ok" = 1 ] || { log "the app does not answer $HEALTH_PATH after the update; the droplet stays drained"; exit 1; }
rm -f "$FLAG"
log "applied: $changed file(s) changed, app recreated: $recreate, proxy reloaded: $reload_proxy"
`;
}
