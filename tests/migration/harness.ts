/**
 * The migration harness: two "droplets" on loopback (127.0.0.2 = old, 127.0.0.3 = new), each with its own sshd,
 * PostgreSQL 15 (as postgres), Redis 7 (as redis), the app (tests/migration/app.py under uvicorn, as nobody) and
 * the real Caddy with the rendered Caddyfile (./front-door.ts); a front address standing in for the reserved IP; a
 * load generator that writes over HTTPS through it for the whole migration; and the read-back for the checker.
 * The cutover's traffic switch is production's: scripts/droplet/proxy-switch.sh over ssh, reloading the droplets'
 * Caddy; after the commit point the front address moves to the new droplet.
 *
 * The migration runs for real: infra/migration/runner.ts, over ssh, with the droplet scripts exactly as production
 * sends them. They reach PostgreSQL, Redis and Caddy through `docker compose`, which the docker shim
 * (./container-droplet.ts, first on PATH in the ssh command's environment) maps onto these host processes.
 *
 * Used by tests/migration/*.test.ts and tests/bench/bench-migration.ts (so it imports ../support/processes, which does
 * not depend on vitest).
 */
import { execFile, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { randomBytes } from "node:crypto";
import type { Droplet } from "../../infra/migration/commands";
import { type Journal, parseJournal } from "../../infra/migration/journal";
import { type Executor, type MigrationReport, type RunnerOptions, runMigration } from "../../infra/migration/runner";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { INTERNAL_TLS_NAME } from "../../infra/render/caddyfile";
import { databaseUrl, redisUrl } from "../../infra/render/app-env";
import { renderPgHba } from "../../infra/render/pg-hba";
import { postgresTlsSettings } from "../../infra/render/postgresql-conf";
import { renderRedisTls } from "../../infra/render/redis-conf";
import {
  type ManagedProcess,
  type PgServer,
  type RedisServer,
  type SshServer,
  freePort,
  makeTempDir,
  makeTlsCert,
  osUser,
  PG_BINDIR,
  run,
  sleep,
  startPostgres,
  startProcess,
  startRedis,
  startSshd,
  waitFor,
} from "../support/processes";
import { type CheckResult, type WriteRecord, checkWrites } from "./checker";
import { type ContainerDroplet, containerDroplet } from "./container-droplet";
import { type DropletCaddy, FrontAddress, type HttpResult, startCaddy } from "./front-door";

/**
 * The droplets' loopback addresses. Every droplet binds fixed ports on its address (Caddy 80/443/2019/8081, sshd),
 * so two harnesses on one machine need different addresses: HARNESS_NET=127.0.N (N from 1 to 254) moves this one
 * to 127.0.N.2 and 127.0.N.3 (a second checkout running its tests beside this one). Default 127.0.0.
 */
const HARNESS_NET = harnessNet(process.env.HARNESS_NET);
export const OLD_HOST = `${HARNESS_NET}.2`;
export const NEW_HOST = `${HARNESS_NET}.3`;

function harnessNet(value: string | undefined): string {
  if (value === undefined || value === "") return "127.0.0";
  if (!/^127\.0\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4])$/.test(value))
    throw new Error(`HARNESS_NET: "${value}" is not 127.0.N with N from 1 to 254`);
  return value;
}
const APP_DIR = __dirname;
const PYTHON = "/usr/bin/python3";
const SSH_USER = "postgres"; // Debian's python3, where python3-fastapi & co. are installed

export interface Secrets {
  POSTGRES_PASSWORD: string;
  REPLICATION_PASSWORD: string;
  REDIS_PASSWORD: string;
}

