/**
 * GitHub workflows as the tests read them: GitHub's own parser (@actions/workflow-parser: schema, expressions, context
 * availability), the YAML as data, and shellcheck over every `run:` script.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";

export const ROOT = join(__dirname, "../..");
const TSX = join(ROOT, "node_modules/.bin/tsx");

/**
 * The parser ships JSON imported without an import attribute, which Node's ESM loader (and so vitest's external
 * loader) rejects; tsx loads it. So the validator runs in a tsx subprocess: the workflow on stdin, errors as JSON.
 */
const VALIDATOR = `
import { parseWorkflow, convertWorkflowTemplate, NoOperationTraceWriter } from "@actions/workflow-parser";
import { readFileSync } from "node:fs";
const parsed = parseWorkflow({ name: "workflow.yml", content: readFileSync(0, "utf8") }, new NoOperationTraceWriter());
let errors = parsed.context.errors.getErrors().map((e) => e.message);
if (!errors.length && parsed.value) {
  const template = await convertWorkflowTemplate(parsed.context, parsed.value);
  errors = (template.errors ?? []).map((e) => String(e.Message ?? e));
}
process.stdout.write(JSON.stringify(errors));
`;

/** The parser's errors for a workflow's text (none: GitHub would accept it). */
export function validateWorkflow(content: string): string[] {
  const r = spawnSync(TSX, ["--input-type=module", "--eval", VALIDATOR], {
    cwd: ROOT,
    input: content,
    encoding: "utf8",
  });
  if (r.status !== 0) throw new Error(`validator failed to run: ${r.stderr}`);
  return JSON.parse(r.stdout) as string[];
}

export interface Step {
  name?: string;
  id?: string;
  uses?: string;
  run?: string;
  if?: string;
  "continue-on-error"?: boolean;
  env?: Record<string, string>;
  with?: Record<string, unknown>;
}

export interface Job {
  name?: string;
  needs?: string | string[];
  environment?: string;
  container?: string;
  strategy?: { matrix?: Record<string, unknown> };
  env?: Record<string, string>;
  steps: Step[];
}

export interface Workflow {
  on: Record<string, unknown>;
  permissions: Record<string, string>;
  jobs: Record<string, Job>;
}

export function readWorkflow(file: string): { content: string; workflow: Workflow; steps: Step[] } {
  const content = readFileSync(join(ROOT, ".github/workflows", file), "utf8");
  const workflow = parseYaml(content) as Workflow;
  return { content, workflow, steps: Object.values(workflow.jobs).flatMap((j) => j.steps) };
}

/** shellcheck's complaints per `run:` step (bash), empty when every script passes. */
export function shellcheckSteps(steps: readonly Step[]): string[] {
  const dir = mkdtempSync(join(tmpdir(), "workflow-sh-"));
  try {
    return steps
      .filter((s) => s.run)
      .flatMap((s, i) => {
        const file = join(dir, `step-${i}.sh`);
        writeFileSync(file, `#!/usr/bin/env bash\n${s.run}`);
        const r = spawnSync("shellcheck", ["--shell=bash", file], { encoding: "utf8" });
        return r.status === 0 ? [] : [`${s.name}:\n${r.stdout}${r.stderr}`];
      });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** An action reference pinned to a full commit SHA, with its release tag in a comment on the same line. */
export const PINNED = /^[\w.-]+\/[\w.-]+@[0-9a-f]{40}$/;
