/**
 * The droplet scripts read app.env as data, never as shell: backup-common.sh (for backup.sh, vacuum.sh and the
 * restore drill), collect.sh and logical.sh run for real by bash, in container mode, with a `docker` first on PATH
 * that records the password each call carries in its environment (PGPASSWORD, REDISCLI_AUTH), as `docker compose
 * exec -e VAR` would hand it to the tool. A password that is shell code is never run and reaches the tool as written;
 * the file's other keys are not kept.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { scriptText } from "../../infra/migration/steps";
import { renderTargetEnv } from "../../infra/scale-out-migration/commands";

const SCRIPTS = join(__dirname, "..", "..", "scripts", "droplet");
const TARGET_PASSWORD = "target-password-0123456789";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

let dir: string;
let marker: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "env-as-data-"));
  dirs.push(dir);
  marker = join(dir, "pwned");
  mkdirSync(join(dir, "bin"));
  // One line per call: argv, then PGHOST, PGPASSWORD and REDISCLI_AUTH as the tool would see them (\037 between).
  writeFileSync(
    join(dir, "bin", "docker"),
    [
      "#!/bin/sh",
      `printf '%s\\037%s\\037%s\\037%s\\n' "$*" "\${PGHOST-}" "\${PGPASSWORD-<unset>}" "\${REDISCLI_AUTH-<unset>}" >>'${join(dir, "docker.log")}'`,
      'case "$*" in',
      '  *"SHOW wal_level"*) echo logical ;;',
      "  *' psql '*) echo 0 ;;",
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(join(dir, "bin", "docker"), 0o755);
});

/** Passwords that are shell code, or break `set -a && . app.env`. */
const hostile = (): [string, string][] => [
  ["a command substitution", `$(touch ${marker})`],
  ["a space", "a b"],
  ["a second command", "x;id"],
];

