/** `npm run migrate` end to end against the loopback droplets (host runtime), and its --dry-run output. */
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { runCommand } from "../support/servers";
import { type HarnessDroplet, startHarness } from "./harness";

const CLI = path.resolve(__dirname, "../../scripts/migrate.ts");
const TSX = path.resolve(__dirname, "../../node_modules/.bin/tsx");

function cliArgs(old: HarnessDroplet, next: HarnessDroplet): string[] {
  const target = (d: HarnessDroplet) => `${d.ssh.target}:${d.ssh.port}`;
  const envArgs = (flag: string, d: HarnessDroplet) => Object.entries(d.droplet.env ?? {}).map(([k, v]) => `${flag}=${k}=${v}`);
  return [
    "--from", target(old), "--to", target(next), "--runtime", "host",
    `--ssh-option=-oIdentityFile=${old.ssh.keyFile}`, `--ssh-option=-oIdentityFile=${next.ssh.keyFile}`,
    `--ssh-option=-oUserKnownHostsFile=${old.ssh.knownHostsFile} ${next.ssh.knownHostsFile}`,
    "--ssh-option=-oBatchMode=yes", "--ssh-option=-oIdentitiesOnly=yes",
    ...envArgs("--from-env", old), ...envArgs("--to-env", next), "--skip-backup",
    "--from-ports", `${old.pg.port},${old.redis.port}`, "--to-ports", `${next.pg.port},${next.redis.port}`,
  ];
}

describe("npm run migrate", () => {
  it("--dry-run prints the exact commands and runs nothing; a real run moves the data and prints the timeline", { timeout: 300_000 }, async () => {
    const h = await startHarness();
    try {
      const args = cliArgs(h.old, h.next);
      const dry = await runCommand(TSX, [CLI, ...args, "--dry-run", "--strategy", "replicate", "--id", "x"]);
      expect(dry.code).toBe(0);
      expect(dry.stdout).toContain(`[copy] ssh -p ${h.next.ssh.port} -oIdentityFile=`);
      expect(dry.stdout).toMatch(new RegExp(`bash -s -- standby ${h.old.host.replace(/\./g, "\\.")} ${h.old.pg.port}'`));
      expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f"); // nothing ran

      await h.old.pg.psql("INSERT INTO writes (id) VALUES ('via-cli')", "chatbot");
      const real = await runCommand(TSX, [CLI, ...args], { timeoutMs: 240_000 });
      expect(real.stderr).toBe("");
      expect(real.code).toBe(0);
      expect(real.stdout).toMatch(/strategy: replicate \(same PostgreSQL major version/);
      expect(real.stdout).toMatch(/ cutover +\S* fence +\S* old /);
      expect(real.stdout).toMatch(/write downtime \(fence to traffic moved\): \d+\.\d\d s/);
      expect(await h.next.pg.psql("SELECT count(*) FROM writes WHERE id = 'via-cli'", "chatbot")).toBe("1");
      expect(await h.next.pg.psql("SELECT pg_is_in_recovery()")).toBe("f");
    } finally {
      await h.stop();
    }
  });
});
