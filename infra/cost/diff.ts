/**
 * The change between two resource sets (two offline plans, or a stack export and a plan), resource by resource,
 * matched by type and name. Pure; what the change costs is ./report.ts.
 */
import { DROPLET_IGNORE_CHANGES } from "../droplet-options";
import type { ChangeOp, PlannedResource, ResourceChange } from "../resource-shapes";
import { DROPLET_REPLACE_INPUTS, isPlainObject, TYPES } from "./inputs";

const IGNORED_DROPLET_INPUTS: readonly string[] = DROPLET_IGNORE_CHANGES;

/** `type::name`; a URN's name is its last `::` segment. */
export function resourceKey(r: Pick<PlannedResource, "type" | "name">): string {
  return `${r.type}::${r.name}`;
}

function keyed(resources: readonly PlannedResource[]): Map<string, PlannedResource> {
  const map = new Map<string, PlannedResource>();
  for (const r of resources) {
    let key = resourceKey(r);
    for (let n = 2; map.has(key); n += 1) key = `${resourceKey(r)}#${n}`;
    map.set(key, r);
  }
  return map;
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isPlainObject(value)) {
    const keys = Object.keys(value)
      .filter((k) => k !== "__defaults")
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "undefined";
}

/** Top-level input names whose values differ (ignoring `__defaults`). */
export function changedInputs(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const names = new Set([...Object.keys(before), ...Object.keys(after)]);
  names.delete("__defaults");
  return [...names].filter((k) => canonical(before[k]) !== canonical(after[k])).sort();
}

/** Two offline plans (or a stack export and a plan) to a change per resource, matched by type and name. */
export function diffResourceSets(
  before: readonly PlannedResource[],
  after: readonly PlannedResource[],
): ResourceChange[] {
  const old = keyed(before);
  const next = keyed(after);
  const changes: ResourceChange[] = [];
  for (const [key, b] of old) {
    const a = next.get(key);
    const base = { key, type: b.type, name: b.name, ...((a?.urn ?? b.urn) ? { urn: a?.urn ?? b.urn } : {}) };
    if (!a) {
      changes.push({ ...base, op: "delete", before: b });
      continue;
    }
    // The program declares these droplet inputs in `ignoreChanges`: Pulumi keeps the deployed value.
    const changed = changedInputs(b.inputs, a.inputs).filter(
      (k) => b.type !== TYPES.droplet || !IGNORED_DROPLET_INPUTS.includes(k),
    );
    const replaceReasons = b.type === TYPES.droplet ? changed.filter((k) => DROPLET_REPLACE_INPUTS.includes(k)) : [];
    const op: ChangeOp = changed.length === 0 ? "same" : replaceReasons.length > 0 ? "replace" : "update";
    changes.push({ ...base, op, before: b, after: a, ...(replaceReasons.length ? { replaceReasons } : {}) });
  }
  for (const [key, a] of next) {
    if (!old.has(key))
      changes.push({ key, type: a.type, name: a.name, ...(a.urn ? { urn: a.urn } : {}), op: "create", after: a });
  }
  return changes;
}
