/**
 * `node --import tsx scripts/drift.ts`: the daily drift check's verdict (.github/workflows/drift.yml) on a
 * `pulumi preview --refresh --json` of a deployed stack and its `pulumi stack output --json`. The drop of a migration's
 * rollback target after `rollbackUntil` is expected and said so; any other change is drift (exit 1).
 *
 *   node --import tsx scripts/drift.ts --stack prod --preview preview.json --outputs outputs.json
 *
 * Thin: reads the files; the verdict is infra/drift.ts.
 */
import { Command } from "commander";
import { classifyDrift, type DriftOutputs, renderDrift } from "../infra/drift";
import { parsePulumiJson } from "../infra/pulumi-json";
import { EXIT, readInputFile, runCli, UsageError } from "./cli-exit";

interface Options {
  stack: string;
  preview: string;
  outputs: string;
  json?: boolean;
}

function readOutputs(file: string): DriftOutputs {
  const text = readInputFile("--outputs", file);
  let outputs: unknown;
  try {
    outputs = JSON.parse(text);
  } catch {
    throw new UsageError(`--outputs ${file}: not JSON`);
  }
  if (typeof outputs !== "object" || outputs === null || Array.isArray(outputs))
    throw new UsageError(`--outputs ${file}: expected the object \`pulumi stack output --json\` prints`);
  return outputs as DriftOutputs;
}

const program = new Command("drift")
  .description("Tell drift from the expected drop of a rollback target in a deployed stack's refreshed preview")
  .requiredOption("--stack <name>", "the stack previewed (named in the report)")
  .requiredOption("--preview <file>", "output of `pulumi preview --refresh --json` for the stack")
  .requiredOption("--outputs <file>", "output of `pulumi stack output --json` for the stack")
  .option("--json", "print the verdict as JSON instead of markdown");

void runCli<Options>(program, {
  help: {
    no: "the preview shows drift: a change that is not the expected drop of a rollback target (the report is printed first)",
    usage: "a file that cannot be read or is not the JSON the option expects",
    examples: [
      "pulumi preview --stack prod --refresh --json > preview.json; pulumi stack output --stack prod --json > outputs.json",
      "node --import tsx scripts/drift.ts --stack prod --preview preview.json --outputs outputs.json",
    ],
  },
  otherErrors: "usage",
  main: (opts) => {
    const preview = parsePulumiJson(readInputFile("--preview", opts.preview), `--preview ${opts.preview}`);
    if (preview.kind !== "preview" && preview.kind !== "events")
      throw new UsageError(
        `--preview ${opts.preview}: this is ${preview.kind === "export" ? "an export" : `a ${preview.kind}`}, expected a preview`,
      );
    const verdict = classifyDrift(preview, readOutputs(opts.outputs), new Date());
    process.stdout.write(opts.json ? `${JSON.stringify(verdict, null, 2)}\n` : renderDrift(opts.stack, verdict));
    return verdict.drift.length ? EXIT.no : EXIT.done;
  },
});
