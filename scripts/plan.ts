/**
 * npm run plan -- --stack <name> [--state <export.json>] [--write-state <file>] [--json] [--out <dir>] [--now <time>]
 * Runs the real Pulumi program offline (under mocks) for Pulumi.<name>.yaml: no Pulumi CLI, no credentials.
 * With --state, against a deployed state: the operations `pulumi preview` would show, and a data-loss check.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";
import { z } from "zod";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseConfig } from "../infra/config";
import { DEPLOYED_OUTPUTS, DeployedStateError, readDeployed } from "../infra/deployed";
import { buildPlanDocument, planArtifacts, renderPlanText, stateAfterUp } from "../infra/offline/plan-report";
import { runOffline } from "../infra/offline/run";
import { checkStateIsFor, readStateFile, StateFileError } from "../infra/offline/state-file";
import { blockedByProtect, planOperations } from "../infra/offline/state-diff";
import { rawConfigOf, readStackFiles } from "../infra/offline/stack-files";
import { planStack } from "../infra/plan";
import program = require("../infra/index");
// The exit codes are the contract with CI (.github/workflows/cost.yml): 1 is "the check says no".
import {
  checkOutputDir,
  checkOutputFile,
  checkSeparateOutputs,
  EXIT,
  exitWhenFlushed,
  refuseRepeatedOptions,
  UsageError,
  writeOutputFile,
} from "./cli-exit";

const ROOT = resolve(__dirname, "..");

const HELP = `
Exit codes:
  0  done
  1  the data-loss check says no: with --state, an operation would lose data (a volume deleted or replaced,
     traffic sent to a server that received no data), or \`pulumi up\` would fail (a protected resource
     deleted or replaced); the resources are named on stderr, and --write-state is not written
  2  usage or config error, found before any work: unknown option, a single-valued option given twice, a bad
     --now, no such stack, a project or stack file that cannot be read or is not YAML, invalid config, a
     --state file that is not a \`pulumi stack export\` (deployment version 3) of this stack, an --out that
     is a file or a non-empty directory, a --write-state path that cannot be written or that is --out or
     inside it
  3  the program failed for another reason (a bug: the message says where)

Examples:
  npm run plan -- --stack dev
  npm run plan -- --stack prod --json --out /tmp/prod
  pulumi stack export --stack prod > prod.json && npm run plan -- --stack prod --state prod.json
  npm run plan -- --stack dev --write-state /tmp/dev-4gb.json       # the state a successful \`pulumi up\` leaves
  npm run plan -- --stack dev --state /tmp/dev-4gb.json --write-state /tmp/dev-next.json
  npm run plan -- --stack prod --state prod.json --now 2026-12-24T09:00:00Z   # after a retention window ends
`;

/** An ISO 8601 time with its zone (`Z` or an offset), as the stack's deployment record writes times. */
const isoTime = z.iso.datetime({ offset: true });

function parseNow(v: string): Date {
  if (!isoTime.safeParse(v).success)
    throw new InvalidArgumentError("Expected an ISO 8601 time with a zone, such as 2026-12-24T09:00:00Z.");
  return new Date(v);
}

interface Options {
  stack: string;
  json?: boolean;
  out?: string;
  state?: string;
  writeState?: string;
  now?: Date;
  projectDir: string;
}

function parseArgs(argv: string[]): Options {
  const cli = new Command()
    .name("plan")
    .description(
      "Show what `pulumi up` would build for a stack, offline; with --state, what `pulumi preview` would do to a deployed stack",
    )
    // Checked after parsing, so an unknown flag is named (with a suggestion) before a missing --stack.
    .option("--stack <name>", "stack name (reads Pulumi.<name>.yaml), required")
    .option("--json", "print one JSON document on stdout")
    .option("--out <dir>", "write the rendered artifacts (user data, compose, postgresql.conf, redis.conf, Caddyfile)")
    .option(
      "--state <file>",
      "plan against this deployed state: the output of `pulumi stack export` (deployment version 3)",
    )
    .option("--write-state <file>", "write the `pulumi stack export` a successful `pulumi up` of this plan would leave")
    .option(
      "--now <time>",
      "plan as at this ISO 8601 time (retention windows, drops of a rollback target), e.g. 2026-12-24T09:00:00Z",
      parseNow,
    )
    .option("--project-dir <dir>", "directory holding Pulumi.yaml and the stack files", ROOT)
    .addHelpText("after", HELP)
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  const checkRepeated = refuseRepeatedOptions(cli);
  cli.parse(argv);
  checkRepeated();
  const opts = cli.opts<Options>();
  if (opts.stack === undefined)
    cli.error("error: required option '--stack <name>' not specified", {
      code: "commander.missingMandatoryOptionValue",
    });
  return opts;
}

