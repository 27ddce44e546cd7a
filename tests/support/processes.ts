/**
 * Real servers on loopback for tests and benchmarks: PostgreSQL 15, Redis 7 and OpenSSH, from Debian's packages.
 *
 * This module does not import vitest, so the benchmark (run by tsx) can use it too. Test files import
 * `./servers`, which re-exports everything here and registers `stopAll` as an `afterAll` hook.
 *
 * Every server is recorded in a registry; `stopAll()` stops them, and a process `exit` hook (plus SIGINT/SIGTERM/
 * SIGHUP handlers) kills whatever is left synchronously, so no server outlives the process that started it.
 * Each server lives in its own temporary directory under `os.tmpdir()`, removed when it stops.
 *
 * Users: PostgreSQL runs as the `postgres` OS user and Redis as `redis` (never root); sshd must start as root (it
 * drops privileges itself). When the caller is not root, everything runs as the caller.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { randomBytes } from "node:crypto";

export const PG_BINDIR = process.env.PG_BINDIR ?? "/usr/lib/postgresql/15/bin";
const SSHD = "/usr/sbin/sshd";

// ---------------------------------------------------------------------------------------------------------------
// Running commands
// ---------------------------------------------------------------------------------------------------------------

export interface RunOptions {
  /** OS user to run as (only honoured when the caller is root). */
  user?: string;
  /** Text fed to standard input. */
  input?: string;
  /** Extra environment (merged over process.env). Use this for secrets, never argv. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Kill the command after this long (default 120 s). */
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

const isRoot = (): boolean => typeof process.getuid === "function" && process.getuid() === 0;

/** uid/gid of an OS user, or undefined when we are not root (then we cannot switch and run as ourselves). */
export function osUser(name: string): { uid: number; gid: number; home: string } | undefined {
  if (!isRoot()) return undefined;
  const line = fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`OS user "${name}" does not exist (install its Debian package first)`);
  const [, , uid, gid, , home] = line.split(":");
  return { uid: Number(uid), gid: Number(gid), home: home ?? "/" };
}

/** Run a command without a shell and collect its output. Resolves with the exit code; never throws on non-zero. */
export function runCommand(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const who = opts.user ? osUser(opts.user) : undefined;
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: { ...process.env, ...(who ? { HOME: who.home, USER: opts.user } : {}), ...opts.env },
      uid: who?.uid,
      gid: who?.gid,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 120_000);
    child.on("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal ? 128 : 1), stdout, stderr });
    });
    child.stdin.on("error", () => undefined); // the command may exit before reading all input
    child.stdin.end(opts.input ?? "");
  });
}

/** Like runCommand, but rejects (with the command and its stderr) on a non-zero exit. Returns stdout. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  const r = await runCommand(cmd, args, opts);
  if (r.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${r.code}: ${(r.stderr || r.stdout).trim().slice(-2000)}`);
  }
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------------------------

interface Registered {
  label: string;
  /** Graceful, asynchronous stop. */
  stop(): Promise<void>;
  /** Last resort, synchronous (used from the process exit hook). */
  killSync(): void;
}

const registry = new Set<Registered>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAllSync);
  const signals: Array<[NodeJS.Signals, number]> = [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ];
  for (const [sig, num] of signals) {
    process.once(sig, () => {
      killAllSync();
      process.exit(128 + num);
    });
  }
}

function register(entry: Registered): () => void {
  installExitHooks();
  registry.add(entry);
  return () => registry.delete(entry);
}

/** Kill every registered server now, synchronously. */
export function killAllSync(): void {
  for (const entry of [...registry]) {
    try {
      entry.killSync();
    } catch {
      // keep going: the others must still die
    }
    registry.delete(entry);
  }
}

/** Stop every server still registered (the `afterAll` hook). Errors are collected and thrown once. */
export async function stopAll(): Promise<void> {
  const errors: string[] = [];
  for (const entry of [...registry].reverse()) {
    try {
      await entry.stop();
    } catch (e) {
      errors.push(`${entry.label}: ${(e as Error).message}`);
      try {
        entry.killSync();
      } catch {
        // already reported
      }
    }
    registry.delete(entry);
  }
  if (errors.length) throw new Error(`stopping servers failed:\n${errors.join("\n")}`);
}

