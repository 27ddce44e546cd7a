/**
 * The shell scripts that run on droplets, as committed under scripts/droplet/. The renderers that ship them
 * (render/files.ts, render/day2.ts) and the scripts that run them over SSH read them from here.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

const SCRIPTS_DIR = join(__dirname, "..", "..", "scripts", "droplet");

/** A droplet script's text, as committed under scripts/droplet/. */
export function dropletScript(name: string): string {
  return readFileSync(join(SCRIPTS_DIR, name), "utf8");
}
