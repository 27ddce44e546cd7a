/**
 * The shell scripts that run on droplets, as committed under scripts/droplet/: the renderers that ship them with the
 * config sync, and the capacity and restore-drill commands, read them here. The migrations' scripts are read by
 * their step declarations (infra/migration/steps.ts).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const SCRIPTS_DIR = join(__dirname, "..", "..", "scripts", "droplet");

/** A droplet script's text, as committed under scripts/droplet/. */
export function dropletScript(name: string): string {
  return readFileSync(join(SCRIPTS_DIR, name), "utf8");
}
