/**
 * DigitalOcean datacenter regions that accept new droplets and volumes.
 * Source: https://docs.digitalocean.com/platform/regional-availability/ (checked 2026-11-28). nyc2 and ams2 are
 * closed to new resources there, so they are not accepted.
 */
export const REGION_SLUGS = ["nyc1", "nyc3", "sfo2", "sfo3", "ams3", "sgp1", "lon1", "fra1", "tor1", "blr1", "syd1", "atl1"] as const;

export type RegionSlug = (typeof REGION_SLUGS)[number];

export function isValidRegion(slug: string): slug is RegionSlug {
  return (REGION_SLUGS as readonly string[]).includes(slug);
}
