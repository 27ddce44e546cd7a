/**
 * The cost of an offline plan over time (infra/cost/timeline.ts): the steady state once the server migrated from is
 * dropped, what the overlap costs until then, and the volumes of dropped servers still billed at DigitalOcean.
 */
import type { ResourceCost } from "../cost";
import { type AfterWindow, costForHours, type RetainedVolumeCost, retainedVolumeCost } from "../cost/timeline";
import type { StackPlan } from "../plan";
import type { RecordedResource } from "./run";

const VOLUME = "digitalocean:index/volume:Volume";
/** The components that go with the server migrated from: the server itself and the migration that moved off it. */
const GOES_WITH_PREVIOUS = ["chatbot:migration:TierMigration", "chatbot:scaleout:ScaleOutMigration"];

export interface PlanCosts {
  afterWindow?: AfterWindow;
  retainedVolumes?: RetainedVolumeCost[];
  /** USD per month of the retained volumes (part of the plan's `monthlyCost`). */
  retainedMonthly: number;
}

/** Every resource under one of `roots` (by parent), the roots included. */
function subtrees(resources: readonly RecordedResource[], roots: ReadonlySet<string>): Set<string> {
  const inside = new Set(roots);
  for (let grew = true; grew; ) {
    grew = false;
    for (const r of resources) {
      if (!inside.has(r.urn) && r.parent && inside.has(r.parent)) {
        inside.add(r.urn);
        grew = true;
      }
    }
  }
  return inside;
}

function sumCents(values: readonly number[]): number {
  return values.reduce((s, v) => s + Math.round(v * 100), 0) / 100;
}

/** Hours the server migrated from still runs: the migration and its retention, or until its recorded end. */
function overlapHours(plan: StackPlan, now: Date): { hours: number; until?: string; running: boolean } {
  const move = plan.migration ?? plan.scaleOutMigration;
  if (!move) return { hours: 0, running: false };
  if (move.running) return { hours: move.migrationBudgetMinutes / 60 + move.retainHours, running: true };
  if (!move.retainUntil) return { hours: move.retainHours, running: false };
  const hours = Math.max(0, (new Date(move.retainUntil).getTime() - now.getTime()) / 3_600_000);
  return { hours: Math.round(hours * 100) / 100, until: move.retainUntil, running: false };
}

/**
 * From the resources the program registered and their prices (same order): the steady state after the window, the
 * overlap's cost, and the retained volumes. `monthly` is the priced total of the registered resources.
 */
export function planCosts(
  plan: StackPlan,
  resources: readonly RecordedResource[],
  prices: readonly ResourceCost[],
  monthly: number,
  now: Date,
): PlanCosts {
  const retained = plan.retainedVolumes.map((v) => retainedVolumeCost(v));
  const retainedMonthly = sumCents(retained.map((v) => v.monthlyCost));
  const out: PlanCosts = { retainedMonthly, ...(retained.length ? { retainedVolumes: retained } : {}) };
  const previous = plan.previous;
  if (!previous) return out;

  const roots = resources.filter(
    (r) => (r.name === previous.name && r.type === "chatbot:server:AppServer") || GOES_WITH_PREVIOUS.includes(r.type),
  );
  const inside = subtrees(resources, new Set(roots.map((r) => r.urn)));
  // The volume stays at DigitalOcean when the stack drops it (retainOnDelete): billed on, as a retained volume.
  const keptVolume = resources.find((r) => inside.has(r.urn) && r.type === VOLUME && r.retainOnDelete);
  const drops = resources
    .map((r, i) => ({ r, price: prices[i]?.monthly ?? null }))
    .filter(({ r }) => inside.has(r.urn) && r !== keptVolume && !r.type.startsWith("chatbot:"));
  const dropped = sumCents(drops.map((d) => d.price ?? 0));
  const { hours, until, running } = overlapHours(plan, now);
  const volumeId = plan.deployed?.volumeIds?.[previous.name];
  const retainedVolume = keptVolume
    ? retainedVolumeCost({
        key: previous.name,
        tier: previous.tier.name,
        volumeName: previous.volumeName,
        volumeId,
        sizeGiB: previous.volumeSizeGiB,
        ...(until ? { droppedAt: until } : {}),
      })
    : undefined;
  return {
    ...out,
    afterWindow: {
      server: previous.name,
      tier: previous.tier.name,
      running,
      ...(until ? { until } : {}),
      hours,
      monthlyCost: sumCents([monthly, retainedMonthly, -dropped]),
      drops: drops.map(({ r, price }) => ({ type: r.type, name: r.name, monthlyCost: price })),
      transient: costForHours(dropped, hours),
      ...(retainedVolume ? { retainedVolume } : {}),
    },
  };
}
