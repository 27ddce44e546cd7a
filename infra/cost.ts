/**
 * Monthly cost of planned resources, and of the change between two resource sets. Pure: plain values in, plain
 * values out; prices come from infra/pricing.ts. Money is handled in whole cents and reported in USD.
 *
 * A resource type the price table does not know is "not priced" (`monthly: null`), never $0, and totals say so.
 */
import Table from "cli-table3";
import * as P from "./pricing";
import { TIERS, TIER_NAMES, type TierName } from "./tiers";
import type { ParsedExport, ParsedPlan, ParsedPreview } from "./pulumi-json";
import { SECRET_VALUE, type ChangeOp, type PlannedResource, type ResourceChange } from "./resource-shapes";

/** Pulumi's unknown-value sentinel (pulumi/pulumi `sdk/go/common/resource/plugin/rpc.go`, UnknownStringValue). */
export const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
export const DEFAULT_DOWNTIME_BUDGET_SECONDS = 300;
export const DOWNTIME_BUDGET_CONFIG_KEY = "chatbot:downtimeBudgetSeconds";

export const TYPES = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  volumeSnapshot: "digitalocean:index/volumeSnapshot:VolumeSnapshot",
  reservedIp: "digitalocean:index/reservedIp:ReservedIp",
  reservedIpAssignment: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  loadBalancer: "digitalocean:index/loadBalancer:LoadBalancer",
  databaseCluster: "digitalocean:index/databaseCluster:DatabaseCluster",
  dropletAutoscale: "digitalocean:index/dropletAutoscale:DropletAutoscale",
  uptimeCheck: "digitalocean:index/uptimeCheck:UptimeCheck",
} as const;

/**
 * Droplet inputs whose change replaces the droplet (new disk); `size` resizes it in place with a power-off.
 * See /work/shared/GUIDE.md, "Facts we rely on".
 */
export const DROPLET_REPLACE_INPUTS = ["userData", "image", "region", "sshKeys", "vpcUuid", "monitoring", "dropletAgent"];

export interface ResourceCost {
  type: string;
  name: string;
  urn?: string;
  /** USD per month, rounded to cents; null = not priced. */
  monthly: number | null;
  note?: string;
  /** Keys of PRICE_SOURCES whose figure could not be confirmed and was used for this price. */
  unconfirmed?: string[];
}

export interface MonthlyEstimate {
  /** Sum of the priced resources, USD per month. */
  monthly: number;
  /** One entry per input resource, same order. */
  resources: ResourceCost[];
  /** Resource types the price table does not know (their resources are left out of `monthly`). */
  unpricedTypes: string[];
  /** Resources of known types that could not be priced (unknown size until apply, secret, unknown slug). */
  unpriced: { type: string; name: string; note: string }[];
}