export interface HarnessDroplet {
  name: string;
  host: string;
  ssh: SshServer;
  pg: PgServer;
  redis: RedisServer;
  app: ManagedProcess;
  appPort: number;
  /** The droplet's Caddy (public site over HTTPS, internal listener on :8081), started from `configDir`/Caddyfile. */
  caddy: DropletCaddy;
  /** The droplet's /etc/chatbot stand-in: the Caddyfile proxy-switch.sh rewrites. */
  configDir: string;
  /** The droplet as the migration runner sees it: its environment maps the containers onto the host processes. */
  droplet: Droplet;
  /** The docker shim's side of it: the environment for running a script directly, the docker calls made. */
  container: ContainerDroplet;
  /**
   * The droplet's /var/lib/chatbot/tls/postgres (PostgreSQL's certificate, and the trusted peer's beside it),
   * /var/lib/chatbot/tls/redis (Redis's) and /var/lib/chatbot/tls/proxy (Caddy's).
   */
  pgTlsDir: string;
  redisTlsDir: string;
  proxyTlsDir: string;
  backupDir: string;
  /** CHATBOT_MIGRATION_DIR: journal (old), lock (both), replica marker (new). Created by the steps. */
  migrationDir: string;
  stop(): Promise<void>;
}

/** The droplet's pg_hba.conf as rendered (TLS only over TCP), for clients from the loopback range. */
const PG_HBA = renderPgHba({ clientCidrs: ["127.0.0.0/8"] });

const PG_CONF = ["max_connections = 100", "shared_buffers = 128MB", "max_wal_size = 1GB", ""].join("\n");

