/**
 * No import circles under infra/: every module can be read (and split) after the ones it imports. The graph counts
 * every way one file names another: `import`, `import type`, `export ... from`, `import x = require()` and
 * `import()`, found by the TypeScript compiler's own scanner (`ts.preProcessFile`), not by a regex.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return tsFiles(path);
    return path.endsWith(".ts") ? [path] : [];
  });
}

/** The file a relative specifier names (`./x` -> x.ts or x/index.ts); undefined for packages and node: modules. */
function resolveLocal(from: string, specifier: string): string | undefined {
  if (!specifier.startsWith(".")) return undefined;
  const base = resolve(dirname(from), specifier);
  for (const candidate of [base, `${base}.ts`, join(base, "index.ts")]) {
    try {
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // try the next form
    }
  }
  throw new Error(`${relative(ROOT, from)}: cannot resolve "${specifier}"`);
}

/** File -> the files under `dir` it imports, type-only imports and re-exports included. */
function importGraph(dir: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of tsFiles(dir)) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const targets = importedFiles
      .map((f) => resolveLocal(file, f.fileName))
      .filter((t): t is string => t !== undefined);
    graph.set(
      file,
      [...new Set(targets)].filter((t) => t.startsWith(dir + sep)),
    );
  }
  return graph;
}

/** Every strongly connected component of more than one file (or a file importing itself), each sorted. */
function importCycles(graph: Map<string, string[]>): string[][] {
  // Tarjan's algorithm.
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const onStack = new Set<string>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next);
    next += 1;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

describe("the import graph of infra/", () => {
  const infra = join(ROOT, "infra");
  const graph = importGraph(infra);

  it("is read from every module, with the edges the compiler sees (type-only imports and re-exports included)", () => {
    expect(graph.size).toBeGreaterThan(40);
    const edges = (from: string) => (graph.get(join(infra, from)) ?? []).map((f) => relative(infra, f));
    // index.ts imports its components; a plain `import type` and an `import x = require()` count as edges too.
    expect(edges("index.ts")).toEqual(expect.arrayContaining(["components/app-server.ts", "plan.ts"]));
    expect(
      importCycles(
        new Map([
          ["a", ["b"]],
          ["b", ["a"]],
          ["c", ["c"]],
          ["d", ["a"]],
        ]),
      ),
    ).toEqual([["a", "b"], ["c"]]);
    const typeOnly = ts.preProcessFile(
      'import type { X } from "./x";\nexport { Y } from "./y";\nimport z = require("./z");',
      true,
      true,
    );
    expect(typeOnly.importedFiles.map((f) => f.fileName)).toEqual(["./x", "./y", "./z"]);
  });

  it("has no circles", () => {
    const cycles = importCycles(graph).map((c) => c.map((f) => relative(ROOT, f)).join(" <-> "));
    expect(cycles).toEqual([]);
  });
});
