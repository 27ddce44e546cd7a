/**
 * Runs the real Pulumi program in-process under `pulumi.runtime.setMocks`: no CLI, no credentials, no network.
 * Every resource registration is recorded with its inputs (secrets still wrapped), parent, protection and
 * dependencies. This powers both the offline `plan` command and the wiring tests, so what a user previews is what
 * the program does.
 *
 * Against a deployed state (`state`, a `pulumi stack export`), the mocks answer as the engine would: a resource
 * already deployed keeps its id and outputs, and a `StackReference` to the stack itself reads the state's stack
 * outputs, so the program sees what is deployed.
 */
import * as pulumi from "@pulumi/pulumi";
import { answerCall, FakeCloud } from "./fake-cloud";
import { isSecret, wrapSecret } from "./secret-values";
import { diffDeployed, matchDeployed, type Registration } from "./state-diff";
import { type DeployedResource, type DeployedState, STACK_REFERENCE_TYPE, STACK_TYPE } from "./state-file";
import { readStackFiles, type StackFiles } from "./stack-files";

export { isSecret, redactSecrets, revealSecrets, SECRET_SIG } from "./secret-values";

/**
 * The organization the mocks report (`pulumi.getOrganization()`): the name DIY backends (file, S3) give every stack.
 * A StackReference to the stack itself is therefore `organization/<project>/<stack>`.
 */
export const OFFLINE_ORGANIZATION = "organization";

export interface RecordedResource extends Registration {
  deleteBeforeReplace: boolean;
  /** Outputs the provider marks secret (`additionalSecretOutputs`), on top of those whose input is secret. */
  additionalSecretOutputs: string[];
  /** The id and state the mocks answered with (custom resources only); secret outputs are wrapped. */
  id: string | undefined;
  outputs: Record<string, unknown>;
}

/** A StackReference the program read, and where its outputs came from. */
export interface StackReferenceRead {
  name: string;
  /** "state": the state file's stack outputs; "none": no state given (a stack never deployed); "other": not this stack. */
  source: "state" | "none" | "other";
}

export interface OfflineRun {
  stack: StackFiles;
  resources: RecordedResource[];
  /** The program's stack outputs, resolved. */
  outputs: Record<string, unknown>;
  /** Names of the stack outputs that are secret. */
  secretOutputs: string[];
  stackReferences: StackReferenceRead[];
  /** The plan's clock, taken once per run. */
  now: Date;
  state: DeployedState | undefined;
}

/** The Pulumi program; the engine calls it with no argument, the offline run with the plan's clock. */
export type Program = (opts?: ProgramOptions) => Promise<Record<string, unknown>>;

export interface ProgramOptions {
  /** The time the program plans at (retention windows, drops of a rollback target). @default the time of the call */
  now?: Date;
}

let running = false;

export async function runOffline(opts: {
  projectDir: string;
  stack: string;
  program: Program;
  /** Config values (full keys) to set over the stack file, for tests. */
  overrides?: Record<string, string | undefined>;
  /** Extra secret keys (full keys) among the overrides. */
  secretOverrides?: string[];
  /** The deployed state to plan against (a parsed `pulumi stack export`). */
  state?: DeployedState;
  /** The plan's clock, handed to the program too. @default the time of the call */
  now?: Date;
}): Promise<OfflineRun> {
  if (running) throw new Error("runOffline: one run at a time");
  running = true;
  try {
    const now = opts.now ?? new Date();
    const stack = readStackFiles(opts.projectDir, opts.stack);
    const config = { ...stack.config };
    for (const [k, v] of Object.entries(opts.overrides ?? {})) {
      if (v === undefined) delete config[k];
      else config[k] = v;
    }
    const secretKeys = [...stack.secretKeys, ...(opts.secretOverrides ?? [])].filter((k) => k in config);
    const state = opts.state;
    const cloud = new FakeCloud(now, state?.resources);
    const selfNames = new Set([
      stack.stack,
      `${stack.project}/${stack.stack}`,
      `${OFFLINE_ORGANIZATION}/${stack.project}/${stack.stack}`,
    ]);

    const byUrn = new Map<string, RecordedResource>();
    const answers = new Map<string, { id: string; state: Record<string, unknown> }>();
    const stackReferences: StackReferenceRead[] = [];
    // The URN being registered: MockMonitor.registerResource calls newResource synchronously (before its first
    // await), so the wrapper below sets it and newResource reads it within the same synchronous call.
    let registering: { record: RecordedResource; deployed: DeployedResource | undefined } | undefined;

    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          if (args.type === STACK_REFERENCE_TYPE) {
            const name = String(args.inputs.name ?? args.id ?? args.name);
            const source = selfNames.has(name) ? (state ? "state" : "none") : "other";
            stackReferences.push({ name, source });
            return {
              id: name,
              state: { name, outputs: source === "state" ? state!.stackOutputs : {}, secretOutputNames: [] },
            };
          }
          const current = registering;
          registering = undefined;
          if (!current || current.record.type !== args.type || current.record.name !== args.name) {
            throw new Error(`offline run: unexpected registration of ${args.type} ${args.name}`);
          }
          const { record, deployed } = current;
          const diff = deployed ? diffDeployed(deployed, record) : undefined;
          const answer = cloud.answer(
            { urn: record.urn, type: record.type, name: record.name, inputs: args.inputs },
            deployed && diff ? { resource: deployed, op: diff.op } : undefined,
          );
          answers.set(record.urn, answer);
          return answer;
        },
        call: (args) => answerCall(args),
      },
      stack.project,
      stack.stack,
      false,
      OFFLINE_ORGANIZATION,
    );
    // Capture what the mocks API does not pass on: parent, protect, dependencies, aliases.
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResource(req: RegisterRequest, cb: unknown): Promise<void>;
      newUrn(parent: string, type: string, name: string): string;
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, cb) => {
      const urn = realUrn(monitor.newUrn(req.getParent(), req.getType(), req.getName()));
      const parent = req.getParent() ? realUrn(req.getParent()) : undefined;
      const deployed = matchDeployed(state, urn, aliasUrns(req, stack, parent, byUrn));
      const record: RecordedResource = {
        urn,
        type: req.getType(),
        name: req.getName(),
        custom: req.getCustom(),
        parent,
        protect: Boolean(req.getProtect()),
        retainOnDelete: Boolean(req.getRetainondelete?.()),
        deleteBeforeReplace: Boolean(req.getDeletebeforereplace()),
        dependencies: req.getDependenciesList().map(realUrn),
        inputs: (req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>,
        replaceOnChanges: req.getReplaceonchangesList(),
        ignoreChanges: req.getIgnorechangesList(),
        additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
        deployedUrn: deployed?.urn,
        id: undefined,
        outputs: {},
      };
      byUrn.set(urn, record);
      registering = { record, deployed };
      return register(req, cb);
    };
    pulumi.runtime.setAllConfig(config, secretKeys);

    // runInPulumiStack resolves the outputs to plain values: keep what the program returned to see which are secret.
    let returned: Record<string, unknown> = {};
    await pulumi.runtime.runInPulumiStack(async () => (returned = (await opts.program({ now })) ?? {}));
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    const outputs: Record<string, unknown> = {};
    const secretOutputs: string[] = [];
    for (const [k, v] of Object.entries(returned)) {
      if (v === undefined) continue; // the engine drops an undefined stack output
      const o = pulumi.output(v);
      outputs[k] = await outputValue(o);
      if (await pulumi.isSecret(o)) secretOutputs.push(k);
    }

    const resources = [...byUrn.values()]
      .filter((r) => r.type !== STACK_TYPE)
      .map((r) => {
        const answer = r.custom ? answers.get(r.urn) : undefined;
        return { ...r, id: answer?.id, outputs: markSecretOutputs(answer?.state ?? {}, r) };
      });
    return { stack, resources, outputs, secretOutputs, stackReferences, now, state };
  } finally {
    running = false;
  }
}

