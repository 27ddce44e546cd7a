/**
 * logical.sh `traffic`, the production traffic switch: the droplet's rendered Caddyfile is rewritten in place to
 * forward the site to the app droplets, the result passes `caddy validate`, and Caddy is reloaded through docker
 * compose (a stand-in `docker` on PATH records the call: no engine runs here).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderCaddyfile } from "../../infra/render/caddyfile";
import { LOGICAL_SCRIPT } from "../../infra/scale-out-migration/commands";

const dir = mkdtempSync(join(tmpdir(), "scale-out-traffic-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function setup() {
  const config = join(dir, `etc-${Math.random().toString(16).slice(2)}`);
  const bin = join(config, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(config, "Caddyfile"), renderCaddyfile({ domain: "chat.example.com", acmeEmail: "ops@example.com", upstream: "app:8090", healthPath: "/health", hstsMaxAgeSeconds: 31536000 }));
  writeFileSync(join(config, "app.env"), "POSTGRES_PASSWORD=x\nREPLICATION_PASSWORD=y\nREDIS_PASSWORD=z\n", { mode: 0o600 });
  writeFileSync(join(config, "target.env"), "TARGET_PGHOST='db'\nTARGET_PGPORT='25060'\nTARGET_PGUSER='doadmin'\nTARGET_PGDATABASE='chatbot'\n", { mode: 0o600 });
  writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "$*" >> '${join(config, "docker.log")}'\n`);
  chmodSync(join(bin, "docker"), 0o755);
  const run = (...args: string[]) =>
    spawnSync("bash", ["-s", "--", "traffic", ...args], {
      input: readFileSync(LOGICAL_SCRIPT),
      encoding: "utf8",
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        CHATBOT_RUNTIME: "container",
        CHATBOT_ENV_FILE: join(config, "app.env"),
        CHATBOT_TARGET_ENV_FILE: join(config, "target.env"),
        CHATBOT_CONFIG_DIR: config,
        CHATBOT_COMPOSE_FILE: join(config, "compose.yaml"),
      },
    });
  return { config, run };
}

describe("logical.sh traffic", () => {
  it("points the public site at the app droplets, in place, and reloads Caddy", () => {
    const { config, run } = setup();
    const inode = statSync(join(config, "Caddyfile")).ino;
    const r = run("10.10.0.7:80", "10.10.0.8:80");
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("upstreams=10.10.0.7:80 10.10.0.8:80\n");
    const caddyfile = readFileSync(join(config, "Caddyfile"), "utf8");
    expect(caddyfile).toContain("\treverse_proxy 10.10.0.7:80 10.10.0.8:80 {\n\t\thealth_uri /health");
    // The internal listener still serves the local app.
    expect(caddyfile).toContain("\treverse_proxy app:8090\n");
    expect(statSync(join(config, "Caddyfile")).ino).toBe(inode);
    expect(readFileSync(join(config, "docker.log"), "utf8")).toContain("exec -T proxy caddy reload --config /etc/caddy/Caddyfile --adapter caddyfile");
    const v = spawnSync("caddy", ["validate", "--config", join(config, "Caddyfile"), "--adapter", "caddyfile"], { encoding: "utf8", env: { ...process.env, HOME: config, XDG_DATA_HOME: config, XDG_CONFIG_HOME: config } });
    expect(`${v.stdout}${v.stderr}`).toContain("Valid configuration");
  });

  it("refuses an upstream that is not host:port and leaves the Caddyfile alone", () => {
    const { config, run } = setup();
    const before = readFileSync(join(config, "Caddyfile"), "utf8");
    const r = run("10.10.0.7:80", "evil; rm -rf /");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/upstream must be host:port/);
    expect(readFileSync(join(config, "Caddyfile"), "utf8")).toBe(before);
  });
});
