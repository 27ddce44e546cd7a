/**
 * A command built on scripts/cli-exit.ts, for its tests: `fixture <outcome> [bytes] --target <t> [--tag <t> ...]
 * [--list <a,b>] [--verbose]`. It writes
 * `bytes` bytes to stdout in one write, then ends as `outcome` says. FIXTURE_OTHER_ERRORS=usage: a plain Error is a
 * usage error (the default: a human is needed).
 */
import { Command } from "commander";
import { collect, EXIT, NeedsHumanError, runCli, UsageError } from "../../scripts/cli-exit";

const program = new Command("fixture")
  .argument("<outcome>", "done | no | usage | human | error | bug | rejection")
  .argument("[bytes]", "bytes written to stdout first", "0")
  .requiredOption("--target <t>", "a required option")
  .option("--tag <t>", "repeatable", collect)
  .option("--list <a,b>", "one value, a list", (v: string) => v.split(","))
  .option("--verbose", "a switch");

void runCli<{ target: string }>(program, {
  help: { no: "the outcome is no", examples: ["fixture done --target x"] },
  otherErrors: process.env.FIXTURE_OTHER_ERRORS === "usage" ? "usage" : "human",
  main: async (_opts, cmd) => {
    const [outcome, bytes] = cmd.args as [string, string];
    process.stdout.write("x".repeat(Number(bytes)));
    switch (outcome) {
      case "done":
        return EXIT.done;
      case "no":
        return EXIT.no;
      case "usage":
        throw new UsageError("a usage error");
      case "human":
        throw new NeedsHumanError("rollback incomplete");
      case "error":
        throw new Error("a plain error");
      case "bug":
        throw new TypeError("undefined is not a function");
      case "rejection":
        void Promise.reject(new Error("nobody awaited this"));
        return new Promise<never>(() => undefined);
      default:
        throw new UsageError(`unknown outcome ${outcome}`);
    }
  },
});
