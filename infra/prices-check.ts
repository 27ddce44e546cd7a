/**
 * `npm run prices:check`: the droplet prices of infra/pricing.ts and the sizes of the tier catalog (infra/tiers.ts)
 * against DigitalOcean's `GET /v2/sizes`, live or from a saved answer. Pure but for `fetchSizes`.
 *
 * The answer's shape: digitalocean/openapi `specification/resources/sizes/responses/all_sizes.yml` (`sizes`, plus
 * the shared pagination `links.pages.next` and `meta.total`) and `models/size.yml` (`slug`, `memory` in MB, `vcpus`,
 * `disk` in GB, `price_monthly` in USD, `available`). /v2/sizes lists droplet sizes only: volumes, reserved IPs,
 * load balancers, managed databases and uptime checks are not in it and are not checked here.
 */
import { z } from "zod";
import { type ApiClient, DO_API, getWithRetry } from "./do-api";
import { DROPLET_MONTHLY_USD } from "./pricing";
import { TIERS } from "./tiers";

const SizeSchema = z.object({
  slug: z.string(),
  memory: z.number(),
  vcpus: z.number(),
  disk: z.number(),
  price_monthly: z.number(),
  available: z.boolean(),
});
export type DoSize = z.infer<typeof SizeSchema>;

const PageSchema = z.object({
  sizes: z.array(SizeSchema),
  links: z.object({ pages: z.object({ next: z.string().optional() }).optional() }).optional(),
});

/** The answer cannot be read as a /v2/sizes response. */
export class SizesResponseError extends Error {}

export const NOT_IN_SIZES = [
  "volumes",
  "snapshots",
  "reserved IPs",
  "load balancers",
  "managed databases",
  "uptime checks",
];

function parsePage(text: string, source: string): z.infer<typeof PageSchema> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SizesResponseError(`${source}: not JSON (${(e as Error).message})`);
  }
  const page = PageSchema.safeParse(json);
  if (!page.success) {
    const issues = page.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new SizesResponseError(`${source}: not a /v2/sizes response:\n  - ${issues.join("\n  - ")}`);
  }
  return page.data;
}

/** A saved answer (one page holding every size, as `?per_page=200` gives). */
export function parseSizesResponse(text: string, source: string): DoSize[] {
  return parsePage(text, source).sizes;
}

/** Every size, following `links.pages.next`; the token is only ever sent to `baseUrl`. */
export async function fetchSizes(o: ApiClient): Promise<DoSize[]> {
  const base = o.baseUrl ?? DO_API;
  const sizes: DoSize[] = [];
  let url: string | undefined = `${base}/v2/sizes?per_page=200`;
  for (let page = 1; url; page++) {
    if (!url.startsWith(`${base}/`))
      throw new SizesResponseError(`GET /v2/sizes: the next page is at ${url}, outside ${base}: not followed`);
    const answer = parsePage(
      await getWithRetry(o, url, `GET /v2/sizes (page ${page})`),
      `GET /v2/sizes (page ${page})`,
    );
    sizes.push(...answer.sizes);
    url = answer.links?.pages?.next;
  }
  return sizes;
}

export interface PriceDifference {
  slug: string;
  /** Where our figure lives. */
  where: string;
  what: "missing" | "unavailable" | "price_monthly" | "vcpus" | "memory" | "disk";
  ours?: number;
  theirs?: number;
  message: string;
}

const usd = (cents: number) => `$${(cents / 100).toFixed(2)}`;

/** What differs between our tables and DigitalOcean's sizes; empty when they agree. */
export function compareWithSizes(sizes: readonly DoSize[]): PriceDifference[] {
  const bySlug = new Map(sizes.map((s) => [s.slug, s]));
  const out: PriceDifference[] = [];
  for (const [slug, ours] of Object.entries(DROPLET_MONTHLY_USD)) {
    const where = "infra/pricing.ts DROPLET_MONTHLY_USD";
    const theirs = bySlug.get(slug);
    if (!theirs) {
      out.push({
        slug,
        where,
        what: "missing",
        message: `${slug}: in ${where} but not in /v2/sizes (retired or renamed?)`,
      });
      continue;
    }
    const [oursCents, theirsCents] = [Math.round(ours * 100), Math.round(theirs.price_monthly * 100)];
    if (oursCents !== theirsCents) {
      out.push({
        slug,
        where,
        what: "price_monthly",
        ours,
        theirs: theirs.price_monthly,
        message: `${slug}: ${usd(oursCents)}/month in ${where}, ${usd(theirsCents)} at DigitalOcean`,
      });
    }
    if (!theirs.available)
      out.push({
        slug,
        where,
        what: "unavailable",
        message: `${slug}: /v2/sizes says it is not available for new droplets`,
      });
  }
  for (const [tier, t] of Object.entries(TIERS)) {
    const theirs = bySlug.get(t.slug);
    if (!theirs) continue; // said above: every tier's slug is in the price table
    const where = `infra/tiers.ts ${tier}`;
    const fields = [
      ["vcpus", t.vcpus, theirs.vcpus, "vCPUs"],
      ["memory", t.memoryMiB, theirs.memory, "MiB of memory"],
      ["disk", t.diskGiB, theirs.disk, "GiB of disk"],
    ] as const;
    for (const [what, ours, their, unit] of fields) {
      if (ours !== their)
        out.push({
          slug: t.slug,
          where,
          what,
          ours,
          theirs: their,
          message: `${t.slug}: ${ours} ${unit} in ${where}, ${their} at DigitalOcean`,
        });
    }
  }
  return out;
}

/** The report people read: what changed, or that nothing did, and what /v2/sizes cannot say. */
export function renderPriceCheck(diffs: readonly PriceDifference[], source: string): string {
  const checked = Object.keys(DROPLET_MONTHLY_USD).length;
  const head = diffs.length
    ? [
        `${diffs.length} difference(s) between our tables and ${source}:`,
        ...diffs.map((d) => `  - ${d.message}`),
        "",
        "Update infra/pricing.ts (with its source and date) or infra/tiers.ts from DigitalOcean's pages.",
      ]
    : [
        `infra/pricing.ts and infra/tiers.ts agree with ${source}: ${checked} droplet sizes, ${Object.keys(TIERS).length} tiers.`,
      ];
  return [...head, `Not in /v2/sizes, not checked: ${NOT_IN_SIZES.join(", ")}.`, ""].join("\n");
}
