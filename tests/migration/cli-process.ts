/**
 * `npm run migrate` as a real process against the harness's droplets: the arguments that reach them (the docker
 * shim on PATH), and a handle that watches the output (to act at a given step: never a fixed sleep) and sends
 * signals. The process is `node --import tsx scripts/migrate.ts`, as the stack runs it: one process, so a signal
 * reaches the CLI.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { type MigrationResult, parseMigrationResult } from "../../infra/migration/result-line";
import { type HarnessDroplet, migrationFiles, waitFor } from "./harness";

const ROOT = path.resolve(__dirname, "../..");
const CLI = path.join(ROOT, "scripts/migrate.ts");

/** The harness sshd's own host key, `ssh-ed25519 <base64>` (the second and third fields of its known_hosts line). */
export function hostKeyOf(d: HarnessDroplet): string {
  return fs.readFileSync(d.ssh.knownHostsFile, "utf8").trim().split(/\s+/).slice(1, 3).join(" ");
}

/**
 * --from/--to and everything the harness droplets need (the docker shim's settings), for a migration from `old` to
 * `next`. Both droplets' host keys are pinned, as the stack pins those of the servers it creates (`pinned: false`:
 * neither, as for older servers).
 */
export function cliArgs(old: HarnessDroplet, next: HarnessDroplet, opts: { pinned?: boolean } = {}): string[] {
  const target = (d: HarnessDroplet) => `${d.ssh.target}:${d.ssh.port}`;
  const envArgs = (flag: string, d: HarnessDroplet) =>
    Object.entries(d.droplet.env ?? {}).map(([k, v]) => `${flag}=${k}=${v}`);
  const pins = opts.pinned === false ? [] : ["--from-host-key", hostKeyOf(old), "--to-host-key", hostKeyOf(next)];
  return [
    "--from",
    target(old),
    "--to",
    target(next),
    ...pins,
    `--ssh-option=-oIdentityFile=${old.ssh.keyFile}`,
    `--ssh-option=-oIdentityFile=${next.ssh.keyFile}`,
    `--ssh-option=-oUserKnownHostsFile=${old.ssh.knownHostsFile} ${next.ssh.knownHostsFile}`,
    "--ssh-option=-oBatchMode=yes",
    "--ssh-option=-oIdentitiesOnly=yes",
    ...envArgs("--from-env", old),
    ...envArgs("--to-env", next),
    "--skip-backup",
    "--from-ports",
    `${old.pg.port},${old.redis.port}`,
    "--to-ports",
    `${next.pg.port},${next.redis.port}`,
  ];
}

export interface CliExit {
  code: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The result line, when the last stdout line is one. */
  result?: MigrationResult;
  lastLine: string;
}

export interface CliProcess {
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when stdout matches; rejects when the process exits first, or after `timeoutMs`. */
  waitForOutput(pattern: RegExp, timeoutMs?: number): Promise<void>;
  kill(signal: NodeJS.Signals): void;
  exited: Promise<CliExit>;
}

const running = new Set<ChildProcess>();

/** Kill every CLI process a test left running (afterEach), by its own pid. */
export function killLeftoverClis(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  running.clear();
}

/** `script`: another of the project's commands (scripts/scale-out-migrate.ts). */
export function startCli(args: string[], timeoutMs = 300_000, script = CLI): CliProcess {
  const child = spawn(process.execPath, ["--import", "tsx", script, ...args], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
  });
  running.add(child);
  let stdout = "";
  let stderr = "";
  const watchers = new Set<() => void>();
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    stdout += d;
    for (const w of watchers) w();
  });
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const exited = new Promise<CliExit>((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      running.delete(child);
      for (const w of watchers) w();
      const lastLine = stdout.trimEnd().split("\n").at(-1) ?? "";
      resolve({ code: code ?? 128, signal, stdout, stderr, lastLine, result: parseMigrationResult(lastLine) });
    });
  });
  return {
    pid: child.pid ?? -1,
    stdout: () => stdout,
    stderr: () => stderr,
    kill: (signal) => child.kill(signal),
    exited,
    waitForOutput: (pattern, waitMs = 240_000) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (pattern.test(stdout)) return finish(resolve);
          if (child.exitCode !== null || child.signalCode !== null) {
            finish(() =>
              reject(
                new Error(
                  `the CLI exited (${child.exitCode ?? child.signalCode}) before printing ${pattern}:\n${stdout}\n${stderr}`,
                ),
              ),
            );
          }
        };
        const deadline = setTimeout(
          () => finish(() => reject(new Error(`no ${pattern} in the CLI output after ${waitMs} ms:\n${stdout}`))),
          waitMs,
        );
        const finish = (then: () => void) => {
          clearTimeout(deadline);
          watchers.delete(check);
          then();
        };
        watchers.add(check);
        check();
      }),
  };
}

/**
 * Resolves once the CLI's copy is under way on the new droplet: the standby step started, its replica marker is down
 * and its PostgreSQL stopped (a signal sent now lands in the middle of the copy).
 */
export async function copyUnderWay(cli: CliProcess, next: HarnessDroplet): Promise<void> {
  await cli.waitForOutput(/^ {3}standby \(new\)$/m);
  await waitFor(
    "the copy to start",
    async () =>
      migrationFiles(next).includes("replica-of") && !fs.existsSync(path.join(next.pg.dataDir, "postmaster.pid")),
    60_000,
  );
}

export function runCli(args: string[], timeoutMs?: number, script?: string): Promise<CliExit> {
  return startCli(args, timeoutMs, script).exited;
}
