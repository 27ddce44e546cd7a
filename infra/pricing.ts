/**
 * DigitalOcean list prices in USD per month.
 *
 * Every entry names where the figure comes from and when it was checked. A resource this table does not know is
 * "not priced", never $0: see infra/cost.ts.
 */

export interface PriceSource {
  url: string;
  checked: string; // ISO date
}

/** Basic (shared CPU) droplets, regular Intel, monthly list price. Billed per second with a 60 s minimum. */
export const DROPLET_PRICES_SOURCE: PriceSource = {
  url: "https://docs.digitalocean.com/products/droplets/details/pricing/",
  checked: "2026-11-28",
};

export const DROPLET_MONTHLY_USD = {
  "s-1vcpu-1gb": 6,
  "s-1vcpu-2gb": 12,
  "s-2vcpu-2gb": 18,
  "s-2vcpu-4gb": 24,
  "s-4vcpu-8gb": 48,
  "s-8vcpu-16gb": 96,
} as const;

export type DropletSlug = keyof typeof DROPLET_MONTHLY_USD;
