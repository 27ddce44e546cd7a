/**
 * `pulumi stack export` files, read for `npm run plan -- --state FILE` and written for `--write-state FILE`.
 * Pure apart from the file read: plain values in and out, no Pulumi runtime.
 *
 * The format (deployment version 3; /work/shared/fixtures/pulumi-json/05-stratify-stack-export.json, pulumi/pulumi
 * `sdk/go/common/apitype/core.go`): `{version: 3, deployment: {manifest: {time, magic, version}, secrets_providers?,
 * resources: [...]}}`; each resource has `urn`, `custom`, `id`, `type`, `inputs`, `outputs`, `parent`, `protect`,
 * `dependencies`, `retainOnDelete` when set, `external` when only read. Stack outputs are the outputs of the
 * `pulumi:pulumi:Stack` resource. The manifest's `magic` is the SHA-256 of its `version` (checked on the fixture).
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { z } from "zod";
import { parseUrn } from "../pulumi-json";
import { isSecret, secretsForExport, wrapSecret } from "./secret-values";

export const STACK_TYPE = "pulumi:pulumi:Stack";
export const STACK_REFERENCE_TYPE = "pulumi:pulumi:StackReference";
export const DEPLOYMENT_VERSION = 3;
const EXPECTED = `a \`pulumi stack export\` of deployment version ${DEPLOYMENT_VERSION} ({"version": ${DEPLOYMENT_VERSION}, "deployment": {"manifest": {...}, "resources": [...]}})`;

/** A state file that cannot be used: a usage error (exit 2), with the file named. */
export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateFileError";
  }
}

/** One resource as a state stores it (what is read from an export, and what is written to one). */
export interface ResourceState {
  urn: string;
  type: string;
  custom: boolean;
  id?: string | undefined;
  /** Read: as exported (secrets `{sig, ciphertext}`, `__defaults` lists). Written: secrets still `{sig, value}`. */
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
  parent?: string | undefined;
  protect: boolean;
  retainOnDelete: boolean;
  dependencies: string[];
}

export interface DeployedResource extends ResourceState {
  name: string;
  /** Read, not managed (a StackReference, a `.get()`): never created, updated or deleted. */
  external: boolean;
}

export interface DeployedState {
  file: string;
  project?: string;
  stack?: string;
  /** The Stack resource's outputs as the program may see them: encrypted secrets left out. */
  stackOutputs: Record<string, unknown>;
  /** Paths of stack outputs that are encrypted secrets: they cannot be decrypted offline and are passed as absent. */
  undecryptedOutputs: string[];
  /** Every managed and read resource, without the Stack and the providers (`pulumi:providers:*`). */
  resources: DeployedResource[];
  secretsProviders?: unknown;
}

const Json = z.record(z.string(), z.unknown());
const ResourceSchema = z.looseObject({
  urn: z.string().startsWith("urn:pulumi:"),
  type: z.string().min(1),
  custom: z.boolean().optional(),
  id: z.string().optional(),
  inputs: Json.nullish(),
  outputs: Json.nullish(),
  parent: z.string().nullish(),
  protect: z.boolean().optional(),
  retainOnDelete: z.boolean().optional(),
  external: z.boolean().optional(),
  dependencies: z.array(z.string()).nullish(),
});
const ExportSchema = z.looseObject({
  version: z.number(),
  deployment: z.looseObject({
    manifest: Json.optional(),
    secrets_providers: z.unknown().optional(),
    resources: z.array(ResourceSchema).nullish(),
  }),
});

function describe(value: unknown): string {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return `a JSON ${Array.isArray(value) ? "array" : typeof value}`;
  const keys = Object.keys(value);
  if (keys.includes("steps") || keys.includes("changeSummary")) return "a preview (`pulumi preview --json`)";
  if (keys.includes("resources") && keys.includes("stack")) return "an offline plan (`npm run plan -- --json`)";
  return `an object with keys ${keys.slice(0, 6).join(", ") || "(none)"}`;
}

/** Encrypted secrets inside a stack output are left out (their paths collected); plaintext ones are decoded. */
function withoutEncrypted(value: unknown, path: string, undecrypted: string[]): unknown {
  if (isSecret(value)) {
    if (typeof value.plaintext === "string") {
      try {
        return withoutEncrypted(JSON.parse(value.plaintext), path, undecrypted);
      } catch {
        // fall through: an undecodable plaintext is as unreadable as a ciphertext
      }
    }
    undecrypted.push(path);
    return undefined;
  }
  if (Array.isArray(value)) return value.map((v, i) => withoutEncrypted(v, `${path}[${i}]`, undecrypted));
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      const x = withoutEncrypted(v, `${path}.${k}`, undecrypted);
      if (x !== undefined) out[k] = x;
    }
    return out;
  }
  return value;
}

