/**
 * The config sync, the data volume's guard and the proxy switch, run for real by bash against a temporary
 * /etc/chatbot, with `docker`, `mount`, `mountpoint`, `systemctl` and `cloud-init` replaced by shims that record
 * their calls (no Docker engine runs here). `mountpoint` answers from a flag file: the volume is "mounted" while
 * <root>/mounted exists.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { planStack } from "../../infra/plan";
import {
  INTERNAL_PORT,
  INTERNAL_TLS_DIR,
  INTERNAL_TLS_NAME,
  NO_ACTIVE_HEALTH_CHECK,
} from "../../infra/render/caddyfile";
import { renderSecretFiles, renderStageScript, type RenderedFile } from "../../infra/render/files";
import { LAYOUT } from "../../infra/render/layout";
import { DOCKER_DROP_IN, VOLUME_GUARD, VOLUME_MARKER } from "../../infra/render/volume-guard";
import { sampleConfig } from "../support/sample-config";
import { caddyWithMounts, proxyTlsDir } from "../support/caddy";

const ROOT = join(__dirname, "..", "..");
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const plan = planStack(sampleConfig({ sshKeys: ["1"], appImage: "ghcr.io/acme/chatbot:1.0.0", alertEmails: [] }));
const secrets = renderSecretFiles(
  { postgresPassword: "p", appDbPassword: "a", replicationPassword: "r", redisPassword: "s" },
  8090,
);

let root: string;
let bin: string;
let calls: string;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "droplet-"));
  dirs.push(root);
  bin = join(root, "bin");
  calls = join(root, "calls.log");
  mkdirSync(bin);
  mkdirSync(join(root, "etc"));
  writeFileSync(join(root, "etc", ".env"), "CHATBOT_PRIVATE_IP=10.10.0.5\n");
  for (const shim of ["docker", "mount", "cloud-init", "systemctl"]) {
    writeFileSync(join(bin, shim), `#!/bin/sh\necho "${shim} $*" >> "${calls}"\n`);
    chmodSync(join(bin, shim), 0o755);
  }
  writeFileSync(join(bin, "mountpoint"), `#!/bin/sh\n[ -e "${join(root, "mounted")}" ]\n`);
  chmodSync(join(bin, "mountpoint"), 0o755);
  // A freshly formatted volume, mounted.
  mkdirSync(join(root, "data", "lost+found"), { recursive: true });
  writeFileSync(join(root, "mounted"), "");
});

function stage(files: RenderedFile[]) {
  // The staged script writes to /etc/chatbot/.incoming; point it at the temp dir instead.
  const script = renderStageScript(files).replaceAll("/etc/chatbot/", `${join(root, "etc")}/`);
  const r = spawnSync("bash", ["-c", script], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
}

function runApply() {
  writeFileSync(calls, "");
  const r = spawnSync("bash", [join(ROOT, "scripts", "droplet", "apply-config.sh")], {
    encoding: "utf8",
    env: {
      ...process.env,
      PATH: `${bin}:${process.env.PATH}`,
      CONFIG_DIR: join(root, "etc"),
      DATA_DIR: join(root, "data"),
      ROOT_DIR: join(root, "fsroot"),
      VOLUME_DEVICE: "/dev/null",
    },
  });
  return { status: r.status, out: r.stdout, err: r.stderr, calls: readFileSync(calls, "utf8") };
}

function apply() {
  const r = runApply();
  expect(r.status, r.err + r.out).toBe(0);
  return r;
}

describe("apply-config.sh", () => {
  it("installs every file, secrets 0600, and brings the containers up", () => {
    stage([...plan.active!.configFiles, ...secrets]);
    const r = apply();
    expect(r.out).toContain(`applied: ${plan.active!.configFiles.length + secrets.length} file(s) changed`);
    expect(readFileSync(join(root, "etc", "compose.yaml"), "utf8")).toBe(plan.active!.configFiles[0]!.content);
    expect(statSync(join(root, "etc", "app.env")).mode & 0o777).toBe(0o600);
    // Redis reads its include as uid 999 inside the container; app.env is read by compose on the host, as root.
    expect(statSync(join(root, "etc", "redis-auth.conf"))).toMatchObject({ uid: 999, gid: 999 });
    expect(statSync(join(root, "etc", "redis-auth.conf")).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, "etc", "app.env")).uid).toBe(0);
    expect(r.calls).toMatch(/docker compose .* up -d --remove-orphans --wait/);
    // The day-2 jobs land outside /etc/chatbot and their timers are enabled.
    expect(statSync(join(root, "fsroot", "etc", "systemd", "system", "chatbot-backup.timer")).isFile()).toBe(true);
    expect(r.calls).toMatch(/systemctl daemon-reload\nsystemctl enable --now .*chatbot-backup\.timer/);
    expect(statSync(join(root, "data", "backups")).uid).toBe(999);
  });

  it("is idempotent: the same files change nothing and restart nothing", () => {
    stage(plan.active!.configFiles);
    apply();
    stage(plan.active!.configFiles);
    const r = apply();
    expect(r.out).toContain("applied: 0 file(s) changed, restarted: none");
    expect(r.calls).not.toMatch(/restart|reload|systemctl/);
  });

  it("restarts only PostgreSQL when postgresql.conf changes, keeping the file's inode", () => {
    stage(plan.active!.configFiles);
    apply();
    const inode = statSync(join(root, "etc", "postgresql.conf")).ino;
    stage(
      plan.active!.configFiles.map((f) =>
        f.path === "postgresql.conf" ? { ...f, content: `${f.content}work_mem = '8MB'\n` } : f,
      ),
    );
    const r = apply();
    expect(r.out).toContain("applied: 1 file(s) changed, restarted: postgres");
    expect(r.calls).toMatch(/restart postgres/);
    expect(r.calls).not.toMatch(/restart redis/);
    expect(statSync(join(root, "etc", "postgresql.conf")).ino).toBe(inode);
  });

  it("makes PostgreSQL's TLS certificate on the data volume the first time (key 0600, uid 999), then keeps it", () => {
    stage(plan.active!.configFiles);
    const first = apply();
    const key = join(root, "data", "tls", "postgres", "server.key");
    expect(statSync(key)).toMatchObject({ uid: 999, gid: 999 });
    expect(statSync(key).mode & 0o777).toBe(0o600);
    expect(statSync(join(root, "data", "tls", "postgres", "server.crt")).uid).toBe(999);
    expect(first.out).toContain("TLS certificate for postgres: created");
    expect(first.calls).toMatch(/restart postgres/);
    const keyBytes = readFileSync(key);
    stage(plan.active!.configFiles);
    const second = apply();
    expect(readFileSync(key)).toEqual(keyBytes);
    expect(second.out).not.toContain("TLS certificate");
    expect(second.calls).not.toMatch(/restart/);
  });

  it("reloads Caddy (no restart) when only the Caddyfile changes", () => {
    stage(plan.active!.configFiles);
    apply();
    stage(
      plan.active!.configFiles.map((f) => (f.path === "Caddyfile" ? { ...f, content: `${f.content}# changed\n` } : f)),
    );
    const r = apply();
    expect(r.calls).toMatch(/exec -T proxy caddy reload/);
    expect(r.calls).not.toMatch(/ restart /);
  });
});

describe("the data volume's guard", () => {
  const marker = () => join(root, "data", VOLUME_MARKER.slice(LAYOUT.dataDir.length + 1));
  const guard = (mode: string) =>
    spawnSync("bash", [join(root, "fsroot", VOLUME_GUARD), mode], {
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, DATA_DIR: join(root, "data") },
    });

  it("a fresh volume: apply marks it, makes the data directories on it, installs docker.service's drop-in, then starts the containers", () => {
    stage(plan.active!.configFiles);
    const r = apply();
    expect(r.out).toContain(`[volume-guard] marked ${join(root, "data")} as the data volume: a fresh volume`);
    expect(readFileSync(marker(), "utf8")).toMatch(/^chatbot data volume\nmarked=\d{4}-\d\d-\d\dT/);
    for (const dir of ["postgres", "redis", "caddy", "backups", "log"])
      expect(statSync(join(root, "data", dir)).isDirectory()).toBe(true);
    const dropIn = readFileSync(join(root, "fsroot", DOCKER_DROP_IN), "utf8");
    expect(dropIn).toContain(`RequiresMountsFor=${LAYOUT.dataDir}\n`);
    expect(dropIn).toContain(`ExecStartPre=${VOLUME_GUARD} check\n`);
    expect(statSync(join(root, "fsroot", VOLUME_GUARD)).mode & 0o777).toBe(0o755);
    // The unit change is loaded (no restart of dockerd: the drop-in matters at its next start, at boot).
    expect(r.calls).toMatch(/systemctl daemon-reload\n/);
    expect(r.calls).not.toMatch(/systemctl (re)?start docker/);
    expect(r.calls).toMatch(/docker info\ndocker compose .* up -d/);
  });

  it("the volume missing (mount does not make it a mount point): apply refuses before installing anything, makes no data directory, starts nothing", () => {
    rmSync(join(root, "mounted"));
    stage(plan.active!.configFiles);
    const r = runApply();
    expect(r.status).toBe(1);
    expect(r.err).toContain(`[volume-guard] refusing to start the containers: ${join(root, "data")} is not mounted`);
    expect(r.calls).toContain(`mount ${join(root, "data")}`);
    expect(r.calls).not.toMatch(/docker|systemctl/);
    expect(existsSync(join(root, "data", "postgres"))).toBe(false);
    expect(existsSync(marker())).toBe(false);
    expect(existsSync(join(root, "etc", "compose.yaml"))).toBe(false);
  });

  it("a volume set up before the marker (data directories, no marker): marked once, data untouched", () => {
    mkdirSync(join(root, "data", "postgres"), { recursive: true });
    writeFileSync(join(root, "data", "postgres", "PG_VERSION"), "15\n");
    mkdirSync(join(root, "data", "backups"));
    stage(plan.active!.configFiles);
    expect(apply().out).toContain("as the data volume: data from before the marker (");
    expect(readFileSync(join(root, "data", "postgres", "PG_VERSION"), "utf8")).toBe("15\n");
    stage(plan.active!.configFiles);
    expect(apply().out).not.toContain("[volume-guard]");
  });

  it("a mounted volume holding something the stack does not write, and no marker: refused, nothing marked", () => {
    writeFileSync(join(root, "data", "dump.sql"), "");
    stage(plan.active!.configFiles);
    const r = runApply();
    expect(r.status).toBe(1);
    expect(r.err).toContain("has no marker and holds dump.sql, which this stack does not write");
    expect(existsSync(marker())).toBe(false);
    expect(r.calls).not.toMatch(/docker/);
  });

  it("`volume-guard.sh check` (docker.service's ExecStartPre): refuses a missing mount and an unmarked volume, passes a marked one", () => {
    stage(plan.active!.configFiles);
    apply();
    expect(guard("check")).toMatchObject({ status: 0, stderr: "" });
    rmSync(marker());
    expect(guard("check")).toMatchObject({
      status: 1,
      stderr: expect.stringContaining("is mounted but has no marker"),
    });
    // `check` never marks: only the config sync, after mounting the volume itself, initialises one.
    expect(existsSync(marker())).toBe(false);
    expect(guard("init")).toMatchObject({ status: 0, stdout: expect.stringContaining("data from before the marker") });
    expect(guard("check").status).toBe(0);
    rmSync(join(root, "mounted"));
    expect(guard("check")).toMatchObject({
      status: 1,
      stderr: expect.stringContaining("is not mounted: the data volume is missing"),
    });
    expect(guard("init").status).toBe(1);
    expect(guard("bogus").status).toBe(2);
  });

  it("dockerd not running (it refused to start at boot without the volume): apply starts it once the volume is there", () => {
    writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "docker $*" >> "${calls}"\n[ "$1" != info ]\n`);
    stage(plan.active!.configFiles);
    const r = apply();
    expect(r.calls).toMatch(
      /docker info\nsystemctl reset-failed docker\.socket docker\.service\nsystemctl start docker\.service\ndocker compose .* up -d/,
    );
  });

  it("the guard's default data directory is the layout's, where the drop-in and the fstab entry point", () => {
    expect(readFileSync(join(ROOT, "scripts", "droplet", "volume-guard.sh"), "utf8")).toContain(
      `DATA_DIR=\${DATA_DIR:-${LAYOUT.dataDir}}`,
    );
    expect(VOLUME_MARKER.startsWith(`${LAYOUT.dataDir}/`)).toBe(true);
  });
});

describe("proxy-switch.sh", () => {
  // File-level behaviour with a recording `docker` (here `docker ... exec` exits 0, so the drain ends at once); the
  // real Caddy reloads, holds and drains in the migration harness (tests/migration/front-door.test.ts).
  const caddyfile = () => readFileSync(join(root, "etc", "Caddyfile"), "utf8");
  const rendered = () => plan.active!.configFiles.find((f) => f.path === "Caddyfile")!.content;
  // The internal listener's certificate directory (on a droplet /var/lib/chatbot/tls/proxy), made by tls-cert.sh.
  const proxyTls = () => join(root, "tls-proxy");
  function run(...args: string[]) {
    return runWithInput("", ...args);
  }
  function runWithInput(input: string, ...args: string[]) {
    writeFileSync(calls, "");
    return spawnSync("bash", [join(ROOT, "scripts", "droplet", "proxy-switch.sh"), ...args], {
      encoding: "utf8",
      input,
      env: {
        ...process.env,
        PATH: `${bin}:${process.env.PATH}`,
        CONFIG_DIR: join(root, "etc"),
        CHATBOT_PROXY_TLS_DIR_HOST: proxyTls(),
      },
    });
  }
  const peerCert = () => readFileSync(join(proxyTlsDir(join(root, "peer")), "server.crt"), "utf8");
  const validate = () => caddyWithMounts("validate", join(root, "etc", "Caddyfile"));

  beforeEach(() => {
    stage([...plan.active!.configFiles, ...secrets]);
    apply();
    rmSync(join(root, "etc", "Caddyfile.serving"), { force: true });
    rmSync(proxyTls(), { recursive: true, force: true });
    execFileSync("bash", [
      join(ROOT, "scripts", "droplet", "tls-cert.sh"),
      proxyTls(),
      `${process.getuid!()}:${process.getgid!()}`,
      INTERNAL_TLS_NAME,
    ]);
    expect(runWithInput(peerCert(), "trust").stdout).toMatch(/^trusted=1$/m);
  });

  it("hold: the public site forwards to the new droplet's internal listener over TLS (its certificate pinned) with a retry window, the internal one stays, Caddy reloads", () => {
    const r = run("hold", `10.10.0.9:${INTERNAL_PORT}`, "300");
    expect(r.status, r.stderr).toBe(0);
    expect(caddyfile()).toContain(
      `\treverse_proxy 10.10.0.9:${INTERNAL_PORT} {\n\t\tlb_try_duration 300s\n\t\tlb_try_interval 50ms\n\t\tfail_duration 1s\n\t\tmax_fails 1000000\n` +
        `\t\ttransport http {\n\t\t\ttls\n\t\t\ttls_trusted_ca_certs ${INTERNAL_TLS_DIR}/peers.crt\n\t\t\ttls_server_name ${INTERNAL_TLS_NAME}\n\t\t}\n\t}\n`,
    );
    expect(caddyfile()).not.toContain("health_uri"); // an upstream marked unhealthy would not be retried for a POST
    expect(caddyfile()).toContain(
      `https://:${INTERNAL_PORT} {\n\ttls ${INTERNAL_TLS_DIR}/server.crt ${INTERNAL_TLS_DIR}/server.key\n\treverse_proxy app:8090\n}`,
    );
    expect(readFileSync(calls, "utf8")).toMatch(/exec -T proxy caddy reload --config \/etc\/caddy\/Caddyfile/);
    expect(readFileSync(calls, "utf8")).toMatch(/exec -T proxy sh -c .* idle 5 app:8090\n/s); // the drain, inside the container
    expect(r.stdout).toMatch(/^drained=1$/m);
    expect(validate().status, validate().stderr).toBe(0);
  });

  it("local puts the rendered Caddyfile back after a hold, and does nothing without one", () => {
    run("hold", "10.10.0.9:8081", "30");
    expect(run("local").stdout).toMatch(/^changed=1$/m);
    expect(caddyfile()).toBe(rendered());
    const again = run("local");
    expect(again.stdout).toMatch(/^changed=0$/m);
    expect(readFileSync(calls, "utf8")).toBe("");
  });

  it("local <settle seconds> after a hold waits, inside the container, until no attempt to the hold's upstreams fails, then reloads; a bad value is refused, touching nothing", () => {
    run("hold", "10.10.0.9:8081,10.10.0.10:8081", "30");
    const held = caddyfile();
    const bad = run("local", "0");
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/settle seconds must be a whole number of seconds/);
    expect(caddyfile()).toBe(held);
    const r = run("local", "10");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^settled=1$/m);
    expect(readFileSync(calls, "utf8")).toMatch(
      /exec -T proxy sh -c .* settled 10 10\.10\.0\.9:8081 10\.10\.0\.10:8081\n.*exec -T proxy caddy reload/s,
    );
    expect(caddyfile()).toBe(rendered());
  });

  it("gate close takes the internal listener away (twice is the same), gate open brings it back", () => {
    expect(run("gate", "close").status).toBe(0);
    const closed = caddyfile();
    expect(closed).not.toMatch(/^https?:\/\/:/m);
    expect(validate().status, validate().stderr).toBe(0);
    expect(run("gate", "close").stdout).toMatch(/^changed=0$/m);
    expect(caddyfile()).toBe(closed);
    expect(run("gate", "open").stdout).toMatch(/^changed=1$/m);
    expect(caddyfile()).toBe(rendered());
  });

  it("on a droplet that was a migration's source (a switch back to it): gate close and open (a rollback) leave its public site forwarding; gate serve (promoted) puts it back", () => {
    const localSite = `\treverse_proxy app:8090 {\n${NO_ACTIVE_HEALTH_CHECK.join("\n")}\n\t}`;
    const saved = join(root, "etc", "Caddyfile.serving");
    run("hold", "10.10.0.9:8081", "30");
    const r = run("gate", "close");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^public=/m);
    expect(caddyfile()).toContain("\treverse_proxy 10.10.0.9:8081 {");
    expect(caddyfile()).not.toContain(localSite);
    expect(caddyfile()).not.toMatch(/^https?:\/\/:/m);
    expect(validate().status, validate().stderr).toBe(0);
    const rolledBack = run("gate", "open");
    expect(rolledBack.stdout).toMatch(/^gate=open$/m);
    expect(rolledBack.stdout).not.toMatch(/^public=/m);
    expect(caddyfile()).toContain("\treverse_proxy 10.10.0.9:8081 {");
    expect(caddyfile()).toMatch(/^https?:\/\/:/m);
    expect(existsSync(saved)).toBe(true);
    run("gate", "close");
    const served = run("gate", "serve");
    expect(served.status, served.stderr).toBe(0);
    expect(served.stdout).toMatch(/^public=local$/m);
    expect(served.stdout).toMatch(/^gate=open$/m);
    expect(caddyfile()).toBe(rendered());
    expect(existsSync(saved)).toBe(false);
    // Without an earlier hold, serve is open.
    run("gate", "close");
    expect(run("gate", "serve").stdout).not.toMatch(/^public=/m);
    expect(caddyfile()).toBe(rendered());
  });

  it("gate close and open print the internal listener's certificate (for the forwarding droplet's trust)", () => {
    const own = readFileSync(join(proxyTls(), "server.crt"), "utf8");
    for (const action of ["close", "open"]) {
      const r = run("gate", action);
      expect(r.status, r.stderr).toBe(0);
      expect(Buffer.from(/^tls_cert=(.*)$/m.exec(r.stdout)![1]!, "base64").toString("utf8")).toBe(own);
    }
  });

  it("cert prints the internal listener's certificate and changes nothing (the scale-out rollback's bounce reads it)", () => {
    const own = readFileSync(join(proxyTls(), "server.crt"), "utf8");
    const before = caddyfile();
    const r = run("cert");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(`tls_cert=${Buffer.from(own).toString("base64")}\n`);
    expect(caddyfile()).toBe(before);
    expect(readFileSync(calls, "utf8")).toBe(""); // no reload
  });

  it("gate bounce (a rollback): the internal listener forwards to the old droplet over TLS, trusting only its certificate; gate open or close ends it", () => {
    const old = peerCert();
    run("gate", "close");
    const r = runWithInput(old, "gate", "bounce", "10.10.0.5:8081");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^trusted=1$/m);
    expect(r.stdout).toMatch(/^gate=bounce$/m);
    expect(readFileSync(join(proxyTls(), "peers.crt"), "utf8")).toBe(old);
    // One live internal listener: the rendered one stays closed (commented), the bounce copy forwards.
    const live = caddyfile()
      .split("\n")
      .filter((l) => !l.startsWith("#"));
    expect(live.filter((l) => /^https:\/\/:\d+ \{$/.test(l))).toHaveLength(1);
    expect(caddyfile()).toContain(
      `\ttls ${INTERNAL_TLS_DIR}/server.crt ${INTERNAL_TLS_DIR}/server.key\n\treverse_proxy 10.10.0.5:8081 {\n\t\ttransport http {\n\t\t\ttls\n` +
        `\t\t\ttls_trusted_ca_certs ${INTERNAL_TLS_DIR}/peers.crt\n\t\t\ttls_server_name ${INTERNAL_TLS_NAME}\n` +
        `\t\t\tversions 1.1\n\t\t\tkeepalive off\n\t\t}\n\t}\n}\n# gate bounce: end`,
    );
    expect(validate().status, validate().stderr).toBe(0);
    // Twice is the same file; then open puts the rendered file back exactly, close leaves no bounce behind.
    const bounced = caddyfile();
    expect(runWithInput(old, "gate", "bounce", "10.10.0.5:8081").stdout).toMatch(/^changed=0$/m);
    expect(caddyfile()).toBe(bounced);
    expect(run("gate", "open").status).toBe(0);
    expect(caddyfile()).toBe(rendered());
    runWithInput(old, "gate", "bounce", "10.10.0.5:8081");
    expect(run("gate", "close").status).toBe(0);
    expect(caddyfile()).not.toMatch(/^https?:\/\/:/m);
    expect(caddyfile()).not.toContain("gate bounce");
  });

  it("gate bounce armed: reads its one certificate, then reloads only on the go line; without it nothing changes", () => {
    const old = peerCert();
    run("gate", "close");
    const closed = caddyfile();
    const peers = join(proxyTls(), "peers.crt");
    const peersBefore = existsSync(peers) ? readFileSync(peers, "utf8") : undefined;
    // Standard input ends after the certificate (the old server did not come back): no change, no reload.
    for (const input of [old, `${old}stop\n`]) {
      const r = runWithInput(input, "gate", "bounce", "10.10.0.5:8081", "armed");
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toBe("bounced=0\n");
      expect(caddyfile()).toBe(closed);
      expect(existsSync(peers) ? readFileSync(peers, "utf8") : undefined).toBe(peersBefore);
      expect(readFileSync(calls, "utf8")).toBe("");
    }
    // With the go line: the same bounce as unarmed.
    const armed = runWithInput(`${old}go\n`, "gate", "bounce", "10.10.0.5:8081", "armed");
    expect(armed.status, armed.stderr).toBe(0);
    expect(armed.stdout).toMatch(/^trusted=1$/m);
    expect(armed.stdout).toMatch(/^gate=bounce$/m);
    expect(readFileSync(peers, "utf8")).toBe(old);
    const bounced = caddyfile();
    run("gate", "close");
    runWithInput(old, "gate", "bounce", "10.10.0.5:8081");
    expect(caddyfile()).toBe(bounced);
    // A word other than armed is a usage error.
    const bad = runWithInput(`${old}go\n`, "gate", "bounce", "10.10.0.5:8081", "now");
    expect(bad.status).toBe(2);
  });

  it("gate bounce refuses a bad upstream or no certificate, touching nothing", () => {
    run("gate", "close");
    const closed = caddyfile();
    for (const [input, args, why] of [
      ["", ["10.10.0.5:8081"], /no PEM certificate/],
      [peerCert(), ["10.10.0.5"], /upstream must be host:port/],
      [peerCert(), [], /upstream must be host:port/],
    ] as const) {
      const r = runWithInput(input, "gate", "bounce", ...args);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(why);
      expect(caddyfile()).toBe(closed);
    }
  });

  it("trust keeps only the certificate blocks (several: the scale-out's app droplets), and refuses input with none or a broken one, peers.crt unchanged", () => {
    const a = peerCert();
    rmSync(join(root, "peer"), { recursive: true, force: true });
    const b = peerCert();
    const two = runWithInput(`junk before\n${a}${b}trailing junk\n`, "trust");
    expect(two.status, two.stderr).toBe(0);
    expect(two.stdout).toMatch(/^trusted=2$/m);
    expect(readFileSync(join(proxyTls(), "peers.crt"), "utf8")).toBe(a + b);
    for (const [input, why] of [
      ["", /no PEM certificate/],
      ["not a certificate\n", /no PEM certificate/],
      [a.replace(/\n[A-Za-z0-9+/]{20}/, "\n!!!!"), /readable by openssl/],
    ] as const) {
      const r = runWithInput(input, "trust");
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(why);
      expect(readFileSync(join(proxyTls(), "peers.crt"), "utf8")).toBe(a + b);
    }
  });

  it("hold refuses to forward without a trusted certificate, touching nothing", () => {
    rmSync(join(proxyTls(), "peers.crt"));
    const r = run("hold", "10.10.0.9:8081", "30");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/no trusted certificate .*run `trust` first/);
    expect(caddyfile()).toBe(rendered());
    expect(readFileSync(calls, "utf8")).toBe("");
  });

  it("a failed reload puts the previous Caddyfile back and exits 1", () => {
    writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "docker $*" >> "${calls}"\nexit 1\n`);
    try {
      const r = run("hold", "10.10.0.9:8081", "30");
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/caddy reload failed/);
      expect(caddyfile()).toBe(rendered());
    } finally {
      writeFileSync(join(bin, "docker"), `#!/bin/sh\necho "docker $*" >> "${calls}"\n`);
    }
  });

  it.each([
    ["hold", "10.0.0.1; rm -rf /", "30"],
    ["hold", "10.0.0.1:8081", "0"],
    ["hold", "10.0.0.1:8081", "$(id)"],
    ["gate", "ajar"],
    ["sideways"],
  ])("refuses %s %s %s with exit 2, touching nothing", (...args) => {
    const r = run(...args);
    expect(r.status).toBe(2);
    expect(readFileSync(calls, "utf8")).toBe("");
    expect(caddyfile()).toBe(rendered());
  });
});
