/**
 * Reads a stack's config the way the Pulumi CLI would hand it to the program: Pulumi.yaml's declared defaults,
 * overlaid with Pulumi.<stack>.yaml. Encrypted (`secure:`) values are not decrypted: they become a placeholder
 * marked secret, because planning never needs a secret's plain value.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import type { KeyStorage } from "../config-checks";

export const SECRET_PLACEHOLDER = "[secret]";

export interface StackFiles {
  project: string;
  stack: string;
  /** Full keys (`project:key`) to the string values Pulumi's runtime would see. */
  config: Record<string, string>;
  secretKeys: string[];
}

interface Declaration {
  type?: string;
  default?: unknown;
  description?: string;
}

export interface ProjectFile {
  name: string;
  main?: string;
  config?: Record<string, Declaration>;
  /** The secret keys are declared here (optional keys cannot be `secret: true` under `config:`; see Pulumi.yaml). */
  template?: { config?: Record<string, Declaration & { secret?: boolean }> };
}

/** A YAML file's content, or an error naming the file and what is wrong with it (unreadable, not YAML). */
function readYamlFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return parse(text);
  } catch (e) {
    throw new Error(`${path}: not valid YAML: ${(e as Error).message}`);
  }
}

export function readProjectFile(projectDir: string): ProjectFile {
  return readYamlFile(join(projectDir, "Pulumi.yaml")) as ProjectFile;
}

const asConfigString = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

export function readStackFiles(projectDir: string, stack: string): StackFiles {
  const project = readProjectFile(projectDir);
  const stackPath = join(projectDir, `Pulumi.${stack}.yaml`);
  if (!existsSync(stackPath)) throw new Error(`no stack file ${stackPath} (stacks are the Pulumi.<name>.yaml files)`);
  const stackFile = (readYamlFile(stackPath) ?? {}) as { config?: Record<string, unknown> };

  const config: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, decl] of Object.entries(project.config ?? {})) {
    if (decl && typeof decl === "object" && "default" in decl)
      config[`${project.name}:${key}`] = asConfigString(decl.default);
  }
  for (const [rawKey, value] of Object.entries(stackFile.config ?? {})) {
    const key = rawKey.includes(":") ? rawKey : `${project.name}:${rawKey}`;
    if (value && typeof value === "object" && "secure" in (value as object)) {
      config[key] = SECRET_PLACEHOLDER;
      secretKeys.push(key);
    } else {
      config[key] = asConfigString(value);
    }
  }
  return { project: project.name, stack, config, secretKeys };
}

/** The keys Pulumi.yaml declares `secret: true` (in its `template.config`), without the project prefix. */
export function declaredSecretKeys(project: ProjectFile): string[] {
  return Object.entries(project.template?.config ?? {})
    .filter(([, d]) => d?.secret === true)
    .map(([k]) => (k.startsWith(`${project.name}:`) ? k.slice(project.name.length + 1) : k));
}

function hasStackFile(projectDir: string, stack: string): boolean {
  return existsSync(join(projectDir, "Pulumi.yaml")) && existsSync(join(projectDir, `Pulumi.${stack}.yaml`));
}

/**
 * Keys of `secretKeys` that the stack file `Pulumi.<stack>.yaml` in `projectDir` holds in plain text (not `secure:`);
 * none when there is no such file (config from elsewhere, such as an ESC environment, is not judged here).
 */
export function plainSecretsInStackFile(projectDir: string, stack: string, secretKeys: readonly string[]): string[] {
  if (!hasStackFile(projectDir, stack)) return [];
  const raw = rawConfigOf(readStackFiles(projectDir, stack));
  return secretKeys.filter((k) => raw.values[k] !== undefined && !raw.secretKeys.has(k));
}

/**
 * Full keys outside the project's namespace that the stack file `Pulumi.<stack>.yaml` holds, each "plain" or
 * "secure" (`secure:`); none when there is no such file.
 */
export function otherKeysInStackFile(projectDir: string, stack: string): Record<string, KeyStorage> {
  if (!hasStackFile(projectDir, stack)) return {};
  return rawConfigOf(readStackFiles(projectDir, stack)).otherKeys;
}

/** The stack's config in the shape infra/config.ts parses: its own keys without the project prefix, the others full. */
export function rawConfigOf(files: StackFiles): {
  values: Record<string, unknown>;
  secretKeys: Set<string>;
  otherKeys: Record<string, KeyStorage>;
} {
  const prefix = `${files.project}:`;
  const values: Record<string, unknown> = {};
  const otherKeys: Record<string, KeyStorage> = {};
  for (const [k, v] of Object.entries(files.config)) {
    if (k.startsWith(prefix)) values[k.slice(prefix.length)] = v;
    else otherKeys[k] = files.secretKeys.includes(k) ? "secure" : "plain";
  }
  const secretKeys = new Set(files.secretKeys.filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length)));
  return { values, secretKeys, otherKeys };
}
