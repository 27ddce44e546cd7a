/**
 * A server's drop guard (scripts/droplet/drop-guard.sh, the delete step of its `${name}-drop-guard` command): the
 * exact command the stack renders, run against a real PostgreSQL 15 reached the way a droplet reaches it (`docker
 * compose` through the docker shim). It lets the drop go on only when that PostgreSQL is stopped or a standby.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropGuardCommand } from "../../infra/render/drop-guard";
import { renderComposeFile, SHIM_DIR } from "../migration/container-droplet";
import { makeTempDir, PG_BINDIR, type PgServer, startPostgres, waitFor } from "../support/processes";
import { runningServers, stopAll } from "../support/servers";

let pg: PgServer;
let configDir: string;
let env: Record<string, string>;

beforeAll(async () => {
  pg = await startPostgres({ host: "127.0.0.1", name: "drop-guard" });
  configDir = makeTempDir("drop-guard-etc");
  renderComposeFile(configDir);
  env = {
    PATH: `${SHIM_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
    CONFIG_DIR: configDir,
    SHIM_PG_BINDIR: PG_BINDIR,
    SHIM_PGDATA: pg.dataDir,
    SHIM_PG_SOCKET_DIR: pg.socketDir,
    SHIM_PGPORT: String(pg.port),
    SHIM_PG_CTL_OPTS: pg.ctlOptions,
    SHIM_PG_LOG: pg.logFile,
  };
}, 120_000);

afterAll(async () => {
  await stopAll();
  fs.rmSync(configDir, { recursive: true, force: true });
});

/** The guard's delete command as the stack renders it, run as the remote shell runs it. */
const guard = (name = "app-8gb", extra: Record<string, string> = {}) =>
  spawnSync("bash", ["-c", dropGuardCommand(name)], { encoding: "utf8", env: { ...env, ...extra } });
/** A `docker compose` call on the droplet, through the shim. */
const compose = (...args: string[]) =>
  spawnSync("docker", ["compose", "-p", "chatbot", "-f", path.join(configDir, "compose.yaml"), ...args], {
    encoding: "utf8",
    env,
  });
const inRecovery = () => pg.psql("SELECT pg_is_in_recovery()").catch(() => "down");

describe("the drop guard", () => {
  it("refuses to drop a server whose PostgreSQL is a primary, naming it and saying nothing was deleted", () => {
    const r = guard();
    expect(r.status, r.stderr).toBe(1);
    expect(r.stdout).toBe("pg=primary\n");
    expect(r.stderr).toMatch(/refusing to drop app-8gb: its PostgreSQL is a primary .*Nothing was deleted/);
  });

  it("refuses when it cannot tell (docker compose does not answer): unknown is not safe", () => {
    const r = guard("app-8gb", { CONFIG_DIR: path.join(configDir, "missing") });
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("pg=unknown\n");
    expect(r.stderr).toMatch(/cannot tell whether its PostgreSQL is a primary/);
  });

  it("lets the drop go on when its PostgreSQL is a standby (it follows another server)", async () => {
    expect(compose("stop", "-t", "30", "postgres").status).toBe(0);
    fs.writeFileSync(path.join(pg.dataDir, "standby.signal"), "");
    expect(compose("start", "postgres").status).toBe(0);
    await waitFor("the restarted server in recovery", async () => (await inRecovery()) === "t", 60_000);
    const r = guard();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("pg=standby\n");
  }, 120_000);

  it("lets the drop go on when its PostgreSQL is stopped (a migration's fence left it so)", async () => {
    expect(compose("stop", "-t", "30", "postgres").status).toBe(0);
    await waitFor("the server stopped", async () => (await inRecovery()) === "down", 60_000);
    const r = guard();
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe("pg=stopped\n");
  }, 120_000);

  it("takes only a server name: the stack refuses anything else before rendering, the script with exit 2", () => {
    expect(() => dropGuardCommand("app-8gb; rm -rf /")).toThrow(/server name must be lower-case/);
    const r = spawnSync("bash", ["-s", "--", "App 8gb"], {
      input: fs.readFileSync(path.join(__dirname, "..", "..", "scripts", "droplet", "drop-guard.sh"), "utf8"),
      encoding: "utf8",
      env,
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/usage: drop-guard.sh <server name>/);
  });

  it("passes shellcheck, the script and the delete command around it", () => {
    const script = path.join(__dirname, "..", "..", "scripts", "droplet", "drop-guard.sh");
    expect(spawnSync("shellcheck", [script], { encoding: "utf8" }).stdout).toBe("");
    const file = path.join(configDir, "delete.sh");
    fs.writeFileSync(file, `#!/bin/sh\n${dropGuardCommand("app-8gb")}`);
    expect(spawnSync("shellcheck", ["-s", "sh", file], { encoding: "utf8" }).stdout).toBe("");
  });

  it("leaves no server running", async () => {
    await stopAll();
    expect(runningServers()).toEqual([]);
  });
});
