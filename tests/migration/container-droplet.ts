/**
 * The droplet scripts on the harness's loopback droplets: the same real PostgreSQL and Redis,
 * but the droplet scripts reach them through `docker compose` as on a real droplet, with the docker shim
 * (tests/support/docker-shim/docker) first on PATH mapping each compose call onto the host processes.
 *
 * What it proves and what it cannot: see the shim's header and docs/verified.md.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import type { Droplet } from "../../infra/migration/commands";
import { renderCompose } from "../../infra/render/compose";
import { tune } from "../../infra/tuning";
import { makeTempDir, osUser, PG_BINDIR, type PgServer, type RedisServer, run } from "../support/processes";

export const SHIM_DIR = path.resolve(__dirname, "../support/docker-shim");
export const SHIM = path.join(SHIM_DIR, "docker");

/** The host side of one droplet's containers. */
export interface ContainerSide {
  pg: PgServer;
  redis: RedisServer;
  /** The droplet's /var/lib/chatbot/backups. */
  backupDir: string;
  /** The droplet's /etc/chatbot/app.env stand-in (secrets). */
  envFile: string;
  /** The droplet's /etc/chatbot stand-in (CONFIG_DIR): holds the Caddyfile; compose.yaml is rendered beside it. */
  configDir: string;
  /** The droplet Caddy's Caddyfile: the proxy container's /etc/caddy/Caddyfile (compose's ./Caddyfile bind mount). */
  caddyfile: string;
  /** host:port of the droplet Caddy's admin API: the proxy container's localhost:2019. */
  admin: string;
  /** The droplet's /var/lib/chatbot/tls/proxy: the proxy container's /etc/caddy/tls. */
  proxyTlsDir?: string;
  /** The droplet's PostgreSQL certificate directory (server.crt, and the peer's certificate the steps write). */
  pgTlsDir?: string;
}

export interface ContainerDroplet {
  /** The droplet as the migration runner sees it: the shim first on PATH. */
  droplet: Droplet;
  /** Environment for running a droplet script on it directly (what `droplet.env` holds). */
  env: Record<string, string>;
  /** Every docker argv the scripts produced, one shell-quoted line each (shim `%q` format). */
  calls(): string[];
  /** The rendered compose.yaml the scripts are pointed at, in the side's configDir; removed by cleanup(). */
  composeFile: string;
  /** Directory holding the call log and scratch containers; removed by cleanup(). */
  dir: string;
  cleanup(): void;
}

/** The real compose file, rendered for the 4gb tier (the scripts read service names from it; the shim checks them). */
export function renderComposeFile(dir: string): string {
  const file = path.join(dir, "compose.yaml");
  fs.writeFileSync(
    file,
    renderCompose({
      appImage: "ghcr.io/example/chatbot:test",
      appPort: 8000,
      healthPath: "/health",
      appEnv: [],
      tuning: tune("4gb", { dbPoolSize: 5, dbMaxOverflow: 5 }),
    }),
  );
  return file;
}

/**
 * Environment that maps the `postgres` service onto a host PostgreSQL (all non-secret): the shim first on PATH, the
 * server's directories and port, /backups, the scratch containers' directory and the call log under `dir`.
 */
