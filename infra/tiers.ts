/**
 * The tier catalog: one single-droplet tier per DigitalOcean Basic droplet size we run on.
 *
 * The catalog is the type: `TierName` is derived from it, and config rejects anything else with the list of valid
 * names. Sorted by cost, smallest first.
 *
 * User bands come from the plan we started from: 4 GB serves up to about 1,000 active users and an upgrade is
 * planned by 1,500; 8 GB serves up to about 5,000. The 16 GB band is our own estimate (twice the 8 GB machine,
 * before the scale-out tier), not a measured figure.
 */
import { DROPLET_MONTHLY_USD } from "./pricing";

export const TIERS = {
  "4gb": {
    slug: "s-2vcpu-4gb",
    vcpus: 2,
    memoryMiB: 4096,
    diskGiB: 80,
    monthlyUsd: DROPLET_MONTHLY_USD["s-2vcpu-4gb"],
    users: { comfortable: 1000, planUpgradeAt: 1500 },
  },
  "8gb": {
    slug: "s-4vcpu-8gb",
    vcpus: 4,
    memoryMiB: 8192,
    diskGiB: 160,
    monthlyUsd: DROPLET_MONTHLY_USD["s-4vcpu-8gb"],
    users: { comfortable: 5000, planUpgradeAt: 5000 },
  },
  "16gb": {
    slug: "s-8vcpu-16gb",
    vcpus: 8,
    memoryMiB: 16384,
    diskGiB: 320,
    monthlyUsd: DROPLET_MONTHLY_USD["s-8vcpu-16gb"],
    users: { comfortable: 10000, planUpgradeAt: 12000 },
  },
} as const;

export type TierName = keyof typeof TIERS;
export type Tier = (typeof TIERS)[TierName];

export const TIER_NAMES = Object.keys(TIERS) as TierName[];

/**
 * Beyond the largest droplet: a load balancer in front of several app droplets, with DigitalOcean's managed
 * PostgreSQL and Valkey (infra/scale-out.ts). Not a droplet size, so not in TIERS.
 */
export const SCALE_OUT = "scale-out";
export type StackTier = TierName | typeof SCALE_OUT;
export const STACK_TIERS: StackTier[] = [...TIER_NAMES, SCALE_OUT];

export function isTierName(value: string): value is TierName {
  return Object.hasOwn(TIERS, value);
}

export function getTier(name: TierName): Tier & { name: TierName } {
  return { name, ...TIERS[name] };
}

/** The next tier up, or undefined from the largest single-droplet tier (the scale-out path starts there). */
export function nextTier(name: TierName): TierName | undefined {
  return TIER_NAMES[TIER_NAMES.indexOf(name) + 1];
}
