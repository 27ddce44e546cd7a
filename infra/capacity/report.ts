/**
 * The capacity verdict: which rules fired, what to move to and what it costs per month, and what to optimize first.
 */
import { configSchema } from "../config";
import { planScaleOut, scaleOutMonthly } from "../scale-out";
import { TIERS, nextTier, type TierName } from "../tiers";
import type { CapacityInput } from "./metrics";
import { optimizeFirst, type OptimizeFinding } from "./optimize";
import { decideVerdict, evaluateRules, type Pending, type RuleLevel, type RuleResult, type Verdict } from "./rules";

export interface Trigger {
  rule: string;
  observed: number | boolean | null;
  threshold: number | boolean;
  window: string | null;
}

export interface Recommendation {
  /** The next tier up, or "scale-out" from the largest single-droplet tier. */
  tier: TierName | "scale-out";
  /** USD per month, new minus current; null when the target is not priced yet. */
  monthlyCostDelta: number | null;
  note?: string;
}

export interface CapacityReport {
  tier: TierName;
  /** What the live collector saw (host and container memory, top processes), for the human report. */
  evidence?: CapacityInput["evidence"];
  at: string;
  verdict: Verdict;
  triggers: Trigger[];
  recommendation: Recommendation | null;
  optimizeFirst: OptimizeFinding[];
  /** Every rule with its outcome, including the ones that could not be decided. */
  rules: RuleResult[];
  /** Undecided rules whose threshold is exceeded (see rules.ts): while any is listed, the report is not clear. */
  pending: PendingTrigger[];
}

export interface PendingTrigger extends Pending {
  rule: string;
  level: RuleLevel;
  threshold: number | boolean;
  window: string | null;
}

export interface ReportOptions {
  /**
   * Monthly cost of the scale-out layout (issue 6: load balancer, managed PostgreSQL and Valkey) once it is planned.
   * @default scaleOutEstimate(tier)
   */
  scaleOutMonthlyUsd?: number;
}

/**
 * The scale-out tier's monthly cost, as the stack would plan it for a production move with the config defaults
 * (infra/scale-out.ts and infra/pricing.ts): 2 app droplets behind a load balancer, managed PostgreSQL with a
 * standby, managed Valkey. The droplet tier it replaces is left out (it is removed after the move).
 */
export function scaleOutEstimate(): { monthlyUsd: number; note: string } {
  const d = <K extends keyof typeof configSchema.shape>(key: K) => configSchema.shape[key].parse(undefined) as never;
  const plan = planScaleOut({
    prefix: "chatbot-capacity",
    region: d("region"),
    domain: "chat.example.com",
    healthPath: d("healthPath"),
    appPort: d("appPort"),
    appImage: "ghcr.io/example/chatbot:1.0.0",
    appEnv: [],
    environment: "prod",
    sshKeys: ["1"],
    sshAllowedCidrs: ["10.0.0.0/24"],
    stackTag: "chatbot-capacity",
    appCount: d("appCount"),
    appDropletSize: d("appDropletSize"),
    dbSize: d("dbSize"),
    dbNodeCount: 2,
    valkeySize: d("valkeySize"),
    hstsMaxAgeSeconds: d("hstsMaxAgeSeconds"),
    dbPoolSize: d("dbPoolSize"),
    dbMaxOverflow: d("dbMaxOverflow"),
  });
  const o = plan;
  return {
    monthlyUsd: scaleOutMonthly(plan).monthly,
    note:
      `the default scale-out layout: ${o.app.count} x ${o.app.size} app droplets behind a load balancer, managed PostgreSQL ` +
      `${o.postgres.size} x ${o.postgres.nodeCount} (a standby), managed Valkey ${o.valkey.size} x ${o.valkey.nodeCount}; ` +
      "`npm run plan` on a scale-out stack prices your own choice",
  };
}

export function recommend(tier: TierName, options: ReportOptions = {}): Recommendation {
  const next = nextTier(tier);
  if (next) return { tier: next, monthlyCostDelta: TIERS[next].monthlyUsd - TIERS[tier].monthlyUsd };
  if (options.scaleOutMonthlyUsd !== undefined) {
    return { tier: "scale-out", monthlyCostDelta: options.scaleOutMonthlyUsd - TIERS[tier].monthlyUsd };
  }
  const estimate = scaleOutEstimate();
  return {
    tier: "scale-out",
    monthlyCostDelta: Math.round((estimate.monthlyUsd - TIERS[tier].monthlyUsd) * 100) / 100,
    note: estimate.note,
  };
}

