/**
 * scripts/droplet/initdb-roles.sh, run for real against PostgreSQL 15, while a sampler reads every process's argv
 * (/proc/<pid>/cmdline, what `ps` shows to every user on the droplet). No password may appear there.
 *
 * The script's psql is held inside its first statement (another session holds an ACCESS EXCLUSIVE lock on
 * pg_authid, which CREATE ROLE needs) until the sampler has seen that psql process: the check cannot pass by
 * sampling too late. The negative control runs the same harness on the argv form (`psql -v app_pw=...`) and must
 * find the password.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeTempDir, PG_BINDIR, type PgServer, runCommand, startPostgres, waitFor } from "../support/servers";

const SCRIPT = join(__dirname, "..", "..", "scripts", "droplet", "initdb-roles.sh");

// The same psql call with the passwords as -v arguments: how the script passed them before (the negative control).
const ARGV_FORM = `#!/usr/bin/env bash
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "\${POSTGRES_USER:-postgres}" --dbname postgres \\
  -v app_pw="$APP_DB_PASSWORD" -v repl_pw="$REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE chatbot LOGIN PASSWORD :'app_pw';
CREATE DATABASE chatbot OWNER chatbot;
CREATE ROLE replicator LOGIN REPLICATION PASSWORD :'repl_pw';
SQL
`;

/** Every process's argv, NUL-separated, as /proc shows it (processes that exit while being read are skipped). */
function allCmdlines(): Map<number, string> {
  const out = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      out.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, "latin1"));
    } catch {
      // gone
    }
  }
  return out;
}

function parentOf(pid: number): number | undefined {
  try {
    // /proc/<pid>/stat: "pid (comm) state ppid ..."; comm may hold spaces, so split after the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, "latin1");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return undefined;
  }
}

interface Sampled {
  code: number;
  stderr: string;
  /** argv lines (NULs shown as spaces) that contained a secret. */
  leaks: string[];
  /** How many times every process's argv was read while the script ran. */
  scans: number;
  /** The script's psql argv, as seen while it was held. */
  psqlArgv: string;
}

let pg: PgServer;
let holder: ChildProcess | undefined;

/** A second session holds pg_authid until released: CREATE ROLE waits for it. */
async function holdAuthCatalog(): Promise<() => Promise<void>> {
  const child = spawn(join(PG_BINDIR, "psql"), ["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", "postgres"], {
    env: { ...process.env, ...pg.env() },
    stdio: ["pipe", "pipe", "pipe"],
  });
  holder = child;
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (out += d));
  child.stdin!.write("BEGIN;\nLOCK TABLE pg_catalog.pg_authid IN ACCESS EXCLUSIVE MODE;\nSELECT 'locked';\n");
  await waitFor("the lock on pg_authid", async () => {
    if (child.exitCode !== null) throw new Error(`lock session exited: ${out}`);
    return out.includes("locked");
  });
  return async () => {
    child.stdin!.end("COMMIT;\n");
    await new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : child.on("close", () => resolve())));
    holder = undefined;
  };
}

