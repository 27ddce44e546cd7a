/**
 * app.env: the one file on the droplet that holds secrets (mode 0600). PostgreSQL's image reads POSTGRES_PASSWORD
 * from it on first start; the initdb script creates the app and replication roles from APP_DB_PASSWORD and
 * REPLICATION_PASSWORD; the app reads DATABASE_URL and REDIS_URL (both over TLS). Compose and the droplet scripts read the values
 * unquoted, so a password must keep to the characters of infra/config.ts's password rule.
 */
import { assertPasswordCharacters } from "../config";

export interface AppSecrets {
  postgresPassword: string;
  appDbPassword: string;
  replicationPassword: string;
  redisPassword: string;
}

export function renderAppEnv(s: AppSecrets, appPort: number): string {
  for (const [name, password] of Object.entries(s)) assertPasswordCharacters(name, password);
  return [
    "# Rendered by infra/render/app-env.ts. Secret: mode 0600.",
    `POSTGRES_PASSWORD=${s.postgresPassword}`,
    `APP_DB_PASSWORD=${s.appDbPassword}`,
    `REPLICATION_PASSWORD=${s.replicationPassword}`,
    `REDIS_PASSWORD=${s.redisPassword}`,
    // TLS required: pg_hba.conf refuses clear-text TCP. `require` encrypts without checking the certificate (libpq:
    // postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-SSLMODE-STATEMENTS), which every libpq-style client reads.
    `DATABASE_URL=postgresql://chatbot:${encodeURIComponent(s.appDbPassword)}@postgres:5432/chatbot?sslmode=require`,
    `REDIS_URL=redis://:${encodeURIComponent(s.redisPassword)}@redis:6379/0`,
    `APP_PORT=${appPort}`,
    "",
  ].join("\n");
}
