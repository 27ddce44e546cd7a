#!/usr/bin/env bash
# The droplet's own TLS certificate for one private service (PostgreSQL or Redis), made ON the droplet and kept on
# the data volume: the private key is generated here and never leaves the machine (not in the stack, its state or
# the user data). Run by the config sync (apply-config.sh) on every `pulumi up`, before the containers start.
#
#   tls-cert.sh <dir> <owner uid:gid> <name>
#
# Makes <dir>/server.key (mode 0600) and <dir>/server.crt (0644), a self-signed certificate (it is its own CA) for
# CN=chatbot-<name> with the names clients on the droplet use (<name>, localhost, 127.0.0.1), valid ten years.
# Idempotent: a key and certificate that match and stay valid for 30 more days are kept (only owner and modes are
# put right); otherwise a new pair replaces them (written beside, then renamed). Prints `tls_cert=kept` or
# `tls_cert=created`: the caller restarts the service after `created`.
# The owner is the uid the server runs as in its container (999 for postgres and redis in the Debian-based
# images): PostgreSQL refuses a key file that is not owned by it (or root) or that others can read.
set -euo pipefail

dir="${1:?usage: tls-cert.sh <dir> <owner uid:gid> <name>}"
owner="${2:?usage: tls-cert.sh <dir> <owner uid:gid> <name>}"
name="${3:?usage: tls-cert.sh <dir> <owner uid:gid> <name>}"
[[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "tls-cert.sh: name '$name' may only hold a-z, 0-9 and -" >&2; exit 2; }
key="$dir/server.key"
crt="$dir/server.crt"

valid() {
  [ -s "$key" ] && [ -s "$crt" ] &&
    openssl x509 -in "$crt" -noout -checkend $((30 * 86400)) >/dev/null 2>&1 &&
    [ "$(openssl x509 -in "$crt" -noout -pubkey 2>/dev/null)" = "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ]
}

install -d -m 0750 "$dir"
if valid; then
  state=kept
else
  umask 077
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -subj "/CN=chatbot-$name" \
    -addext "subjectAltName=DNS:$name,DNS:localhost,IP:127.0.0.1" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,digitalSignature,keyCertSign" \
    -addext "extendedKeyUsage=serverAuth,clientAuth" \
    -keyout "$key.new" -out "$crt.new" 2>/dev/null
  mv -f "$key.new" "$key"
  mv -f "$crt.new" "$crt"
  state=created
fi
chown "$owner" "$dir" "$key" "$crt"
chmod 0600 "$key"
chmod 0644 "$crt"
printf 'tls_cert=%s\n' "$state"
