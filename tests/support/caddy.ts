/**
 * `caddy validate` (and `caddy adapt`) of a Caddyfile rendered for the proxy container, on this machine.
 *
 * Validation provisions the TLS app, which reads the certificate files the Caddyfile names: the internal listener's
 * (INTERNAL_TLS_DIR/server.crt and .key) and, in a hold, the trusted peers (peers.crt). In the container they come
 * from the read-only mount of LAYOUT.proxyTls (infra/render/compose.ts); here that mount is emulated: a directory
 * with a certificate made by the droplet's own scripts/droplet/tls-cert.sh (its copy as peers.crt), and the
 * container path in the file replaced by that directory. Nothing else in the file changes.
 */
import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { INTERNAL_TLS_DIR, INTERNAL_TLS_NAME } from "../../infra/render/caddyfile";

const TLS_CERT_SCRIPT = path.resolve(__dirname, "../../scripts/droplet/tls-cert.sh");

/** A directory standing in for the proxy container's INTERNAL_TLS_DIR: server.crt, server.key and peers.crt. */
export function proxyTlsDir(parent: string): string {
  const dir = path.join(parent, "proxy-tls");
  const r = spawnSync(
    "bash",
    [TLS_CERT_SCRIPT, dir, `${process.getuid?.() ?? 0}:${process.getgid?.() ?? 0}`, INTERNAL_TLS_NAME],
    { encoding: "utf8" },
  );
  if (r.status !== 0) throw new Error(`tls-cert.sh failed: ${r.stderr}`);
  fs.copyFileSync(path.join(dir, "server.crt"), path.join(dir, "peers.crt"));
  return dir;
}

/** Runs `caddy <verb>` on `caddyfile` with the proxy container's certificate mount emulated (see above). */
export function caddyWithMounts(verb: "validate" | "adapt", caddyfile: string): SpawnSyncReturns<string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "caddy-mounts-"));
  try {
    const tls = proxyTlsDir(dir);
    const file = path.join(dir, "Caddyfile");
    fs.writeFileSync(file, fs.readFileSync(caddyfile, "utf8").split(`${INTERNAL_TLS_DIR}/`).join(`${tls}/`));
    const env = { ...process.env, HOME: dir, XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir };
    return spawnSync("caddy", [verb, "--config", file, "--adapter", "caddyfile"], { encoding: "utf8", env });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