/** Run `script` with the two passwords in its environment, reading every process's argv until it exits. */
async function runSampled(script: string, secrets: { app: string; repl: string }, markers: string[]): Promise<Sampled> {
  const release = await holdAuthCatalog();
  const child = spawn("bash", [script], {
    env: {
      ...process.env,
      ...pg.env(),
      PATH: `${PG_BINDIR}:${process.env.PATH}`,
      POSTGRES_USER: "postgres",
      APP_DB_PASSWORD: secrets.app,
      REPLICATION_PASSWORD: secrets.repl,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  child.stdout!.resume();
  const exited = new Promise<number>((resolve) => child.on("close", (code) => resolve(code ?? 1)));
  let done = false;
  void exited.then(() => (done = true));

  const leaks = new Set<string>();
  let scans = 0;
  let psqlArgv = "";
  let released = false;
  const scan = () => {
    scans++;
    for (const [pid, argv] of allCmdlines()) {
      if (markers.some((m) => argv.includes(m))) leaks.add(argv.replaceAll("\0", " ").trim());
      if (!psqlArgv && /(^|\/)psql\0/.test(argv) && parentOf(pid) === child.pid)
        psqlArgv = argv.replaceAll("\0", " ").trim();
    }
  };
  try {
    // Hold the script's psql until it has been seen (and scanned once more), then let it finish, scanning throughout.
    await waitFor(
      "the script's psql (held on pg_authid)",
      async () => {
        scan();
        if (done) throw new Error(`the script exited before its psql was seen: ${stderr}`);
        return psqlArgv !== "";
      },
      30_000,
      5,
    );
    scan();
    await release();
    released = true;
    while (!done) {
      scan();
      await new Promise((r) => setImmediate(r));
    }
  } finally {
    if (!released) await release();
  }
  return { code: await exited, stderr, leaks: [...leaks], scans, psqlArgv };
}

/** Both roles exist and log in with exactly these passwords (and not with another). */
async function loginAs(user: string, password: string): Promise<number> {
  const r = await runCommand(join(PG_BINDIR, "psql"), ["-X", "-At", "-d", "postgres", "-c", "SELECT current_user"], {
    env: { ...pg.env(), PGUSER: user, PGPASSWORD: password },
  });
  return r.code;
}

beforeAll(async () => {
  // Password logins over TCP, so the roles' passwords are really checked.
  pg = await startPostgres({
    host: "127.0.0.2",
    name: "initdb-roles",
    hba: "local all all trust\nhost all all 127.0.0.0/8 scram-sha-256\n",
  });
});

afterAll(async () => {
  holder?.kill("SIGKILL");
  await pg?.stop();
});

async function dropRoles(): Promise<void> {
  await pg.psql("DROP DATABASE IF EXISTS chatbot");
  await pg.psql("DROP ROLE IF EXISTS chatbot");
  await pg.psql("DROP ROLE IF EXISTS replicator");
}

describe("initdb-roles.sh", () => {
  it("creates the roles without any password in any process's argv, with passwords SQL and the shell cannot misread", async () => {
    await dropRoles();
    const appMarker = `app-${randomBytes(6).toString("hex")}`;
    const replMarker = `repl-${randomBytes(6).toString("hex")}`;
    // Quotes, a backslash, psql's :'var' syntax, a semicolon, shell expansions and a newline: taken as data.
    const app = `${appMarker}'; DROP ROLE postgres; -- \\ :'app_pw' $(touch /tmp/pwned) \`id\` "x"`;
    const repl = `${replMarker}\n$HOME %s`;
    const r = await runSampled(SCRIPT, { app, repl }, [appMarker, replMarker]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.psqlArgv).toMatch(/psql/);
    expect(r.scans).toBeGreaterThan(2);
    expect(r.leaks).toEqual([]);
    expect(await loginAs("chatbot", app)).toBe(0);
    expect(await loginAs("replicator", repl)).toBe(0);
    expect(await loginAs("chatbot", appMarker)).not.toBe(0);
    expect(await pg.psql("SELECT rolreplication FROM pg_roles WHERE rolname = 'replicator'")).toBe("t");
    expect(await pg.psql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'chatbot'")).toBe("chatbot");
    expect(await pg.psql("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'", "chatbot")).toBe(
      "1",
    );
  });

  it("negative control: the sampler catches a password passed as psql -v (the form the script used before)", async () => {
    await dropRoles();
    const dir = makeTempDir("initdb-argv");
    const control = join(dir, "argv-form.sh");
    writeFileSync(control, ARGV_FORM, { mode: 0o755 });
    const marker = `leak-${randomBytes(6).toString("hex")}`;
    const r = await runSampled(control, { app: marker, repl: "other" }, [marker]).finally(() =>
      rmSync(dir, { recursive: true, force: true }),
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.leaks.length).toBeGreaterThan(0);
    expect(r.leaks.join("\n")).toMatch(new RegExp(`psql .*app_pw=${marker}`));
  });

  it("refuses to run without the passwords in its environment", async () => {
    const r = await runCommand("bash", [SCRIPT], {
      env: { ...pg.env(), PATH: `${PG_BINDIR}:${process.env.PATH}`, APP_DB_PASSWORD: "", REPLICATION_PASSWORD: "x" },
    });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/APP_DB_PASSWORD is not set/);
  });
});
