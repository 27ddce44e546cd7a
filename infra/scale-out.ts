/**
 * The scale-out tier, planned: when one droplet is no longer enough (or no longer acceptable as a single point of
 * failure), the stack runs on engines DigitalOcean operates: a regional load balancer (HTTPS with a managed Let's
 * Encrypt certificate) in front of N app-only droplets, a managed PostgreSQL cluster with a PgBouncer pool, and a
 * managed Valkey cluster, all in the stack's VPC, the databases admitting only the app droplets' tag.
 *
 * Pure: plain values in, plain values out, no Pulumi. infra/components/scale-out.ts wires the result.
 *
 * Sizing, for app droplets of C vCPUs and R MiB:
 *   reserve  = 512 + 64 * C                  the host (same rule as infra/tuning.ts)
 *   proxy    = 128                           Caddy
 *   app      = R - reserve - proxy           container limit; must hold C workers of 384 MiB
 *   workers  = C                             one async uvicorn worker per vCPU
 * The managed pool gets every backend connection the database size allows, minus a reserve for direct sessions:
 *   backend  = 25 per GiB of the node's RAM - 3          (DigitalOcean: "Clusters provide 25 connections per 1 GB
 *                                                         of RAM ... 3 connections are reserved for maintenance",
 *                                                         docs.digitalocean.com/products/databases/postgresql/how-to/
 *                                                         manage-connection-pools/, checked 2026-11-28)
 *   pool     = backend - 10                             10 direct: migration subscription, psql, monitoring
 * The pool size depends on the database size only: adding app droplets never replaces the pool (a pool has no
 * update: any change recreates it and drops its clients, see DATABASE_CONNECTION_POOL in provider-rules/databases.ts).
 * Each uvicorn worker's SQLAlchemy pool_size is the configured dbPoolSize capped at its fair share of the pool
 * (pool / all workers), so the connections the app keeps open never outnumber the server connections PgBouncer has;
 * max_overflow bursts queue in PgBouncer (transaction mode) instead of failing. Every worker must get at least one.
 */
import { createHash } from "node:crypto";
import { HSTS_MAX_AGE_LIMIT, prodSshAllowlistProblems } from "./config";
import { estimateMonthly, type MonthlyEstimate } from "./cost";
import { type AppDropletRecord, type DeploymentRecord, HOST_KEY_PINNED } from "./deployed";
import { DATABASE_NODE_MONTHLY_USD, DROPLET_MONTHLY_USD, isDropletSlug } from "./pricing";
import {
  checkCertificate,
  checkConnectionPool,
  checkDatabaseCluster,
  checkDatabaseFirewallRule,
  checkDroplet,
  checkFirewall,
  checkLoadBalancer,
  isRegionOpenForNewDroplets,
  isValidSshKeyRef,
  isValidTagName,
} from "./provider-rules";
import {
  type AppNodeComposeInput,
  appNodeApplyCommand,
  renderAppNodeCloudInit,
  renderAppNodeFiles,
} from "./render/app-node";
import { INTERNAL_PORT } from "./render/caddyfile";
import type { PlannedResource } from "./resource-shapes";
import {
  APP_DB,
  APP_DB_USER,
  CONNECTIONS_PER_GIB,
  DIRECT_CONNECTIONS,
  DRAIN_SECONDS,
  LB_HEALTHCHECK,
  MANAGED_PG_VERSION,
  MANAGED_VALKEY_VERSION,
  RESERVED_CONNECTIONS,
  type ScaleOutFirewallRule,
  type ScaleOutInput,
  type ScaleOutPlan,
} from "./scale-out-shape";
import { SCALE_OUT } from "./tiers";
import { APP_MIB_PER_WORKER, PROXY_MIB } from "./tuning";

export * from "./scale-out-shape";

export class ScaleOutError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `invalid scale-out plan (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n  - ${problems.join("\n  - ")}`,
    );
    this.name = "ScaleOutError";
  }
}

const WORLD = ["0.0.0.0/0", "::/0"];

/** vCPUs and RAM of a Basic droplet slug (`s-4vcpu-8gb`). */
export function dropletShape(slug: string): { vcpus: number; memoryMiB: number } | undefined {
  const m = /^s-(\d+)vcpu-(\d+)gb$/.exec(slug);
  return m ? { vcpus: Number(m[1]), memoryMiB: Number(m[2]) * 1024 } : undefined;
}

