/**
 * `npm run cost`: the monthly cost of a stack, or of a change, from Pulumi's JSON or from two offline plans.
 *
 *   npm run cost -- --preview preview.json [--markdown|--json] [--fail-above 50] [--fail-above-transient 20]
 *   npm run cost -- --base main-dev.json --head pr-dev.json [--base main-prod.json --head pr-prod.json] --markdown
 *   npm run cost -- --stack-export dev-export.json
 *   npm run cost -- --per-user [--backups weekly]
 *
 * Thin: reads the files, then everything happens in infra/cost/ and infra/pulumi-json.ts.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import {
  buildCostReport,
  costPerUser,
  exceedsLimit,
  exceedsTransientLimit,
  formatUsd,
  renderJson,
  renderMarkdown,
  renderPerUser,
  renderText,
  type BackupChoice,
} from "../infra/cost";
import { parsePulumiJson, type ParsedExport, type ParsedPlan, type ParsedPreview } from "../infra/pulumi-json";
import { EXIT, type ExitCode, readInputFile, refuseIgnoredOptions, runCli, UsageError } from "./cli-exit";

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function parseUsd(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError(`"${value}" is not an amount in USD (a number, 0 or more)`);
  }
  return n;
}

function load(option: string, file: string) {
  return parsePulumiJson(readInputFile(option, file), `${option} ${file}`);
}

function expect<K extends "plan" | "export" | "preview">(
  option: string,
  files: string[],
  kinds: readonly string[],
): (K extends "plan" ? ParsedPlan : K extends "export" ? ParsedExport : ParsedPreview)[] {
  return files.map((file) => {
    const parsed = load(option, file);
    if (!kinds.includes(parsed.kind)) {
      throw new Error(
        `${option} ${file}: this is ${parsed.kind === "export" ? "an export" : `a ${parsed.kind}`}, expected ${kinds.join(" or ")}`,
      );
    }
    return parsed as never;
  });
}

interface Options {
  preview?: string[];
  base?: string[];
  head?: string[];
  stackExport?: string[];
  json?: boolean;
  markdown?: boolean;
  failAbove?: number;
  failAboveTransient?: number;
  perUser?: boolean;
  backups: BackupChoice;
}

const program = new Command("cost")
  .description("Monthly DigitalOcean cost of a stack or of a change")
  .option(
    "--preview <file>",
    "output of `pulumi preview --json` or the event stream of `pulumi up --json` (repeatable)",
    collect,
  )
  .option("--base <plan.json>", "offline plan of the base commit (repeatable, paired with --head by stack)", collect)
  .option("--head <plan.json>", "offline plan of the head commit (repeatable)", collect)
  .option("--stack-export <file>", "output of `pulumi stack export`: the deployed stack (repeatable)", collect)
  .option("--json", "print JSON")
  .option("--markdown", "print a pull-request comment")
  .option(
    "--fail-above <usd>",
    "exit 1 when the steady-state monthly increase (after any migration window) is above this many USD",
    parseUsd,
  )
  .option(
    "--fail-above-transient <usd>",
    "exit 1 when the one-off cost of a migration's overlap (the old server kept for its window) is above this many USD",
    parseUsd,
  )
  .option("--per-user", "print the monthly cost per user for 100, 1,000, 3,000 and 5,000 users on every tier")
  .addOption(
    new Option("--backups <plan>", "droplet backups for --per-user")
      .choices(["none", "weekly", "daily"])
      .default("none"),
  );

void runCli<Options>(program, {
  help: {
    no: "--fail-above <usd> and the steady-state monthly increase is above it, or --fail-above-transient <usd> and the overlap's one-off cost is (the report is printed first)",
    usage:
      "a file that cannot be read or is not the kind of Pulumi JSON the option expects, nothing to price, a flag the mode would ignore (--per-user with a stack's flags, --backups without --per-user)",
    examples: [
      "npm run cost -- --base main-dev.json --head pr-dev.json --markdown --fail-above 50",
      "npm run cost -- --preview preview.json --json",
      "npm run cost -- --stack-export dev-export.json",
      "npm run cost -- --per-user --backups weekly",
    ],
  },
  // Everything cost throws is about its inputs: it reads files and prints, nothing else.
  otherErrors: "usage",
  main: (opts, cmd) => {
    if (opts.json && opts.markdown) throw new UsageError("--json and --markdown: choose one");
    if (opts.perUser)
      refuseIgnoredOptions(
        cmd,
        ["perUser", "backups", "json"],
        "with --per-user (it prices every tier, not a stack or a change)",
      );
    else if (cmd.getOptionValueSource("backups") === "cli")
      throw new UsageError("--backups is for --per-user; a stack's backups come from its config (chatbot:backups)");
    if (opts.perUser) {
      const rows = costPerUser({ backups: opts.backups });
      process.stdout.write(opts.json ? `${JSON.stringify(rows, null, 2)}\n` : renderPerUser(rows, opts.backups));
      return EXIT.done;
    }
    if (opts.base?.length && !opts.head?.length) throw new UsageError("--base needs --head (the plan to compare with)");
    const report = buildCostReport({
      bases: expect<"plan">("--base", opts.base ?? [], ["plan"]),
      heads: expect<"plan">("--head", opts.head ?? [], ["plan"]),
      previews: expect<"preview">("--preview", opts.preview ?? [], ["preview", "events"]),
      exports: expect<"export">("--stack-export", opts.stackExport ?? [], ["export"]),
    });
    if (opts.json) process.stdout.write(`${JSON.stringify(renderJson(report), null, 2)}\n`);
    else if (opts.markdown) process.stdout.write(renderMarkdown(report));
    else process.stdout.write(renderText(report));
    let verdict: ExitCode = EXIT.done;
    if (opts.failAbove !== undefined && exceedsLimit(report, opts.failAbove)) {
      process.stderr.write(
        `cost: the steady-state monthly increase ${formatUsd(report.diff)} is above --fail-above ${formatUsd(opts.failAbove)}\n`,
      );
      verdict = EXIT.no;
    }
    if (opts.failAboveTransient !== undefined && exceedsTransientLimit(report, opts.failAboveTransient)) {
      process.stderr.write(
        `cost: the overlap's one-off cost ${formatUsd(report.transient)} is above --fail-above-transient ${formatUsd(opts.failAboveTransient)}\n`,
      );
      verdict = EXIT.no;
    }
    return verdict;
  },
});
