/** The monthly cost per user of each tier's droplet, for `npm run cost -- --per-user`. */
import Table from "cli-table3";
import type * as P from "../pricing";
import type { PlannedResource } from "../resource-shapes";
import { TIERS, TIER_NAMES, type TierName } from "../tiers";
import { TYPES } from "./inputs";
import { formatUsd } from "./money";
import { estimateMonthly } from "./price-resources";
import { PLAIN_TABLE } from "./render";

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
  const t = new Table({
    style: PLAIN_TABLE,
    head: ["Tier", "Droplet", "Users", "Monthly", "Per user", "Fits the tier"],
  });
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
