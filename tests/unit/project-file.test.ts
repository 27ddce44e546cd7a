/** Pulumi.yaml declares every config key the schema knows, with the schema's default; docs/configuration.md documents them. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CONFIG_KEYS, configSchema, SECRET_KEYS } from "../../infra/config";
import { renderConfigReference, renderTuningTable } from "../../infra/offline/readme-tables";
import { declaredSecretKeys, readProjectFile } from "../../infra/offline/stack-files";

const ROOT = join(__dirname, "..", "..");
const project = readProjectFile(ROOT);
const declared = project.config ?? {};

describe("Pulumi.yaml", () => {
  it("is the nodejs TypeScript project `chatbot` with infra/index.ts as its entry", () => {
    expect(project).toMatchObject({ name: "chatbot", main: "infra/index.ts" });
    expect(readFileSync(join(ROOT, "Pulumi.yaml"), "utf8")).toMatch(
      /runtime:\n\s+name: nodejs\n\s+options:\n\s+typescript: true/,
    );
  });

  it("declares exactly the schema's keys under config (secrets are left out: declared without a default they would be required)", () => {
    expect(Object.keys(declared).sort()).toEqual([...CONFIG_KEYS].sort());
    for (const s of SECRET_KEYS) expect(declared[s]).toBeUndefined();
  });

  it("declares exactly the secret keys `secret: true`, with no default, in template.config (optional, unlike config)", () => {
    expect(declaredSecretKeys(project).sort()).toEqual([...SECRET_KEYS].sort());
    for (const [key, d] of Object.entries(project.template?.config ?? {})) {
      expect(d, key).toEqual({ description: expect.stringMatching(/.{20}/), secret: true });
    }
  });

  it.each(CONFIG_KEYS)(
    "declares %s with a description, a Pulumi type matching the schema, and the schema's default",
    (key) => {
      const d = declared[key]!;
      expect(d.description?.length ?? 0).toBeGreaterThan(10);
      const schemaDefault = configSchema.shape[key].safeParse(undefined);
      if ("default" in d) {
        const parsed = d.default === "" ? undefined : configSchema.shape[key].parse(d.default);
        expect(parsed).toEqual(schemaDefault.success ? schemaDefault.data : undefined);
      } else {
        expect(schemaDefault.success, `${key} has no default in Pulumi.yaml, so the schema must require it`).toBe(
          false,
        );
      }
      const sample = d.default;
      const expectedType = Array.isArray(sample)
        ? "array"
        : typeof sample === "number"
          ? "integer"
          : typeof sample === "boolean"
            ? "boolean"
            : d.type;
      expect(d.type).toBe(expectedType);
    },
  );
});

describe("docs/configuration.md: config reference", () => {
  it("is the table generated from Pulumi.yaml (`npm run -s readme-tables`), covering every key and secret", () => {
    const table = renderConfigReference(project);
    for (const key of [...CONFIG_KEYS, ...SECRET_KEYS]) expect(table).toMatch(new RegExp(`^\\| \`${key}\` \\|`, "m"));
    expect(readFileSync(join(ROOT, "docs", "configuration.md"), "utf8")).toContain(table);
  });

  it("shows the tuning table generated from infra/tuning.ts", () => {
    expect(readFileSync(join(ROOT, "docs", "configuration.md"), "utf8")).toContain(renderTuningTable());
  });
});
