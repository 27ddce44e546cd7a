/**
 * npm run -s readme-tables [-- --write]: prints the tables generated from the code (config reference, tuning per
 * tier), or rewrites them in docs/configuration.md between their `<!-- name:start -->` / `<!-- name:end -->` markers.
 * Exit codes: see --help (scripts/cli-exit.ts).
 */
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import { renderConfigReference, renderTuningTable, replaceGenerated } from "../infra/offline/readme-tables";
import { readProjectFile } from "../infra/offline/stack-files";
import { EXIT, readInputFile, runCli } from "./cli-exit";

const root = resolve(__dirname, "..");

const program = new Command("readme-tables")
  .description("Print the tables generated from the code (config reference, tuning per tier), or rewrite them in place")
  .option(
    "--write",
    "rewrite the tables in docs/configuration.md between their <!-- name:start --> / <!-- name:end --> markers",
  );

void runCli<{ write?: boolean }>(program, {
  help: {
    usage: "a docs/configuration.md that cannot be read, or that lacks a table's markers",
    examples: ["npm run -s readme-tables", "npm run -s readme-tables -- --write"],
  },
  otherErrors: "usage",
  main: (o) => {
    const tables = {
      "config-reference": renderConfigReference(readProjectFile(root)),
      "tuning-table": renderTuningTable(),
    };
    if (o.write) {
      const doc = resolve(root, "docs", "configuration.md");
      writeFileSync(doc, replaceGenerated(readInputFile("docs/configuration.md", doc), tables));
    } else {
      process.stdout.write(Object.values(tables).join("\n"));
    }
    return EXIT.done;
  },
});
