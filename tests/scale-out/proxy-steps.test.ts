/**
 * logical.sh's proxy steps on a droplet (container runtime), with proxy-switch.sh following the script on stdin as
 * the runner sends them: `unfence` puts the rendered Caddyfile back (public site to the local app) and reloads Caddy
 * through docker compose, or, when the switch already wrote its commit record, refuses with exit 7 and touches
 * nothing. And the app droplets' gate: proxy-switch.sh `gate close|open` on the rendered app-droplet Caddyfile. A
 * stand-in `docker` on PATH records the calls (no engine runs here); `caddy validate` checks the files. The steps
 * against a real Caddy: tests/scale-out/logical-cutover.test.ts.
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { renderAppNodeCaddyfile } from "../../infra/render/app-node";
import { INTERNAL_TLS_DIR, INTERNAL_TLS_NAME, renderCaddyfile } from "../../infra/render/caddyfile";
import { scriptText } from "../../infra/migration/steps";
import { caddyWithMounts, proxyTlsDir } from "../support/caddy";

const dir = mkdtempSync(join(tmpdir(), "scale-out-proxy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RENDERED = renderCaddyfile({
  domain: "chat.example.com",
  acmeEmail: "ops@example.com",
  upstream: "app:8090",
  hstsMaxAgeSeconds: 31536000,
});
const APP_NODE = renderAppNodeCaddyfile({ appPort: 8090, healthPath: "/health", hstsMaxAgeSeconds: 31536000 });
/** The internal listener's block, every line marked (proxy-switch.sh gate close). */
const closed = (text: string) =>
  text.replace(/^https:\/\/:8081 \{\n(?:\t.*\n)*\}$/m, (block) => block.replace(/^/gm, "#gate-closed# "));
/** The droplet's public site held towards the app droplets' internal listeners over TLS (proxy-switch.sh hold). */
const held = (text: string) =>
  text.replace(
    /\treverse_proxy app:8090 \{\n(\t\t.*\n)*\t\}/,
    `\treverse_proxy 10.10.0.7:8081 10.10.0.8:8081 {\n\t\tlb_try_duration 60s\n\t\tlb_try_interval 50ms\n\t\ttransport http {\n\t\t\ttls\n\t\t\ttls_trusted_ca_certs ${INTERNAL_TLS_DIR}/peers.crt\n\t\t\ttls_server_name ${INTERNAL_TLS_NAME}\n\t\t}\n\t}`,
  );

