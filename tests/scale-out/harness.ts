/**
 * The scale-out cutover on the migration harness (tests/migration/harness.ts): the old droplet as the logical
 * publisher, the new one's PostgreSQL as the managed cluster, its Caddy's internal listener (gated by
 * proxy-switch.sh over ssh, as on an app droplet) and app as the app droplets. Shared by the cutover test and the benchmark (no vitest import here).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { renderTargetEnv } from "../../infra/scale-out-migration/commands";
import type { LogicalRunnerOptions } from "../../infra/scale-out-migration/runner";
import { INTERNAL_PORT } from "../../infra/render/caddyfile";
import { type Harness, NEW_HOST } from "../migration/harness";
import { makeTempDir, osUser, PG_BINDIR, run } from "../support/processes";

/** The droplet as a logical publisher (wal_level = logical, a sequence on the app's table); the target empty. */
export async function prepare(harness: Harness): Promise<string> {
  const { old, next } = harness;
  await old.pg.psql("ALTER SYSTEM SET wal_level = logical;");
  await run(
    path.join(PG_BINDIR, "pg_ctl"),
    ["restart", "-w", "-t", "60", "-m", "fast", "-D", old.pg.dataDir, "-l", old.pg.logFile, "-o", old.pg.ctlOptions],
    { user: "postgres" },
  );
  const wal = await old.pg.psql("SHOW wal_level");
  if (wal !== "logical") throw new Error(`wal_level is ${wal} after the restart`);
  await old.pg.psql("ALTER TABLE writes ADD COLUMN seq bigserial UNIQUE;", "chatbot");
  // A fresh managed cluster has only the empty database and the app's role (DatabaseDb, DatabaseUser).
  await next.pg.psql("DROP TABLE writes;", "chatbot");
  await next.pg.psql("CREATE ROLE chatbot LOGIN;");
  return writeTargetEnv(harness);
}

/**
 * The target env file as the stack writes it onto the droplet. The droplet's psql checks the target's certificate
 * (verify-ca) against `pgCa`, by default the CA that signed it (the target's own self-signed certificate, as
 * tls-cert.sh makes it: CA:TRUE, naming `postgres` and not the address dialled).
 */
export function writeTargetEnv(harness: Harness, opts: { pgCa?: string } = {}): string {
  const { next } = harness;
  const dir = makeTempDir("scale-out-target", "postgres");
  const file = path.join(dir, "target.env");
  fs.writeFileSync(
    file,
    renderTargetEnv({
      // The target's servers are TLS only, as the managed engines are (and as every harness droplet is).
      pg: {
        host: NEW_HOST,
        port: next.pg.port,
        user: "postgres",
        password: harness.secrets.POSTGRES_PASSWORD,
        database: "chatbot",
        sslmode: "verify-ca",
        sslrootcert: opts.pgCa ?? postgresCertificate(next),
        appUser: "chatbot",
      },
      redis: {
        host: NEW_HOST,
        port: next.redis.port,
        user: "",
        password: harness.secrets.REDIS_PASSWORD,
        tls: true,
        ca: redisCertificate(next),
      },
    }),
    { mode: 0o600 },
  );
  const who = osUser("postgres");
  if (who) fs.chownSync(file, who.uid, who.gid);
  return file;
}

/** The runner's options for the harness: the droplet as the source, the target's internal listener as the app droplets. */
export function harnessCutover(
  harness: Harness,
  targetEnv: string,
): Pick<LogicalRunnerOptions, "source" | "upstreams" | "appNodes" | "moveTraffic" | "budgets"> & {
  switchedAt: () => number;
} {
  let switchedAt = Number.POSITIVE_INFINITY;
  return {
    // The cache warm-up reaches the droplet's Redis directly (not through compose): its address, port and
    // certificate (REDIS_TLS_CA; on a droplet the volume's, by default).
    source: {
      ...harness.old.droplet,
      env: {
        ...harness.old.droplet.env,
        CHATBOT_TARGET_ENV_FILE: targetEnv,
        REDIS_HOST: harness.old.redis.host,
        REDIS_PORT: String(harness.old.redis.port),
        REDIS_TLS_CA: redisCertificate(harness.old),
      },
    },
    upstreams: [`${harness.next.host}:${harness.next.droplet.internalPort ?? INTERNAL_PORT}`],
    appNodes: [harness.next.droplet],
    // The later DNS move: clients reach the target directly.
    moveTraffic: async () => {
      harness.front.moveTo(harness.next.host);
      switchedAt = Date.now();
    },
    budgets: { downtimeBudgetSeconds: 60, migrationBudgetMinutes: 10 },
    switchedAt: () => switchedAt,
  };
}

/** A harness droplet's PostgreSQL certificate (tests/migration/harness.ts keeps it beside Redis's, tls/postgres). */
export function postgresCertificate(d: Harness["old"]): string {
  return path.join(path.dirname(d.redisTlsDir), "postgres", "server.crt");
}

/** A harness droplet's Redis certificate (made by tls-cert.sh, as on a droplet). */
function redisCertificate(d: Harness["old"]): string {
  return path.join(d.redisTlsDir, "server.crt");
}
