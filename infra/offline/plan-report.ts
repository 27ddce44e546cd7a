/**
 * Turns an offline run of the program into what `npm run plan` shows: the JSON document, the human summary and the
 * rendered artifacts. The artifacts are taken from the registered inputs (user data) or checked against them (synced
 * files), so they are byte for byte what the droplet would get.
 */
import Table from "cli-table3";
import { estimateMonthly } from "../cost";
import type { AfterWindow, RetainedVolumeCost } from "../cost/timeline";
import type { StackPlan } from "../plan";
import { END_MARKER } from "../render/files";
import { type SwitchBackSummary, switchBackSummary, switchBackWords } from "../switch-back";
import { planCosts } from "./plan-costs";
import { type OfflineRun, redactSecrets } from "./run";
import { SECRET_PLACEHOLDER } from "./stack-files";
import {
  blockedByProtect,
  checkDataLoss,
  countOps,
  type DataLoss,
  type FlagChanges,
  flagWarnings,
  type Op,
  type Operation,
  planOperations,
} from "./state-diff";
import { buildStateExport, stackUrn } from "./state-file";
import { isSecret } from "./secret-values";

export interface PlanResource {
  type: string;
  name: string;
  urn: string;
  /** The parent's URN (the stack's for the components at the top). */
  parent?: string;
  /** Resource options `pulumi preview` shows: a protected resource cannot be deleted or replaced; a retained one is
   * left at the provider when the stack drops it. */
  protect: boolean;
  retainOnDelete: boolean;
  inputs: unknown;
  monthlyCost: number | null;
}

export interface PlanDocument {
  project: string;
  stack: string;
  tier: string;
  budgets: { downtimeSeconds: number; migrationMinutes: number };
  /** USD per month: the registered resources, and the retained volumes of dropped servers (billed until deleted). */
  monthlyCost: number;
  unpricedTypes: string[];
  /** While a server migrated from is kept: the stack once it is dropped, and what the overlap costs until then. */
  afterWindow?: AfterWindow;
  /** A switch back this update runs (nothing created or copied), with what it does in words. */
  switchBack?: SwitchBackSummary;
  /** Volumes of dropped servers left at DigitalOcean, from the deployed record: billed until deleted. */
  retainedVolumes?: RetainedVolumeCost[];
  resources: PlanResource[];
  /** The stack outputs a successful `pulumi up` leaves (`pulumi stack output --json`); secret ones print "[secret]". */
  outputs: Record<string, unknown>;
  /** Names of the secret outputs. */
  secretOutputs: string[];
  /** What `pulumi preview` would do to each resource: against the state given with --state, else against nothing. */
  operations: PlanOperation[];
  /**
   * Only with --state: the file, what could not be compared exactly, and warnings (a volume holding data that loses
   * retainOnDelete).
   */
  state?: { file: string; notes: string[]; warnings: string[] };
  /** Only with --state: operations that would lose data (the plan exits 1 when there is any). */
  dataLoss?: DataLoss[];
}

export interface PlanOperation {
  urn: string;
  type: string;
  name: string;
  op: Op;
  /** For `replace`: the inputs that force it (empty otherwise). */
  replaceKeys: string[];
  /** For `update` and `replace`: every changed input. */
  diffKeys?: string[];
  parent?: string;
  protect?: true;
  retainOnDelete?: true;
  /** The state URN this resource continues through an alias. */
  previousUrn?: string;
  /** A deployed resource whose flags change: each changed one as [deployed, planned]. */
  flags?: FlagChanges;
}

function toPlanOperation(o: Operation): PlanOperation {
  return {
    urn: o.urn,
    type: o.type,
    name: o.name,
    op: o.op,
    replaceKeys: o.replaceKeys,
    ...(o.diffKeys.length ? { diffKeys: o.diffKeys } : {}),
    ...(o.parent ? { parent: o.parent } : {}),
    ...(o.protect ? { protect: true as const } : {}),
    ...(o.retainOnDelete ? { retainOnDelete: true as const } : {}),
    ...(o.previousUrn ? { previousUrn: o.previousUrn } : {}),
    ...(o.flags ? { flags: o.flags } : {}),
  };
}

