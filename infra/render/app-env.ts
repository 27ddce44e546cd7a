/**
 * app.env: the one file on the droplet that holds secrets (mode 0600). PostgreSQL's image reads POSTGRES_PASSWORD
 * from it on first start; the initdb script creates the app and replication roles from APP_DB_PASSWORD and
 * REPLICATION_PASSWORD; the app reads DATABASE_URL and REDIS_URL (both over TLS). Compose and the droplet scripts read the values
 * unquoted, so a password must keep to the characters of infra/config.ts's password rule.
 */
import { assertPasswordCharacters } from "../config";
import { REDIS_PORT } from "./redis-conf";

export interface AppSecrets {
  postgresPassword: string;
  appDbPassword: string;
  replicationPassword: string;
  redisPassword: string;
}

/** Where the app container finds the droplet's Redis certificate (a read-only mount of LAYOUT.redisTls/server.crt). */
export const APP_REDIS_CA = "/etc/chatbot-tls/redis.crt";

/**
 * The app's PostgreSQL URL. TLS required: pg_hba.conf refuses clear-text TCP, and `require` makes the client refuse
 * a server that would not encrypt. It does not check the certificate (libpq: postgresql.org/docs/15/libpq-ssl.html,
 * table "SSL Mode Descriptions"); the hop is the droplet's own Docker network. Every libpq-style client reads it.
 */
export function databaseUrl(c: { user: string; password: string; host: string; port: number; db: string }): string {
  return `postgresql://${c.user}:${encodeURIComponent(c.password)}@${c.host}:${c.port}/${c.db}?sslmode=require`;
}

/**
 * The app's Redis URL: `rediss://` (TLS), checked against the droplet's own certificate (`ssl_ca_certs`; redis-py
 * passes unknown query arguments to its connection, and `rediss` defaults to `ssl_cert_reqs=required`). The
 * certificate names `redis`, so a client that also checks the host name accepts it.
 */
export function redisUrl(c: { password: string; host: string; port: number; caFile: string }): string {
  return `rediss://:${encodeURIComponent(c.password)}@${c.host}:${c.port}/0?ssl_ca_certs=${encodeURIComponent(c.caFile)}`;
}

export function renderAppEnv(s: AppSecrets, appPort: number): string {
  for (const [name, password] of Object.entries(s)) assertPasswordCharacters(name, password);
  return [
    "# Rendered by infra/render/app-env.ts. Secret: mode 0600.",
    `POSTGRES_PASSWORD=${s.postgresPassword}`,
    `APP_DB_PASSWORD=${s.appDbPassword}`,
    `REPLICATION_PASSWORD=${s.replicationPassword}`,
    `REDIS_PASSWORD=${s.redisPassword}`,
    `DATABASE_URL=${databaseUrl({ user: "chatbot", password: s.appDbPassword, host: "postgres", port: 5432, db: "chatbot" })}`,
    `REDIS_URL=${redisUrl({ password: s.redisPassword, host: "redis", port: REDIS_PORT, caFile: APP_REDIS_CA })}`,
    `APP_PORT=${appPort}`,
    "",
  ].join("\n");
}
