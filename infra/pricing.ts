/**
 * DigitalOcean list prices in USD per month.
 *
 * Every entry names where the figure comes from and when it was checked. `confirmed: false` marks a figure that
 * could not be read on a current DigitalOcean page when it was checked (the search index held only an older page
 * or none): the estimator still uses it, and every report lists the resources priced with it. A resource this table
 * does not know is "not priced", never $0: see infra/cost/price-resources.ts.
 *
 * Prices are kept in whole cents so that totals are exact to the cent.
 */

export interface PriceSource {
  url: string;
  checked: string; // ISO date
  /** false: the figure could not be confirmed on a current DigitalOcean page on `checked`. */
  confirmed: boolean;
  note?: string;
}

/** Basic (shared CPU) droplets, regular Intel, monthly list price. Billed per second with a 60 s minimum. */
export const DROPLET_PRICES_SOURCE: PriceSource = {
  url: "https://docs.digitalocean.com/products/droplets/details/pricing/",
  checked: "2026-11-28",
  confirmed: true,
};

export const DROPLET_MONTHLY_USD = {
  "s-1vcpu-1gb": 6,
  "s-1vcpu-2gb": 12,
  "s-2vcpu-2gb": 18,
  "s-2vcpu-4gb": 24,
  "s-4vcpu-8gb": 48,
  "s-8vcpu-16gb": 96,
} as const;

export type DropletSlug = keyof typeof DROPLET_MONTHLY_USD;

export function isDropletSlug(value: string): value is DropletSlug {
  return Object.hasOwn(DROPLET_MONTHLY_USD, value);
}

/**
 * Droplet backups, basic plans: a share of the droplet's monthly price. A droplet with `backups: true` and no
 * `backupPolicy.plan` gets daily backups (@pulumi/digitalocean 4.80.1 `droplet.d.ts`, `backupPolicy` doc:
 * "If omitted and `backups` is `true`, the backup plan will default to daily").
 */
export const BACKUP_SHARE_PERCENT = { weekly: 20, daily: 30 } as const;
export type BackupPlan = keyof typeof BACKUP_SHARE_PERCENT;
export const DEFAULT_BACKUP_PLAN: BackupPlan = "daily";
export const BACKUP_PRICES_SOURCE: PriceSource = {
  url: "https://docs.digitalocean.com/products/backups/details/pricing/",
  checked: "2026-11-28",
  confirmed: true,
  note: "page validated 9 Mar 2026: weekly 20.0 %, daily 30.0 % of the droplet's monthly cost",
};

/** Snapshots (droplet and volume): per GiB-month of snapshot size. */
export const SNAPSHOT_CENTS_PER_GIB_MONTH = 6;
export const SNAPSHOT_PRICES_SOURCE: PriceSource = {
  url: "https://docs.digitalocean.com/products/images/snapshots/details/pricing/",
  checked: "2026-11-28",
  confirmed: true,
};

/** Block storage volumes: per GiB-month of provisioned size. */
export const VOLUME_CENTS_PER_GIB_MONTH = 10;
export const VOLUME_PRICES_SOURCE: PriceSource = {
  url: "https://www.digitalocean.com/pricing/volumes",
  checked: "2026-11-28",
  confirmed: false,
  note: "$0.10/GiB-month is the widely cited list price; no current DigitalOcean page with it was found",
};

/** Reserved IPv4: free while assigned to a droplet, billed while unassigned. */
export const RESERVED_IP_CENTS = { assigned: 0, unassigned: 500 } as const;
export const RESERVED_IP_PRICES_SOURCE: PriceSource = {
  url: "https://docs.digitalocean.com/products/networking/reserved-ips/details/pricing/",
  checked: "2026-11-28",
  confirmed: false,
  note:
    "'assigned reserved IPv4 addresses are free, unassigned are not' is confirmed (reserved-ips/how-to/modify, " +
    "2025-06-17); the $5.00/month unassigned figure is not",
};