/** What the comparison with the state could not see, said plainly. */
function stateNotes(run: OfflineRun, ops: readonly Operation[]): string[] {
  const notes: string[] = [];
  const state = run.state!;
  if (state.undecryptedOutputs.length) {
    notes.push(
      `stack outputs ${state.undecryptedOutputs.join(", ")} are encrypted secrets in ${state.file}: they cannot be decrypted offline, so the program saw them as absent`,
    );
  }
  const secret = ops.filter((o) => o.secretKeys.length && o.op !== "create" && o.op !== "delete");
  if (secret.length) {
    notes.push(
      `secret inputs are compared by presence only (a changed secret value shows as unchanged): ${secret.map((o) => `${o.name} (${o.secretKeys.join(", ")})`).join("; ")}`,
    );
  }
  for (const r of run.stackReferences.filter((x) => x.source === "other"))
    notes.push(`StackReference ${r.name} is another stack: answered with no outputs`);
  for (const o of blockedByProtect(ops))
    notes.push(
      `${o.name} is protected and this plan would ${o.op} it: \`pulumi up\` fails at that step, after the steps before it ran`,
    );
  return notes;
}

export function buildPlanDocument(run: OfflineRun, plan: StackPlan): PlanDocument {
  const ops = planOperations(run.resources, run.state);
  const estimate = estimateMonthly(
    run.resources.map((r) => ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      custom: r.custom,
      inputs: redactSecrets(r.inputs) as Record<string, unknown>,
    })),
  );
  const costs = planCosts(plan, run.resources, estimate.resources, estimate.monthly, run.now);
  return {
    project: run.stack.project,
    stack: run.stack.stack,
    tier: plan.config.tier,
    budgets: {
      downtimeSeconds: plan.config.downtimeBudgetSeconds,
      migrationMinutes: plan.config.migrationBudgetMinutes,
    },
    monthlyCost: Math.round((estimate.monthly + costs.retainedMonthly) * 100) / 100,
    unpricedTypes: estimate.unpricedTypes,
    ...(costs.afterWindow ? { afterWindow: costs.afterWindow } : {}),
    ...switchBackSummary(plan.migration),
    ...(costs.retainedVolumes ? { retainedVolumes: costs.retainedVolumes } : {}),
    resources: run.resources.map((r, i) => ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      ...(r.parent ? { parent: r.parent } : {}),
      protect: r.protect,
      retainOnDelete: r.retainOnDelete,
      inputs: redactSecrets(r.inputs),
      monthlyCost: estimate.resources[i]?.monthly ?? null,
    })),
    outputs: Object.fromEntries(
      Object.entries(run.outputs).map(([k, v]) => [
        k,
        run.secretOutputs.includes(k) ? SECRET_PLACEHOLDER : redactSecrets(v),
      ]),
    ),
    secretOutputs: [...run.secretOutputs],
    operations: ops.map(toPlanOperation),
    ...(run.state
      ? {
          state: { file: run.state.file, notes: stateNotes(run, ops), warnings: flagWarnings(ops) },
          dataLoss: checkDataLoss(ops, run.resources, run.state),
        }
      : {}),
  };
}

/** The `pulumi stack export` a successful `pulumi up` of this run would leave (secrets never in plain text). */
export function stateAfterUp(run: OfflineRun): ReturnType<typeof buildStateExport> {
  return buildStateExport({
    project: run.stack.project,
    stack: run.stack.stack,
    now: run.now,
    outputs: run.outputs,
    secretOutputs: run.secretOutputs,
    resources: run.resources,
    secretsProviders: run.state?.secretsProviders,
  });
}

export interface Artifact {
  file: string;
  content: string;
}

