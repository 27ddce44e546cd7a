/**
 * npm run capacity -- --metrics <file> [--json] [--chart <file.svg|.png>] [--check]
 * npm run capacity -- --host <ssh target> --tier <tier> [--ssh-arg=<arg> ...] [--env KEY=VALUE ...]
 * npm run capacity -- --days <N> --droplet-id <id> --tier <tier>      (token: DIGITALOCEAN_TOKEN)
 *
 * Parses arguments and calls into infra/capacity; see infra/capacity/rules.ts for the rules.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { buildChartSpec, renderChart } from "../infra/capacity/chart";
import { fetchDropletSamples, MonitoringRequestError } from "../infra/capacity/do-monitoring";
import { collectCommand, collectLive, parseEnvPairs, spawnRunner } from "../infra/capacity/live";
import { type CapacityInput, MetricsError, parseCapacityFile, parseCapacityInput } from "../infra/capacity/metrics";
import { buildReport, checkFailure, renderHuman, reportJson } from "../infra/capacity/report";
import { pinnedHostKey } from "../infra/host-keys";
import { HostKeyMismatchError, pinSingleTarget } from "../infra/migration/host-key-check";
import { dropletScript } from "../infra/render/droplet-scripts";
import { TIER_NAMES } from "../infra/tiers";
import {
  asUsage,
  checkOutputFile,
  checkSeparateOutputs,
  collect,
  EXIT,
  NeedsHumanError,
  readInputFile,
  refuseIgnoredOptions,
  runCli,
  UsageError,
  writeOutputFile,
} from "./cli-exit";

const int = (name: string) => (v: string) => {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number`);
  return Number(v);
};

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
  .option(
    "--host-key <key>",
    'with --host: the droplet\'s pinned SSH host key, "ssh-ed25519 <base64>" (`pulumi stack output servers`: hostKey); another key stops before collecting (exit 3)',
  )
  .option("--active-users <n>", "current active users (overrides the file)", int("--active-users"))
  .option("--complaints", "users are complaining (overrides the file)")
  .option("--save-metrics <file>", "also write the collected input as a metrics file")
  .option("--json", "print the verdict as JSON")
  .option("--chart <file>", "draw memory, CPU and latency with the thresholds (.svg or .png)")
  .option(
    "--check",
    "exit 1 when the verdict asks for action (upgrade-now or plan-upgrade) or a rule is pending (its threshold exceeded, its window not full yet), for CI and cron",
  );

/** What each source reads besides the options every source takes. */
const COMMON = ["activeUsers", "complaints", "saveMetrics", "json", "chart", "check"];
const READS: Record<string, string[]> = {
  metrics: ["metrics"],
  host: ["host", "tier", "sshArg", "env", "historyDays", "hostKey"],
  days: ["days", "tier", "dropletId"],
};

async function loadInput(o: Record<string, unknown>, cmd: Command): Promise<CapacityInput> {
  const modes = ["metrics", "host", "days"].filter((m) => o[m] !== undefined);
  if (modes.length !== 1) throw new UsageError("give exactly one of --metrics <file>, --host <target>, --days <n>");
  const mode = modes[0]!;
  const why = mode === "metrics" ? "with --metrics (its file gives the tier and the samples)" : `with --${mode}`;
  refuseIgnoredOptions(cmd, [...COMMON, ...READS[mode]!], why);
  const overrides = {
    ...(o.activeUsers !== undefined ? { activeUsers: o.activeUsers as number } : {}),
    ...(o.complaints ? { complaints: true } : {}),
  };
  if (o.metrics !== undefined) {
    const file = o.metrics as string;
    const text = readInputFile("--metrics", file);
    const input = parseCapacityFile(text, file);
    return { ...input, ...overrides };
  }
  if (o.tier === undefined)
    throw new UsageError(`--tier is required with --${modes[0]} (allowed: ${TIER_NAMES.join(", ")})`);
  const tier = o.tier as (typeof TIER_NAMES)[number];
  if (o.host !== undefined) {
    const env = asUsage(() => parseEnvPairs((o.env as string[] | undefined) ?? []));
    const hostKey = o.hostKey === undefined ? undefined : asUsage(() => pinnedHostKey(o.hostKey as string));
    const given = { target: o.host as string, env, historyDays: o.historyDays as number };
    // Refuses a secret in --env before the pin: a usage error leaves no warning and no known_hosts file behind.
    asUsage(() => collectCommand({ ...given, sshArgs: [] }, ""));
    const pin = pinSingleTarget(given.target, (o.sshArg as string[] | undefined) ?? [], hostKey, (line) =>
      process.stderr.write(`capacity: ${line}\n`),
    );
    const target = { ...given, sshArgs: pin.sshArgs };
    return pin
      .verify()
      .catch((e: unknown) => {
        throw e instanceof HostKeyMismatchError ? new NeedsHumanError(e.message) : e;
      })
      .then(() => collectLive({ ...target, tier, ...overrides }, dropletScript("collect.sh"), spawnRunner))
      .finally(pin.cleanup);
  }
  const samples = await fetchDropletSamples({
    token: process.env.DIGITALOCEAN_TOKEN ?? "",
    dropletId: String(o.dropletId ?? ""),
    days: o.days as number,
    fetch: (url, init) => fetch(url, init),
    log: (line) => process.stderr.write(`capacity: ${line}\n`),
  });
  return parseCapacityInput({ tier, samples, ...overrides });
}

