/**
 * The cost of a change as people read it: the pull-request comment (markdown), the `--json` document and plain-text
 * tables for a terminal. Pure renderers of a CostReport (./report.ts).
 */
import Table from "cli-table3";
import * as P from "../pricing";
import { formatDiff, formatPercent, formatUsd, usd } from "./money";
import type { CostLine, CostReport, DropletWarning, StackCost } from "./report";

function withPercent(before: number, diff: number, partial = false): string {
  const pct = partial ? "" : formatPercent(before, diff);
  return pct ? `${formatDiff(diff)} (${pct})` : formatDiff(diff);
}

export function headline(report: CostReport): string {
  if (report.stacks.every((s) => s.kind === "current")) return `Current monthly cost: ${formatUsd(report.after)}`;
  // The steady state: once every server migrated from is dropped (the overlap is its own line).
  const after = report.stacks.some((s) => s.window) ? " once the migration window has passed" : "";
  const cents = Math.round(report.diff * 100);
  if (cents === 0) return `Monthly cost will not change${after}`;
  // A partial preview has no full "before" to compare with: no percentage.
  const pct = report.stacks.some((s) => s.partial) ? "" : formatPercent(report.before, report.diff);
  const verb = cents > 0 ? "increase" : "decrease";
  return `Monthly cost will ${verb} by ${formatUsd(Math.abs(report.diff))}${pct ? ` (${pct})` : ""}${after}`;
}

function hoursText(hours: number): string {
  return Number.isInteger(hours) ? `${hours} h` : `${hours.toFixed(1)} h`;
}

/** The overlap of a stack's migration: what it costs once, and the monthly rate while both servers run. */
export function windowText(s: StackCost): string | undefined {
  const w = s.window;
  if (!w) return undefined;
  const span = w.running
    ? `for the migration and its window (about ${hoursText(w.hours)}, until the first \`pulumi up\` after it)`
    : `until ${w.until ?? "its window ends"} (about ${hoursText(w.hours)} from now, until the first \`pulumi up\` after it)`;
  const rate = `while both run, ${formatUsd(w.during.after)}/month (${formatDiff(w.during.diff)} on the previous)`;
  const what = w.running ? "Once, for the overlap" : "Overlap under way";
  return `${what}: ${formatUsd(w.transient)}. The ${w.tier} server (\`${w.server}\`) runs alongside the new one ${span}, billed per second; ${rate}.`;
}

/** A retained volume: what it costs and how to stop it. */
export function retainedText(v: StackCost["retainedVolumes"][number]): string {
  return `volume \`${v.volumeName}\` (${v.sizeGiB} GiB) of the dropped ${v.tier} server stays at DigitalOcean (retainOnDelete): ${formatUsd(v.monthlyCost)}/month, counted above, until you delete it: \`${v.deleteCommand}\``;
}

function cell(value: number | null): string {
  return value === null ? "not priced" : formatUsd(value);
}

function diffCell(value: number | null): string {
  return value === null ? "n/a" : formatDiff(value);
}

/** `digitalocean:index/droplet:Droplet` -> `digitalocean:Droplet`. */
export function shortType(type: string): string {
  const parts = type.split(":");
  return parts.length >= 3 ? `${parts[0]}:${parts[parts.length - 1]}` : type;
}

function budgetText(seconds: number): string {
  return seconds % 60 === 0 ? `${seconds} s (${seconds / 60} min)` : `${seconds} s`;
}

export function warningText(w: DropletWarning): string {
  const budget = `the downtime budget of ${budgetText(w.downtimeBudgetSeconds)}`;
  const sizes = w.from && w.to && w.from !== w.to ? ` from ${w.from} to ${w.to}` : "";
  switch (w.kind) {
    case "resize":
      return `droplet \`${w.name}\` will be resized${sizes} (a resize powers it off); the change must fit ${budget}.`;
    case "replace": {
      const why = w.reasons?.length ? ` (changed: ${w.reasons.join(", ")})` : "";
      return `droplet \`${w.name}\` will be replaced${why}${sizes}: its new disk starts empty, so its data must be migrated within ${budget}.`;
    }
    case "switch-back":
      return `droplet \`${w.name}\`${w.from ? ` (${w.from})` : ""} hands over to \`${w.toName}\`${w.to ? ` (${w.to})` : ""}, which follows it (${w.summary}); the cutover must fit ${budget}.`;
    case "move":
      return `droplet \`${w.name}\`${w.from ? ` (${w.from})` : ""} will be replaced by \`${w.toName}\`${w.to ? ` (${w.to})` : ""}: the app and its data must move within ${budget}.`;
  }
}

