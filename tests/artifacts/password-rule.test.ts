/**
 * The password rule (infra/config.ts, PASSWORD_KEYS) through the renderers to the real consumers of what they write:
 * a password the config accepts renders an app.env that docker-compose reads back to the same value, and that
 * backup-common.sh's reader hands to PGPASSWORD unchanged, and a Redis include that a real redis-server starts with
 * and that AUTH with the same string passes. The negative controls: a password the rule refuses, written into the same
 * files, is changed by compose or refused or changed by Redis, so the rule guards something real.
 */
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../infra/config";
import { planStack } from "../../infra/plan";
import { renderAppEnv } from "../../infra/render/app-env";
import { REDIS_AUTH_INCLUDE, REDIS_TLS_DIR, renderRedisAuth } from "../../infra/render/redis-conf";
import { composeEnvironment } from "../support/compose";
import { SAMPLE_VALUES } from "../support/sample-config";
import { makeTempDir, makeTlsCert, run, startRedis } from "../support/servers";

const SCRIPTS = join(__dirname, "..", "..", "scripts", "droplet");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = makeTempDir("password-rule");
  dirs.push(d);
  return d;
};

const plan = planStack(parseConfig({ values: SAMPLE_VALUES, secretKeys: new Set() }, { stack: "dev" }));
const rendered = (path: string) => plan.active!.configFiles.find((f) => f.path === path)!.content;

/** The problems config reports for these passwords (set as secrets, decrypted as `pulumi up` has them). */
function passwordIssues(passwords: { postgresPassword?: string; redisPassword?: string }) {
  const keys = Object.keys(passwords);
  try {
    parseConfig(
      {
        values: { ...SAMPLE_VALUES, ...Object.fromEntries(keys.map((k) => [k, "[secret]"])) },
        secretKeys: new Set(keys),
        passwords,
      },
      { stack: "dev" },
    );
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  return [];
}

/** The rendered app.env with this password for PostgreSQL and Redis. */
const renderedAppEnv = (password: string) =>
  renderAppEnv(
    {
      postgresPassword: password,
      appDbPassword: "a".repeat(32),
      replicationPassword: "r".repeat(32),
      redisPassword: password,
    },
    8090,
  );

/** A directory with app.env, the rendered compose.yaml and the .env compose interpolates it with, for docker-compose. */
function composeProject(appEnv: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, "app.env"), appEnv);
  writeFileSync(join(dir, "compose.yaml"), rendered("compose.yaml"));
  writeFileSync(join(dir, ".env"), "CHATBOT_PRIVATE_IP=10.10.0.5\n");
  return dir;
}

/** redis.conf as rendered, with the secret include inlined (redis parses an included file's lines the same way). */
/**
 * redis-server with the rendered redis.conf, the auth include replaced by `authLines` and its TLS files made by the
 * droplet's certificate script; `cli` runs redis-cli over TLS against it with REDISCLI_AUTH.
 */
async function startRenderedRedis(authLines: string, name: string) {
  const conf = rendered("redis.conf");
  expect(conf).toContain(`include ${REDIS_AUTH_INCLUDE}\n`);
  const base = makeTempDir(name, "redis");
  dirs.push(base);
  const tls = join(base, "tls");
  await makeTlsCert(tls, "redis", "redis");
  const caFile = join(tls, "server.crt");
  const redis = await startRedis({
    host: "127.0.0.2",
    conf: conf
      .replace("dir /data\n", "")
      .replace(`include ${REDIS_AUTH_INCLUDE}`, authLines.trim())
      .replaceAll(`${REDIS_TLS_DIR}/`, `${tls}/`),
    name,
    tls: { caFile },
  });
  const cli = (auth: string, ...args: string[]) =>
    spawnSync("redis-cli", ["--tls", "--cacert", caFile, "-h", redis.host, "-p", String(redis.port), ...args], {
      encoding: "utf8",
      env: { ...process.env, REDISCLI_AUTH: auth },
    });
  return { redis, cli };
}

const PUNCTUATION = "!%&()*+,-./:;<=>?@[]^_{|}~";
const ACCEPTED: [string, string][] = [
  ["every allowed punctuation mark", `Aa0${PUNCTUATION}`],
  ["= at the start, inside and at the end", "=starts=with=equals="],
  ["a dash first and brackets", "-[secret]-but-longer-"],
  ["32 letters and digits, like a generated one", "Q7fJ2kLmN9pR4sT6vW8xY0zA1bC3dE5g"],
];

