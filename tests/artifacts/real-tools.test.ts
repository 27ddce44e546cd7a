/**
 * Every rendered artifact, for every tier, checked by its real consumer: cloud-init, docker-compose, caddy,
 * PostgreSQL 15, redis-server and shellcheck (Debian packages that .ci/run installs).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planStack } from "../../infra/plan";
import { renderStageScript } from "../../infra/render/files";
import { POSTGRES_FIXED_SETTINGS, POSTGRES_TLS_DIR } from "../../infra/render/postgresql-conf";
import { REDIS_AUTH_INCLUDE, REDIS_TLS_DIR, renderRedisAuth } from "../../infra/render/redis-conf";
import { TIER_NAMES, type TierName } from "../../infra/tiers";
import { sampleConfig } from "../support/sample-config";
import { makeTlsCert, makeTempDir, startPostgres, startRedis } from "../support/servers";
import { caddyWithMounts } from "../support/caddy";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function planFor(tier: TierName) {
  return planStack(sampleConfig({ tier, appEnv: ["LOG_LEVEL=info"] }));
}

function file(plan: ReturnType<typeof planFor>, path: string): string {
  const f = plan.active!.configFiles.find((x) => x.path === path);
  if (!f) throw new Error(`no ${path}`);
  return f.content;
}

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "artifacts-"));
  dirs.push(d);
  return d;
}

function tool(cmd: string, args: string[], cwd?: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** "512MB" | "13797kB" | "4GB" -> kB */
function kb(v: string): number {
  const m = /^(\d+)(kB|MB|GB)$/.exec(v);
  if (!m) throw new Error(`not a memory value: ${v}`);
  return Number(m[1]) * { kB: 1, MB: 1024, GB: 1048576 }[m[2] as "kB"];
}