const UNCONFIRMED_LABELS: Record<string, string> = {
  volumes: `volumes (${usd(P.VOLUME_CENTS_PER_GIB_MONTH)}/GiB-month)`,
  reservedIps: `unassigned reserved IPs (${usd(P.RESERVED_IP_CENTS.unassigned)}/month)`,
  loadBalancers: `load balancers (${usd(P.LOAD_BALANCER_CENTS_PER_NODE)}/node-month)`,
  databases: "managed database nodes",
};

/** cli-table3 without colours or borders: the tables read the same in a terminal and a log. */
export const PLAIN_TABLE = { head: [] as string[], border: [] as string[] };

/** Costs nothing before and after: left out of breakdowns (counted instead). */
function isQuietLine(l: CostLine): boolean {
  return l.before === 0 && l.after === 0;
}

function quietSummary(lines: readonly CostLine[]): string | undefined {
  const quiet = lines.filter(isQuietLine);
  if (quiet.length === 0) return undefined;
  const changing = quiet.filter((l) => l.op !== "same").length;
  return `${quiet.length} resource(s) that cost nothing are not listed${changing ? ` (${changing} of them change)` : ""}.`;
}

/** The pull-request comment: headline, per-stack table, warnings, collapsible per-resource breakdown. */
export function renderMarkdown(report: CostReport): string {
  const out: string[] = [];
  out.push(`### ${headline(report)}`, "");
  out.push("| Stack | Previous | New | Diff |", "| --- | ---: | ---: | ---: |");
  for (const s of report.stacks) {
    out.push(
      `| ${s.stack}${s.partial ? " (changed resources only)" : ""} | ${formatUsd(s.before)} | ${formatUsd(s.after)} | ${withPercent(s.before, s.diff, s.partial)} |`,
    );
  }
  if (report.stacks.length > 1) {
    const partial = report.stacks.some((s) => s.partial);
    out.push(
      `| **Total** | ${formatUsd(report.before)} | ${formatUsd(report.after)} | ${withPercent(report.before, report.diff, partial)} |`,
    );
  }
  out.push("");
  for (const s of report.stacks) {
    for (const w of s.planWarnings) out.push(`> **Warning (${s.stack}):** ${w}.`, "");
    const overlap = windowText(s);
    if (overlap) out.push(`**${s.stack}:** ${overlap}`, "");
    for (const v of s.retainedVolumes) out.push(`> **Retained (${s.stack}):** ${retainedText(v)}.`, "");
  }
  const unpriced = [...new Set(report.stacks.flatMap((s) => s.unpricedTypes))].sort();
  const unpricedNames = report.stacks.flatMap((s) => s.unpriced.map((u) => `\`${u.name}\` (${u.note})`));
  const unpricedAll = [...unpriced.map((t) => `\`${t}\``), ...unpricedNames];
  if (unpricedAll.length) out.push(`Not priced, left out of the totals: ${unpricedAll.join(", ")}.`, "");
  const warnings = report.stacks.flatMap((s) => s.warnings.map((w) => ({ stack: s.stack, w })));
  for (const { stack, w } of warnings) out.push(`> **Warning (${stack}):** ${warningText(w)}`, ">");
  if (warnings.length) out.splice(out.length - 1, 1, "");
  for (const s of report.stacks) {
    const shown = s.lines.filter((l) => !isQuietLine(l));
    const quiet = quietSummary(s.lines);
    const when = s.window ? " (once the migration window has passed)" : "";
    out.push("<details>", `<summary>Cost breakdown per resource${when}: ${s.stack}</summary>`, "");
    out.push("| Resource | Type | Change | Previous | New | Diff |", "| --- | --- | --- | ---: | ---: | ---: |");
    for (const l of shown) {
      out.push(
        `| ${l.name} | ${shortType(l.type)} | ${l.op} | ${cell(l.before)} | ${cell(l.after)} | ${diffCell(l.diff)} |`,
      );
    }
    if (quiet) out.push("", quiet);
    out.push("", "</details>", "");
  }
  const unconfirmed = [...new Set(report.stacks.flatMap((s) => s.unconfirmed))].sort();
  if (unconfirmed.length) {
    const labels = unconfirmed.map((k) => UNCONFIRMED_LABELS[k] ?? k);
    out.push(`Prices not confirmed on a current DigitalOcean page: ${labels.join(", ")}; see infra/pricing.ts.`, "");
  }
  if (report.stacks.some((s) => s.partial)) {
    out.push(
      "The preview lists changed resources only (run `pulumi preview --json --show-sames` for full totals).",
      "",
    );
  }
  out.push(`<sub>DigitalOcean list prices from infra/pricing.ts, checked ${P.DROPLET_PRICES_SOURCE.checked}.</sub>`);
  return `${out.join("\n")}\n`;
}

