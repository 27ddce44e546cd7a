/**
 * npm run capacity -- --metrics <file> [--json] [--chart <file.svg|.png>]
 * npm run capacity -- --host <ssh target> --tier <tier> [--ssh-arg=<arg> ...] [--env KEY=VALUE ...]
 * npm run capacity -- --days <N> --droplet-id <id> --tier <tier>      (token: DIGITALOCEAN_TOKEN)
 *
 * Parses arguments and calls into infra/capacity; see infra/capacity/rules.ts for the rules.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Command, InvalidArgumentError, Option } from "commander";
import { buildChartSpec, renderChart } from "../infra/capacity/chart";
import { fetchDropletSamples } from "../infra/capacity/do-monitoring";
import { collectLive, parseEnvPairs, spawnRunner } from "../infra/capacity/live";
import { type CapacityInput, parseCapacityFile, parseCapacityInput } from "../infra/capacity/metrics";
import { buildReport, renderHuman, reportJson } from "../infra/capacity/report";
import { dropletScript } from "../infra/render/droplet-scripts";
import { TIER_NAMES } from "../infra/tiers";

const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number`);
  return Number(v);
};
const collect = (v: string, prev: string[] = []) => [...prev, v];

const program = new Command("capacity")
  .description("Tell when to scale: upgrade-now, plan-upgrade or none, with the triggers, the next tier and its cost")
  .option("--metrics <file>", "metrics JSON file ({tier, samples, activeUsers?, monthlyActiveUsers?, complaints?})")
  .option("--host <target>", "collect live from a droplet over ssh (user@host)")
  .option("--days <n>", "read N days from DigitalOcean's monitoring API (token in DIGITALOCEAN_TOKEN)", int("--days"))
  .addOption(new Option("--tier <tier>", "the droplet's tier (with --host / --days)").choices(TIER_NAMES))
  .option("--droplet-id <id>", "droplet id (with --days)")
  .option("--ssh-arg <arg>", "extra ssh option, repeatable (e.g. --ssh-arg=-p --ssh-arg=2222)", collect)
  .option("--env <KEY=VALUE>", "environment for collect.sh on the droplet, repeatable (no secrets)", collect)
  .option("--history-days <n>", "days of droplet history to read with --host", int("--history-days"), 8)
  .option("--active-users <n>", "current active users (overrides the file)", int("--active-users"))
  .option("--complaints", "users are complaining (overrides the file)")
  .option("--save-metrics <file>", "also write the collected input as a metrics file")
  .option("--json", "print the verdict as JSON")
  .option("--chart <file>", "draw memory, CPU and latency with the thresholds (.svg or .png)");

async function loadInput(o: Record<string, unknown>): Promise<CapacityInput> {
  const modes = ["metrics", "host", "days"].filter((m) => o[m] !== undefined);
  if (modes.length !== 1) throw new Error("give exactly one of --metrics <file>, --host <target>, --days <n>");
  const overrides = {
    ...(o.activeUsers !== undefined ? { activeUsers: o.activeUsers as number } : {}),
    ...(o.complaints ? { complaints: true } : {}),
  };
  if (o.metrics !== undefined) {
    const file = o.metrics as string;
    const input = parseCapacityFile(readFileSync(file, "utf8"), file);
    return { ...input, ...overrides };
  }
  if (o.tier === undefined) throw new Error(`--tier is required with --${modes[0]} (allowed: ${TIER_NAMES.join(", ")})`);
  const tier = o.tier as (typeof TIER_NAMES)[number];
  if (o.host !== undefined) {
    const env = parseEnvPairs((o.env as string[] | undefined) ?? []);
    return collectLive(
      { target: o.host as string, sshArgs: (o.sshArg as string[] | undefined) ?? [], env, historyDays: o.historyDays as number, tier, ...overrides },
      dropletScript("collect.sh"),
      spawnRunner,
    );
  }
  const samples = await fetchDropletSamples({
    token: process.env.DIGITALOCEAN_TOKEN ?? "",
    dropletId: String(o.dropletId ?? ""),
    days: o.days as number,
    fetch: (url, init) => fetch(url, init),
  });
  return parseCapacityInput({ tier, samples, ...overrides });
}

async function main(): Promise<void> {
  const o = program.parse().opts();
  const input = await loadInput(o);
  if (o.saveMetrics) {
    const { samples, ...rest } = input;
    writeFileSync(o.saveMetrics, `${JSON.stringify({ ...rest, samples: samples.map(({ t: _t, ...s }) => s) }, null, 2)}\n`);
  }
  const report = buildReport(input);
  console.log(o.json ? JSON.stringify(reportJson(report), null, 2) : renderHuman(report));
  if (o.chart) {
    const out = await renderChart(buildChartSpec(input.samples, `Capacity of the ${input.tier} droplet, verdict: ${report.verdict}`), o.chart);
    writeFileSync(o.chart, out);
    if (!o.json) console.log(`\nChart written to ${o.chart}`);
  }
}

main().catch((err: Error) => {
  console.error(`capacity: ${err.message}`);
  process.exit(2);
});