/** Outputs the engine keeps secret: those the provider declares, and those whose input of the same name is secret. */
function markSecretOutputs(
  state: Record<string, unknown>,
  r: Pick<RecordedResource, "inputs" | "additionalSecretOutputs">,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(state)) {
    out[k] =
      !isSecret(v) && v !== undefined && (r.additionalSecretOutputs.includes(k) || isSecret(r.inputs[k]))
        ? wrapSecret(v)
        : v;
  }
  return out;
}

/** The mock monitor puts the stack's type at the head of every type chain; the engine does not. */
function realUrn(urn: string): string {
  return urn.replace("::pulumi:pulumi:Stack$", "::");
}

/** `urn:pulumi:<stack>::<project>::<parent's qualified type>$<type>::<name>`, as the engine builds it. */
function buildUrn(stack: string, project: string, parent: string | undefined, type: string, name: string): string {
  const parentType = parent ? (parent.split("::")[2] ?? "") : "";
  const qualified = parentType && parentType !== STACK_TYPE ? `${parentType}$${type}` : type;
  return `urn:pulumi:${stack}::${project}::${qualified}::${name}`;
}

/**
 * The URNs a registration's aliases stand for (pulumi/pulumi `pkg/resource/deploy/source_eval.go`, alias specs):
 * each spec's missing parts are the resource's own; and, as the engine does for children of an aliased parent,
 * the resource's name and type under each of its parent's aliases.
 */
function aliasUrns(
  req: RegisterRequest,
  files: StackFiles,
  parent: string | undefined,
  registered: Map<string, RecordedResource>,
): string[] {
  const type = req.getType();
  const name = req.getName();
  const out: string[] = [];
  for (const a of req.getAliasesList?.() ?? []) {
    if (a.hasUrn()) {
      out.push(realUrn(a.getUrn()));
      continue;
    }
    const spec = a.getSpec();
    if (!spec) continue;
    const aliasParent = spec.getNoparent() ? undefined : spec.getParenturn() ? realUrn(spec.getParenturn()) : parent;
    out.push(
      buildUrn(
        spec.getStack() || files.stack,
        spec.getProject() || files.project,
        aliasParent,
        spec.getType() || type,
        spec.getName() || name,
      ),
    );
  }
  const parentRecord = parent ? registered.get(parent) : undefined;
  if (parentRecord?.deployedUrn && parentRecord.deployedUrn !== parent)
    out.push(buildUrn(files.stack, files.project, parentRecord.deployedUrn, type, name));
  return out;
}

interface AliasMessage {
  hasUrn(): boolean;
  getUrn(): string;
  getSpec():
    | {
        getName(): string;
        getType(): string;
        getStack(): string;
        getProject(): string;
        getParenturn(): string;
        getNoparent(): boolean;
      }
    | undefined;
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProtect(): boolean | undefined;
  getRetainondelete?(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getDependenciesList(): string[];
  getReplaceonchangesList(): string[];
  getIgnorechangesList(): string[];
  getAdditionalsecretoutputsList(): string[];
  getAliasesList?(): AliasMessage[];
  getObject(): { toJavaScript(): unknown } | undefined;
}

function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) =>
    o.apply((v) => {
      resolve(v);
      return v;
    }),
  );
}
