/**
 * Issue 12, item 3: a tier migration between loopback droplets whose PostgreSQL runs with the rendered TLS settings
 * and pg_hba.conf (clear-text TCP refused) and a certificate made by the droplet's own script. The copy, the
 * streaming that follows it and the app's connections all go over TLS, read from the servers themselves
 * (pg_stat_ssl, pg_stat_wal_receiver), not from the client's settings.
 */
import { describe, expect, it } from "vitest";
import { PG_BINDIR, runCommand, runningServers } from "../support/servers";
import { withHarness } from "./harness";
import { afterStep } from "./seams";

const TIMEOUT = 300_000;

/** Every TCP connection to a server except the query's own: "backend_type user ssl". */
const TCP_SESSIONS = `SELECT a.backend_type || ' ' || coalesce(a.usename, '') || ' ' || s.ssl
  FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
  WHERE a.client_addr IS NOT NULL AND a.pid <> pg_backend_pid() ORDER BY 1`;

describe("tier migration with TLS on the private connections", () => {
  it("replication and the app use TLS on both droplets; a clear-text client is refused", { timeout: TIMEOUT }, () =>
    withHarness(async (h) => {
      let oldSessions = "";
      let receiver = "";
      const { result: report } = await h.withLoad(async () => {
        const r = await h.migrate({
          strategy: "replicate",
          // Just before the cutover: the standby streams from the old server, the app writes to it.
          wrap: (exec) =>
            afterStep(exec, "checkpoint", async () => {
              oldSessions = await h.old.pg.psql(TCP_SESSIONS);
              receiver = await h.next.pg.psql("SELECT status || ' ' || conninfo FROM pg_stat_wal_receiver");
            }),
        });
        // After the cutover the app writes to the new server: over TLS too.
        const newSessions = await h.next.pg.psql(TCP_SESSIONS);
        return { r, newSessions };
      });
      expect(report.r.outcome).toBe("done");

      const rows = oldSessions.split("\n");
      expect(rows, oldSessions).toContain("walsender replicator true");
      expect(rows.filter((row) => row.startsWith("client backend postgres")).length).toBeGreaterThan(0);
      expect(rows.filter((row) => !row.endsWith(" true"))).toEqual([]);
      expect(receiver).toMatch(/^streaming .*sslmode=require/);
      const after = report.newSessions.split("\n");
      expect(after.filter((row) => row.startsWith("client backend postgres")).length).toBeGreaterThan(0);
      expect(after.filter((row) => !row.endsWith(" true"))).toEqual([]);

      // Negative control on the same servers: clear text is refused, so the rows above could not have been plain.
      const clear = await runCommand(`${PG_BINDIR}/psql`, ["-X", "-At", "-c", "SELECT 1"], { env: { ...h.next.pg.env(), PGSSLMODE: "disable" } });
      expect(clear.code).not.toBe(0);
      expect(clear.stderr).toMatch(/no encryption/);
    }));

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