function recorded(run: OfflineRun, type: string, name: string): Record<string, unknown> {
  const r = run.resources.find((x) => x.type === type && x.name === name);
  if (!r) throw new Error(`the program registered no ${type} named ${name}`);
  return r.inputs;
}

/** The rendered files, each checked against what the program registered. */
export function planArtifacts(run: OfflineRun, plan: StackPlan): Artifact[] {
  // A single droplet, or (scale-out) the first app droplet: every app droplet gets the same files.
  const target = plan.active
    ? { droplet: `${plan.active.name}-droplet`, sync: `${plan.active.name}-config`, files: plan.active.configFiles }
    : plan.scaleOut
      ? {
          droplet: `scale-out-${plan.scaleOut.app.droplets[0]!.key}`,
          sync: `scale-out-${plan.scaleOut.app.droplets[0]!.key}-config`,
          files: plan.scaleOut.app.configFiles,
        }
      : undefined;
  if (!target) throw new Error("the plan has neither a droplet tier nor a scale-out tier");
  // A pinned server's user data is a secret (it holds the host key): offline, its private key is the fake cloud's
  // placeholder (FAKE_PRIVATE_HOST_KEY), so the artifact is what the droplet gets but for that key.
  const registered = recorded(run, "digitalocean:index/droplet:Droplet", target.droplet).userData;
  const userData = isSecret(registered) ? registered.value : registered;
  if (typeof userData !== "string") throw new Error("the droplet's userData is not a string");
  const stdin = recorded(run, "command:remote:Command", target.sync).stdin;
  if (typeof stdin !== "string") throw new Error("the config sync's stdin is not a plain string");
  const artifacts: Artifact[] = [{ file: "user-data.yaml", content: userData }];
  for (const file of ["compose.yaml", "postgresql.conf", "pg_hba.conf", "redis.conf", "Caddyfile"]) {
    const f = target.files.find((x) => x.path === file);
    if (!f) continue; // app droplets of the scale-out tier run no PostgreSQL or Redis
    if (!stdin.includes(`<<'${END_MARKER}'\n${f.content}${END_MARKER}\n`))
      throw new Error(`${file} differs from what the config sync writes`);
    artifacts.push({ file, content: f.content });
  }
  return artifacts;
}

const usd = (n: number | null) => (n === null ? "not priced" : `$${n.toFixed(2)}`);

