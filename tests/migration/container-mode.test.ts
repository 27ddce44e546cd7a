/**
 * The droplet scripts as they run on a droplet (through `docker compose`), without a Docker engine: the docker shim
 * (tests/support/docker-shim/docker, first on PATH in the ssh command's environment) maps each `docker compose`
 * call onto the harness's real PostgreSQL and Redis, and logs the exact argv. So the scripts' container branches
 * (compose exec/run/ps/start/stop, container paths, -u postgres, -e pass-through) run for real; Docker's own
 * behaviour (stop grace clock, bind mounts, networking, images) does not: see the shim's header. The proxy steps
 * (proxy-switch.sh) reach the droplet's real Caddy through the `proxy` service: `caddy reload` of the Caddyfile the
 * compose file mounts, and the drain loop whose `wget` reads the admin API.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { drillCommand, judgeDrill } from "../../infra/capacity/restore-drill";
import { remoteBash } from "../../infra/capacity/live";
import { parseValues } from "../../infra/migration/commands";
import type { Executor } from "../../infra/migration/run-api";
import { INTERNAL_PORT } from "../../infra/render/caddyfile";
import { runCommand, runningServers } from "../support/servers";
import { type ContainerDroplet, renderComposeFile, SHIM, stopScratchContainers } from "./container-droplet";
import type { WriteRecord } from "./checker";
import { type Harness, type HarnessDroplet, migrationFiles, readJournal, startHarness } from "./harness";
import { FAULT_POINTS, failAfter } from "./seams";

const TIMEOUT = 300_000;
const root = path.resolve(__dirname, "../..");
const script = (name: string) => fs.readFileSync(path.join(root, "scripts/droplet", name), "utf8");

interface ContainerHarness {
  h: Harness;
  old: ContainerDroplet;
  next: ContainerDroplet;
}

/** The harness's droplets as the docker shim sees them (every harness droplet runs the scripts through it). */
function containers(h: Harness): ContainerHarness {
  return { h, old: h.old.container, next: h.next.container };
}

async function withContainerHarness<T>(body: (c: ContainerHarness) => Promise<T>): Promise<T> {
  const h = await startHarness();
  try {
    return await body(containers(h));
  } finally {
    await h.stop();
  }
}

/** No secret may appear in any docker argv the scripts produced (ps on the droplet shows it; so would this log). */
function expectNoSecrets(c: ContainerHarness): void {
  const calls = [...c.old.calls(), ...c.next.calls()].join("\n");
  for (const [key, secret] of Object.entries(c.h.secrets))
    expect(calls.includes(secret), `${key} in a docker argv`).toBe(false);
}

/** The set checker on the new primary: every acknowledged write is there, no refused one is. */
async function expectNothingLost(h: Harness, records: WriteRecord[], minAcknowledged: number): Promise<void> {
  const { acknowledged, lost, failedButPresent, redisLost } = await h.check(records, h.next);
  expect(acknowledged).toBeGreaterThan(minAcknowledged);
  expect({ lost, failedButPresent, redisLost }).toEqual({ lost: [], failedButPresent: [], redisLost: [] });
}

/** The compose prefix every call must start with (`dc` in the scripts). */
const dc = (d: ContainerDroplet) => `docker compose -p chatbot -f ${d.composeFile}`;

/** proxy-switch.sh's calls into the proxy service (its `dc` names the project directory, CONFIG_DIR). */
const inProxy = (d: ContainerDroplet) => {
  const configDir = path.dirname(d.composeFile);
  return `docker compose -p chatbot --project-directory ${configDir} -f ${configDir}/compose.yaml exec -T proxy`;
};
const reload = (d: ContainerDroplet) => `${inProxy(d)} caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile`;
/** The drain loop: `sh -c <loop> sh idle <seconds> <local app>` in the proxy container. */
const isDrain = (d: ContainerDroplet, h: HarnessDroplet) => (l: string) =>
  l.startsWith(`${inProxy(d)} sh -c `) &&
  new RegExp(` sh idle \\d+ ${h.host.replace(/\./g, "\\.")}:${h.appPort}$`).test(l);
const ADMIN_FETCH = "wget -qO- http://localhost:2019/reverse_proxy/upstreams";
const indexes = (calls: string[], match: (l: string) => boolean) => calls.flatMap((l, i) => (match(l) ? [i] : []));

/** Each step's key=value answer, by "side:step" (the last run of it): what proxy-switch.sh reported. */
function stepValues(): { values: Map<string, Record<string, string>>; wrap: (exec: Executor) => Executor } {
  const values = new Map<string, Record<string, string>>();
  return {
    values,
    wrap: (exec) => async (cmd, hooks) => {
      const r = await exec(cmd, hooks);
      values.set(`${cmd.side}:${cmd.step}`, parseValues(r.stdout));
      return r;
    },
  };
}

