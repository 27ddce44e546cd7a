/** Reading the project and stack files: what is wrong with one names the file. */
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readProjectFile, readStackFiles } from "../../infra/offline/stack-files";

const ROOT = join(__dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "stack-files-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a project or stack file that cannot be read", () => {
  it("a key given twice in the stack file: the file, the line and the key", () => {
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    writeFileSync(join(dir, "Pulumi.twice.yaml"), "config:\n  chatbot:tier: 8gb\n  chatbot:tier: 4gb\n");
    expect(() => readStackFiles(dir, "twice")).toThrow(
      new RegExp(
        `^${join(dir, "Pulumi.twice.yaml")}: not valid YAML: Map keys must be unique at line 3.*chatbot:tier`,
        "s",
      ),
    );
  });

  it("no project file: its path", () => {
    expect(() => readProjectFile(join(dir, "nope"))).toThrow(
      `${join(dir, "nope", "Pulumi.yaml")}: cannot read (ENOENT)`,
    );
  });

  it("the repository's own files read (negative control)", () => {
    expect(readProjectFile(ROOT).name).toBe("chatbot");
    expect(readStackFiles(ROOT, "dev").config["chatbot:tier"]).toBe("4gb");
  });
});
