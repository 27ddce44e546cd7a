/**
 * The guardrails' logic as plain functions over resource types, URNs, inputs and `protect`, shared with the program
 * where it can be: the prod stack pattern and the SSH allowlist size check come from infra/config.ts, droplet prices
 * from infra/pricing.ts, the monthly cost from infra/cost. No Pulumi import: policies.ts wires these into CrossGuard.
 */
import { estimateMonthly, UNKNOWN_VALUE } from "../infra/cost";
import { PROD_STACK_PATTERN, prodSshAllowlistProblems } from "../infra/config";
import { DROPLET_MONTHLY_USD, isDropletSlug } from "../infra/pricing";

export const TYPES = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  firewall: "digitalocean:index/firewall:Firewall",
  databaseFirewall: "digitalocean:index/databaseFirewall:DatabaseFirewall",
  databaseCluster: "digitalocean:index/databaseCluster:DatabaseCluster",
  appServer: "chatbot:server:AppServer",
  tierMigration: "chatbot:migration:TierMigration",
  scaleOutMigration: "chatbot:scaleout:ScaleOutMigration",
} as const;

/** The database ports that must never face the Internet: PostgreSQL and Redis. */
export const DATABASE_PORTS = [5432, 6379] as const;
const WORLD = ["0.0.0.0/0", "::/0"];

/** The stack a URN belongs to: `urn:pulumi:<stack>::<project>::<type>::<name>`. */
export function stackOfUrn(urn: string): string {
  return (urn.split("::")[0] ?? "").replace(/^urn:pulumi:/, "");
}

/**
 * Whether the guardrails for prod apply: decided by the stack's name, never by a config key of the stack (the
 * program's `environment` key can turn its own checks off; the pack's cannot be turned off from the stack).
 * @param pattern a regular expression over the stack name. @default the program's (`prod` or `prod-*`)
 */
export function isProdStack(urn: string, pattern: string = PROD_STACK_PATTERN.source): boolean {
  return new RegExp(pattern).test(stackOfUrn(urn));
}

/** Whether a DigitalOcean firewall port range (`22`, `8000-9000`, `all`, or none for every port) admits the port. */
export function portRangeCovers(range: unknown, port: number): boolean {
  if (range === undefined || range === null || range === "" || range === "all" || range === "0") return true;
  const m = /^(\d+)(?:-(\d+))?$/.exec(String(range).trim());
  if (!m) return false;
  const low = Number(m[1]);
  const high = m[2] === undefined ? low : Number(m[2]);
  return port >= low && port <= high;
}

interface InboundRule {
  protocol?: string;
  portRange?: string;
  sourceAddresses?: string[];
}

function inboundRules(props: Record<string, unknown>): InboundRule[] {
  return Array.isArray(props.inboundRules) ? (props.inboundRules as InboundRule[]) : [];
}

const tcpRulesFor = (props: Record<string, unknown>, port: number) =>
  inboundRules(props).filter((r) => (r.protocol ?? "tcp") === "tcp" && portRangeCovers(r.portRange, port));

/** What is wrong with who may reach SSH through a firewall in prod: the world, or more addresses than the limit. */
export function sshProblems(firewallProps: Record<string, unknown>): string[] {
  const sources = [...new Set(tcpRulesFor(firewallProps, 22).flatMap((r) => r.sourceAddresses ?? []))];
  const world = sources.filter((s) => WORLD.includes(s));
  const problems = world.length ? [`port 22 is open to the world (${world.join(", ")})`] : [];
  return [...problems, ...prodSshAllowlistProblems(sources).map((p) => `port 22 ${p}`)];
}

/** Inbound rules of a droplet firewall that open PostgreSQL or Redis to the whole Internet (IPv4 or IPv6). */
export function publicDatabasePorts(firewallProps: Record<string, unknown>): string[] {
  return DATABASE_PORTS.flatMap((port) =>
    tcpRulesFor(firewallProps, port)
      .filter((r) => (r.sourceAddresses ?? []).some((s) => WORLD.includes(s)))
      .map(
        (r) =>
          `port ${port} is open to ${(r.sourceAddresses ?? []).filter((s) => WORLD.includes(s)).join(", ")} (rule ${r.protocol ?? "tcp"} ${r.portRange ?? "all"})`,
      ),
  );
}

/** Rules of a managed database's firewall that admit the whole Internet. */
export function publicDatabaseFirewall(props: Record<string, unknown>): string[] {
  const rules = Array.isArray(props.rules) ? (props.rules as { type?: string; value?: string }[]) : [];
  return rules
    .filter((r) => r.type === "ip_addr" && WORLD.includes(String(r.value)))
    .map((r) => `the managed database admits ${String(r.value)}`);
}