/** Regional load balancers: per node. Legacy `size` slugs map to a node count. */
export const LOAD_BALANCER_CENTS_PER_NODE = 1200;
export const LOAD_BALANCER_LEGACY_SIZE_NODES = { "lb-small": 1, "lb-medium": 3, "lb-large": 6 } as const;
export const LOAD_BALANCER_PRICES_SOURCE: PriceSource = {
  url: "https://docs.digitalocean.com/products/networking/load-balancers/details/pricing/",
  checked: "2026-11-28",
  confirmed: false,
  note:
    "the stored DigitalOcean page says $10.00 per node (an older version); $12.00 per node is the current " +
    "figure we know of; GLOBAL and REGIONAL_NETWORK load balancers are not priced",
};

/**
 * Managed database nodes by engine and size slug, monthly per node (a cluster of `nodeCount` nodes costs
 * `nodeCount` times this). Slugs as in pulumi-digitalocean `sdk/nodejs/types/enums` (`DatabaseSlug`).
 */
const MANAGED_NODE_USD = {
  "db-s-1vcpu-1gb": 15,
  "db-s-1vcpu-2gb": 30,
  "db-s-2vcpu-4gb": 60,
  "db-s-4vcpu-8gb": 120,
  "db-s-6vcpu-16gb": 240,
  "db-s-8vcpu-32gb": 480,
  "db-s-16vcpu-64gb": 960,
} as const;
export type DatabaseSlug = keyof typeof MANAGED_NODE_USD;
export const DATABASE_NODE_MONTHLY_USD: Record<"pg" | "valkey" | "redis", Record<DatabaseSlug, number>> = {
  pg: MANAGED_NODE_USD,
  valkey: MANAGED_NODE_USD,
  redis: MANAGED_NODE_USD,
};
export type DatabaseEngine = keyof typeof DATABASE_NODE_MONTHLY_USD;
export const DATABASE_PRICES_SOURCE: PriceSource = {
  url: "https://www.digitalocean.com/pricing/managed-databases",
  checked: "2026-11-28",
  confirmed: false,
  note:
    "per-node list prices as we know them; only the smallest node ($15, and 3 nodes $45) was corroborated, by a " +
    "third-party comparison; storage above the plan's included disk is not priced",
};

/** Uptime checks: per check per month; uptime alerts are free. */
export const UPTIME_CHECK_CENTS = 100;
export const UPTIME_PRICES_SOURCE: PriceSource = {
  url: "https://docs.digitalocean.com/products/uptime/details/pricing/",
  checked: "2026-11-28",
  confirmed: true,
  note: "'Each Uptime check costs $1.00 per month ... no additional cost for alerts' (uptime/details, 27 Mar 2026)",
};

const FREE_SOURCE = (url: string, note?: string): PriceSource => ({
  url,
  checked: "2026-11-28",
  confirmed: true,
  ...(note === undefined ? {} : { note }),
});

