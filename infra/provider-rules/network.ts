/**
 * Provider rules for the network: tags (shared by every resource with `tags`), firewalls and VPCs. Sources (TF, SDK,
 * API, GODO) and how to read them: see ./index.ts.
 */
import { TF, isIPv4, isInt, isIpOrCidr, list, nonEmpty, oneOf } from "./checks";

// ---------------------------------------------------------------------------------------------------------------
// Tags (shared by every resource with `tags`)
// ---------------------------------------------------------------------------------------------------------------

export const TAG = {
  source: `${TF} digitalocean/tag/tags.go@48a186e13afce5f01a88ccb4ea531b78b3fbc820, tag/resource_tag.go@95da01c1`,
  // tagNameRe = ^[a-zA-Z0-9:\-_]{1,255}$ . The error text says "lowercase letters", but the regex takes uppercase too;
  // tag sets hash case-insensitively (util.HashStringIgnoreCase), so "Web" and "web" are the same set member.
  namePattern: /^[a-zA-Z0-9:\-_]{1,255}$/,
  maxLength: 255,
  // digitalocean_tag has no Update: changing `name` replaces the tag.
  forceNew: ["name"] as const,
} as const;

export function isValidTagName(name: string): boolean {
  return TAG.namePattern.test(name);
}

export function checkTags(field: string, tags: unknown, out: string[]): void {
  if (tags === undefined) return;
  if (!Array.isArray(tags)) {
    out.push(`${field}: must be a list of tag names`);
    return;
  }
  for (const t of tags) {
    if (typeof t !== "string" || !isValidTagName(t)) {
      out.push(`${field}: ${JSON.stringify(t)} is not a valid tag; allowed: 1-255 of letters, digits, ":", "-", "_"`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Firewall
// ---------------------------------------------------------------------------------------------------------------

export const FIREWALL = {
  source: `${TF} digitalocean/firewall/firewalls.go@95da01c190354c0d9955736d058e4f5fb9811a06, firewall/resource_firewall.go@48a186e1`,
  // StringInSlice tcp/udp/icmp. The SDK's `Protocol` enum also has "http"/"https": those are for load balancers
  // and a firewall rejects them.
  protocols: ["tcp", "udp", "icmp"] as const,
  // API firewalls/models/firewall_rule.yml@40a2bf72 enum; default allow. Exercised in TF resource_firewall_test.go
  // @362b4463 (TestAccDigitalOceanFirewall_WithAction).
  actions: ["allow", "deny"] as const,
  // port_range: required unless protocol is icmp (CustomizeDiff). A single port, "A-B", "1-65535", or "all"
  // (acceptance test fullPortRange uses "all"; the API reports all ports as "0", which the provider reads back
  // as "all", so writing "0" yourself diffs forever).
  portRangeAll: ["all", "1-65535"] as const,
  // source_/destination_ droplet_ids are TypeInt sets (`number[]` in the SDK); addresses, load_balancer_uids,
  // kubernetes_ids are strings; tags go through the tag regex.
  numberInputs: ["dropletIds", "inboundRules[].sourceDropletIds", "outboundRules[].destinationDropletIds"] as const,
  targetFields: ["Addresses", "DropletIds", "Tags", "LoadBalancerUids", "KubernetesIds"] as const,
  // name: provider NoZeroValues. API: "must begin with an alphanumeric character. Subsequent characters must
  // either be alphanumeric characters, a period (.), or a dash (-)" (API firewalls/models/firewall.yml@502fee23):
  // so at least 2 characters and no "_".
  namePattern: /^[a-zA-Z0-9][a-zA-Z0-9.-]+$/,
  // At least one inbound or outbound rule (CustomizeDiff "At least one rule must be specified").
  requiresAtLeastOneRule: true,
  // Everything updates in place.
  forceNew: [] as const,
} as const;

/** "22", "8000-9000", "1-65535" or "all" (for tcp/udp rules). */
export function isValidPortRange(s: string): boolean {
  if ((FIREWALL.portRangeAll as readonly string[]).includes(s)) return true;
  const m = /^([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?$/.exec(s);
  if (!m) return false;
  const lo = Number(m[1]);
  const hi = m[2] === undefined ? lo : Number(m[2]);
  return lo >= 1 && hi <= 65535 && lo <= hi;
}

export function isValidFirewallName(name: string): boolean {
  return FIREWALL.namePattern.test(name);
}

/** One inbound (`source*` fields) or outbound (`destination*` fields) rule, in the SDK's input shape. */
export function checkFirewallRule(direction: "inbound" | "outbound", rule: Record<string, unknown>): string[] {
  const out: string[] = [];
  const at = `${direction}Rules`;
  const prefix = direction === "inbound" ? "source" : "destination";
  oneOf(`${at}.protocol`, rule.protocol, FIREWALL.protocols, out);
  const port = rule.portRange;
  if (port === undefined || port === "") {
    if (rule.protocol !== "icmp")
      out.push(
        `${at}.portRange: required for protocol ${JSON.stringify(rule.protocol)}; allowed: a port, "A-B", "1-65535" or "all"`,
      );
  } else if (typeof port !== "string" || !isValidPortRange(port)) {
    out.push(
      `${at}.portRange: ${JSON.stringify(port)} is not allowed; allowed: a port 1-65535, "A-B", "1-65535" or "all" (a string)`,
    );
  }
  if (rule.action !== undefined) oneOf(`${at}.action`, rule.action, FIREWALL.actions, out);
  let targets = 0;
  for (const f of FIREWALL.targetFields) {
    const key = prefix + f;
    const v = rule[key];
    if (v === undefined) continue;
    if (!Array.isArray(v)) {
      out.push(`${at}.${key}: must be a list`);
      continue;
    }
    targets += v.length;
    for (const item of v) {
      if (f === "DropletIds") {
        if (!(isInt(item) && item > 0))
          out.push(`${at}.${key}: ${JSON.stringify(item)} must be a droplet ID as a number (Number(droplet.id))`);
      } else if (f === "Addresses") {
        if (typeof item !== "string" || !isIpOrCidr(item))
          out.push(`${at}.${key}: ${JSON.stringify(item)} is not an IPv4/IPv6 address or CIDR`);
      } else if (f === "Tags") {
        if (typeof item !== "string" || !isValidTagName(item))
          out.push(`${at}.${key}: ${JSON.stringify(item)} is not a valid tag name`);
      } else if (!nonEmpty(item)) {
        out.push(`${at}.${key}: ${JSON.stringify(item)} must be a non-empty string ID`);
      }
    }
  }
  // Not a provider check: a rule with no source/destination matches nothing (our own guardrail).
  if (targets === 0)
    out.push(
      `${at}: names no ${prefix} (addresses, dropletIds, tags, loadBalancerUids or kubernetesIds), so it matches no traffic`,
    );
  return out;
}

export function checkFirewall(fw: {
  name?: unknown;
  inboundRules?: Record<string, unknown>[];
  outboundRules?: Record<string, unknown>[];
  dropletIds?: unknown;
  tags?: unknown;
}): string[] {
  const out: string[] = [];
  if (fw.name !== undefined && !(typeof fw.name === "string" && isValidFirewallName(fw.name))) {
    out.push(
      `name: ${JSON.stringify(fw.name)} is not allowed; allowed: starts with a letter or digit, then letters, digits, "." or "-" (at least 2 characters)`,
    );
  }
  const inbound = fw.inboundRules ?? [];
  const outbound = fw.outboundRules ?? [];
  if (inbound.length + outbound.length === 0)
    out.push("inboundRules/outboundRules: at least one rule must be specified");
  for (const r of inbound) out.push(...checkFirewallRule("inbound", r));
  for (const r of outbound) out.push(...checkFirewallRule("outbound", r));
  if (fw.dropletIds !== undefined) {
    if (!Array.isArray(fw.dropletIds) || fw.dropletIds.some((x) => !(isInt(x) && x > 0)))
      out.push("dropletIds: must be a list of droplet IDs as numbers");
  }
  checkTags("tags", fw.tags, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// VPC
// ---------------------------------------------------------------------------------------------------------------

export const VPC = {
  source: `${TF} digitalocean/vpc/resource_vpc.go@7d41d7c41db44b282257391db96d3bdd898cce14`,
  // name: provider NoZeroValues; updates in place. API pattern as documented: ^[a-zA-Z1-9\-\.]+$ (no "0"!,
  // API vpcs/models/vpc.yml@26b12636). Pulumi auto-names with hex suffixes that contain "0" routinely, so the
  // "no 0" reading is almost certainly a spec typo: unconfirmed. The checker allows 0-9.
  namePattern: /^[a-zA-Z0-9.-]+$/,
  nameMaxLength: 255, // unconfirmed
  descriptionMaxLength: 255, // StringLenBetween(0, 255)
  // ip_range: provider IsCIDR only. API: RFC 1918, no smaller than /24 and no larger than /16; omitted -> a /20.
  ipRange: { minPrefix: 16, maxPrefix: 24, privateBlocks: ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] as const },
  forceNew: ["region", "ipRange"] as const,
  urnOutput: "vpcUrn",
} as const;

export function isValidVpcName(name: string): boolean {
  return name.length <= VPC.nameMaxLength && VPC.namePattern.test(name);
}

function ipv4ToInt(ip: string): number | undefined {
  if (!isIPv4(ip)) return undefined;
  return ip.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
}

function parseIPv4Cidr(cidr: string): { base: number; prefix: number } | undefined {
  const [ip, p, ...rest] = cidr.split("/");
  if (rest.length > 0 || ip === undefined || p === undefined || !/^\d{1,2}$/.test(p)) return undefined;
  const base = ipv4ToInt(ip);
  const prefix = Number(p);
  if (base === undefined || prefix > 32) return undefined;
  return { base, prefix };
}

const blockSize = (prefix: number) => 2 ** (32 - prefix);

/** Problems with a VPC ip_range (empty list = acceptable). */
export function checkVpcIpRange(cidr: string): string[] {
  const c = parseIPv4Cidr(cidr);
  if (!c) return [`ipRange: ${JSON.stringify(cidr)} is not an IPv4 CIDR (e.g. "10.10.10.0/24")`];
  const out: string[] = [];
  const { minPrefix, maxPrefix } = VPC.ipRange;
  if (c.prefix < minPrefix || c.prefix > maxPrefix)
    out.push(`ipRange: /${c.prefix} is not allowed; allowed: /${minPrefix} to /${maxPrefix}`);
  // Our own strictness: a range with host bits set (10.0.0.1/24) is accepted by IsCIDR; what the API does with
  // it is unconfirmed, so we require the network address.
  if (c.base % blockSize(c.prefix) !== 0) out.push(`ipRange: ${cidr} has host bits set; write the network address`);
  const inside = VPC.ipRange.privateBlocks.some((b) => {
    const blk = parseIPv4Cidr(b);
    return (
      blk !== undefined &&
      c.prefix >= blk.prefix &&
      Math.floor(c.base / blockSize(blk.prefix)) === Math.floor(blk.base / blockSize(blk.prefix))
    );
  });
  if (!inside)
    out.push(`ipRange: ${cidr} is not inside an RFC 1918 private block; allowed: ${list(VPC.ipRange.privateBlocks)}`);
  return out;
}
