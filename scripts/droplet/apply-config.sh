#!/usr/bin/env bash
# Applies the config that `pulumi up` staged in $CONFIG_DIR/.incoming onto a running app droplet, in place:
# mounts the data volume (refusing to go on without it: volume-guard.sh), installs the files that changed, and
# restarts only the containers they affect.
# Idempotent: running it twice with the same files changes nothing and restarts nothing.
#
# Environment: CONFIG_DIR (default /etc/chatbot), DATA_DIR (default /var/lib/chatbot), VOLUME_DEVICE (required),
# ROOT_DIR (default /: where staged `root/<path>` files go, e.g. systemd units and the day-2 scripts).
set -euo pipefail

CONFIG_DIR=${CONFIG_DIR:-/etc/chatbot}
ROOT_DIR=${ROOT_DIR:-}
DATA_DIR=${DATA_DIR:-/var/lib/chatbot}
: "${VOLUME_DEVICE:?VOLUME_DEVICE is not set}"
INCOMING="$CONFIG_DIR/.incoming"

log() { printf '[apply-config] %s\n' "$*"; }

# First boot: packages and kernel settings come from cloud-init; wait for it to finish.
if command -v cloud-init >/dev/null 2>&1; then
  cloud-init status --wait >/dev/null || log "cloud-init reported a problem; continuing"
fi

# The volume is attached after the droplet boots: wait for its device, then mount it (fstab has the entry).
for _ in $(seq 1 60); do
  [ -e "$VOLUME_DEVICE" ] && break
  sleep 2
done
[ -e "$VOLUME_DEVICE" ] || { log "volume device $VOLUME_DEVICE did not appear"; exit 1; }
mountpoint -q "$DATA_DIR" || mount "$DATA_DIR"
# The guard, staged with the config (installed at the same path under $ROOT_DIR): the volume must be mounted and
# carry its marker; a fresh volume gets the marker here. The data directories are made on the marked volume only.
GUARD=usr/local/lib/chatbot/volume-guard.sh
DATA_DIR="$DATA_DIR" bash "$INCOMING/root/$GUARD" init
install -d -m 0700 "$DATA_DIR/postgres"
install -d -m 0750 "$DATA_DIR/redis" "$DATA_DIR/caddy" "$DATA_DIR/log"
# pg_dump runs as the container's postgres user (uid 999) and writes to /backups.
install -d -m 0750 -o 999 -g 999 "$DATA_DIR/backups"
[ -s "$CONFIG_DIR/.env" ] || /usr/local/sbin/chatbot-private-ip

# Install changed files; remember which services they belong to.
declare -A restart=()
changed=0
units_changed=0
timers=()
while IFS= read -r -d '' staged; do
  rel=${staged#"$INCOMING"/}
  case "$rel" in
    root/*) target="$ROOT_DIR/${rel#root/}" ;;
    *) target="$CONFIG_DIR/$rel" ;;
  esac
  case "$rel" in root/etc/systemd/system/*.timer) timers+=("$(basename "$rel")") ;; esac
  if [ -f "$target" ] && cmp -s "$staged" "$target"; then
    continue
  fi
  if [ -f "$target" ]; then
    # In place (same inode): containers see single-file bind mounts by inode, a new file would stay invisible.
    cat "$staged" > "$target"
    chmod "$(stat -c '%a' "$staged")" "$target"
  else
    install -D -m "$(stat -c '%a' "$staged")" "$staged" "$target"
  fi
  changed=$((changed + 1))
  log "updated $rel"
  case "$rel" in
    postgresql.conf | pg_hba.conf) restart[postgres]=1 ;;
    redis.conf | redis-auth.conf) restart[redis]=1 ;;
    Caddyfile) restart[proxy]=1 ;;
    root/etc/systemd/system/*) units_changed=1 ;;
  esac
done < <(find "$INCOMING" -type f -print0)
rm -rf "$INCOMING"
# Redis reads its password include as the image's redis user (uid 999), not as root: a root-owned 0600 file would
# stop it from starting. app.env stays root-only (docker compose reads it on the host).
[ ! -f "$CONFIG_DIR/redis-auth.conf" ] || chown 999:999 "$CONFIG_DIR/redis-auth.conf"

# The private services' TLS certificates: made here, on the droplet, the first time (never in the stack or the user
# data), kept on the data volume, owned by the uid each server runs as in its container (999 for PostgreSQL and
# Redis, root for Caddy). A new one (the first, or one close to expiry) restarts its service (Caddy: a reload) and
# the services named after it. tls-cert.sh says more.
tls_cert() {
  local name="$1" owner="$2" state service
  shift 2
  state=$(bash "$CONFIG_DIR/bin/tls-cert.sh" "$DATA_DIR/tls/$name" "$owner" "$name")
  [ "$state" != tls_cert=kept ] || return 0
  log "TLS certificate for $name: ${state#tls_cert=}"
  for service in "$name" "$@"; do restart[$service]=1; done
}
tls_cert postgres 999:999
# The app mounts Redis's certificate (REDIS_URL's ssl_ca_certs): a new file is seen once its container starts again.
tls_cert redis 999:999 app
# The proxy's internal listener (the other droplet's Caddy forwards to it during a migration, over TLS).
tls_cert proxy 0:0

# Day-2 jobs: systemd timers delivered with the config.
if [ "$units_changed" = 1 ]; then
  systemctl daemon-reload
  systemctl enable --now "${timers[@]}"
  log "timers enabled: ${timers[*]}"
fi

# Again right before the containers start. dockerd itself refuses to start without the volume (its drop-in,
# infra/render/volume-guard.ts):
# if it did not start at boot for that reason, start it now that the volume is there.
DATA_DIR="$DATA_DIR" bash "$ROOT_DIR/$GUARD" check
if ! docker info >/dev/null 2>&1; then
  systemctl reset-failed docker.socket docker.service >/dev/null 2>&1 || true
  systemctl start docker.service
fi

compose=(docker compose --project-directory "$CONFIG_DIR" -f "$CONFIG_DIR/compose.yaml")
# Recreates the containers whose definition (image, environment, limits) changed; leaves the others running.
"${compose[@]}" up -d --remove-orphans --wait --wait-timeout 300
for service in "${!restart[@]}"; do
  if [ "$service" = proxy ]; then
    "${compose[@]}" exec -T proxy caddy reload --config /etc/caddy/Caddyfile
  else
    "${compose[@]}" restart "$service"
  fi
done
[ "${#restart[@]}" -eq 0 ] || "${compose[@]}" up -d --wait --wait-timeout 300
restarted="${!restart[*]}"
log "applied: $changed file(s) changed, restarted: ${restarted:-none}"
