import { describe, expect, it } from "vitest";
import { parseEnvPairs } from "../../infra/capacity/live";
import {
  DrillFailedError,
  MAX_BACKUP_AGE_HOURS,
  drillCommand,
  judgeDrill,
  runDrill,
} from "../../infra/capacity/restore-drill";

const output = (lines: Record<string, string | number>) =>
  `noise line\n${Object.entries({
    backup: "/var/lib/chatbot/backups/chatbot-20261120T031500Z.dump",
    backup_bytes: 2048,
    backup_age_hours: 9.5,
    checksum: "ok",
    expected_seconds: 0.1,
    restore_seconds: 1.25,
    total_seconds: 4.5,
    ...lines,
  })
    .map(([k, v]) => `${k}=${v}`)
    .join("\n")}\n`;

describe("judgeDrill", () => {
  it("passes when every table of the dump is restored with its rows", () => {
    const r = judgeDrill(
      output({
        "expected.public.users": 5,
        "expected.public.empty": 0,
        "count.public.users": 5,
        "count.public.empty": 0,
      }),
    );
    expect(r).toMatchObject({ ok: true, problems: [], restoreSeconds: 1.25, backupAgeHours: 9.5, checksum: "ok" });
    expect(r.tables.map((t) => t.table)).toEqual(["public.empty", "public.users"]);
  });

  it.each<[string, Record<string, string | number>, RegExp]>([
    [
      "a row count differs",
      { "expected.public.users": 5, "count.public.users": 4 },
      /public\.users: 5 rows in the dump, 4 restored/,
    ],
    ["a table is missing", { "expected.public.users": 5 }, /public\.users: missing after the restore/],
    ["the dump holds no data", {}, /the dump holds no table data/],
    [
      "the backup is stale",
      { backup_age_hours: MAX_BACKUP_AGE_HOURS + 1, "expected.t": 1, "count.t": 1 },
      /is 37 h old .*chatbot-backup\.timer/,
    ],
  ])("fails when %s", (_name, lines, problem) => {
    const r = judgeDrill(output(lines));
    expect(r.ok).toBe(false);
    expect(r.problems.join("\n")).toMatch(problem);
  });

  it("rejects output without the figures", () => {
    expect(() => judgeDrill("checksum=ok\n")).toThrow("restore drill output has no backup= line");
    expect(() => judgeDrill("backup=x\nbackup_age_hours=1\n")).toThrow(
      "restore drill output has no numeric backup_bytes",
    );
  });
});

describe("drill command", () => {
  it("sends backup-common.sh then restore-drill.sh to bash -s", () => {
    expect(
      drillCommand(
        { target: "root@10.0.0.5", sshArgs: ["-p", "22"], env: { CHATBOT_BACKUP_DIR: "/mnt/backups" } },
        "COMMON",
        "DRILL",
      ),
    ).toEqual({
      cmd: "ssh",
      args: ["-p", "22", "root@10.0.0.5", "env CHATBOT_BACKUP_DIR=/mnt/backups bash -s"],
      input: "COMMON\nDRILL",
    });
  });

  it("surfaces the script's error", async () => {
    const runner = async () => ({
      code: 1,
      stdout: "",
      stderr: "[01:00:00 restore-drill] ERROR: no chatbot-*.dump in /x\n",
    });
    await expect(runDrill({ target: "t" }, { common: "", drill: "" }, runner)).rejects.toThrow(
      /restore drill on t failed \(exit 1\): .*no chatbot-\*\.dump/,
    );
    await expect(runDrill({ target: "t" }, { common: "", drill: "" }, runner)).rejects.toBeInstanceOf(DrillFailedError);
  });

  it("an ssh failure (exit 255) is not the drill's verdict: the drill never ran", async () => {
    const runner = async () => ({
      code: 255,
      stdout: "",
      stderr: "ssh: connect to host t port 22: Connection refused\n",
    });
    const failure = await runDrill({ target: "t" }, { common: "", drill: "" }, runner).catch((e: unknown) => e);
    expect(failure).toBeInstanceOf(Error);
    expect(failure).not.toBeInstanceOf(DrillFailedError);
    expect((failure as Error).message).toBe(
      "restore drill on t failed (exit 255): ssh: connect to host t port 22: Connection refused",
    );
  });

  it("parses --env pairs, keeping '=' in values", () => {
    expect(parseEnvPairs(["A=1", "B=x=y"])).toEqual({ A: "1", B: "x=y" });
    expect(() => parseEnvPairs(["=1"])).toThrow('--env: "=1" must be KEY=VALUE');
  });
});
