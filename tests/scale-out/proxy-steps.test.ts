/**
 * logical.sh's proxy steps on a droplet (container runtime), with proxy-switch.sh following the script on stdin as
 * the runner sends them: `unfence` puts the rendered Caddyfile back (public site to the local app, internal listener
 * open) and reloads Caddy through docker compose, or, when the switch already opened the internal listener towards
 * the app droplets, refuses with exit 7 and touches nothing. A stand-in `docker` on PATH records the calls (no engine
 * runs here); `caddy validate` checks the files. The steps against a real Caddy: tests/scale-out/logical-cutover.test.ts.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { PROXY_SCRIPT } from "../../infra/migration/commands";
import { renderCaddyfile } from "../../infra/render/caddyfile";
import { LOGICAL_SCRIPT } from "../../infra/scale-out-migration/commands";

const dir = mkdtempSync(join(tmpdir(), "scale-out-proxy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RENDERED = renderCaddyfile({ domain: "chat.example.com", acmeEmail: "ops@example.com", upstream: "app:8090", healthPath: "/health", hstsMaxAgeSeconds: 31536000 });
const closed = (text: string) => text.replace(/^http:\/\/:8081 \{\n\treverse_proxy (.*)\n\}$/m, "#gate-closed# http://:8081 {\n#gate-closed# \treverse_proxy $1\n#gate-closed# }");
const held = (text: string) => text.replace(/\treverse_proxy app:8090 \{\n(\t\t.*\n)*\t\}/, "\treverse_proxy localhost:8081 {\n\t\tlb_try_duration 60s\n\t\tlb_try_interval 100ms\n\t}");

function droplet(caddyfile: string, serving?: string) {
  const config = join(dir, `etc-${Math.random().toString(16).slice(2)}`);
  const bin = join(config, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(config, "Caddyfile"), caddyfile);
  if (serving !== undefined) writeFileSync(join(config, "Caddyfile.serving"), serving);
  writeFileSync(join(config, "app.env"), "POSTGRES_PASSWORD=x\nREPLICATION_PASSWORD=y\nREDIS_PASSWORD=z\n", { mode: 0o600 });
  writeFileSync(join(config, "target.env"), "TARGET_PGHOST='db'\nTARGET_PGPORT='25060'\nTARGET_PGUSER='doadmin'\nTARGET_PGDATABASE='chatbot'\n", { mode: 0o600 });
  writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "$*" >> '${join(config, "docker.log")}'\n`);
  chmodSync(join(bin, "docker"), 0o755);
  const run = (...args: string[]) =>
    spawnSync("bash", ["-s", "--", ...args], {
      input: Buffer.concat([readFileSync(LOGICAL_SCRIPT), readFileSync(PROXY_SCRIPT)]),
      encoding: "utf8",
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        CHATBOT_RUNTIME: "container",
        CHATBOT_ENV_FILE: join(config, "app.env"),
        CHATBOT_TARGET_ENV_FILE: join(config, "target.env"),
        CONFIG_DIR: config,
        CHATBOT_COMPOSE_FILE: join(config, "compose.yaml"),
      },
    });
  const calls = () => (existsSync(join(config, "docker.log")) ? readFileSync(join(config, "docker.log"), "utf8") : "");
  return { config, run, calls, caddyfile: () => readFileSync(join(config, "Caddyfile"), "utf8") };
}

function validate(config: string): string {
  const v = spawnSync("caddy", ["validate", "--config", join(config, "Caddyfile"), "--adapter", "caddyfile"], { encoding: "utf8", env: { ...process.env, HOME: config, XDG_DATA_HOME: config, XDG_CONFIG_HOME: config } });
  return `${v.stdout}${v.stderr}`;
}

describe("logical.sh unfence (rollback) on a droplet", () => {
  it("held and fenced: the source writable, then the rendered Caddyfile back and the internal listener open", () => {
    const d = droplet(held(closed(RENDERED)), closed(RENDERED));
    expect(validate(d.config)).toContain("Valid configuration");
    const r = d.run("unfence");
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("unfenced=1\n");
    expect(r.stdout).toContain("gate=open\n");
    expect(d.caddyfile()).toBe(RENDERED);
    expect(existsSync(join(d.config, "Caddyfile.serving"))).toBe(false);
    const calls = d.calls().split("\n");
    // The database first (psql in the postgres container), then two reloads (local, gate open).
    expect(calls[0]).toMatch(/exec -T -u postgres .* postgres psql .*ALTER DATABASE chatbot RESET default_transaction_read_only/);
    expect(calls.filter((c) => c.includes("exec -T proxy caddy reload"))).toHaveLength(2);
  });

  it("switched (the internal listener open towards the app droplets): exit 7, nothing touched", () => {
    const switched = held(RENDERED).replace("\treverse_proxy app:8090\n}", "\treverse_proxy 10.10.0.7:80 10.10.0.8:80 {\n\t\tlb_try_duration 5s\n\t}\n}");
    const d = droplet(switched, closed(RENDERED));
    expect(validate(d.config)).toContain("Valid configuration");
    const r = d.run("unfence");
    expect(r.status).toBe(7);
    expect(r.stdout).toBe("switched=1\n");
    expect(r.stderr).toMatch(/already forwards to 10.10.0.7:80 10.10.0.8:80: committed/);
    expect(d.caddyfile()).toBe(switched);
    expect(d.calls()).toBe("");
  });

  it("never held: the source writable, the Caddyfile unchanged and not reloaded", () => {
    const d = droplet(RENDERED);
    const r = d.run("unfence");
    expect(r.status).toBe(0);
    expect(d.caddyfile()).toBe(RENDERED);
    expect(d.calls()).not.toContain("caddy reload");
  });

  it("refuses a switch to an upstream that is not host:port, touching nothing", () => {
    const d = droplet(held(closed(RENDERED)), closed(RENDERED));
    const r = d.run("switch", "c1", "30", "10.10.0.7:80", "evil; rm -rf /");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/upstream must be host:port/);
    expect(d.calls()).toBe("");
  });
});