describe.each(ACCEPTED)("a password config accepts: %s", (_what, password) => {
  it("config accepts it for both keys", () => {
    expect(passwordIssues({ postgresPassword: password, redisPassword: password })).toEqual([]);
  });

  it("docker-compose reads the rendered app.env back to the same value, for PostgreSQL and the app", () => {
    const dir = composeProject(renderedAppEnv(password));
    const r = spawnSync("docker-compose", ["-f", "compose.yaml", "--project-directory", ".", "config"], {
      cwd: dir,
      encoding: "utf8",
    });
    expect(r.status, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`).not.toMatch(/variable is not set|Invalid interpolation|WARNING/);
    expect(composeEnvironment(dir, "postgres")).toMatchObject({
      POSTGRES_PASSWORD: password,
      REDIS_PASSWORD: password,
    });
    expect(composeEnvironment(dir, "app")).toMatchObject({ POSTGRES_PASSWORD: password, REDIS_PASSWORD: password });
  });

  it("backup-common.sh reads the rendered app.env and hands PostgreSQL the same value", async () => {
    const dir = composeProject(renderedAppEnv(password));
    const out = await run(
      "bash",
      ["-c", `. '${join(SCRIPTS, "backup-common.sh")}' && load_env && printf '%s' "$PGPASSWORD"`],
      {
        env: { PATH: process.env.PATH!, CHATBOT_ENV_FILE: join(dir, "app.env") },
      },
    );
    expect(out).toBe(password);
  });

  it("redis-server starts with the rendered include, and AUTH with the same string passes (a wrong one does not)", async () => {
    const { redis, cli: tlsCli } = await startRenderedRedis(renderRedisAuth(password), "password-rule");
    try {
      const cli = (auth: string, ...args: string[]) => tlsCli(auth, ...args).stdout.trim();
      expect(cli(password, "PING")).toBe("PONG");
      expect(cli(password, "CONFIG", "GET", "masterauth")).toBe(`masterauth\n${password}`);
      expect(cli(`${password}x`, "PING")).not.toBe("PONG");
    } finally {
      await redis.stop();
    }
  });
});

describe("passwords the rule refuses, and what their consumers would make of them (negative controls)", () => {
  it.each([
    ["single quotes", "'quoted-password-0123'", "quoted-password-0123"],
    ["a trailing space", "trailing-space-0123 ", "trailing-space-0123"],
    ["a comment after a space", "before-the-comment #after-it-0123", "before-the-comment"],
    ["a variable", "${NOT_SET:-substituted}-password-0123", "substituted-password-0123"],
  ])("one with %s: refused by config, and docker-compose reads it back changed", (_what, password, composeReads) => {
    expect(passwordIssues({ redisPassword: password }).map((i) => i.key)).toEqual(["chatbot:redisPassword"]);
    // Written by hand: the renderer refuses what the rule refuses.
    const dir = composeProject(`POSTGRES_PASSWORD=${password}\nREDIS_PASSWORD=${password}\n`);
    expect(composeEnvironment(dir, "postgres")).toMatchObject({
      POSTGRES_PASSWORD: composeReads,
      REDIS_PASSWORD: composeReads,
    });
  });

  it.each([
    ["a space", "has a space-0123456", "wrong number of arguments"],
    ["a lone quote", `it's-a-password-0123`, "Unbalanced quotes"],
  ])("one with %s: refused by config, and redis-server refuses the include", (_what, password, error) => {
    expect(passwordIssues({ redisPassword: password }).map((i) => i.key)).toEqual(["chatbot:redisPassword"]);
    const dir = tempDir();
    // port 0 and no socket: a config redis-server accepts ends with "not listen anywhere"; one it refuses, before.
    writeFileSync(join(dir, "redis.conf"), `port 0\nsave ""\nrequirepass ${password}\nmasterauth ${password}\n`);
    const r = spawnSync("redis-server", [join(dir, "redis.conf")], { encoding: "utf8", timeout: 10_000 });
    expect(`${r.stdout}${r.stderr}`).toContain(error);
    expect(`${r.stdout}${r.stderr}`).not.toContain("not listen anywhere");
  });

  it("one in double quotes: refused by config, and redis-server starts with a password that is not the configured string", async () => {
    const password = '"double-quoted-0123"';
    expect(passwordIssues({ redisPassword: password }).map((i) => i.key)).toEqual(["chatbot:redisPassword"]);
    expect(() => renderRedisAuth(password)).toThrow(/^redisPassword: holds "\\""; a password may hold only A-Z/);
    const { redis, cli } = await startRenderedRedis(
      `requirepass ${password}\nmasterauth ${password}`,
      "password-rule-quoted",
    );
    try {
      const r = cli(password, "PING");
      expect(`${r.stdout}${r.stderr}`).toMatch(/WRONGPASS|NOAUTH/);
    } finally {
      await redis.stop();
    }
  });
});
