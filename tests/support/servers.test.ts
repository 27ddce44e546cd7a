import * as fs from "node:fs";
import { describe, expect, it } from "vitest";
import { runCommand, runningServers, sleep, startPostgres, startRedis, startSshd } from "./servers";

/** The OS user that owns a process, from /proc. */
function processOwner(pid: number): string {
  const uid = /^Uid:\s+(\d+)/m.exec(fs.readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  const line = fs
    .readFileSync("/etc/passwd", "utf8")
    .split("\n")
    .find((l) => l.split(":")[2] === uid);
  return line?.split(":")[0] ?? `uid ${uid}`;
}

/** True once the process is gone (a zombie waiting for its reaper counts as gone); waits up to 5 s. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 50; i++) {
    const status = fs.existsSync(`/proc/${pid}/status`) ? fs.readFileSync(`/proc/${pid}/status`, "utf8") : "";
    if (!status || /^State:\s+Z/m.test(status)) return true;
    await sleep(100);
  }
  return false;
}

describe("loopback servers", () => {
  it("startPostgres: runs as postgres on the given address, answers SQL, applies conf, stops", async () => {
    const pg = await startPostgres({ host: "127.0.0.2", conf: "work_mem = '7MB'", name: "support-test" });
    const pid = Number(fs.readFileSync(`${pg.dataDir}/postmaster.pid`, "utf8").split("\n")[0]);
    expect(processOwner(pid)).toBe(process.getuid?.() === 0 ? "postgres" : processOwner(process.pid));
    expect(await pg.psql("SELECT 40 + 2")).toBe("42");
    expect(await pg.psql("SHOW work_mem")).toBe("7MB");
    expect(await pg.psql("SELECT inet_server_addr()")).toBe("127.0.0.2");
    await expect(pg.psql("SELECT * FROM no_such_table")).rejects.toThrow(/no_such_table/);
    await pg.stop();
    expect(await gone(pid)).toBe(true);
    expect(fs.existsSync(pg.dataDir)).toBe(false);
    expect(runningServers()).toEqual([]);
  });

  it("startRedis: runs as redis, honours requirepass, stops", async () => {
    const redis = await startRedis({ host: "127.0.0.3", conf: "requirepass s3cret-test\nmaxmemory 16mb\n" });
    expect(await redis.cli("SET", "k", "v")).toBe("OK");
    expect(await redis.cli("GET", "k")).toBe("v");
    expect(await redis.cli("CONFIG", "GET", "maxmemory")).toBe("maxmemory\n16777216");
    const pid = Number(/process_id:(\d+)/.exec(await redis.cli("INFO", "server"))?.[1]);
    expect(processOwner(pid)).toBe(process.getuid?.() === 0 ? "redis" : processOwner(process.pid));
    const noAuth = await runCommand("redis-cli", ["-h", redis.host, "-p", String(redis.port), "GET", "k"], {
      env: { REDISCLI_AUTH: "" },
    });
    expect(noAuth.stdout + noAuth.stderr).toMatch(/NOAUTH/);
    await redis.stop();
    expect(await gone(pid)).toBe(true);
    expect(runningServers()).toEqual([]);
  });

  it("startSshd: accepts its key, runs commands with stdin, stops", async () => {
    const sshd = await startSshd({ host: "127.0.0.2" });
    expect(sshd.target).toMatch(/@127\.0\.0\.2$/);
    const r = await sshd.exec('cat; echo " on $(id -un)"', "hello");
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toBe(`hello on ${sshd.target.split("@")[0]}`);
    const viaArgs = await runCommand("ssh", [...sshd.sshArgs, sshd.target, "exit 3"]);
    expect(viaArgs.code).toBe(3);
    await sshd.stop();
    const after = await runCommand("ssh", [...sshd.sshArgs, sshd.target, "true"]);
    expect(after.code).not.toBe(0);
    expect(runningServers()).toEqual([]);
  });
});
