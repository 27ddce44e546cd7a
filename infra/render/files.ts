/**
 * The files synced onto an app droplet by `pulumi up`, and the shell text that stages them. The same rendered
 * contents go to `npm run plan -- --out`, so what a user inspects is byte for byte what the droplet gets.
 */
import { createHash } from "node:crypto";
import type { StackConfig } from "../config";
import type { Tuning } from "../tuning";
import { type AppSecrets, renderAppEnv } from "./app-env";
import { renderCaddyfile } from "./caddyfile";
import { renderCompose } from "./compose";
import { renderDay2Files } from "./day2";
import { dropletScript } from "./droplet-scripts";
import { LAYOUT } from "./layout";
import { renderPgHba } from "./pg-hba";
import { renderPostgresqlConf } from "./postgresql-conf";
import { renderRedisAuth, renderRedisConf } from "./redis-conf";
import { renderVolumeGuardFiles } from "./volume-guard";

export interface RenderedFile {
  /** Path relative to the config dir (/etc/chatbot); `root/<path>` for a file elsewhere (installed at `/<path>`). */
  path: string;
  content: string;
  /** Octal file mode. */
  mode: "0644" | "0600" | "0755";
}

export type ServerConfigInput = Pick<
  StackConfig,
  "appImage" | "appPort" | "healthPath" | "appEnv" | "domain" | "acmeEmail" | "hstsMaxAgeSeconds"
>;

/** A file at an absolute path, placed where the config sync installs it from. */
function fromAbsolute(f: { path: string; content: string; mode: string }): RenderedFile {
  const prefix = `${LAYOUT.configDir}/`;
  const path = f.path.startsWith(prefix) ? f.path.slice(prefix.length) : `root${f.path}`;
  return { path, content: f.content, mode: f.mode as RenderedFile["mode"] };
}

/**
 * The non-secret config files, the day-2 jobs (backups, vacuum, cleanup, metrics) with their timers, and the data
 * volume's guard (docker.service waits for the volume and checks its marker).
 */
export function renderConfigFiles(config: ServerConfigInput, tuning: Tuning): RenderedFile[] {
  return [
    { path: "compose.yaml", mode: "0644", content: renderCompose({ ...config, tuning }) },
    { path: "postgresql.conf", mode: "0644", content: renderPostgresqlConf(tuning.postgres) },
    { path: "pg_hba.conf", mode: "0644", content: renderPgHba() },
    { path: "redis.conf", mode: "0644", content: renderRedisConf(tuning.redis) },
    {
      path: "Caddyfile",
      mode: "0644",
      content: renderCaddyfile({
        domain: config.domain,
        acmeEmail: config.acmeEmail,
        upstream: `app:${config.appPort}`,
        hstsMaxAgeSeconds: config.hstsMaxAgeSeconds,
      }),
    },
    { path: "initdb/10-roles.sh", mode: "0755", content: dropletScript("initdb-roles.sh") },
    { path: "bin/apply-config.sh", mode: "0755", content: dropletScript("apply-config.sh") },
    { path: "bin/tls-cert.sh", mode: "0755", content: dropletScript("tls-cert.sh") },
    ...renderDay2Files({ domain: config.domain, healthPath: config.healthPath }).map(fromAbsolute),
    ...renderVolumeGuardFiles().map(fromAbsolute),
  ];
}

/** The secret files: mode 0600, never shown in plans. */
export function renderSecretFiles(secrets: AppSecrets, appPort: number): RenderedFile[] {
  return [
    { path: "app.env", mode: "0600", content: renderAppEnv(secrets, appPort) },
    { path: "redis-auth.conf", mode: "0600", content: renderRedisAuth(secrets.redisPassword) },
  ];
}

export const END_MARKER = "CHATBOT_END_OF_FILE";

/** Shell text that writes the files into the staging dir, each as a quoted heredoc (no expansion). */
export function renderStageScript(files: RenderedFile[]): string {
  const incoming = `${LAYOUT.configDir}/.incoming`;
  const out = ["set -euo pipefail", "umask 077"];
  for (const f of files) {
    if (!f.content.endsWith("\n")) throw new Error(`${f.path}: rendered content must end with a newline`);
    if (f.content.split("\n").includes(END_MARKER))
      throw new Error(`${f.path}: content contains the heredoc marker ${END_MARKER}`);
    const target = `${incoming}/${f.path}`;
    out.push(`mkdir -p '${target.slice(0, target.lastIndexOf("/"))}'`);
    out.push(`cat > '${target}' <<'${END_MARKER}'`, f.content + END_MARKER, `chmod ${f.mode} '${target}'`);
  }
  return `${out.join("\n")}\n`;
}

/** The command that installs the staged files and restarts what they affect (scripts/droplet/apply-config.sh). */
export function applyCommand(volumeDevice: string): string {
  return `VOLUME_DEVICE='${volumeDevice}' bash ${LAYOUT.configDir}/.incoming/bin/apply-config.sh`;
}

export function hashFiles(files: RenderedFile[]): string {
  const h = createHash("sha256");
  for (const f of files) h.update(`${f.path}\0${f.mode}\0${f.content}\0`);
  return h.digest("hex");
}