/** Resource types that cost nothing, with the reason. Anything not here and not priced above is "not priced". */
export const FREE_RESOURCE_TYPES: Record<string, PriceSource> = {
  "digitalocean:index/vpc:Vpc": FREE_SOURCE("https://docs.digitalocean.com/products/networking/vpc/details/pricing/"),
  "digitalocean:index/firewall:Firewall": FREE_SOURCE(
    "https://docs.digitalocean.com/products/networking/firewalls/details/pricing/",
  ),
  "digitalocean:index/domain:Domain": FREE_SOURCE(
    "https://docs.digitalocean.com/products/networking/dns/details/pricing/",
  ),
  "digitalocean:index/dnsRecord:DnsRecord": FREE_SOURCE(
    "https://docs.digitalocean.com/products/networking/dns/details/pricing/",
  ),
  "digitalocean:index/project:Project": FREE_SOURCE("https://docs.digitalocean.com/platform/projects/"),
  "digitalocean:index/projectResources:ProjectResources": FREE_SOURCE(
    "https://docs.digitalocean.com/platform/projects/",
  ),
  "digitalocean:index/monitorAlert:MonitorAlert": FREE_SOURCE(
    "https://docs.digitalocean.com/products/monitoring/",
    "Monitoring is a free, opt-in service",
  ),
  "digitalocean:index/uptimeAlert:UptimeAlert": FREE_SOURCE(
    "https://docs.digitalocean.com/products/uptime/details/pricing/",
  ),
  "digitalocean:index/sshKey:SshKey": FREE_SOURCE(
    "https://docs.digitalocean.com/products/droplets/how-to/add-ssh-keys/",
  ),
  "digitalocean:index/tag:Tag": FREE_SOURCE("https://docs.digitalocean.com/platform/tags/"),
  "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": FREE_SOURCE(
    "https://docs.digitalocean.com/products/networking/reserved-ips/details/pricing/",
    "the assignment itself is free; it makes its reserved IP free too",
  ),
  "digitalocean:index/volumeAttachment:VolumeAttachment": FREE_SOURCE(
    "https://docs.digitalocean.com/products/volumes/details/pricing/",
  ),
  "digitalocean:index/certificate:Certificate": FREE_SOURCE(
    "https://docs.digitalocean.com/products/networking/load-balancers/",
    "no additional cost for Let's Encrypt or custom certificates on load balancers",
  ),
  "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool": FREE_SOURCE(
    "https://docs.digitalocean.com/products/databases/postgresql/how-to/manage-connection-pools/",
    "included in the cluster price",
  ),
  "digitalocean:index/databaseFirewall:DatabaseFirewall": FREE_SOURCE(
    "https://docs.digitalocean.com/products/databases/",
    "included in the cluster price",
  ),
  "digitalocean:index/databaseUser:DatabaseUser": FREE_SOURCE(
    "https://docs.digitalocean.com/products/databases/",
    "included in the cluster price",
  ),
  "digitalocean:index/databaseDb:DatabaseDb": FREE_SOURCE(
    "https://docs.digitalocean.com/products/databases/",
    "included in the cluster price",
  ),
  "digitalocean:index/databaseValkeyConfig:DatabaseValkeyConfig": FREE_SOURCE(
    "https://docs.digitalocean.com/products/databases/valkey/",
    "settings of a cluster, included in the cluster price",
  ),
  "command:remote:Command": FREE_SOURCE(
    "https://www.pulumi.com/registry/packages/command/",
    "runs a command, no cloud resource",
  ),
  "command:remote:CopyToRemote": FREE_SOURCE(
    "https://www.pulumi.com/registry/packages/command/",
    "copies files, no cloud resource",
  ),
  "command:local:Command": FREE_SOURCE(
    "https://www.pulumi.com/registry/packages/command/",
    "runs a command, no cloud resource",
  ),
  "tls:index/privateKey:PrivateKey": FREE_SOURCE(
    "https://www.pulumi.com/registry/packages/tls/",
    "generated locally (a droplet's SSH host key), no cloud resource",
  ),
  "random:index/randomPassword:RandomPassword": FREE_SOURCE(
    "https://www.pulumi.com/registry/packages/random/",
    "generated locally, no cloud resource",
  ),
  "random:index/randomString:RandomString": FREE_SOURCE(
    "https://www.pulumi.com/registry/packages/random/",
    "generated locally, no cloud resource",
  ),
};

/** Type tokens that are not cloud resources at all: the stack, providers, and our own components. */
export function isBookkeepingType(type: string): boolean {
  return type === "pulumi:pulumi:Stack" || type.startsWith("pulumi:providers:") || type.startsWith("chatbot:");
}

/** Every source in the table, for `npm run cost -- --sources` style listings and for the tests. */
export const PRICE_SOURCES: Record<string, PriceSource> = {
  droplets: DROPLET_PRICES_SOURCE,
  backups: BACKUP_PRICES_SOURCE,
  snapshots: SNAPSHOT_PRICES_SOURCE,
  volumes: VOLUME_PRICES_SOURCE,
  reservedIps: RESERVED_IP_PRICES_SOURCE,
  loadBalancers: LOAD_BALANCER_PRICES_SOURCE,
  databases: DATABASE_PRICES_SOURCE,
  uptime: UPTIME_PRICES_SOURCE,
};