async function startDroplet(name: string, host: string, secrets: Secrets): Promise<HarnessDroplet> {
  // The steps log in as `postgres` (on a droplet: root, which then runs the tools as postgres). Root's shell
  // startup on this machine is slow (pyenv), and this keeps every file the steps touch owned by postgres.
  const dir = makeTempDir(`droplet-${name}`, SSH_USER);
  const envFile = path.join(dir, "app.env");
  fs.writeFileSync(
    envFile,
    Object.entries(secrets)
      .map(([k, v]) => `${k}=${v}\n`)
      .join(""),
    { mode: 0o600 },
  );
  const backupDir = path.join(dir, "backups");
  fs.mkdirSync(backupDir);
  const migrationDir = path.join(dir, "migration");
  const who = osUser(SSH_USER);
  if (who) for (const p of [envFile, backupDir]) fs.chownSync(p, who.uid, who.gid);
  const started: Array<{ stop(): Promise<void> }> = [];
  try {
    const ssh = await startSshd({ host, name: `${name}-sshd`, user: osUser(SSH_USER) ? SSH_USER : undefined });
    started.push(ssh);
    // The droplet's certificate, made by its own script (on a droplet: on the data volume, by the config sync).
    const pgTls = path.join(dir, "tls", "postgres");
    await makeTlsCert(pgTls, "postgres", "postgres");
    const pg = await startPostgres({
      host,
      name: `${name}-pg`,
      hba: PG_HBA,
      conf: PG_CONF,
      // Outside the data directory, as on a droplet (/etc/postgresql): a copy made by pg_basebackup keeps its own.
      serverSettings: postgresTlsSettings(pgTls),
      password: secrets.POSTGRES_PASSWORD,
    });
    started.push(pg);
    await pg.psql(
      [
        `CREATE ROLE replicator LOGIN REPLICATION PASSWORD '${secrets.REPLICATION_PASSWORD}';`,
        "CREATE DATABASE chatbot;",
      ].join("\n"),
    );
    await pg.psql(
      "CREATE TABLE writes (id text PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());",
      "chatbot",
    );
    // Redis's certificate, by the same script; the steps' user (root on a droplet) may add the other droplet's
    // certificate beside it (migrate.sh trust_redis_peer), the server's user reads it (group).
    const redisTls = path.join(dir, "tls", "redis");
    await makeTlsCert(redisTls, "redis", "redis");
    const redisUser = osUser("redis");
    if (who && redisUser) {
      fs.chownSync(redisTls, who.uid, redisUser.gid);
      fs.chmodSync(dir, 0o711); // redis and the app (nobody) reach their files below; nothing here is listed
    }
    const redisCa = path.join(redisTls, "server.crt");
    const redis = await startRedis({
      host,
      name: `${name}-redis`,
      conf: [
        `requirepass ${secrets.REDIS_PASSWORD}`,
        `masterauth ${secrets.REDIS_PASSWORD}`,
        ...renderRedisTls(redisTls),
        'save ""',
        "appendonly no",
        "repl-diskless-sync-delay 0",
        "",
      ].join("\n"),
      tls: { caFile: redisCa },
    });
    started.push(redis);
    const appPort = await freePort(host);
    // The app's copy of Redis's certificate (on a droplet: a read-only mount of that one file, infra/render/compose.ts).
    const appRedisCa = path.join(dir, "app-redis-ca.crt");
    fs.copyFileSync(redisCa, appRedisCa);
    fs.chmodSync(appRedisCa, 0o644);
    const app = await startProcess({
      name: `${name}-app`,
      cmd: PYTHON,
      args: [
        "-m",
        "uvicorn",
        "app:app",
        "--host",
        host,
        "--port",
        String(appPort),
        "--log-level",
        "warning",
        "--no-access-log",
      ],
      cwd: APP_DIR,
      user: "nobody",
      // The URLs as the droplet's app.env spells them (infra/render/app-env.ts), to this droplet's servers.
      env: {
        DATABASE_URL: databaseUrl({
          user: "postgres",
          password: secrets.POSTGRES_PASSWORD,
          host,
          port: pg.port,
          db: "chatbot",
        }),
        REDIS_URL: redisUrl({ password: secrets.REDIS_PASSWORD, host, port: redis.port, caFile: appRedisCa }),
      },
      ready: async () => (await httpRequest("GET", `http://${host}:${appPort}/health`, 2000)).status === 200,
    });
    started.push(app);
    const configDir = path.join(dir, "etc");
    fs.mkdirSync(configDir);
    // The internal listener's certificate, by the same script (on a droplet: the config sync, into the proxy's mount);
    // the steps' user writes the trusted peers beside it (proxy-switch.sh trust).
    const proxyTls = path.join(dir, "tls", "proxy");
    await makeTlsCert(proxyTls, SSH_USER, INTERNAL_TLS_NAME);
    const caddy = await startCaddy(name, host, appPort, configDir, proxyTls);
    started.push(caddy.process);
    // proxy-switch.sh runs as the ssh user: it rewrites the Caddyfile in place and keeps a copy beside it.
    if (who) for (const p of [configDir, caddy.caddyfile]) fs.chownSync(p, who.uid, who.gid);
    const container = containerDroplet(
      name,
      {
        pg,
        redis,
        backupDir,
        envFile,
        configDir,
        caddyfile: caddy.caddyfile,
        admin: caddy.admin,
        proxyTlsDir: proxyTls,
        pgTlsDir: pgTls,
      },
      {
        ssh: ssh.target,
        sshOptions: ssh.sshArgs,
        privateAddress: host,
        pgPort: pg.port,
        redisPort: redis.port,
        env: { CHATBOT_MIGRATION_DIR: migrationDir },
      },
    );
    started.push({ stop: async () => container.cleanup() });
    const droplet = container.droplet;
    const stop = async () => {
      for (const s of [...started].reverse()) await s.stop().catch(() => undefined);
      fs.rmSync(dir, { recursive: true, force: true });
    };
    return {
      name,
      host,
      ssh,
      pg,
      redis,
      app,
      appPort,
      caddy,
      configDir,
      droplet,
      container,
      pgTlsDir: pgTls,
      redisTlsDir: redisTls,
      proxyTlsDir: proxyTls,
      backupDir,
      migrationDir,
      stop,
    };
  } catch (e) {
    for (const s of [...started].reverse()) await s.stop().catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// HTTP: a plain request (health checks on a droplet's own listeners) and the load through the front address
// ---------------------------------------------------------------------------------------------------------------

export type { HttpResult };

export function httpRequest(method: string, url: string, timeoutMs: number): Promise<HttpResult> {
  return new Promise((resolve) => {
    const req = http.request(url, { method, agent: false, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8").on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", (e) => resolve({ status: 0, body, error: e.message }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) => resolve({ status: 0, body: "", error: e.code ?? e.message }));
    req.end();
  });
}

/** The client's patience: well above any hold, so a held request is measured, not cut short by the client. */
export const CLIENT_TIMEOUT_MS = 60_000;

/** Sends writes with unique ids through `send`, `workers` at a time, never retrying; records what the client saw. */
export class LoadGenerator {
  readonly records: WriteRecord[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  readonly runId = randomBytes(4).toString("hex");
  private seq = 0;

  constructor(
    private readonly send: (id: string) => Promise<HttpResult>,
    private readonly workers = 4,
    private readonly pauseMs = 5,
  ) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.workers }, () => this.loop());
  }

  async stop(): Promise<WriteRecord[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.records;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const id = `${this.runId}-${this.seq++}`;
      const startMs = Date.now();
      const r = await this.send(id);
      const outcome = classify(r);
      this.records.push({
        id,
        startMs,
        endMs: Date.now(),
        status: r.status,
        ...outcome,
        ...(outcome.pg === "ok" ? {} : { detail: (r.error ?? r.body).slice(0, 160) }),
      });
      if (this.pauseMs) await sleep(this.pauseMs);
    }
  }
}

