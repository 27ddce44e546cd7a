/**
 * npm run -s readme-tables [-- --write]: prints the README's generated tables (config reference, tuning per tier),
 * or rewrites them in README.md between their `<!-- name:start -->` / `<!-- name:end -->` markers.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { renderConfigReference, renderTuningTable, replaceGenerated } from "../infra/offline/readme-tables";
import { readProjectFile } from "../infra/offline/stack-files";

const root = resolve(__dirname, "..");
const tables = {
  "config-reference": renderConfigReference(readProjectFile(root)),
  "tuning-table": renderTuningTable(),
};
if (process.argv.includes("--write")) {
  const readme = resolve(root, "README.md");
  writeFileSync(readme, replaceGenerated(readFileSync(readme, "utf8"), tables));
} else {
  process.stdout.write(Object.values(tables).join("\n"));
}