/** RAM (GiB) of a managed database node slug (`db-s-2vcpu-4gb`). */
export function databaseNodeGiB(slug: string): number | undefined {
  const m = /^db-s-\d+vcpu-(\d+)gb$/.exec(slug);
  return m ? Number(m[1]) : undefined;
}

/** Backend connections a PostgreSQL node of this size offers (see the header). */
export function backendConnections(dbSize: string): number | undefined {
  const gib = databaseNodeGiB(dbSize);
  return gib === undefined ? undefined : CONNECTIONS_PER_GIB * gib - RESERVED_CONNECTIONS;
}

/** The app container's share of an app droplet, or undefined when the droplet cannot hold its workers. */
export function appNodeMemory(shape: { vcpus: number; memoryMiB: number }): {
  reserveMiB: number;
  proxyMiB: number;
  appMiB: number;
} {
  const reserveMiB = 512 + 64 * shape.vcpus;
  return { reserveMiB, proxyMiB: PROXY_MIB, appMiB: shape.memoryMiB - reserveMiB - PROXY_MIB };
}

/** App droplet sizes that can hold their own workers (one per vCPU), from the price table. */
export function appDropletSizes(): string[] {
  return Object.keys(DROPLET_MONTHLY_USD).filter((slug) => {
    const shape = dropletShape(slug);
    return shape !== undefined && appNodeMemory(shape).appMiB >= shape.vcpus * APP_MIB_PER_WORKER;
  });
}

const pgSizes = () => Object.keys(DATABASE_NODE_MONTHLY_USD.pg);
const valkeySizes = () => Object.keys(DATABASE_NODE_MONTHLY_USD.valkey);

function validateInput(i: ScaleOutInput): string[] {
  const p: string[] = [];
  const int = (field: keyof ScaleOutInput, lo: number, hi: number) => {
    const v = i[field];
    if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi)
      p.push(`${field}: ${JSON.stringify(v)} must be a whole number from ${lo} to ${hi}`);
  };
  if (!/^[a-z][a-z0-9-]{1,40}[a-z0-9]$/.test(i.prefix))
    p.push(
      `prefix: "${i.prefix}" must be lowercase letters, digits and hyphens (3-42 characters), such as chatbot-prod`,
    );
  if (!isRegionOpenForNewDroplets(i.region)) p.push(`region: "${i.region}" is not a region slug open to new droplets`);
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(i.domain))
    p.push(`domain: "${i.domain}" must be a lowercase host name such as chat.example.com`);
  if (!/^\/[A-Za-z0-9._~/-]*$/.test(i.healthPath))
    p.push(`healthPath: "${i.healthPath}" must be a URL path starting with /`);
  int("appPort", 1024, 65535);
  if (!/^\S+(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$/.test(i.appImage))
    p.push(`appImage: "${i.appImage}" must be an image reference with a tag or digest`);
  if (i.environment === "prod" && /:latest$/.test(i.appImage))
    p.push("appImage: must be pinned to a version or digest in prod, not :latest");
  for (const e of i.appEnv)
    if (!/^[A-Z_][A-Z0-9_]*=[^\n]*$/.test(e)) p.push(`appEnv: "${e}" must be NAME=value with NAME in upper case`);
  if (i.environment !== "dev" && i.environment !== "prod")
    p.push(`environment: ${JSON.stringify(i.environment)} must be dev or prod`);
  if (i.sshKeys.length === 0) p.push("sshKeys: must list at least one SSH key");
  for (const k of i.sshKeys)
    if (!isValidSshKeyRef(k)) p.push(`sshKeys: "${k}" is neither a numeric key id nor an MD5 fingerprint`);
  if (i.sshAllowedCidrs.length === 0) p.push("sshAllowedCidrs: must list at least one CIDR");
  if (i.environment === "prod")
    for (const problem of prodSshAllowlistProblems(i.sshAllowedCidrs)) p.push(`sshAllowedCidrs: ${problem}`);
  if (!isValidTagName(i.stackTag)) p.push(`stackTag: "${i.stackTag}" is not a valid tag name`);
  int("appCount", 2, 50);
  const shape = dropletShape(i.appDropletSize);
  if (!isDropletSlug(i.appDropletSize) || shape === undefined) {
    p.push(
      `appDropletSize: "${i.appDropletSize}" is not a priced droplet size; allowed: ${appDropletSizes().join(", ")}`,
    );
  } else if (!appDropletSizes().includes(i.appDropletSize)) {
    p.push(
      `appDropletSize: "${i.appDropletSize}" cannot hold ${shape.vcpus} worker(s) of ${APP_MIB_PER_WORKER} MiB next to the host and proxy; allowed: ${appDropletSizes().join(", ")}`,
    );
  }
  if (!pgSizes().includes(i.dbSize))
    p.push(`dbSize: "${i.dbSize}" is not a managed PostgreSQL size; allowed: ${pgSizes().join(", ")}`);
  int("dbNodeCount", 1, 3);
  if (i.environment === "prod" && i.dbNodeCount < 2)
    p.push(
      `dbNodeCount: ${i.dbNodeCount} must be at least 2 in prod (a primary and a standby that takes over on failure)`,
    );
  if (!valkeySizes().includes(i.valkeySize))
    p.push(`valkeySize: "${i.valkeySize}" is not a managed Valkey size; allowed: ${valkeySizes().join(", ")}`);
  int("dbPoolSize", 1, 100);
  int("dbMaxOverflow", 0, 100);
  if (i.lbSizeUnit !== undefined) int("lbSizeUnit", 1, 100);
  int("hstsMaxAgeSeconds", 0, HSTS_MAX_AGE_LIMIT);
  return p;
}