/** Labels of the servers still running (tests assert this is empty after stopping). */
export function runningServers(): string[] {
  return [...registry].map((e) => e.label);
}

// ---------------------------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------------------------

/** A TCP port that is free on `host` right now (the OS picks it). */
export function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** A fresh temporary directory, owned by `user` when we are root. */
export function makeTempDir(prefix: string, user?: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `chatbot-${prefix.replace(/[^a-zA-Z0-9_.-]/g, "_")}-`));
  const who = user ? osUser(user) : undefined;
  if (who) fs.chownSync(dir, who.uid, who.gid);
  return dir;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Poll `check` until it returns true, or throw `what` (with the last error) after `timeoutMs`. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000, everyMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  for (;;) {
    try {
      if (await check()) return;
    } catch (e) {
      last = (e as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${last}` : ""}`);
    await sleep(everyMs);
  }
}

function tail(file: string, chars = 3000): string {
  try {
    return fs.readFileSync(file, "utf8").slice(-chars);
  } catch {
    return "(no log)";
  }
}

const removeDir = (dir: string): void => fs.rmSync(dir, { recursive: true, force: true });

/** Retry a start when the port was picked for us and someone else grabbed it between picking and binding. */
async function withPortRetry<T>(port: number | undefined, host: string, start: (port: number) => Promise<T>) {
  if (port !== undefined) return start(port);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await start(await freePort(host));
    } catch (e) {
      lastError = e;
      if (!/address already in use|could not bind|bind/i.test((e as Error).message)) throw e;
    }
  }
  throw lastError;
}

/** A long-running child process in the foreground, its output appended to `logFile`, stopped with a signal. */
function spawnDaemon(cmd: string, args: string[], logFile: string, user?: string): ChildProcess {
  const who = user ? osUser(user) : undefined;
  const log = fs.openSync(logFile, "a");
  if (who) fs.fchownSync(log, who.uid, who.gid);
  const child = spawn(cmd, args, {
    stdio: ["ignore", log, log],
    uid: who?.uid,
    gid: who?.gid,
    env: { ...process.env, ...(who ? { HOME: who.home, USER: user } : {}) },
  });
  fs.closeSync(log);
  child.on("error", () => undefined); // reported by the readiness check, with the log
  return child;
}

/** Register a foreground child process with its directory: stop() = SIGTERM (then SIGKILL) + remove the dir. */
function registerDaemon(label: string, child: ChildProcess, dir: string): () => Promise<void> {
  let stopped = false;
  const entry: Registered = {
    label,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stopChild(child, "SIGTERM");
      removeDir(dir);
    },
    killSync: () => {
      if (child.pid && child.exitCode === null) process.kill(child.pid, "SIGKILL");
      removeDir(dir);
    },
  };
  const unregister = register(entry);
  return async () => {
    await entry.stop();
    unregister();
  };
}

