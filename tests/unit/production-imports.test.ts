/**
 * Production code (infra/, scripts/, policy/) imports nothing from tests/: test harnesses, fakes and benchmarks may
 * use production code, never the other way round. Every way one file names another counts (`import`, `export ...
 * from`, `require()`, `import()`), found by the TypeScript compiler's scanner.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const TESTS = join(ROOT, "tests") + sep;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return entry === "node_modules" ? [] : sourceFiles(path);
    return /\.(ts|js|mjs|cjs)$/.test(entry) ? [path] : [];
  });
}

/** The specifiers of `file` (its text) that resolve into tests/. */
function testImports(file: string, text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((spec) => spec.startsWith(".") && (resolve(dirname(file), spec) + sep).startsWith(TESTS));
}

describe("production code imports nothing from tests/", () => {
  it("infra/, scripts/ and policy/", () => {
    const files = ["infra", "scripts", "policy"].flatMap((d) => sourceFiles(join(ROOT, d)));
    expect(files.length).toBeGreaterThan(50);
    const found = files.flatMap((f) =>
      testImports(f, readFileSync(f, "utf8")).map((spec) => `${relative(ROOT, f)} imports ${spec}`),
    );
    expect(found).toEqual([]);
  });

  it("notices an import, a re-export and a require of a test file (negative control)", () => {
    const file = join(ROOT, "scripts", "x.ts");
    const text = [
      'import { benchOne } from "../tests/migration/bench";',
      'export { h } from "../tests/scale-out/harness";',
      'const s = require("../tests/migration/seams");',
      'import { z } from "zod";',
      'import { EXIT } from "./cli-exit";',
    ].join("\n");
    expect(testImports(file, text)).toEqual([
      "../tests/migration/bench",
      "../tests/scale-out/harness",
      "../tests/migration/seams",
    ]);
  });
});