export function parseStateExport(value: unknown, file: string): DeployedState {
  if (typeof value !== "object" || value === null || !("deployment" in value)) {
    throw new StateFileError(`${file}: this is ${describe(value)}, not a stack export; expected ${EXPECTED}`);
  }
  const version = (value as { version?: unknown }).version;
  if (version !== DEPLOYMENT_VERSION) {
    throw new StateFileError(`${file}: deployment version ${JSON.stringify(version ?? null)}; expected ${EXPECTED}`);
  }
  const parsed = ExportSchema.safeParse(value);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 5).map((i) => `${i.path.join(".") || "(top level)"}: ${i.message}`);
    throw new StateFileError(`${file}: not a valid stack export (${issues.join("; ")}); expected ${EXPECTED}`);
  }
  const raw = parsed.data.deployment.resources ?? [];
  const stackResource = raw.find((r) => r.type === STACK_TYPE);
  const first = stackResource ?? raw[0];
  const where = first ? parseUrn(first.urn) : undefined;
  const undecryptedOutputs: string[] = [];
  const stackOutputs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(stackResource?.outputs ?? {})) {
    const x = withoutEncrypted(v, k, undecryptedOutputs);
    if (x !== undefined) stackOutputs[k] = x;
  }
  const resources: DeployedResource[] = raw
    .filter((r) => r.type !== STACK_TYPE && !r.type.startsWith("pulumi:providers:"))
    .map((r) => ({
      urn: r.urn,
      type: r.type,
      name: parseUrn(r.urn).name,
      custom: r.custom ?? false,
      ...(r.id ? { id: r.id } : {}),
      inputs: r.inputs ?? {},
      outputs: r.outputs ?? {},
      ...(r.parent ? { parent: r.parent } : {}),
      protect: r.protect ?? false,
      retainOnDelete: r.retainOnDelete ?? false,
      dependencies: r.dependencies ?? [],
      external: r.external ?? false,
    }));
  return {
    file,
    ...(where ? { project: where.project, stack: where.stack } : {}),
    stackOutputs,
    undecryptedOutputs,
    resources,
    ...(parsed.data.deployment.secrets_providers === undefined
      ? {}
      : { secretsProviders: parsed.data.deployment.secrets_providers }),
  };
}

export function readStateFile(file: string): DeployedState {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new StateFileError(
      `${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); expected ${EXPECTED}`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new StateFileError(`${file}: not JSON (${(e as Error).message}); expected ${EXPECTED}`);
  }
  return parseStateExport(value, file);
}

/** Refuses the export of another stack or project: its URNs would match nothing and plan the stack from scratch. */
export function checkStateIsFor(state: DeployedState, project: string, stack: string): void {
  if (state.project === undefined) return; // no resources at all: a stack never deployed
  if (state.project !== project || state.stack !== stack) {
    throw new StateFileError(
      `${state.file}: an export of stack ${state.stack} of project ${state.project}; expected stack ${stack} of project ${project}`,
    );
  }
}

export const WRITER_VERSION = "chatbot-offline-plan";

/** The stack's root URN: `urn:pulumi:<stack>::<project>::pulumi:pulumi:Stack::<project>-<stack>`. */
export function stackUrn(project: string, stack: string): string {
  return `urn:pulumi:${stack}::${project}::${STACK_TYPE}::${project}-${stack}`;
}

/** Parents and dependencies before the resources that name them (the order the engine keeps a snapshot in). */
function dependencyOrder(resources: readonly ResourceState[]): ResourceState[] {
  const byUrn = new Map(resources.map((r) => [r.urn, r]));
  const done = new Set<string>();
  const out: ResourceState[] = [];
  const visit = (r: ResourceState, path: Set<string>) => {
    if (done.has(r.urn) || path.has(r.urn)) return;
    path.add(r.urn);
    for (const u of [r.parent, ...r.dependencies]) {
      const dep = u === undefined ? undefined : byUrn.get(u);
      if (dep) visit(dep, path);
    }
    done.add(r.urn);
    out.push(r);
  };
  for (const r of resources) visit(r, new Set());
  return out;
}

/**
 * The export a successful `pulumi up` of the plan would leave. Every secret (in inputs, outputs and stack outputs)
 * is written as the secret signature with a placeholder ciphertext, never in plain text.
 */
export function buildStateExport(args: {
  project: string;
  stack: string;
  now: Date;
  /** Resolved stack outputs, and which of them are secret. */
  outputs: Record<string, unknown>;
  secretOutputs: readonly string[];
  resources: readonly ResourceState[];
  secretsProviders?: unknown;
}): { version: number; deployment: Record<string, unknown> } {
  const root = stackUrn(args.project, args.stack);
  const stackOutputs = Object.fromEntries(
    Object.entries(args.outputs)
      .filter(([, v]) => v !== undefined)
      .map(([k, v]) => [k, secretsForExport(args.secretOutputs.includes(k) ? wrapSecret(v) : v)]),
  );
  const resources = dependencyOrder(args.resources).map((r) => ({
    urn: r.urn,
    custom: r.custom,
    ...(r.custom && r.id !== undefined ? { id: r.id } : {}),
    type: r.type,
    inputs: secretsForExport(r.inputs),
    outputs: secretsForExport(r.outputs),
    parent: r.parent ?? root,
    protect: r.protect,
    dependencies: r.dependencies,
    ...(r.retainOnDelete ? { retainOnDelete: true } : {}),
  }));
  return {
    version: DEPLOYMENT_VERSION,
    deployment: {
      manifest: {
        time: args.now.toISOString(),
        magic: createHash("sha256").update(WRITER_VERSION).digest("hex"),
        version: WRITER_VERSION,
      },
      ...(args.secretsProviders === undefined ? {} : { secrets_providers: args.secretsProviders }),
      resources: [{ urn: root, custom: false, type: STACK_TYPE, outputs: stackOutputs }, ...resources],
    },
  };
}
