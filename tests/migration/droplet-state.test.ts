/**
 * The migration's state steps of scripts/droplet/migrate.sh (lock, heartbeat, journal), run for real with bash on a
 * temp directory standing in for the droplet's data volume, the script on stdin exactly as ssh feeds it. No
 * database is needed for these steps.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseValues } from "../../infra/migration/commands";
import { scriptText } from "../../infra/migration/steps";
import { runCommand } from "../support/servers";

let dir: string;
let migrationDir: string;
let env: Record<string, string>;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "droplet-state-"));
  migrationDir = path.join(dir, "migration");
  fs.writeFileSync(path.join(dir, "app.env"), "POSTGRES_PASSWORD=x\n", { mode: 0o600 });
  // No server here: a `docker` that logs its call and fails stands in for the droplet's compose services.
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  fs.writeFileSync(path.join(bin, "docker"), `#!/bin/sh\necho "docker $*" >>"${dir}/docker.log"\nexit 1\n`, {
    mode: 0o755,
  });
  env = {
    PATH: `${bin}:${process.env.PATH}`,
    CHATBOT_ENV_FILE: path.join(dir, "app.env"),
    CHATBOT_MIGRATION_DIR: migrationDir,
    CHATBOT_BACKUP_DIR: path.join(dir, "backups"),
  };
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const script = scriptText("migrate");

async function step(name: string, args: string[] = [], data = "") {
  const r = await runCommand("bash", ["-s", "--", name, ...args], { input: script + data, env });
  return { ...r, values: parseValues(r.stdout) };
}

const acquire = (run: string, holder = `host:${run}`) =>
  step("lock_acquire", [run, holder, "2026-12-01T10:00:00Z", "60"]);
const lockDir = () => path.join(migrationDir, "lock");

describe("migrate.sh lock", () => {
  it("one holder at a time: a second run gets exit 6 with the holder and start time; the same run holds it again", async () => {
    expect((await acquire("r1")).values.lock).toBe("acquired");
    const second = await acquire("r2");
    expect(second.code).toBe(6);
    expect(second.values).toMatchObject({
      lock_run: "r1",
      lock_holder: "host:r1",
      lock_started: "2026-12-01T10:00:00Z",
    });
    expect(Number(second.values.lock_age_s)).toBeLessThanOrEqual(60);
    expect(second.stderr).toMatch(/held by host:r1/);
    expect((await acquire("r1")).values.lock).toBe("held-by-this-run");
  });

  it("eight runs at once: exactly one gets the lock", async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => acquire(`c${i}`)));
    expect(results.filter((r) => r.code === 0).length).toBe(1);
    expect(results.filter((r) => r.code === 6).length).toBe(7);
  });

  it("a lock without heartbeat for longer than the stale time (droplet clock) is taken over, naming the previous holder", async () => {
    await acquire("dead");
    const old = new Date(Date.now() - 120_000);
    fs.utimesSync(path.join(lockDir(), "heartbeat"), old, old);
    const taken = await acquire("alive");
    expect(taken.code).toBe(0);
    expect(taken.values).toMatchObject({ lock: "taken-over", previous_run: "dead", previous_holder: "host:dead" });
    expect(Number(taken.values.previous_age_s)).toBeGreaterThanOrEqual(119);
    // The dead run's heartbeat and release no longer touch it.
    expect((await step("lock_heartbeat", ["dead"])).code).toBe(6);
    expect((await step("lock_release", ["dead"])).values.lock_released).toBe("0");
    expect(fs.readFileSync(path.join(lockDir(), "owner"), "utf8")).toMatch(/^run=alive$/m);
  });

  it("heartbeat refreshes the lock's time; release removes it and the empty directory", async () => {
    await acquire("r1");
    const old = new Date(Date.now() - 30_000);
    fs.utimesSync(path.join(lockDir(), "heartbeat"), old, old);
    expect((await step("lock_heartbeat", ["r1"])).values.heartbeat).toBe("1");
    expect(Date.now() - fs.statSync(path.join(lockDir(), "heartbeat")).mtimeMs).toBeLessThan(10_000);
    expect((await step("lock_release", ["r1"])).values.lock_released).toBe("1");
    expect(fs.existsSync(migrationDir)).toBe(false);
  });

  it("refuses a run id or holder that is not a single word", async () => {
    const r = await acquire("r1; touch x", "h");
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/may only hold letters/);
    expect(fs.existsSync(lockDir())).toBe(false);
  });
});

describe("migrate.sh journal", () => {
  const json = (id: string) =>
    JSON.stringify({ id, note: `$(touch ${path.join(os.tmpdir(), "never-run")}) 'quoted' "double"` });

  it("only the lock holder writes; the JSON comes on stdin after the script, is data (never run), and is read back whole", async () => {
    const refused = await step("journal_write", ["r1"], json("m1"));
    expect(refused.code).toBe(6);
    expect(fs.existsSync(path.join(migrationDir, "journal.json"))).toBe(false);
    await acquire("r1");
    const w = await step("journal_write", ["r1"], json("m1"));
    expect(w.code, w.stderr).toBe(0);
    expect(fs.readFileSync(path.join(migrationDir, "journal.json"), "utf8")).toBe(`${json("m1")}\n`);
    expect(fs.existsSync(path.join(os.tmpdir(), "never-run"))).toBe(false);
    expect(fs.readdirSync(migrationDir).sort()).toEqual(["journal.json", "lock"]); // no temp file left
    const r = await step("journal_read");
    expect(r.values).toMatchObject({ journal_present: "1", journal: json("m1"), lock_present: "1", lock_run: "r1" });
  });

  it("a new migration's first write moves the previous journal to history/", async () => {
    await acquire("r1");
    await step("journal_write", ["r1"], json("m1"));
    await step("journal_write", ["r1", "m1"], json("m2"));
    expect(JSON.parse(fs.readFileSync(path.join(migrationDir, "history", "m1.json"), "utf8")).id).toBe("m1");
    expect(JSON.parse(fs.readFileSync(path.join(migrationDir, "journal.json"), "utf8")).id).toBe("m2");
  });

  it("refuses what is not one JSON object, leaving the journal as it was", async () => {
    await acquire("r1");
    await step("journal_write", ["r1"], json("m1"));
    const bad = await step("journal_write", ["r1"], "echo hello");
    expect(bad.code).toBe(1);
    expect(JSON.parse(fs.readFileSync(path.join(migrationDir, "journal.json"), "utf8")).id).toBe("m1");
  });

  it("the secrets file is read as data: a line that looks like shell is never run", async () => {
    const marker = path.join(dir, "pwned");
    fs.writeFileSync(
      env.CHATBOT_ENV_FILE!,
      `POSTGRES_PASSWORD=a b$(touch ${marker})\nEVIL=$(touch ${marker})\n\`touch ${marker}\`\n`,
    );
    const r = await step("journal_read");
    expect(r.code, r.stderr).toBe(0);
    expect(r.values.journal_present).toBe("0");
    expect(fs.existsSync(marker)).toBe(false);
  });
});

describe("migrate.sh promote, armed (started before the fence, waiting for the runner's go line)", () => {
  const proxy = "#!/usr/bin/env bash\necho proxy-switch stand-in\n";
  const MARK = "#-- the go line follows --\n";

  it("stdin ending without a go line (the fence failed): exit 4, nothing promoted, the database never asked", async () => {
    const r = await step("promote", ["-", "1", "gate", "1"], proxy + MARK);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no go line from the runner \(the fence did not finish\): nothing promoted/);
    expect(r.stdout).toBe("");
    expect(fs.existsSync(path.join(dir, "docker.log"))).toBe(false);
  });

  it("a go line with a malformed LSN, or no mark after the proxy script: exit 4, nothing done", async () => {
    const bad = await step("promote", ["-", "1", "gate", "1"], `${proxy}${MARK}go 0/30'00148 42\n`);
    expect(bad.code).toBe(4);
    expect(bad.stderr).toMatch(/fence lsn must look like 0\/3000148, not '0\/30'00148'/);
    const unmarked = await step("promote", ["-", "1", "gate", "1"], `${proxy}go 0/3000148\n`);
    expect(unmarked.code).toBe(4);
    expect(unmarked.stderr).toMatch(/the proxy script, then the line '#-- the go line follows --', must follow/);
    // Armed without the gate is a usage error.
    expect((await step("promote", ["-", "1"], "")).code).toBe(2);
  });

  it("with its go line it goes on to the promotion with that LSN (here no server answers: exit 4 after its timeout)", async () => {
    const r = await step("promote", ["-", "1", "gate", "1"], `${proxy}${MARK}go 0/3000148\n`);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/standby did not replay up to 0\/3000148 within 1s/);
    expect(fs.readFileSync(path.join(dir, "docker.log"), "utf8")).toMatch(/^docker compose .* exec -T -u postgres /);
  });
});
