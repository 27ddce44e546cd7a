/**
 * The day-2 jobs of an app droplet as files: the scripts, their settings, and systemd service + timer units.
 *
 *   chatbot-backup    nightly pg_dump to the volume with retention (and to Spaces when configured)
 *   chatbot-vacuum    weekly VACUUM ANALYZE
 *   chatbot-cleanup   weekly Docker image / build cache / journal cleanup
 *   chatbot-collect   capacity snapshot every 4 minutes, kept 9 days, read back by `npm run capacity -- --host`
 *
 * Paths are absolute; the config sync writes each file with its mode, then runs `day2ActivationCommands()`.
 * Timers, not cron: Persistent=true catches up a run missed while the droplet was off (a resize powers it off), and
 * `systemctl list-timers` / `journalctl -u chatbot-backup` show what ran.
 */
import { dropletScript } from "./droplet-scripts";
import { LAYOUT } from "./layout";

export interface Day2File {
  path: string;
  content: string;
  mode: "0644" | "0755";
}

export interface Day2Options {
  /** Public host name; the collector probes https://<domain><healthPath> through the droplet's own proxy. */
  domain: string;
  healthPath: string;
  /** Nightly backup time, HH:MM UTC. @default "03:15" */
  backupTime?: string;
  /** Dumps older than this many days are deleted. @default 7 */
  backupKeepDays?: number;
  /** The newest this many dumps are never deleted, however old. @default 3 */
  backupKeepMin?: number;
  /**
   * Off-site copies to DigitalOcean Spaces. The access keys are secrets: SPACES_ACCESS_KEY_ID and
   * SPACES_SECRET_ACCESS_KEY go in app.env (mode 0600), not here. @default no off-site copy
   */
  spaces?: { bucket: string; region: string; prefix?: string };
}

export const DAY2_BIN_DIR = "/usr/local/lib/chatbot";
const UNIT_DIR = "/etc/systemd/system";
export const DAY2_SCRIPTS = [
  "backup-common.sh",
  "backup.sh",
  "vacuum.sh",
  "cleanup.sh",
  "collect.sh",
  "restore-drill.sh",
] as const;
export type Day2Script = (typeof DAY2_SCRIPTS)[number];

/**
 * Every 4 minutes: the tightest capacity rule (responses over 1 h) tolerates gaps of at most 1 h / 12 = 5 min
 * between samples, so the timer must fire more often than that, with slack for a slow run.
 */
export const COLLECT_CALENDAR = "*:0/4";

interface Job {
  name: string;
  description: string;
  exec: string;
  calendar: string;
  service: string[];
  timer: string[];
  unit?: string[];
}

