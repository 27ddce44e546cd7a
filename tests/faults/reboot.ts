/**
 * reboot-old: the migration's source droplet "reboots" while a step runs. Every process of the droplet (its sshd with
 * the sessions below it, PostgreSQL with its backends, Redis, the app, Caddy) is killed with SIGKILL, no clean
 * shutdown; the disk (data directories, journal, lock, the rewritten Caddyfile) stays. Then it comes back as systemd
 * and Docker would bring it: sshd first, then the containers, whose compose restart policy (`unless-stopped`,
 * infra/render/compose.ts) restarts each one that was running; a container the steps had stopped (`compose stop`)
 * stays stopped. In dependency order: PostgreSQL and Redis, then the app (depends_on healthy), then the proxy.
 * Each comes back with the command line, environment, directory and user it ran with, read from /proc before the
 * kill (sshd and Redis overwrite their titles there, so theirs are rebuilt from the harness's files).
 * What is not emulated: kernel state (sysctls stay set), Redis's memory (the harness's Redis keeps no dump, so it
 * comes back empty, as a cache may).
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { INTERNAL_TLS_DIR } from "../../infra/render/caddyfile";
import { type HarnessDroplet, httpRequest, pgCtlAsync, waitFor } from "../migration/harness";
import type { Addressed, SeamExecutor } from "../migration/seams";
import { osUser } from "../support/processes";
import { type CutLanding, descendants, killAndReap, logTail, onceStepRuns, postmasterPid, processes } from "./inject";
import type { StepAddress } from "./matrix";

/** How a process is started again: as it ran before. */
interface Launch {
  service: string;
  argv: string[];
  env: NodeJS.ProcessEnv;
  cwd: string;
  uid: number;
  gid: number;
  logFile: string;
}

/** The processes a reboot started (not the harness's own): stopped before the harness stops. */
export class Relaunched {
  private readonly children: ChildProcess[] = [];

  add(child: ChildProcess): void {
    this.children.push(child);
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once("exit", () => resolve());
            c.kill("SIGKILL");
          }),
      ),
    );
  }
}

function ids(pid: number): { uid: number; gid: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0);
  return { uid: field("Uid"), gid: field("Gid") };
}

/** The command line, environment, directory and user of a running process. */
function launchOf(service: string, pid: number, logFile: string): Launch {
  const nul = (file: string) => fs.readFileSync(`/proc/${pid}/${file}`, "utf8").split("\0").filter(Boolean);
  const env = Object.fromEntries(
    nul("environ").map((kv) => [kv.slice(0, kv.indexOf("=")), kv.slice(kv.indexOf("=") + 1)]),
  );
  return { service, argv: nul("cmdline"), env, cwd: fs.readlinkSync(`/proc/${pid}/cwd`), ...ids(pid), logFile };
}

/**
 * The proxy container reads the Caddyfile with its certificate directory mounted at INTERNAL_TLS_DIR: started on the
 * host, it reads a copy with that prefix replaced by the droplet's directory (as the docker shim's reload does).
 */
function mounted(l: Launch, d: HarnessDroplet): Launch {
  const copy = path.join(path.dirname(l.logFile), "Caddyfile.mounted");
  const text = fs.readFileSync(d.caddy.caddyfile, "utf8").replaceAll(`${INTERNAL_TLS_DIR}/`, `${d.proxyTlsDir}/`);
  fs.writeFileSync(copy, text);
  return { ...l, argv: l.argv.map((a) => (a === d.caddy.caddyfile ? copy : a)) };
}

/** The droplet's Redis server process (found by its title, "redis-server host:port"). */
function redisPid(d: HarnessDroplet): number | undefined {
  const title = `redis-server ${d.host}:${d.redis.port}`;
  return processes().find((p) => {
    try {
      return fs.readFileSync(`/proc/${p.pid}/cmdline`, "utf8").startsWith(title);
    } catch {
      return false;
    }
  })?.pid;
}

function tcpOpen(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: 1000 });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.once("timeout", () => {
      s.destroy();
      resolve(false);
    });
  });
}

