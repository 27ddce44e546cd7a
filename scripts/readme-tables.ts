/** npm run -s readme-tables: prints the README's generated tables (config reference, tuning per tier). */
import { resolve } from "node:path";
import { renderConfigReference, renderTuningTable } from "../infra/offline/readme-tables";
import { readProjectFile } from "../infra/offline/stack-files";

process.stdout.write(`${renderConfigReference(readProjectFile(resolve(__dirname, "..")))}\n${renderTuningTable()}`);
