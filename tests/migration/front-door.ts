/**
 * The harness's front door, as in production: each harness droplet runs the real `caddy` binary with the Caddyfile
 * the program renders (infra/render/caddyfile.ts) for its domain, app and internal listener, and clients reach it
 * over HTTPS through a front address standing in for the reserved IP.
 *
 * What the harness adds to the rendered file, in a global options block (production has none, or only `email`):
 * the droplet's own loopback address as the bind address of every site (`default_bind`: two droplets on one
 * machine), its admin API on that address, and certificates from Caddy's local CA (`local_certs`: no ACME here)
 * kept in the droplet's directory. The site blocks are the rendered ones, byte for byte.
 *
 * The front address: a reserved IP is an address the cloud routes to one droplet at a time. Here every droplet has
 * its own loopback address and the front address is which of them clients connect to, read for each new connection
 * (the clients do not keep connections alive). Moving it is the reserved IP's reassignment; what a real reassignment
 * does to connections already open is not reproduced (unverified here).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as https from "node:https";
import * as path from "node:path";
import { PROXY_SYSCTLS, renderCaddyfile } from "../../infra/render/caddyfile";
import { type ManagedProcess, startProcess, waitFor } from "../support/processes";

/** The domain the harness's Caddy serves (reserved for testing by RFC 2606: `.test`). */
export const DOMAIN = "chat.harness.test";
/** Caddy's admin API port on each droplet's address. */
export const ADMIN_PORT = 2019;

export interface HttpResult {
  status: number;
  body: string;
  /** Set when no response arrived (connection refused, reset, timeout). */
  error?: string;
}

/**
 * The rendered Caddyfile for a droplet whose app listens on host:appPort, with the harness's global options. Its
 * internal listener's certificate is in `internalTlsDir` (the proxy container's mount, infra/render/compose.ts).
 */
export function harnessCaddyfile(host: string, appPort: number, storageDir: string, internalTlsDir: string): string {
  const rendered = renderCaddyfile({
    domain: DOMAIN,
    acmeEmail: undefined,
    upstream: `${host}:${appPort}`,
    hstsMaxAgeSeconds: 0,
    internalTlsDir,
  });
  const global = [
    "{",
    `\tadmin ${host}:${ADMIN_PORT}`,
    `\tdefault_bind ${host}`,
    "\tlocal_certs",
    "\tskip_install_trust",
    `\tstorage file_system ${storageDir}`,
    "}",
    "",
  ];
  return [...global, rendered].join("\n");
}

export interface DropletCaddy {
  process: ManagedProcess;
  /** The Caddyfile Caddy was started with; proxy-switch.sh rewrites it in place. */
  caddyfile: string;
  /** host:port of the admin API (the docker shim's SHIM_CADDY_ADMIN: the proxy container's localhost:2019). */
  admin: string;
  /** The root certificate of this Caddy's local CA (PEM). */
  rootCert: string;
}

/**
 * Start the droplet's Caddy (as root: ports 80 and 443) from `configDir`/Caddyfile; ready once it serves HTTPS.
 * `internalTlsDir` holds the internal listener's certificate (made by tls-cert.sh, as the config sync does).
 */
export async function startCaddy(
  name: string,
  host: string,
  appPort: number,
  configDir: string,
  internalTlsDir: string,
): Promise<DropletCaddy> {
  applyProxySysctls();
  const storage = path.join(configDir, "caddy-data");
  const caddyfile = path.join(configDir, "Caddyfile");
  fs.writeFileSync(caddyfile, harnessCaddyfile(host, appPort, storage, internalTlsDir));
  const rootFile = path.join(storage, "pki", "authorities", "local", "root.crt");
  const env = { HOME: configDir, XDG_DATA_HOME: configDir, XDG_CONFIG_HOME: configDir };
  const proc = await startProcess({
    name: `${name}-caddy`,
    cmd: "caddy",
    args: ["run", "--config", caddyfile, "--adapter", "caddyfile"],
    env,
    ready: async () =>
      fs.existsSync(rootFile) &&
      (await frontRequest(host, [fs.readFileSync(rootFile, "utf8")], "GET", "/health", 2000)).status > 0,
    // Caddy 2.6.2's storage cleaner, run at start, can delete the site certificate the first obtain is writing
    // ("Deleting ... because key is empty", then "saving assets: ... no such file"); the obtain retries 60 s later.
    // Seen once in CI: wait past that retry instead of failing the harness.
    timeoutMs: 120_000,
  });
  return { process: proc, caddyfile, admin: `${host}:${ADMIN_PORT}`, rootCert: fs.readFileSync(rootFile, "utf8") };
}