export function buildReport(input: CapacityInput, options: ReportOptions = {}): CapacityReport {
  const rules = evaluateRules(input);
  const verdict = decideVerdict(rules);
  // Only the rules of the winning level are the reason for the verdict; lower-level ones stay in `rules`.
  const triggers = rules
    .filter((r) => r.met && r.level === verdict)
    .map(({ rule, observed, threshold, window }) => ({ rule, observed, threshold, window }));
  return {
    tier: input.tier,
    ...(input.evidence ? { evidence: input.evidence } : {}),
    at: input.samples[input.samples.length - 1]!.at,
    verdict,
    triggers,
    recommendation: verdict === "none" ? null : recommend(input.tier, options),
    optimizeFirst: optimizeFirst(input),
    rules,
    pending: rules.flatMap(({ rule, level, threshold, window, pending }) =>
      pending ? [{ rule, level, threshold, window, ...pending }] : [],
    ),
  };
}

/**
 * Why `--check` fails (undefined: it passes): a verdict that asks for action, or a pending rule. A pending rule is
 * not all clear, and saying so is the check's answer, not a failure to run it.
 */
export function checkFailure(report: CapacityReport): string | undefined {
  if (report.verdict !== "none") return `the verdict is ${report.verdict}`;
  if (report.pending.length === 0) return undefined;
  return `not clear: ${report.pending.map((p) => `${p.rule} is pending (${pendingWords(p)})`).join("; ")}`;
}

/** The JSON document `npm run capacity -- --json` prints. */
export function reportJson(report: CapacityReport): Record<string, unknown> {
  return {
    verdict: report.verdict,
    triggers: report.triggers,
    recommendation: report.recommendation,
    optimizeFirst: report.optimizeFirst,
    tier: report.tier,
    at: report.at,
    rules: report.rules,
    pending: report.pending,
    clear: checkFailure(report) === undefined,
    ...(report.evidence ? { evidence: report.evidence } : {}),
  };
}

const FIELD_WORDS: Record<string, string> = { memoryPct: "Memory", cpuPct: "CPU", responseMs: "Response time" };

function windowWords(window: string | null): string {
  if (window === "24h") return "24 hours";
  if (window === "6h") return "6 hours";
  if (window === "1h") return "hour";
  if (window === "7d") return "7 days";
  return window ?? "";
}

const FIELD_NOUNS: Record<string, string> = { memoryPct: "memory", cpuPct: "CPU", responseMs: "response time" };

/** "memory above 90% for 5 h of the 24 h the rule needs, in 100% of 61 samples; decidable from <time>". */
function pendingWords(p: Pending & { threshold: number | boolean }): string {
  const unit = p.field === "responseMs" ? " ms" : "%";
  return `${FIELD_NOUNS[p.field]} above ${p.threshold}${unit} for ${p.observedFor} of the ${p.needs} the rule needs, in ${p.sharePct}% of ${p.samples} samples; decidable from ${p.decidableAt}`;
}

/** One sentence per rule result, for people. */
export function explainRule(r: RuleResult): string {
  if (r.pending) return `${r.rule}: PENDING, ${pendingWords({ ...r.pending, threshold: r.threshold })}.`;
  if (r.insufficient)
    return `${r.rule}: not decided, ${r.insufficient}${r.decidableAt ? `; decidable from ${r.decidableAt}` : ""}.`;
  const d = r.detail ?? {};
  switch (r.rule) {
    case "user-complaints":
      return r.met
        ? "Users are complaining about the service: that alone means upgrade now."
        : "No user complaints reported.";
    case "user-growth-above-20pct":
      return `Monthly active users went from ${d.from} to ${d.to} (${r.window}), ${
        r.observed === null ? "growth from zero" : `${r.observed}% growth`
      }; ${r.met ? "above" : "not above"} the ${r.threshold}% that calls for planning an upgrade.`;
    case "users-near-tier-band":
      return `${r.observed} active users against a planning limit of ${r.threshold} (80% of the tier's ${d.planUpgradeAt}); ${
        r.met ? "the tier's user band is nearly full" : "within the band"
      }.`;
    default: {
      const unit = d.field === "responseMs" ? " ms" : "%";
      const what = FIELD_WORDS[String(d.field)] ?? String(d.field);
      return `${what} was above ${r.threshold}${unit} in ${d.sharePct}% of the ${d.samples} samples over the last ${windowWords(r.window)} (median ${
        r.observed
      }${unit}); ${r.met ? "that is sustained (more than 90%)" : "not sustained (needs more than 90%)"}.`;
    }
  }
}

