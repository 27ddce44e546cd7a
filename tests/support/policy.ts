/**
 * Calls the pack's policies the way CrossGuard's analyzer does (@pulumi/policy `server.js`): the validate function
 * with its args, the props behind the analyzer's unknown-checking proxy (reading a value unknown during a preview
 * throws), the config filled with the schema's defaults, `notApplicable` throwing to skip, violations collected.
 */
import {
  type PolicyResource,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  unknownCheckingProxy,
} from "@pulumi/policy";

export interface TestResource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  protect?: boolean;
  /** The parent's URN. */
  parent?: string;
}

export interface Outcome {
  applicable: boolean;
  violations: string[];
}

class NotApplicable extends Error {}

/** What the analyzer passes for every resource: its identity, its props behind the unknown-checking proxy, its options. */
const viewOf = (r: TestResource) => ({
  type: r.type,
  name: r.name,
  urn: r.urn,
  props: unknownCheckingProxy(r.props) as Record<string, unknown>,
  opts: optionsOf(r),
  isType: () => false,
  asType: () => undefined,
});

const optionsOf = (r: TestResource) => ({
  protect: r.protect ?? false,
  ignoreChanges: [],
  aliases: [],
  additionalSecretOutputs: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  ...(r.parent ? { parent: r.parent } : {}),
});

function configOf(
  policy: { configSchema?: { properties: Record<string, unknown> } },
  overrides: Record<string, unknown>,
): Record<string, unknown> {
  const defaults = Object.fromEntries(
    Object.entries(policy.configSchema?.properties ?? {}).map(([k, p]) => [k, (p as { default?: unknown }).default]),
  );
  return { ...defaults, ...overrides };
}

const common = (policy: Parameters<typeof configOf>[0], config: Record<string, unknown>) => ({
  stackTags: new Map<string, string>(),
  getConfig: <T extends object>() => configOf(policy, config) as T,
  notApplicable: (reason?: string): never => {
    throw new NotApplicable(reason);
  },
});

async function outcome(
  run: (report: (message: string, urn?: string) => void) => Promise<void> | void,
): Promise<Outcome> {
  const violations: string[] = [];
  try {
    await run((message, urn) => violations.push(urn ? `${urn.split("::").pop()}: ${message}` : message));
  } catch (e) {
    if (e instanceof NotApplicable) return { applicable: false, violations };
    throw e;
  }
  return { applicable: true, violations };
}

/** One resource through a resource policy (`Analyze`: the resource's inputs). */
export function validateResource(
  policy: ResourceValidationPolicy,
  r: TestResource,
  config: Record<string, unknown> = {},
): Promise<Outcome> {
  const validate = policy.validateResource;
  if (!validate || Array.isArray(validate)) throw new Error(`${policy.name} has no single validateResource`);
  const args = { ...viewOf(r), ...common(policy, config) };
  return outcome((report) => validate(args, report));
}

/** Every resource of a stack through a stack policy (`AnalyzeStack`: the resources' outputs). */
export function validateStack(
  policy: StackValidationPolicy,
  resources: readonly TestResource[],
  config: Record<string, unknown> = {},
): Promise<Outcome> {
  const byUrn = new Map<string, PolicyResource>();
  const list = resources.map((r) => {
    const p = { ...viewOf(r), dependencies: [], propertyDependencies: {} } as PolicyResource;
    byUrn.set(r.urn, p);
    return p;
  });
  list.forEach((p, i) => {
    const parent = resources[i]!.parent;
    if (parent && byUrn.has(parent)) p.parent = byUrn.get(parent);
  });
  return outcome((report) => policy.validateStack({ resources: list, ...common(policy, config) }, report));
}