/**
 * On a droplet the proxy container's network namespace gets PROXY_SYSCTLS from the compose file. Here Caddy runs in
 * the harness's own namespace, so the same values are set there (root, as for ports 80 and 443); a value that cannot
 * be set fails the harness, since its reloads would not be the ones production makes.
 */
function applyProxySysctls(): void {
  for (const [key, value] of Object.entries(PROXY_SYSCTLS)) {
    const file = path.join("/proc/sys", ...key.split("."));
    if (fs.readFileSync(file, "utf8").trim() === String(value)) continue;
    try {
      fs.writeFileSync(file, String(value));
    } catch (e) {
      throw new Error(
        `the harness's Caddy needs ${key}=${value} as the rendered compose file sets it: ${(e as Error).message}`,
      );
    }
  }
}

/**
 * The request paths a droplet's Caddy answered 502 because its TLS handshake to the next hop failed, as Caddy 2.6.2
 * does now and then when that hop's Caddy reloads (docs/migration.md, "a reset during a reload"): such a request was
 * never sent on, so never applied.
 */
export function handshakeFailures(caddy: DropletCaddy): Set<string> {
  const paths = new Set<string>();
  for (const line of fs.readFileSync(caddy.process.logFile, "utf8").split("\n")) {
    if (!line.includes('"logger":"http.log.error"')) continue;
    const entry = JSON.parse(line) as { msg?: string; status?: number; request?: { uri?: string } };
    if (entry.status === 502 && /tls: |handshake/.test(entry.msg ?? "") && entry.request?.uri)
      paths.add(entry.request.uri);
  }
  return paths;
}

/** `caddy version`'s first line (the benchmark's `frontDoor` field). */
export function caddyVersion(): string {
  const r = spawnSync("caddy", ["version"], { encoding: "utf8" });
  return `caddy ${(r.stdout || r.stderr || "?").split("\n")[0]?.trim()}`;
}

/** An HTTPS request to https://DOMAIN/... connecting to `address`, trusting the given CA roots only. */
export function frontRequest(
  address: string,
  ca: string[],
  method: string,
  pathName: string,
  timeoutMs: number,
  port = 443,
): Promise<HttpResult> {
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: address,
        port,
        servername: DOMAIN,
        path: pathName,
        method,
        headers: { host: DOMAIN },
        ca,
        agent: false,
        timeout: timeoutMs,
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8").on("data", (d: string) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
        res.on("error", (e) => resolve({ status: 0, body, error: e.message }));
      },
    );
    // Whether the TLS handshake finished: before it, the request cannot have left the client (a reset then means the
    // server never saw it).
    let secured = false;
    req.on("socket", (socket) => socket.once("secureConnect", () => (secured = true)));
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ status: 0, body: "", error: `${e.code ?? e.message}${secured ? "" : BEFORE_TLS}` }),
    );
    req.end();
  });
}

/** Appended to a client error that came before the TLS handshake finished (the request was never sent). */
export const BEFORE_TLS = " before TLS";

/** The reserved IP's stand-in: the droplet address clients connect to. */
export class FrontAddress {
  constructor(
    private current: string,
    private readonly ca: string[],
  ) {}

  get address(): string {
    return this.current;
  }

  /** The reserved IP's reassignment: new connections go to `host`. */
  moveTo(host: string): void {
    this.current = host;
  }

  request(method: string, pathName: string, timeoutMs: number): Promise<HttpResult> {
    return frontRequest(this.current, this.ca, method, pathName, timeoutMs);
  }
}

/** Caddy's view of its upstreams (admin API): address, requests in flight, recent failures. */
export async function caddyUpstreams(
  admin: string,
): Promise<Array<{ address: string; num_requests: number; fails: number }>> {
  const res = await fetch(`http://${admin}/reverse_proxy/upstreams`);
  return (await res.json()) as Array<{ address: string; num_requests: number; fails: number }>;
}

/** Wait until Caddy's admin API answers (after a restart). */
export async function waitForAdmin(admin: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    `caddy admin ${admin}`,
    async () => (await fetch(`http://${admin}/config/`).catch(() => undefined))?.ok === true,
    timeoutMs,
  );
}
