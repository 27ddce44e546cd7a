/**
 * Turns an offline run of the program into what `npm run plan` shows: the JSON document, the human summary and the
 * rendered artifacts. The artifacts are taken from the registered inputs (user data) or checked against them (synced
 * files), so they are byte for byte what the droplet would get.
 */
import Table from "cli-table3";
import { estimateMonthly } from "../cost";
import type { StackPlan } from "../plan";
import { END_MARKER } from "../render/files";
import { type OfflineRun, redactSecrets } from "./run";

export interface PlanResource {
  type: string;
  name: string;
  urn: string;
  inputs: unknown;
  monthlyCost: number | null;
}

export interface PlanDocument {
  project: string;
  stack: string;
  tier: string;
  budgets: { downtimeSeconds: number; migrationMinutes: number };
  monthlyCost: number;
  unpricedTypes: string[];
  resources: PlanResource[];
}

export function buildPlanDocument(run: OfflineRun, plan: StackPlan): PlanDocument {
  const estimate = estimateMonthly(run.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, custom: r.custom, inputs: redactSecrets(r.inputs) as Record<string, unknown> })));
  return {
    project: run.stack.project,
    stack: run.stack.stack,
    tier: plan.config.tier,
    budgets: { downtimeSeconds: plan.config.downtimeBudgetSeconds, migrationMinutes: plan.config.migrationBudgetMinutes },
    monthlyCost: estimate.monthly,
    unpricedTypes: estimate.unpricedTypes,
    resources: run.resources.map((r, i) => ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      inputs: redactSecrets(r.inputs),
      monthlyCost: estimate.resources[i]?.monthly ?? null,
    })),
  };
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
  const server = plan.active;
  const userData = recorded(run, "digitalocean:index/droplet:Droplet", `${server.name}-droplet`).userData;
  if (typeof userData !== "string") throw new Error("the droplet's userData is not a plain string");
  const stdin = recorded(run, "command:remote:Command", `${server.name}-config`).stdin;
  if (typeof stdin !== "string") throw new Error("the config sync's stdin is not a plain string");
  const synced = (path: string, file = path): Artifact => {
    const f = server.configFiles.find((x) => x.path === path);
    if (!f) throw new Error(`no rendered ${path}`);
    if (!stdin.includes(`<<'${END_MARKER}'\n${f.content}${END_MARKER}\n`)) throw new Error(`${path} differs from what the config sync writes`);
    return { file, content: f.content };
  };
  return [
    { file: "user-data.yaml", content: userData },
    synced("compose.yaml"),
    synced("postgresql.conf"),
    synced("pg_hba.conf"),
    synced("redis.conf"),
    synced("Caddyfile"),
  ];
}

const usd = (n: number | null) => (n === null ? "not priced" : `$${n.toFixed(2)}`);

export function renderPlanText(doc: PlanDocument, plan: StackPlan): string {
  const s = plan.active;
  const t = s.tuning;
  const lines: string[] = [];
  lines.push(`Stack ${doc.project}/${doc.stack} (${plan.config.environment}), region ${plan.config.region}`);
  lines.push(`Tier ${doc.tier}: droplet ${s.tier.slug} (${s.tier.vcpus} vCPU, ${s.tier.memoryMiB / 1024} GiB), for up to about ${s.tier.users.comfortable.toLocaleString("en-US")} active users`);
  lines.push(`Monthly cost: ${usd(doc.monthlyCost)}${doc.unpricedTypes.length ? ` (not priced: ${doc.unpricedTypes.join(", ")})` : ""}`);
  const m = plan.migration;
  if (m) {
    lines.push(
      `Tier migration ${m.from} -> ${m.to} (strategy ${m.strategy}, traffic by ${m.trafficSwitch}): write downtime budget ${m.downtimeBudgetSeconds} s, whole migration ${m.migrationBudgetMinutes} min; the ${m.from} server is kept as the rollback target until ${m.retainUntil}`,
    );
  }
  lines.push("");

  const resources = new Table({ head: ["Type", "Name", "Monthly"], style: { head: [], border: [], compact: true } });
  for (const r of doc.resources) resources.push([r.type, r.name, r.type.startsWith("chatbot:") ? "" : usd(r.monthlyCost)]);
  lines.push(`Resources (${doc.resources.length})`, resources.toString(), "");

  const memory = new Table({ head: ["Memory (MiB)", "Reserve", "Proxy", "App", "Redis", "PostgreSQL", "Total"], style: { head: [], border: [], compact: true } });
  memory.push([s.tier.slug, t.memory.reserveMiB, t.memory.proxyMiB, t.memory.appMiB, t.memory.redisMiB, t.memory.postgresMiB, t.memory.totalMiB]);
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
  return lines.join("\n") + "\n";
}
