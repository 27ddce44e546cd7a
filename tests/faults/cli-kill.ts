/**
 * The cli-sigkill fault: the real migrate CLI (a child process, ../migration/cli-process.ts) killed with SIGKILL
 * while a step runs, so no handler runs and the locks stay held. The moment is a condition, never a sleep: the CLI
 * printed the step's line for the nth time, then the step's `bash -s -- <words>` shows up under the droplet's sshd
 * (or, when the step ended before it was seen, the kill lands just after it). The scale-out CLI
 * (scripts/scale-out-migrate.ts) is killed the same way: `CliSteps` says how each CLI shows a step.
 */
import * as fs from "node:fs";
import { MIGRATION_STEPS } from "../../infra/migration/commands";
import { type CliExit, type CliProcess, startCli } from "../migration/cli-process";
import type { HarnessDroplet } from "../migration/harness";
import { sleep } from "../support/processes";
import { type CutLanding, processesUnder } from "./inject";
import type { StepAddress } from "./matrix";

/** How a CLI shows the sweep a step: the line it prints as the step starts, and the step's words on the droplet. */
export interface CliSteps {
  /** The CLI's script. @default scripts/migrate.ts */
  script?: string;
  /** The stream the line is printed on. */
  stream: "stdout" | "stderr";
  /** Matches (globally) the line the CLI prints as it starts the step. */
  line(at: StepAddress): RegExp;
  words(at: StepAddress): readonly string[];
  /** A count that grows once the CLI goes past a step (it prints its next step's line, or anything more). */
  progress(output: string): number;
}

export const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** `migrate`: "   <step> (<side>)" on stdout. */
export const MIGRATE_CLI: CliSteps = {
  stream: "stdout",
  line: (at) => new RegExp(`^ {3}${escaped(at.step)} \\(${at.side}\\)$`, "gm"),
  words: (at) => MIGRATION_STEPS[at.step as keyof typeof MIGRATION_STEPS].words,
  progress: (output) => output.length,
};

/** The step's remote shell runs on the droplet: `bash -s -- <its words> ...` below the droplet's sshd. */
function stepRunsOn(d: HarnessDroplet, words: readonly string[]): boolean {
  return processesUnder(d).some((pid) => {
    try {
      const argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const dashes = argv.indexOf("--");
      return argv[0]?.endsWith("bash") && dashes > 0 && words.every((w, i) => argv[dashes + 1 + i] === w);
    } catch {
      return false;
    }
  });
}

export interface Killed {
  exit: CliExit;
  /** Where the kill landed; undefined: the CLI never reached the step (it ended first). */
  landed?: CutLanding;
}

/** Starts the CLI with `args`, kills it with SIGKILL in the nth run of the step, and waits for it to be gone. */
export async function killCliAt(
  args: string[],
  at: StepAddress,
  droplet: HarnessDroplet,
  how: CliSteps = MIGRATE_CLI,
): Promise<Killed> {
  const cli: CliProcess = startCli(args, undefined, how.script);
  const line = how.line(at);
  const words = how.words(at);
  const output = () => cli[how.stream]();
  const printed = () => output().match(line)?.length ?? 0;
  const alive = () => cli.pid > 0 && !exited;
  let exited = false;
  void cli.exited.then(() => {
    exited = true;
  });
  while (alive() && printed() < at.nth) await sleep(5);
  if (!alive()) return { exit: await cli.exited };
  const after = how.progress(output());
  // The step ended once the CLI goes past it (its next step) or exits.
  const ended = () => how.progress(output()) !== after;
  while (alive() && !ended() && !stepRunsOn(droplet, words)) await sleep(5);
  if (!alive()) return { exit: await cli.exited };
  const landed: CutLanding = ended() ? "after-end" : "mid-step";
  cli.kill("SIGKILL");
  return { exit: await cli.exited, landed };
}
