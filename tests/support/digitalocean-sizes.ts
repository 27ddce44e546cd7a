/**
 * DigitalOcean's `GET /v2/sizes` answer for the Basic sizes, hand-recorded in tests/fixtures/digitalocean-sizes/
 * (its README says where each figure comes from): the source the tier catalog and the price table are checked
 * against, instead of copies of their own numbers.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

/** One size, as the API returns it (digitalocean/openapi specification/resources/sizes/models/size.yml). */
export interface DoSize {
  slug: string;
  /** MB. */
  memory: number;
  vcpus: number;
  /** GB. */
  disk: number;
  price_monthly: number;
  price_hourly: number;
  available: boolean;
  description: string;
}

export const DO_SIZES: readonly DoSize[] = (
  JSON.parse(readFileSync(join(__dirname, "..", "fixtures", "digitalocean-sizes", "sizes.json"), "utf8")) as {
    sizes: DoSize[];
  }
).sizes;

export function doSize(slug: string): DoSize {
  const size = DO_SIZES.find((s) => s.slug === slug);
  if (!size)
    throw new Error(`${slug} is not in the recorded /v2/sizes response (${DO_SIZES.map((s) => s.slug).join(", ")})`);
  return size;
}
