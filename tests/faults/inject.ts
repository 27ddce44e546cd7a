/**
 * The fault kinds that enter through the executor seam (the runner's only way to reach a droplet), each at the nth
 * call of a step on one side:
 *
 * - step-fails: the step runs for real, then answers 1 (../migration/seams.ts `failAfter`);
 * - ssh-cut: once the step's process runs on the droplet, the droplet's ssh connections are cut (their sshd
 *   processes killed, as a dropped link would end them); the runner sees ssh's 255. The step's remote process loses
 *   its connection, not its life, as on a droplet. A step that ended before its process was seen is answered 255
 *   too (the connection died as it answered): the run records where the cut landed.
 *
 * Each wraps any runner's executor (../migration/seams.ts `SeamExecutor`): they look at a command's step and side
 * only, so the scale-out's `LogicalExecutor` takes the same faults as the tier migration's `Executor`.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type HarnessDroplet, pgCtlAsync, waitFor } from "../migration/harness";
import { type Addressed, failAfter, type SeamExecutor } from "../migration/seams";
import { sleep } from "../support/processes";
import type { StepAddress } from "./matrix";

/** Where an ssh cut landed: in the middle of the step, or after it had ended; undefined: the step never ran. */
export type CutLanding = "mid-step" | "after-end";

export function stepFails<C extends Addressed>(exec: SeamExecutor<C>, at: StepAddress): SeamExecutor<C> {
  return failAfter(exec, { after: at.step, side: at.side, nth: at.nth });
}

export interface ProcInfo {
  pid: number;
  ppid: number;
  comm: string;
}

export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split at the last ")".
      const close = stat.lastIndexOf(")");
      const comm = stat.slice(stat.indexOf("(") + 1, close);
      const ppid = Number(stat.slice(close + 2).split(" ")[1]);
      out.push({ pid: Number(name), ppid, comm });
    } catch {
      // exited while we looked
    }
  }
  return out;
}

/** The processes below the droplet's listening sshd: its connections (sshd) and what runs in them. */
function sessionTree(d: HarnessDroplet): { connections: number[]; running: Set<number> } {
  const all = processes();
  const below = new Set(descendants(d.ssh.pid, all));
  const connections = all.filter((p) => p.ppid === d.ssh.pid).map((p) => p.pid);
  const running = new Set(all.filter((p) => below.has(p.pid) && !p.comm.startsWith("sshd")).map((p) => p.pid));
  return { connections, running };
}