async function stopChild(child: ChildProcess, signal: NodeJS.Signals, timeoutMs = 15_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  child.kill(signal);
  const timer = sleep(timeoutMs).then(() => "timeout" as const);
  if ((await Promise.race([exited, timer])) === "timeout") {
    child.kill("SIGKILL");
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Any foreground service (e.g. an app under uvicorn)
// ---------------------------------------------------------------------------------------------------------------

export interface ManagedProcess {
  pid: number;
  logFile: string;
  /** SIGTERM, SIGKILL after 15 s; removes its directory. */
  stop(): Promise<void>;
}

/**
 * Start a long-running command as `user` (default: the caller), wait until `ready()` is true, register it.
 * The environment is the given one plus PATH (secrets belong here, never in args).
 */
export async function startProcess(opts: {
  name: string;
  cmd: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  user?: string;
  cwd?: string;
  ready: () => Promise<boolean>;
  timeoutMs?: number;
}): Promise<ManagedProcess> {
  const dir = makeTempDir(opts.name, opts.user);
  const logFile = path.join(dir, "output.log");
  const who = opts.user ? osUser(opts.user) : undefined;
  const log = fs.openSync(logFile, "a");
  const child = spawn(opts.cmd, opts.args, {
    cwd: opts.cwd,
    stdio: ["ignore", log, log],
    uid: who?.uid,
    gid: who?.gid,
    env: { PATH: process.env.PATH, LANG: "C.UTF-8", ...(who ? { HOME: who.home } : {}), ...opts.env },
  });
  fs.closeSync(log);
  child.on("error", () => undefined);
  try {
    await waitFor(
      opts.name,
      async () => {
        if (child.exitCode !== null) throw new Error(`${opts.cmd} exited ${child.exitCode}`);
        return opts.ready();
      },
      opts.timeoutMs ?? 30_000,
      100,
    );
  } catch (e) {
    await stopChild(child, "SIGKILL");
    const text = tail(logFile);
    removeDir(dir);
    throw new Error(`startProcess(${opts.name}): ${(e as Error).message}\n${text}`);
  }
  const stop = registerDaemon(`${opts.name} pid ${child.pid}`, child, dir);
  return { pid: child.pid ?? -1, logFile, stop };
}

// ---------------------------------------------------------------------------------------------------------------
// TLS certificates, made the way a droplet makes them
// ---------------------------------------------------------------------------------------------------------------

const TLS_CERT_SCRIPT = path.join(__dirname, "..", "..", "scripts", "droplet", "tls-cert.sh");

/**
 * Run the droplet's own scripts/droplet/tls-cert.sh: `dir`/server.key and server.crt for service `name`, owned by
 * the OS user `owner` (the server's user; the caller when not root). Returns what the script printed.
 */
export async function makeTlsCert(dir: string, owner: string, name: string): Promise<string> {
  const who = osUser(owner);
  const uidGid = who ? `${who.uid}:${who.gid}` : `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`;
  return (await run("bash", [TLS_CERT_SCRIPT, dir, uidGid, name])).trim();
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------------------------------------------

export interface PgServer {
  host: string;
  port: number;
  /** The data directory (owned by the postgres OS user). */
  dataDir: string;
  /** Directory of the PostgreSQL binaries (pg_ctl, psql, pg_basebackup, ...). */
  bindir: string;
  /** Directory holding the server's Unix socket. */
  socketDir: string;
  /** The server log. */
  logFile: string;
  /** pg_hba.conf in use (outside the data directory, so a pg_basebackup into it does not replace it). */
  hbaFile: string;
  /** The options pg_ctl passes to the postmaster (-o): address, port, socket dir, hba file. Reuse them to restart. */
  ctlOptions: string;
  /** Password of the `postgres` superuser (pass it via PGPASSWORD, never argv). */
  password: string;
  /** Run SQL as `postgres` over TCP and return `psql -At` output (trimmed). Throws on any SQL error. */
  psql(sql: string, db?: string): Promise<string>;
  /** Environment for libpq clients connecting to this server as postgres (PGHOST, PGPORT, PGUSER, PGPASSWORD). */
  env(): NodeJS.ProcessEnv;
  /** Stop it if running (`pg_ctl stop -m fast`) and remove its directory. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  host: string;
  /** Default: a free port. */
  port?: number;
  /**
   * Extra postgresql.conf text, appended after initdb's file (so a whole rendered file works too: later settings
   * win). listen_addresses, port, unix_socket_directories, hba_file and ident_file are always forced to this
   * server's own values on the command line.
   */
  conf?: string;
  /** Whole pg_hba.conf text. Default: trust from 127.0.0.0/8 (all databases and replication) and the socket. */
  hba?: string;
  /** Used in the temp dir name and errors. */
  name?: string;
  /** Password of the `postgres` superuser. @default random */
  password?: string;
  /**
   * Settings given on the postmaster's command line (part of `ctlOptions`), like the files a droplet keeps outside
   * its data directory: a copy made by pg_basebackup does not carry them along.
   */
  serverSettings?: Readonly<Record<string, string | number>>;
  /**
   * Use an existing data directory instead of running initdb (e.g. a standby made by pg_basebackup). It is owned
   * by the caller and not removed on stop.
   */
  existingDataDir?: string;
}

export const DEFAULT_PG_HBA = [
  "local all all trust",
  "host all all 127.0.0.0/8 trust",
  "host replication all 127.0.0.0/8 trust",
  "",
].join("\n");

/** Start a PostgreSQL server as the `postgres` OS user, listening only on `host`. */
export async function startPostgres(opts: StartPostgresOptions): Promise<PgServer> {
  const name = opts.name ?? `pg-${opts.host}`;
  const baseDir = makeTempDir(`pg-${name}`, "postgres");
  const dataDir = opts.existingDataDir ?? path.join(baseDir, "data");
  const logFile = path.join(baseDir, "postgres.log");
  const hbaFile = path.join(baseDir, "pg_hba.conf");
  const password = opts.password ?? randomBytes(12).toString("hex");
  const pgctl = path.join(PG_BINDIR, "pg_ctl");
  try {
    if (!opts.existingDataDir) {
      const pwFile = path.join(baseDir, "pwfile");
      fs.writeFileSync(pwFile, `${password}\n`, { mode: 0o600 });
      const who = osUser("postgres");
      if (who) fs.chownSync(pwFile, who.uid, who.gid);
      await run(
        path.join(PG_BINDIR, "initdb"),
        [
          "-D",
          dataDir,
          "-U",
          "postgres",
          "--pwfile",
          pwFile,
          "-E",
          "UTF8",
          "--locale=C.UTF-8",
          "-N",
          "--no-instructions",
        ],
        { user: "postgres" },
      );
      fs.rmSync(pwFile);
      if (opts.conf) fs.appendFileSync(path.join(dataDir, "postgresql.conf"), `\n# --- test conf ---\n${opts.conf}\n`);
    }
    fs.writeFileSync(hbaFile, opts.hba ?? DEFAULT_PG_HBA);
  } catch (e) {
    removeDir(baseDir);
    throw new Error(`startPostgres(${name}): initdb failed: ${(e as Error).message}`);
  }

  const forcedOptions = (port: number): string =>
    [
      `-c listen_addresses=${opts.host}`,
      `-c port=${port}`,
      `-c unix_socket_directories=${baseDir}`,
      `-c hba_file=${hbaFile}`,
      ...Object.entries(opts.serverSettings ?? {}).map(([k, v]) => `-c ${k}=${v}`),
    ].join(" ");
  const server = await withPortRetry(opts.port, opts.host, async (port) => {
    const forced = forcedOptions(port);
    const r = await runCommand(pgctl, ["start", "-w", "-t", "60", "-D", dataDir, "-l", logFile, "-o", forced], {
      user: "postgres",
    });
    if (r.code !== 0) throw new Error(`pg_ctl start on ${opts.host}:${port} failed: ${r.stderr}\n${tail(logFile)}`);
    return port;
  }).catch((e: Error) => {
    removeDir(baseDir);
    throw new Error(`startPostgres(${name}): ${e.message}`);
  });

  const port = server;
  const env = (): NodeJS.ProcessEnv => ({
    PGHOST: opts.host,
    PGPORT: String(port),
    PGUSER: "postgres",
    PGPASSWORD: password,
    PGCONNECT_TIMEOUT: "5",
  });
  let stopped = false;
  const stopPg = async (mode: "fast" | "immediate"): Promise<void> => {
    if (fs.existsSync(path.join(dataDir, "postmaster.pid"))) {
      await runCommand(pgctl, ["stop", "-w", "-t", "60", "-m", mode, "-D", dataDir], { user: "postgres" });
    }
  };
  const entry: Registered = {
    label: `postgres ${name} ${opts.host}:${port}`,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await stopPg("fast");
      if (fs.existsSync(path.join(dataDir, "postmaster.pid"))) await stopPg("immediate");
      removeDir(baseDir);
    },
    killSync: () => {
      const who = osUser("postgres");
      spawnSync(pgctl, ["stop", "-w", "-t", "20", "-m", "immediate", "-D", dataDir], {
        uid: who?.uid,
        gid: who?.gid,
        stdio: "ignore",
      });
      removeDir(baseDir);
    },
  };
  const unregister = register(entry);
  return {
    host: opts.host,
    port,
    dataDir,
    bindir: PG_BINDIR,
    socketDir: baseDir,
    logFile,
    hbaFile,
    ctlOptions: forcedOptions(port),
    password,
    env,
    psql: async (sql, db = "postgres") => {
      const out = await run(
        path.join(PG_BINDIR, "psql"),
        ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", "-"],
        { input: sql, env: env() },
      );
      return out.trim();
    },
    stop: async () => {
      await entry.stop();
      unregister();
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Redis
// ---------------------------------------------------------------------------------------------------------------

export interface RedisServer {
  host: string;
  port: number;
  /** The server's working directory (RDB/AOF live here). */
  dir: string;
  logFile: string;
  /** The requirepass found in the conf, if any. */
  password: string | undefined;
  /** Set when the server is TLS only: the certificate clients check it against. */
  tls?: { caFile: string };
  /** Run redis-cli against this server (password via REDISCLI_AUTH, never argv); returns trimmed output. */
  cli(...args: string[]): Promise<string>;
  /** Stop it (SIGTERM, then SIGKILL after 15 s) and remove its directory. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  host: string;
  port?: number;
  /** redis.conf text; bind, port, dir, daemonize, pidfile and logfile are forced after it. */
  conf?: string;
  name?: string;
  /**
   * TLS only, as on a droplet: the port is `tls-port` and the clear-text one is closed (`port 0`); the conf must hold
   * the certificate settings. redis-cli (readiness, `cli`) connects with `--tls --cacert caFile`.
   */
  tls?: { caFile: string };
}

/** The last `requirepass` in a redis.conf text. */
export function redisPasswordFromConf(conf: string | undefined): string | undefined {
  let found: string | undefined;
  for (const line of (conf ?? "").split("\n")) {
    const m = /^\s*requirepass\s+"?([^"\s]+)"?\s*$/.exec(line);
    if (m) found = m[1];
  }
  return found;
}

/** Start redis-server as the `redis` OS user, listening only on `host`. */
export async function startRedis(opts: StartRedisOptions): Promise<RedisServer> {
  const name = opts.name ?? `redis-${opts.host}`;
  const dir = makeTempDir(`redis-${name}`, "redis");
  const logFile = path.join(dir, "redis.log");
  const confFile = path.join(dir, "redis.conf");
  const password = redisPasswordFromConf(opts.conf);
  const authEnv = password ? { REDISCLI_AUTH: password } : {};
  const tlsArgs = opts.tls ? ["--tls", "--cacert", opts.tls.caFile] : [];

  const started = await withPortRetry(opts.port, opts.host, async (port) => {
    fs.writeFileSync(
      confFile,
      [
        opts.conf ?? "",
        "# --- forced by the test harness ---",
        `bind ${opts.host}`,
        ...(opts.tls ? ["port 0", `tls-port ${port}`] : [`port ${port}`]),
        `dir ${dir}`,
        "daemonize no",
        `pidfile ${path.join(dir, "redis.pid")}`,
        'logfile ""',
        "",
      ].join("\n"),
      { mode: 0o640 },
    );
    const who = osUser("redis");
    if (who) fs.chownSync(confFile, who.uid, who.gid);
    const child = spawnDaemon("redis-server", [confFile], logFile, "redis");
    try {
      await waitFor(
        `redis ${name} on ${opts.host}:${port}`,
        async () => {
          if (child.exitCode !== null) throw new Error(`redis-server exited ${child.exitCode}`);
          const r = await runCommand("redis-cli", [...tlsArgs, "-h", opts.host, "-p", String(port), "ping"], {
            env: authEnv,
          });
          return r.stdout.trim() === "PONG";
        },
        15_000,
        50,
      );
    } catch (e) {
      await stopChild(child, "SIGKILL");
      throw new Error(`${(e as Error).message}\n${tail(logFile)}`);
    }
    return { port, child };
  }).catch((e: Error) => {
    removeDir(dir);
    throw new Error(`startRedis(${name}): ${e.message}`);
  });

  const { port, child } = started;
  const stop = registerDaemon(`redis ${name} ${opts.host}:${port}`, child, dir);
  return {
    host: opts.host,
    port,
    dir,
    logFile,
    password,
    ...(opts.tls ? { tls: opts.tls } : {}),
    cli: async (...args) =>
      (await run("redis-cli", [...tlsArgs, "-h", opts.host, "-p", String(port), ...args], { env: authEnv })).trim(),
    stop,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// sshd
// ---------------------------------------------------------------------------------------------------------------

export interface SshServer {
  host: string;
  port: number;
  /** `user@host`, e.g. "root@127.0.0.2". */
  target: string;
  /** ssh options that reach this server: -p, -i key, -F /dev/null, strict host key check against its own key. */
  sshArgs: string[];
  /** The client private key that is authorized on this server. */
  keyFile: string;
  /** known_hosts file holding this server's host key. */
  knownHostsFile: string;
  /** The listening sshd's pid: its children are the connections (a fault cuts one by killing it). */
  pid: number;
  /** Run a remote command (a shell string) over ssh; `input` goes to its stdin. Never throws on non-zero. */
  exec(command: string, input?: string): Promise<RunResult>;
  stop(): Promise<void>;
}

export interface StartSshdOptions {
  host: string;
  port?: number;
  name?: string;
  /** Extra sshd_config lines (e.g. `AcceptEnv CHATBOT_*`). */
  config?: string;
  /**
   * The OS user the key logs in as. @default the current user (root in CI). A user other than the caller needs
   * the caller to be root.
   */
  user?: string;
}

/** Start an OpenSSH server on `host` that accepts a fresh key for `user` (default: the current user, root in CI). */
export async function startSshd(opts: StartSshdOptions): Promise<SshServer> {
  const name = opts.name ?? `sshd-${opts.host}`;
  const dir = makeTempDir(`sshd-${name}`);
  const hostKey = path.join(dir, "ssh_host_ed25519_key");
  const keyFile = path.join(dir, "id_ed25519");
  const knownHostsFile = path.join(dir, "known_hosts");
  const user = opts.user ?? os.userInfo().username;
  if (opts.user) {
    osUser(opts.user); // throws if it does not exist
    fs.chmodSync(dir, 0o755); // sshd reads authorized_keys with the user's rights
  }
  if (isRoot()) fs.mkdirSync("/run/sshd", { recursive: true, mode: 0o755 }); // privilege separation directory
  try {
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}-host`, "-f", hostKey]);
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `${name}-client`, "-f", keyFile]);
    fs.copyFileSync(`${keyFile}.pub`, path.join(dir, "authorized_keys"));
    fs.chmodSync(path.join(dir, "authorized_keys"), 0o644);
  } catch (e) {
    removeDir(dir);
    throw new Error(`startSshd(${name}): ssh-keygen failed: ${(e as Error).message}`);
  }
  const hostPub = fs.readFileSync(`${hostKey}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");

  const started = await withPortRetry(opts.port, opts.host, async (port) => {
    const conf = path.join(dir, "sshd_config");
    fs.writeFileSync(
      conf,
      [
        `Port ${port}`,
        `ListenAddress ${opts.host}`,
        `HostKey ${hostKey}`,
        `PidFile ${path.join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${path.join(dir, "authorized_keys")}`,
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        // Without PAM, sshd refuses accounts whose password is locked ("!"), as system users like postgres are.
        `UsePAM ${opts.user ? "yes" : "no"}`,
        "StrictModes no",
        "PrintMotd no",
        "LogLevel ERROR",
        "Subsystem sftp internal-sftp",
        opts.config ?? "",
        "",
      ].join("\n"),
    );
    fs.writeFileSync(knownHostsFile, `[${opts.host}]:${port} ${hostPub}\n`);
    const sshArgs = [
      "-F",
      "/dev/null",
      "-p",
      String(port),
      "-i",
      keyFile,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      `UserKnownHostsFile=${knownHostsFile}`,
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "ConnectTimeout=5",
      "-o",
      "LogLevel=ERROR",
    ];
    const child = spawnDaemon(SSHD, ["-D", "-e", "-f", conf], path.join(dir, "sshd.log"));
    try {
      await waitFor(
        `sshd ${name} on ${opts.host}:${port}`,
        async () => {
          if (child.exitCode !== null) throw new Error(`sshd exited ${child.exitCode}`);
          const r = await runCommand("ssh", [...sshArgs, `${user}@${opts.host}`, "true"], { timeoutMs: 10_000 });
          return r.code === 0;
        },
        20_000,
        100,
      );
    } catch (e) {
      await stopChild(child, "SIGKILL");
      throw new Error(`${(e as Error).message}\n${tail(path.join(dir, "sshd.log"))}`);
    }
    return { port, child, sshArgs };
  }).catch((e: Error) => {
    removeDir(dir);
    throw new Error(`startSshd(${name}): ${e.message}`);
  });

  const { port, child, sshArgs } = started;
  const target = `${user}@${opts.host}`;
  const stop = registerDaemon(`sshd ${name} ${opts.host}:${port}`, child, dir);
  return {
    host: opts.host,
    port,
    target,
    sshArgs,
    keyFile,
    knownHostsFile,
    pid: child.pid ?? -1,
    exec: (command, input) => runCommand("ssh", [...sshArgs, target, command], { input }),
    stop,
  };
}