export function renderPlanText(doc: PlanDocument, plan: StackPlan): string {
  const lines: string[] = [];
  lines.push(`Stack ${doc.project}/${doc.stack} (${plan.config.environment}), region ${plan.config.region}`);
  if (plan.active) {
    const s = plan.active;
    lines.push(
      `Tier ${doc.tier}: droplet ${s.tier.slug} (${s.tier.vcpus} vCPU, ${s.tier.memoryMiB / 1024} GiB), for up to about ${s.tier.users.comfortable.toLocaleString("en-US")} active users`,
    );
  } else if (plan.scaleOut) {
    const o = plan.scaleOut;
    lines.push(
      `Tier scale-out: load balancer (${o.loadBalancer.sizeUnit} node) -> ${o.app.count} x ${o.app.size} app droplets (${o.app.workers} workers each); ` +
        `managed PostgreSQL ${o.postgres.version} ${o.postgres.size} x ${o.postgres.nodeCount} with a ${o.postgres.pool.mode} pool of ${o.postgres.pool.size}; managed Valkey ${o.valkey.size} x ${o.valkey.nodeCount}`,
    );
  }
  lines.push(
    `Monthly cost: ${usd(doc.monthlyCost)}${doc.unpricedTypes.length ? ` (not priced: ${doc.unpricedTypes.join(", ")})` : ""}`,
  );
  lines.push(...costOverTime(doc));
  // Retention counts from the commit: known once a `pulumi up` has recorded it (or set explicitly).
  const until = (m: { retainUntil: string | undefined; retainHours: number }) =>
    m.retainUntil ?? `${m.retainHours} h after the commit`;
  const done = (m: { running: boolean; committedAt: string | undefined }) =>
    m.running ? "" : ` done (committed ${m.committedAt ?? "earlier"})`;
  if (plan.scaleOutMigration) {
    const m = plan.scaleOutMigration;
    lines.push(
      m.running
        ? `Moving ${m.from} -> scale-out (logical replication into managed PostgreSQL): write downtime budget ${m.downtimeBudgetSeconds} s, whole move ${m.migrationBudgetMinutes} min; the ${m.from} droplet forwards to the app droplets until ${until(m)}`
        : `Move ${m.from} -> scale-out${done(m)}: the ${m.from} droplet forwards to the app droplets until ${until(m)}`,
    );
  }
  const m = plan.migration;
  if (m) {
    const kind = m.switchBack ? "Switch back" : "Tier migration";
    lines.push(
      m.running && m.switchBack
        ? `Switch back ${m.from} -> ${m.to} (traffic by ${m.trafficSwitch}): ${switchBackWords(m)}; write downtime budget ${m.downtimeBudgetSeconds} s; the ${m.from} server then follows it and is kept as the rollback target until ${until(m)}`
        : m.running
          ? `Tier migration ${m.from} -> ${m.to} (strategy ${m.strategy}, traffic by ${m.trafficSwitch}): write downtime budget ${m.downtimeBudgetSeconds} s, whole migration ${m.migrationBudgetMinutes} min; the ${m.from} server is kept as the rollback target until ${until(m)}`
          : `${kind} ${m.from} -> ${m.to}${done(m)}: the ${m.from} server is kept as the rollback target until ${until(m)}`,
    );
    if (m.running && m.down && !m.switchBack) {
      lines.push(
        `A tier change down: the migration's preflight checks that the data fits on the ${m.to} server and stops, touching nothing, if it does not`,
      );
    }
  }
  const guard =
    "once its drop guard has asked the droplet that its PostgreSQL is not a primary (else the update stops there, nothing deleted)";
  if (plan.released) {
    // A server created before pinned host keys has no host key resource to unprotect.
    const parts = plan.released.hostKey ? "droplet, volume, host key" : "droplet, volume";
    lines.push(
      `The ${plan.released.tier} server's retention has passed: this update takes its protection off (${parts}); the next \`pulumi up\` drops it, ${guard}`,
    );
  }
  if (plan.dropped && plan.config.allowDataLoss) {
    lines.push(
      `The ${plan.dropped.tier} server's retention has passed: this update deletes its droplet, ${guard}, and, with allowDataLoss, its volume ${plan.dropped.volumeName} if the state does not mark it retainOnDelete`,
    );
  } else if (plan.dropped) {
    lines.push(
      `The ${plan.dropped.tier} server's retention has passed: this update deletes its droplet, ${guard}; its volume ${plan.dropped.volumeName} stays at DigitalOcean (retainOnDelete, billed per GiB) until you delete it (\`doctl compute volume list\`, \`doctl compute volume delete <id>\`)`,
    );
  }
  lines.push("");

  lines.push(...(doc.state ? renderPreview(doc) : renderResourceTree(doc)), "", ...renderOutputs(doc), "");

  if (plan.scaleOut) {
    const a = plan.scaleOut.app;
    const memory = new Table({
      head: ["App droplet (MiB)", "Reserve", "Proxy", "App", "Total"],
      style: { head: [], border: [], compact: true },
    });
    memory.push([a.size, a.memory.reserveMiB, a.memory.proxyMiB, a.memory.appMiB, a.memoryMiB]);
    lines.push(
      memory.toString(),
      `Per worker: pool ${a.dbPoolSize} + overflow ${a.dbMaxOverflow} against the managed pool of ${plan.scaleOut.postgres.pool.size}`,
    );
    return `${lines.join("\n")}\n`;
  }
  const s = plan.active!;
  const t = s.tuning;
  const memory = new Table({
    head: ["Memory (MiB)", "Reserve", "Proxy", "App", "Redis", "PostgreSQL", "Total"],
    style: { head: [], border: [], compact: true },
  });
  memory.push([
    s.tier.slug,
    t.memory.reserveMiB,
    t.memory.proxyMiB,
    t.memory.appMiB,
    t.memory.redisMiB,
    t.memory.postgresMiB,
    t.memory.totalMiB,
  ]);
  lines.push(memory.toString(), "");

  const tuning = new Table({ head: ["Setting", "Value"], style: { head: [], border: [], compact: true } });
  const p = t.postgres;
  tuning.push(
    ["uvicorn workers", t.app.workers],
    ["pool per worker (size + overflow)", `${t.app.dbPoolSize} + ${t.app.dbMaxOverflow}`],
    ["max_connections", p.max_connections],
    ["shared_buffers", p.shared_buffers],
    ["effective_cache_size", p.effective_cache_size],
    ["work_mem", p.work_mem],
    ["maintenance_work_mem", p.maintenance_work_mem],
    ["redis maxmemory", `${t.redis.maxmemory} (${t.redis["maxmemory-policy"]})`],
    ["postgres stop grace", `${t.stopGraceSeconds.postgres}s`],
  );
  lines.push(tuning.toString());
  return `${lines.join("\n")}\n`;
}

