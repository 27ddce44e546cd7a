/**
 * The scale-out tier's fixed numbers and the shapes of its input and plan (infra/scale-out.ts plans it; the
 * component and the checks read these shapes).
 */
import type { AppDropletRecord } from "./deployed";
import type { RenderedFile } from "./render/files";

/** Managed PostgreSQL's major version: the droplets run postgres:15, and logical replication moves the data in. */
export const MANAGED_PG_VERSION = "15";
/** Managed Valkey's major version (SDK databaseValkeyConfig doc example: version "8"). */
export const MANAGED_VALKEY_VERSION = "8";
/** The app's database and role on the managed cluster (same names as on the droplets). */
export const APP_DB = "chatbot";
export const APP_DB_USER = "chatbot";
/** Backend connections kept out of the pool for direct sessions. */
export const DIRECT_CONNECTIONS = 10;
/** Connections the cluster keeps for itself, per the DigitalOcean page cited above. */
export const RESERVED_CONNECTIONS = 3;
export const CONNECTIONS_PER_GIB = 25;

/** The load balancer's health check: short, so a draining droplet leaves the pool quickly. */
export const LB_HEALTHCHECK = {
  checkIntervalSeconds: 5,
  responseTimeoutSeconds: 3,
  unhealthyThreshold: 2,
  healthyThreshold: 2,
} as const;
/** How long a droplet drains before its app restarts: the LB needs interval x unhealthy threshold to notice. */
export const DRAIN_SECONDS = LB_HEALTHCHECK.checkIntervalSeconds * LB_HEALTHCHECK.unhealthyThreshold + 2;

export interface ScaleOutInput {
  /** `chatbot-<stack>`: every resource name starts with it. */
  prefix: string;
  region: string;
  domain: string;
  healthPath: string;
  appPort: number;
  appImage: string;
  appEnv: string[];
  environment: "dev" | "prod";
  sshKeys: string[];
  /** Who may SSH into the app droplets (config sync, operators). */
  sshAllowedCidrs: string[];
  /** The stack's tag (the single-droplet servers carry it). */
  stackTag: string;
  /** App droplets behind the load balancer: at least 2. */
  appCount: number;
  /** A droplet size slug from the price table (infra/pricing.ts). */
  appDropletSize: string;
  /** Managed PostgreSQL node size, e.g. db-s-2vcpu-4gb. */
  dbSize: string;
  /** 1-3 nodes; at least 2 in prod (a primary and a standby). */
  dbNodeCount: number;
  /** Managed Valkey node size. */
  valkeySize: string;
  /** SQLAlchemy pool_size per uvicorn worker (capped at the worker's share of the managed pool). */
  dbPoolSize: number;
  /** SQLAlchemy max_overflow per uvicorn worker. */
  dbMaxOverflow: number;
  /** Load balancer nodes. @default 1 */
  lbSizeUnit?: number;
  /** Strict-Transport-Security max-age the app droplets send (0: max-age=0, clearing it in browsers). */
  hstsMaxAgeSeconds: number;
  /**
   * A single-droplet server still serves and its data is being moved in: the databases also admit the stack's tag
   * (the old droplet copies the schema, subscribes the cluster and warms the cache) and the app droplets accept
   * their internal listener's port (8081) from it (its proxy forwards to them from the cutover on). @default false
   */
  migrating?: boolean;
  /**
   * The app droplets deployed (the stack's `deployment` record, infra/deployed.ts): which keep an unpinned host key.
   * Undefined: none deployed, every app droplet is new and pinned. @default undefined
   */
  deployedAppDroplets?: readonly AppDropletRecord[];
}

export interface AppDropletPlan {
  /** Logical name suffix (`app-1`) and the droplet's name (`chatbot-prod-app-1`). */
  key: string;
  dropletName: string;
  /**
   * The stack generates its SSH host key, hands it to cloud-init and pins it: every app droplet this version creates.
   * False for one deployed before (its user data stays byte-identical: a change would replace it).
   */
  pinHostKey: boolean;
}

export interface ScaleOutFirewallRule {
  protocol: "tcp" | "udp" | "icmp";
  portRange?: string;
  sourceAddresses?: string[];
  sourceTags?: string[];
  /** Admit the scale-out load balancer (its id is known only at deploy time). */
  fromLoadBalancer?: boolean;
  why: string;
}

export interface ScaleOutPlan {
  input: ScaleOutInput;
  protect: boolean;
  app: {
    tag: string;
    firewallName: string;
    size: string;
    vcpus: number;
    memoryMiB: number;
    count: number;
    droplets: AppDropletPlan[];
    workers: number;
    memory: { reserveMiB: number; proxyMiB: number; appMiB: number };
    /** SQLAlchemy settings per worker, after the cap. */
    dbPoolSize: number;
    dbMaxOverflow: number;
    /** Client connections every worker of every droplet can open to PgBouncer at most. */
    clientConnections: number;
    swapMiB: number;
    userData: string;
    configFiles: RenderedFile[];
    applyCommand: string;
    firewall: { inbound: ScaleOutFirewallRule[]; outbound: ScaleOutFirewallRule[] };
  };
  loadBalancer: {
    name: string;
    sizeUnit: number;
    redirectHttpToHttps: true;
    forwardingRules: {
      entryProtocol: "https" | "http";
      entryPort: number;
      targetProtocol: "http";
      targetPort: number;
      certificate: boolean;
    }[];
    healthcheck: { protocol: "http"; port: number; path: string } & typeof LB_HEALTHCHECK;
    certificate: { name: string; type: "lets_encrypt"; domains: string[] };
  };
  postgres: {
    name: string;
    engine: "pg";
    version: string;
    size: string;
    nodeCount: number;
    standbyNodes: number;
    maintenanceWindow: { day: "sunday"; hour: string };
    /** Backend connections of a node of this size (cluster limit). */
    backendConnections: number;
    dbName: string;
    user: string;
    pool: { name: string; mode: "transaction"; size: number; dbName: string; user: string };
  };
  valkey: {
    name: string;
    engine: "valkey";
    version: string;
    size: string;
    nodeCount: number;
    maintenanceWindow: { day: "sunday"; hour: string };
    /** DatabaseValkeyConfig valkeyMaxmemoryPolicy: the cache evicts least-recently-used keys. */
    maxmemoryPolicy: "allkeys-lru";
  };
  /** Trusted sources of both managed clusters. */
  databaseFirewall: { type: "tag"; value: string; why: string }[];
}