/**
 * What a response says about the write, from what any client sees (status and body; see app.py): 200 with
 * pg "ok" is acknowledged, 503 with pg "fail" certainly not applied; anything else (a proxy's 502, a timeout, a
 * reset) is unknown.
 */
export function classify(r: HttpResult): Pick<WriteRecord, "pg" | "redis"> {
  if (r.status === 200 || r.status === 503) {
    try {
      const body = JSON.parse(r.body) as { pg?: string; redis?: string };
      const redis = body.redis === "ok" || body.redis === "fail" || body.redis === "unknown" ? body.redis : "none";
      if (r.status === 200 && body.pg === "ok") return { pg: "ok", redis };
      if (r.status === 503 && body.pg === "fail") return { pg: "fail", redis: "none" };
    } catch {
      // not the app's answer
    }
  }
  return { pg: "unknown", redis: "none" };
}

// ---------------------------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------------------------

export interface Harness {
  old: HarnessDroplet;
  next: HarnessDroplet;
  /** The reserved IP's stand-in: which droplet's Caddy clients reach. */
  front: FrontAddress;
  secrets: Secrets;
  /** A request to https://<domain><path> through the front address, as a user's browser would send it. */
  request(method: string, pathName: string, timeoutMs?: number): Promise<HttpResult>;
  /**
   * Run the migration (the same runner the CLI uses): the droplets' proxies are switched by the runner's steps, and
   * the front address moves to the new droplet after the commit point. `wrap` wraps the ssh executor (the test
   * seam: faults, the negative control, recording; see ./seams.ts). `from`/`to`: the other way (a switch back),
   * default old to next.
   */
  migrate(
    opts?: Partial<RunnerOptions> & {
      wrap?: (exec: Executor) => Executor;
      from?: HarnessDroplet;
      to?: HarnessDroplet;
    },
  ): Promise<MigrationReport>;
  /** Start load, run `during`, stop load, read back from `readFrom` (default: whichever the front door points at). */
  withLoad<T>(
    during: () => Promise<T>,
    opts?: { settleMs?: number; workers?: number },
  ): Promise<{ result: T; records: WriteRecord[] }>;
  /** Read back every write from a droplet's PostgreSQL and Redis and check them. */
  check(records: WriteRecord[], from: HarnessDroplet): Promise<CheckResult>;
  /** The droplet the front address points at. */
  serving(): HarnessDroplet;
  stop(): Promise<void>;
}

