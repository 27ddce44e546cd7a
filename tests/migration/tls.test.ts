/**
 * Issue 12, item 3: a tier migration between loopback droplets whose PostgreSQL runs with the rendered TLS settings
 * and pg_hba.conf (clear-text TCP refused) and a certificate made by the droplet's own script. The copy, the
 * streaming that follows it and the app's connections all go over TLS, read from the servers themselves
 * (pg_stat_ssl, pg_stat_wal_receiver), not from the client's settings.
 */
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PG_BINDIR, runCommand, runningServers } from "../support/servers";
import { withHarness } from "./harness";
import { afterStep, swapStdin } from "./seams";

const TIMEOUT = 300_000;

/** Every TCP connection to a server except the query's own: "backend_type user ssl". */
const TCP_SESSIONS = `SELECT a.backend_type || ' ' || coalesce(a.usename, '') || ' ' || s.ssl
  FROM pg_stat_activity a JOIN pg_stat_ssl s USING (pid)
  WHERE a.client_addr IS NOT NULL AND a.pid <> pg_backend_pid() ORDER BY 1`;

describe("tier migration with TLS on the private connections", () => {
  it(
    "PostgreSQL (replication, the app) and Redis (the replica link both ways, clients) use TLS on both droplets; clear-text clients are refused",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        let oldSessions = "";
        let receiver = "";
        let replicaLink = "";
        const { result: report } = await h.withLoad(async () => {
          const r = await h.migrate({
            strategy: "replicate",
            // Just before the cutover: the standby streams from the old server, the app writes to it.
            wrap: (exec) =>
              afterStep(exec, "checkpoint", async () => {
                oldSessions = await h.old.pg.psql(TCP_SESSIONS);
                receiver = await h.next.pg.psql("SELECT status || ' ' || conninfo FROM pg_stat_wal_receiver");
                replicaLink = await h.next.redis.cli("INFO", "replication");
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
        // The standby checks the old server's certificate (the one pg_trust wrote beside its own), not only encrypts.
        expect(receiver).toMatch(/^streaming .*sslmode=verify-ca .*sslrootcert=\S+\/peer-[0-9A-F]{16}\.crt/);
        const after = report.newSessions.split("\n");
        expect(after.filter((row) => row.startsWith("client backend postgres")).length).toBeGreaterThan(0);
        // The old server follows the new one after the commit point, over TLS too.
        expect(after, report.newSessions).toContain("walsender replicator true");
        expect(after.filter((row) => !row.endsWith(" true"))).toEqual([]);

        // Redis: the new one was a replica of the old one's only port, which speaks TLS alone; after the cutover the
        // old one follows the new one (FAILOVER TO) the same way.
        expect(replicaLink).toMatch(
          new RegExp(`master_host:${h.old.host}\\s+master_port:${h.old.redis.port}\\s+master_link_status:up`),
        );
        for (const d of [h.old, h.next]) expect(await d.redis.cli("CONFIG", "GET", "port")).toBe("port\n0");
        expect(await h.old.redis.cli("INFO", "replication")).toMatch(
          new RegExp(
            `role:slave\\s+master_host:${h.next.host}\\s+master_port:${h.next.redis.port}\\s+master_link_status:up`,
          ),
        );
        expect(await h.next.redis.cli("ROLE")).toMatch(/^master/);

        // Negative controls on the same servers: clear text is refused, so what is above could not have been plain.
        const clear = await runCommand(`${PG_BINDIR}/psql`, ["-X", "-At", "-c", "SELECT 1"], {
          env: { ...h.next.pg.env(), PGSSLMODE: "disable" },
        });
        expect(clear.code).not.toBe(0);
        expect(clear.stderr).toMatch(/no encryption/);
        for (const d of [h.old, h.next]) {
          const plain = await runCommand("redis-cli", ["-h", d.host, "-p", String(d.redis.port), "PING"], {
            env: { REDISCLI_AUTH: h.secrets.REDIS_PASSWORD },
          });
          expect(`${plain.stdout}${plain.stderr}`).not.toMatch(/PONG/);
        }
      }),
  );

  it(
    "the copy checks the old server's certificate: handed the wrong one (the new droplet's own), pg_basebackup refuses the server and the migration rolls back with the old server serving",
    { timeout: TIMEOUT },
    () =>
      withHarness(async (h) => {
        const wrong = fs.readFileSync(path.join(h.next.pgTlsDir, "server.crt"), "utf8");
        const { result, records } = await h.withLoad(async () => {
          const first = await h.migrate({
            strategy: "replicate",
            skipBackup: true,
            wrap: (exec) => swapStdin(exec, "pg_trust", "new", wrong),
          });
          const servingAfter = h.serving();
          const probe = await h.request("POST", "/write/probe-wrong-cert", 5000);
          return { first, servingAfter, probe };
        });
        expect(result.first.outcome).toBe("rolled-back");
        expect(result.first.committed).toBe(false);
        expect(`${result.first.aborted ?? ""} ${result.first.error ?? ""}`).toMatch(/certificate verify failed/);
        expect(result.servingAfter).toBe(h.old);
        expect(result.probe.status).toBe(200);
        const check = await h.check(records, h.old);
        expect(check.lost).toEqual([]);
        expect(check.failedButPresent).toEqual([]);
        expect(await h.old.pg.psql("SELECT count(*) FROM writes WHERE id = 'probe-wrong-cert'", "chatbot")).toBe("1");
        // The right certificate (the runner's own handover, the test above) is accepted: a run without the swap works.
        const second = await h.migrate({ strategy: "replicate", skipBackup: true });
        expect(second.outcome, second.refused ?? second.aborted ?? second.error).toBe("done");
        expect(h.serving()).toBe(h.next);
      }),
  );

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
