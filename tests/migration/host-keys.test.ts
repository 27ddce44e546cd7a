/**
 * `npm run migrate` with pinned host keys, against the harness's real sshd (each with its own host key):
 *
 * - the right keys: the whole migration runs with only those keys accepted (StrictHostKeyChecking=yes, a known_hosts
 *   written for the run), and prints no warning;
 * - a wrong key for either droplet: exit 3 before any step, a message naming that droplet and what to check, and
 *   neither droplet touched (no journal, no lock, the same data, the new PostgreSQL not made a replica);
 * - no keys (servers created before pinning): accepted on first use, with a warning for each droplet.
 *
 * Run with HARNESS_NET=127.0.N when another checkout runs harness tests on the same machine.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { cliArgs, hostKeyOf, killLeftoverClis, runCli } from "./cli-process";
import { type Harness, fingerprint, migrationFiles, withHarness as withHarnessThen } from "./harness";

const TIMEOUT = 400_000;
const withHarness = <T>(body: (h: Harness) => Promise<T>) => withHarnessThen(body, killLeftoverClis);
afterEach(killLeftoverClis);

/** An ED25519 public key no droplet has: what a replaced or impersonated host would offer instead. */
function otherKey(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "other-host-key-"));
  try {
    const r = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(dir, "k")], {
      encoding: "utf8",
    });
    if (r.status !== 0) throw new Error(r.stderr);
    return fs.readFileSync(path.join(dir, "k.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** cliArgs with one droplet's pinned key replaced. */
function withKey(args: string[], flag: "--from-host-key" | "--to-host-key", key: string): string[] {
  const out = [...args];
  out[out.indexOf(flag) + 1] = key;
  return out;
}

describe("npm run migrate with pinned host keys (real sshd)", () => {
  it(
    "a wrong pinned key stops before anything (exit 3, the droplet named); the right keys migrate; no keys warn and accept on first use",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const args = cliArgs(h.old, h.next);
        const before = [await fingerprint(h.old), await fingerprint(h.next)];

        for (const [flag, side, d] of [
          ["--to-host-key", "new", h.next],
          ["--from-host-key", "old", h.old],
        ] as const) {
          const bad = await runCli([...withKey(args, flag, otherKey()), "--id", `hk-bad-${side}`]);
          expect(bad.code, bad.stderr).toBe(3);
          expect(bad.stderr).toContain(
            `HOST KEY MISMATCH: the ${side} droplet ${d.ssh.target}:${d.ssh.port} (${d.ssh.target}) did not present the host key the stack pinned`,
          );
          expect(bad.stderr).toContain("Nothing was changed on either droplet");
          expect(bad.stderr).toContain(`ssh-keyscan -t ed25519 ${d.host}`);
          expect(bad.stderr).toMatch(
            /ssh said: .*Host key for \S+-droplet\.\S+ has changed .*Host key verification failed\./,
          );
          expect(bad.stderr).not.toContain("ssh-keygen -f"); // not ssh's advice to drop the pinned entry
          expect(bad.stdout).not.toMatch(/== /); // no phase started
          expect([migrationFiles(h.old), migrationFiles(h.next)]).toEqual([[], []]); // no journal, no lock
          expect([await fingerprint(h.old), await fingerprint(h.next)]).toEqual(before);
          expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
        }

        // No keys (servers created before pinning): first use is accepted, each droplet gets its warning.
        const unpinned = await runCli([...cliArgs(h.old, h.next, { pinned: false }), "--status"]);
        expect(unpinned.code, unpinned.stderr).toBe(0);
        expect(unpinned.stderr).toMatch(/warning: the old droplet .*: its SSH host key is not pinned/);
        expect(unpinned.stderr).toMatch(
          /warning: the new droplet .*: its SSH host key is not pinned .* the next tier migration/,
        );

        // The right keys: the whole migration, every step over ssh with only the pinned keys accepted.
        expect(hostKeyOf(h.old)).toMatch(/^ssh-ed25519 /);
        const ok = await runCli([...args, "--id", "hk-ok"]);
        expect(ok.code, ok.stderr).toBe(0);
        expect(ok.stderr).toBe("");
        expect(ok.result).toMatchObject({ id: "hk-ok", state: "done" });
        expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
      }),
  );
});
