/**
 * `npm run scale-out-migrate` pinning the app droplets' host keys, against real sshd on loopback, each with its own
 * host key. A ForceCommand hands every remote command to tests/support/fake-ssh (canned answers, a log of the steps
 * per droplet), so the ssh side is real and no step touches this machine:
 *
 * - a wrong key for an app droplet: exit 3 before any step, the message names that app droplet, and no step ran on
 *   any droplet (only the host key checks reached the others);
 * - the right keys (negative control): the whole move runs, every step over ssh with only the pinned keys accepted,
 *   the gates opened on both app droplets;
 * - no app droplet keys: each accepted on first use, with a warning naming it.
 *
 * Run with HARNESS_NET=127.0.N when another checkout runs harness tests on the same machine.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NEW_HOST, OLD_HOST } from "../migration/harness";
import { SCALE_OUT_HAPPY, writeStepAnswers } from "../support/fake-ssh-answers";
import { makeTempDir, runCommand, type SshServer, startSshd } from "../support/processes";

const ROOT = path.join(__dirname, "..", "..");
const TSX = path.join(ROOT, "node_modules", ".bin", "tsx");
const TIMEOUT = 120_000;

let dir: string;
let source: SshServer;
let apps: SshServer[];
/** The steps each droplet was asked to run (fake-ssh's log; `script` is the host key check's `true`). */
const calls = (s: SshServer) =>
  fs
    .readFileSync(path.join(dir, s.host, "calls.log"), "utf8")
    .split("\n")
    .filter(Boolean);
const hostKey = (s: SshServer) => fs.readFileSync(s.knownHostsFile, "utf8").trim().split(/\s+/).slice(1, 3).join(" ");

/** An ED25519 public key no droplet has: what a replaced or impersonated app droplet would offer instead. */
function otherKey(): string {
  const file = path.join(dir, `other-${Date.now()}`);
  const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(r.stderr);
  return fs.readFileSync(`${file}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
}

beforeAll(async () => {
  dir = makeTempDir("app-host-keys");
  fs.chmodSync(dir, 0o755);
  const force = path.join(dir, "force.sh");
  fs.writeFileSync(
    force,
    `#!/bin/bash\nFAKE_SSH_DIR="${dir}/$1" exec ${path.join(ROOT, "tests", "support", "fake-ssh", "ssh")} "$SSH_ORIGINAL_COMMAND"\n`,
    { mode: 0o755 },
  );
  const sshd = (host: string, port?: number) =>
    startSshd({ host, port, name: `app-host-keys-${host}`, config: `ForceCommand ${force} ${host}` });
  // One port for all (the CLI's targets are user@host; -p is a shared ssh option), one address each.
  source = await sshd(OLD_HOST);
  const third = NEW_HOST.replace(/\.3$/, ".4");
  apps = [await sshd(NEW_HOST, source.port), await sshd(third, source.port)];
}, TIMEOUT);

afterAll(async () => {
  await Promise.all([source, ...(apps ?? [])].filter(Boolean).map((s) => s.stop()));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function cli(appKeys: (string | undefined)[]) {
  for (const s of [source, ...apps]) {
    fs.mkdirSync(path.join(dir, s.host), { recursive: true });
    writeStepAnswers(path.join(dir, s.host), SCALE_OUT_HAPPY);
  }
  const args = [
    path.join(ROOT, "scripts", "scale-out-migrate.ts"),
    "--source",
    source.target,
    "--source-private",
    "10.10.0.5",
    "--upstreams",
    "10.10.0.7:8081,10.10.0.8:8081",
    "--app-nodes",
    apps.map((a) => a.target).join(","),
    "--source-host-key",
    hostKey(source),
    ...appKeys.flatMap((k, i) => (k ? ["--app-node-host-key", `${apps[i]!.target}=${k}`] : [])),
    "--ssh-option=-p",
    `--ssh-option=${source.port}`,
    ...[source, ...apps].map((s) => `--ssh-option=-oIdentityFile=${s.keyFile}`),
    "--ssh-option=-oIdentitiesOnly=yes",
    "--ssh-option=-oBatchMode=yes",
    "--json",
  ];
  return runCommand(TSX, args, { cwd: ROOT, timeoutMs: TIMEOUT });
}

describe("npm run scale-out-migrate with the app droplets' host keys pinned (real sshd)", () => {
  it.each([0, 1])(
    "a wrong key for app droplet %i: exit 3 before any step, that droplet named, no step run anywhere",
    { timeout: TIMEOUT },
    async (wrong) => {
      const keys = apps.map((a, i) => (i === wrong ? otherKey() : hostKey(a)));
      const r = await cli(keys);
      expect(r.code, r.stderr).toBe(3);
      const target = apps[wrong]!.target;
      expect(r.stderr).toContain(
        `HOST KEY MISMATCH: the app droplet ${target} (${target}) did not present the host key`,
      );
      expect(r.stderr).toMatch(
        /ssh said: .*Host key for new-droplet\.\S+ has changed .*Host key verification failed\./,
      );
      expect(r.stderr).not.toMatch(/^== /m); // no phase started
      // Only the checks reached the droplets (in order, up to the refused one), nothing else.
      expect(calls(source)).toEqual(["script"]);
      expect(calls(apps[wrong]!)).toEqual([]);
      expect(calls(apps[1 - wrong]!)).toEqual(wrong === 1 ? ["script"] : []);
    },
  );

  it("the right keys: the whole move runs over ssh with only those keys, the gates opened on both app droplets", {
    timeout: TIMEOUT,
  }, async () => {
    const r = await cli(apps.map(hostKey));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toContain("HOST KEY MISMATCH");
    expect(r.stderr).not.toContain("warning:");
    expect(r.stdout).toContain("chatbot-migration-result: ");
    expect(calls(source)[0]).toBe("script");
    expect(calls(source)).toEqual(expect.arrayContaining(["preflight", "cutover", "finish"]));
    for (const a of apps) expect(calls(a)).toEqual(["script", "gate", "gate"]);
  });

  it("no app droplet keys: accepted on first use, a warning for each", { timeout: TIMEOUT }, async () => {
    const r = await cli([undefined, undefined]);
    expect(r.stderr).not.toContain("HOST KEY MISMATCH");
    for (const a of apps)
      expect(r.stderr).toContain(
        `warning: the app droplet ${a.target}: no --app-node-host-key, its SSH host key is accepted on first use`,
      );
    expect(r.code, r.stderr).toBe(0);
    for (const a of apps) expect(calls(a)).toEqual(["gate", "gate"]); // no key to check before the run
  });
});
