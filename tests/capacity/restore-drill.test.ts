/**
 * The day-2 database jobs for real against a real PostgreSQL 15 on the harness's new-droplet address (127.0.0.3, or
 * 127.0.N.3 with HARNESS_NET), reached as the droplet's `postgres` service through the docker shim: backup.sh makes a pg_dump with checksum and retention, vacuum.sh
 * vacuums, and `npm run restore-drill` restores the latest backup over real ssh into a scratch PostgreSQL, checking
 * every table's row count against the dump.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseValues } from "../../infra/migration/commands";
import { postgresShimEnv, renderComposeFile, stopScratchContainers } from "../migration/container-droplet";
import { NEW_HOST } from "../migration/harness";
import {
  makeTempDir,
  osUser,
  PG_BINDIR,
  type PgServer,
  type SshServer,
  run,
  runCommand,
  startPostgres,
  startSshd,
} from "../support/servers";

const HOST = NEW_HOST;
const root = path.join(__dirname, "..", "..");
const script = (name: string) => path.join(root, "scripts", "droplet", name);

let pg: PgServer;
let ssh: SshServer;
let dir: string;
let backupDir: string;
let env: Record<string, string>;

const SEED = { "public.users": 500, "public.messages": 2000, "public.audit_log": 0, "analytics.events": 300 };

async function job(name: string, extra: Record<string, string> = {}) {
  const r = await runCommand("bash", [script(name)], { env: { ...env, ...extra } });
  return { ...r, values: parseValues(r.stdout) };
}

async function drill(...extraArgs: string[]) {
  const args = ["tsx", "scripts/restore-drill.ts", "--host", ssh.target, ...ssh.sshArgs.map((a) => `--ssh-arg=${a}`)];
  for (const [k, v] of Object.entries(env)) args.push("--env", `${k}=${v}`);
  return runCommand("npx", [...args, ...extraArgs], { cwd: root });
}

beforeAll(async () => {
  [pg, ssh] = await Promise.all([
    startPostgres({ host: HOST, name: "day2-pg" }),
    startSshd({ host: HOST, name: "day2-droplet" }),
  ]);
  await pg.psql("CREATE DATABASE chatbot");
  await pg.psql(
    `CREATE TABLE users (id serial PRIMARY KEY, name text);
     INSERT INTO users (name) SELECT 'user ' || g FROM generate_series(1, ${SEED["public.users"]}) g;
     CREATE TABLE messages (id bigserial PRIMARY KEY, user_id int REFERENCES users, body text, at timestamptz DEFAULT now());
     INSERT INTO messages (user_id, body) SELECT 1 + g % 500, repeat('hello ', 20) FROM generate_series(1, ${SEED["public.messages"]}) g;
     CREATE INDEX ON messages (user_id);
     CREATE TABLE audit_log (id int);
     CREATE SCHEMA analytics;
     CREATE TABLE analytics.events (id int, kind text);
     INSERT INTO analytics.events SELECT g, 'k' FROM generate_series(1, ${SEED["analytics.events"]}) g;`,
    "chatbot",
  );
  // The jobs' tools run as postgres in the "container" (the shim): it writes the backups and the scratch servers.
  dir = makeTempDir("day2", "postgres");
  backupDir = path.join(dir, "backups");
  fs.mkdirSync(backupDir);
  fs.mkdirSync(path.join(dir, "state"));
  const who = osUser("postgres");
  if (who) for (const p of [backupDir, path.join(dir, "state")]) fs.chownSync(p, who.uid, who.gid);
  const envFile = path.join(dir, "app.env");
  fs.writeFileSync(envFile, `POSTGRES_PASSWORD=${pg.password}\n`, { mode: 0o600 });
  env = {
    ...postgresShimEnv(pg, backupDir, dir),
    CHATBOT_ENV_FILE: envFile,
    CHATBOT_COMPOSE_FILE: renderComposeFile(dir),
    CHATBOT_BACKUP_DIR: backupDir,
  };
}, 120_000);

afterAll(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe("backup.sh", () => {
  it("writes a pg_dump that reads back, with its checksum", async () => {
    const r = await job("backup.sh");
    expect(r.code, r.stderr).toBe(0);
    const file = r.values.backup!;
    expect(path.basename(file)).toMatch(/^chatbot-\d{8}T\d{6}Z\.dump$/);
    expect(Number(r.values.bytes)).toBe(fs.statSync(file).size);
    expect(r.values.spaces).toBe("skipped");
    const toc = await run(path.join(PG_BINDIR, "pg_restore"), ["--list", file]);
    expect(toc).toMatch(/TABLE DATA public messages/);
    expect(toc).toMatch(/TABLE DATA analytics events/);
    await run("sha256sum", ["-c", `${path.basename(file)}.sha256`], { cwd: backupDir });
    expect(fs.readdirSync(backupDir).filter((f) => f.endsWith(".partial"))).toEqual([]);
  });

  it("keeps BACKUP_KEEP_DAYS of dumps but never fewer than BACKUP_KEEP_MIN", async () => {
    const old = ["20261001T031500Z", "20261002T031500Z", "20261003T031500Z", "20261004T031500Z"].map(
      (t) => `chatbot-${t}.dump`,
    );
    for (const f of old) {
      fs.writeFileSync(path.join(backupDir, f), "old");
      fs.writeFileSync(path.join(backupDir, `${f}.sha256`), "x");
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
      fs.utimesSync(path.join(backupDir, f), tenDaysAgo, tenDaysAgo);
    }
    await new Promise((r) => setTimeout(r, 1100)); // a new second: a new dump name
    const r = await job("backup.sh", { BACKUP_KEEP_DAYS: "7", BACKUP_KEEP_MIN: "3" });
    expect(r.code, r.stderr).toBe(0);
    // Newest first: today's two dumps and the newest old one stay (KEEP_MIN 3); the three older old ones go.
    expect(r.values).toMatchObject({ pruned: "3", kept: "3" });
    const left = fs
      .readdirSync(backupDir)
      .filter((f) => f.endsWith(".dump"))
      .sort();
    expect(left).toHaveLength(3);
    expect(left[0]).toBe("chatbot-20261004T031500Z.dump");
    expect(fs.existsSync(path.join(backupDir, "chatbot-20261001T031500Z.dump.sha256"))).toBe(false);
    fs.rmSync(path.join(backupDir, "chatbot-20261004T031500Z.dump"));
    fs.rmSync(path.join(backupDir, "chatbot-20261004T031500Z.dump.sha256"));
  });

  it("refuses a missing backup directory (volume not mounted)", async () => {
    const r = await job("backup.sh", { CHATBOT_BACKUP_DIR: path.join(dir, "nope") });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/backup directory .*nope does not exist \(is the volume mounted\?\)/);
  });
});

describe("npm run restore-drill", () => {
  it("restores the latest backup into a scratch PostgreSQL and matches every table's rows", async () => {
    // Writes after the backup must not matter: the drill checks the dump, not the live database.
    await pg.psql("INSERT INTO users (name) VALUES ('late')", "chatbot");
    const r = await drill("--json");
    expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.ok).toBe(true);
    expect(report.checksum).toBe("ok");
    expect(
      Object.fromEntries(report.tables.map((t: { table: string; restored: number }) => [t.table, t.restored])),
    ).toEqual(SEED);
    expect(report.restoreSeconds).toBeGreaterThan(0);
    console.log(
      `restore drill: ${report.tables.length} tables, restore ${report.restoreSeconds} s, total ${report.totalSeconds} s`,
    );
    // The scratch server is gone.
    expect(stopScratchContainers(path.join(dir, "state"))).toEqual([]);
    const ps = await run("ps", ["-eo", "args"]);
    expect(ps).not.toMatch(/chatbot-restore-drill\.\w+\/data/);
  });

  it("with --host-key: the droplet's own key runs the drill; another key stops before it runs (exit 3, what to check)", async () => {
    const own = fs.readFileSync(ssh.knownHostsFile, "utf8").trim().split(/\s+/).slice(1, 3).join(" ");
    const ok = await drill("--host-key", own, "--json");
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).not.toMatch(/not pinned/);
    const keyDir = fs.mkdtempSync(path.join(os.tmpdir(), "other-host-key-"));
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(keyDir, "k")]);
    const other = fs.readFileSync(path.join(keyDir, "k.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    fs.rmSync(keyDir, { recursive: true, force: true });
    const before = fs.readdirSync("/tmp").filter((f) => f.startsWith("chatbot-restore-drill."));
    const bad = await drill("--host-key", other);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain(
      `HOST KEY MISMATCH: the droplet ${ssh.target} (${ssh.target}) did not present the host key the stack pinned`,
    );
    expect(bad.stdout).toBe("");
    expect(fs.readdirSync("/tmp").filter((f) => f.startsWith("chatbot-restore-drill."))).toEqual(before);
    const unpinned = await drill("--json");
    expect(unpinned.stderr).toMatch(/its SSH host key is not pinned here: pass --host-key/);
  });

  it("prints a table and the restore time for people", async () => {
    const r = await drill();
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/public\.messages\W+2000\W+2000\W+ok/);
    expect(r.stdout).toMatch(/Restore took \d+\.\d\d s/);
    expect(r.stdout).toContain("Restore drill PASSED.");
  });

  it("fails on a corrupted backup: checksum mismatch (exit 1: the drill ran and says no)", async () => {
    const latest = fs
      .readdirSync(backupDir)
      .filter((f) => f.endsWith(".dump"))
      .sort()
      .pop()!;
    const file = path.join(backupDir, latest);
    const good = fs.readFileSync(file);
    fs.writeFileSync(file, good.subarray(0, Math.floor(good.length / 2)));
    try {
      const r = await drill();
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/checksum of chatbot-.*\.dump does not match/);
      // Without the checksum file, pg_restore itself catches the truncated archive.
      fs.renameSync(`${file}.sha256`, `${file}.sha256.bak`);
      const r2 = await drill();
      expect(r2.code).toBe(1);
      expect(r2.stderr).toMatch(/pg_restore|restore drill on .* failed/);
    } finally {
      fs.writeFileSync(file, good);
      if (fs.existsSync(`${file}.sha256.bak`)) fs.renameSync(`${file}.sha256.bak`, `${file}.sha256`);
    }
    expect(stopScratchContainers(path.join(dir, "state"))).toEqual([]);
  });

  it("fails when there is no backup at all (exit 1)", async () => {
    const empty = path.join(dir, "empty");
    fs.mkdirSync(empty);
    const args = ["tsx", "scripts/restore-drill.ts", "--host", ssh.target, ...ssh.sshArgs.map((a) => `--ssh-arg=${a}`)];
    for (const [k, v] of Object.entries({ ...env, CHATBOT_BACKUP_DIR: empty })) args.push("--env", `${k}=${v}`);
    const r = await runCommand("npx", args, { cwd: root });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/no chatbot-\*\.dump in .*empty: has the backup timer run\?/);
  });
});

describe("vacuum.sh", () => {
  it("vacuums and analyzes: dead tuples go down, last_vacuum is set", async () => {
    await pg.psql(
      `CREATE TABLE churn (id int, pad text) WITH (autovacuum_enabled = false);
       INSERT INTO churn SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g;
       DELETE FROM churn WHERE id % 10 <> 0;
       SELECT pg_stat_force_next_flush();`,
      "chatbot",
    );
    await new Promise((r) => setTimeout(r, 1500));
    const r = await job("vacuum.sh");
    expect(r.code, r.stderr).toBe(0);
    expect(Number(r.values.dead_tuples_before)).toBeGreaterThanOrEqual(18000);
    expect(Number(r.values.dead_tuples_after)).toBeLessThan(Number(r.values.dead_tuples_before) / 10);
    expect(
      await pg.psql(
        "SELECT last_vacuum IS NOT NULL AND last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'churn'",
        "chatbot",
      ),
    ).toBe("t");
  });
});
