/**
 * Reloading the droplet's Caddy while it serves (the migration's hold, a config sync that changes the Caddyfile, a
 * rollback putting the public site back) must not fail requests. Two causes were found and removed: a health-checked
 * site answered its own 503 ("no upstreams available", empty body) right after a reload (the rendered public site
 * has no active health check now), and a reload closing a SO_REUSEPORT listening socket reset the connections queued
 * on it (the proxy container sets net.ipv4.tcp_migrate_req, PROXY_SYSCTLS; the harness sets it in its namespace).
 * The real caddy binary, the rendered Caddyfile, HTTPS clients that never retry.
 */
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import type { AddressInfo } from "node:net";
import * as path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { INTERNAL_TLS_NAME, NO_ACTIVE_HEALTH_CHECK, PROXY_SYSCTLS } from "../../infra/render/caddyfile";
import { makeTempDir, makeTlsCert, run } from "../support/processes";
import { runningServers } from "../support/servers";
import { type DropletCaddy, type HttpResult, frontRequest, startCaddy } from "./front-door";
import { OLD_HOST } from "./harness";

const TIMEOUT = 240_000;
/** An address of the harness's network no harness droplet uses (.2 and .3 are the droplets). */
const HOST = OLD_HOST.replace(/\.2$/, ".9");
/** What the public site's block held before: the active health check. */
const HEALTH_CHECK = "\t\thealth_uri /health\n\t\thealth_interval 10s";

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

async function start(): Promise<{ caddy: DropletCaddy }> {
  const app = http.createServer((_req, res) => res.end('{"ok":true}'));
  await new Promise<void>((resolve) => app.listen(0, HOST, resolve));
  cleanup.push(() => new Promise((resolve) => app.close(() => resolve())));
  const dir = makeTempDir("reload-health");
  const tls = path.join(dir, "tls");
  await makeTlsCert(tls, os.userInfo().username, INTERNAL_TLS_NAME);
  const caddy = await startCaddy("reload-health", HOST, (app.address() as AddressInfo).port, dir, tls);
  cleanup.push(async () => {
    await caddy.process.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return { caddy };
}

const reload = (caddy: DropletCaddy) =>
  run("caddy", ["reload", "--config", caddy.caddyfile, "--adapter", "caddyfile", "--address", caddy.admin, "--force"]);

/** Clients sending GETs (a new connection each) until `until` resolves; every answer kept in `results`. */
async function underLoad(
  caddy: DropletCaddy,
  results: HttpResult[],
  until: () => Promise<void>,
): Promise<HttpResult[]> {
  let stop = false;
  const worker = async () => {
    while (!stop) results.push(await frontRequest(HOST, [caddy.rootCert], "GET", "/chat", 10_000));
  };
  const workers = Array.from({ length: 8 }, worker);
  try {
    await until();
  } finally {
    stop = true;
    await Promise.all(workers);
  }
  return results;
}

describe("reloading the droplet's Caddy while it serves", () => {
  it("the rendered public site (no active health check) and the proxy's sysctls: no Caddy 503 and no reset during 40 reloads", {
    timeout: TIMEOUT,
  }, async () => {
    const { caddy } = await start();
    expect(fs.readFileSync(caddy.caddyfile, "utf8")).toContain(NO_ACTIVE_HEALTH_CHECK.join("\n"));
    // As the compose file sets it in the proxy container (the harness's namespace here): a reload closing a
    // listening socket hands its queued connections over instead of resetting them.
    expect(fs.readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim()).toBe(
      String(PROXY_SYSCTLS["net.ipv4.tcp_migrate_req"]),
    );
    const results = await underLoad(caddy, [], async () => {
      for (let i = 0; i < 40; i++) await reload(caddy);
    });
    expect(results.length).toBeGreaterThan(40);
    // The two causes removed. What remains (known gap, docs/migration.md): a rare TLS handshake failure during a reload (EPROTO
    // before TLS, about one in 400 reloads here), printed, not asserted away.
    expect(results.filter((r) => r.status === 503 || (r.status === 0 && /ECONNRESET/.test(r.error ?? "")))).toEqual([]);
    const other = results.filter((r) => r.status !== 200 && r.status !== 503 && !/ECONNRESET/.test(r.error ?? ""));
    if (other.length)
      console.log(
        `reloads: ${other.length} other failures: ${[...new Set(other.map((r) => r.error ?? r.status))].join(", ")}`,
      );
    expect(other.every((r) => r.status === 0 && / before TLS$/.test(r.error ?? ""))).toBe(true); // never sent: not applied
  });

  it("negative control, the health check put back: Caddy answers its own 503 after a reload", {
    timeout: TIMEOUT,
  }, async () => {
    const { caddy } = await start();
    const rendered = fs.readFileSync(caddy.caddyfile, "utf8");
    fs.writeFileSync(caddy.caddyfile, rendered.replace(NO_ACTIVE_HEALTH_CHECK.join("\n"), HEALTH_CHECK));
    await reload(caddy);
    let seen = false;
    const results: HttpResult[] = [];
    await underLoad(caddy, results, async () => {
      // Until a 503 comes back, at most 300 reloads (about 2 per reload were seen with 48 clients).
      for (let i = 0; i < 300 && !seen; i++) {
        await reload(caddy);
        seen = results.some((r) => r.status === 503);
      }
    });
    const own = results.filter((r) => r.status === 503);
    expect(own.length).toBeGreaterThan(0);
    expect(own.every((r) => r.body === "")).toBe(true); // Caddy's own answer, not the app's
  });

  it("leaves no server running", () => {
    expect(runningServers()).toEqual([]);
  });
});
