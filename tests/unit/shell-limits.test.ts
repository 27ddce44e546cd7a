/**
 * The house limits for shell, as Biome holds them for TypeScript (biome.json): no script over 500 lines, no function
 * over 150, in scripts/ and its droplet scripts.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.join(__dirname, "..", "..");
const MAX_FILE_LINES = 500;
const MAX_FUNCTION_LINES = 150;

/** Every bash function of a script (`name() {` at the start of a line to the next `}` alone there), with its length. */
function shellFunctions(text: string): { name: string; lines: number }[] {
  const lines = text.split("\n");
  const found: { name: string; lines: number }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\(\) \{\s*$/.exec(lines[i]!);
    if (!m) continue;
    const end = lines.findIndex((l, j) => j > i && l === "}");
    if (end < 0) throw new Error(`function ${m[1]} has no closing brace at the start of a line`);
    found.push({ name: m[1]!, lines: end - i + 1 });
  }
  return found;
}

const scripts = ["scripts", path.join("scripts", "droplet")].flatMap((dir) =>
  fs
    .readdirSync(path.join(ROOT, dir))
    .filter((f) => f.endsWith(".sh"))
    .map((f) => path.join(dir, f)),
);

describe("shell scripts keep the house limits", () => {
  it("finds the droplet scripts", () => {
    expect(scripts).toContain(path.join("scripts", "droplet", "migrate-cutover.sh"));
  });

  it.each(scripts)("%s: at most 500 lines, no function over 150", (file) => {
    const text = fs.readFileSync(path.join(ROOT, file), "utf8");
    expect(text.split("\n").length).toBeLessThanOrEqual(MAX_FILE_LINES);
    expect(shellFunctions(text).filter((f) => f.lines > MAX_FUNCTION_LINES)).toEqual([]);
  });

  it("negative control: a function of 151 lines is found and measured", () => {
    const body = Array.from({ length: 149 }, (_, i) => `  echo ${i}`).join("\n");
    expect(shellFunctions(`#!/bin/bash\nbig() {\n${body}\n}\nsmall() {\n  :\n}\n`)).toEqual([
      { name: "big", lines: 151 },
      { name: "small", lines: 3 },
    ]);
  });
});