/** The `--json` output: totals, each stack, and every resource with its stack. */
export function renderJson(report: CostReport): unknown {
  return {
    before: { monthly: report.before },
    after: { monthly: report.after },
    diff: { monthly: report.diff },
    transient: report.transient,
    resources: report.stacks.flatMap((s) =>
      s.lines.map((l) => ({
        stack: s.stack,
        urn: l.urn ?? l.name,
        type: l.type,
        op: l.op,
        before: l.before,
        after: l.after,
        diff: l.diff,
        ...(l.note ? { note: l.note } : {}),
      })),
    ),
    stacks: report.stacks.map((s) => ({
      stack: s.stack,
      before: { monthly: s.before },
      after: { monthly: s.after },
      diff: { monthly: s.diff },
      partial: s.partial,
      unpricedTypes: s.unpricedTypes,
      unpriced: s.unpriced,
      unconfirmedPrices: s.unconfirmed,
      warnings: s.warnings.map((w) => ({ ...w, text: warningText(w) })),
      ...(s.window ? { window: s.window } : {}),
      retainedVolumes: s.retainedVolumes,
      planWarnings: s.planWarnings,
    })),
  };
}

/** Plain-text tables for a terminal. */
export function renderText(report: CostReport): string {
  const out: string[] = [headline(report)];
  const totals = new Table({ style: PLAIN_TABLE, head: ["Stack", "Previous", "New", "Diff"] });
  for (const s of report.stacks) {
    totals.push([s.stack, formatUsd(s.before), formatUsd(s.after), withPercent(s.before, s.diff, s.partial)]);
  }
  out.push(totals.toString());
  for (const s of report.stacks) {
    const t = new Table({
      style: PLAIN_TABLE,
      head: ["Resource", "Type", "Change", "Previous", "New", "Diff", "Note"],
    });
    for (const l of s.lines.filter((x) => !isQuietLine(x))) {
      t.push([l.name, shortType(l.type), l.op, cell(l.before), cell(l.after), diffCell(l.diff), l.note ?? ""]);
    }
    out.push(`${s.stack}:`, t.toString());
    const quiet = quietSummary(s.lines);
    if (quiet) out.push(quiet);
    const overlap = windowText(s);
    if (overlap) out.push(overlap.replace(/`/g, ""));
    for (const v of s.retainedVolumes) out.push(`Retained: ${retainedText(v).replace(/`/g, "")}`);
    for (const w of s.planWarnings) out.push(`WARNING: ${w}`);
    for (const w of s.warnings) out.push(`Warning: ${warningText(w)}`);
    if (s.unpricedTypes.length) out.push(`Not priced: ${s.unpricedTypes.join(", ")}`);
    for (const u of s.unpriced) out.push(`Not priced: ${u.name} (${u.note})`);
  }
  return `${out.join("\n")}\n`;
}