/** Why a droplet size is over the ceiling, or undefined when it is within it. */
export function dropletSizeProblem(size: unknown, maxMonthlyUsd: number): string | undefined {
  if (typeof size !== "string" || !isDropletSlug(size)) {
    return `size ${JSON.stringify(size)} is not in the price table (infra/pricing.ts): ${Object.keys(DROPLET_MONTHLY_USD).join(", ")}`;
  }
  const price = DROPLET_MONTHLY_USD[size];
  return price > maxMonthlyUsd
    ? `size ${size} costs $${price}/month, above the ceiling of $${maxMonthlyUsd} (policy config maxDropletMonthlyUsd)`
    : undefined;
}

/** A droplet or volume of one of the stack's single-droplet servers (they hold PostgreSQL and Redis data). */
export function isServerChild(urn: string): boolean {
  return (urn.split("::")[2] ?? "").includes(`${TYPES.appServer}$`);
}

/** The view of a stack's resource these rules need (CrossGuard's PolicyResource has these fields). */
export interface StackResource {
  type: string;
  name: string;
  urn: string;
  /** The parent's URN. */
  parent?: string;
  protect: boolean;
  props: Record<string, unknown>;
}

export interface Finding {
  urn: string;
  message: string;
}

/**
 * The servers (AppServer components) whose droplet or volume is not protected. While a tier migration or the move
 * onto scale-out is in the stack, one server may be entirely unprotected: the one migrated from, once its retention
 * has passed and the program takes its protection off before it drops it (its volume is left at DigitalOcean by
 * `retainOnDelete`, a resource option CrossGuard does not see: pulumi/pulumi proto/pulumi/analyzer.proto,
 * AnalyzerResourceOptions).
 */
function unprotectedServers(
  resources: readonly StackResource[],
): { server: StackResource; droplet?: StackResource; volume?: StackResource; rollbackTarget: boolean }[] {
  const migrating = resources.some((r) => r.type === TYPES.tierMigration || r.type === TYPES.scaleOutMigration);
  const servers = resources
    .filter((r) => r.type === TYPES.appServer)
    .map((server) => {
      const child = (type: string) => resources.find((r) => r.type === type && r.parent === server.urn);
      return { server, droplet: child(TYPES.droplet), volume: child(TYPES.volume) };
    });
  const bare = servers.filter((s) => [s.droplet, s.volume].some((r) => r && !r.protect));
  const fullyBare = bare.filter((s) => [s.droplet, s.volume].every((r) => !r?.protect));
  const rollbackTarget = migrating && bare.length === 1 && fullyBare.length === 1 ? bare[0] : undefined;
  return bare.map((s) => ({ ...s, rollbackTarget: s === rollbackTarget }));
}

/** Prod droplets of the servers and managed database clusters that are not protected from deletion. */
export function unprotectedStateful(resources: readonly StackResource[]): Finding[] {
  const findings: Finding[] = [];
  for (const s of unprotectedServers(resources)) {
    if (s.rollbackTarget || !s.droplet || s.droplet.protect) continue;
    findings.push({
      urn: s.droplet.urn,
      message: `droplet ${s.droplet.name} of server ${s.server.name} is not protected (protect: true)`,
    });
  }
  for (const c of resources.filter((r) => r.type === TYPES.databaseCluster && !r.protect)) {
    findings.push({ urn: c.urn, message: `managed database cluster ${c.name} is not protected (protect: true)` });
  }
  return findings;
}

/** Prod volumes that a `pulumi up` could delete: not protected, and not the rollback target's (see above). */
export function deletableVolumes(resources: readonly StackResource[]): Finding[] {
  const target = unprotectedServers(resources).find((s) => s.rollbackTarget)?.volume;
  return resources
    .filter((r) => r.type === TYPES.volume && !r.protect && r !== target)
    .map((v) => ({
      urn: v.urn,
      message: `volume ${v.name} is not protected: a plan that drops or replaces it would delete its data`,
    }));
}

/**
 * The monthly cost of the stack's resources (infra/cost `estimateMonthly`). A value not known yet (a preview) is
 * read as Pulumi's unknown sentinel, which the price table leaves unpriced, so the total is a lower bound then.
 */
export function monthlyCostOf(
  resources: readonly Pick<StackResource, "type" | "name" | "urn" | "props">[],
  readable: (v: unknown) => unknown = (v) => v,
): { monthly: number; unpriced: string[] } {
  const estimate = estimateMonthly(
    resources.map((r) => ({
      type: r.type,
      name: r.name,
      urn: r.urn,
      custom: !r.type.startsWith("chatbot:"),
      inputs: readable(r.props) as Record<string, unknown>,
    })),
  );
  return { monthly: estimate.monthly, unpriced: estimate.unpriced.map((u) => `${u.name} (${u.note})`) };
}

export { UNKNOWN_VALUE };
