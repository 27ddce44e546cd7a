/**
 * The live collector over real ssh against a harness "droplet" on 127.0.0.2: collect.sh runs there as on a droplet,
 * its `postgres` and `redis` services a real PostgreSQL (pg_stat_statements) and a real Redis (TLS only, password
 * from an env file) through the docker shim, with an HTTP health endpoint; the real free / vmstat / df / ps / curl
 * output it prints is parsed into the checker's input.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { collectLive, spawnRunner } from "../../infra/capacity/live";
import { parseDf, parseFree } from "../../infra/capacity/parsers";
import { SLOW_QUERY_MEAN_MS } from "../../infra/capacity/optimize";
import { buildReport } from "../../infra/capacity/report";
import { remoteBashLine } from "../../infra/migration/remote-bash";
import { renderRedisTls } from "../../infra/render/redis-conf";
import { dropletScript } from "../../infra/render/droplet-scripts";
import { postgresShimEnv, renderComposeFile } from "../migration/container-droplet";
import {
  makeTempDir,
  makeTlsCert,
  type PgServer,
  type RedisServer,
  type SshServer,
  run,
  runCommand,
  startPostgres,
  startRedis,
  startSshd,
} from "../support/servers";

const HOST = "127.0.0.2";
const HEALTH_DELAY_MS = 250;
const REDIS_PASSWORD = "collector-test-redis-pw";

let ssh: SshServer;
let pg: PgServer;
let redis: RedisServer;
let web: http.Server;
let healthUrl: string;
let workDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  workDir = makeTempDir("capacity-live", "postgres");
  fs.chmodSync(workDir, 0o711); // redis reaches its certificate below; nothing here is listed
  // The droplet's Redis is TLS only (its own certificate, by tls-cert.sh as on a droplet).
  const redisTls = path.join(workDir, "tls", "redis");
  await makeTlsCert(redisTls, "redis", "redis");
  [ssh, pg, redis] = await Promise.all([
    startSshd({ host: HOST, name: "capacity-droplet" }),
    startPostgres({ host: HOST, name: "capacity-pg", conf: "shared_preload_libraries = 'pg_stat_statements'\n" }),
    startRedis({
      host: HOST,
      name: "capacity-redis",
      conf: [`requirepass ${REDIS_PASSWORD}`, ...renderRedisTls(redisTls), ""].join("\n"),
      tls: { caFile: path.join(redisTls, "server.crt") },
    }),
  ]);
  web = http.createServer((req, res) => {
    const ok = req.url === "/healthz";
    setTimeout(() => res.writeHead(ok ? 200 : 404).end(ok ? "ok" : "no"), ok ? HEALTH_DELAY_MS : 0);
  });
  await new Promise<void>((resolve) => web.listen(0, HOST, resolve));
  healthUrl = `http://${HOST}:${(web.address() as { port: number }).port}/healthz`;

  await pg.psql("CREATE DATABASE chatbot");
  await pg.psql(
    "CREATE EXTENSION pg_stat_statements; SELECT pg_sleep(0.15); SELECT pg_sleep(0.15); SELECT count(*) FROM pg_class;",
    "chatbot",
  );
  await redis.cli("SET", "hot", "1");
  for (let i = 0; i < 9; i++) await redis.cli("GET", "hot");
  await redis.cli("GET", "cold");

  const envFile = path.join(workDir, "app.env");
  fs.writeFileSync(envFile, `REDIS_PASSWORD=${REDIS_PASSWORD}\nPOSTGRES_PASSWORD=${pg.password}\n`, { mode: 0o600 });
  // The droplet's services through the docker shim; its disk is this machine's root filesystem.
  env = {
    ...postgresShimEnv(pg, path.join(workDir, "backups"), workDir),
    SHIM_REDIS_HOST: HOST,
    SHIM_REDIS_PORT: String(redis.port),
    SHIM_REDIS_TLS_DIR: redisTls,
    CHATBOT_COMPOSE_FILE: renderComposeFile(workDir),
    CHATBOT_ENV_FILE: envFile,
    CHATBOT_HEALTH_URL: healthUrl,
    CHATBOT_METRICS_DIR: path.join(workDir, "metrics"),
    CHATBOT_CPU_SECONDS: "1",
    CHATBOT_DF_PATHS: "/",
  };
  // Two timer runs build the droplet's history, exactly as the chatbot-collect timer would.
  for (let i = 0; i < 2; i++) {
    const r = await ssh.exec(remoteBashLine(env, ["append"]), dropletScript("collect.sh"));
    expect(r.code, r.stderr).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 1100)); // distinct timestamps (1 s resolution)
  }
}, 120_000);

afterAll(async () => {
  await new Promise((resolve) => web?.close(resolve));
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

describe("live collector over ssh", () => {
  it("reads the timer history plus a fresh snapshot, parsed from real tool output", async () => {
    const input = await collectLive(
      { target: ssh.target, sshArgs: ssh.sshArgs, env, tier: "4gb", activeUsers: 300 },
      dropletScript("collect.sh"),
      spawnRunner,
    );
    expect(input.samples).toHaveLength(3);
    const fresh = input.samples[2]!;
    // The health endpoint answers after 250 ms: curl's time_total must show it.
    expect(fresh.responseMs).toBeGreaterThanOrEqual(HEALTH_DELAY_MS);
    expect(fresh.responseMs).toBeLessThan(HEALTH_DELAY_MS + 10_000); // a bound on nonsense, not a timing target
    // Memory and disk agree with this machine's own readings taken now.
    const local = parseFree(await run("free", ["-b"]));
    expect(Math.abs(fresh.memoryPct - local.memoryPct)).toBeLessThan(10);
    const df = parseDf(await run("df", ["-P", "-B1", "/"]));
    expect(Math.abs(fresh.diskPct! - df[0]!.usePct)).toBeLessThanOrEqual(1);
    expect(fresh.cpuPct).toBeGreaterThanOrEqual(0);
    expect(fresh.cpuPct).toBeLessThanOrEqual(100);

    const ev = input.evidence!;
    expect(ev.failedHealthChecks).toBe(0);
    expect(ev.redis).toMatchObject({ keyspaceHits: 9, keyspaceMisses: 1, evictedKeys: 0 });
    expect(ev.postgresCacheHitRatio).toBeGreaterThan(0);
    expect(ev.slowQueries!.find((q) => q.query.includes("pg_sleep"))).toMatchObject({
      calls: 2,
      meanMs: expect.any(Number),
    });
    expect(ev.slowQueries!.find((q) => q.query.includes("pg_sleep"))!.meanMs).toBeGreaterThanOrEqual(150);
    expect(ev.topProcesses!.length).toBeGreaterThan(3);

    const report = buildReport(input);
    expect(report.verdict).toBe("none");
    // Which slow statement ranks first is the machine's business (a CREATE DATABASE under load can outrank the
    // sleeps); what must hold is that the collected sleeps make the check worth doing and are counted in it.
    const slow = report.optimizeFirst.find((f) => f.check === "slow-queries")!;
    expect(slow.worthChecking).toBe(true);
    const counted = Number(/^(\d+) statement\(s\) average above/.exec(slow.evidence)?.[1]);
    expect(counted).toBe(ev.slowQueries!.filter((q) => q.meanMs > SLOW_QUERY_MEAN_MS).length);
    expect(report.optimizeFirst.find((f) => f.check === "cache-hit-rate")!.evidence).toMatch(/Redis hit rate 90%/);
  });

  it("a failing health check is a failure, not a fast answer", async () => {
    const input = await collectLive(
      {
        target: ssh.target,
        sshArgs: ssh.sshArgs,
        env: { ...env, CHATBOT_HEALTH_URL: healthUrl.replace("/healthz", "/missing") },
        historyDays: 0,
        tier: "4gb",
      },
      dropletScript("collect.sh"),
      spawnRunner,
    );
    expect(input.samples[input.samples.length - 1]!.responseMs).toBeUndefined();
    expect(input.evidence!.failedHealthChecks).toBeGreaterThanOrEqual(1);
  });

  it("npm run capacity -- --host prints the verdict for the harness droplet", async () => {
    const args = [
      "tsx",
      "scripts/capacity.ts",
      "--host",
      ssh.target,
      "--tier",
      "8gb",
      "--json",
      "--active-users",
      "4100",
    ];
    for (const a of ssh.sshArgs) args.push(`--ssh-arg=${a}`);
    for (const [k, v] of Object.entries(env)) args.push("--env", `${k}=${v}`);
    const r = await runCommand("npx", args, { cwd: path.join(__dirname, "..", "..") });
    expect(r.code, r.stderr).toBe(0);
    const json = JSON.parse(r.stdout);
    expect(json.verdict).toBe("plan-upgrade");
    expect(json.triggers).toEqual([{ rule: "users-near-tier-band", observed: 4100, threshold: 4000, window: null }]);
    expect(r.stdout).not.toContain(REDIS_PASSWORD);
  });
});