export function formatCost(delta: number | null): string {
  if (delta === null) return "not priced";
  return `${delta >= 0 ? "+" : "-"}$${Math.abs(delta).toFixed(2)}/month`;
}

const mib = (bytes: number) => `${Math.round(bytes / 1048576)} MiB`;

/** Host and container memory, and the biggest processes, when the live collector provided them. */
function renderMemory(report: CapacityReport): string[] {
  const ev = report.evidence;
  if (!ev?.containers && !ev?.topProcesses) return [];
  const lines = ["", "Memory now:"];
  if (ev.hostMemoryTotalBytes !== undefined) lines.push(`  host: ${mib(ev.hostMemoryTotalBytes)} total`);
  for (const c of ev.containers ?? []) {
    const unbounded = ev.hostMemoryTotalBytes !== undefined && c.memLimitBytes >= ev.hostMemoryTotalBytes * 0.98;
    lines.push(`  container ${c.name}: ${mib(c.memUsageBytes)} of ${unbounded ? "no limit" : mib(c.memLimitBytes)}`);
  }
  for (const p of (ev.topProcesses ?? []).slice(0, 5))
    lines.push(`  process ${p.command}: ${mib(p.rssBytes)} resident, ${p.cpuPct}% CPU`);
  return lines;
}

const HEADLINE: Record<Verdict, string> = {
  "upgrade-now": "UPGRADE NOW",
  "plan-upgrade": "PLAN AN UPGRADE (schedule it within 2 to 4 weeks)",
  none: "NO UPGRADE NEEDED",
};

/**
 * The verdict's headline. With nothing met, it never says that no upgrade is needed while a rule is pending, and it
 * says "so far" while a sustained rule waits for history (a droplet fresh from a migration).
 */
function headlineOf(report: CapacityReport): string {
  const n = report.pending.length;
  if (report.verdict !== "none")
    return n ? `${HEADLINE[report.verdict]}; ${n} more rule${n === 1 ? "" : "s"} pending` : HEADLINE[report.verdict];
  if (n)
    return `NOT CLEAR: ${n} rule${n === 1 ? " is" : "s are"} pending (a threshold exceeded, the window not full yet)`;
  const waiting = report.rules.filter((r) => r.decidableAt !== undefined).length;
  return waiting
    ? `NO UPGRADE NEEDED SO FAR (${waiting} rule${waiting === 1 ? "" : "s"} without the history to decide yet: see below)`
    : HEADLINE.none;
}

/** The human report: verdict, one sentence per trigger, the recommendation, then optimize-first. */
export function renderHuman(report: CapacityReport): string {
  const lines: string[] = [];
  lines.push(`Tier ${report.tier}, evaluated at ${report.at}: ${headlineOf(report)}`);
  if (report.triggers.length > 0) {
    lines.push("", "Why:");
    for (const t of report.triggers) {
      const rule = report.rules.find((r) => r.rule === t.rule)!;
      lines.push(`  - ${explainRule(rule)}`);
    }
  }
  if (report.pending.length > 0) {
    lines.push("", "Pending (the threshold is exceeded, the rule's window is not full yet):");
    for (const p of report.pending) lines.push(`  - ${p.rule} (${p.level}): ${pendingWords(p)}.`);
  }
  if (report.recommendation) {
    const r = report.recommendation;
    lines.push(
      "",
      `Recommendation: move to ${r.tier} (${formatCost(r.monthlyCostDelta)})${r.note ? `; ${r.note}` : ""}.`,
    );
  }
  const others = report.rules.filter(
    (r) => !report.triggers.some((t) => t.rule === r.rule) && !report.pending.some((p) => p.rule === r.rule),
  );
  if (others.length > 0) {
    lines.push("", "Other rules:");
    for (const r of others) lines.push(`  - ${explainRule(r)}`);
  }
  lines.push(...renderMemory(report));
  lines.push("", "Optimize first:");
  for (const f of report.optimizeFirst) {
    lines.push(`  - [${f.worthChecking ? "check" : "ok"}] ${f.check}: ${f.evidence}`);
    if (f.worthChecking) lines.push(`      ${f.action}`);
  }
  return lines.join("\n");
}