/** The files written at the end, checked before collecting anything. */
function checkOutputs(o: Record<string, unknown>): void {
  if (o.chart !== undefined) {
    const chart = o.chart as string;
    if (!/\.(svg|png)$/i.test(chart)) throw new UsageError(`--chart ${chart}: must end in .svg or .png`);
    checkOutputFile("--chart", chart);
  }
  if (o.saveMetrics !== undefined) checkOutputFile("--save-metrics", o.saveMetrics as string);
  if (o.chart !== undefined && o.saveMetrics !== undefined)
    checkSeparateOutputs([
      { flag: "--save-metrics", path: o.saveMetrics as string },
      { flag: "--chart", path: o.chart as string },
    ]);
}

void runCli<Record<string, unknown>>(program, {
  help: {
    no: "--check and the verdict asks for action (upgrade-now or plan-upgrade), or a rule is pending (its threshold exceeded, its window not full yet, as on a droplet fresh from a migration): not all clear is the check's answer, not a failure to run it, so 1 and not 3; the report is printed first, the JSON says `clear: false` and stderr names the pending rule",
    usage:
      "a metrics file that cannot be read or is invalid (every bad sample named), no token or a bad droplet id for --days, a --chart or --save-metrics path that cannot be written (or both the same), a flag the chosen source would ignore (--tier with --metrics, whose file gives it)",
    human:
      "the metrics could not be collected (ssh to --host failed, the droplet offered another host key than --host-key, the monitoring API kept failing)",
    examples: [
      "npm run capacity -- --metrics metrics.json --check",
      "npm run capacity -- --host root@203.0.113.10 --tier 4gb --json",
      "DIGITALOCEAN_TOKEN=... npm run capacity -- --days 7 --tier 4gb --droplet-id 123456789 --check",
    ],
  },
  // Reading the metrics from a droplet or the API can fail half way for reasons a person must look at.
  otherErrors: "human",
  classify: (e) => (e instanceof MetricsError || e instanceof MonitoringRequestError ? EXIT.usage : undefined),
  main: async (o, cmd) => {
    checkOutputs(o);
    const input = await loadInput(o, cmd);
    if (o.saveMetrics) {
      const { samples, ...rest } = input;
      writeOutputFile(
        o.saveMetrics as string,
        `${JSON.stringify({ ...rest, samples: samples.map(({ t: _t, ...s }) => s) }, null, 2)}\n`,
      );
    }
    const report = buildReport(input);
    console.log(o.json ? JSON.stringify(reportJson(report), null, 2) : renderHuman(report));
    if (o.chart) {
      const out = await renderChart(
        buildChartSpec(input.samples, `Capacity of the ${input.tier} droplet, verdict: ${report.verdict}`),
        o.chart as string,
      );
      writeOutputFile(o.chart as string, out);
      if (!o.json) console.log(`\nChart written to ${o.chart as string}`);
    }
    const failure = checkFailure(report);
    if (o.check && failure) {
      process.stderr.write(`capacity: --check: ${failure}\n`);
      return EXIT.no;
    }
    return EXIT.done;
  },
});
