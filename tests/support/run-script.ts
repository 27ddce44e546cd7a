/** A command of scripts/ run as users run it: a child process, offline, from the repository's root. */
import { spawnSync } from "node:child_process";
import { join } from "node:path";

const ROOT = join(__dirname, "..", "..");

export function runScript(script: string, args: readonly string[]) {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", script), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
