/**
 * Live mode: collect the metrics of a droplet over ssh. The command line is data (tested exactly); running it goes
 * through an injectable runner, so the parsing and the verdict are the same code whatever executes the command.
 *
 * scripts/droplet/collect.sh is sent as standard input (`bash -s -- history <days>`): the droplet's timer history
 * plus one fresh full snapshot come back as raw tool output and are parsed here.
 */
import { remoteBashLine } from "../migration/remote-bash";
import { sshExecutor } from "../migration/ssh-executor";
import type { TierName } from "../tiers";
import type { CapacityInput, Evidence } from "./metrics";
import { parseCapacityInput } from "./metrics";
import { readCollectorOutput } from "./parsers";

export interface LiveTarget {
  /** ssh destination, e.g. root@203.0.113.10. */
  target: string;
  /** Extra ssh options (-p, -i, -o ...), placed before the target. */
  sshArgs?: string[];
  /** Environment for collect.sh on the droplet (never secrets: ps on either end shows it). */
  env?: Record<string, string>;
  /** Days of timer history to read back. @default 8 (the 7-day rule needs 7) */
  historyDays?: number;
}

export interface CommandLine {
  cmd: string;
  args: string[];
  /** Sent on standard input. */
  input: string;
}

/**
 * ssh to `target` and run `bash -s -- <args>` with `env` set, the script text on stdin (the one builder,
 * infra/migration/remote-bash.ts: secret-looking names are refused).
 */
export function remoteBash(
  t: { target: string; sshArgs?: string[]; env?: Record<string, string> },
  args: string[],
  script: string,
): CommandLine {
  return { cmd: "ssh", args: [...(t.sshArgs ?? []), t.target, remoteBashLine(t.env ?? {}, args)], input: script };
}

/** `KEY=VALUE` command-line pairs to an object (for --env). */
export function parseEnvPairs(pairs: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    pairs.map((kv) => {
      const i = kv.indexOf("=");
      if (i <= 0) throw new Error(`--env: "${kv}" must be KEY=VALUE`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }),
  );
}

/** The ssh command that runs collect.sh (its text passed as `script`) on the droplet. */
export function collectCommand(t: LiveTarget, script: string): CommandLine {
  const days = t.historyDays ?? 8;
  if (!Number.isInteger(days) || days < 0) throw new Error(`historyDays: ${days} must be a whole number of days`);
  return remoteBash(t, ["history", String(days)], script);
}

export type Runner = (cmd: CommandLine) => Promise<{ code: number; stdout: string; stderr: string }>;

export interface LiveOptions extends LiveTarget {
  tier: TierName;
  activeUsers?: number;
  complaints?: boolean;
}

/** Runs the collector and returns checker input: the droplet's samples and the evidence of its fresh snapshot. */
export async function collectLive(opts: LiveOptions, script: string, runner: Runner): Promise<CapacityInput> {
  const command = collectCommand(opts, script);
  const r = await runner(command);
  if (r.code !== 0) throw new Error(`collector on ${opts.target} exited ${r.code}: ${r.stderr.trim().slice(-1000)}`);
  const { samples, evidence } = readCollectorOutput(r.stdout);
  return parseCapacityInput({
    tier: opts.tier,
    samples,
    evidence: evidence satisfies Evidence,
    ...(opts.activeUsers !== undefined ? { activeUsers: opts.activeUsers } : {}),
    ...(opts.complaints !== undefined ? { complaints: opts.complaints } : {}),
  });
}

/** Runs a command line with the droplet commands' one executor (connect timeout, the host named if it does not answer). */
export const spawnRunner: Runner = async (c) => {
  const ssh = sshExecutor({ multiplex: false });
  try {
    return await ssh({ step: c.args.at(-1) ?? c.cmd, argv: [c.cmd, ...c.args], stdinText: c.input });
  } finally {
    ssh.close();
  }
};
