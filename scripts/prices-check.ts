/**
 * npm run prices:check -- [--response <sizes.json>] [--json]
 *
 * Compares infra/pricing.ts (droplet prices) and infra/tiers.ts (vCPUs, memory, disk) with DigitalOcean's
 * `GET /v2/sizes`: live with DIGITALOCEAN_TOKEN, or a saved answer with --response. Prints what changed.
 * Exit codes: see --help (scripts/cli-exit.ts).
 */
import { Command } from "commander";
import {
  compareWithSizes,
  fetchSizes,
  parseSizesResponse,
  renderPriceCheck,
  SizesResponseError,
} from "../infra/prices-check";
import { EXIT, readInputFile, runCli, UsageError } from "./cli-exit";

interface Options {
  response?: string;
  json?: boolean;
}

const program = new Command("prices:check")
  .description("Compare infra/pricing.ts and the tier catalog with DigitalOcean's /v2/sizes")
  .option("--response <file>", "a saved answer of GET /v2/sizes?per_page=200 instead of the live API")
  .option("--json", "print the differences as JSON");

void runCli<Options>(program, {
  help: {
    no: "a droplet price, a tier's vCPUs, memory or disk differs from DigitalOcean's, or a size we use is gone or unavailable",
    usage:
      "neither --response nor DIGITALOCEAN_TOKEN, a --response file that cannot be read or is not a /v2/sizes answer",
    human: "the API kept failing (after its retries)",
    examples: [
      "npm run prices:check -- --response tests/fixtures/digitalocean-sizes/sizes.json",
      "DIGITALOCEAN_TOKEN=... npm run prices:check",
      "curl -sH \"Authorization: Bearer $DIGITALOCEAN_TOKEN\" 'https://api.digitalocean.com/v2/sizes?per_page=200' > sizes.json && npm run prices:check -- --response sizes.json --json",
    ],
  },
  otherErrors: "human",
  classify: (e) => (e instanceof SizesResponseError ? EXIT.usage : undefined),
  main: async (o) => {
    let sizes: ReturnType<typeof parseSizesResponse>;
    let source: string;
    if (o.response !== undefined) {
      const file = o.response;
      sizes = parseSizesResponse(readInputFile("--response", file), file);
      source = `the /v2/sizes answer in ${file}`;
    } else {
      const token = process.env.DIGITALOCEAN_TOKEN ?? "";
      if (!token) throw new UsageError("give --response <file>, or set DIGITALOCEAN_TOKEN to read the live /v2/sizes");
      sizes = await fetchSizes({
        token,
        fetch: (url, init) => fetch(url, init),
        log: (line) => process.stderr.write(`prices:check: ${line}\n`),
      });
      source = `DigitalOcean's live /v2/sizes (${new Date().toISOString().slice(0, 10)})`;
    }
    const diffs = compareWithSizes(sizes);
    process.stdout.write(
      o.json ? `${JSON.stringify({ source, differences: diffs }, null, 2)}\n` : renderPriceCheck(diffs, source),
    );
    return diffs.length ? EXIT.no : EXIT.done;
  },
});
