/**
 * Where things live on an app droplet. One place, shared by the renderers, the config sync and the droplet scripts'
 * callers. The block volume holds everything that must survive a droplet replacement.
 */
export const LAYOUT = {
  /** Mount point of the block-storage volume. */
  dataDir: "/var/lib/chatbot",
  postgresData: "/var/lib/chatbot/postgres",
  redisData: "/var/lib/chatbot/redis",
  caddyData: "/var/lib/chatbot/caddy",
  backups: "/var/lib/chatbot/backups",
  /** The droplet's own TLS certificates for its private services, made on the droplet (scripts/droplet/tls-cert.sh). */
  postgresTls: "/var/lib/chatbot/tls/postgres",
  redisTls: "/var/lib/chatbot/tls/redis",
  /** The proxy's: its internal listener serves it to the stack's other droplets (their Caddy pins it during a move). */
  proxyTls: "/var/lib/chatbot/tls/proxy",
  /** Rendered config, synced by `pulumi up`. */
  configDir: "/etc/chatbot",
  composeProject: "chatbot",
} as const;

/** The device a DigitalOcean volume appears as once attached (the `scsi-0DO_Volume_<name>` by-id link). */
export function volumeDevice(volumeName: string): string {
  return `/dev/disk/by-id/scsi-0DO_Volume_${volumeName}`;
}

export const IMAGES = {
  postgres: "postgres:15-bookworm",
  redis: "redis:7.2-bookworm",
  proxy: "caddy:2.8",
} as const;