/** A short, stable hash: certificate names must change when their domains do (see CERTIFICATE in provider-rules/load-balancer.ts). */
function shortHash(text: string): string {
  return createHash("sha256").update(text).digest("hex").slice(0, 8);
}

export function planScaleOut(input: ScaleOutInput): ScaleOutPlan {
  const problems = validateInput(input);
  if (problems.length) throw new ScaleOutError(problems);

  const shape = dropletShape(input.appDropletSize)!;
  const memory = appNodeMemory(shape);
  const workers = shape.vcpus;
  const totalWorkers = input.appCount * workers;
  const backend = backendConnections(input.dbSize)!;
  const poolSize = backend - DIRECT_CONNECTIONS;
  if (poolSize < totalWorkers) {
    throw new ScaleOutError([
      `dbSize: "${input.dbSize}" leaves ${Math.max(poolSize, 0)} pool connection(s) (${backend} backend - ${DIRECT_CONNECTIONS} direct), fewer than the ${totalWorkers} uvicorn workers of ${input.appCount} x ${input.appDropletSize}: choose a larger dbSize, or fewer or smaller app droplets`,
    ]);
  }
  const share = Math.floor(poolSize / totalWorkers);
  const dbPoolSize = Math.min(input.dbPoolSize, share);
  const prefix = input.prefix;
  const appTag = `${prefix}-app`;

  const compose: AppNodeComposeInput = {
    appImage: input.appImage,
    appPort: input.appPort,
    healthPath: input.healthPath,
    appEnv: input.appEnv,
    workers,
    dbPoolSize,
    dbMaxOverflow: input.dbMaxOverflow,
    appMemoryMiB: memory.appMiB,
    proxyMemoryMiB: memory.proxyMiB,
    stopGraceSeconds: 30,
    hstsMaxAgeSeconds: input.hstsMaxAgeSeconds,
  };
  const swapMiB = shape.memoryMiB > 8192 ? 2048 : 1024;
  const migrating = input.migrating === true;

  const plan: ScaleOutPlan = {
    input,
    protect: input.environment === "prod",
    app: {
      tag: appTag,
      firewallName: `${prefix}-app-fw`,
      size: input.appDropletSize,
      vcpus: shape.vcpus,
      memoryMiB: shape.memoryMiB,
      count: input.appCount,
      droplets: Array.from({ length: input.appCount }, (_, n) => {
        const key = `app-${n + 1}`;
        const deployed = input.deployedAppDroplets?.find((d) => d.key === key);
        return {
          key,
          dropletName: `${prefix}-${key}`,
          pinHostKey: deployed ? deployed.hostKey === HOST_KEY_PINNED : true,
        };
      }),
      workers,
      memory,
      dbPoolSize,
      dbMaxOverflow: input.dbMaxOverflow,
      clientConnections: totalWorkers * (dbPoolSize + input.dbMaxOverflow),
      swapMiB,
      userData: renderAppNodeCloudInit({ swapMiB }),
      configFiles: renderAppNodeFiles(compose),
      applyCommand: appNodeApplyCommand(DRAIN_SECONDS, input.healthPath),
      firewall: {
        inbound: [
          {
            protocol: "tcp",
            portRange: "80",
            fromLoadBalancer: true,
            why: "HTTP from the load balancer (TLS ends there)",
          },
          ...(migrating
            ? [
                {
                  protocol: "tcp" as const,
                  portRange: String(INTERNAL_PORT),
                  sourceTags: [input.stackTag],
                  why: "cutover: the old droplet's proxy forwards to the internal listener until DNS has moved",
                },
              ]
            : []),
          {
            protocol: "tcp",
            portRange: "22",
            sourceAddresses: input.sshAllowedCidrs,
            why: "SSH from the allowlist only (config sync)",
          },
          { protocol: "icmp", sourceAddresses: WORLD, why: "ping and path MTU discovery" },
        ],
        outbound: [
          {
            protocol: "tcp",
            portRange: "1-65535",
            sourceAddresses: WORLD,
            why: "image registry, package mirrors, managed databases",
          },
          { protocol: "udp", portRange: "1-65535", sourceAddresses: WORLD, why: "DNS, NTP" },
          { protocol: "icmp", sourceAddresses: WORLD, why: "ping" },
        ],
      },
    },
    loadBalancer: {
      name: `${prefix}-lb`,
      sizeUnit: input.lbSizeUnit ?? 1,
      redirectHttpToHttps: true,
      forwardingRules: [
        { entryProtocol: "https", entryPort: 443, targetProtocol: "http", targetPort: 80, certificate: true },
        // The redirect needs a rule on port 80 to exist; the load balancer answers it with a redirect to 443.
        { entryProtocol: "http", entryPort: 80, targetProtocol: "http", targetPort: 80, certificate: false },
      ],
      healthcheck: { protocol: "http", port: 80, path: input.healthPath, ...LB_HEALTHCHECK },
      certificate: { name: `${prefix}-cert-${shortHash(input.domain)}`, type: "lets_encrypt", domains: [input.domain] },
    },
    postgres: {
      name: `${prefix}-pg`,
      engine: "pg",
      version: MANAGED_PG_VERSION,
      size: input.dbSize,
      nodeCount: input.dbNodeCount,
      standbyNodes: input.dbNodeCount - 1,
      maintenanceWindow: { day: "sunday", hour: "04:00" },
      backendConnections: backend,
      dbName: APP_DB,
      user: APP_DB_USER,
      pool: { name: `${APP_DB}-pool`, mode: "transaction", size: poolSize, dbName: APP_DB, user: APP_DB_USER },
    },
    valkey: {
      name: `${prefix}-valkey`,
      engine: "valkey",
      version: MANAGED_VALKEY_VERSION,
      size: input.valkeySize,
      // A cache: one node in dev; in prod a standby node so a node failure does not empty it.
      nodeCount: input.environment === "prod" ? 2 : 1,
      maintenanceWindow: { day: "sunday", hour: "05:00" },
      maxmemoryPolicy: "allkeys-lru",
    },
    databaseFirewall: [
      { type: "tag", value: appTag, why: "the app droplets" },
      ...(migrating
        ? [{ type: "tag" as const, value: input.stackTag, why: "the single-droplet server, while its data moves in" }]
        : []),
    ],
  };
  const providerProblems = checkAgainstProvider(plan);
  if (providerProblems.length) throw new ScaleOutError(providerProblems);
  return plan;
}

