/**
 * Host keys for the migration's ssh: a droplet whose key the stack pinned is reached with only that key accepted (a
 * known_hosts file written for this run, `StrictHostKeyChecking=yes`), one whose key is not pinned (a server created
 * before pinning) with trust on first use (`accept-new`) and a warning. Before anything runs, each pinned droplet is
 * asked for its key once: a mismatch stops the run, naming the server and what to check, before any step touches
 * either droplet.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { hostKeyMismatchMessage, isHostKeyRejection, knownHostsLine, unpinnedHostKeyWarning } from "../host-keys";
import type { Droplet } from "./commands";
import { CONNECT_OPTIONS, pinnedSshOptions, UNPINNED_SSH_OPTIONS } from "./ssh-options";

export class HostKeyMismatchError extends Error {}

/** Which droplet, for the known_hosts alias: a migration's two, or the one a single-droplet command reaches. */
export type HostRole = "old" | "new" | "serving";

export interface HostKeyPin {
  /** How the operator knows the server: "the old droplet", "the new droplet". */
  label: string;
  /** The pinned key, `ssh-ed25519 <base64>`; undefined: not pinned. */
  hostKey: string | undefined;
}

/** The known_hosts alias of a droplet: its role and address, so ssh's own messages name it. */
export function hostKeyAlias(role: HostRole, droplet: Pick<Droplet, "ssh">): string {
  return `${role}-droplet.${droplet.ssh
    .replace(/^.*@/, "")
    .replace(/^\[|\]$/g, "")
    .replace(/:/g, "_")}`;
}

/**
 * The droplet with its host key options first (ssh takes the first value given for an option, so they win over any
 * `--ssh-option` the caller passed). Pinned: the alias's line is appended to `knownHostsFile` (0600).
 * Unpinned: accept-new after the caller's options (a caller's own StrictHostKeyChecking still wins), and a warning.
 */
export function withHostKey(
  droplet: Droplet,
  role: HostRole,
  pin: HostKeyPin,
  knownHostsFile: string,
  warn: (line: string) => void,
): Droplet {
  const rest = droplet.sshOptions ?? [];
  if (!pin.hostKey) {
    warn(`warning: ${unpinnedHostKeyWarning(`${pin.label} (${droplet.ssh})`)}`);
    return { ...droplet, sshOptions: [...rest, ...UNPINNED_SSH_OPTIONS] };
  }
  const alias = hostKeyAlias(role, droplet);
  fs.appendFileSync(knownHostsFile, `${knownHostsLine(alias, pin.hostKey)}\n`, { mode: 0o600 });
  return { ...droplet, sshOptions: [...pinnedSshOptions(alias, knownHostsFile), ...rest] };
}

/** A private directory for this run's known_hosts file. */
export function knownHostsFileIn(dir: string): string {
  fs.chmodSync(dir, 0o700);
  return path.join(dir, "known_hosts");
}

/** Runs `ssh <options> <target> true` and returns its exit code and stderr. */
function sshProbe(droplet: Droplet, timeoutMs: number): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const argv = ["-o", "BatchMode=yes", ...(droplet.sshOptions ?? []), ...CONNECT_OPTIONS, droplet.ssh, "true"];
    const child = spawn("ssh", argv, {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 255, stderr });
    });
  });
}

/**
 * Connects once to each pinned droplet. Throws HostKeyMismatchError (the CLI exits 3: a human must look) when ssh
 * refuses the droplet's host key; any other outcome is left to the migration's own steps to report.
 */
export async function verifyPinnedHostKeys(
  droplets: readonly { droplet: Droplet; role: HostRole; pin: HostKeyPin }[],
  timeoutMs = 60_000,
): Promise<void> {
  for (const { droplet, role, pin } of droplets) {
    if (!pin.hostKey) continue;
    const r = await sshProbe(droplet, timeoutMs);
    if (r.code !== 0 && isHostKeyRejection(r.stderr)) {
      // ssh's own lines about the key (not its advice to delete the known_hosts entry: this run's file is pinned).
      const said = r.stderr
        .split("\n")
        .filter((l) => isHostKeyRejection(l) || /offending|Their offer|key for/i.test(l))
        .map((l) => l.trim());
      throw new HostKeyMismatchError(
        `${hostKeyMismatchMessage(pin.label, droplet.ssh, hostKeyAlias(role, droplet))}\nssh said: ${said.join(" | ")}`,
      );
    }
  }
}

/**
 * For a command that reaches one droplet with plain ssh arguments (capacity, restore drill): the arguments with its
 * host key pinned, a check to run before anything (HostKeyMismatchError on another key), and the cleanup of the run's
 * known_hosts file. Without a key the arguments are left as they were (ssh's own known_hosts and defaults decide, as
 * before), with a warning that says how to pin.
 */
export function pinSingleTarget(
  target: string,
  sshArgs: readonly string[],
  hostKey: string | undefined,
  warn: (line: string) => void,
) {
  if (!hostKey) {
    warn(
      `warning: ${target}: its SSH host key is not pinned here: pass --host-key "$(pulumi stack output servers --json | jq -r '.<server>.hostKey')" (servers the stack created with a pinned key) to accept only that key`,
    );
    return { sshArgs: [...sshArgs], verify: async () => undefined, cleanup: () => undefined };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatbot-known-hosts-"));
  const pin = { label: `the droplet ${target}`, hostKey };
  const droplet = withHostKey(
    { ssh: target, sshOptions: sshArgs, privateAddress: "" },
    "serving",
    pin,
    knownHostsFileIn(dir),
    warn,
  );
  return {
    sshArgs: [...(droplet.sshOptions ?? [])],
    verify: () => verifyPinnedHostKeys([{ droplet, role: "serving", pin }]),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