function droplet(caddyfile: string, serving?: string) {
  const config = join(dir, `etc-${Math.random().toString(16).slice(2)}`);
  const bin = join(config, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(config, "Caddyfile"), caddyfile);
  if (serving !== undefined) writeFileSync(join(config, "Caddyfile.serving"), serving);
  writeFileSync(join(config, "app.env"), "POSTGRES_PASSWORD=x\nREPLICATION_PASSWORD=y\nREDIS_PASSWORD=z\n", {
    mode: 0o600,
  });
  writeFileSync(
    join(config, "target.env"),
    [
      "TARGET_PGHOST='db'",
      "TARGET_PGPORT='25060'",
      "TARGET_PGUSER='doadmin'",
      "TARGET_PGDATABASE='chatbot'",
      "TARGET_PGSSLMODE='verify-ca'",
      "TARGET_PGSSLROOTCERT='/etc/postgresql/tls/managed-pg-ca.crt'",
      "",
    ].join("\n"),
    { mode: 0o600 },
  );
  writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "$*" >> '${join(config, "docker.log")}'\n`);
  chmodSync(join(bin, "docker"), 0o755);
  // The proxy's certificate directory (/var/lib/chatbot/tls/proxy): its own certificate and a trusted peer.
  const tls = proxyTlsDir(config);
  const run = (...args: string[]) =>
    spawnSync("bash", ["-s", "--", ...args], {
      input: scriptText("logical") + scriptText("proxy"),
      encoding: "utf8",
      env: {
        PATH: `${bin}:${process.env.PATH}`,
        CHATBOT_ENV_FILE: join(config, "app.env"),
        CHATBOT_TARGET_ENV_FILE: join(config, "target.env"),
        CONFIG_DIR: config,
        CHATBOT_COMPOSE_FILE: join(config, "compose.yaml"),
        CHATBOT_PROXY_TLS_DIR_HOST: tls,
      },
    });
  const calls = () => (existsSync(join(config, "docker.log")) ? readFileSync(join(config, "docker.log"), "utf8") : "");
  return { config, tls, run, calls, caddyfile: () => readFileSync(join(config, "Caddyfile"), "utf8") };
}

function validate(config: string): string {
  const v = caddyWithMounts("validate", join(config, "Caddyfile"));
  return `${v.stdout}${v.stderr}`;
}

describe("logical.sh unfence (rollback) on a droplet", () => {
  it("held and fenced: the source writable, then the rendered Caddyfile back", () => {
    const d = droplet(held(RENDERED), RENDERED);
    expect(validate(d.config)).toContain("Valid configuration");
    const r = d.run("unfence");
    expect(r.stderr).not.toMatch(/ERROR/);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("unfenced=1\n");
    expect(r.stdout).toContain("changed=1\n");
    expect(d.caddyfile()).toBe(RENDERED);
    expect(existsSync(join(d.config, "Caddyfile.serving"))).toBe(false);
    const calls = d.calls().split("\n");
    // The database first (psql in the postgres container), then one reload (local).
    expect(calls[0]).toMatch(
      /exec -T -u postgres .* postgres psql .*ALTER DATABASE chatbot RESET default_transaction_read_only/,
    );
    expect(calls.filter((c) => c.includes("exec -T proxy caddy reload"))).toHaveLength(1);
  });

  it("switched (the commit record written): exit 7, nothing touched", () => {
    const d = droplet(held(RENDERED), RENDERED);
    writeFileSync(join(d.config, "scale-out-switched"), "id=c1\nat=2026-12-03T07:00:00.000Z\n");
    const r = d.run("unfence");
    expect(r.status).toBe(7);
    expect(r.stdout).toBe("switched=1\n");
    expect(r.stderr).toMatch(
      /the switch is done \(id=c1 at=2026-12-03T07:00:00.000Z in .*scale-out-switched\): committed/,
    );
    expect(d.caddyfile()).toBe(held(RENDERED));
    expect(d.calls()).toBe("");
  });

  it("never held: the source writable, the Caddyfile unchanged and not reloaded", () => {
    const d = droplet(RENDERED);
    const r = d.run("unfence");
    expect(r.status).toBe(0);
    expect(d.caddyfile()).toBe(RENDERED);
    expect(d.calls()).not.toContain("caddy reload");
  });

  it("refuses a hold towards an upstream that is not host:port, touching nothing", () => {
    const d = droplet(RENDERED);
    const r = d.run("cutover", "c1", "10.10.0.7:8081,evil; rm -rf /", "60", "30");
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/upstream must be host:port, got 'evil; rm -rf \/'/);
    expect(d.calls()).toBe("");
    expect(d.caddyfile()).toBe(RENDERED);
  });
});

describe("an app droplet's gate (proxy-switch.sh on its rendered Caddyfile)", () => {
  it("closes only the internal listener (the load balancer's site stays) and opens it back byte for byte", () => {
    const d = droplet(APP_NODE);
    const gate = (action: string) =>
      spawnSync("bash", ["-s", "--", "gate", action], {
        input: scriptText("proxy"),
        encoding: "utf8",
        env: {
          PATH: `${join(d.config, "bin")}:${process.env.PATH}`,
          CONFIG_DIR: d.config,
          CHATBOT_PROXY_TLS_DIR_HOST: d.tls,
        },
      });
    const close = gate("close");
    expect(close.status, close.stderr).toBe(0);
    expect(d.caddyfile()).toBe(closed(APP_NODE));
    expect(d.caddyfile()).toMatch(/^:80 \{$/m);
    expect(validate(d.config)).toContain("Valid configuration");
    const open = gate("open");
    expect(open.status, open.stderr).toBe(0);
    expect(d.caddyfile()).toBe(APP_NODE);
    expect(
      d
        .calls()
        .split("\n")
        .filter((c) => c.includes("exec -T proxy caddy reload")),
    ).toHaveLength(2);
  });
});
