/**
 * Issue 12, item 3: private traffic is encrypted. The droplet's own certificate comes from the script the config
 * sync runs on the droplet (scripts/droplet/tls-cert.sh); the real PostgreSQL 15 and redis-server run with the
 * rendered files and that certificate, and refuse clear-text clients. The migration over TLS (replication and the
 * app) is shown in tests/migration/tls.test.ts.
 */
import { createHash } from "node:crypto";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planStack } from "../../infra/plan";
import { renderSecretFiles } from "../../infra/render/files";
import { APP_REDIS_CA } from "../../infra/render/app-env";
import { LAYOUT } from "../../infra/render/layout";
import { POSTGRES_TLS_DIR } from "../../infra/render/postgresql-conf";
import { REDIS_AUTH_INCLUDE, REDIS_TLS_DIR, renderRedisAuth } from "../../infra/render/redis-conf";
import { sampleConfig } from "../support/sample-config";
import { makeTempDir, makeTlsCert, osUser, PG_BINDIR, runCommand, startPostgres, startRedis } from "../support/servers";

/** Not the harness's addresses (127.0.N.2/.3): these tests may run beside a migration test. */
const HOST = "127.0.8.20";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const plan = planStack(sampleConfig({ sshKeys: ["1"], appImage: "ghcr.io/acme/chatbot:1.0.0", alertEmails: [] }));
const rendered = (path: string) => plan.active!.configFiles.find((f) => f.path === path)!.content;
const sha = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

function tlsDir(owner: string): string {
  const base = makeTempDir("private-tls", owner);
  dirs.push(base);
  return join(base, "tls");
}

describe("tls-cert.sh: the droplet's certificate, made on the droplet", () => {
  it("makes a key only its server's user can read and a self-signed certificate, once", async () => {
    const dir = tlsDir("postgres");
    expect(await makeTlsCert(dir, "postgres", "postgres")).toBe("tls_cert=created");
    const who = osUser("postgres");
    const key = statSync(join(dir, "server.key"));
    expect(key.mode & 0o777).toBe(0o600);
    if (who) expect(key).toMatchObject({ uid: who.uid, gid: who.gid });
    expect(statSync(join(dir, "server.crt")).mode & 0o777).toBe(0o644);
    const text = (
      await runCommand("openssl", [
        "x509",
        "-in",
        join(dir, "server.crt"),
        "-noout",
        "-subject",
        "-ext",
        "subjectAltName",
      ])
    ).stdout;
    expect(text).toMatch(/CN ?= ?chatbot-postgres/);
    expect(text).toContain("DNS:postgres");

    // Idempotent: the next `pulumi up` keeps the pair (a new key would restart the server for nothing).
    const before = [sha(join(dir, "server.key")), sha(join(dir, "server.crt"))];
    expect(await makeTlsCert(dir, "postgres", "postgres")).toBe("tls_cert=kept");
    expect([sha(join(dir, "server.key")), sha(join(dir, "server.crt"))]).toEqual(before);
  });

  it("replaces a certificate that does not match its key, and puts a loosened key mode right", async () => {
    const dir = tlsDir("postgres");
    await makeTlsCert(dir, "postgres", "postgres");
    const other = tlsDir("postgres");
    await makeTlsCert(other, "postgres", "postgres");
    writeFileSync(join(dir, "server.crt"), readFileSync(join(other, "server.crt")));
    expect(await makeTlsCert(dir, "postgres", "postgres")).toBe("tls_cert=created");
    expect(await makeTlsCert(dir, "postgres", "postgres")).toBe("tls_cert=kept");

    await runCommand("chmod", ["0644", join(dir, "server.key")]);
    expect(await makeTlsCert(dir, "postgres", "postgres")).toBe("tls_cert=kept");
    expect(statSync(join(dir, "server.key")).mode & 0o777).toBe(0o600);
  });
});

