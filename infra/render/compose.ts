/**
 * compose.yaml for the four containers. Memory limits come from the tier's split (infra/tuning.ts); ports for
 * PostgreSQL and Redis are published on the droplet's private (VPC) address only, read at boot into
 * /etc/chatbot/.env as CHATBOT_PRIVATE_IP, so this file does not depend on any droplet output.
 */
import { stringify } from "yaml";
import type { Tuning } from "../tuning";
import { INTERNAL_PORT, INTERNAL_TLS_DIR, PROXY_SYSCTLS } from "./caddyfile";
import { IMAGES, LAYOUT } from "./layout";
import { APP_REDIS_CA } from "./app-env";
import { POSTGRES_TLS_DIR } from "./postgresql-conf";
import { REDIS_AUTH_INCLUDE, REDIS_TLS_DIR } from "./redis-conf";

export interface ComposeInput {
  appImage: string;
  appPort: number;
  healthPath: string;
  /** Extra NAME=value entries for the app (non-secret). */
  appEnv: string[];
  tuning: Tuning;
}

const mb = (mib: number) => `${mib}m`;

/**
 * A value as written in a compose file: Compose interpolates `$` everywhere in the file (`$X`, `${X:?message}`), and
 * `$$` is a literal `$`. Without this, `a${X:?boom}b` fails on the droplet and `it$sme` arrives as `it`.
 */
export function composeLiteral(value: string): string {
  return value.replaceAll("$", () => "$$");
}

/** An environment map as written in a compose file (values taken literally). */
export function composeEnvironment(environment: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(environment).map(([k, v]) => [k, composeLiteral(v)]));
}

/** The app container's environment: what the stack sets from tuning, then the user's NAME=value entries. */
export function appEnvironment(input: {
  appPort: number;
  workers: number;
  dbPoolSize: number;
  dbMaxOverflow: number;
  healthPath: string;
  appEnv: string[];
}): Record<string, string> {
  const environment: Record<string, string> = {
    PORT: String(input.appPort),
    WEB_CONCURRENCY: String(input.workers),
    DB_POOL_SIZE: String(input.dbPoolSize),
    DB_MAX_OVERFLOW: String(input.dbMaxOverflow),
    HEALTH_PATH: input.healthPath,
  };
  for (const entry of input.appEnv) {
    const at = entry.indexOf("=");
    environment[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return environment;
}

export function renderCompose(input: ComposeInput): string {
  const { tuning: t } = input;
  const logging = { driver: "json-file", options: { "max-size": "10m", "max-file": "5" } };
  const doc = {
    services: {
      postgres: {
        image: IMAGES.postgres,
        command: ["postgres", "-c", "config_file=/etc/postgresql/postgresql.conf"],
        env_file: ["app.env"],
        environment: { PGDATA: "/var/lib/postgresql/data" },
        volumes: [
          `${LAYOUT.postgresData}:/var/lib/postgresql/data`,
          `${LAYOUT.backups}:/backups`,
          "./postgresql.conf:/etc/postgresql/postgresql.conf:ro",
          "./pg_hba.conf:/etc/postgresql/pg_hba.conf:ro",
          `${LAYOUT.postgresTls}:${POSTGRES_TLS_DIR}:ro`,
          "./initdb:/docker-entrypoint-initdb.d:ro",
        ],
        ports: ["${CHATBOT_PRIVATE_IP:?run cloud-init first}:5432:5432"],
        mem_limit: mb(t.memory.postgresMiB),
        shm_size: mb(t.postgresShmMiB),
        stop_signal: "SIGINT",
        stop_grace_period: `${t.stopGraceSeconds.postgres}s`,
        healthcheck: { test: ["CMD", "pg_isready", "-U", "postgres"], interval: "5s", timeout: "3s", retries: 10 },
        restart: "unless-stopped",
        logging,
      },
      redis: {
        image: IMAGES.redis,
        command: ["redis-server", "/usr/local/etc/redis/redis.conf"],
        volumes: [
          `${LAYOUT.redisData}:/data`,
          "./redis.conf:/usr/local/etc/redis/redis.conf:ro",
          `./redis-auth.conf:${REDIS_AUTH_INCLUDE}:ro`,
          `${LAYOUT.redisTls}:${REDIS_TLS_DIR}:ro`,
        ],
        ports: ["${CHATBOT_PRIVATE_IP:?run cloud-init first}:6379:6379"],
        mem_limit: mb(t.memory.redisMiB),
        stop_grace_period: `${t.stopGraceSeconds.redis}s`,
        // The password goes through REDISCLI_AUTH, not `-a`: a command line shows in `ps` on the droplet. TLS only
        // (the clear-text port is closed), checked against the server's own certificate.
        healthcheck: {
          test: [
            "CMD-SHELL",
            `REDISCLI_AUTH="$$(sed -n 's/^requirepass //p' ${REDIS_AUTH_INCLUDE})" redis-cli --tls --cacert ${REDIS_TLS_DIR}/server.crt ping | grep -q PONG`,
          ],
          interval: "5s",
          timeout: "3s",
          retries: 10,
        },
        restart: "unless-stopped",
        logging,
      },
      app: {
        image: input.appImage,
        env_file: ["app.env"],
        environment: composeEnvironment(appEnvironment({ ...input, ...t.app })),
        expose: [String(input.appPort)],
        // The Redis certificate only (never the directory: the key is beside it), for REDIS_URL's ssl_ca_certs.
        volumes: [`${LAYOUT.redisTls}/server.crt:${APP_REDIS_CA}:ro`],
        depends_on: { postgres: { condition: "service_healthy" }, redis: { condition: "service_healthy" } },
        mem_limit: mb(t.memory.appMiB),
        stop_grace_period: `${t.stopGraceSeconds.app}s`,
        restart: "unless-stopped",
        logging,
      },
      proxy: {
        image: IMAGES.proxy,
        ports: [
          "80:80",
          "443:443",
          "443:443/udp",
          `\${CHATBOT_PRIVATE_IP:?run cloud-init first}:${INTERNAL_PORT}:${INTERNAL_PORT}`,
        ],
        // The internal listener's certificate, and the other droplet's that a migration's hold trusts (written here).
        volumes: [
          "./Caddyfile:/etc/caddy/Caddyfile:ro",
          `${LAYOUT.caddyData}:/data`,
          `${LAYOUT.proxyTls}:${INTERNAL_TLS_DIR}:ro`,
        ],
        depends_on: ["app"],
        sysctls: { ...PROXY_SYSCTLS },
        mem_limit: mb(t.memory.proxyMiB),
        stop_grace_period: `${t.stopGraceSeconds.proxy}s`,
        restart: "unless-stopped",
        logging,
      },
    },
  };
  return (
    "# Rendered by infra/render/compose.ts. Do not edit on the droplet: `pulumi up` overwrites it.\n" +
    stringify(doc, { lineWidth: 0 })
  );
}
