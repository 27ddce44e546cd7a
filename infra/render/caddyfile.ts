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
}

/**
 * Port of the internal, plain-HTTP listener that serves the app to the stack's other droplets over the VPC. During a
 * tier migration the old droplet's proxy forwards to the new droplet's listener, so traffic moves the moment the new
 * server is promoted, before the reserved IP (or DNS) catches up. The firewall admits it from the stack's tag only.
 */
export const INTERNAL_PORT = 8081;

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
    `http://:${INTERNAL_PORT} {`,
    `\treverse_proxy ${input.upstream}`,
    "}",
    "",
  ].join("\n");
}
