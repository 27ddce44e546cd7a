/**
 * appEnv values and the Strict-Transport-Security header, through their real consumers.
 *
 *   - Compose: the rendered compose files (single droplet and scale-out app droplet) pass `docker-compose config`
 *     (v1.29 here), and Compose's own loader, the one `config` and `up` use, hands the app every appEnv value
 *     verbatim, `$` included.
 *   - Caddy: the rendered Caddyfiles pass `caddy validate`; `caddy adapt` shows the header on the public site only;
 *     a real Caddy running the public site block in front of a real upstream sends exactly one header with the
 *     planned max-age, replacing the app's own.
 */
import { spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { planStack } from "../../infra/plan";
import { FAKE_DATABASE_CA } from "../../infra/offline/fake-cloud";
import { renderAppNodeSecretFiles } from "../../infra/render/app-node";
import { planScaleOut } from "../../infra/scale-out";
import { composeEnvironment } from "../support/compose";
import { sampleConfig } from "../support/sample-config";
import { freePort, makeTempDir, type ManagedProcess, startProcess } from "../support/servers";
import { DEV_INPUT } from "../scale-out/input";
import { caddyWithMounts } from "../support/caddy";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = makeTempDir("app-env-hsts");
  dirs.push(d);
  return d;
};

function tool(cmd: string, args: string[], cwd?: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}`, stdout: r.stdout };
}

// Values Compose would read as interpolation: a required variable, a variable, `$$`, a lone `$`, an unclosed `${`.
const HOSTILE_ENV = [
  "REQUIRED=a${X:?boom}b",
  "GREETING=it$sme",
  "DOUBLE=$$",
  "PRICE=100$",
  "OPEN=${",
  "PLAIN=hello world",
];
const expected = Object.fromEntries(HOSTILE_ENV.map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)]));

describe("appEnv values reach the app verbatim through Compose", () => {
  it("single droplet: docker-compose config accepts the file, with no interpolation warning, and the loader yields each value as written", () => {
    const plan = planStack(sampleConfig({ appEnv: HOSTILE_ENV }));
    const dir = tempDir();
    writeFileSync(join(dir, "compose.yaml"), plan.active!.configFiles.find((f) => f.path === "compose.yaml")!.content);
    writeFileSync(join(dir, "app.env"), "POSTGRES_PASSWORD=x\n");
    writeFileSync(join(dir, ".env"), "CHATBOT_PRIVATE_IP=10.10.0.5\n");
    const r = tool("docker-compose", ["-f", "compose.yaml", "--project-directory", ".", "config"], dir);
    expect(r.status, r.out).toBe(0);
    expect(r.out).not.toMatch(/variable is not set|Invalid interpolation/);
    expect(composeEnvironment(dir, "app")).toMatchObject(expected);
  });

  it("scale-out app droplet: the same", () => {
    const plan = planScaleOut({
      ...DEV_INPUT,
      appCount: 2,
      appDropletSize: "s-2vcpu-4gb",
      dbSize: "db-s-16vcpu-64gb",
      appEnv: HOSTILE_ENV,
    });
    const dir = tempDir();
    for (const f of [
      ...plan.app.configFiles.filter((x) => x.path === "compose.yaml"),
      ...renderAppNodeSecretFiles(
        {
          databaseUrl: "postgresql://u:p@db:25061/pool",
          redisUrl: "rediss://default:p@cache:25061",
          postgresCa: FAKE_DATABASE_CA,
        },
        8090,
      ),
    ]) {
      writeFileSync(join(dir, f.path), f.content);
    }
    const r = tool("docker-compose", ["-f", "compose.yaml", "--project-directory", ".", "config"], dir);
    expect(r.status, r.out).toBe(0);
    expect(r.out).not.toMatch(/variable is not set|Invalid interpolation/);
    expect(composeEnvironment(dir, "app")).toMatchObject(expected);
  });

  it("the check can fail: an unescaped value is refused or loses its tail", () => {
    const dir = tempDir();
    const raw = (value: string) =>
      `services:\n  app:\n    image: busybox:1\n    environment:\n      V: ${JSON.stringify(value)}\n`;
    writeFileSync(join(dir, "compose.yaml"), raw("a${X:?boom}b"));
    expect(tool("docker-compose", ["-f", "compose.yaml", "config"], dir)).toMatchObject({
      status: 1,
      out: expect.stringContaining("boom"),
    });
    writeFileSync(join(dir, "compose.yaml"), raw("it$sme"));
    expect(composeEnvironment(dir, "app")).toEqual({ V: "it" });
  });
});

function siteBlock(caddyfile: string, opener: string): string[] {
  const lines = caddyfile.split("\n");
  const start = lines.indexOf(opener);
  expect(start, caddyfile).toBeGreaterThanOrEqual(0);
  return lines.slice(start + 1, lines.indexOf("}", start));
}

describe("Strict-Transport-Security", () => {
  const caddyfileOf = (hsts?: string) =>
    planStack(sampleConfig(hsts === undefined ? {} : { hstsMaxAgeSeconds: hsts })).active!.configFiles.find(
      (f) => f.path === "Caddyfile",
    )!.content;

  it.each([
    ["the default", "max-age=31536000", undefined],
    ["0 (clears it in browsers)", "max-age=0", "0"],
    ["two years", "max-age=63072000", "63072000"],
  ])("%s: the Caddyfile passes caddy validate and sets %s on the public site only", (_what, value, hsts) => {
    const dir = tempDir();
    const file = join(dir, "Caddyfile");
    writeFileSync(file, caddyfileOf(hsts));
    const check = caddyWithMounts("validate", file);
    expect(`${check.stdout}${check.stderr}`).toContain("Valid configuration");
    const adapted = caddyWithMounts("adapt", file);
    expect(adapted.status, adapted.stderr).toBe(0);
    const json = JSON.parse(adapted.stdout) as { apps: { http: { servers: Record<string, { listen: string[] }> } } };
    const servers = Object.values(json.apps.http.servers);
    const publicSite = JSON.stringify(servers.find((s) => s.listen.includes(":443")));
    const internal = JSON.stringify(servers.find((s) => s.listen.includes(":8081")));
    expect(publicSite).toContain(`"Strict-Transport-Security":["${value}"]`);
    expect(publicSite).toContain('"deferred":true');
    expect(internal).not.toContain("Strict-Transport-Security");
  });

  it("the scale-out app droplets' Caddyfile passes caddy validate and sets the header", () => {
    const plan = planScaleOut({
      ...DEV_INPUT,
      appCount: 2,
      appDropletSize: "s-2vcpu-4gb",
      dbSize: "db-s-16vcpu-64gb",
      hstsMaxAgeSeconds: 600,
    });
    const dir = tempDir();
    const file = join(dir, "Caddyfile");
    writeFileSync(file, plan.app.configFiles.find((f) => f.path === "Caddyfile")!.content);
    const check = caddyWithMounts("validate", file);
    expect(`${check.stdout}${check.stderr}`).toContain("Valid configuration");
    expect(caddyWithMounts("adapt", file).stdout).toContain('"Strict-Transport-Security":["max-age=600"]');
  });

  describe("a real Caddy with the rendered public site block", () => {
    let upstream: Server;
    const caddys: ManagedProcess[] = [];
    let port: number;
    let controlPort: number;

    /** Caddy serving `body` as a plain-HTTP site on a loopback port. */
    async function startCaddy(name: string, body: string[], at: number): Promise<void> {
      const dir = tempDir();
      const file = join(dir, "Caddyfile");
      writeFileSync(
        file,
        ["{", "\tadmin off", "\tauto_https off", "}", `http://127.0.0.1:${at} {`, ...body, "}", ""].join("\n"),
      );
      caddys.push(
        await startProcess({
          name,
          cmd: "caddy",
          args: ["run", "--config", file, "--adapter", "caddyfile"],
          env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
          ready: async () => (await get(at, "/").catch(() => undefined)) !== undefined,
        }),
      );
    }

    beforeAll(async () => {
      // The app sends its own, weaker header: the proxy's must replace it, not add a second one.
      upstream = createServer((req, res) => {
        res.setHeader("Strict-Transport-Security", "max-age=5");
        res.end(req.url === "/health" ? "ok" : "hello");
      });
      await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
      const upstreamPort = (upstream.address() as AddressInfo).port;
      const body = siteBlock(caddyfileOf(), "chat.example.com {").map((l) =>
        l.replace(/^\treverse_proxy app:8090 \{$/, `\treverse_proxy 127.0.0.1:${upstreamPort} {`),
      );
      expect(body.join("\n")).toContain(`reverse_proxy 127.0.0.1:${upstreamPort} {`);
      port = await freePort("127.0.0.1");
      await startCaddy("caddy-hsts", body, port);
      // Negative control: the same block without `defer` (the header set before the proxy copies the app's).
      expect(body.filter((l) => l === "\t\tdefer")).toHaveLength(1);
      controlPort = await freePort("127.0.0.1");
      await startCaddy(
        "caddy-hsts-control",
        body.filter((l) => l !== "\t\tdefer"),
        controlPort,
      );
    });

    afterAll(async () => {
      for (const c of caddys) await c.stop();
      upstream?.close();
    });

    function get(at: number, path: string): Promise<{ status: number; hsts: string[] }> {
      return new Promise((resolve, reject) => {
        const req = request({ host: "127.0.0.1", port: at, path }, (res) => {
          res.resume();
          const raw = res.rawHeaders
            .filter((_, i) => i % 2 === 0)
            .map((name, i) => [name, res.rawHeaders[i * 2 + 1]!] as const);
          resolve({
            status: res.statusCode ?? 0,
            hsts: raw.filter(([n]) => n.toLowerCase() === "strict-transport-security").map(([, v]) => v),
          });
        });
        req.on("error", reject);
        req.end();
      });
    }

    it("sends exactly one Strict-Transport-Security header, the planned one, on proxied responses", async () => {
      expect(await get(port, "/")).toEqual({ status: 200, hsts: ["max-age=31536000"] });
      expect(await get(port, "/anything")).toEqual({ status: 200, hsts: ["max-age=31536000"] });
    });

    it("the check can fail: without defer, the app's header comes too (two headers, a browser reads the first)", async () => {
      expect((await get(controlPort, "/")).hsts.sort()).toEqual(["max-age=31536000", "max-age=5"]);
    });
  });
});