function cutConnections(d: HarnessDroplet): void {
  for (const pid of sessionTree(d).connections) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Resolves once a process that was not in `before` runs under the droplet's sshd (the step started there), or
 * once `ended()` says the step is over (false then).
 */
export async function startedOnDroplet(d: HarnessDroplet, before: Set<number>, ended: () => boolean): Promise<boolean> {
  while (!ended()) {
    if ([...sessionTree(d).running].some((pid) => !before.has(pid))) return true;
    await sleep(5);
  }
  return false;
}

/** The pids of what runs under the droplet's sshd now (not sshd itself). */
export const processesUnder = (d: HarnessDroplet) => [...sessionTree(d).running];

/** The processes running under the droplet's sshd now (what a step started later is told apart from). */
export const runningUnder = (d: HarnessDroplet) => sessionTree(d).running;

export function sshCut<C extends Addressed>(
  exec: SeamExecutor<C>,
  at: StepAddress,
  droplet: HarnessDroplet,
  landed: (where: CutLanding) => void,
): SeamExecutor<C> {
  let seen = 0;
  return async (cmd, hooks) => {
    if (!(cmd.step === at.step && cmd.side === at.side && ++seen === at.nth)) return exec(cmd, hooks);
    const before = runningUnder(droplet);
    let ended = false;
    const answer = exec(cmd, hooks).finally(() => {
      ended = true;
    });
    if (await startedOnDroplet(droplet, before, () => ended)) {
      cutConnections(droplet);
      landed("mid-step");
      const result = await answer;
      return { ...result, code: 255 };
    }
    const result = await answer;
    cutConnections(droplet);
    landed("after-end");
    return {
      code: 255,
      stdout: result.stdout,
      stderr: `${result.stderr}\nfault injected: connection cut as it answered`,
    };
  };
}

/**
 * pg-kill-target: once the step runs on its droplet, the target's postmaster is killed with SIGKILL; when it is
 * gone, the harness starts it again with the same data directory and options, as Docker's restart policy would
 * restart a container whose main process died (the docker shim does not emulate restart policies, so this does),
 * once the killed processes are reaped.
 * A server the step itself had stopped is not running: there is nothing to kill (`killed` false).
 */
export function pgKillTarget<C extends Addressed>(
  exec: SeamExecutor<C>,
  at: StepAddress,
  stepDroplet: HarnessDroplet,
  target: HarnessDroplet,
  done: (what: { landed: CutLanding; killed: boolean; restarted: string }) => void,
): SeamExecutor<C> {
  return onceStepRuns(exec, at, stepDroplet, async (landed) => {
    const pid = postmasterPid(target);
    let restarted = "not running: nothing killed";
    if (pid !== undefined) {
      // The container's main process dies, and with it every process in the container (its PID namespace).
      // Gone, not only dead: this machine's init reaps orphans seconds late, and a new postmaster refuses to start
      // while the pid in postmaster.pid still exists, even as a zombie ("lock file already exists"). In a container
      // its init reaps at once, so Docker restarts only once the process is gone.
      await killAndReap([pid, ...descendants(pid)]);
      restarted = await pgCtlAsync(target, "start", "-l", target.pg.logFile, "-o", target.pg.ctlOptions).then(
        () => "restarted",
        (e: Error) =>
          `restart failed: ${e.message.split("\n").slice(0, 2).join(" | ")} | log: ${logTail(target.pg.logFile)}`,
      );
    }
    done({ landed, killed: pid !== undefined, restarted });
  });
}

/**
 * Runs `act` once the nth call of the step runs on its droplet (or, for a step too fast to be seen, just after it
 * ended); the step's own answer is passed on unchanged.
 */
export function onceStepRuns<C extends Addressed>(
  exec: SeamExecutor<C>,
  at: StepAddress,
  stepDroplet: HarnessDroplet,
  act: (landed: CutLanding) => Promise<void>,
): SeamExecutor<C> {
  let seen = 0;
  return async (cmd, hooks) => {
    if (!(cmd.step === at.step && cmd.side === at.side && ++seen === at.nth)) return exec(cmd, hooks);
    const before = runningUnder(stepDroplet);
    let ended = false;
    const answer = exec(cmd, hooks).finally(() => {
      ended = true;
    });
    await act((await startedOnDroplet(stepDroplet, before, () => ended)) ? "mid-step" : "after-end");
    return answer;
  };
}

/** SIGKILL to every process in `pids`, then waits until each is reaped (gone, not a zombie). */
export async function killAndReap(pids: readonly number[]): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, "SIGKILL");
    } catch {
      // it stopped on its own meanwhile
    }
  }
  await waitFor(`processes ${pids.join(",")} to be reaped`, async () => !pids.some(exists), 30_000);
}

/** A log's last lines (why a restart failed). */
export function logTail(file: string): string {
  try {
    return fs.readFileSync(file, "utf8").trim().split("\n").slice(-4).join(" | ");
  } catch {
    return "(no log)";
  }
}

/** Every process below `root` (not itself). */
export function descendants(root: number, all = processes()): number[] {
  const below = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all)
      if (!below.has(p.pid) && below.has(p.ppid)) {
        below.add(p.pid);
        grew = true;
      }
  }
  below.delete(root);
  return [...below];
}

/** The running postmaster's pid (first line of postmaster.pid), or undefined. */
export function postmasterPid(d: HarnessDroplet): number | undefined {
  try {
    const pid = Number(fs.readFileSync(path.join(d.pg.dataDir, "postmaster.pid"), "utf8").split("\n")[0]);
    return pid > 0 && alive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The process exists, running or as a zombie not yet reaped. */
function exists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !fs.readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");
  } catch {
    return false;
  }
}
