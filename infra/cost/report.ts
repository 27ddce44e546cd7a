/**
 * What a change costs: both sides of a change set priced (each side as a whole), per resource and per stack, the
 * droplets it replaces, resizes or moves with the downtime budget their migration must meet, and one report from any
 * mix of sources (offline plans, previews, stack exports). Pure.
 */
import { DEPLOYMENT_OUTPUT, readDeployed } from "../deployed";
import type { ParsedExport, ParsedPlan, ParsedPreview } from "../pulumi-json";
import type { ChangeOp, PlannedResource, ResourceChange } from "../resource-shapes";
import { diffResourceSets } from "./diff";
import { readNumber, TYPES } from "./inputs";
import { estimateCents, type Priced } from "./price-resources";
import { type AfterWindow, type RetainedVolumeCost, retainedVolumeCost } from "./timeline";

export const DEFAULT_DOWNTIME_BUDGET_SECONDS = 300;
export const DOWNTIME_BUDGET_CONFIG_KEY = "chatbot:downtimeBudgetSeconds";

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
  kind: "replace" | "resize" | "move" | "switch-back";
  name: string;
  from?: string;
  to?: string;
  /** For `move`: the droplet that takes over. */
  toName?: string;
  reasons?: string[];
  downtimeBudgetSeconds: number;
  /** For `switch-back`: what the plan says it does (nothing copied). */
  summary?: string;
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
  /**
   * The head keeps a server migrated from: the totals and lines above are the steady state, once it is dropped;
   * this is the overlap until then (`during`: the monthly rate while both run).
   */
  window?: Omit<AfterWindow, "monthlyCost" | "drops" | "retainedVolume"> & { during: { after: number; diff: number } };
  /** Volumes of dropped servers billed until deleted (counted in `after`), with the command to delete each. */
  retainedVolumes: RetainedVolumeCost[];
  /** What the head plan says loudly against its base's state (a volume holding data that loses retainOnDelete). */
  planWarnings: string[];
}

export interface CostReport {
  /** USD per month, steady state: after every migration window of the change has passed. */
  before: number;
  after: number;
  diff: number;
  /** USD once: the overlap of the migrations this change starts (the old servers kept for their window). */
  transient: number;
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
      warnings.push({
        kind: "replace",
        name: c.name,
        ...sizes,
        ...(reasons.length ? { reasons } : {}),
        downtimeBudgetSeconds,
      });
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
export function priceChanges(
  stack: string,
  changes: readonly ResourceChange[],
  options: PriceChangesOptions = {},
): StackCost {
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
    retainedVolumes: [],
    planWarnings: [],
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
    transient: sumCents(stacks.map((s) => (s.window?.running ? s.window.transient : 0))),
    stacks,
  };
}

/**
 * A retained volume as a resource, so that both sides of a change price it. Named as its server's volume resource
 * (`<server>-volume`): the same key before the drop (in the stack) and after it (in the record).
 */
function retainedResource(v: RetainedVolumeCost): PlannedResource {
  return {
    type: TYPES.volume,
    name: `${v.server}-volume`,
    custom: true,
    inputs: { name: v.volumeName, size: v.sizeGiB },
  };
}

/**
 * The retained volumes a deployed stack's record lists (the `deployment` output of its Stack resource): they are
 * not in the state (retainOnDelete takes a dropped volume out of it) but still billed.
 */
function exportRetainedVolumes(e: ParsedExport): RetainedVolumeCost[] {
  const outputs = e.resources.find((r) => r.type === "pulumi:pulumi:Stack")?.outputs;
  if (outputs?.[DEPLOYMENT_OUTPUT] === undefined) return [];
  const record = readDeployed(outputs, `${e.project}-${e.stack}`);
  return (record?.retainedVolumes ?? []).map(retainedVolumeCost);
}

/** A deployed stack's resources, with the retained volumes of its record. */
function exportResources(e: ParsedExport): PlannedResource[] {
  return [...e.resources, ...exportRetainedVolumes(e).map(retainedResource)];
}

/** The plan's resources now, with the retained volumes of the deployed record. */
function nowResources(plan: ParsedPlan): PlannedResource[] {
  return [...plan.resources, ...(plan.retainedVolumes ?? []).map(retainedResource)];
}

/**
 * The plan's resources once its server migrated from is dropped: without what goes with it (its volume, when the
 * drop keeps it at DigitalOcean, is not among them and stays billed).
 */
function steadyResources(plan: ParsedPlan): PlannedResource[] {
  const w = plan.afterWindow;
  if (!w) return nowResources(plan);
  const drops = new Set(w.drops.map((d) => `${d.type}::${d.name}`));
  return nowResources(plan).filter((r) => !drops.has(`${r.type}::${r.name}`));
}

/** A switch back moves no data: its follower takes over, which the steady states' comparison sees as a move. */
function switchedBack(head: ParsedPlan, cost: StackCost): StackCost {
  const s = head.switchBack;
  if (!s) return cost;
  const warnings = cost.warnings.map((w) =>
    w.kind === "move" && w.name === `${s.fromKey}-droplet` && w.toName === `${s.toKey}-droplet`
      ? { ...w, kind: "switch-back" as const, summary: s.summary }
      : w,
  );
  return { ...cost, warnings };
}

/** Base and head priced in their steady state, with the head's overlap and retained volumes. */
function planChange(head: ParsedPlan, base: ParsedPlan | undefined, deployed: ParsedExport | undefined): StackCost {
  const budget = { downtimeBudgetSeconds: planBudget(head) };
  const before = base ? steadyResources(base) : deployed ? exportResources(deployed) : [];
  const steady = switchedBack(head, priceChanges(head.stack, diffResourceSets(before, steadyResources(head)), budget));
  const w = head.afterWindow;
  const retainedVolumes = [...(w?.retainedVolume ? [w.retainedVolume] : []), ...(head.retainedVolumes ?? [])];
  const planWarnings = head.warnings ?? [];
  if (!w) return { ...steady, retainedVolumes, planWarnings };
  const beforeNow = base ? nowResources(base) : deployed ? exportResources(deployed) : [];
  const now = priceChanges(head.stack, diffResourceSets(beforeNow, nowResources(head)), budget);
  const { monthlyCost: _m, drops: _d, retainedVolume: _r, ...overlap } = w;
  return {
    ...steady,
    retainedVolumes,
    planWarnings,
    window: { ...overlap, during: { after: now.after, diff: now.diff } },
  };
}

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
  for (const head of heads) stacks.push(planChange(head, bases.get(head.stack), exports.get(head.stack)));
  for (const [stack, base] of bases) {
    if (!headStacks.has(stack)) {
      stacks.push(
        priceChanges(stack, diffResourceSets(steadyResources(base), []), { downtimeBudgetSeconds: planBudget(base) }),
      );
    }
  }
  for (const [stack, e] of exports) {
    if (!headStacks.has(stack)) {
      const resources = exportResources(e);
      const current = priceChanges(stack, diffResourceSets(resources, resources), { kind: "current" });
      stacks.push({ ...current, retainedVolumes: exportRetainedVolumes(e) });
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

/** True when the steady-state monthly increase is above the limit (USD). */
export function exceedsLimit(report: CostReport, limitUsd: number): boolean {
  return report.diff > limitUsd;
}

/** True when the one-off cost of the overlap is above the limit (USD). */
export function exceedsTransientLimit(report: CostReport, limitUsd: number): boolean {
  return report.transient > limitUsd;
}
