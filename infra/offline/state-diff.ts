/**
 * What `pulumi preview` would show for an offline run against a deployed state, and whether any of it loses data.
 * Pure: plain values in and out, no Pulumi runtime.
 *
 * How the engine decides (pulumi/pulumi `pkg/resource/deploy/step_generator.go`; the preview fixtures 02-04 in
 * /work/shared/fixtures/pulumi-json): a registered URN (or one of its aliases) found in the state is `same` when its
 * inputs are unchanged, `update` when they changed, `replace` when a changed input is one the provider cannot change
 * in place (its ForceNew keys, infra/provider-rules.ts) or one named in `replaceOnChanges`; a URN not in the state is
 * `create`; a state resource nothing registered is `delete`. Inputs compare as the engine sees them after the
 * provider's Check: `__defaults` keys the provider filled in are not differences, and a secret is compared only by
 * presence (the state's ciphertext cannot be decrypted offline).
 */
import { parseUrn } from "../pulumi-json";
import { replacingChanges } from "../provider-rules";
import { isSecret } from "./secret-values";
import type { DeployedResource, DeployedState, ResourceState } from "./state-file";
import { STACK_REFERENCE_TYPE } from "./state-file";

export type Op = "create" | "update" | "replace" | "delete" | "same";
export const OPS: readonly Op[] = ["create", "update", "replace", "delete", "same"];

const T = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  assignment: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  record: "digitalocean:index/dnsRecord:DnsRecord",
  localCommand: "command:local:Command",
  remoteCommand: "command:remote:Command",
  password: "random:index/randomPassword:RandomPassword",
  randomString: "random:index/randomString:RandomString",
} as const;

/** The tier migration's command: a `command:local:Command` whose name ends in `migration-run`. */
export function isMigrationCommand(type: string, name: string): boolean {
  return type === T.localCommand && name.endsWith("migration-run");
}

/** What the plan registered, as the diff needs it. */
export interface Registration extends ResourceState {
  name: string;
  replaceOnChanges: string[];
  ignoreChanges: string[];
  /** The state resource this one continues (its own URN, or an alias), if any. */
  deployedUrn?: string | undefined;
}

export interface Operation {
  urn: string;
  type: string;
  name: string;
  op: Op;
  /** For `replace`: the inputs whose change forces it. */
  replaceKeys: string[];
  /** For `update` and `replace`: every changed input. */
  diffKeys: string[];
  /** Changed-or-not inputs that hold a secret on either side: compared by presence only. */
  secretKeys: string[];
  parent?: string;
  protect: boolean;
  retainOnDelete: boolean;
  /** The state URN this resource continues when it differs from its own (an alias). */
  previousUrn?: string;
  /** For a deployed resource whose resource options change: each changed flag as [deployed, planned]. */
  flags?: FlagChanges;
}

/** Resource options of a deployed resource that the plan changes, each as [deployed, planned]. */
export interface FlagChanges {
  protect?: [boolean, boolean];
  retainOnDelete?: [boolean, boolean];
}

/**
 * The flags that differ between the state and the registration. The engine applies a flag change without a provider
 * call (the step stays `same` or `update`), so it shows only here.
 */
export function flagChanges(
  before: Pick<ResourceState, "protect" | "retainOnDelete">,
  after: Pick<ResourceState, "protect" | "retainOnDelete">,
): FlagChanges | undefined {
  const out: FlagChanges = {};
  if (before.protect !== after.protect) out.protect = [before.protect, after.protect];
  if (before.retainOnDelete !== after.retainOnDelete)
    out.retainOnDelete = [before.retainOnDelete, after.retainOnDelete];
  return Object.keys(out).length ? out : undefined;
}

/**
 * A deployed volume whose `retainOnDelete` is removed: it holds data, and from this update on a drop of it (or of
 * its server) deletes the data with it instead of leaving the volume at DigitalOcean.
 */
