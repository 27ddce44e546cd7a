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

/**
 * Why the public site's reverse_proxy has no active health check (health_uri), as a comment inside its block: with
 * one upstream there is nothing to fail over to, and after every reload (a config sync that changes this file, a
 * migration's rollback) Caddy answered its own 503 until the check ran again. Measured with Caddy 2.6.2 in a reload
 * loop under 48 clients: 330 of 5,930 requests over 141 reloads with the check, none without; the negative control of
 * tests/migration/reload-health.test.ts puts the check back and gets the 503.
 */
export const NO_ACTIVE_HEALTH_CHECK = [
  "\t\t# No active health check: one upstream has nothing to fail over to, and a reload would answer 503 until it ran.",
];

/**
 * Kernel settings of the proxy container's own network namespace (compose `sysctls`; Docker accepts the namespaced
 * net.* ones for a container that has its own network). Caddy listens with SO_REUSEPORT and a reload can close a
 * listening socket that still holds accepted-but-unserved connections: Linux resets them (the client sees a reset
 * before TLS) unless net.ipv4.tcp_migrate_req (Linux 5.14+) hands them to the socket that stays. Measured with Caddy
 * 2.6.2 by the first case of tests/migration/reload-health.test.ts (40 reloads under 8 clients), run with the value
 * set to 0 and to 1 alternately: 0, 1, 4, 4 and 6 resets in five runs with 0, none in five with 1.
 */
export const PROXY_SYSCTLS = { "net.ipv4.tcp_migrate_req": 1 } as const;

/** The internal listener's site block (TLS with the droplet's own certificate) in front of `upstream`. */
export function internalListener(upstream: string, tlsDir: string = INTERNAL_TLS_DIR): string[] {
  return [
    `https://:${INTERNAL_PORT} {`,
    `\ttls ${tlsDir}/server.crt ${tlsDir}/server.key`,
    `\treverse_proxy ${upstream}`,
    "}",
  ];
}

/**
 * The Strict-Transport-Security header, indented for a site block. Deferred: set when the response is written, so
 * it replaces any value the app sends instead of adding a second header (RFC 6797 6.1: a browser reads only the
 * first). No includeSubDomains: the stack owns one host name, not the names below it.
 */
export function hstsHeader(maxAgeSeconds: number): string[] {
  if (!Number.isInteger(maxAgeSeconds) || maxAgeSeconds < 0)
    throw new Error(`hstsMaxAgeSeconds: ${maxAgeSeconds} must be a whole number >= 0`);
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
    ...NO_ACTIVE_HEALTH_CHECK,
    "\t}",
    ...CADDY_JSON_LOG,
    "}",
    "",
    `# Internal listener for the stack's own droplets (VPC only: the firewall admits ${INTERNAL_PORT} from the stack's tag).`,
    ...internalListener(input.upstream, input.internalTlsDir),
    "",
  ].join("\n");
}