async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (e instanceof CommanderError)
      return e.code === "commander.helpDisplayed" || e.code === "commander.version" ? EXIT.done : EXIT.usage;
    throw e;
  }

  const files = (() => {
    try {
      return readStackFiles(opts.projectDir, opts.stack);
    } catch (e) {
      throw new UsageError((e as Error).message);
    }
  })();
  if (opts.out !== undefined) checkOutputDir("--out", opts.out);
  if (opts.writeState !== undefined) checkOutputFile("--write-state", opts.writeState);
  if (opts.out !== undefined && opts.writeState !== undefined)
    checkSeparateOutputs([
      { flag: "--out", path: opts.out, dir: true },
      { flag: "--write-state", path: opts.writeState },
    ]);
  const state = opts.state === undefined ? undefined : readStateFile(opts.state);
  if (state) checkStateIsFor(state, files.project, opts.stack);
  const now = opts.now ?? new Date();
  // The plan the program makes: from the config and what the state's outputs say is deployed (the program reads
  // them through its StackReference; the header and the artifacts need the same plan).
  const config = parseConfig(rawConfigOf(files), { project: files.project, stack: opts.stack });
  const deployedOutputs = Object.fromEntries(
    DEPLOYED_OUTPUTS.filter((k) => state?.stackOutputs[k] !== undefined).map((k) => [k, state!.stackOutputs[k]]),
  );
  const plan = planStack(config, readDeployed(deployedOutputs, `${files.project}-${opts.stack}`), now);

  const run = await runOffline({
    projectDir: opts.projectDir,
    stack: opts.stack,
    program,
    ...(state ? { state } : {}),
    now,
  });
  const doc = buildPlanDocument(run, plan);
  const artifacts = planArtifacts(run, plan);
  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    for (const a of artifacts) writeFileSync(join(opts.out, a.file), a.content);
  }
  // The time is shown only when asked for: a plan at the current time stays as it always printed.
  const shown = opts.now ? { ...doc, now: now.toISOString() } : doc;
  if (opts.json) process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
  else
    process.stdout.write(
      `${opts.now ? `Planned as at ${now.toISOString()} (--now)\n` : ""}${renderPlanText(doc, plan)}`,
    );
  if (opts.out && !opts.json)
    process.stdout.write(`\nWrote ${artifacts.map((a) => a.file).join(", ")} to ${opts.out}\n`);

  const loss = doc.dataLoss ?? [];
  for (const d of loss) process.stderr.write(`plan: data loss: ${d.type} ${d.name} (${d.op}): ${d.reason}\n`);
  const blocked = state ? blockedByProtect(planOperations(run.resources, state)) : [];
  for (const o of blocked)
    process.stderr.write(
      `plan: \`pulumi up\` would fail: ${o.type} ${o.name} is protected and this plan would ${o.op} it\n`,
    );
  if (opts.writeState) {
    if (loss.length || blocked.length) {
      const why = [loss.length ? "the plan would lose data" : "", blocked.length ? "`pulumi up` would fail" : ""];
      process.stderr.write(`plan: ${opts.writeState} not written: ${why.filter(Boolean).join(", and ")}\n`);
    } else {
      writeOutputFile(opts.writeState, `${JSON.stringify(stateAfterUp(run), null, 2)}\n`);
      if (!opts.json) process.stdout.write(`\nWrote the state after \`pulumi up\` to ${opts.writeState}\n`);
    }
  }
  return loss.length || blocked.length ? EXIT.no : EXIT.done;
}

function exitCodeOf(e: unknown): number {
  if (
    e instanceof UsageError ||
    e instanceof ConfigError ||
    e instanceof StateFileError ||
    e instanceof DeployedStateError
  )
    return EXIT.usage;
  // The program reports config and deployed-state problems as RunError (a user error, not a bug).
  if (pulumi.RunError.isInstance(e)) return EXIT.usage;
  return EXIT.human;
}

function fail(e: unknown): never {
  const code = exitCodeOf(e);
  if (e instanceof ConfigError)
    process.stderr.write(`${e.message}\n`); // one line per key, as always
  else
    process.stderr.write(
      `plan: ${code === EXIT.human && e instanceof Error && e.stack ? e.stack : e instanceof Error ? e.message : String(e)}\n`,
    );
  return exitWhenFlushed(code);
}

// An error thrown inside the program's `apply` callbacks surfaces as an unhandled rejection: Node's default would
// exit 1, which CI reads as "data loss".
process.on("unhandledRejection", fail);
process.on("uncaughtException", fail);
main(process.argv).then((code) => exitWhenFlushed(code), fail);
