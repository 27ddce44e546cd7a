/**
 * The files of an app-only droplet in the scale-out tier: the FastAPI app and a small Caddy in front of it, behind
 * DigitalOcean's load balancer. No PostgreSQL, no Redis: DATABASE_URL and REDIS_URL point at the managed connection
 * pool and the managed Valkey cluster (secrets, from the clusters' outputs, in app.env only).
 *
 * Same principle as the single droplet (./cloud-init.ts): the user data holds only what needs a new machine
 * (packages, sysctl, swap, Docker's log settings). The compose file, the proxy config, the apply script and the
 * secrets are synced onto the running droplet by `pulumi up`, so changing them never replaces a droplet.
 *
 * The load balancer terminates TLS and forwards plain HTTP to port 80 over the VPC; Caddy serves the load balancer on `:80` (no
 * ACME), keeps the X-Forwarded-For the load balancer sets (trusted from private ranges), and answers the health path with 503 while the droplet is
 * draining (a file under ./state), so a config sync takes the droplet out of the pool before restarting the app.
 * Its internal listener (`https://:8081`, with its own certificate, as on a single droplet) is where a single droplet's proxy forwards during
 * the scale-out cutover; scripts/droplet/proxy-switch.sh `gate close|open` closes and opens it.
 */
import {
  CADDY_JSON_LOG,
  hstsHeader,
  INTERNAL_PORT,
  INTERNAL_TLS_DIR,
  internalListener,
  NO_ACTIVE_HEALTH_CHECK,
  PROXY_SYSCTLS,
} from "./caddyfile";
import { appEnvironment, composeEnvironment } from "./compose";
import { stringify } from "yaml";
import type { RenderedFile } from "./files";
import { IMAGES, LAYOUT } from "./layout";
import { renderAppNodeApplyScript } from "./app-node-apply";
import { dropletScript } from "./droplet-scripts";

export interface AppNodeCloudInitInput {
  swapMiB: number;
}