export async function startHarness(): Promise<Harness> {
  const secrets: Secrets = {
    POSTGRES_PASSWORD: randomBytes(12).toString("hex"),
    REPLICATION_PASSWORD: randomBytes(12).toString("hex"),
    REDIS_PASSWORD: randomBytes(12).toString("hex"),
  };
  const settled = await Promise.allSettled([
    startDroplet("old", OLD_HOST, secrets),
    startDroplet("new", NEW_HOST, secrets),
  ]);
  const [o, n] = settled;
  if (o?.status !== "fulfilled" || n?.status !== "fulfilled") {
    for (const s of settled) if (s.status === "fulfilled") await s.value.stop();
    const reason = settled.find((s) => s.status === "rejected") as PromiseRejectedResult | undefined;
    throw reason?.reason ?? new Error("harness failed to start");
  }
  const old = o.value;
  const next = n.value;
  const front = new FrontAddress(old.host, [old.caddy.rootCert, next.caddy.rootCert]);

  const harness: Harness = {
    old,
    next,
    front,
    secrets,
    request: (method, pathName, timeoutMs = CLIENT_TIMEOUT_MS) => front.request(method, pathName, timeoutMs),
    serving: () => (front.address === next.host ? next : old),
    migrate: async ({ wrap, from = old, to = next, ...opts } = {}) => {
      const ssh = sshExecutor();
      try {
        return await runMigration({
          old: from.droplet,
          next: to.droplet,
          exec: wrap ? wrap(ssh) : ssh,
          moveTraffic: async () => front.moveTo(to.host),
          healthUrl: `http://${to.host}:${to.appPort}/health`,
          ...opts,
        });
      } finally {
        ssh.close();
      }
    },
    withLoad: async (during, opts = {}) => {
      const load = new LoadGenerator((id) => harness.request("POST", `/write/${id}`), opts.workers ?? 3, 10);
      load.start();
      await sleep(opts.settleMs ?? 500);
      try {
        const result = await during();
        await sleep(opts.settleMs ?? 500);
        return { result, records: await load.stop() };
      } catch (e) {
        await load.stop();
        throw e;
      }
    },
    check: async (records, from) => {
      const rows = await from.pg.psql(
        "SELECT id || ' ' || (extract(epoch FROM at) * 1000)::bigint FROM writes",
        "chatbot",
      );
      const pgPresent = new Map<string, number>();
      for (const line of rows.split("\n")) {
        const [id, at] = line.split(" ");
        if (id) pgPresent.set(id, Number(at));
      }
      const lua =
        "local r={} for _,k in ipairs(redis.call('KEYS','w:*')) do r[#r+1]=k..' '..redis.call('GET',k) end return r";
      const keys = await from.redis.cli("EVAL", lua, "0");
      const redisPresent = new Map<string, number>();
      for (const line of keys.split("\n")) {
        const [k, v] = line.split(" ");
        if (k?.startsWith("w:")) redisPresent.set(k.slice(2), Number(v));
      }
      return checkWrites(records, pgPresent, redisPresent);
    },
    stop: async () => {
      await Promise.all([old.stop(), next.stop()]);
    },
  };
  return harness;
}

/** Start a harness, run `body`, always stop it (after `beforeStop`, e.g. killing CLI processes a test left). */
export async function withHarness<T>(body: (h: Harness) => Promise<T>, beforeStop?: () => void): Promise<T> {
  const h = await startHarness();
  try {
    return await body(h);
  } finally {
    beforeStop?.();
    await h.stop();
  }
}

/** Every file under a droplet's migration directory (journal, lock, marker), relative, sorted; [] when absent. */
export function migrationFiles(d: HarnessDroplet): string[] {
  if (!fs.existsSync(d.migrationDir)) return [];
  return (fs.readdirSync(d.migrationDir, { recursive: true }) as string[]).sort();
}

/** The droplet's migration journal, parsed, or undefined. */
export function readJournal(d: HarnessDroplet): Journal | undefined {
  const file = path.join(d.migrationDir, "journal.json");
  return fs.existsSync(file) ? parseJournal(fs.readFileSync(file, "utf8")) : undefined;
}

/**
 * What a migration could have changed on a droplet: PostgreSQL up or down, fence and standby marks, role, row
 * counts, replication slots, Redis role and keys, the migration directory. Equal before and after = untouched.
 */
