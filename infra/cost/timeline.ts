/**
 * The cost of a plan over time, as the offline plan's `--json` carries it and `npm run cost` reads it back: what the
 * stack costs once a migration's window has passed and the server migrated from is dropped (the steady state), what
 * the overlap costs once, and the volumes of dropped servers that stay at DigitalOcean, billed until deleted. The
 * shapes are declared here once (with their schema) for both sides. Pure.
 */
import { z } from "zod";
import * as P from "../pricing";

/**
 * DigitalOcean bills droplets and volumes per second (60 s minimum) at the monthly price spread over 672 hours (28
 * days), capped at the monthly price (/work/shared/GUIDE.md section 4; docs.digitalocean.com/products/droplets/details/
 * pricing; the 672-hour cap is DigitalOcean's billing FAQ).
 */
export const BILLING_HOURS_PER_MONTH = 672;

/** What `monthly` (USD per month) costs for `hours`, billed per second: at most the monthly price, to the cent. */
export function costForHours(monthly: number, hours: number): number {
  if (hours <= 0) return 0;
  const seconds = Math.max(60, Math.ceil(hours * 3600));
  const cents = Math.min(monthly * 100, (monthly * 100 * seconds) / (BILLING_HOURS_PER_MONTH * 3600));
  return Math.round(cents) / 100;
}

/** The command that deletes a retained volume (`<id>` when the stack did not know its id). */
export function deleteVolumeCommand(volumeId: string | undefined): string {
  return `doctl compute volume delete ${volumeId ?? "<id>"}`;
}

const RetainedVolumeSchema = z.object({
  server: z.string().min(1),
  tier: z.string().min(1),
  volumeName: z.string().min(1),
  volumeId: z.string().min(1).optional(),
  sizeGiB: z.number().positive(),
  monthlyCost: z.number().min(0),
  deleteCommand: z.string().min(1),
  /** When the server it belonged to was (or will be) dropped. */
  droppedAt: z.string().optional(),
});

/** A data volume of a dropped server left at DigitalOcean (retainOnDelete): billed until someone deletes it. */
export type RetainedVolumeCost = z.infer<typeof RetainedVolumeSchema>;

export function retainedVolumeCost(v: {
  key: string;
  tier: string;
  volumeName: string;
  volumeId?: string | undefined;
  sizeGiB: number;
  droppedAt?: string | undefined;
}): RetainedVolumeCost {
  return {
    server: v.key,
    tier: v.tier,
    volumeName: v.volumeName,
    ...(v.volumeId ? { volumeId: v.volumeId } : {}),
    sizeGiB: v.sizeGiB,
    monthlyCost: Math.round(v.sizeGiB * P.VOLUME_CENTS_PER_GIB_MONTH) / 100,
    deleteCommand: deleteVolumeCommand(v.volumeId),
    ...(v.droppedAt ? { droppedAt: v.droppedAt } : {}),
  };
}

export const AfterWindowSchema = z.object({
  /** The server migrated from (its key) and its tier. */
  server: z.string().min(1),
  tier: z.string().min(1),
  /** True when this `pulumi up` runs the migration (the overlap is caused by this change). */
  running: z.boolean(),
  /** When the first `pulumi up` may drop the server, when known (ISO 8601). */
  until: z.string().optional(),
  /** Hours the server still runs alongside: the migration's budget and the retention when running, else until `until`. */
  hours: z.number().min(0),
  /** USD per month once the server is dropped: the steady state (retained volumes included). */
  monthlyCost: z.number(),
  /** The resources that go with the server, `type::name`, each with its monthly price (null: not priced). */
  drops: z.array(z.object({ type: z.string(), name: z.string(), monthlyCost: z.number().nullable() })),
  /** USD, once: what the resources that go cost over `hours`, billed per second. */
  transient: z.number().min(0),
  /** Its data volume, left at DigitalOcean by the drop (absent when the stack allows data loss). */
  retainedVolume: RetainedVolumeSchema.optional(),
});

/** The stack once the server migrated from is dropped, and what the overlap costs until then. */
export type AfterWindow = z.infer<typeof AfterWindowSchema>;

/** The parts of an offline plan document this file declares (both optional: absent without a previous server). */
export const PlanTimelineSchema = z.object({
  afterWindow: AfterWindowSchema.optional(),
  retainedVolumes: z.array(RetainedVolumeSchema).optional(),
});
