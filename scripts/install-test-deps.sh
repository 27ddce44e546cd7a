#!/usr/bin/env bash
# Installs the Debian packages the tests need: the real consumers of every rendered artifact and the real servers
# the migration, backup and capacity tests run (PostgreSQL 15, Redis 7, OpenSSH), and openssl (the droplet's
# certificate script, scripts/droplet/tls-cert.sh), nftables (the fault sweep's network cut between the droplets),
# strace (counts the reads of a script sent to bash).
# Run as root (or with sudo).
set -euo pipefail

packages=(
  cloud-init docker-compose caddy shellcheck
  postgresql-15 postgresql-client-15
  redis-server redis-tools
  openssh-server openssh-client
  python3-fastapi python3-uvicorn python3-psycopg2 python3-redis
  rsync procps curl iproute2 nftables strace ca-certificates openssl systemd
)

as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
# The packages' own servers are not used: tests start their own on loopback addresses.
for service in postgresql redis-server ssh; do
  "${as_root[@]}" service "$service" stop >/dev/null 2>&1 || true
done
echo "test dependencies installed: ${packages[*]}"
