/**
 * The app droplets' rendered files checked by their real consumers: cloud-init, docker-compose, caddy and
 * shellcheck (Debian packages). Every app droplet size gets its own files.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderAppNodeSecretFiles } from "../../infra/render/app-node";
import { appDropletSizes, planScaleOut, type ScaleOutInput } from "../../infra/scale-out";
import { DEV_INPUT } from "../scale-out/input";
import { caddyWithMounts } from "../support/caddy";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const BASE: ScaleOutInput = { ...DEV_INPUT, healthPath: "/health", appCount: 2, appDropletSize: "s-2vcpu-4gb", dbSize: "db-s-16vcpu-64gb", valkeySize: "db-s-1vcpu-1gb" };

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
  for (const f of [...plan.app.configFiles, ...renderAppNodeSecretFiles({ databaseUrl: "postgresql://chatbot:x@private-db:25061/chatbot-pool?sslmode=require", redisUrl: "rediss://default:y@private-cache:25061" }, 8090)]) {
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
    expect(tool("caddy", ["validate", "--config", broken, "--adapter", "caddyfile"], { env: { HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir } }).status).not.toBe(0);
  });

  it("apply-app-node.sh passes shellcheck", () => {
    const r = tool("shellcheck", ["-S", "style", join(dir, "bin/apply-app-node.sh")]);
    expect(r.out).toBe("");
    expect(r.status).toBe(0);
  });
});