export class Day2ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid day-2 configuration:\n  - ${problems.join("\n  - ")}`);
    this.name = "Day2ConfigError";
  }
}

function validate(o: Day2Options): string[] {
  const problems: string[] = [];
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i.test(o.domain))
    problems.push(`domain: "${o.domain}" must be a host name like chat.example.com`);
  if (!/^\/\S*$/.test(o.healthPath))
    problems.push(`healthPath: "${o.healthPath}" must start with "/" and contain no spaces`);
  if (o.backupTime !== undefined && !/^([01]\d|2[0-3]):[0-5]\d$/.test(o.backupTime))
    problems.push(`backupTime: "${o.backupTime}" must be HH:MM (UTC), e.g. 03:15`);
  const int = (name: string, v: number | undefined, min: number, max: number) => {
    if (v !== undefined && (!Number.isInteger(v) || v < min || v > max))
      problems.push(`${name}: ${v} must be a whole number from ${min} to ${max}`);
  };
  int("backupKeepDays", o.backupKeepDays, 1, 365);
  int("backupKeepMin", o.backupKeepMin, 1, 100);
  if (o.spaces) {
    // Spaces bucket names follow S3's rules: 3-63 lowercase letters, digits and dashes.
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(o.spaces.bucket))
      problems.push(`spaces.bucket: "${o.spaces.bucket}" must be 3-63 lowercase letters, digits or dashes`);
    if (!/^[a-z]{3}\d$/.test(o.spaces.region))
      problems.push(`spaces.region: "${o.spaces.region}" must be a region slug like fra1 or nyc3`);
    if (o.spaces.prefix !== undefined && !/^[A-Za-z0-9._/-]+$/.test(o.spaces.prefix))
      problems.push(`spaces.prefix: "${o.spaces.prefix}" may only hold letters, digits, . _ / -`);
  }
  return problems;
}

function jobs(o: Day2Options): Job[] {
  const onDocker = ["Requires=docker.service", "After=docker.service"];
  return [
    {
      name: "chatbot-backup",
      description: "nightly pg_dump of the app database to the volume",
      exec: `${DAY2_BIN_DIR}/backup.sh`,
      calendar: `*-*-* ${o.backupTime ?? "03:15"}:00 UTC`,
      // Never write backups onto the root disk because the volume failed to mount.
      unit: [...onDocker, `ConditionPathIsMountPoint=${LAYOUT.dataDir}`],
      service: ["Nice=10", "IOSchedulingClass=idle", "TimeoutStartSec=2h"],
      timer: ["RandomizedDelaySec=10min"],
    },
    {
      name: "chatbot-vacuum",
      description: "weekly VACUUM ANALYZE of every database",
      exec: `${DAY2_BIN_DIR}/vacuum.sh`,
      calendar: "Sun *-*-* 04:30:00 UTC",
      unit: onDocker,
      service: ["Nice=10", "IOSchedulingClass=best-effort", "IOSchedulingPriority=7", "TimeoutStartSec=4h"],
      timer: [],
    },
    {
      name: "chatbot-cleanup",
      description: "weekly cleanup of unused Docker images, build cache and old journal",
      exec: `${DAY2_BIN_DIR}/cleanup.sh`,
      calendar: "Sun *-*-* 05:00:00 UTC",
      unit: onDocker,
      service: ["Nice=10", "TimeoutStartSec=1h"],
      timer: [],
    },
    {
      name: "chatbot-collect",
      description: "capacity snapshot for npm run capacity",
      exec: `${DAY2_BIN_DIR}/collect.sh append`,
      calendar: COLLECT_CALENDAR,
      service: ["Nice=5", "TimeoutStartSec=60"],
      timer: ["AccuracySec=5s"],
    },
  ];
}

function serviceUnit(j: Job): string {
  return [
    "[Unit]",
    `Description=chatbot: ${j.description}`,
    `Documentation=file:${j.exec.split(" ")[0]}`,
    ...(j.unit ?? []),
    "",
    "[Service]",
    "Type=oneshot",
    "EnvironmentFile=-/etc/chatbot/day2.env",
    `ExecStart=${j.exec}`,
    ...j.service,
    "",
  ].join("\n");
}

function timerUnit(j: Job): string {
  return [
    "[Unit]",
    `Description=chatbot: schedule for ${j.name}`,
    "",
    "[Timer]",
    `OnCalendar=${j.calendar}`,
    "Persistent=true",
    ...j.timer,
    "",
    "[Install]",
    "WantedBy=timers.target",
    "",
  ].join("\n");
}

function envFile(entries: [string, string | number | undefined][]): string {
  return `${entries
    .filter((e): e is [string, string | number] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n")}\n`;
}

/** The scripts as committed under scripts/droplet/. */
export function loadDay2Scripts(): Record<Day2Script, string> {
  return Object.fromEntries(DAY2_SCRIPTS.map((s) => [s, dropletScript(s)])) as Record<Day2Script, string>;
}

/** Every day-2 file for a droplet. Throws a Day2ConfigError naming each bad option. */
export function renderDay2Files(o: Day2Options, scripts: Record<Day2Script, string> = loadDay2Scripts()): Day2File[] {
  const problems = validate(o);
  if (problems.length > 0) throw new Day2ConfigError(problems);
  const files: Day2File[] = DAY2_SCRIPTS.map((s) => ({
    path: `${DAY2_BIN_DIR}/${s}`,
    content: scripts[s],
    mode: s === "backup-common.sh" ? "0644" : "0755",
  }));
  files.push({
    path: `${LAYOUT.configDir}/day2.env`,
    mode: "0644",
    content: envFile([
      ["BACKUP_KEEP_DAYS", o.backupKeepDays ?? 7],
      ["BACKUP_KEEP_MIN", o.backupKeepMin ?? 3],
      ["SPACES_BUCKET", o.spaces?.bucket],
      ["SPACES_REGION", o.spaces?.region],
      ["SPACES_PREFIX", o.spaces ? (o.spaces.prefix ?? "chatbot") : undefined],
    ]),
  });
  files.push({
    path: `${LAYOUT.configDir}/collect.env`,
    mode: "0644",
    content: envFile([
      ["CHATBOT_HEALTH_URL", `https://${o.domain}${o.healthPath}`],
      // Through the droplet's own proxy, whatever DNS says (during a migration the name may point elsewhere).
      ["CHATBOT_HEALTH_RESOLVE", `${o.domain}:443:127.0.0.1`],
      ["CHATBOT_METRICS_DIR", `${LAYOUT.dataDir}/metrics`],
    ]),
  });
  for (const j of jobs(o)) {
    files.push({ path: `${UNIT_DIR}/${j.name}.service`, mode: "0644", content: serviceUnit(j) });
    files.push({ path: `${UNIT_DIR}/${j.name}.timer`, mode: "0644", content: timerUnit(j) });
  }
  return files;
}

/** The timers to enable. */
export function day2Timers(): string[] {
  return jobs({ domain: "x.example.com", healthPath: "/" }).map((j) => `${j.name}.timer`);
}

/** Shell lines the config sync runs after writing the files (idempotent). */
export function day2ActivationCommands(): string[] {
  return ["systemctl daemon-reload", `systemctl enable --now ${day2Timers().join(" ")}`];
}
