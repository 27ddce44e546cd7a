/**
 * The thin layer that executes step commands: runs the command's argv (ssh ...) with the script on stdin, streams
 * stderr to a callback (progress), and returns the exit code and output. No retries: a failed step is reported.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import type { StepCommand } from "./commands";
import type { Executor, StepResult } from "./runner";

export function sshExecutor(options: { timeoutMs?: number; log?: (line: string) => void } = {}): Executor {
  return (cmd: StepCommand, hooks) =>
    new Promise<StepResult>((resolve, reject) => {
      const [bin, ...args] = cmd.argv;
      if (!bin) return reject(new Error(`empty command for step ${cmd.step}`));
      const child = spawn(bin, args, { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
      child.stderr.setEncoding("utf8").on("data", (d: string) => {
        stderr += d;
        hooks?.onStderr?.(d);
        if (options.log) for (const line of d.split(/[\r\n]+/)) if (line.trim() && !/ kB \(/.test(line)) options.log(line);
      });
      const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30 * 60_000);
      child.on("error", (e) => {
        clearTimeout(timer);
        reject(e);
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code: code ?? 1, stdout, stderr });
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(fs.readFileSync(cmd.stdinFile));
    });
}
