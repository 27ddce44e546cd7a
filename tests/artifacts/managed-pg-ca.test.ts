/**
 * Issue 24, item 6: the scale-out app droplets authenticate the managed PostgreSQL. The app.env and CA file rendered
 * for an app droplet, used by a real libpq client (psql: the app's psycopg hands DATABASE_URL to the same libpq)
 * against a real PostgreSQL 15 serving a certificate signed by a test CA: the right CA connects, a CA that did not
 * sign the server's certificate is refused (the negative control), where the old `sslmode=require` URL connected.
 */
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { APP_MANAGED_PG_CA, MANAGED_PG_CA_FILE, renderAppNodeSecretFiles } from "../../infra/render/app-node";
import { makeTempDir, type PgServer, PG_BINDIR, run, runCommand, startPostgres, stopAll } from "../support/processes";

/** Not a harness address (127.0.N.2/.3): this test may run beside a migration test. */
const HOST = "127.0.8.31";

/** A CA (key and self-signed certificate, CA:TRUE) in `dir`, named `name`. */
async function makeCa(dir: string, name: string): Promise<{ key: string; crt: string }> {
  const key = join(dir, `${name}.key`);
  const crt = join(dir, `${name}.crt`);
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:prime256v1",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    key,
    "-out",
    crt,
  ]);
  return { key, crt };
}

/** A server key and certificate signed by `ca`, naming a host that is not the address clients dial (as a VPC host). */
async function makeServerCert(dir: string, ca: { key: string; crt: string }): Promise<{ key: string; crt: string }> {
  const key = join(dir, "server.key");
  const csr = join(dir, "server.csr");
  const crt = join(dir, "server.crt");
  const ext = join(dir, "server.ext");
  writeFileSync(ext, "subjectAltName=DNS:db-postgresql-test-do-user-1-0.b.db.ondigitalocean.com\n");
  await run(
    "openssl",
    ["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"].concat([
      "-subj",
      "/CN=db-postgresql-test",
      "-keyout",
      key,
      "-out",
      csr,
    ]),
  );
  await run(
    "openssl",
    ["x509", "-req", "-in", csr, "-CA", ca.crt, "-CAkey", ca.key, "-CAcreateserial"].concat([
      "-days",
      "2",
      "-extfile",
      ext,
      "-out",
      crt,
    ]),
  );
  return { key, crt };
}

let pg: PgServer;
let dir: string;
let rightCa: string;
let wrongCa: string;

beforeAll(async () => {
  dir = makeTempDir("managed-pg-ca", "postgres");
  dirs.push(dir);
  const ca = await makeCa(dir, "test-cluster-ca");
  const other = await makeCa(dir, "another-ca");
  const server = await makeServerCert(dir, ca);
  await run("chmod", ["0600", server.key]);
  // The server's user must own its key (PostgreSQL refuses a key others can read).
  await runCommand("chown", ["postgres:postgres", server.key, server.crt]);
  pg = await startPostgres({
    host: HOST,
    name: "managed-pg-ca",
    hba: ["local all all trust", "hostssl all all 127.0.0.0/8 trust", ""].join("\n"),
    serverSettings: { ssl: "on", ssl_cert_file: server.crt, ssl_key_file: server.key },
  });
  rightCa = ca.crt;
  wrongCa = other.crt;
}, 120_000);
const dirs: string[] = [];
afterAll(async () => {
  await stopAll();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** app.env's DATABASE_URL and the CA file as the secrets sync renders them, for a pool URI on this server. */
function rendered(caPem: string): { url: string; caFile: string } {
  const files = renderAppNodeSecretFiles(
    {
      databaseUrl: `postgresql://postgres@${HOST}:${pg.port}/postgres?sslmode=require`,
      redisUrl: "rediss://default:x@cache:25061",
      postgresCa: caPem,
    },
    8090,
  );
  const env = files.find((f) => f.path === "app.env")!.content;
  const ca = files.find((f) => f.path === MANAGED_PG_CA_FILE)!;
  expect(ca.mode).toBe("0644");
  const caDir = makeTempDir("managed-pg-ca-file");
  dirs.push(caDir);
  const caFile = join(caDir, MANAGED_PG_CA_FILE);
  writeFileSync(caFile, ca.content);
  const url = /^DATABASE_URL=(.*)$/m.exec(env)![1]!;
  // The container sees the file at APP_MANAGED_PG_CA (compose's bind mount); here it is where it was written.
  return { url: url.replace(APP_MANAGED_PG_CA, caFile), caFile };
}

/** psql with the URL as its dbname (libpq parses it, as psycopg2.connect(DATABASE_URL) does); no password in it. */
const psql = (url: string) =>
  runCommand(
    join(PG_BINDIR, "psql"),
    ["-X", "-At", "-d", url, "-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"],
    { env: { PGCONNECT_TIMEOUT: "5" } },
  );

describe("the app droplet's DATABASE_URL checks the managed cluster's certificate", () => {
  it("carries sslmode=verify-ca and the CA file's path", () => {
    const { url } = rendered(readFileSync(rightCa, "utf8"));
    expect(url).toMatch(/\?sslmode=verify-ca&sslrootcert=\/.*managed-pg-ca\.crt$/);
  });

  it("connects over TLS with the cluster's CA", async () => {
    const r = await psql(rendered(readFileSync(rightCa, "utf8")).url);
    expect(r.stderr).toBe("");
    expect(r.stdout.trim()).toBe("t");
    expect(r.code).toBe(0);
  });

  it("NEGATIVE CONTROL: refuses a server whose certificate the handed CA did not sign", async () => {
    const r = await psql(rendered(readFileSync(wrongCa, "utf8")).url);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/certificate verify failed/);
  });

  it("the URL the provider gives (sslmode=require) connects to that same server: it checks nothing", async () => {
    const r = await psql(`postgresql://postgres@${HOST}:${pg.port}/postgres?sslmode=require`);
    expect(r.stdout.trim()).toBe("t");
    expect(r.code).toBe(0);
  });
});