/** The steady state after a migration's window, the overlap's one-off cost, and the volumes still billed. */
function costOverTime(doc: PlanDocument): string[] {
  const out: string[] = [];
  const w = doc.afterWindow;
  if (w) {
    out.push(
      `  once the ${w.tier} server is dropped: ${usd(w.monthlyCost)}; until then (about ${Math.round(w.hours * 10) / 10} h${w.running ? ": the migration and its window" : ""}) it costs ${usd(w.transient)} more, billed per second`,
    );
  }
  const retained = [...(w?.retainedVolume ? [w.retainedVolume] : []), ...(doc.retainedVolumes ?? [])];
  for (const v of retained) {
    out.push(
      `  retained volume ${v.volumeName} (${v.sizeGiB} GiB, of the ${v.tier} server${w?.retainedVolume === v ? ", once it is dropped" : ""}): ${usd(v.monthlyCost)}/month until you delete it: ${v.deleteCommand}`,
    );
  }
  return out;
}

const SYMBOL: Record<Op, string> = { create: "+ ", update: "~ ", replace: "+-", delete: "- ", same: "  " };

function info(o: PlanOperation): string {
  const parts: string[] = [];
  if (o.op === "replace") parts.push(`[replace: ${o.replaceKeys.join(", ")}]`);
  if (o.diffKeys?.length) parts.push(`[diff: ${o.diffKeys.map((k) => `~${k}`).join(", ")}]`);
  if (o.previousUrn) parts.push(`[was ${o.previousUrn.split("::").pop()}]`);
  for (const [flag, change] of Object.entries(o.flags ?? {})) parts.push(`[${flag}: ${change[0]} -> ${change[1]}]`);
  return [...parts, ...options(o)].join(" ");
}

interface TreeItem {
  urn: string;
  parent?: string;
  type: string;
  name: string;
  symbol: string;
  cells: string[];
}

/** Rows under the stack, indented by parent as `pulumi preview` draws them (an unknown parent counts as the stack). */
function renderTree(
  doc: Pick<PlanDocument, "project" | "stack">,
  columns: string[],
  items: readonly TreeItem[],
): string[] {
  const root = stackUrn(doc.project, doc.stack);
  const known = new Set(items.map((o) => o.urn));
  const children = new Map<string, TreeItem[]>();
  for (const o of items) {
    const parent = o.parent && known.has(o.parent) ? o.parent : root;
    children.set(parent, [...(children.get(parent) ?? []), o]);
  }
  const rows: string[][] = [["  ", "pulumi:pulumi:Stack", `${doc.project}-${doc.stack}`, ...columns.map(() => "")]];
  const walk = (urn: string, prefix: string) => {
    const list = children.get(urn) ?? [];
    list.forEach((o, i) => {
      const last = i === list.length - 1;
      rows.push([o.symbol, `${prefix}${last ? "└─ " : "├─ "}${o.type}`, o.name, ...o.cells]);
      walk(o.urn, `${prefix}${last ? "   " : "│  "}`);
    });
  };
  walk(root, "");
  const width = (i: number) => Math.max(...rows.map((r) => r[i]!.length));
  const widths = rows[0]!.map((_, i) => width(i));
  const line = (r: string[]) =>
    ` ${r[0]} ${r
      .slice(1, -1)
      .map((c, i) => c.padEnd(widths[i + 1]!))
      .join("  ")}  ${r[r.length - 1]}`.trimEnd();
  return [line(["".padEnd(2), "Type", "Name", ...columns]), ...rows.map(line)];
}

