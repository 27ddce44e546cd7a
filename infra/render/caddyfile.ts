/**
 * The reverse proxy: Caddy obtains and renews the TLS certificate for the domain by itself (ACME HTTP-01/TLS-ALPN
 * on ports 80/443) and forwards to the app container. Certificates live on the data volume, so a replaced droplet
 * does not ask the CA again.
 */
export interface CaddyInput {
  domain: string;
  acmeEmail: string | undefined;
  /** host:port of the app, as seen from the proxy container. */
  upstream: string;
  healthPath: string;
  /** Strict-Transport-Security max-age in seconds; 0 sends max-age=0, which clears an earlier one in browsers. */
  hstsMaxAgeSeconds: number;
  /** Directory of the internal listener's certificate as Caddy sees it. @default INTERNAL_TLS_DIR */
  internalTlsDir?: string;
}

/**
 * Port of the internal listener that serves the app to the stack's other droplets over the VPC, over TLS. During a
 * tier migration the old droplet's proxy forwards to the new droplet's listener, so traffic moves the moment the new
 * server is promoted, before the reserved IP (or DNS) catches up. The firewall admits it from the stack's tag only.
 */
export const INTERNAL_PORT = 8081;

/**
 * The internal listener's certificate: made on the droplet by scripts/droplet/tls-cert.sh (self-signed, for the name
 * INTERNAL_TLS_NAME), kept in LAYOUT.proxyTls and mounted read-only here in the proxy container. The droplet that
 * forwards to this listener trusts exactly that certificate (scripts/droplet/proxy-switch.sh `trust`, handed over
 * ssh by the migration) and asks for that name, whatever address it dials.
 */
export const INTERNAL_TLS_DIR = "/etc/caddy/tls";
export const INTERNAL_TLS_NAME = "proxy";

/** The internal listener's site block (TLS with the droplet's own certificate) in front of `upstream`. */
export function internalListener(upstream: string, tlsDir: string = INTERNAL_TLS_DIR): string[] {
  return [`https://:${INTERNAL_PORT} {`, `\ttls ${tlsDir}/server.crt ${tlsDir}/server.key`, `\treverse_proxy ${upstream}`, "}"];
}

/**
 * The Strict-Transport-Security header, indented for a site block. Deferred: set when the response is written, so
 * it replaces any value the app sends instead of adding a second header (RFC 6797 6.1: a browser reads only the
 * first). No includeSubDomains: the stack owns one host name, not the names below it.
 */
export function hstsHeader(maxAgeSeconds: number): string[] {
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0) throw new Error(`hstsMaxAgeSeconds: ${maxAgeSeconds} must be a whole number >= 0`);
  return ["\theader {", `\t\tStrict-Transport-Security "max-age=${maxAgeSeconds}"`, "\t\tdefer", "\t}"];
}

/** Caddy's access log as JSON on stdout (Docker's log rotation keeps it bounded), indented for a site block. */
export const CADDY_JSON_LOG = ["\tlog {", "\t\toutput stdout", "\t\tformat json", "\t}"];

export function renderCaddyfile(input: CaddyInput): string {
  const global = input.acmeEmail ? ["{", `\temail ${input.acmeEmail}`, "}", ""] : [];
  return [
    "# Rendered by infra/render/caddyfile.ts. Do not edit on the droplet: `pulumi up` overwrites it.",
    ...global,
    `${input.domain} {`,
    "\tencode zstd gzip",
    ...hstsHeader(input.hstsMaxAgeSeconds),
    `\treverse_proxy ${input.upstream} {`,
    `\t\thealth_uri ${input.healthPath}`,
    "\t\thealth_interval 10s",
    "\t}",
    ...CADDY_JSON_LOG,
    "}",
    "",
    `# Internal listener for the stack's own droplets (VPC only: the firewall admits ${INTERNAL_PORT} from the stack's tag).`,
    ...internalListener(input.upstream, input.internalTlsDir),
    "",
  ].join("\n");
}