/** The plan's resources through the provider's own rules (infra/provider-rules/): what a mock would accept. */
export function checkAgainstProvider(plan: ScaleOutPlan): string[] {
  const { input } = plan;
  const at = (what: string, problems: string[]) => problems.map((x) => `${what} ${x}`);
  const lb = plan.loadBalancer;
  const fw = plan.app.firewall;
  const rule = (r: ScaleOutFirewallRule, dir: "source" | "destination") => ({
    protocol: r.protocol,
    portRange: r.portRange,
    [`${dir}Addresses`]: r.sourceAddresses,
    [`${dir}Tags`]: r.sourceTags,
    [`${dir}LoadBalancerUids`]: r.fromLoadBalancer ? ["lb-uid-known-at-deploy"] : undefined,
  });
  return [
    ...plan.app.droplets.flatMap((d) =>
      at(
        `droplet ${d.dropletName}:`,
        checkDroplet({
          name: d.dropletName,
          size: plan.app.size,
          image: "ubuntu-24-04-x64",
          region: input.region,
          sshKeys: input.sshKeys,
          userData: plan.app.userData,
          tags: [plan.app.tag],
        }),
      ),
    ),
    ...at(
      "app firewall:",
      checkFirewall({
        name: plan.app.firewallName,
        tags: [plan.app.tag],
        inboundRules: fw.inbound.map((r) => rule(r, "source")),
        outboundRules: fw.outbound.map((r) => rule(r, "destination")),
      }),
    ),
    ...at(
      "load balancer:",
      checkLoadBalancer({
        sizeUnit: lb.sizeUnit,
        region: input.region,
        dropletTag: plan.app.tag,
        redirectHttpToHttps: lb.redirectHttpToHttps,
        forwardingRules: lb.forwardingRules.map(({ certificate: _c, ...r }) => r),
        healthcheck: lb.healthcheck,
      }),
    ),
    ...at("certificate:", checkCertificate({ type: lb.certificate.type, domains: lb.certificate.domains })),
    ...at(
      "postgres cluster:",
      checkDatabaseCluster({
        engine: plan.postgres.engine,
        version: plan.postgres.version,
        size: plan.postgres.size,
        region: input.region,
        nodeCount: plan.postgres.nodeCount,
        maintenanceWindows: [plan.postgres.maintenanceWindow],
        tags: [plan.app.tag],
      }),
    ),
    ...at(
      "valkey cluster:",
      checkDatabaseCluster({
        engine: plan.valkey.engine,
        version: plan.valkey.version,
        size: plan.valkey.size,
        region: input.region,
        nodeCount: plan.valkey.nodeCount,
        maintenanceWindows: [plan.valkey.maintenanceWindow],
        tags: [plan.app.tag],
      }),
    ),
    ...at("connection pool:", checkConnectionPool(plan.postgres.pool)),
    ...plan.databaseFirewall.flatMap((r) => at("database firewall:", checkDatabaseFirewallRule(r))),
  ];
}

