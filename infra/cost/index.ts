/**
 * Monthly cost of planned resources, and of the change between two resource sets. Pure: plain values in, plain
 * values out; prices come from infra/pricing.ts. This index re-exports the public names of:
 *
 *   price-resources.ts  resource -> monthly price; a resource set -> its monthly cost (the offline plan's `monthlyCost`)
 *   diff.ts             two resource sets -> a change per resource (create, update, replace, delete, same)
 *   report.ts           a change set priced on both sides, droplet warnings, one report from any mix of sources
 *   render.ts           the pull-request comment (markdown), `--json` and plain-text tables
 *   per-user.ts         the cost per user of each tier
 *   timeline.ts         a plan over time: the steady state after a migration window, the overlap, retained volumes
 *   inputs.ts, money.ts the readers of Pulumi's input values and the USD formatting they share
 */
export { DROPLET_REPLACE_INPUTS, TYPES, UNKNOWN_VALUE } from "./inputs";
export { formatDiff, formatPercent, formatUsd } from "./money";
export { estimateMonthly, type MonthlyEstimate, type ResourceCost } from "./price-resources";
export { changedInputs, diffResourceSets, resourceKey } from "./diff";
export {
  buildCostReport,
  combineStacks,
  DEFAULT_DOWNTIME_BUDGET_SECONDS,
  DOWNTIME_BUDGET_CONFIG_KEY,
  downtimeBudgetFromConfig,
  dropletWarnings,
  exceedsLimit,
  exceedsTransientLimit,
  priceChanges,
  type CostLine,
  type CostReport,
  type CostSources,
  type DropletWarning,
  type PriceChangesOptions,
  type StackCost,
} from "./report";
export {
  headline,
  renderJson,
  renderMarkdown,
  renderText,
  retainedText,
  shortType,
  warningText,
  windowText,
} from "./render";
export {
  AfterWindowSchema,
  BILLING_HOURS_PER_MONTH,
  costForHours,
  deleteVolumeCommand,
  PlanTimelineSchema,
  retainedVolumeCost,
  type AfterWindow,
  type RetainedVolumeCost,
} from "./timeline";
export {
  costPerUser,
  PER_USER_COUNTS,
  renderPerUser,
  tierResources,
  type BackupChoice,
  type PerUserRow,
} from "./per-user";
