/** What Docker Compose makes of a project directory, through its real tools (docker-compose 1.29 here). */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/**
 * The environment Compose 1.29 loads for a service of `<dir>/compose.yaml` (env_file included), through its own
 * loader (python, the interpreter docker-compose runs on): the one `config` and `up` use.
 */
export function composeEnvironment(dir: string, service: string): Record<string, string> {
  const which = spawnSync("sh", ["-c", "command -v docker-compose"], { encoding: "utf8" }).stdout.trim();
  const python = /^#!\s*(\S+)/.exec(readFileSync(which, "utf8"))![1]!;
  const script = [
    "import json, sys",
    "from compose.cli.command import get_config_from_options",
    "cfg = get_config_from_options('.', {'--file': ['compose.yaml']}, {})",
    `print(json.dumps(next(s for s in cfg.services if s['name'] == '${service}')['environment']))`,
  ].join("\n");
  const r = spawnSync(python, ["-c", script], { cwd: dir, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`compose's loader failed in ${dir}: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, string>;
}
