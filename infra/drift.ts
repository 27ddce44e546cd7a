/**
 * The daily drift check's verdict on a `pulumi preview --refresh --json` of a deployed stack: what the program
 * planned on its own (the drop of a migration's rollback target once `rollbackUntil` has passed) is expected; any
 * other change is drift. Pure: the parsed preview, the stack's outputs and the time in, the verdict out.
 *
 * The drop of a rollback target `<key>` (infra/plan.ts: the first `pulumi up` after its retention) deletes its server
 * component `<key>` and everything named `<key>-...`, the tier migration (`migration`, `migration-...`) or the move
 * onto scale-out (`scale-out-migration...`), and takes the server's droplet and volume out of the project's resources
 * (`do:droplet:<id>`, `do:volume:<id>`) and its droplet out of the monitor alerts' entities.
 */
import type { ParsedPreview } from "./pulumi-json";
import type { ResourceChange } from "./resource-shapes";
import type { MigrationStatus, ServerOutput } from "./stack-outputs";

const PROJECT = "digitalocean:index/project:Project";
const MONITOR_ALERT = "digitalocean:index/monitorAlert:MonitorAlert";

export interface DriftItem {
  type: string;
  name: string;
  op: ResourceChange["op"];
  /** Why it is expected, or which inputs differ. */
  detail: string;
}

export interface DriftVerdict {
  /** The rollback target whose drop is due, when it is. */
  dueDrop?: { server: string; rollbackUntil: string };
  /** Changes the program planned on its own: no issue. */
  expected: DriftItem[];
  /** Everything else that is not `same`: drift. */
  drift: DriftItem[];
}

function changedKeys(c: ResourceChange): string[] {
  const before = c.before?.inputs ?? {};
  const after = c.after?.inputs ?? {};
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  keys.delete("__defaults");
  return [...keys].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k])).sort();
}

/** `after` is `before` less some of `gone` (and at least one): nothing added, nothing else removed. */
function onlyRemoves(before: unknown, after: unknown, gone: ReadonlySet<string>): boolean {
  if (!Array.isArray(before) || !Array.isArray(after)) return false;
  const b = before.map(String);
  const a = after.map(String);
  const removed = b.filter((x) => !a.includes(x));
  return removed.length > 0 && a.every((x) => b.includes(x)) && removed.every((x) => gone.has(x));
}

/** Why this change belongs to the drop of `server` (undefined: it does not). */
function dropReason(c: ResourceChange, server: string, values: ServerOutput | undefined): string | undefined {
  const n = c.name;
  if (c.op === "delete") {
    if (n === server || n.startsWith(`${server}-`)) return `the rollback target ${server} is dropped`;
    if (n === "migration" || n.startsWith("migration-") || n.startsWith("scale-out-migration"))
      return `the migration from ${server} is dropped with it`;
    return undefined;
  }
  if (c.op !== "update" || !values) return undefined;
  const keys = changedKeys(c);
  if (keys.length !== 1) return undefined;
  if (c.type === PROJECT && keys[0] === "resources") {
    const gone = new Set([
      `do:droplet:${values.dropletId}`,
      ...(values.volumeId ? [`do:volume:${values.volumeId}`] : []),
    ]);
    if (onlyRemoves(c.before?.inputs.resources, c.after?.inputs.resources, gone))
      return `${server}'s droplet and volume leave the project`;
  }
  if (c.type === MONITOR_ALERT && keys[0] === "entities") {
    if (onlyRemoves(c.before?.inputs.entities, c.after?.inputs.entities, new Set([values.dropletId])))
      return `${server}'s droplet leaves the alert`;
  }
  return undefined;
}

/** The stack outputs the verdict reads: `migration` (infra/stack-outputs.ts MigrationStatus) and `servers`. */
export interface DriftOutputs {
  migration?: MigrationStatus;
  servers?: Record<string, ServerOutput>;
}

export function classifyDrift(preview: Pick<ParsedPreview, "changes">, outputs: DriftOutputs, now: Date): DriftVerdict {
  const m = outputs.migration;
  const due =
    m?.state === "done" && m.rollbackUntil && now.getTime() >= new Date(m.rollbackUntil).getTime()
      ? { server: m.rollbackTarget, rollbackUntil: m.rollbackUntil }
      : undefined;
  const values = due ? outputs.servers?.[due.server] : undefined;
  const verdict: DriftVerdict = { ...(due ? { dueDrop: due } : {}), expected: [], drift: [] };
  for (const c of preview.changes) {
    if (c.op === "same" || c.type === "pulumi:pulumi:Stack") continue;
    const why = due ? dropReason(c, due.server, values) : undefined;
    const item = { type: c.type, name: c.name, op: c.op };
    if (why) verdict.expected.push({ ...item, detail: why });
    else
      verdict.drift.push({ ...item, detail: c.op === "update" || c.op === "replace" ? changedKeys(c).join(", ") : "" });
  }
  return verdict;
}

/** The verdict as the drift issue and the job log show it (markdown). */
export function renderDrift(stack: string, v: DriftVerdict): string {
  const line = (i: DriftItem) => `- \`${i.name}\` (\`${i.type}\`): ${i.op}${i.detail ? `: ${i.detail}` : ""}`;
  const out: string[] = [];
  out.push(
    v.drift.length
      ? `### Drift: stack \`${stack}\` differs from its program (${v.drift.length} change(s))`
      : `### No drift in stack \`${stack}\``,
    "",
  );
  if (v.drift.length) out.push(...v.drift.map(line), "");
  if (v.dueDrop) {
    out.push(
      `Expected, not drift: the rollback target \`${v.dueDrop.server}\` is past its retention (${v.dueDrop.rollbackUntil}); the next \`pulumi up\` drops it${v.expected.length ? ":" : "."}`,
      ...v.expected.map(line),
      "",
    );
  }
  return `${out.join("\n")}\n`;
}
