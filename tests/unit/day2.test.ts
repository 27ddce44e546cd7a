import { describe, expect, it } from "vitest";
import { problemsOf } from "../fixtures/capacity/problems";
import {
  Day2ConfigError,
  type Day2Options,
  day2ActivationCommands,
  loadDay2Scripts,
  renderDay2Files,
} from "../../infra/render/day2";

const base: Day2Options = { domain: "chat.example.com", healthPath: "/healthz" };
const byPath = (o: Day2Options = base) => Object.fromEntries(renderDay2Files(o).map((f) => [f.path, f]));

const problems = (o: Partial<Day2Options>) => problemsOf(Day2ConfigError, () => renderDay2Files({ ...base, ...o }));

describe("renderDay2Files", () => {
  it("installs the committed scripts, executable, with the shared helper readable", () => {
    const files = byPath();
    const scripts = loadDay2Scripts();
    for (const [name, text] of Object.entries(scripts)) {
      const f = files[`/usr/local/lib/chatbot/${name}`]!;
      expect(f.content).toBe(text);
      expect(f.mode).toBe(name === "backup-common.sh" ? "0644" : "0755");
    }
  });

  it.each([
    ["chatbot-backup", "*-*-* 03:15:00 UTC", "/usr/local/lib/chatbot/backup.sh"],
    ["chatbot-vacuum", "Sun *-*-* 04:30:00 UTC", "/usr/local/lib/chatbot/vacuum.sh"],
    ["chatbot-cleanup", "Sun *-*-* 05:00:00 UTC", "/usr/local/lib/chatbot/cleanup.sh"],
    ["chatbot-collect", "*:0/4", "/usr/local/lib/chatbot/collect.sh append"],
  ])("%s runs %s: %s, as a persistent timer", (name, calendar, exec) => {
    const files = byPath();
    const service = files[`/etc/systemd/system/${name}.service`]!.content;
    const timer = files[`/etc/systemd/system/${name}.timer`]!.content;
    expect(service).toContain(`ExecStart=${exec}\n`);
    expect(service).toContain("Type=oneshot\n");
    expect(timer).toContain(`OnCalendar=${calendar}\n`);
    expect(timer).toContain("Persistent=true\n");
    expect(timer).toContain("WantedBy=timers.target\n");
  });

  it("backs up only onto the mounted volume, never the root disk", () => {
    expect(byPath()["/etc/systemd/system/chatbot-backup.service"]!.content).toContain(
      "ConditionPathIsMountPoint=/var/lib/chatbot\n",
    );
  });

  it("settings: retention, and Spaces only when configured (its keys never here)", () => {
    expect(byPath()["/etc/chatbot/day2.env"]!.content).toBe("BACKUP_KEEP_DAYS=7\nBACKUP_KEEP_MIN=3\n");
    const withSpaces = byPath({
      ...base,
      backupKeepDays: 14,
      backupTime: "01:05",
      spaces: { bucket: "acme-backups", region: "fra1" },
    });
    expect(withSpaces["/etc/chatbot/day2.env"]!.content).toBe(
      "BACKUP_KEEP_DAYS=14\nBACKUP_KEEP_MIN=3\nSPACES_BUCKET=acme-backups\nSPACES_REGION=fra1\nSPACES_PREFIX=chatbot\n",
    );
    expect(withSpaces["/etc/systemd/system/chatbot-backup.timer"]!.content).toContain(
      "OnCalendar=*-*-* 01:05:00 UTC\n",
    );
    const settings = Object.values(withSpaces).filter((f) => f.path.endsWith(".env") || f.path.includes("/systemd/"));
    for (const f of settings) expect(f.content).not.toMatch(/ACCESS_KEY/);
  });

  it("the collector probes the app through the droplet's own proxy", () => {
    expect(byPath()["/etc/chatbot/collect.env"]!.content).toBe(
      "CHATBOT_HEALTH_URL=https://chat.example.com/healthz\nCHATBOT_HEALTH_RESOLVE=chat.example.com:443:127.0.0.1\nCHATBOT_METRICS_DIR=/var/lib/chatbot/metrics\n",
    );
  });

  it("every path is absolute and unique; no unit is world-writable", () => {
    const files = renderDay2Files(base);
    expect(new Set(files.map((f) => f.path)).size).toBe(files.length);
    for (const f of files) {
      expect(f.path.startsWith("/")).toBe(true);
      expect(["0644", "0755"]).toContain(f.mode);
    }
  });

  it("activation enables the four timers", () => {
    expect(day2ActivationCommands()).toEqual([
      "systemctl daemon-reload",
      "systemctl enable --now chatbot-backup.timer chatbot-vacuum.timer chatbot-cleanup.timer chatbot-collect.timer",
    ]);
  });

  it.each<[string, Partial<Day2Options>, RegExp]>([
    ["a bad domain", { domain: "https://x" }, /^domain: "https:\/\/x" must be a host name/],
    ["a bad health path", { healthPath: "health" }, /^healthPath: "health" must start with "\/"/],
    ["a bad time", { backupTime: "3:15" }, /^backupTime: "3:15" must be HH:MM \(UTC\)/],
    ["zero retention", { backupKeepDays: 0 }, /^backupKeepDays: 0 must be a whole number from 1 to 365/],
    [
      "a bad bucket",
      { spaces: { bucket: "My_Bucket", region: "fra1" } },
      /^spaces\.bucket: "My_Bucket" must be 3-63 lowercase/,
    ],
    [
      "a bad region",
      { spaces: { bucket: "ok-bucket", region: "frankfurt" } },
      /^spaces\.region: "frankfurt" must be a region slug/,
    ],
  ])("rejects %s naming the field", (_name, o, message) => {
    const p = problems(o);
    expect(p).toHaveLength(1);
    expect(p[0]).toMatch(message);
  });
});