export function postgresShimEnv(pg: PgServer, backupDir: string, dir: string): Record<string, string> {
  return {
    PATH: `${SHIM_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    SHIM_PG_BINDIR: PG_BINDIR,
    SHIM_PGDATA: pg.dataDir,
    SHIM_PG_SOCKET_DIR: pg.socketDir,
    SHIM_PGPORT: String(pg.port),
    SHIM_PG_CTL_OPTS: pg.ctlOptions,
    SHIM_PG_LOG: pg.logFile,
    SHIM_BACKUPS: backupDir,
    SHIM_LOG: path.join(dir, "docker-calls.log"),
    SHIM_STATE_DIR: path.join(dir, "state"),
  };
}

/** Environment that maps the `proxy` service onto a host Caddy: its Caddyfile, admin address and certificates. */
export function proxyShimEnv(side: Pick<ContainerSide, "caddyfile" | "admin" | "proxyTlsDir">): Record<string, string> {
  return {
    PATH: `${SHIM_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    SHIM_CADDYFILE: side.caddyfile,
    SHIM_CADDY_ADMIN: side.admin,
    ...(side.proxyTlsDir ? { SHIM_PROXY_TLS_DIR: side.proxyTlsDir } : {}),
  };
}

/**
 * A droplet's Caddy reloads its Caddyfile as its proxy container reads it: the certificate paths the file names
 * under /etc/caddy/tls are the droplet's directory (the compose mount; the shim's reload rewrites them the same way).
 * `scratch` holds the rewritten copy.
 */
export async function reloadAsMounted(
  side: { caddyfile: string; admin: string; proxyTlsDir: string },
  scratch: string,
  extra: readonly string[] = [],
): Promise<void> {
  const mounted = path.join(scratch, "Caddyfile.reload");
  const text = fs.readFileSync(side.caddyfile, "utf8").replaceAll("/etc/caddy/tls/", `${side.proxyTlsDir}/`);
  fs.writeFileSync(mounted, text);
  await run("caddy", ["reload", "--config", mounted, "--adapter", "caddyfile", "--address", side.admin, ...extra]);
}

/** Environment that maps a droplet's containers onto its host processes (all non-secret). */
export function shimEnv(side: ContainerSide, dir: string): Record<string, string> {
  return {
    ...postgresShimEnv(side.pg, side.backupDir, dir),
    SHIM_REDIS_HOST: side.redis.host,
    SHIM_REDIS_PORT: String(side.redis.port),
    ...(side.redis.tls ? { SHIM_REDIS_TLS_DIR: path.dirname(side.redis.tls.caFile) } : {}),
    ...proxyShimEnv(side),
  };
}

/** Put a harness droplet into container mode. `name` labels its temp dir. */
export function containerDroplet(name: string, side: ContainerSide, base: Droplet): ContainerDroplet {
  const dir = makeTempDir(`container-${name}`, "postgres");
  // /etc/chatbot on a droplet: compose.yaml beside the Caddyfile its proxy service mounts (proxy-switch.sh's CONFIG_DIR).
  const composeFile = renderComposeFile(side.configDir);
  const shim = shimEnv(side, dir);
  fs.mkdirSync(shim.SHIM_STATE_DIR!);
  fs.writeFileSync(shim.SHIM_LOG!, "");
  const who = osUser("postgres");
  if (who) for (const p of [shim.SHIM_STATE_DIR!, shim.SHIM_LOG!, composeFile]) fs.chownSync(p, who.uid, who.gid);
  const env: Record<string, string> = {
    ...shim,
    CHATBOT_ENV_FILE: side.envFile,
    CHATBOT_COMPOSE_FILE: composeFile,
    CHATBOT_BACKUP_DIR: side.backupDir,
    CHATBOT_PGDATA_HOST: side.pg.dataDir,
    // The droplet's /var/lib/chatbot/tls/postgres (the postgres container's /etc/postgresql/tls).
    ...(side.pgTlsDir ? { CHATBOT_PG_TLS_DIR_HOST: side.pgTlsDir } : {}),
    // The droplet's /var/lib/chatbot/tls/redis (the redis container's /usr/local/etc/redis/tls).
    ...(side.redis.tls ? { CHATBOT_REDIS_TLS_DIR_HOST: path.dirname(side.redis.tls.caFile) } : {}),
    // The droplet's /var/lib/chatbot/tls/proxy (the proxy container's /etc/caddy/tls).
    ...(side.proxyTlsDir ? { CHATBOT_PROXY_TLS_DIR_HOST: side.proxyTlsDir } : {}),
    CONFIG_DIR: side.configDir,
    // The droplet's /var/lib/chatbot/migration (journal, lock, replica marker): the harness droplet's own.
    ...(base.env?.CHATBOT_MIGRATION_DIR ? { CHATBOT_MIGRATION_DIR: base.env.CHATBOT_MIGRATION_DIR } : {}),
  };
  return {
    droplet: { ...base, env },
    env,
    composeFile,
    dir,
    calls: () =>
      fs
        .readFileSync(shim.SHIM_LOG!, "utf8")
        .split("\n")
        .filter((l) => l !== ""),
    cleanup: () => {
      stopScratchContainers(shim.SHIM_STATE_DIR!);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(composeFile, { force: true });
    },
  };
}

/** A scratch server the restore drill left behind (it must not: the test asserts there is none) is stopped here. */
export function stopScratchContainers(stateDir: string): string[] {
  const root = path.join(stateDir, "containers");
  const left = fs.existsSync(root) ? fs.readdirSync(root) : [];
  const who = osUser("postgres");
  for (const name of left) {
    const data = path.join(root, name, "data");
    if (fs.existsSync(path.join(data, "postmaster.pid"))) {
      spawnSync(path.join(PG_BINDIR, "pg_ctl"), ["stop", "-w", "-t", "30", "-m", "immediate", "-D", data], {
        uid: who?.uid,
        gid: who?.gid,
        stdio: "ignore",
      });
    }
  }
  return left;
}