export function renderAppNodeCloudInit(input: AppNodeCloudInitInput): string {
  const bytes = input.swapMiB * 1024 * 1024;
  const doc = {
    package_update: true,
    package_upgrade: false,
    packages: ["docker.io", "docker-compose-v2", "jq", "curl"],
    ssh_pwauth: false,
    swap: { filename: "/swapfile", size: bytes, maxsize: bytes },
    write_files: [
      {
        path: "/etc/sysctl.d/60-chatbot.conf",
        permissions: "0644",
        content: "vm.swappiness = 10\nnet.core.somaxconn = 1024\n",
      },
      {
        path: "/etc/docker/daemon.json",
        permissions: "0644",
        content:
          JSON.stringify({ "log-driver": "json-file", "log-opts": { "max-size": "10m", "max-file": "5" } }, null, 2) +
          "\n",
      },
    ],
    runcmd: [
      ["sysctl", "--system"],
      ["mkdir", "-p", APP_NODE_STATE_DIR],
      ["chmod", "0750", LAYOUT.configDir],
      ["systemctl", "enable", "--now", "docker"],
    ],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

/** Where the drain flag lives on the droplet (mounted read-only into Caddy as /srv/state). */
export const APP_NODE_STATE_DIR = `${LAYOUT.configDir}/state`;
export const DRAIN_FLAG = "draining";

export interface AppNodeComposeInput {
  appImage: string;
  appPort: number;
  healthPath: string;
  /** Extra NAME=value entries for the app (non-secret). */
  appEnv: string[];
  workers: number;
  dbPoolSize: number;
  dbMaxOverflow: number;
  appMemoryMiB: number;
  proxyMemoryMiB: number;
  stopGraceSeconds: number;
  /** Strict-Transport-Security max-age the app droplets' Caddy sends (the load balancer passes it on over HTTPS). */
  hstsMaxAgeSeconds: number;
}

export function renderAppNodeCompose(input: AppNodeComposeInput): string {
  const logging = { driver: "json-file", options: { "max-size": "10m", "max-file": "5" } };
  const environment = composeEnvironment(appEnvironment(input));
  const doc = {
    services: {
      app: {
        image: input.appImage,
        env_file: ["app.env"],
        environment,
        expose: [String(input.appPort)],
        mem_limit: `${input.appMemoryMiB}m`,
        stop_grace_period: `${input.stopGraceSeconds}s`,
        restart: "unless-stopped",
        logging,
      },
      proxy: {
        image: IMAGES.proxy,
        ports: ["80:80", `${INTERNAL_PORT}:${INTERNAL_PORT}`],
        volumes: [
          "./Caddyfile:/etc/caddy/Caddyfile:ro",
          "./state:/srv/state:ro",
          "caddy-data:/data",
          `${LAYOUT.proxyTls}:${INTERNAL_TLS_DIR}:ro`,
        ],
        depends_on: ["app"],
        sysctls: { ...PROXY_SYSCTLS },
        mem_limit: `${input.proxyMemoryMiB}m`,
        stop_grace_period: "10s",
        restart: "unless-stopped",
        logging,
      },
    },
    volumes: { "caddy-data": {} },
  };
  return (
    "# Rendered by infra/render/app-node.ts. Do not edit on the droplet: `pulumi up` overwrites it.\n" +
    stringify(doc, { lineWidth: 0 })
  );
}

export interface AppNodeCaddyInput {
  appPort: number;
  healthPath: string;
  hstsMaxAgeSeconds: number;
  /** Directory of the internal listener's certificate as Caddy sees it. @default INTERNAL_TLS_DIR */
  internalTlsDir?: string;
}

export function renderAppNodeCaddyfile(input: AppNodeCaddyInput): string {
  return [
    "# Rendered by infra/render/app-node.ts. Do not edit on the droplet: `pulumi up` overwrites it.",
    "# TLS ends at the load balancer; this droplet serves plain HTTP to it on the VPC. No ACME here: the internal",
    "# listener's certificate is the droplet's own (scripts/droplet/tls-cert.sh).",
    "{",
    "\tauto_https off",
    "}",
    "",
    ":80 {",
    "\t# While ./state/draining exists the health check fails, so the load balancer stops sending new requests.",
    "\t@draining {",
    `\t\tpath ${input.healthPath}`,
    "\t\tfile {",
    "\t\t\troot /srv/state",
    `\t\t\ttry_files ${DRAIN_FLAG}`,
    "\t\t}",
    "\t}",
    '\trespond @draining "draining" 503',
    ...hstsHeader(input.hstsMaxAgeSeconds),
    `\treverse_proxy app:${input.appPort} {`,
    "\t\t# Keep the client address the load balancer put in X-Forwarded-For (it reaches us from the VPC).",
    "\t\ttrusted_proxies private_ranges",
    ...NO_ACTIVE_HEALTH_CHECK,
    "\t}",
    ...CADDY_JSON_LOG,
    "}",
    "",
    `# Internal listener for a single droplet's proxy during the scale-out cutover (VPC only: the firewall admits ${INTERNAL_PORT}`,
    "# from the stack's tag while migrating). The cutover closes it (proxy-switch.sh gate close: the droplet's Caddy holds",
    "# its requests) until the managed cluster has every write, then opens it.",
    ...internalListener(`app:${input.appPort}`, input.internalTlsDir),
    "",
  ].join("\n");
}

/** Secrets of an app droplet: where the managed engines are (URIs with passwords). */
export interface AppNodeSecrets {
  /** The connection pool's private URI (PgBouncer, transaction mode, sslmode=require). */
  databaseUrl: string;
  /** The Valkey cluster's private URI (rediss://, TLS). */
  redisUrl: string;
}

export function renderAppNodeEnv(s: AppNodeSecrets, appPort: number): string {
  for (const [k, v] of Object.entries(s)) {
    if (/[\n\r]/.test(v)) throw new Error(`${k}: must be a single line`);
  }
  return [
    "# Rendered by infra/render/app-node.ts. Secret: mode 0600.",
    `DATABASE_URL=${s.databaseUrl}`,
    `REDIS_URL=${s.redisUrl}`,
    `APP_PORT=${appPort}`,
    "",
  ].join("\n");
}

export const APP_NODE_APPLY_SCRIPT = "bin/apply-app-node.sh";

/** The non-secret files synced onto every app droplet. */
export function renderAppNodeFiles(compose: AppNodeComposeInput): RenderedFile[] {
  return [
    { path: "compose.yaml", mode: "0644", content: renderAppNodeCompose(compose) },
    {
      path: "Caddyfile",
      mode: "0644",
      content: renderAppNodeCaddyfile({
        appPort: compose.appPort,
        healthPath: compose.healthPath,
        hstsMaxAgeSeconds: compose.hstsMaxAgeSeconds,
      }),
    },
    { path: APP_NODE_APPLY_SCRIPT, mode: "0755", content: renderAppNodeApplyScript() },
    { path: "bin/tls-cert.sh", mode: "0755", content: dropletScript("tls-cert.sh") },
  ];
}

export function renderAppNodeSecretFiles(secrets: AppNodeSecrets, appPort: number): RenderedFile[] {
  return [{ path: "app.env", mode: "0600", content: renderAppNodeEnv(secrets, appPort) }];
}

/** The command that installs the staged files on an app droplet, draining it first when the app restarts. */
export function appNodeApplyCommand(drainSeconds: number, healthPath: string): string {
  if (!Number.isInteger(drainSeconds) || drainSeconds < 0)
    throw new Error(`drainSeconds: ${drainSeconds} must be a whole number >= 0`);
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(healthPath))
    throw new Error(`healthPath: "${healthPath}" must be a URL path starting with /`);
  return `DRAIN_SECONDS=${drainSeconds} HEALTH_PATH='${healthPath}' bash ${LAYOUT.configDir}/.incoming/${APP_NODE_APPLY_SCRIPT}`;
}
