/** Tables of docs/configuration.md generated from the code, so the docs cannot drift from it (tests compare them). */
import { TIER_NAMES } from "../tiers";
import { type PoolSizes, tune } from "../tuning";
import type { ProjectFile } from "./stack-files";

const cell = (s: string) => s.replace(/\|/g, "\\|");

export function renderConfigReference(project: ProjectFile): string {
  const rows = ["| key | type | default | description |", "| --- | --- | --- | --- |"];
  for (const [key, d] of Object.entries(project.config ?? {})) {
    const def = !("default" in d) ? "required" : d.default === "" ? "unset" : `\`${JSON.stringify(d.default)}\``;
    rows.push(`| \`${key}\` | ${d.type ?? ""} | ${def} | ${cell(d.description ?? "")} |`);
  }
  for (const [key, d] of Object.entries(project.template?.config ?? {})) {
    if (d?.secret === true) rows.push(`| \`${key}\` | secret | unset | ${cell(d.description ?? "")} |`);
  }
  return `${rows.join("\n")}\n`;
}

/** The README's tuning table: the memory split and key settings of every tier, with the default pools. */
export function renderTuningTable(pools: PoolSizes = { dbPoolSize: 5, dbMaxOverflow: 5 }): string {
  const rows = [
    "| tier | RAM | reserve | proxy | app | Redis | PostgreSQL | uvicorn workers | max_connections | shared_buffers | work_mem | Redis maxmemory |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const tier of TIER_NAMES) {
    const t = tune(tier, pools);
    const m = t.memory;
    rows.push(
      `| \`${tier}\` | ${[m.totalMiB, m.reserveMiB, m.proxyMiB, m.appMiB, m.redisMiB, m.postgresMiB].map((x) => `${x} MiB`).join(" | ")} | ${t.app.workers} | ${t.postgres.max_connections} | ${t.postgres.shared_buffers} | ${t.postgres.work_mem} | ${t.redis.maxmemory} |`,
    );
  }
  return `${rows.join("\n")}\n`;
}

/** Replaces each `<!-- name:start -->`…`<!-- name:end -->` block of a markdown text with the named table. */
export function replaceGenerated(markdown: string, tables: Record<string, string>): string {
  let out = markdown;
  for (const [name, table] of Object.entries(tables)) {
    const start = `<!-- ${name}:start -->\n`;
    const end = `<!-- ${name}:end -->`;
    const a = out.indexOf(start);
    const b = out.indexOf(end, a);
    if (a < 0 || b < 0) throw new Error(`the document has no ${name} markers`);
    out = out.slice(0, a + start.length) + table + out.slice(b);
  }
  return out;
}
