/**
 * The monthly price of each planned resource, and of a resource set. Pure: plain values in, plain values out; prices
 * come from infra/pricing.ts. Money is handled in whole cents and reported in USD.
 *
 * A resource type the price table does not know is "not priced" (`monthly: null`), never $0, and totals say so.
 */
import * as P from "../pricing";
import type { PlannedResource } from "../resource-shapes";
import { isPlainObject, readNumber, TYPES, unreadable } from "./inputs";
import { usd } from "./money";

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

/** One resource priced, in cents; what the change pricing (./report.ts) reads for each side. */
export interface Priced {
  cents: number | null;
  note?: string;
  unconfirmed?: string[];
  unknownType?: boolean;
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
  return {
    cents: base.cents + backupCents,
    note: `${base.slug} ${usd(base.cents)} + ${plan} backups ${usd(backupCents)}`,
  };
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
    return {
      cents: null,
      note: `engine "${String(engine)}" is not priced (${Object.keys(P.DATABASE_NODE_MONTHLY_USD).join(", ")})`,
    };
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
      return {
        ...pricePerGib(r.inputs.size, "size", P.VOLUME_CENTS_PER_GIB_MONTH, "volume"),
        unconfirmed: ["volumes"],
      };
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

export function estimateCents(resources: readonly PlannedResource[]): { priced: Priced[]; total: number } {
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