/** app.env with `value` for every password, and lines the scripts must neither keep nor run. */
function writeEnvFile(value: string): string {
  const file = join(dir, "app.env");
  const lines = ["POSTGRES_PASSWORD", "REPLICATION_PASSWORD", "REDIS_PASSWORD"].map((k) => `${k}=${value}`);
  writeFileSync(
    file,
    [
      ...lines,
      `EVIL=$(touch ${marker})`,
      `\`touch ${marker}\``,
      "DATABASE_URL=postgresql://chatbot:pw@postgres:5432/chatbot",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  return file;
}

interface Call {
  argv: string;
  pghost: string;
  pgpassword: string;
  rediscliAuth: string;
}

function run(args: string[], env: Record<string, string>, stdin?: string) {
  const r = spawnSync("bash", args, {
    input: stdin,
    encoding: "utf8",
    env: {
      PATH: `${join(dir, "bin")}:${process.env.PATH}`,
      HOME: dir,
      CHATBOT_COMPOSE_FILE: join(dir, "compose.yaml"),
      ...env,
    },
  });
  const log = existsSync(join(dir, "docker.log")) ? readFileSync(join(dir, "docker.log"), "utf8") : "";
  const calls: Call[] = log
    .split("\n")
    .filter(Boolean)
    .map((l) => {
      const [argv, pghost, pgpassword, rediscliAuth] = l.split("\x1f") as [string, string, string, string];
      return { argv, pghost, pgpassword, rediscliAuth };
    });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls };
}

function expectNothingRan(r: ReturnType<typeof run>) {
  expect(existsSync(marker), "a value of the env file ran as a command").toBe(false);
  expect(r.stderr).not.toMatch(/command not found|syntax error|unexpected/);
  expect(r.stdout).not.toMatch(/uid=\d+/);
}

describe.each(hostile().map(([what]) => what))("a password with %s", (what) => {
  const value = () => hostile().find(([w]) => w === what)![1];

  it("backup-common.sh (vacuum.sh): never run, and PGPASSWORD carries it as written", () => {
    const r = run([join(SCRIPTS, "vacuum.sh")], { CHATBOT_ENV_FILE: writeEnvFile(value()) });
    expect(r.status, r.stderr).toBe(0);
    expectNothingRan(r);
    const pg = r.calls.filter((c) => / exec -T -u postgres -e PGPASSWORD /.test(c.argv));
    expect(pg.map((c) => / -e PGCONNECT_TIMEOUT postgres (\w+) /.exec(c.argv)?.[1])).toEqual([
      "psql",
      "vacuumdb",
      "psql",
    ]);
    for (const c of pg) expect(c.pgpassword).toBe(value());
  });

  it("collect.sh (over ssh, on stdin): never run, and REDISCLI_AUTH carries it as written", () => {
    const r = run(
      ["-s", "--", "snapshot"],
      {
        CHATBOT_ENV_FILE: writeEnvFile(value()),
        CHATBOT_COLLECT_ENV: join(dir, "none.env"),
        CHATBOT_HEALTH_URL: "http://127.0.0.1:9/health",
        CHATBOT_CPU_SECONDS: "1",
        CHATBOT_DF_PATHS: "/",
      },
      readFileSync(join(SCRIPTS, "collect.sh"), "utf8"),
    );
    expect(r.status, r.stderr).toBe(0);
    expectNothingRan(r);
    const redis = r.calls.filter((c) =>
      c.argv.endsWith(
        "exec -T -e REDISCLI_AUTH redis redis-cli --tls --cacert /usr/local/etc/redis/tls/server.crt INFO stats",
      ),
    );
    expect(redis).toHaveLength(1);
    expect(redis[0]!.rediscliAuth).toBe(value());
  });

  it("logical.sh (over ssh, on stdin): never run, and the source sessions' PGPASSWORD carries it as written", () => {
    const target = join(dir, "target.env");
    writeFileSync(
      target,
      renderTargetEnv({
        pg: {
          host: "db.example.invalid",
          port: 25060,
          user: "doadmin",
          password: TARGET_PASSWORD,
          database: "chatbot",
          sslmode: "verify-ca",
          sslrootcert: "/etc/postgresql/tls/managed-pg-ca.crt",
          appUser: "chatbot",
        },
        redis: { host: "cache.example.invalid", port: 25061, user: "default", password: TARGET_PASSWORD, tls: true },
      }),
      { mode: 0o600 },
    );
    const r = run(
      ["-s", "--", "preflight"],
      { CHATBOT_ENV_FILE: writeEnvFile(value()), CHATBOT_TARGET_ENV_FILE: target },
      scriptText("logical"),
    );
    expect(r.status, r.stderr).toBe(0);
    expectNothingRan(r);
    expect(r.stdout).toContain("wal_level=logical\n");
    const source = r.calls.filter((c) => c.pghost === "/var/run/postgresql");
    const targetCalls = r.calls.filter((c) => c.pghost === "db.example.invalid");
    expect(source.length).toBeGreaterThanOrEqual(4);
    // The cluster's two sessions: an earlier run's subscription (print_state), then its version.
    expect(targetCalls).toHaveLength(2);
    for (const c of source) expect(c.pgpassword).toBe(value());
    for (const c of targetCalls) expect(c.pgpassword).toBe(TARGET_PASSWORD);
  });
});

describe("logical.sh's target file", () => {
  it("refuses verify-ca without the cluster's CA file, naming TARGET_PGSSLROOTCERT, before any session", () => {
    const target = join(dir, "target.env");
    const file = renderTargetEnv({
      pg: {
        host: "db.example.invalid",
        port: 25060,
        user: "doadmin",
        password: "p",
        database: "chatbot",
        sslmode: "verify-ca",
        sslrootcert: "/etc/postgresql/tls/managed-pg-ca.crt",
        appUser: "chatbot",
      },
      redis: { host: "cache.example.invalid", port: 25061, user: "default", password: "p", tls: true },
    });
    const run1 = (text: string) => {
      writeFileSync(target, text, { mode: 0o600 });
      rmSync(join(dir, "docker.log"), { force: true });
      return run(
        ["-s", "--", "preflight"],
        { CHATBOT_ENV_FILE: writeEnvFile("pw"), CHATBOT_TARGET_ENV_FILE: target },
        scriptText("logical"),
      );
    };
    const ok = run1(file);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.calls.some((c) => c.argv.includes("-e PGSSLROOTCERT"))).toBe(true);
    const r = run1(file.replace(/^TARGET_PGSSLROOTCERT=.*\n/m, ""));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/ERROR: TARGET_PGSSLROOTCERT is not set: verify-ca needs a CA file/);
    expect(r.calls.filter((c) => c.argv.includes("psql"))).toEqual([]);
  });
});

describe("backup-common.sh's load_env", () => {
  it("keeps POSTGRES_PASSWORD and the Spaces keys as written, and no other key of the file", () => {
    const value = `$(touch ${marker}) a b;id`;
    const file = join(dir, "app.env");
    writeFileSync(
      file,
      // The last line has no newline: it is read all the same.
      [
        `POSTGRES_PASSWORD=${value}`,
        "SPACES_ACCESS_KEY_ID=DO00KEY=ID",
        "DATABASE_URL=postgresql://x",
        "REDIS_PASSWORD=r",
        `EVIL=$(touch ${marker})`,
        "SPACES_SECRET_ACCESS_KEY=se cret/+=",
      ].join("\n"),
      { mode: 0o600 },
    );
    const show =
      'printf "%s\\037" "$PGPASSWORD" "$SPACES_ACCESS_KEY_ID" "$SPACES_SECRET_ACCESS_KEY" "${DATABASE_URL-unset}" "${REDIS_PASSWORD-unset}" "${EVIL-unset}"';
    const r = run(["-c", `. '${join(SCRIPTS, "backup-common.sh")}' && load_env && ${show}`], {
      CHATBOT_ENV_FILE: file,
    });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe("");
    expect(existsSync(marker)).toBe(false);
    expect(r.stdout.split("\x1f").slice(0, -1)).toEqual([value, "DO00KEY=ID", "se cret/+=", "unset", "unset", "unset"]);
  });
});