export function flagWarnings(ops: readonly Operation[]): string[] {
  return ops
    .filter((o) => o.type === T.volume && o.flags?.retainOnDelete?.[0] === true && o.flags.retainOnDelete[1] === false)
    .map(
      (o) =>
        `volume ${o.name} holds data and loses retainOnDelete: from this update on, a \`pulumi up\` that drops it deletes it with its data instead of leaving it at DigitalOcean`,
    );
}

/**
 * Inputs other providers force a replacement on, beyond infra/provider-rules.ts (which covers DigitalOcean):
 * - random:RandomPassword and RandomString: every argument has a RequiresReplace plan modifier
 *   (hashicorp/terraform-provider-random internal/provider/resource_password.go@c054b476, passwordSchemaV3; the
 *   preview fixture 03 shows a RandomString replaced on `length` and `special`), so any change regenerates it.
 * - command:*:Command: a change of `triggers` replaces (re-runs `create`) unless an `update` command is given
 *   (@pulumi/command 1.2.1 local/command.d.ts and remote/command.d.ts, `triggers`); other changes are updates.
 */
function otherReplaceKeys(type: string, changed: readonly string[], after: Record<string, unknown>): string[] {
  if (type === T.password || type === T.randomString) return [...changed];
  if (
    (type === T.localCommand || type === T.remoteCommand) &&
    changed.includes("triggers") &&
    after.update === undefined
  )
    return ["triggers"];
  return [];
}

const SECRET_MARK = "[secret]";
const present = (v: unknown) => v !== undefined && v !== null;

function secretPresent(v: unknown): boolean {
  if (!isSecret(v)) return present(v);
  return present(v.value) || present(v.ciphertext) || present(v.plaintext);
}

/**
 * Both sides made comparable the way the engine would compare them: `__defaults` dropped (and a key the provider
 * defaulted in the state, absent from the new inputs, is no difference); a secret on either side compared by
 * presence only (`onSecret` gets the top-level key where that happened).
 */