describe("PostgreSQL 15 with the rendered postgresql.conf and pg_hba.conf", () => {
  it("pg_hba.conf: every TCP rule is hostssl, and clear-text TCP is rejected first", () => {
    const rows = rendered("pg_hba.conf")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    expect(rows[0]).toBe("local all all trust");
    expect(rows.slice(1, 5)).toEqual([
      "hostnossl all all 0.0.0.0/0 reject",
      "hostnossl replication all 0.0.0.0/0 reject",
      "hostnossl all all ::/0 reject",
      "hostnossl replication all ::/0 reject",
    ]);
    for (const row of rows.slice(5)) expect(row).toMatch(/^hostssl \S+ \S+ \S+ scram-sha-256$/);
    expect(rows.filter((r) => r.startsWith("hostssl replication replicator"))).toHaveLength(3);
  });

  it("refuses a clear-text (sslmode=disable) connection over TCP, serves sslmode=require over TLS", async () => {
    const dir = tlsDir("postgres");
    await makeTlsCert(dir, "postgres", "postgres");
    // The certificate's path is the container's mount: the same script's output stands in for it.
    const conf = rendered("postgresql.conf").replaceAll(`${POSTGRES_TLS_DIR}/`, `${dir}/`);
    const pg = await startPostgres({ host: HOST, conf, hba: rendered("pg_hba.conf"), name: "private-tls" });
    try {
      expect(await pg.psql("SHOW ssl")).toBe("on");
      const psql = (sslmode: string) =>
        runCommand(
          join(PG_BINDIR, "psql"),
          ["-X", "-At", "-c", "SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
          {
            env: { ...pg.env(), PGSSLMODE: sslmode },
          },
        );
      const clear = await psql("disable");
      expect(clear.code).not.toBe(0);
      expect(clear.stderr).toMatch(/pg_hba\.conf rejects connection .* no encryption/);
      const tls = await psql("require");
      expect(tls.stderr).toBe("");
      expect(tls.stdout.trim()).toMatch(/^t\|TLSv1\.[23]$/);
      // The app's DATABASE_URL asks for TLS itself: a server that would not encrypt is refused by the client too.
      const env = renderSecretFiles(
        {
          postgresPassword: "p".repeat(16),
          appDbPassword: "a".repeat(16),
          replicationPassword: "r".repeat(16),
          redisPassword: "s".repeat(16),
        },
        8090,
      );
      expect(env.find((f) => f.path === "app.env")!.content).toMatch(
        /^DATABASE_URL=postgresql:\/\/chatbot:a+@postgres:5432\/chatbot\?sslmode=require$/m,
      );
    } finally {
      await pg.stop();
    }
  });
});

describe("redis-server with the rendered redis.conf", () => {
  it("has no clear-text port: a plain redis-cli gets no answer, one over TLS checked against the droplet's certificate does", async () => {
    const base = makeTempDir("private-tls-redis", "redis");
    dirs.push(base);
    const dir = join(base, "tls");
    await makeTlsCert(dir, "redis", "redis");
    const conf = rendered("redis.conf")
      .replace("dir /data\n", "")
      .replace(`include ${REDIS_AUTH_INCLUDE}`, renderRedisAuth("p".repeat(16)).trim())
      .replaceAll(`${REDIS_TLS_DIR}/`, `${dir}/`);
    expect(conf).toMatch(/^port 0$/m);
    expect(conf).toMatch(/^tls-port 6379$/m);
    expect(conf).toMatch(/^tls-replication yes$/m);
    const redis = await startRedis({ host: HOST, conf, name: "private-tls", tls: { caFile: join(dir, "server.crt") } });
    try {
      expect(await redis.cli("PING")).toBe("PONG");
      const auth = { REDISCLI_AUTH: "p".repeat(16) };
      const plain = await runCommand("redis-cli", ["-h", HOST, "-p", String(redis.port), "PING"], { env: auth });
      expect(`${plain.stdout}${plain.stderr}`).not.toContain("PONG");
      // A certificate it was not told to trust is refused: the check is real.
      const other = join(tlsDir("redis"), "x");
      await makeTlsCert(other, "redis", "redis");
      const untrusted = await runCommand(
        "redis-cli",
        ["--tls", "--cacert", join(other, "server.crt"), "-h", HOST, "-p", String(redis.port), "PING"],
        { env: auth },
      );
      expect(`${untrusted.stdout}${untrusted.stderr}`).toMatch(/certificate verify failed/i);
    } finally {
      await redis.stop();
    }
  });

  it("the app's REDIS_URL is rediss:// checked against the mounted certificate, the compose file mounts it read-only", () => {
    const env = renderSecretFiles(
      {
        postgresPassword: "p".repeat(16),
        appDbPassword: "a".repeat(16),
        replicationPassword: "r".repeat(16),
        redisPassword: "s".repeat(16),
      },
      8090,
    );
    expect(env.find((f) => f.path === "app.env")!.content).toMatch(
      new RegExp(`^REDIS_URL=rediss://:s{16}@redis:6379/0\\?ssl_ca_certs=${encodeURIComponent(APP_REDIS_CA)}$`, "m"),
    );
    const compose = rendered("compose.yaml");
    expect(compose).toContain(`- ${LAYOUT.redisTls}/server.crt:${APP_REDIS_CA}:ro`);
    expect(compose).toContain(`- ${LAYOUT.redisTls}:${REDIS_TLS_DIR}:ro`);
    expect(compose).toContain(`- ${LAYOUT.postgresTls}:${POSTGRES_TLS_DIR}:ro`);
  });
});