export async function fingerprint(d: HarnessDroplet): Promise<Record<string, unknown>> {
  const up = fs.existsSync(path.join(d.pg.dataDir, "postmaster.pid"));
  const has = (f: string) => fs.existsSync(path.join(d.pg.dataDir, f));
  return {
    pgUp: up,
    standbySignal: has("standby.signal"),
    fenced: has("chatbot-fenced"),
    inRecovery: up ? await d.pg.psql("SELECT pg_is_in_recovery()") : null,
    systemIdentifier: up ? await d.pg.psql("SELECT system_identifier FROM pg_control_system()") : null,
    writes: up ? await d.pg.psql("SELECT count(*) || ' ' || coalesce(max(id), '') FROM writes", "chatbot") : null,
    slots: up ? await d.pg.psql("SELECT string_agg(slot_name, ',') FROM pg_replication_slots") : null,
    followsPrimary: up ? await d.pg.psql("SELECT current_setting('primary_conninfo') <> ''") : null, // not the value: it holds a password
    redisRole: (await d.redis.cli("ROLE")).split("\n")[0],
    redisKeys: await d.redis.cli("DBSIZE"),
    migrationFiles: migrationFiles(d),
  };
}

/**
 * pg_ctl on a harness droplet's server, as the postgres OS user (what a hand on the droplet would do), in the
 * environment the docker shim starts it with: not this process's (libpq in a started server's WAL receiver would look
 * for client certificates under this process's $HOME).
 */
export function pgCtl(d: HarnessDroplet, ...args: string[]): void {
  const [bin, argv, options] = pgCtlCommand(d, args);
  const r = spawnSync(bin, argv, { ...options, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`pg_ctl ${args.join(" ")}: ${r.stderr}`);
}

/** pgCtl without blocking this process (the load generator keeps running while the server starts). */
export function pgCtlAsync(d: HarnessDroplet, ...args: string[]): Promise<void> {
  const [bin, argv, options] = pgCtlCommand(d, args);
  return new Promise((resolve, reject) =>
    execFile(bin, argv, options, (e, _out, stderr) =>
      e ? reject(new Error(`pg_ctl ${args.join(" ")}: ${stderr}`)) : resolve(),
    ),
  );
}

function pgCtlCommand(d: HarnessDroplet, args: string[]) {
  const who = osUser("postgres");
  const options = { uid: who?.uid, gid: who?.gid, env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8" } };
  return [path.join(d.pg.bindir, "pg_ctl"), [...args, "-w", "-t", "60", "-D", d.pg.dataDir], options] as const;
}

/** Fill the old droplet's `chatbot` database to about `bytes` with pgbench tables (server-side generation). */
export async function seedDatabase(pg: PgServer, bytes: number): Promise<number> {
  const scale = Math.max(1, Math.round(bytes / (15 * 1024 * 1024))); // pgbench: ~15 MB per scale unit
  await run(path.join(PG_BINDIR, "pgbench"), ["-i", "-q", "-I", "dtGvp", "-s", String(scale), "chatbot"], {
    env: pg.env(),
    timeoutMs: 30 * 60_000,
  });
  return Number(await pg.psql("SELECT pg_database_size('chatbot')"));
}

/** Time a plain copy of a data directory (tar pipe + sync), the yardstick for the migration's copy throughput. */
export async function rawCopy(dataDir: string): Promise<{ bytes: number; ms: number }> {
  const dest = makeTempDir("raw-copy");
  const bytes = Number((await run("du", ["-sb", dataDir])).split("\t")[0]);
  const t0 = Date.now();
  await run("bash", ["-c", 'tar -C "$1" -cf - . | tar -C "$2" -xf - && sync', "raw-copy", dataDir, dest], {
    timeoutMs: 30 * 60_000,
  });
  const ms = Date.now() - t0;
  fs.rmSync(dest, { recursive: true, force: true });
  return { bytes, ms };
}

export { waitFor };
