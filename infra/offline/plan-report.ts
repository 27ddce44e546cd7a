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
  // A single droplet, or (scale-out) the first app droplet: every app droplet gets the same files.
  const target = plan.active
    ? { droplet: `${plan.active.name}-droplet`, sync: `${plan.active.name}-config`, files: plan.active.configFiles }
    : plan.scaleOut
      ? { droplet: `scale-out-${plan.scaleOut.app.droplets[0]!.key}`, sync: `scale-out-${plan.scaleOut.app.droplets[0]!.key}-config`, files: plan.scaleOut.app.configFiles }
      : undefined;
  if (!target) throw new Error("the plan has neither a droplet tier nor a scale-out tier");
  const userData = recorded(run, "digitalocean:index/droplet:Droplet", target.droplet).userData;
  if (typeof userData !== "string") throw new Error("the droplet's userData is not a plain string");
  const stdin = recorded(run, "command:remote:Command", target.sync).stdin;
  if (typeof stdin !== "string") throw new Error("the config sync's stdin is not a plain string");
  const artifacts: Artifact[] = [{ file: "user-data.yaml", content: userData }];
  for (const file of ["compose.yaml", "postgresql.conf", "pg_hba.conf", "redis.conf", "Caddyfile"]) {
    const f = target.files.find((x) => x.path === file);
    if (!f) continue; // app droplets of the scale-out tier run no PostgreSQL or Redis
    if (!stdin.includes(`<<'${END_MARKER}'\n${f.content}${END_MARKER}\n`)) throw new Error(`${file} differs from what the config sync writes`);
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
    lines.push(`Tier ${doc.tier}: droplet ${s.tier.slug} (${s.tier.vcpus} vCPU, ${s.tier.memoryMiB / 1024} GiB), for up to about ${s.tier.users.comfortable.toLocaleString("en-US")} active users`);
  } else if (plan.scaleOut) {
    const o = plan.scaleOut;
    lines.push(
      `Tier scale-out: load balancer (${o.loadBalancer.sizeUnit} node) -> ${o.app.count} x ${o.app.size} app droplets (${o.app.workers} workers each); ` +
        `managed PostgreSQL ${o.postgres.version} ${o.postgres.size} x ${o.postgres.nodeCount} with a ${o.postgres.pool.mode} pool of ${o.postgres.pool.size}; managed Valkey ${o.valkey.size} x ${o.valkey.nodeCount}`,
    );
  }
  lines.push(`Monthly cost: ${usd(doc.monthlyCost)}${doc.unpricedTypes.length ? ` (not priced: ${doc.unpricedTypes.join(", ")})` : ""}`);
  if (plan.scaleOutMigration) {
    const m = plan.scaleOutMigration;
    lines.push(
      `Moving ${m.from} -> scale-out (logical replication into managed PostgreSQL): write downtime budget ${m.downtimeBudgetSeconds} s, whole move ${m.migrationBudgetMinutes} min; the ${m.from} droplet forwards to the app droplets until ${m.retainUntil}`,
    );
  }
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

  if (plan.scaleOut) {
    const a = plan.scaleOut.app;
    const memory = new Table({ head: ["App droplet (MiB)", "Reserve", "Proxy", "App", "Total"], style: { head: [], border: [], compact: true } });
    memory.push([a.size, a.memory.reserveMiB, a.memory.proxyMiB, a.memory.appMiB, a.memoryMiB]);
    lines.push(memory.toString(), `Per worker: pool ${a.dbPoolSize} + overflow ${a.dbMaxOverflow} against the managed pool of ${plan.scaleOut.postgres.pool.size}`);
    return lines.join("\n") + "\n";
  }
  const s = plan.active!;
  const t = s.tuning;
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