/** The upstreams of the config a droplet's Caddy runs now (its admin API): what a reload really applied. */
async function runningDials(admin: string): Promise<string[]> {
  const config = await (await fetch(`http://${admin}/config/apps/http/servers`)).text();
  return [...config.matchAll(/"dial":"([^"]+)"/g)].map((m) => m[1]!);
}

// ---------------------------------------------------------------------------------------------------------------
// The shim itself: it must refuse what it does not know, and what compose v2 does not have
// ---------------------------------------------------------------------------------------------------------------

describe("docker shim", () => {
  let dir: string;
  let compose: string;
  let env: Record<string, string>;
  let admin: http.Server;
  const adminPaths: string[] = [];
  const shim = (...args: string[]) => runCommand(SHIM, args, { env });
  const lastLogLine = () => fs.readFileSync(env.SHIM_LOG!, "utf8").trim().split("\n").at(-1);

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "docker-shim-"));
    compose = renderComposeFile(dir);
    fs.writeFileSync(path.join(dir, "Caddyfile"), ":80 {\n}\n");
    for (const d of ["pgdata", "backups", "state"]) fs.mkdirSync(path.join(dir, d));
    // The proxy container's localhost:2019: a stand-in admin API answering one path.
    admin = http.createServer((req, res) => {
      adminPaths.push(req.url ?? "");
      if (req.url === "/reverse_proxy/upstreams") res.end('[{"address":"10.0.0.1:8000","num_requests":0,"fails":0}]');
      else res.writeHead(404).end("not found");
    });
    await new Promise<void>((resolve) => admin.listen(0, "127.0.0.1", resolve));
    env = {
      SHIM_PGDATA: path.join(dir, "pgdata"),
      SHIM_BACKUPS: path.join(dir, "backups"),
      SHIM_PG_SOCKET_DIR: path.join(dir, "socket"),
      SHIM_PGPORT: "5999",
      SHIM_STATE_DIR: path.join(dir, "state"),
      SHIM_LOG: path.join(dir, "calls.log"),
      SHIM_CADDYFILE: path.join(dir, "Caddyfile"),
      SHIM_CADDY_ADMIN: `127.0.0.1:${(admin.address() as AddressInfo).port}`,
      FOO_PASSED: "passed-through",
      BAR_NOT_PASSED: "must-not-leak",
    };
  });
  afterAll(async () => {
    await new Promise((resolve) => admin.close(resolve));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("passes shellcheck (the docker shim and the proxy service's tools)", async () => {
    const proxyBin = path.join(path.dirname(SHIM), "proxy-bin");
    const r = await runCommand("shellcheck", [SHIM, ...fs.readdirSync(proxyBin).map((f) => path.join(proxyBin, f))]);
    expect(r.stdout + r.stderr).toBe("");
    expect(r.code).toBe(0);
  });

  it.each([
    ["exec --rm (exec has no --rm in compose v2)", ["exec", "--rm", "-T", "postgres", "psql"], /has no --rm/],
    ["stop --time (compose v2 spells it -t/--timeout)", ["stop", "--time", "5", "postgres"], /has no flag --time/],
    [
      "ps --status up (not a documented status)",
      ["ps", "-q", "--status", "up", "postgres"],
      /not one of paused, restarting/,
    ],
    ["exec --no-deps", ["exec", "--no-deps", "-T", "postgres", "true"], /has no --no-deps/],
  ])("rejects a flag compose v2 does not have: %s", async (_label, args, message) => {
    const r = await shim("compose", "-p", "chatbot", "-f", compose, ...args);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(`argv: docker compose -p chatbot -f ${compose} ${args[0]}`);
  });

  it.each([
    [
      "a subcommand it does not emulate",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "restart", "postgres"],
      /subcommand 'restart' is not emulated/,
    ],
    [
      "a service other than postgres/redis/proxy",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "exec", "-T", "app", "true"],
      /service 'app' is not emulated/,
    ],
    [
      "a caddy subcommand other than reload",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "exec", "-T", "proxy", "caddy", "stop"],
      /only 'caddy reload --config \/etc\/caddy\/Caddyfile/,
    ],
    [
      "a reload of another file",
      [
        "compose",
        "-p",
        "chatbot",
        "-f",
        "COMPOSE",
        "exec",
        "-T",
        "proxy",
        "caddy",
        "reload",
        "--config",
        "/etc/caddy/Other",
        "--adapter",
        "caddyfile",
      ],
      /only 'caddy reload/,
    ],
    [
      "a reload with more flags",
      [
        "compose",
        "-p",
        "chatbot",
        "-f",
        "COMPOSE",
        "exec",
        "-T",
        "proxy",
        "caddy",
        "reload",
        "--config",
        "/etc/caddy/Caddyfile",
        "--adapter",
        "caddyfile",
        "--force",
      ],
      /only 'caddy reload/,
    ],
    [
      "another command in the proxy",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "exec", "-T", "proxy", "cat", "/etc/caddy/Caddyfile"],
      /only 'caddy reload' and 'sh -c'/,
    ],
    [
      "exec -u in the proxy",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "exec", "-T", "-u", "root", "proxy", "caddy", "version"],
      /-u in the proxy service/,
    ],
    [
      "exec without -T (compose would want a TTY)",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "exec", "postgres", "true"],
      /exec without -T/,
    ],
    [
      "run without --rm",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "run", "--no-deps", "-T", "postgres", "true"],
      /without --rm/,
    ],
    [
      "another project name",
      ["compose", "-p", "other", "-f", "COMPOSE", "ps", "-q", "--status", "running", "postgres"],
      /project 'other'/,
    ],
    ["stop without -t", ["compose", "-p", "chatbot", "-f", "COMPOSE", "stop", "postgres"], /stop without -t N/],
    ["docker stats", ["stats", "--no-stream"], /docker stats is not emulated/],
    [
      "a redis-cli that names its own server",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "exec", "-T", "redis", "redis-cli", "-h", "127.0.0.1", "PING"],
      /redis-cli -h '127.0.0.1': the shim sets/,
    ],
    [
      "a redis-cli with a port of its own",
      ["compose", "-p", "chatbot", "-f", "COMPOSE", "exec", "-T", "redis", "redis-cli", "-p", "6380", "PING"],
      /redis-cli -p without -h/,
    ],
  ])("fails loudly (125) on %s, and logs it", async (_label, args, message) => {
    const r = await shim(...args.map((a) => (a === "COMPOSE" ? compose : a)));
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(message);
    const log = fs.readFileSync(env.SHIM_LOG!, "utf8").trim().split("\n");
    expect(log.at(-1)).toMatch(/^UNSUPPORTED docker /);
  });

  it("proxy sh -c: wget -qO- http://localhost:2019/<path> reads the droplet Caddy's admin API; other wget forms and curl refused", async () => {
    const dcProxy = [
      "compose",
      "-p",
      "chatbot",
      "--project-directory",
      dir,
      "-f",
      compose,
      "exec",
      "-T",
      "proxy",
      "sh",
      "-c",
    ];
    const ok = await shim(
      ...dcProxy,
      'wget -qO- http://localhost:2019/reverse_proxy/upstreams && echo " $1"',
      "sh",
      "arg1",
    );
    expect(ok.stderr).toBe("");
    expect({ code: ok.code, stdout: ok.stdout, paths: adminPaths.splice(0) }).toEqual({
      code: 0,
      stdout: '[{"address":"10.0.0.1:8000","num_requests":0,"fails":0}] arg1\n',
      paths: ["/reverse_proxy/upstreams"],
    });
    const log = fs.readFileSync(env.SHIM_LOG!, "utf8").trim().split("\n");
    expect(log.at(-2)).toMatch(
      new RegExp(
        `^docker compose -p chatbot --project-directory ${dir} -f ${compose} exec -T proxy sh -c \\S.* sh arg1$`,
      ),
    );
    expect(log.at(-1)).toBe(ADMIN_FETCH);
    // An HTTP error fails like busybox wget (exit 1), so the drain loop's `|| exit 2` sees it.
    const missing = await shim(...dcProxy, "wget -qO- http://localhost:2019/nope", "sh");
    expect({ code: missing.code, paths: adminPaths.splice(0) }).toEqual({ code: 1, paths: ["/nope"] });
    for (const [script, message] of [
      ["wget -q -O - http://localhost:2019/config/", /only wget -qO- http:\/\/localhost:2019/],
      ["wget -qO- http://127.0.0.1:2019/config/", /only wget -qO- http:\/\/localhost:2019/],
      ["wget -qO /tmp/x http://localhost:2019/config/", /only wget -qO-/],
      ["curl -fsS http://localhost:2019/config/", /the caddy image has no curl/],
    ] as const) {
      const r = await shim(...dcProxy, script, "sh");
      expect({ script, code: r.code }).toEqual({ script, code: 125 });
      expect(r.stderr).toMatch(message);
      expect(lastLogLine()).toMatch(/^UNSUPPORTED (wget|curl) /);
    }
    expect(adminPaths).toEqual([]);
  });

  it("proxy: refuses a Caddyfile other than the project directory's (compose mounts ./Caddyfile) and sh without -c", async () => {
    const other = fs.mkdtempSync(path.join(dir, "other-"));
    const moved = await shim(
      "compose",
      "-p",
      "chatbot",
      "--project-directory",
      other,
      "-f",
      compose,
      "exec",
      "-T",
      "proxy",
      "sh",
      "-c",
      "true",
    );
    expect(moved.code).toBe(125);
    expect(moved.stderr).toMatch(
      /is .*other-.*\/Caddyfile \(\.\/Caddyfile in the project directory\), not SHIM_CADDYFILE=/,
    );
    const noMount = path.join(dir, "no-mount.yaml");
    fs.writeFileSync(
      noMount,
      fs.readFileSync(compose, "utf8").replace("./Caddyfile:/etc/caddy/Caddyfile", "./Caddyfile:/srv/Caddyfile"),
    );
    const r = await shim(
      "compose",
      "-p",
      "chatbot",
      "-f",
      noMount,
      "exec",
      "-T",
      "proxy",
      "caddy",
      "reload",
      "--config",
      "/etc/caddy/Caddyfile",
      "--adapter",
      "caddyfile",
    );
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/does not mount \.\/Caddyfile at \/etc\/caddy\/Caddyfile/);
    const noC = await shim("compose", "-p", "chatbot", "-f", compose, "exec", "-T", "proxy", "sh", "/tmp/script.sh");
    expect(noC.code).toBe(125);
    expect(noC.stderr).toMatch(/only 'sh -c SCRIPT/);
    expect(lastLogLine()).toMatch(/^UNSUPPORTED docker /);
  });

  it("refuses a service the compose file does not define", async () => {
    const partial = path.join(dir, "no-redis.yaml");
    fs.writeFileSync(partial, fs.readFileSync(compose, "utf8").replace(/^ {2}redis:$/m, "  cache:"));
    const r = await shim("compose", "-p", "chatbot", "-f", partial, "exec", "-T", "redis", "redis-cli", "PING");
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(/not defined in/);
  });

  it("a missing compose file fails like compose (no silent pass)", async () => {
    const r = await shim(
      "compose",
      "-p",
      "chatbot",
      "-f",
      path.join(dir, "nope.yaml"),
      "ps",
      "-q",
      "--status",
      "running",
      "postgres",
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no such file/);
  });

  it("rewrites container paths to host paths, passes only the -e variables, and logs the argv", async () => {
    const r = await shim(
      "compose",
      "-p",
      "chatbot",
      "-f",
      compose,
      "run",
      "--rm",
      "--no-deps",
      "-T",
      "-e",
      "FOO_PASSED",
      "-e",
      "UNSET_VAR",
      "postgres",
      "bash",
      "-c",
      'echo "$1 $2 $3"; echo "foo=${FOO_PASSED:-} bar=${BAR_NOT_PASSED:-} unset=${UNSET_VAR-none} pgdata=$PGDATA pghost=$PGHOST pgport=$PGPORT"',
      "x",
      "/var/lib/postgresql/data/pg_wal",
      "--file=/backups/a.dump",
      "/backupsX",
    );
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const [paths, vars] = r.stdout.trim().split("\n");
    expect(paths).toBe(`${env.SHIM_PGDATA}/pg_wal --file=${env.SHIM_BACKUPS}/a.dump /backupsX`);
    expect(vars).toBe(
      `foo=passed-through bar= unset=none pgdata=${env.SHIM_PGDATA} pghost=${env.SHIM_PG_SOCKET_DIR} pgport=5999`,
    );
    const log = fs.readFileSync(env.SHIM_LOG!, "utf8").trim().split("\n");
    expect(log.at(-1)).toContain(
      `docker compose -p chatbot -f ${compose} run --rm --no-deps -T -e FOO_PASSED -e UNSET_VAR postgres bash -c`,
    );
    expect(log.at(-1)).toContain("/var/lib/postgresql/data/pg_wal"); // the log holds what the script wrote, untranslated
  });

  it("exec into a stopped postgres fails like compose (service not running)", async () => {
    const r = await shim(
      "compose",
      "-p",
      "chatbot",
      "-f",
      compose,
      "exec",
      "-T",
      "-u",
      "postgres",
      "postgres",
      "psql",
      "-c",
      "SELECT 1",
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/service "postgres" is not running/);
    const ps = await shim("compose", "-p", "chatbot", "-f", compose, "ps", "-q", "--status", "running", "postgres");
    expect(ps.code).toBe(0);
    expect(ps.stdout).toBe("");
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Tier migration in container mode
// ---------------------------------------------------------------------------------------------------------------

describe("tier migration, container runtime (docker shim)", () => {
  it(
    "replicate under load: nothing acknowledged is lost, through the exact compose commands",
    { timeout: TIMEOUT },
    () =>
      withContainerHarness(async (c) => {
        const { h } = c;
        const steps = stepValues();
        const { result: report, records } = await h.withLoad(() => h.migrate({ strategy: "auto", wrap: steps.wrap }));
        const { aborted, committed, countProblems, ok } = report;
        expect({ aborted, strategy: report.strategy?.strategy, committed, countProblems, ok }).toEqual({
          aborted: undefined,
          strategy: "replicate",
          committed: true,
          countProblems: [],
          ok: true,
        });
        expect(report.backupFile && fs.statSync(report.backupFile).size).toBeGreaterThan(0);
        expect(h.serving()).toBe(h.next);
        await expectNothingLost(h, records, 50);
        // The journal and locks live on the host (the data volume), not in a container: done, and no lock left.
        expect({
          journal: readJournal(h.old)?.outcome,
          old: migrationFiles(h.old),
          next: migrationFiles(h.next),
        }).toEqual({
          journal: "done",
          old: ["journal.json"],
          next: [],
        });

        // Old side: fenced through compose (stop with the long timeout); the shutdown checkpoint is read from the
        // host's pg_control, so no one-off container starts in the write gap. The follow step after the commit point
        // runs pg_controldata in one.
        const oldCalls = c.old.calls();
        const controldata = `${dc(c.old)} run --rm --no-deps -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres pg_controldata /var/lib/postgresql/data`;
        const fenceStop = oldCalls.indexOf(`${dc(c.old)} stop -t 300 postgres`);
        expect(fenceStop).toBeGreaterThanOrEqual(0);
        expect(oldCalls.slice(fenceStop).filter((l) => l === controldata)).toHaveLength(1);
        // Redis: the old one paused its writes in the fence and, once the new one had taken over, follows it (both
        // through its container's redis-cli, the commands on stdin); no FAILOVER was needed.
        expect(oldCalls.filter((l) => l.includes(" FAILOVER "))).toEqual([]);
        expect(await h.old.redis.cli("INFO", "replication")).toMatch(
          new RegExp(
            `role:slave\\s+master_host:${h.next.host}\\s+master_port:${h.next.redis.port}\\s+master_link_status:up`,
          ),
        );
        // After the commit point it follows the new server: checked offline (pg_waldump in a one-off container),
        // started again through compose as a standby (standby.signal kept).
        expect(oldCalls).toContain(
          `${dc(c.old)} run --rm --no-deps -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres pg_waldump -p /var/lib/postgresql/data/pg_wal -t 1 -s ${readJournal(h.old)?.fenceLsn}`,
        );
        expect(oldCalls).toContain(`${dc(c.old)} start postgres`);
        expect(fs.existsSync(path.join(h.old.pg.dataDir, "standby.signal"))).toBe(true);
        expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("t");

        // New side: stop, base backup into the container's data path, compose start.
        const newCalls = c.next.calls();
        const at = (line: string) => newCalls.findIndex((l) => l.startsWith(line));
        const stop = at(`${dc(c.next)} stop -t 300 postgres`);
        // The old server's certificate, where pg_trust wrote it (the path as the server sees it: the shim's host path);
        // the shim logs arguments shell-quoted (the space in -d's value).
        const peerCa = fs.readFileSync(path.join(h.next.pgTlsDir, "peer-ca-path"), "utf8").trim();
        expect(peerCa).toMatch(new RegExp(`^${h.next.pgTlsDir}/peer-[0-9A-F]{16}\\.crt$`));
        const basebackup = at(
          `${dc(c.next)} run --rm --no-deps -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres pg_basebackup -d sslmode=verify-ca\\ sslrootcert=${peerCa} -h ${h.old.host} -p ${h.old.pg.port} -U replicator -D /var/lib/postgresql/data -R -X stream -c fast -C -S chatbot_migration`,
        );
        const start = at(`${dc(c.next)} start postgres`);
        expect(
          [stop >= 0, basebackup > stop, start > basebackup],
          newCalls.filter((l) => l.includes("pg_basebackup")).join("\n"),
        ).toEqual([true, true, true]);
        expect(newCalls.filter((l) => /UNSUPPORTED|NOT-RUNNING|KILLED/.test(l))).toEqual([]);
        expect(oldCalls.filter((l) => /UNSUPPORTED|NOT-RUNNING|KILLED/.test(l))).toEqual([]);
        expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
        expect(await h.next.redis.cli("ROLE")).toMatch(/^master/);
        // The new Redis took over by itself (its offset checked first) through its own container's redis-cli.
        const redisCli = `${dc(c.next)} exec -T -e REDISCLI_AUTH redis redis-cli --tls --cacert /usr/local/etc/redis/tls/server.crt`;
        expect(at(`${redisCli} REPLICAOF NO ONE`)).toBeGreaterThan(at(`${redisCli} INFO replication`));

        // The proxy steps, through the proxy service. Old: the hold's reload, the drain (its wget read the admin API),
        // then the fence's stop. New: the gate closes before the copy and opens after the promotion's start.
        const oldReloads = indexes(oldCalls, (l) => l === reload(c.old));
        const drains = indexes(oldCalls, isDrain(c.old, h.old));
        const fetches = indexes(oldCalls, (l) => l === ADMIN_FETCH);
        const fence = oldCalls.indexOf(`${dc(c.old)} stop -t 300 postgres`);
        expect({ reloads: oldReloads.length, drains: drains.length, fetched: fetches.length > 0 }).toEqual({
          reloads: 1,
          drains: 1,
          fetched: true,
        });
        expect([oldReloads[0]! < drains[0]!, drains[0]! < fetches[0]!, fetches.at(-1)! < fence]).toEqual([
          true,
          true,
          true,
        ]);
        const newReloads = indexes(newCalls, (l) => l === reload(c.next));
        expect(newReloads.length).toBe(2);
        expect([newReloads[0]! < stop, newReloads[1]! > start]).toEqual([true, true]);
        expect(steps.values.get("old:fence")).toMatchObject({
          upstream: `${h.next.host}:${INTERNAL_PORT}`,
          drained: "1",
          reload_ms: expect.stringMatching(/^\d+$/),
        });
        expect(steps.values.get("new:gate_close")).toMatchObject({ changed: "1", gate: "close" });
        expect(steps.values.get("new:promote")).toMatchObject({ gate: "open" });
        // What the reloads applied is what the Caddys run: the old one forwards to the new one's internal listener.
        expect(await runningDials(h.old.caddy.admin)).toContain(`${h.next.host}:${INTERNAL_PORT}`);
        expect(fs.readFileSync(h.next.caddy.caddyfile, "utf8")).not.toMatch(/#gate-closed#/);
        expectNoSecrets(c);
      }),
  );

  it(
    "dump-restore under load: pg_dump -Fd into /backups and pg_restore inside the container, nothing lost",
    { timeout: TIMEOUT },
    () =>
      withContainerHarness(async (c) => {
        const { h } = c;
        const { result: report, records } = await h.withLoad(() =>
          h.migrate({ strategy: "dump-restore", skipBackup: true }),
        );
        expect({ aborted: report.aborted, ok: report.ok }).toEqual({ aborted: undefined, ok: true });
        await expectNothingLost(h, records, 50);
        // After the commit, the old proxy forwards to the new droplet (hold: reload, then the drain); the new one's
        // gate never closed.
        const oldCalls = c.old.calls();
        const [oldReload, drain] = [oldCalls.indexOf(reload(c.old)), oldCalls.findIndex(isDrain(c.old, h.old))];
        expect([oldReload >= 0, drain > oldReload, oldCalls.includes(ADMIN_FETCH)]).toEqual([true, true, true]);
        expect(await runningDials(h.old.caddy.admin)).toContain(`${h.next.host}:${INTERNAL_PORT}`);
        const calls = c.next.calls();
        expect(calls.filter((l) => l.startsWith(inProxy(c.next)))).toEqual([]);
        expect([...oldCalls, ...calls].filter((l) => /UNSUPPORTED|NOT-RUNNING|KILLED/.test(l))).toEqual([]);
        // The dump checks the old server's certificate, handed over by the runner (pg_trust) before it.
        const peerCa = fs.readFileSync(path.join(h.next.pgTlsDir, "peer-ca-path"), "utf8").trim();
        expect(
          calls.some((l) =>
            l.startsWith(
              `${dc(c.next)} exec -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres pg_dump -h ${h.old.host} -p ${h.old.pg.port} -U postgres -d dbname=chatbot\\ sslmode=verify-ca\\ sslrootcert=${peerCa} -Fd -j 2 -Z 0 -f /backups/migrate-in-`,
            ),
          ),
        ).toBe(true);
        expect(
          calls.some((l) =>
            /^docker compose .* exec -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres pg_restore -U postgres -d chatbot -j 2 \/backups\/migrate-in-/.test(
              l,
            ),
          ),
        ).toBe(true);
        expectNoSecrets(c);
      }),
  );

  it(
    "fault after the fence: rolls back through compose start, the old server serves, a second run completes",
    { timeout: TIMEOUT },
    () =>
      withContainerHarness(async (c) => {
        const { h } = c;
        const { result, records } = await h.withLoad(async () => {
          const first = await h.migrate({
            strategy: "replicate",
            skipBackup: true,
            wrap: (exec) => failAfter(exec, FAULT_POINTS.replicate.fence),
          });
          const servingAfterFault = h.serving();
          const probe = await h.request("POST", "/write/probe-fence", 5000);
          const second = await h.migrate({ strategy: "replicate", skipBackup: true });
          return { first, second, servingAfterFault, probe };
        });
        const { first, second, servingAfterFault, probe } = result;
        expect(first.aborted).toMatch(/fault injected after fence/);
        expect({
          committed: first.committed,
          rolledBack: first.rolledBack,
          probe: probe.status,
          secondOk: second.ok,
        }).toEqual({
          committed: false,
          rolledBack: true,
          probe: 200,
          secondOk: true,
        });
        expect({ afterFault: servingAfterFault.name, atEnd: h.serving().name }).toEqual({
          afterFault: "old",
          atEnd: "new",
        });
        await expectNothingLost(h, records, 1);
        expect(await h.next.pg.psql("SELECT count(*) FROM writes WHERE id = 'probe-fence'", "chatbot")).toBe("1");
        // The rollback restarted the fenced old server with `compose start`, between the two fences; after the second
        // run's commit the follow step started it again, as a standby of the new one.
        const oldCalls = c.old.calls();
        const stops = oldCalls.flatMap((l, i) => (l === `${dc(c.old)} stop -t 300 postgres` ? [i] : []));
        const starts = oldCalls.flatMap((l, i) => (l === `${dc(c.old)} start postgres` ? [i] : []));
        expect(stops.length).toBe(2);
        expect(starts.length).toBe(2);
        expect(starts[0]! > stops[0]! && starts[0]! < stops[1]!).toBe(true);
        expect(starts[1]! > stops[1]!).toBe(true);
        expect(await h.old.pg.psql("SELECT pg_is_in_recovery()")).toBe("t");
        // The proxy through the proxy service: old, hold (reload + drain) before each fence and the rollback's
        // `local` reload between them; new, gate close / bounce, open (rollback) / close / open (promotion). The bounce
        // sends the held requests back to the old droplet's internal listener before the old proxy's `local` reload.
        const oldReloads = indexes(oldCalls, (l) => l === reload(c.old));
        const drains = indexes(oldCalls, isDrain(c.old, h.old));
        expect({ reloads: oldReloads.length, drains: drains.length }).toEqual({ reloads: 3, drains: 2 });
        expect([
          oldReloads[0]! < stops[0]!,
          oldReloads[1]! > stops[0]! && oldReloads[1]! < oldReloads[2]!,
          drains[1]! < stops[1]!,
        ]).toEqual([true, true, true]);
        expect(indexes(c.next.calls(), (l) => l === reload(c.next)).length).toBe(5);
        expect(fs.readFileSync(h.next.caddy.caddyfile, "utf8")).not.toContain("gate bounce");
        expect([...oldCalls, ...c.next.calls()].filter((l) => /UNSUPPORTED|NOT-RUNNING|KILLED/.test(l))).toEqual([]);
        expectNoSecrets(c);
      }),
  );
});

// ---------------------------------------------------------------------------------------------------------------
// Day-2 jobs in container mode: backup, restore drill (scratch `docker run`), vacuum, collect
// ---------------------------------------------------------------------------------------------------------------

describe("day-2 jobs, container runtime (docker shim)", () => {
  let c: ContainerHarness;
  const ssh = (d: HarnessDroplet, cd: ContainerDroplet, text: string, args: string[] = []) => {
    const cmd = remoteBash({ target: d.ssh.target, sshArgs: d.ssh.sshArgs, env: cd.env }, args, text);
    return runCommand(cmd.cmd, cmd.args, { input: cmd.input, timeoutMs: 120_000 });
  };

  beforeAll(async () => {
    const h = await startHarness();
    c = containers(h);
    await h.old.pg.psql(
      `INSERT INTO writes (id) SELECT 'seed-' || g FROM generate_series(1, 1234) g;
       CREATE TABLE notes (id serial PRIMARY KEY, body text);
       INSERT INTO notes (body) SELECT repeat('n', 50) FROM generate_series(1, 321);
       DELETE FROM notes WHERE id % 3 = 0;`,
      "chatbot",
    );
  }, 120_000);

  afterAll(async () => {
    if (!c) return;
    await c.h.stop();
  });

  it("backup.sh: pg_dump inside the container to /backups, listed back, checksummed", {
    timeout: TIMEOUT,
  }, async () => {
    const r = await ssh(c.h.old, c.old, `${script("backup-common.sh")}\n${script("backup.sh")}`);
    expect(r.code, r.stderr).toBe(0);
    const v = parseValues(r.stdout);
    const file = v.backup!;
    expect(path.dirname(file)).toBe(c.h.old.backupDir);
    expect(Number(v.bytes)).toBe(fs.statSync(file).size);
    const name = path.basename(file);
    const calls = c.old.calls();
    expect(calls).toContain(
      `${dc(c.old)} exec -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres pg_dump -U postgres -Fc -d chatbot -f /backups/${name}.partial`,
    );
    expect(calls).toContain(`${dc(c.old)} exec -T -u postgres postgres pg_restore --list /backups/${name}.partial`);
    expect(fs.readdirSync(c.h.old.backupDir).filter((f) => f.endsWith(".partial"))).toEqual([]);
    expectNoSecrets(c);
  });

  it("restore-drill.sh: restores the latest backup into a scratch container and every count matches", {
    timeout: TIMEOUT,
  }, async () => {
    const cmd = drillCommand(
      { target: c.h.old.ssh.target, sshArgs: c.h.old.ssh.sshArgs, env: c.old.env },
      script("backup-common.sh"),
      script("restore-drill.sh"),
    );
    const r = await runCommand(cmd.cmd, cmd.args, { input: cmd.input, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const report = judgeDrill(r.stdout);
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    const byTable = Object.fromEntries(report.tables.map((t) => [t.table, t.restored]));
    expect(byTable["public.writes"]).toBe(1234);
    expect(byTable["public.notes"]).toBe(321 - 107);
    const calls = c.old.calls();
    expect(
      calls.some((l) =>
        /^docker run -d --rm --name chatbot-restore-drill-\d+ --network none -v .*:\/backups:ro -e POSTGRES_HOST_AUTH_METHOD=trust -e POSTGRES_DB=drill postgres:15-bookworm$/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(
      calls.some((l) =>
        /^docker exec -i -u postgres chatbot-restore-drill-\d+ pg_restore -U postgres -d drill .* \/backups\/chatbot-.*\.dump$/.test(
          l,
        ),
      ),
    ).toBe(true);
    expect(calls.some((l) => /^docker rm -f chatbot-restore-drill-\d+$/.test(l))).toBe(true);
    // The scratch server is gone (the trap removed it): nothing left to stop.
    expect(stopScratchContainers(path.join(c.old.dir, "state"))).toEqual([]);
  });

  it("vacuum.sh: vacuumdb inside the container; dead tuples go down", { timeout: TIMEOUT }, async () => {
    const r = await ssh(c.h.old, c.old, `${script("backup-common.sh")}\n${script("vacuum.sh")}`);
    expect(r.code, r.stderr).toBe(0);
    const v = parseValues(r.stdout);
    expect(Number(v.dead_tuples_after)).toBeLessThan(Number(v.dead_tuples_before));
    expect(c.old.calls()).toContain(
      `${dc(c.old)} exec -T -u postgres -e PGPASSWORD -e PGCONNECT_TIMEOUT postgres vacuumdb -U postgres --all --analyze --quiet`,
    );
  });

  it("collect.sh: Redis and PostgreSQL sections through compose exec; docker stats is not emulated (empty section)", {
    timeout: TIMEOUT,
  }, async () => {
    const env = {
      ...c.old.env,
      CHATBOT_HEALTH_URL: `http://${c.h.old.host}:${c.h.old.appPort}/health`,
      CHATBOT_CPU_SECONDS: "1",
      CHATBOT_COLLECT_ENV: "/nonexistent",
    };
    const cmd = remoteBash(
      { target: c.h.old.ssh.target, sshArgs: c.h.old.ssh.sshArgs, env },
      ["snapshot"],
      script("collect.sh"),
    );
    const r = await runCommand(cmd.cmd, cmd.args, { input: cmd.input, timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split("\n");
    const section = (name: string) => {
      const from = lines.indexOf(`--- ${name}`);
      expect(from, `section ${name}`).toBeGreaterThanOrEqual(0);
      const to = lines.findIndex((l, i) => i > from && /^(---|===) /.test(l));
      return lines.slice(from + 1, to < 0 ? undefined : to).join("\n");
    };
    expect(section("redis-info")).toMatch(/total_connections_received:\d+/);
    expect(section("pg-cache")).toMatch(/^\d+\t\d+/);
    expect(section("curl")).toMatch(/^200 /);
    expect(section("docker-stats").trim()).toBe("");
    const calls = c.old.calls();
    expect(calls).toContain(
      `${dc(c.old)} exec -T -e REDISCLI_AUTH redis redis-cli --tls --cacert /usr/local/etc/redis/tls/server.crt INFO stats`,
    );
    expect(calls.some((l) => l.startsWith("UNSUPPORTED docker stats --no-stream"))).toBe(true);
  });
});

describe("container mode", () => {
  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
