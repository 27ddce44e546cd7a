/**
 * `npm ci` runs an install script only when package.json's `allowScripts` approves it, and warns about each one it
 * does not cover. Every package of the lock that has one must be decided there (approved or denied), and each
 * decision explained in docs/development.md, so a clean install prints no install-scripts warning.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
const readJson = (file: string) => JSON.parse(readFileSync(join(ROOT, file), "utf8"));

interface Lock {
  packages: Record<string, { hasInstallScript?: boolean }>;
}

/** The names of the lock's packages that have an install script (a nested copy counts under its own name). */
function withInstallScripts(lock: Lock): string[] {
  const names = Object.entries(lock.packages)
    .filter(([, p]) => p.hasInstallScript)
    .map(([path]) => path.slice(path.lastIndexOf("node_modules/") + "node_modules/".length));
  return [...new Set(names)].sort();
}

/** What `allowScripts` leaves undecided, and what it decides for a package the lock does not have. */
function undecided(lock: Lock, allow: Record<string, boolean>): { missing: string[]; stale: string[] } {
  const needed = withInstallScripts(lock);
  return {
    missing: needed.filter((n) => !(n in allow)),
    stale: Object.keys(allow).filter((n) => !needed.includes(n)),
  };
}

describe("install scripts", () => {
  const lock = readJson("package-lock.json") as Lock;
  const allow = readJson("package.json").allowScripts as Record<string, boolean>;

  it("every package with an install script is approved or denied in allowScripts, and no other", () => {
    expect(withInstallScripts(lock).length).toBeGreaterThan(0);
    expect(undecided(lock, allow)).toEqual({ missing: [], stale: [] });
  });

  it("docs/development.md says why of each", () => {
    const docs = readFileSync(join(ROOT, "docs", "development.md"), "utf8");
    const paragraph = docs.slice(docs.indexOf("Install scripts (`allowScripts`"));
    for (const name of Object.keys(allow)) expect(paragraph, name).toContain(`\`${name}\``);
  });

  it("a new package with an install script, or a decision left for a removed one, is caught (negative control)", () => {
    const more: Lock = {
      packages: { ...lock.packages, "node_modules/a/node_modules/sharp": { hasInstallScript: true } },
    };
    expect(undecided(more, allow).missing).toEqual(["sharp"]);
    expect(undecided(lock, { ...allow, "left-pad": false }).stale).toEqual(["left-pad"]);
  });
});