/** Protect and retainOnDelete, as `pulumi preview` marks them. */
function options(o: { protect?: boolean; retainOnDelete?: boolean }): string[] {
  return [...(o.protect ? ["protected"] : []), ...(o.retainOnDelete ? ["retainOnDelete"] : [])];
}

/** Without a state: every resource a `pulumi up` of a new stack creates, as a tree by parent, with its monthly price. */
export function renderResourceTree(doc: PlanDocument): string[] {
  const items = doc.resources.map((r) => ({
    urn: r.urn,
    ...(r.parent ? { parent: r.parent } : {}),
    type: r.type,
    name: r.name,
    symbol: "+ ",
    cells: [r.type.startsWith("chatbot:") ? "" : usd(r.monthlyCost), options(r).join(" ")],
  }));
  return [
    `Resources (${doc.resources.length}), as \`pulumi preview\` of a new stack shows them:`,
    ...renderTree(doc, ["Monthly", "Info"], items),
  ];
}

/** The stack outputs as `pulumi preview` lists them: objects spread over lines, secrets as "[secret]". */
export function renderOutputs(doc: PlanDocument): string[] {
  const names = Object.keys(doc.outputs).sort();
  const width = Math.max(0, ...names.map((n) => n.length));
  const out = ["Outputs:"];
  for (const n of names) {
    const text = JSON.stringify(doc.outputs[n], null, 2).replace(/\n/g, `\n    ${"".padEnd(width)}  `);
    out.push(`    ${n.padEnd(width)}: ${text}`);
  }
  return out;
}

/**
 * The operations as `pulumi preview` groups them: a tree by parent under the stack, a symbol per operation, the
 * changed inputs, protect and retainOnDelete, then the counts and what would lose data.
 */
export function renderPreview(doc: PlanDocument): string[] {
  const items = doc.operations.map((o) => ({
    urn: o.urn,
    ...(o.parent ? { parent: o.parent } : {}),
    type: o.type,
    name: o.name,
    symbol: SYMBOL[o.op],
    cells: [o.op, info(o)],
  }));
  const out = [
    `Preview against ${doc.state?.file ?? "no state"} (what \`pulumi preview\` would show)`,
    ...renderTree(doc, ["Plan", "Info"], items),
  ];
  const n = countOps(doc.operations);
  out.push("", "Resources:");
  for (const [op, label] of [
    ["create", "to create"],
    ["update", "to update"],
    ["replace", "to replace"],
    ["delete", "to delete"],
  ] as const) {
    if (n[op]) out.push(`    ${SYMBOL[op]}${n[op]} ${label}`);
  }
  out.push(`    ${n.same} unchanged`);
  const flagged = doc.operations.filter((o) => o.flags).length;
  if (flagged) out.push(`    ${flagged} with changed resource options (protect, retainOnDelete)`);
  for (const warning of doc.state?.warnings ?? []) out.push("", `WARNING: ${warning}`);
  for (const note of doc.state?.notes ?? []) out.push("", `Note: ${note}`);
  if (doc.dataLoss?.length) {
    out.push("", `Data loss: this plan would lose data (exit 1):`);
    for (const d of doc.dataLoss) out.push(`  - ${d.type} ${d.name} (${d.op}): ${d.reason}`);
  }
  return out;
}