function comparable(
  before: unknown,
  after: unknown,
  top: string | undefined,
  onSecret: (key: string | undefined) => void,
): [unknown, unknown] {
  if (isSecret(before) || isSecret(after)) {
    onSecret(top);
    return [secretPresent(before) ? SECRET_MARK : undefined, secretPresent(after) ? SECRET_MARK : undefined];
  }
  if (Array.isArray(before) && Array.isArray(after) && before.length === after.length) {
    const pairs = before.map((b, i) => comparable(b, after[i], top, onSecret));
    return [pairs.map((p) => p[0]), pairs.map((p) => p[1])];
  }
  if (isObject(before) && isObject(after)) {
    const defaults = Array.isArray(before.__defaults) ? (before.__defaults as unknown[]) : [];
    const b: Record<string, unknown> = {};
    const a: Record<string, unknown> = {};
    for (const k of new Set([...Object.keys(before), ...Object.keys(after)])) {
      if (k === "__defaults" || (!(k in after) && defaults.includes(k))) continue;
      const [x, y] = comparable(before[k], after[k], top ?? k, onSecret);
      if (x !== undefined) b[k] = x;
      if (y !== undefined) a[k] = y;
    }
    return [b, a];
  }
  return [before, after];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON with sorted keys; null and absent are the same (as for the provider). */
function canonical(v: unknown): string {
  if (v === undefined || v === null) return "null";
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (isObject(v)) {
    const keys = Object.keys(v)
      .filter((k) => present(v[k]))
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(",")}}`;
  }
  return JSON.stringify(v);
}

export interface ResourceDiff {
  op: "same" | "update" | "replace";
  diffKeys: string[];
  replaceKeys: string[];
  secretKeys: string[];
}

/** Same, update or replace, for a registration found in the state. */
export function diffResource(
  type: string,
  before: Record<string, unknown>,
  after: Record<string, unknown>,
  options: {
    replaceOnChanges?: readonly string[];
    ignoreChanges?: readonly string[];
    beforeOutputs?: Record<string, unknown>;
  } = {},
): ResourceDiff {
  // A bridged provider diffs the new inputs against the old state: an input set now but not before is no change
  // when the deployed outputs already hold that value (a provider default, such as a key's size).
  const olds = { ...before };
  for (const k of Object.keys(after))
    if (!(k in before) && options.beforeOutputs && k in options.beforeOutputs) olds[k] = options.beforeOutputs[k];
  before = olds;
  const secretKeys = new Set<string>();
  const ignored = new Set(options.ignoreChanges ?? []);
  const keep = (o: Record<string, unknown>) => Object.fromEntries(Object.entries(o).filter(([k]) => !ignored.has(k)));
  const [b, a] = comparable(keep(before), keep(after), undefined, (k) => k !== undefined && secretKeys.add(k)) as [
    Record<string, unknown>,
    Record<string, unknown>,
  ];
  const diffKeys = [...new Set([...Object.keys(b), ...Object.keys(a)])].filter(
    (k) => canonical(b[k]) !== canonical(a[k]),
  );
  const byOption = (options.replaceOnChanges ?? []).includes("*")
    ? diffKeys
    : diffKeys.filter((k) =>
        (options.replaceOnChanges ?? []).some((p) => p === k || p.startsWith(`${k}.`) || p.startsWith(`${k}[`)),
      );
  const replaceKeys = [
    ...new Set([
      ...replacingChanges(type, b, a).filter((k) => diffKeys.includes(k)),
      ...otherReplaceKeys(type, diffKeys, after),
      ...byOption,
    ]),
  ];
  return {
    op: replaceKeys.length ? "replace" : diffKeys.length ? "update" : "same",
    diffKeys,
    replaceKeys,
    secretKeys: [...secretKeys],
  };
}

/** A registration against the state resource it continues. */
export function diffDeployed(
  deployed: DeployedResource,
  r: Pick<Registration, "type" | "inputs" | "replaceOnChanges" | "ignoreChanges">,
): ResourceDiff {
  return diffResource(r.type, deployed.inputs, r.inputs, {
    replaceOnChanges: r.replaceOnChanges,
    ignoreChanges: r.ignoreChanges,
    beforeOutputs: deployed.outputs,
  });
}

/** Resources of the state the engine would delete when nothing registers them. */
function managed(r: DeployedResource): boolean {
  return !r.external && r.type !== STACK_REFERENCE_TYPE;
}

/** The state resource a registration continues: its own URN, else the first alias found in the state. */
export function matchDeployed(
  state: DeployedState | undefined,
  urn: string,
  aliases: readonly string[],
): DeployedResource | undefined {
  if (!state) return undefined;
  const candidates = [urn, ...aliases];
  for (const u of candidates) {
    const found = state.resources.find((r) => r.urn === u && managed(r));
    if (found) return found;
  }
  return undefined;
}

/** Every operation `pulumi preview --show-sames` would list, registrations first (in order), then deletes. */
export function planOperations(registered: readonly Registration[], state: DeployedState | undefined): Operation[] {
  const deployed = new Map((state?.resources ?? []).filter(managed).map((r) => [r.urn, r]));
  const continued = new Set<string>();
  const ops: Operation[] = registered.map((r) => {
    const before = r.deployedUrn ? deployed.get(r.deployedUrn) : undefined;
    if (before) continued.add(before.urn);
    const flags = before ? flagChanges(before, r) : undefined;
    const diff: ResourceDiff = before
      ? diffDeployed(before, r)
      : { op: "same", diffKeys: [], replaceKeys: [], secretKeys: [] };
    return {
      urn: r.urn,
      type: r.type,
      name: r.name,
      op: before ? diff.op : "create",
      replaceKeys: diff.replaceKeys,
      diffKeys: diff.diffKeys,
      secretKeys: diff.secretKeys,
      ...(r.parent ? { parent: r.parent } : {}),
      protect: r.protect,
      retainOnDelete: r.retainOnDelete,
      ...(before && before.urn !== r.urn ? { previousUrn: before.urn } : {}),
      ...(flags ? { flags } : {}),
    };
  });
  for (const d of deployed.values()) {
    if (continued.has(d.urn)) continue;
    ops.push({
      urn: d.urn,
      type: d.type,
      name: d.name,
      op: "delete",
      replaceKeys: [],
      diffKeys: [],
      secretKeys: [],
      ...(d.parent ? { parent: d.parent } : {}),
      protect: d.protect,
      retainOnDelete: d.retainOnDelete,
    });
  }
  return ops;
}

export function countOps(ops: readonly { op: Op }[]): Record<Op, number> {
  const counts = Object.fromEntries(OPS.map((o) => [o, 0])) as Record<Op, number>;
  for (const o of ops) counts[o.op] += 1;
  return counts;
}

/** Deleting or replacing a protected resource: `pulumi up` fails at that step (after the steps before it ran). */
export function blockedByProtect(ops: readonly Operation[]): Operation[] {
  return ops.filter((o) => o.protect && (o.op === "delete" || o.op === "replace"));
}

export interface DataLoss {
  urn: string;
  type: string;
  name: string;
  op: Op;
  reason: string;
}

const unwrap = (v: unknown) => (isSecret(v) ? v.value : v);

/**
 * The operations that would lose data:
 * - a volume replaced (a new, empty volume takes its place), or deleted when the state does not mark it
 *   `retainOnDelete`;
 * - traffic sent to a server that received no data: a reserved IP assignment, or an A record, created, updated or
 *   replaced to point at a droplet created in this plan, unless it depends on a tier migration command (whose
 *   success means the data was copied). Only when the state holds a droplet: a first deployment has no data yet.
 */
export function checkDataLoss(
  ops: readonly Operation[],
  registered: readonly Registration[],
  state: DeployedState,
): DataLoss[] {
  const out: DataLoss[] = [];
  const deployed = new Map(state.resources.map((r) => [r.urn, r]));
  const finding = (o: Operation, reason: string) =>
    out.push({ urn: o.urn, type: o.type, name: o.name, op: o.op, reason });
  for (const o of ops) {
    if (o.type !== T.volume) continue;
    if (o.op === "replace") {
      const old = deployed.get(o.previousUrn ?? o.urn)?.retainOnDelete
        ? "the old one keeps the data but is only dropped from the stack, detached (retainOnDelete)"
        : "the old one is deleted with the data";
      finding(
        o,
        `volume replaced (${o.replaceKeys.join(", ")} cannot change in place): a new, empty volume takes its place; ${old}`,
      );
    }
    if (o.op === "delete" && !deployed.get(o.urn)?.retainOnDelete)
      finding(o, "volume deleted with its data: the deployed state does not mark it retainOnDelete");
  }

  if (!state.resources.some((r) => r.type === T.droplet && managed(r))) return out;
  const opOf = new Map(ops.map((o) => [o.urn, o]));
  const newDroplets = registered.filter((r) => r.type === T.droplet && opOf.get(r.urn)?.op === "create");
  const dependsOnMigration = (r: Registration) =>
    r.dependencies.some((u) => {
      try {
        const p = parseUrn(u);
        return isMigrationCommand(p.type, p.name);
      } catch {
        return false;
      }
    });
  for (const r of registered) {
    const o = opOf.get(r.urn);
    if (!o || !(o.op === "create" || o.op === "update" || o.op === "replace")) continue;
    let target: Registration | undefined;
    if (r.type === T.assignment) {
      const dropletId = unwrap(r.inputs.dropletId);
      target = newDroplets.find((d) => d.id !== undefined && Number(d.id) === Number(dropletId));
    } else if (r.type === T.record && unwrap(r.inputs.type) === "A") {
      const value = unwrap(r.inputs.value);
      target = newDroplets.find((d) => unwrap(d.outputs.ipv4Address) === value);
    }
    if (!target || dependsOnMigration(r)) continue;
    finding(
      o,
      `sends traffic to droplet ${target.name}, created in this plan with no data copied to it (no tier migration command among its dependencies)`,
    );
  }
  return out;
}
