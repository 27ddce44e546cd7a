/**
 * The drop guard after migrations run by hand (loopback harness: real PostgreSQL 15 and Redis 7 through the docker
 * stand-in): after a migration the old server may be dropped and the new one may not; after a migration back by hand
 * (`--overwrite-target`, which the stack never learns of) the old server serves again and its drop is refused, which
 * is what stops the `pulumi up` that would delete it.
 */
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { runMigration } from "../../infra/migration/runner";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { dropGuardCommand } from "../../infra/render/drop-guard";
import { runningServers } from "../support/servers";
import { type HarnessDroplet, withHarness } from "./harness";

const TIMEOUT = 600_000;

/** The guard's delete command as the stack renders it, run on the droplet's containers. */
function guard(d: HarnessDroplet, server: string) {
  const r = spawnSync("bash", ["-c", dropGuardCommand(server)], { encoding: "utf8", env: d.container.env });
  return { status: r.status, pg: /^pg=(\w+)$/m.exec(r.stdout)?.[1], stderr: r.stderr };
}

describe("the drop guard after migrations run by hand", () => {
  it(
    "allows dropping the server migrated from, refuses the one that serves, and refuses the old one again once a migration back by hand made it the primary",
    {
      timeout: TIMEOUT,
    },
    () =>
      withHarness(async (h) => {
        const there = await h.migrate({ strategy: "replicate", skipBackup: true });
        expect(there.outcome, there.error).toBe("done");
        expect(guard(h.old, "app-4gb")).toMatchObject({ status: 0 });
        expect(["stopped", "standby"]).toContain(guard(h.old, "app-4gb").pg);
        const serving = guard(h.next, "app-8gb");
        expect(serving).toMatchObject({ status: 1, pg: "primary" });
        expect(serving.stderr).toMatch(/refusing to drop app-8gb/);

        // Back by hand onto the old droplet, overwriting it: the stack's record still says the new one serves.
        const ssh = sshExecutor();
        try {
          const back = await runMigration({
            old: h.next.droplet,
            next: h.old.droplet,
            exec: ssh,
            moveTraffic: async () => undefined,
            healthUrl: `http://${h.old.host}:${h.old.appPort}/health`,
            strategy: "replicate",
            skipBackup: true,
            overwriteTarget: true,
          });
          expect(back.outcome, back.error).toBe("done");
        } finally {
          ssh.close();
        }
        const dropOld = guard(h.old, "app-4gb");
        expect(dropOld).toMatchObject({ status: 1, pg: "primary" });
        expect(dropOld.stderr).toMatch(/refusing to drop app-4gb: its PostgreSQL is a primary .*Nothing was deleted/);
        expect(guard(h.next, "app-8gb")).toMatchObject({ status: 0 });
      }),
  );

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