function start(l: Launch, relaunched: Relaunched): ChildProcess {
  const log = fs.openSync(l.logFile, "a");
  const [cmd, ...args] = l.argv as [string, ...string[]];
  const child = spawn(cmd, args, { cwd: l.cwd, env: l.env, uid: l.uid, gid: l.gid, stdio: ["ignore", log, log] });
  fs.closeSync(log);
  child.on("error", () => undefined); // the readiness wait reports it
  relaunched.add(child);
  return child;
}

async function startAndWait(l: Launch, relaunched: Relaunched, ready: () => Promise<boolean>): Promise<void> {
  const child = start(l, relaunched);
  await waitFor(
    `${l.service} back after the reboot`,
    async () => {
      if (child.exitCode !== null) throw new Error(`${l.service} exited ${child.exitCode}: ${logTail(l.logFile)}`);
      return ready();
    },
    60_000,
  );
}

/** Reboots `d`: kills everything, waits until it is reaped, starts it again; returns what came back. */
export async function reboot(d: HarnessDroplet, relaunched: Relaunched): Promise<string> {
  const sshDir = path.dirname(d.ssh.keyFile);
  const redisUser = osUser("redis");
  const redis = redisPid(d);
  const postmaster = postmasterPid(d);
  const launches = {
    sshd: {
      service: "sshd",
      argv: ["/usr/sbin/sshd", "-D", "-e", "-f", path.join(sshDir, "sshd_config")],
      env: process.env,
      cwd: "/",
      uid: 0,
      gid: 0,
      logFile: path.join(sshDir, "sshd.log"),
    },
    redis: {
      service: "redis",
      argv: ["redis-server", path.join(d.redis.dir, "redis.conf")],
      env: { ...process.env, ...(redisUser ? { HOME: redisUser.home, USER: "redis" } : {}) },
      cwd: "/",
      uid: redisUser?.uid ?? 0,
      gid: redisUser?.gid ?? 0,
      logFile: d.redis.logFile,
    },
    app: launchOf("app", d.app.pid, d.app.logFile),
    proxy: mounted(launchOf("proxy", d.caddy.process.pid, d.caddy.process.logFile), d),
  } satisfies Record<string, Launch>;
  const roots = [
    d.ssh.pid,
    d.app.pid,
    d.caddy.process.pid,
    ...(redis ? [redis] : []),
    ...(postmaster ? [postmaster] : []),
  ];
  const all = processes();
  await killAndReap([...roots, ...roots.flatMap((r) => descendants(r, all))]);

  await startAndWait(launches.sshd, relaunched, () => tcpOpen(d.host, d.ssh.port));
  const back = ["sshd"];
  // Docker's restart policy: only what was running (a container the steps stopped stays stopped).
  if (postmaster !== undefined) {
    await pgCtlAsync(d, "start", "-l", d.pg.logFile, "-o", d.pg.ctlOptions);
    back.push("postgres");
  }
  if (redis !== undefined) {
    await startAndWait(launches.redis, relaunched, () => tcpOpen(d.host, d.redis.port));
    back.push("redis");
  }
  const health = `http://${d.host}:${d.appPort}/health`;
  await startAndWait(launches.app, relaunched, async () => (await httpRequest("GET", health, 2000)).status > 0);
  await startAndWait(launches.proxy, relaunched, () => tcpOpen(d.host, 443));
  back.push("app", "proxy");
  return `rebooted: ${back.join(", ")} back${postmaster === undefined ? " (postgres was stopped: stays stopped)" : ""}`;
}

/**
 * The fault: once the step runs on its droplet, the source droplet `old` reboots. The migration goes on meanwhile
 * (its calls to the rebooting droplet fail as they would); `done` gets what came back once it is up again.
 */
export function rebootOld<C extends Addressed>(
  exec: SeamExecutor<C>,
  at: StepAddress,
  stepDroplet: HarnessDroplet,
  old: HarnessDroplet,
  relaunched: Relaunched,
  done: (what: { landed: CutLanding; rebooted: Promise<string> }) => void,
): SeamExecutor<C> {
  return onceStepRuns(exec, at, stepDroplet, async (landed) => {
    const rebooted = reboot(old, relaunched).catch(
      (e: Error) => `reboot failed: ${e.message.replace(/\s+/g, " ").slice(0, 600)}`,
    );
    done({ landed, rebooted });
  });
}
