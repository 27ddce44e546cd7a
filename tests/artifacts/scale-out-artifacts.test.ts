/**
 * The app droplets' rendered files checked by their real consumers: cloud-init, docker-compose, caddy and
 * shellcheck (Debian packages). Every app droplet size gets its own files.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FAKE_DATABASE_CA } from "../../infra/offline/fake-cloud";
import { renderAppNodeSecretFiles } from "../../infra/render/app-node";
import { appDropletSizes, planScaleOut, type ScaleOutInput } from "../../infra/scale-out";
import { DEV_INPUT } from "../scale-out/input";
import { caddyWithMounts } from "../support/caddy";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const BASE: ScaleOutInput = {
  ...DEV_INPUT,
  healthPath: "/health",
  appCount: 2,
  appDropletSize: "s-2vcpu-4gb",
  dbSize: "db-s-16vcpu-64gb",
  valkeySize: "db-s-1vcpu-1gb",
};

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "scale-out-artifacts-"));
  dirs.push(d);
  return d;
}

function tool(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, encoding: "utf8" });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/** The files exactly as the config sync writes them into /etc/chatbot, plus a fake app.env. */
function writeConfigDir(size: string): { dir: string; plan: ReturnType<typeof planScaleOut> } {
  const plan = planScaleOut({ ...BASE, appDropletSize: size });
  const dir = tempDir();
  for (const f of [
    ...plan.app.configFiles,
    ...renderAppNodeSecretFiles(
      {
        databaseUrl: "postgresql://chatbot:x@private-db:25061/chatbot-pool?sslmode=require",
        redisUrl: "rediss://default:y@private-cache:25061",
        postgresCa: FAKE_DATABASE_CA,
      },
      8090,
    ),
  ]) {
    mkdirSync(join(dir, f.path, ".."), { recursive: true });
    writeFileSync(join(dir, f.path), f.content, { mode: parseInt(f.mode, 8) });
  }
  mkdirSync(join(dir, "state"));
  return { dir, plan };
}

describe.each(appDropletSizes())("app droplet files for %s", (size) => {
  const { dir, plan } = writeConfigDir(size);

  it("user data passes `cloud-init schema`", () => {
    writeFileSync(join(dir, "user-data.yaml"), plan.app.userData);
    const r = tool("cloud-init", ["schema", "--config-file", join(dir, "user-data.yaml")]);
    expect(r.out).toContain("Valid cloud-config");
    expect(r.status).toBe(0);
  });

  it("compose.yaml passes `docker-compose config` with only the app and the proxy, at the planned limits", () => {
    const r = tool("docker-compose", ["-f", join(dir, "compose.yaml"), "config"], { cwd: dir });
    expect(r.out).not.toMatch(/error|invalid/i);
    expect(r.status).toBe(0);
    const services = tool("docker-compose", ["-f", join(dir, "compose.yaml"), "config", "--services"], { cwd: dir });
    expect(services.out.trim().split("\n").sort()).toEqual(["app", "proxy"]);
    expect(r.out).toContain(`WEB_CONCURRENCY: '${plan.app.workers}'`);
    expect(r.out).toMatch(new RegExp(`mem_limit: '?${plan.app.memory.appMiB}m`));
    // The secrets come from app.env, never from the compose file itself.
    expect(readdirSync(dir)).toContain("app.env");
    expect(r.out).toContain("DATABASE_URL: postgresql://chatbot:x@private-db");
  });
});

describe("app droplet proxy and apply script", () => {
  const { dir } = writeConfigDir("s-2vcpu-4gb");

  it("the Caddyfile passes `caddy validate`", () => {
    const r = caddyWithMounts("validate", join(dir, "Caddyfile"));
    expect(`${r.stdout}${r.stderr}`).toContain("Valid configuration");
    expect(r.status).toBe(0);
  });

  it("the Caddyfile fails validation when broken (the check can fail)", () => {
    const broken = join(dir, "Caddyfile.broken");
    writeFileSync(broken, ":80 {\n\treverse_proxy {\n");
    expect(
      tool("caddy", ["validate", "--config", broken, "--adapter", "caddyfile"], {
        env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir },
      }).status,
    ).not.toBe(0);
  });

  it("apply-app-node.sh passes shellcheck", () => {
    const r = tool("shellcheck", ["-S", "style", join(dir, "bin/apply-app-node.sh")]);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });

  it("apply-app-node.sh makes the internal listener's certificate the first time (key 0600), keeps it after, and reloads Caddy for a new one", () => {
    // The config sync's way: the files staged in .incoming, the script run from there; a `docker` that logs its
    // calls (no engine here: `ps` finds no running app, the health check answers).
    const { dir: etc, plan } = writeConfigDir("s-2vcpu-4gb");
    const incoming = join(etc, ".incoming");
    const stage = () => {
      for (const f of [
        ...plan.app.configFiles,
        ...renderAppNodeSecretFiles(
          { databaseUrl: "postgresql://x", redisUrl: "rediss://y", postgresCa: FAKE_DATABASE_CA },
          8090,
        ),
      ]) {
        mkdirSync(join(incoming, f.path, ".."), { recursive: true });
        writeFileSync(join(incoming, f.path), f.content, { mode: parseInt(f.mode, 8) });
      }
    };
    const bin = join(etc, "fake-bin");
    mkdirSync(bin);
    writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "docker $*" >> '${join(etc, "docker.log")}'\n`, {
      mode: 0o755,
    });
    // cloud-init has finished on a droplet by the time the config syncs; here it never ran (`status --wait` would wait).
    writeFileSync(join(bin, "cloud-init"), "#!/bin/sh\nexit 0\n", { mode: 0o755 });
    const tls = join(etc, "tls-proxy");
    const apply = () => {
      writeFileSync(join(etc, "docker.log"), "");
      stage();
      const r = tool("bash", [join(incoming, "bin/apply-app-node.sh")], {
        env: { PATH: `${bin}:${process.env.PATH}`, CONFIG_DIR: etc, PROXY_TLS_DIR: tls, DRAIN_SECONDS: "0" },
      });
      return { ...r, calls: readFileSync(join(etc, "docker.log"), "utf8") };
    };
    const first = apply();
    expect(first.status, first.out).toBe(0);
    expect(first.out).toContain("TLS certificate for the proxy: created");
    expect(statSync(join(tls, "server.key")).mode & 0o777).toBe(0o600);
    const cert = readFileSync(join(tls, "server.crt"), "utf8");
    expect(tool("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", join(tls, "server.crt")]).out).toContain(
      "DNS:proxy",
    );

    const again = apply();
    expect(again.status, again.out).toBe(0);
    expect(again.out).not.toContain("TLS certificate");
    expect(again.calls).not.toContain("caddy reload");
    expect(readFileSync(join(tls, "server.crt"), "utf8")).toBe(cert);

    rmSync(join(tls, "server.key"));
    const renewed = apply();
    expect(renewed.status, renewed.out).toBe(0);
    expect(renewed.out).toContain("TLS certificate for the proxy: created");
    expect(renewed.calls).toMatch(/exec -T proxy caddy reload --config \/etc\/caddy\/Caddyfile/);
  });
});
