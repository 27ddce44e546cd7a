/**
 * The cli-sigkill fault: the real migrate CLI (a child process, ../migration/cli-process.ts) killed with SIGKILL
 * while a step runs, so no handler runs and the locks stay held. The moment is a condition, never a sleep: the CLI
 * printed the step's line for the nth time, then the step's `bash -s -- <words>` shows up under the droplet's sshd
 * (or, when the step ended before it was seen, the kill lands just after it).
 */
import * as fs from "node:fs";
import { MIGRATION_STEPS } from "../../infra/migration/commands";
import { type CliExit, type CliProcess, startCli } from "../migration/cli-process";
import type { HarnessDroplet } from "../migration/harness";
import { sleep } from "../support/processes";
import { type CutLanding, processesUnder } from "./inject";
import type { StepAddress } from "./matrix";

/** The step's remote shell runs on the droplet: `bash -s -- <its words> ...` below the droplet's sshd. */
function stepRunsOn(d: HarnessDroplet, at: StepAddress): boolean {
  const words = MIGRATION_STEPS[at.step].words;
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

const escaped = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

export interface Killed {
  exit: CliExit;
  /** Where the kill landed; undefined: the CLI never reached the step (it ended first). */
  landed?: CutLanding;
}

/** Starts the CLI with `args`, kills it with SIGKILL in the nth run of the step, and waits for it to be gone. */
export async function killCliAt(args: string[], at: StepAddress, droplet: HarnessDroplet): Promise<Killed> {
  const cli: CliProcess = startCli(args);
  const line = new RegExp(`^ {3}${escaped(at.step)} \\(${at.side}\\)$`, "gm");
  const printed = () => cli.stdout().match(line)?.length ?? 0;
  const alive = () => cli.pid > 0 && !exited;
  let exited = false;
  void cli.exited.then(() => {
    exited = true;
  });
  while (alive() && printed() < at.nth) await sleep(5);
  if (!alive()) return { exit: await cli.exited };
  const after = cli.stdout().length;
  // The step ended once the CLI prints anything more (its next step) or exits.
  while (alive() && cli.stdout().length === after && !stepRunsOn(droplet, at)) await sleep(5);
  if (!alive()) return { exit: await cli.exited };
  const landed: CutLanding = cli.stdout().length === after ? "mid-step" : "after-end";
  cli.kill("SIGKILL");
  return { exit: await cli.exited, landed };
}
