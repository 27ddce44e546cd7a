/**
 * npm run plan -- --stack <name> [--json] [--out <dir>]
 * Runs the real Pulumi program offline (under mocks) for Pulumi.<name>.yaml: no Pulumi CLI, no credentials.
 */
import { Command } from "commander";
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { ConfigError, parseConfig } from "../infra/config";
import { buildPlanDocument, planArtifacts, renderPlanText } from "../infra/offline/plan-report";
import { runOffline } from "../infra/offline/run";
import { rawConfigOf, readStackFiles } from "../infra/offline/stack-files";
import { planStack } from "../infra/plan";
import program = require("../infra/index");

const ROOT = resolve(__dirname, "..");

async function main(): Promise<number> {
  const opts = new Command()
    .name("plan")
    .description("Show what `pulumi up` would build for a stack, offline")
    .requiredOption("--stack <name>", "stack name (reads Pulumi.<name>.yaml)")
    .option("--json", "print one JSON document on stdout")
    .option("--out <dir>", "write the rendered artifacts (user data, compose, postgresql.conf, redis.conf, Caddyfile)")
    .option("--project-dir <dir>", "directory holding Pulumi.yaml and the stack files", ROOT)
    .parse()
    .opts<{ stack: string; json?: boolean; out?: string; projectDir: string }>();

  const files = readStackFiles(opts.projectDir, opts.stack);
  let plan;
  try {
    plan = planStack(parseConfig(rawConfigOf(files), { project: files.project, stack: opts.stack }));
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(e.message + "\n");
      return 2;
    }
    throw e;
  }
  const run = await runOffline({ projectDir: opts.projectDir, stack: opts.stack, program });
  const doc = buildPlanDocument(run, plan);
  const artifacts = planArtifacts(run, plan);
  if (opts.out) {
    mkdirSync(opts.out, { recursive: true });
    for (const a of artifacts) writeFileSync(join(opts.out, a.file), a.content);
  }
  process.stdout.write(opts.json ? JSON.stringify(doc, null, 2) + "\n" : renderPlanText(doc, plan));
  if (opts.out && !opts.json) process.stdout.write(`\nWrote ${artifacts.map((a) => a.file).join(", ")} to ${opts.out}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`plan: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