describe.each(TIER_NAMES)("artifacts of the %s tier", (tier) => {
  const plan = planFor(tier);

  it("user data passes `cloud-init schema`", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "user-data.yaml"), plan.active!.userData);
    const r = tool("cloud-init", ["schema", "--config-file", join(dir, "user-data.yaml")]);
    expect(r.out).toContain("Valid cloud-config");
    expect(r.status).toBe(0);
  });

  it("compose.yaml passes `docker-compose config` and keeps the planned limits", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "compose.yaml"), file(plan, "compose.yaml"));
    writeFileSync(join(dir, "app.env"), "POSTGRES_PASSWORD=x\n");
    writeFileSync(join(dir, ".env"), "CHATBOT_PRIVATE_IP=10.10.0.5\n");
    const r = tool("docker-compose", ["-f", "compose.yaml", "--project-directory", ".", "config"], dir);
    expect(r.status, r.out).toBe(0);
    const m = plan.active!.tuning.memory;
    // docker-compose prints the resolved file: limits in bytes, ports bound to the private address only.
    for (const [service, mib] of [
      ["postgres", m.postgresMiB],
      ["redis", m.redisMiB],
      ["app", m.appMiB],
      ["proxy", m.proxyMiB],
    ] as const) {
      expect(r.out, service).toMatch(new RegExp(`${service}:[\\s\\S]*?mem_limit: '?${mib}m'?`));
    }
    expect(r.out).toContain("- 10.10.0.5:5432:5432/tcp");
    expect(r.out).toContain("- 10.10.0.5:6379:6379/tcp");
    expect(r.out).not.toMatch(/published: (5432|6379)/);
  });

  it("the Caddyfile passes `caddy validate`", () => {
    const dir = tempDir();
    writeFileSync(join(dir, "Caddyfile"), file(plan, "Caddyfile"));
    const r = caddyWithMounts("validate", join(dir, "Caddyfile"));
    expect(`${r.stdout}${r.stderr}`).toContain("Valid configuration");
    expect(r.status).toBe(0);
  });

  it("PostgreSQL 15 starts with the rendered postgresql.conf and SHOWs the planned values", async () => {
    // The certificate's directory is the container's path: a certificate made by the droplet's script stands in.
    const base = makeTempDir(`tls-${tier}`, "postgres");
    dirs.push(base);
    const tls = join(base, "postgres");
    await makeTlsCert(tls, "postgres", "postgres");
    const conf = file(plan, "postgresql.conf").replaceAll(`${POSTGRES_TLS_DIR}/`, `${tls}/`);
    const pg = await startPostgres({ host: "127.0.0.2", conf, name: `tuning-${tier}` });
    try {
      const rows = await pg.psql("SELECT name, setting, coalesce(unit, '') FROM pg_settings");
      const settings = new Map(
        rows.split("\n").map((l) => {
          const [n, s, u] = l.split("|");
          return [n!, { setting: s!, unit: u! }];
        }),
      );
      const planned = plan.active!.tuning.postgres;
      for (const [name, value] of Object.entries(planned)) {
        const actual = settings.get(name);
        expect(actual, name).toBeDefined();
        if (typeof value === "string") {
          const factor = { "8kB": 8, kB: 1, MB: 1024 }[actual!.unit as "kB"];
          expect(Number(actual!.setting) * factor, name).toBe(kb(value));
        } else {
          expect(Number(actual!.setting), name).toBe(value);
        }
      }
      expect(await pg.psql("SHOW wal_level")).toBe(POSTGRES_FIXED_SETTINGS.wal_level);
      expect(await pg.psql("SHOW shared_preload_libraries")).toBe("pg_stat_statements");
      expect(await pg.psql("SHOW max_connections")).toBe(String(planned.max_connections));
    } finally {
      await pg.stop();
    }
  });

  it("redis-server starts with the rendered redis.conf and CONFIG GET returns the planned values", async () => {
    // Lines that name container paths: the data dir (redis chdirs to it while parsing), the secret include, which
    // is inlined here, and the certificate's directory (a certificate made by the droplet's script stands in).
    // Every other line is as rendered.
    const rendered = file(plan, "redis.conf");
    expect(rendered).toContain("dir /data\n");
    const base = makeTempDir(`redis-tls-${tier}`, "redis");
    dirs.push(base);
    const tls = join(base, "redis");
    await makeTlsCert(tls, "redis", "redis");
    const conf = rendered
      .replace("dir /data\n", "")
      .replace(`include ${REDIS_AUTH_INCLUDE}`, renderRedisAuth("test-password").trim())
      .replaceAll(`${REDIS_TLS_DIR}/`, `${tls}/`);
    const redis = await startRedis({
      host: "127.0.0.2",
      conf,
      name: `tuning-${tier}`,
      tls: { caFile: join(tls, "server.crt") },
    });
    try {
      const mib = Number(/^(\d+)mb$/.exec(plan.active!.tuning.redis.maxmemory)![1]);
      expect(await redis.cli("CONFIG", "GET", "maxmemory")).toBe(`maxmemory\n${mib * 1024 * 1024}`);
      expect(await redis.cli("CONFIG", "GET", "maxmemory-policy")).toBe("maxmemory-policy\nallkeys-lru");
      expect(await redis.cli("CONFIG", "GET", "appendonly")).toBe("appendonly\nno");

      // The compose healthcheck, as the container's shell runs it ($$ unescaped), pointed at this server.
      const compose = file(plan, "compose.yaml");
      const line = /- (REDISCLI_AUTH=.*redis-cli .*ping.*)$/m.exec(compose)![1]!;
      const dir = tempDir();
      writeFileSync(join(dir, "auth.conf"), renderRedisAuth("test-password"));
      const check = (authFile: string) =>
        spawnSync("sh", [
          "-c",
          line
            .replaceAll("$$", "$")
            .replace(REDIS_AUTH_INCLUDE, authFile)
            .replaceAll(`${REDIS_TLS_DIR}/`, `${tls}/`)
            .replace("redis-cli ", `redis-cli -h ${redis.host} -p ${redis.port} `),
        ]).status;
      expect(line).not.toMatch(/ -a /);
      expect(check(join(dir, "auth.conf"))).toBe(0);
      writeFileSync(join(dir, "wrong.conf"), renderRedisAuth("not-the-password"));
      expect(check(join(dir, "wrong.conf"))).not.toBe(0);
    } finally {
      await redis.stop();
    }
  });
});

describe("shell scripts", () => {
  const scripts = execFileSync("git", ["ls-files", "*.sh", ".ci/run"], {
    cwd: join(__dirname, "..", ".."),
    encoding: "utf8",
  })
    .split("\n")
    .filter(Boolean);

  it("there are droplet scripts to check", () => {
    expect(scripts).toContain("scripts/droplet/apply-config.sh");
  });

  it.each(scripts)("%s passes shellcheck", (script) => {
    const r = tool("shellcheck", ["--severity=style", join(__dirname, "..", "..", script)]);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });

  it("the config sync's staged script is valid bash", () => {
    const stage = planFor("4gb").active!.configFiles;
    const dir = tempDir();
    writeFileSync(join(dir, "stage.sh"), renderStageScript(stage));
    expect(tool("bash", ["-n", join(dir, "stage.sh")]).status).toBe(0);
  });
});