/**
 * The priced resources of the plan, in the shape infra/cost/ reads (type token and the inputs the component
 * registers), so the tier's monthly cost comes from the one price table before anything is deployed: for the
 * capacity report's scale-out recommendation and for summaries. The load balancer, droplets and clusters cost money;
 * the certificate, pool, database, user and firewalls are listed free in infra/pricing.ts.
 */
export function scaleOutResources(plan: ScaleOutPlan): PlannedResource[] {
  const cluster = (name: string, c: { engine: string; size: string; nodeCount: number }) => ({
    type: "digitalocean:index/databaseCluster:DatabaseCluster",
    name,
    inputs: { engine: c.engine, size: c.size, nodeCount: c.nodeCount },
  });
  return [
    {
      type: "digitalocean:index/loadBalancer:LoadBalancer",
      name: "lb",
      inputs: { sizeUnit: plan.loadBalancer.sizeUnit },
    },
    ...plan.app.droplets.map((d) => ({
      type: "digitalocean:index/droplet:Droplet",
      name: d.key,
      inputs: { size: plan.app.size, backups: false },
    })),
    cluster("pg", plan.postgres),
    cluster("valkey", plan.valkey),
    { type: "digitalocean:index/certificate:Certificate", name: "cert", inputs: {} },
    { type: "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool", name: "pool", inputs: {} },
  ];
}

/**
 * The app droplets a deployed record says exist, for `ScaleOutInput.deployedAppDroplets`: none unless it is a scale-out
 * record; its list; or, for a scale-out stack whose outputs show neither the list nor the `servers` it is read back
 * from, every planned one, unpinned (nothing deployed may change its user data, and which exist is unknown).
 */
export function deployedAppDroplets(
  record: Pick<DeploymentRecord, "tier" | "scaleOut"> | undefined,
  appCount: number,
): AppDropletRecord[] | undefined {
  if (record?.tier !== SCALE_OUT) return undefined;
  return record.scaleOut?.appDroplets ?? Array.from({ length: appCount }, (_, n) => ({ key: `app-${n + 1}` }));
}

/** The `deployment` record's `scaleOut` after a `pulumi up` of this plan: its app droplets and which are pinned. */
export function scaleOutRecord(plan: ScaleOutPlan): NonNullable<DeploymentRecord["scaleOut"]> {
  return {
    appDroplets: plan.app.droplets.map((d) => ({ key: d.key, ...(d.pinHostKey ? { hostKey: HOST_KEY_PINNED } : {}) })),
  };
}

export function scaleOutMonthly(plan: ScaleOutPlan): MonthlyEstimate {
  return estimateMonthly(scaleOutResources(plan));
}
