/**
 * The fence reads the shutdown checkpoint from global/pg_control on the host (scripts/droplet/migrate-common.sh,
 * shutdown_checkpoint) instead of starting a container for pg_controldata inside the write gap. Checked against
 * pg_controldata of a real PostgreSQL 15: the same location after a clean stop, and nothing (so the fence falls back
 * to pg_controldata, which refuses) while the server runs or after a crash.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PG_BINDIR, type PgServer, run, startPostgres } from "../support/processes";
import { stopAll } from "../support/servers";

const COMMON = path.join(__dirname, "../../scripts/droplet/migrate-common.sh");
let pg: PgServer;

beforeAll(async () => {
  pg = await startPostgres({ host: "127.0.0.1", name: "shutdown-checkpoint" });
  await pg.psql("CREATE TABLE t AS SELECT g FROM generate_series(1, 20000) g; CHECKPOINT; INSERT INTO t VALUES (0)");
}, 120_000);
afterAll(stopAll);

/** The function alone, taken from the production file, run with the data directory as the droplet passes it. */
function shutdownCheckpoint(dataDir: string): string {
  const fn = spawnSync(
    "bash",
    ["-c", `source <(sed -n '/^shutdown_checkpoint()/,/^}/p' "$1"); shutdown_checkpoint`, "-", COMMON],
    {
      env: { PATH: "/usr/bin:/bin", DATA_DIR_HOST: dataDir },
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  expect(fn.stderr, fn.stderr).toBe("");
  return fn.stdout.trim();
}

async function controldata(field: string): Promise<string> {
  const out = await run(path.join(PG_BINDIR, "pg_controldata"), [pg.dataDir], { user: "postgres" });
  return new RegExp(`^${field}: *(.*)$`, "m").exec(out)![1]!;
}

const pgCtl = (...args: string[]) =>
  run(path.join(PG_BINDIR, "pg_ctl"), [...args, "-D", pg.dataDir, "-w", "-o", pg.ctlOptions, "-l", pg.logFile], {
    user: "postgres",
  });

describe("shutdown_checkpoint", () => {
  it("prints nothing while the server runs", async () => {
    expect(await controldata("Database cluster state")).toBe("in production");
    expect(shutdownCheckpoint(pg.dataDir)).toBe("");
  });

  it("after a clean stop, prints pg_controldata's latest checkpoint location", async () => {
    await pgCtl("stop", "-m", "fast");
    expect(await controldata("Database cluster state")).toBe("shut down");
    const expected = await controldata("Latest checkpoint location");
    expect(expected).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(shutdownCheckpoint(pg.dataDir)).toBe(expected);
  });

  it("after a crash (immediate stop), prints nothing", async () => {
    await pgCtl("start");
    await pg.psql("INSERT INTO t VALUES (1)");
    await pgCtl("stop", "-m", "immediate");
    expect(await controldata("Database cluster state")).toBe("in production");
    expect(shutdownCheckpoint(pg.dataDir)).toBe("");
  });

  it("prints nothing for a control file of another version, or none", () => {
    const copy = fs.mkdtempSync("/tmp/pg-control-");
    fs.mkdirSync(path.join(copy, "global"));
    const control = fs.readFileSync(path.join(pg.dataDir, "global/pg_control"));
    control.writeUInt32LE(1700, 8);
    control.writeInt32LE(1, 16);
    fs.writeFileSync(path.join(copy, "global/pg_control"), control);
    expect(shutdownCheckpoint(copy)).toBe("");
    control.writeUInt32LE(1300, 8); // the same bytes with PostgreSQL 15's version: read (a negative control)
    fs.writeFileSync(path.join(copy, "global/pg_control"), control);
    expect(shutdownCheckpoint(copy)).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    fs.rmSync(path.join(copy, "global/pg_control"));
    expect(shutdownCheckpoint(copy)).toBe("");
    fs.rmSync(copy, { recursive: true });
  });
});