interface Priced {
  cents: number | null;
  note?: string;
  unconfirmed?: string[];
  unknownType?: boolean;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why a value cannot be read: unknown until apply, or secret. undefined when it can. */
function unreadable(value: unknown): string | undefined {
  if (value === UNKNOWN_VALUE) return "unknown until apply";
  if (value === SECRET_VALUE) return "secret";
  return undefined;
}

function readNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

function usd(cents: number): string {
  return formatUsd(cents / 100);
}

function priceDropletSize(size: unknown, field: string): Priced & { slug?: P.DropletSlug } {
  const why = unreadable(size);
  if (why) return { cents: null, note: `${field} ${why}` };
  if (typeof size !== "string") return { cents: null, note: `${field} missing` };
  if (!P.isDropletSlug(size)) {
    return {
      cents: null,
      note: `${field} "${size}" is not in the droplet price table (${Object.keys(P.DROPLET_MONTHLY_USD).join(", ")})`,
    };
  }
  return { cents: P.DROPLET_MONTHLY_USD[size] * 100, slug: size };
}

function priceDroplet(inputs: Record<string, unknown>): Priced {
  const base = priceDropletSize(inputs.size, "size");
  if (base.cents === null || !base.slug) return base;
  const backups = inputs.backups;
  const backupsWhy = unreadable(backups);
  if (backupsWhy) return { cents: null, note: `backups ${backupsWhy}` };
  if (backups !== true) return { cents: base.cents, note: base.slug };
  const policy = inputs.backupPolicy;
  const plan = isPlainObject(policy) && policy.plan !== undefined ? policy.plan : P.DEFAULT_BACKUP_PLAN;
  const planWhy = unreadable(plan);
  if (planWhy) return { cents: null, note: `backupPolicy.plan ${planWhy}` };
  if (plan !== "weekly" && plan !== "daily") {
    return { cents: null, note: `backupPolicy.plan "${String(plan)}" is not priced (weekly, daily)` };
  }
  const backupCents = (base.cents * P.BACKUP_SHARE_PERCENT[plan]) / 100;
  return { cents: base.cents + backupCents, note: `${base.slug} ${usd(base.cents)} + ${plan} backups ${usd(backupCents)}` };
}

function pricePerGib(value: unknown, field: string, centsPerGib: number, what: string): Priced {
  const why = unreadable(value);
  if (why) return { cents: null, note: `${field} ${why}` };
  const gib = readNumber(value);
  if (gib === undefined || gib < 0) return { cents: null, note: `${field} missing` };
  return { cents: Math.round(gib * centsPerGib), note: `${gib} GiB ${what}` };
}

function priceLoadBalancer(inputs: Record<string, unknown>): Priced {
  const unconfirmed = ["loadBalancers"];
  const kind = inputs.type ?? "REGIONAL";
  if (kind !== "REGIONAL") return { cents: null, note: `load balancer type ${String(kind)} is not priced (REGIONAL)` };
  const unit = inputs.sizeUnit;
  const unitWhy = unreadable(unit);
  if (unitWhy) return { cents: null, note: `sizeUnit ${unitWhy}` };
  let nodes = readNumber(unit);
  if (nodes === undefined) {
    const size = inputs.size ?? "lb-small";
    if (typeof size !== "string" || !(size in P.LOAD_BALANCER_LEGACY_SIZE_NODES)) {
      return { cents: null, note: `size ${unreadable(size) ?? `"${String(size)}" is not priced`}` };
    }
    nodes = P.LOAD_BALANCER_LEGACY_SIZE_NODES[size as keyof typeof P.LOAD_BALANCER_LEGACY_SIZE_NODES];
  }
  return { cents: nodes * P.LOAD_BALANCER_CENTS_PER_NODE, note: `${nodes} node(s)`, unconfirmed };
}

function priceDatabaseCluster(inputs: Record<string, unknown>): Priced {
  const { engine, size } = inputs;
  const why = unreadable(engine) ?? unreadable(size);
  if (why) return { cents: null, note: `engine or size ${why}` };
  if (typeof engine !== "string" || !(engine in P.DATABASE_NODE_MONTHLY_USD)) {
    return { cents: null, note: `engine "${String(engine)}" is not priced (${Object.keys(P.DATABASE_NODE_MONTHLY_USD).join(", ")})` };
  }
  const table = P.DATABASE_NODE_MONTHLY_USD[engine as P.DatabaseEngine];
  if (typeof size !== "string" || !(size in table)) {
    return { cents: null, note: `size "${String(size)}" is not in the ${engine} price table` };
  }
  const nodesWhy = unreadable(inputs.nodeCount);
  if (nodesWhy) return { cents: null, note: `nodeCount ${nodesWhy}` };
  const nodes = readNumber(inputs.nodeCount) ?? 1;
  const storage = inputs.storageSizeMib !== undefined ? "; storage above the plan's included disk is not priced" : "";
  return {
    cents: nodes * table[size as P.DatabaseSlug] * 100,
    note: `${engine} ${nodes} × ${size}${storage}`,
    unconfirmed: ["databases"],
  };
}

function priceDropletAutoscale(inputs: Record<string, unknown>): Priced {
  const template = isPlainObject(inputs.dropletTemplate) ? inputs.dropletTemplate : {};
  const config = isPlainObject(inputs.config) ? inputs.config : {};
  const one = priceDropletSize(template.size, "dropletTemplate.size");
  if (one.cents === null) return one;
  const count = readNumber(config.targetNumberInstances) ?? readNumber(config.minInstances);
  if (count === undefined) return { cents: null, note: "config.minInstances or targetNumberInstances missing" };
  const max = readNumber(config.maxInstances);
  const upTo = max !== undefined && max > count ? `; up to ${max} × = ${usd(max * one.cents)}` : "";
  return { cents: count * one.cents, note: `${count} × ${one.slug}${upTo}` };
}

/**
 * Reserved IPs are free while assigned, billed while not. An IP is assigned when it names a `dropletId`, or when a
 * ReservedIpAssignment in the same resource set can account for it (assignments are matched one to one, in order).
 */
function reservedIpCoverage(resources: readonly PlannedResource[]): Map<number, string> {
  let spare = resources.filter((r) => r.type === TYPES.reservedIpAssignment).length;
  const notes = new Map<number, string>();
  resources.forEach((r, index) => {
    if (r.type !== TYPES.reservedIp) return;
    const droplet = r.inputs.dropletId;
    if (droplet !== undefined && droplet !== null && droplet !== "") {
      notes.set(index, "assigned to a droplet (dropletId): free");
    } else if (spare > 0) {
      spare -= 1;
      notes.set(index, "assigned by a ReservedIpAssignment in the same plan: free");
    }
  });
  return notes;
}

function priceOne(r: PlannedResource, assignedNote: string | undefined): Priced {
  if (P.isBookkeepingType(r.type)) return { cents: 0, note: "not a cloud resource" };
  if (r.custom === false) return { cents: 0, note: "component: no cost of its own" };
  const free = P.FREE_RESOURCE_TYPES[r.type];
  if (free) return { cents: 0, note: free.note ?? "free" };
  const outputs = r.outputs ?? {};
  switch (r.type) {
    case TYPES.droplet:
      return priceDroplet(r.inputs);
    case TYPES.volume:
      return { ...pricePerGib(r.inputs.size, "size", P.VOLUME_CENTS_PER_GIB_MONTH, "volume"), unconfirmed: ["volumes"] };
    case TYPES.volumeSnapshot: {
      if (outputs.size === undefined) return { cents: null, note: "snapshot size is known only once it is taken" };
      return pricePerGib(outputs.size, "size", P.SNAPSHOT_CENTS_PER_GIB_MONTH, "snapshot");
    }
    case TYPES.reservedIp:
      return assignedNote
        ? { cents: P.RESERVED_IP_CENTS.assigned, note: assignedNote }
        : {
            cents: P.RESERVED_IP_CENTS.unassigned,
            note: "not assigned in this plan: billed while unassigned",
            unconfirmed: ["reservedIps"],
          };
    case TYPES.loadBalancer:
      return priceLoadBalancer(r.inputs);
    case TYPES.databaseCluster:
      return priceDatabaseCluster(r.inputs);
    case TYPES.dropletAutoscale:
      return priceDropletAutoscale(r.inputs);
    case TYPES.uptimeCheck:
      return { cents: P.UPTIME_CHECK_CENTS, note: "uptime check" };
    default:
      return { cents: null, note: "type not in the price table", unknownType: true };
  }
}

function estimateCents(resources: readonly PlannedResource[]): { priced: Priced[]; total: number } {
  const coverage = reservedIpCoverage(resources);
  const priced = resources.map((r, i) => priceOne(r, coverage.get(i)));
  const total = priced.reduce((sum, p) => sum + (p.cents ?? 0), 0);
  return { priced, total };
}

/**
 * The monthly cost of a resource set: per resource (same order as the input) and in total. This is what the offline
 * plan calls to fill `monthlyCost`.
 */
export function estimateMonthly(resources: readonly PlannedResource[]): MonthlyEstimate {
  const { priced, total } = estimateCents(resources);
  const unpricedTypes = new Set<string>();
  const unpriced: MonthlyEstimate["unpriced"] = [];
  const costs = resources.map((r, i): ResourceCost => {
    const p = priced[i] as Priced;
    if (p.unknownType) unpricedTypes.add(r.type);
    else if (p.cents === null) unpriced.push({ type: r.type, name: r.name, note: p.note ?? "not priced" });
    return {
      type: r.type,
      name: r.name,
      ...(r.urn === undefined ? {} : { urn: r.urn }),
      monthly: p.cents === null ? null : p.cents / 100,
      ...(p.note === undefined ? {} : { note: p.note }),
      ...(p.unconfirmed && p.cents ? { unconfirmed: p.unconfirmed } : {}),
    };
  });
  return { monthly: total / 100, resources: costs, unpricedTypes: [...unpricedTypes].sort(), unpriced };
}

// ---------------------------------------------------------------------------------------------------------------
// Changes between two resource sets

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
export function diffResourceSets(before: readonly PlannedResource[], after: readonly PlannedResource[]): ResourceChange[] {
  const old = keyed(before);
  const next = keyed(after);
  const changes: ResourceChange[] = [];
  for (const [key, b] of old) {
    const a = next.get(key);
    const base = { key, type: b.type, name: b.name, ...(a?.urn ?? b.urn ? { urn: a?.urn ?? b.urn } : {}) };
    if (!a) {
      changes.push({ ...base, op: "delete", before: b });
      continue;
    }
    const changed = changedInputs(b.inputs, a.inputs);
    const replaceReasons = b.type === TYPES.droplet ? changed.filter((k) => DROPLET_REPLACE_INPUTS.includes(k)) : [];
    const op: ChangeOp = changed.length === 0 ? "same" : replaceReasons.length > 0 ? "replace" : "update";
    changes.push({ ...base, op, before: b, after: a, ...(replaceReasons.length ? { replaceReasons } : {}) });
  }
  for (const [key, a] of next) {
    if (!old.has(key)) changes.push({ key, type: a.type, name: a.name, ...(a.urn ? { urn: a.urn } : {}), op: "create", after: a });
  }
  return changes;
}

// ---------------------------------------------------------------------------------------------------------------
// Pricing a change set

export interface CostLine {
  key: string;
  type: string;
  name: string;
  urn?: string;
  op: ChangeOp;
  /** USD per month; 0 when the resource does not exist on that side; null when not priced. */
  before: number | null;
  after: number | null;
  diff: number | null;
  note?: string;
}

export interface DropletWarning {
  kind: "replace" | "resize" | "move";
  name: string;
  from?: string;
  to?: string;
  /** For `move`: the droplet that takes over. */
  toName?: string;
  reasons?: string[];
  downtimeBudgetSeconds: number;
}

export interface StackCost {
  stack: string;
  /** USD per month, priced resources only. */
  before: number;
  after: number;
  diff: number;
  lines: CostLine[];
  warnings: DropletWarning[];
  unpricedTypes: string[];
  /** Resources of known types that could not be priced, with the reason. */
  unpriced: { name: string; type: string; note: string }[];
  /** PRICE_SOURCES keys of unconfirmed figures used in this stack. */
  unconfirmed: string[];
  /** Unchanged resources are missing (a preview without --show-sames): totals cover changed resources only. */
  partial: boolean;
  /** "current": a deployed stack on its own (a stack export), no change to compare. */
  kind: "change" | "current";
  downtimeBudgetSeconds: number;
}

export interface CostReport {
  before: number;
  after: number;
  diff: number;
  stacks: StackCost[];
}

function dropletSize(r: PlannedResource | undefined): string | undefined {
  const size = r?.inputs.size;
  return typeof size === "string" ? size : undefined;
}

/** A warning for every droplet replaced, resized, or removed while another one is created (a move between tiers). */
export function dropletWarnings(changes: readonly ResourceChange[], downtimeBudgetSeconds: number): DropletWarning[] {
  const warnings: DropletWarning[] = [];
  const droplets = changes.filter((c) => c.type === TYPES.droplet);
  for (const c of droplets) {
    const from = dropletSize(c.before);
    const to = dropletSize(c.after);
    const sizes = { ...(from ? { from } : {}), ...(to ? { to } : {}) };
    if (c.op === "replace") {
      const reasons = c.replaceReasons ?? [];
      warnings.push({ kind: "replace", name: c.name, ...sizes, ...(reasons.length ? { reasons } : {}), downtimeBudgetSeconds });
    } else if (c.op === "update" && from !== to) {
      warnings.push({ kind: "resize", name: c.name, ...sizes, downtimeBudgetSeconds });
    }
  }
  const created = droplets.filter((c) => c.op === "create");
  droplets
    .filter((c) => c.op === "delete")
    .forEach((gone, i) => {
      const next = created[i];
      if (!next) return;
      const from = dropletSize(gone.before);
      const to = dropletSize(next.after);
      warnings.push({
        kind: "move",
        name: gone.name,
        toName: next.name,
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
        downtimeBudgetSeconds,
      });
    });
  return warnings;
}

export interface PriceChangesOptions {
  downtimeBudgetSeconds?: number;
  partial?: boolean;
  kind?: StackCost["kind"];
}

/** Price both sides of a change set (each side as a whole, so reserved-IP assignments are seen) and diff them. */
export function priceChanges(stack: string, changes: readonly ResourceChange[], options: PriceChangesOptions = {}): StackCost {
  const budget = options.downtimeBudgetSeconds ?? DEFAULT_DOWNTIME_BUDGET_SECONDS;
  const beforeIdx: number[] = [];
  const afterIdx: number[] = [];
  const beforeSet: PlannedResource[] = [];
  const afterSet: PlannedResource[] = [];
  changes.forEach((c, i) => {
    if (c.before) {
      beforeIdx[i] = beforeSet.length;
      beforeSet.push(c.before);
    }
    if (c.after) {
      afterIdx[i] = afterSet.length;
      afterSet.push(c.after);
    }
  });
  const b = estimateCents(beforeSet);
  const a = estimateCents(afterSet);
  const unpricedTypes = new Set<string>();
  const unconfirmed = new Set<string>();
  const side = (est: { priced: Priced[] }, idx: number | undefined): Priced | undefined => {
    if (idx === undefined) return undefined;
    const p = est.priced[idx] as Priced;
    if (p.cents) p.unconfirmed?.forEach((k) => unconfirmed.add(k));
    return p;
  };
  const unpriced: StackCost["unpriced"] = [];
  const lines = changes.map((c, i): CostLine => {
    const pb = side(b, beforeIdx[i]);
    const pa = side(a, afterIdx[i]);
    if (pb?.unknownType || pa?.unknownType) unpricedTypes.add(c.type);
    else {
      const missing = [pa, pb].find((p) => p && p.cents === null);
      if (missing) unpriced.push({ name: c.name, type: c.type, note: missing.note ?? "not priced" });
    }
    const before = pb === undefined ? 0 : pb.cents;
    const after = pa === undefined ? 0 : pa.cents;
    const diff = before === null || after === null ? null : after - before;
    const note = pa?.note ?? pb?.note;
    return {
      key: c.key,
      type: c.type,
      name: c.name,
      ...(c.urn ? { urn: c.urn } : {}),
      op: c.op,
      before: before === null ? null : before / 100,
      after: after === null ? null : after / 100,
      diff: diff === null ? null : diff / 100,
      ...(note ? { note } : {}),
    };
  });
  return {
    stack,
    before: b.total / 100,
    after: a.total / 100,
    diff: (a.total - b.total) / 100,
    lines,
    warnings: dropletWarnings(changes, budget),
    unpricedTypes: [...unpricedTypes].sort(),
    unpriced,
    unconfirmed: [...unconfirmed].sort(),
    partial: options.partial ?? false,
    kind: options.kind ?? "change",
    downtimeBudgetSeconds: budget,
  };
}

function sumCents(values: number[]): number {
  return values.reduce((s, v) => s + Math.round(v * 100), 0) / 100;
}

export function combineStacks(stacks: StackCost[]): CostReport {
  return {
    before: sumCents(stacks.map((s) => s.before)),
    after: sumCents(stacks.map((s) => s.after)),
    diff: sumCents(stacks.map((s) => s.diff)),
    stacks,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// From parsed CLI outputs to a report

export interface CostSources {
  bases?: ParsedPlan[];
  heads?: ParsedPlan[];
  previews?: ParsedPreview[];
  exports?: ParsedExport[];
}

/** The downtime budget from a preview's config, checked: a positive whole number of seconds. */
export function downtimeBudgetFromConfig(config: Record<string, unknown>): number {
  const raw = config[DOWNTIME_BUDGET_CONFIG_KEY];
  if (raw === undefined) return DEFAULT_DOWNTIME_BUDGET_SECONDS;
  const value = readNumber(raw);
  if (value === undefined || !Number.isInteger(value) || value <= 0) {
    throw new Error(`${DOWNTIME_BUDGET_CONFIG_KEY}: "${String(raw)}" is not a positive whole number of seconds`);
  }
  return value;
}

function planBudget(plan: ParsedPlan | undefined): number {
  return plan?.budgets?.downtimeSeconds ?? DEFAULT_DOWNTIME_BUDGET_SECONDS;
}

/**
 * Build one report from any mix of sources. Heads are paired with bases (or stack exports) by stack name; a head
 * with neither is a new stack (before = $0). A stack export alone reports its current cost (no change). Each preview
 * is its own stack entry.
 */
export function buildCostReport(sources: CostSources): CostReport {
  const stacks: StackCost[] = [];
  const bases = new Map<string, ParsedPlan>();
  for (const b of sources.bases ?? []) {
    if (bases.has(b.stack)) throw new Error(`--base: two plans for stack "${b.stack}"`);
    bases.set(b.stack, b);
  }
  const exports = new Map<string, ParsedExport>();
  (sources.exports ?? []).forEach((e, i) => exports.set(e.stack ?? `export-${i + 1}`, e));
  const heads = sources.heads ?? [];
  const headStacks = new Set(heads.map((h) => h.stack));
  for (const head of heads) {
    const base = bases.get(head.stack);
    const deployed = exports.get(head.stack);
    const before = base?.resources ?? deployed?.resources ?? [];
    stacks.push(priceChanges(head.stack, diffResourceSets(before, head.resources), { downtimeBudgetSeconds: planBudget(head) }));
  }
  for (const [stack, base] of bases) {
    if (!headStacks.has(stack)) {
      stacks.push(priceChanges(stack, diffResourceSets(base.resources, []), { downtimeBudgetSeconds: planBudget(base) }));
    }
  }
  for (const [stack, e] of exports) {
    if (!headStacks.has(stack)) {
      stacks.push(priceChanges(stack, diffResourceSets(e.resources, e.resources), { kind: "current" }));
    }
  }
  (sources.previews ?? []).forEach((p, i) => {
    stacks.push(
      priceChanges(p.stack ?? `preview-${i + 1}`, p.changes, {
        downtimeBudgetSeconds: downtimeBudgetFromConfig(p.config),
        partial: p.partial,
      }),
    );
  });
  if (stacks.length === 0) throw new Error("nothing to price: give --preview, --base/--head or --stack-export");
  return combineStacks(stacks);
}

/** True when the monthly increase is above the limit (USD). */
export function exceedsLimit(report: CostReport, limitUsd: number): boolean {
  return report.diff > limitUsd;
}

// ---------------------------------------------------------------------------------------------------------------
// Rendering

export function formatUsd(value: number): string {
  const cents = Math.round(Math.abs(value) * 100);
  const whole = Math.floor(cents / 100).toLocaleString("en-US");
  const sign = value < 0 && cents > 0 ? "-" : "";
  return `${sign}$${whole}.${String(cents % 100).padStart(2, "0")}`;
}

export function formatDiff(value: number): string {
  if (Math.round(value * 100) === 0) return "$0.00";
  return value > 0 ? `+${formatUsd(value)}` : formatUsd(value);
}

/** "+100%", "-50%", "" when there is nothing to compare with. */
export function formatPercent(before: number, diff: number): string {
  if (before === 0 || Math.round(diff * 100) === 0) return "";
  const pct = (diff / before) * 100;
  const rounded = Math.abs(pct) < 1 ? pct.toFixed(1) : String(Math.round(pct));
  return `${pct > 0 ? "+" : ""}${rounded}%`;
}

function withPercent(before: number, diff: number, partial = false): string {
  const pct = partial ? "" : formatPercent(before, diff);
  return pct ? `${formatDiff(diff)} (${pct})` : formatDiff(diff);
}

export function headline(report: CostReport): string {
  if (report.stacks.every((s) => s.kind === "current")) return `Current monthly cost: ${formatUsd(report.after)}`;
  const cents = Math.round(report.diff * 100);
  if (cents === 0) return "Monthly cost will not change";
  // A partial preview has no full "before" to compare with: no percentage.
  const pct = report.stacks.some((s) => s.partial) ? "" : formatPercent(report.before, report.diff);
  const verb = cents > 0 ? "increase" : "decrease";
  return `Monthly cost will ${verb} by ${formatUsd(Math.abs(report.diff))}${pct ? ` (${pct})` : ""}`;
}

function cell(value: number | null): string {
  return value === null ? "not priced" : formatUsd(value);
}

function diffCell(value: number | null): string {
  return value === null ? "n/a" : formatDiff(value);
}

/** `digitalocean:index/droplet:Droplet` -> `digitalocean:Droplet`. */
export function shortType(type: string): string {
  const parts = type.split(":");
  return parts.length >= 3 ? `${parts[0]}:${parts[parts.length - 1]}` : type;
}

function budgetText(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds} s (${seconds / 60} min)` : `${seconds} s`;
}

export function warningText(w: DropletWarning): string {
  const budget = `the downtime budget of ${budgetText(w.downtimeBudgetSeconds)}`;
  const sizes = w.from && w.to && w.from !== w.to ? ` from ${w.from} to ${w.to}` : "";
  switch (w.kind) {
    case "resize":
      return `droplet \`${w.name}\` will be resized${sizes} (a resize powers it off); the change must fit ${budget}.`;
    case "replace": {
      const why = w.reasons?.length ? ` (changed: ${w.reasons.join(", ")})` : "";
      return `droplet \`${w.name}\` will be replaced${why}${sizes}: its new disk starts empty, so its data must be migrated within ${budget}.`;
    }
    case "move":
      return `droplet \`${w.name}\`${w.from ? ` (${w.from})` : ""} will be replaced by \`${w.toName}\`${w.to ? ` (${w.to})` : ""}: the app and its data must move within ${budget}.`;
  }
}

const UNCONFIRMED_LABELS: Record<string, string> = {
  volumes: `volumes (${usd(P.VOLUME_CENTS_PER_GIB_MONTH)}/GiB-month)`,
  reservedIps: `unassigned reserved IPs (${usd(P.RESERVED_IP_CENTS.unassigned)}/month)`,
  loadBalancers: `load balancers (${usd(P.LOAD_BALANCER_CENTS_PER_NODE)}/node-month)`,
  databases: "managed database nodes",
};

const PLAIN_TABLE = { head: [] as string[], border: [] as string[] };

/** Costs nothing before and after: left out of breakdowns (counted instead). */
function isQuietLine(l: CostLine): boolean {
  return l.before === 0 && l.after === 0;
}

function quietSummary(lines: readonly CostLine[]): string | undefined {
  const quiet = lines.filter(isQuietLine);
  if (quiet.length === 0) return undefined;
  const changing = quiet.filter((l) => l.op !== "same").length;
  return `${quiet.length} resource(s) that cost nothing are not listed${changing ? ` (${changing} of them change)` : ""}.`;
}

/** The pull-request comment: headline, per-stack table, warnings, collapsible per-resource breakdown. */
export function renderMarkdown(report: CostReport): string {
  const out: string[] = [];
  out.push(`### ${headline(report)}`, "");
  out.push("| Stack | Previous | New | Diff |", "| --- | ---: | ---: | ---: |");
  for (const s of report.stacks) {
    out.push(`| ${s.stack}${s.partial ? " (changed resources only)" : ""} | ${formatUsd(s.before)} | ${formatUsd(s.after)} | ${withPercent(s.before, s.diff, s.partial)} |`);
  }
  if (report.stacks.length > 1) {
    const partial = report.stacks.some((s) => s.partial);
    out.push(`| **Total** | ${formatUsd(report.before)} | ${formatUsd(report.after)} | ${withPercent(report.before, report.diff, partial)} |`);
  }
  out.push("");
  const unpriced = [...new Set(report.stacks.flatMap((s) => s.unpricedTypes))].sort();
  const unpricedNames = report.stacks.flatMap((s) => s.unpriced.map((u) => `\`${u.name}\` (${u.note})`));
  const unpricedAll = [...unpriced.map((t) => `\`${t}\``), ...unpricedNames];
  if (unpricedAll.length) out.push(`Not priced, left out of the totals: ${unpricedAll.join(", ")}.`, "");
  const warnings = report.stacks.flatMap((s) => s.warnings.map((w) => ({ stack: s.stack, w })));
  for (const { stack, w } of warnings) out.push(`> **Warning (${stack}):** ${warningText(w)}`, ">");
  if (warnings.length) out.splice(out.length - 1, 1, "");
  for (const s of report.stacks) {
    const shown = s.lines.filter((l) => !isQuietLine(l));
    const quiet = quietSummary(s.lines);
    out.push("<details>", `<summary>Cost breakdown per resource: ${s.stack}</summary>`, "");
    out.push("| Resource | Type | Change | Previous | New | Diff |", "| --- | --- | --- | ---: | ---: | ---: |");
    for (const l of shown) {
      out.push(`| ${l.name} | ${shortType(l.type)} | ${l.op} | ${cell(l.before)} | ${cell(l.after)} | ${diffCell(l.diff)} |`);
    }
    if (quiet) out.push("", quiet);
    out.push("", "</details>", "");
  }
  const unconfirmed = [...new Set(report.stacks.flatMap((s) => s.unconfirmed))].sort();
  if (unconfirmed.length) {
    const labels = unconfirmed.map((k) => UNCONFIRMED_LABELS[k] ?? k);
    out.push(`Prices not confirmed on a current DigitalOcean page: ${labels.join(", ")}; see infra/pricing.ts.`, "");
  }
  if (report.stacks.some((s) => s.partial)) {
    out.push("The preview lists changed resources only (run `pulumi preview --json --show-sames` for full totals).", "");
  }
  out.push(`<sub>DigitalOcean list prices from infra/pricing.ts, checked ${P.DROPLET_PRICES_SOURCE.checked}.</sub>`);
  return `${out.join("\n")}\n`;
}

/** The `--json` output: totals, each stack, and every resource with its stack. */
export function renderJson(report: CostReport): unknown {
  return {
    before: { monthly: report.before },
    after: { monthly: report.after },
    diff: { monthly: report.diff },
    resources: report.stacks.flatMap((s) =>
      s.lines.map((l) => ({
        stack: s.stack,
        urn: l.urn ?? l.name,
        type: l.type,
        op: l.op,
        before: l.before,
        after: l.after,
        diff: l.diff,
        ...(l.note ? { note: l.note } : {}),
      })),
    ),
    stacks: report.stacks.map((s) => ({
      stack: s.stack,
      before: { monthly: s.before },
      after: { monthly: s.after },
      diff: { monthly: s.diff },
      partial: s.partial,
      unpricedTypes: s.unpricedTypes,
      unpriced: s.unpriced,
      unconfirmedPrices: s.unconfirmed,
      warnings: s.warnings.map((w) => ({ ...w, text: warningText(w) })),
    })),
  };
}

/** Plain-text tables for a terminal. */
export function renderText(report: CostReport): string {
  const out: string[] = [headline(report)];
  const totals = new Table({ style: PLAIN_TABLE, head: ["Stack", "Previous", "New", "Diff"] });
  for (const s of report.stacks) {
    totals.push([s.stack, formatUsd(s.before), formatUsd(s.after), withPercent(s.before, s.diff, s.partial)]);
  }
  out.push(totals.toString());
  for (const s of report.stacks) {
    const t = new Table({ style: PLAIN_TABLE, head: ["Resource", "Type", "Change", "Previous", "New", "Diff", "Note"] });
    for (const l of s.lines.filter((x) => !isQuietLine(x))) {
      t.push([l.name, shortType(l.type), l.op, cell(l.before), cell(l.after), diffCell(l.diff), l.note ?? ""]);
    }
    out.push(`${s.stack}:`, t.toString());
    const quiet = quietSummary(s.lines);
    if (quiet) out.push(quiet);
    for (const w of s.warnings) out.push(`Warning: ${warningText(w)}`);
    if (s.unpricedTypes.length) out.push(`Not priced: ${s.unpricedTypes.join(", ")}`);
    for (const u of s.unpriced) out.push(`Not priced: ${u.name} (${u.note})`);
  }
  return `${out.join("\n")}\n`;
}

// ---------------------------------------------------------------------------------------------------------------
// Cost per user

export const PER_USER_COUNTS = [100, 1000, 3000, 5000] as const;
export type BackupChoice = P.BackupPlan | "none";

export interface PerUserRow {
  tier: TierName;
  slug: string;
  users: number;
  /** USD per month for the tier's droplet (with backups when chosen). */
  monthly: number;
  /** USD per user per month, rounded to a tenth of a cent. */
  perUser: number;
  /** Within the users the tier serves comfortably. */
  withinBand: boolean;
}

/** The tier's stack as priced resources: the droplet (with backups if chosen) and its assigned reserved IP. */
export function tierResources(tier: TierName, backups: BackupChoice): PlannedResource[] {
  const inputs: Record<string, unknown> = { size: TIERS[tier].slug };
  if (backups !== "none") Object.assign(inputs, { backups: true, backupPolicy: { plan: backups } });
  return [
    { type: TYPES.droplet, name: `app-${tier}-droplet`, inputs },
    { type: TYPES.reservedIp, name: "app-ip", inputs: {} },
    { type: TYPES.reservedIpAssignment, name: "app-ip-assignment", inputs: {} },
  ];
}

export function costPerUser(
  options: { tiers?: readonly TierName[]; users?: readonly number[]; backups?: BackupChoice } = {},
): PerUserRow[] {
  const backups = options.backups ?? "none";
  const rows: PerUserRow[] = [];
  for (const tier of options.tiers ?? TIER_NAMES) {
    const monthly = estimateMonthly(tierResources(tier, backups)).monthly;
    for (const users of options.users ?? PER_USER_COUNTS) {
      if (!Number.isInteger(users) || users <= 0) throw new Error(`users: ${users} is not a positive whole number`);
      rows.push({
        tier,
        slug: TIERS[tier].slug,
        users,
        monthly,
        perUser: Math.round((monthly / users) * 1000) / 1000,
        withinBand: users <= TIERS[tier].users.comfortable,
      });
    }
  }
  return rows;
}

export function renderPerUser(rows: readonly PerUserRow[], backups: BackupChoice): string {
  const t = new Table({ style: PLAIN_TABLE, head: ["Tier", "Droplet", "Users", "Monthly", "Per user", "Fits the tier"] });
  for (const r of rows) {
    const band = TIERS[r.tier].users;
    t.push([
      r.tier,
      r.slug,
      r.users.toLocaleString("en-US"),
      formatUsd(r.monthly),
      `$${r.perUser.toFixed(3)}`,
      r.withinBand ? "yes" : `no (comfortable up to ${band.comfortable.toLocaleString("en-US")})`,
    ]);
  }
  const note = backups === "none" ? "without droplet backups" : `with ${backups} droplet backups`;
  return `Monthly cost per user, ${note} (reserved IP assigned: free):\n${t.toString()}\n`;
}
