/**
 * The one executor of droplet commands (the tier migration's steps, the scale-out's, the capacity collector's): runs
 * the command's ssh argv with the script (then the step's data, if any) on stdin, streams stderr to a callback
 * (progress), and returns the exit code and output. Every connection gets CONNECT_OPTIONS; an ssh that exits 255
 * with no output is reported naming the host that did not answer. An abort signal ends the local ssh process (the
 * step then answers code 130); the runner decides what that means for the droplet, and which steps to run again.
 */
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { StepCommand } from "./commands";
import { scriptStdin } from "./remote-bash";
import type { StepHooks, StepResult } from "./run-api";
import { CONNECT_OPTIONS } from "./ssh-options";
import type { AnySpec } from "./steps";

/** What the executor runs: an ssh argv, and the script for its stdin (its files, in order, or its text). */
export type RemoteCommand = Pick<StepCommand<AnySpec, string>, "step" | "argv" | "stdinData"> &
  ({ stdinFiles: readonly string[] } | { stdinFiles?: undefined; stdinText: string });

/** Runs any droplet command: only its argv and stdin matter here. */
export interface SshExecutor {
  (cmd: RemoteCommand, hooks?: StepHooks): Promise<StepResult>;
  /** Close the multiplexed ssh connections (no ssh master process outlives the run). */
  close(): void;
}

/**
 * Options ssh needs to reuse one connection per droplet (ControlMaster): a step then costs a channel, not a
 * handshake, which keeps the cutover's several steps short. The socket dir is private to this run.
 */
export function multiplexOptions(controlDir: string): string[] {
  return ["-o", "ControlMaster=auto", "-o", `ControlPath=${path.join(controlDir, "%C")}`, "-o", "ControlPersist=300"];
}

/** A connection of the step's own: no master is used or left behind. */
const OWN_CONNECTION = ["-o", "ControlMaster=no", "-o", "ControlPath=none"];

export function sshExecutor(
  options: { timeoutMs?: number; log?: (line: string) => void; multiplex?: boolean } = {},
): SshExecutor {
  const controlDir = options.multiplex === false ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), "chatbot-ssh-"));
  const masters = new Map<string, string[]>();
  const exec = (cmd: RemoteCommand, hooks?: StepHooks) =>
    new Promise<StepResult>((resolve, reject) => {
      let argv = cmd.argv;
      const host = argv.at(-2) ?? "?";
      if (argv[0] === "ssh") {
        // After the caller's options (ssh keeps the first value of an option), before the destination.
        const mux = controlDir && !hooks?.fresh ? multiplexOptions(controlDir) : OWN_CONNECTION;
        argv = [...argv.slice(0, -2), ...CONNECT_OPTIONS, ...mux, ...argv.slice(-2)];
        // ssh -O exit needs the same options and destination: the argv without the remote command.
        if (controlDir && !hooks?.fresh) masters.set(argv.slice(0, -1).join("\0"), argv.slice(1, -1));
      }
      const [bin, ...args] = argv;
      if (!bin) return reject(new Error(`empty command for step ${cmd.step}`));
      const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        stdout += d;
        hooks?.onStdout?.(d);
      });
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        hooks?.onStderr?.(d);
        if (options.log)
          for (const line of d.split(/[\r\n]+/)) if (line.trim() && !/ kB \(/.test(line)) options.log(line);
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30 * 60_000);
      const abort = () => child.kill("SIGTERM");
      if (hooks?.signal?.aborted) abort();
      hooks?.signal?.addEventListener("abort", abort, { once: true });
      const done = () => {
        clearTimeout(timer);
        hooks?.signal?.removeEventListener("abort", abort);
      };
      child.on("error", (e) => {
        done();
        reject(e);
      });
      child.on("close", (code) => {
        done();
        const status = hooks?.signal?.aborted ? 130 : (code ?? 1);
        if (status === 255 && argv[0] === "ssh" && stdout === "")
          stderr += `${stderr.endsWith("\n") || !stderr ? "" : "\n"}ssh: ${host} did not answer (exit 255: no connection, or it dropped)\n`;
        resolve({ code: status, stdout, stderr });
      });
      child.stdin.on("error", () => undefined);
      const script = scriptStdin(
        cmd.stdinFiles === undefined
          ? Buffer.from(cmd.stdinText)
          : Buffer.concat(cmd.stdinFiles.map((f) => fs.readFileSync(f))),
      );
      const head = cmd.stdinData === undefined ? script : Buffer.concat([script, Buffer.from(cmd.stdinData)]);
      if (!hooks?.stdinTail) return void child.stdin.end(head);
      child.stdin.write(head);
      hooks.stdinTail.then(
        (tail) => child.stdin.end(tail),
        () => child.stdin.end(),
      );
    });
  return Object.assign(exec, {
    close: () => {
      for (const args of masters.values())
        spawnSync("ssh", ["-O", "exit", ...args], { stdio: "ignore", timeout: 10_000 });
      masters.clear();
      if (controlDir) fs.rmSync(controlDir, { recursive: true, force: true });
    },
  });
}
