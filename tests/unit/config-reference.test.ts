/**
 * The docs stay true to the code they describe: docs/configuration.md's reference lists exactly the keys that
 * Pulumi.yaml declares and the zod schema parses, and every relative link in README.md and docs/ resolves.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { configSchema, SECRET_KEYS } from "../../infra/config";

const ROOT = join(__dirname, "..", "..");
const CONFIG_DOC = join(ROOT, "docs", "configuration.md");
const MARKDOWN_FILES = [
  join(ROOT, "README.md"),
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => join(ROOT, "docs", f)),
];

/** The keys of the reference table (between its generated-table markers), in order. */
function documentedKeys(markdown: string): string[] {
  const start = markdown.indexOf("<!-- config-reference:start -->");
  const end = markdown.indexOf("<!-- config-reference:end -->");
  if (start < 0 || end < start) throw new Error("docs/configuration.md has no config-reference markers");
  return [...markdown.slice(start, end).matchAll(/^\| `([^`]+)` \|/gm)].map((m) => m[1]!);
}

/** Pulumi.yaml's keys: the `config:` block and the secrets declared under `template.config`. */
function declaredKeys(projectYaml: string): string[] {
  const project = parse(projectYaml) as { config?: object; template?: { config?: object } };
  return [...Object.keys(project.config ?? {}), ...Object.keys(project.template?.config ?? {})];
}

/** What `a` has that `b` lacks, both ways, named by where each list comes from. */
function mismatch(a: { name: string; keys: string[] }, b: { name: string; keys: string[] }): string[] {
  const only = (x: string[], y: string[]) => x.filter((k) => !y.includes(k));
  return [
    ...only(a.keys, b.keys).map((k) => `${k}: in ${a.name}, not in ${b.name}`),
    ...only(b.keys, a.keys).map((k) => `${k}: in ${b.name}, not in ${a.name}`),
  ];
}

const doc = readFileSync(CONFIG_DOC, "utf8");
const docs = { name: "docs/configuration.md", keys: documentedKeys(doc) };
const yaml = { name: "Pulumi.yaml", keys: declaredKeys(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")) };
const schema = { name: "the zod schema and SECRET_KEYS", keys: [...Object.keys(configSchema.shape), ...SECRET_KEYS] };

describe("docs/configuration.md's config reference", () => {
  it("lists every key of Pulumi.yaml, and only those", () => {
    expect(mismatch(docs, yaml)).toEqual([]);
  });

  it("lists every key the schema parses, and only those", () => {
    expect(mismatch(docs, schema)).toEqual([]);
  });

  it("lists each key once", () => {
    expect(docs.keys.filter((k, i) => docs.keys.indexOf(k) !== i)).toEqual([]);
  });

  it("is caught when a row is missing (negative control)", () => {
    const row = doc.split("\n").find((l) => l.startsWith("| `dbPoolSize` |"))!;
    const cut = { name: docs.name, keys: documentedKeys(doc.replace(`${row}\n`, "")) };
    expect(mismatch(cut, yaml)).toEqual(["dbPoolSize: in Pulumi.yaml, not in docs/configuration.md"]);
    expect(mismatch(cut, schema)).toEqual([
      "dbPoolSize: in the zod schema and SECRET_KEYS, not in docs/configuration.md",
    ]);
  });
});

/**
 * A heading's anchor as GitHub makes it: lowercase, every character but letters, digits, spaces, `-` and `_`
 * dropped, spaces turned into `-`; a repeated anchor gets `-1`, `-2`, ...
 */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, "");
  for (const [, title] of withoutCode.matchAll(/^#{1,6} (.+)$/gm)) {
    const base = title!
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    out.add(n === 0 ? base : `${base}-${n}`);
  }
  return out;
}

/** Every relative link of a markdown file whose file or `#anchor` does not exist, as `file: target`. */
function brokenLinks(file: string, markdown: string, read: (path: string) => string | undefined): string[] {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, "").replace(/`[^`\n]*`/g, "");
  const broken: string[] = [];
  for (const [, target] of withoutCode.matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)) {
    if (/^[a-z]+:/i.test(target!)) continue;
    const [path, anchor] = target!.split("#") as [string, string | undefined];
    const targetFile = path === "" ? file : resolve(dirname(file), path);
    const text = read(targetFile);
    const ok = text !== undefined && (anchor === undefined || anchors(text).has(anchor));
    if (!ok) broken.push(`${relative(ROOT, file)}: ${target}`);
  }
  return broken;
}

/** A file's text (any file other than markdown has no headings), or undefined when there is no such path. */
const readIfFile = (path: string) =>
  !existsSync(path) ? undefined : path.endsWith(".md") ? readFileSync(path, "utf8") : "";

describe("links in README.md and docs/", () => {
  it("finds the pages", () => {
    expect(MARKDOWN_FILES.length).toBeGreaterThan(5);
  });

  it.each(MARKDOWN_FILES.map((f) => relative(ROOT, f)))("%s: every relative link and #anchor resolves", (name) => {
    const file = join(ROOT, name);
    expect(brokenLinks(file, readFileSync(file, "utf8"), readIfFile)).toEqual([]);
  });

  it("reports a missing file and a missing heading (negative control)", () => {
    const file = join(ROOT, "README.md");
    const text =
      "[a](docs/no-such-page.md) [b](docs/configuration.md#no-such-heading) [c](#nowhere) [d](https://x.y/z)";
    expect(brokenLinks(file, text, readIfFile)).toEqual([
      "README.md: docs/no-such-page.md",
      "README.md: docs/configuration.md#no-such-heading",
      "README.md: #nowhere",
    ]);
  });

  it("makes anchors as GitHub does", () => {
    expect([...anchors("# Tier change, from start to end\n## `--state`: the plan\n## Notes\n## Notes\n")]).toEqual([
      "tier-change-from-start-to-end",
      "--state-the-plan",
      "notes",
      "notes-1",
    ]);
  });
});
