/**
 * What the DigitalOcean provider really accepts, as data, plus small pure checkers.
 *
 * Mocks accept anything: a droplet id passed as a string, an enum spelled the way the Pulumi SDK docs print it, a
 * firewall rule with protocol "http" all pass a mocked run and fail the first real `pulumi up`. Every rule below cites
 * the file it comes from. Sources:
 *
 *   TF  = github.com/digitalocean/terraform-provider-digitalocean (what @pulumi/digitalocean bridges; schema
 *         validation, ForceNew and CustomizeDiff live here). Commits are those of the stored copy that was read;
 *         @pulumi/digitalocean 4.80.1 bridges a newer upstream (its droplet has `gpuPartitionMode`,
 *         `publicNetworking`), so a rule can have moved since: re-check before relying on an edge.
 *   SDK = node_modules/@pulumi/digitalocean 4.80.1 (*.d.ts): which inputs are `number` and which `string`.
 *   API = github.com/digitalocean/openapi specification/… (what the API itself says; the provider does not check it,
 *         so a violation passes `pulumi preview` and fails at create time).
 *   GODO = github.com/digitalocean/godo (constants the provider validates against).
 *
 * Anything not confirmed from a source is marked `unconfirmed` in a comment.
 *
 * Planning code: imports nothing from Pulumi.
 */
import { isIP } from "node:net";

const TF = "digitalocean/terraform-provider-digitalocean";
const API = "digitalocean/openapi";

// ---------------------------------------------------------------------------------------------------------------
// Regions
// ---------------------------------------------------------------------------------------------------------------

/** Whether new droplets can be created in a region. */
export type RegionStatus = "open" | "restricted" | "unconfirmed";

/**
 * DigitalOcean datacenter slugs. The live truth is `GET /v2/regions` (`available: true` means new droplets can be
 * created; API docs "Regions" page and TF data source `digitalocean_region`), which nothing here can call.
 * - restricted: nyc2 ("Due to limited availability we have temporarily disabled droplet creation in this region",
 *   trailofbits/algo#677, 2017), sfo1 ("restricted to users with existing resources only" since March 2019,
 *   pachadotdev/analogsea#180), ams2 (same footnote in DO's availability matrix: unconfirmed in a stored source).
 * - atl1: opened 2024, missing from the SDK's `Region` enum (types/enums/index.d.ts): unconfirmed here.
 * - ric1: seen only as the region of GPU sizes in a godo test fixture: unconfirmed for basic droplets.
 * The SDK `Region` enum still lists nyc2, ams2 and sfo1, which a new account cannot use.
 */
export const REGIONS = {
  nyc1: { name: "New York 1", newDroplets: "open" },
  nyc2: { name: "New York 2", newDroplets: "restricted" },
  nyc3: { name: "New York 3", newDroplets: "open" },
  ams2: { name: "Amsterdam 2", newDroplets: "restricted" },
  ams3: { name: "Amsterdam 3", newDroplets: "open" },
  sfo1: { name: "San Francisco 1", newDroplets: "restricted" },
  sfo2: { name: "San Francisco 2", newDroplets: "open" },
  sfo3: { name: "San Francisco 3", newDroplets: "open" },
  sgp1: { name: "Singapore 1", newDroplets: "open" },
  lon1: { name: "London 1", newDroplets: "open" },
  fra1: { name: "Frankfurt 1", newDroplets: "open" },
  tor1: { name: "Toronto 1", newDroplets: "open" },
  blr1: { name: "Bangalore 1", newDroplets: "open" },
  syd1: { name: "Sydney 1", newDroplets: "open" },
  atl1: { name: "Atlanta 1", newDroplets: "unconfirmed" },
  ric1: { name: "Richmond 1", newDroplets: "unconfirmed" },
} as const satisfies Record<string, { name: string; newDroplets: RegionStatus }>;

export type RegionSlug = keyof typeof REGIONS;
export const REGION_SLUGS = Object.keys(REGIONS) as RegionSlug[];
/** Regions where a new account can create droplets today (as far as the sources above show). */
export const REGIONS_OPEN_FOR_NEW_DROPLETS: ReadonlySet<RegionSlug> = new Set(
  REGION_SLUGS.filter((s) => REGIONS[s].newDroplets === "open"),
);

/**
 * A region slug DigitalOcean has. Lowercase only: the provider lower-cases the slug into state (TF
 * droplet/resource_droplet.go `StateFunc: strings.ToLower`) but sends the configured text, so "NYC3" would diff.
 */
export function isValidRegion(slug: string): slug is RegionSlug {
  return Object.prototype.hasOwnProperty.call(REGIONS, slug);
}

export function isRegionOpenForNewDroplets(slug: string): boolean {
  return isValidRegion(slug) && REGIONS_OPEN_FOR_NEW_DROPLETS.has(slug);
}

// ---------------------------------------------------------------------------------------------------------------
// Shared small checks
// ---------------------------------------------------------------------------------------------------------------

const list = (xs: readonly (string | number)[]) => xs.map((x) => JSON.stringify(x)).join(", ");
const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);
const inRange = (n: unknown, lo: number, hi: number) => isInt(n) && n >= lo && n <= hi;
const nonEmpty = (s: unknown): s is string => typeof s === "string" && s.length > 0;

function oneOf(field: string, value: unknown, allowed: readonly string[], out: string[], ignoreCase = false): void {
  const ok = typeof value === "string" && allowed.some((a) => (ignoreCase ? a.toLowerCase() === value.toLowerCase() : a === value));
  if (!ok) out.push(`${field}: ${JSON.stringify(value)} is not allowed; allowed: ${list(allowed)}`);
}

function intBetween(field: string, value: unknown, lo: number, hi: number, out: string[]): void {
  if (!inRange(value, lo, hi)) out.push(`${field}: ${JSON.stringify(value)} must be an integer from ${lo} to ${hi}`);
}

/** An IPv4/IPv6 address or CIDR, as firewall sources/destinations take (API firewalls/models/firewall_rule.yml). */
export function isIpOrCidr(s: string): boolean {
  const [addr, prefix, ...rest] = s.split("/");
  if (rest.length > 0 || addr === undefined) return false;
  const family = isIP(addr);
  if (family === 0) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (family === 4 ? 32 : 128);
}

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

function checkTags(field: string, tags: unknown, out: string[]): void {
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
// Droplet
// ---------------------------------------------------------------------------------------------------------------

export const DROPLET = {
  source: `${TF} digitalocean/droplet/resource_droplet.go@06e95bcec554b20a4877f35123f50d064e5c9bbd`,
  /** size, image, region are strings (SDK droplet.d.ts). A numeric `image` string is sent as an image ID. */
  stringInputs: ["size", "image", "region", "name", "vpcUuid", "userData"] as const,
  /**
   * `sshKeys` is `string[]` (SDK) though its doc says "in the format `[12345, 123456]`": each element that parses
   * as an integer is sent as a key ID, anything else as a fingerprint (resource_droplet.go expandSshKeys).
   */
  sshKeyRef: { idPattern: /^[0-9]+$/, md5FingerprintPattern: /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/ },
  backupPolicy: {
    // StringInSlice, case-sensitive.
    plans: ["daily", "weekly"] as const,
    weekdays: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const,
    // The provider checks only IntBetween(0, 20); the API accepts only the 4-hour window starts
    // (API droplets/models/droplet_backup_policy.yml enum), so hour: 3 passes preview and fails at the API.
    providerHourRange: [0, 20] as const,
    hours: [0, 4, 8, 12, 16, 20] as const,
    // RequiredWith ["backups"], and create/update refuse a policy while backups is false (errDropletBackupPolicy).
    requiresBackupsTrue: true,
  },
  /**
   * user_data: provider only rejects "" (NoZeroValues). The API caps it at 64 KiB of plain text
   * (API droplets/models/droplet_create.yml). State keeps a SHA-1 hash (util.HashStringStateFunc), so the
   * `userData` *output* is a hash, never the script.
   */
  userDataMaxBytes: 64 * 1024,
  /**
   * name: provider only rejects "" (NoZeroValues); renames in place (DropletActions.Rename). Pulumi auto-names
   * `name` when omitted (`<resource name>-<7 hex>`, pulumi-digitalocean provider/resources.go AutoName; old
   * commit 036a144a, the SDK still marks `name` optional). The API spec for a single create documents
   * ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ (API droplets/models/droplet_single_create.yml@ea8b3a50) while its own example
   * is "example.com"; DO docs allow letters, digits, "." and "-": which one the API enforces is unconfirmed.
   */
  hostnamePattern: /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/,
  portableNamePattern: /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/,
  nameMaxLength: 255,
  /**
   * Changing any of these replaces the droplet (new disk, data on it gone). `gpuPartitionMode` is ForceNew per
   * the SDK doc (not in the stored TF copy). `ipv6` true -> false also replaces (CustomizeDiff ForceNewIfChange);
   * false -> true is done in place. In place: name (rename), size (power-off resize; with resizeDisk=true, the
   * default, the disk grows and can never shrink back), backups, backupPolicy, ipv6 on, tags, volumeIds.
   */
  forceNew: ["image", "region", "sshKeys", "userData", "monitoring", "dropletAgent", "vpcUuid", "gpuPartitionMode"] as const,
  /** Set-typed inputs (order does not matter; tags compare case-insensitively). */
  setInputs: ["sshKeys", "tags", "volumeIds"] as const,
  /** Pulumi output holding the DO URN (`do:droplet:<id>`): `.urn` is Pulumi's own URN, not this. */
  urnOutput: "dropletUrn",
} as const;

export const dropletForceNewInputs: readonly string[] = DROPLET.forceNew;

export function isValidDropletName(name: string): boolean {
  return name.length <= DROPLET.nameMaxLength && DROPLET.hostnamePattern.test(name);
}

/** A name that passes both the documented hostname rule and the stricter OpenAPI pattern. */
export function isPortableDropletName(name: string): boolean {
  return DROPLET.portableNamePattern.test(name);
}

export function isValidSshKeyRef(ref: string): boolean {
  return DROPLET.sshKeyRef.idPattern.test(ref) || DROPLET.sshKeyRef.md5FingerprintPattern.test(ref);
}

export function isValidBackupHour(hour: number): boolean {
  return (DROPLET.backupPolicy.hours as readonly number[]).includes(hour);
}

export function userDataBytes(userData: string): number {
  return Buffer.byteLength(userData, "utf8");
}

export interface DropletInputs {
  name?: unknown;
  size?: unknown;
  image?: unknown;
  region?: unknown;
  sshKeys?: unknown;
  userData?: unknown;
  backups?: unknown;
  backupPolicy?: { plan?: unknown; weekday?: unknown; hour?: unknown } | undefined;
  tags?: unknown;
}

export function checkDroplet(d: DropletInputs): string[] {
  const out: string[] = [];
  if (d.name !== undefined && !(typeof d.name === "string" && isValidDropletName(d.name))) {
    out.push(`name: ${JSON.stringify(d.name)} is not a valid droplet name; allowed: letters, digits, "." and "-", not starting or ending with "." or "-", at most 255`);
  }
  if (!nonEmpty(d.size) || d.size !== d.size.toLowerCase()) out.push(`size: must be a lowercase size slug string (e.g. "s-2vcpu-4gb"), got ${JSON.stringify(d.size)}`);
  if (!nonEmpty(d.image)) out.push(`image: must be a non-empty string (slug, or an image ID written as a string), got ${JSON.stringify(d.image)}`);
  if (d.region !== undefined) {
    if (typeof d.region !== "string" || !isValidRegion(d.region)) out.push(`region: ${JSON.stringify(d.region)} is not a region slug; allowed: ${list(REGION_SLUGS)}`);
    else if (!isRegionOpenForNewDroplets(d.region)) out.push(`region: ${d.region} does not take new droplets (${REGIONS[d.region].newDroplets}); open: ${list([...REGIONS_OPEN_FOR_NEW_DROPLETS])}`);
  }
  if (d.sshKeys !== undefined) {
    if (!Array.isArray(d.sshKeys)) out.push("sshKeys: must be a list of strings");
    else
      for (const k of d.sshKeys) {
        if (typeof k !== "string") out.push(`sshKeys: ${JSON.stringify(k)} must be a string (write key IDs as "12345", not 12345)`);
        else if (!isValidSshKeyRef(k)) out.push(`sshKeys: ${JSON.stringify(k)} is neither a numeric key ID nor an MD5 fingerprint (aa:bb:…, 16 pairs)`);
      }
  }
  if (d.userData !== undefined) {
    if (!nonEmpty(d.userData)) out.push("userData: must be a non-empty string when set (the provider rejects \"\")");
    else if (userDataBytes(d.userData) > DROPLET.userDataMaxBytes) out.push(`userData: ${userDataBytes(d.userData)} bytes exceeds the API limit of ${DROPLET.userDataMaxBytes} bytes (64 KiB)`);
  }
  const bp = d.backupPolicy;
  if (bp !== undefined) {
    if (d.backups !== true) out.push("backupPolicy: can only be set when backups is true");
    oneOf("backupPolicy.plan", bp.plan, DROPLET.backupPolicy.plans, out);
    if (bp.weekday !== undefined || bp.plan === "weekly") oneOf("backupPolicy.weekday", bp.weekday, DROPLET.backupPolicy.weekdays, out);
    if (bp.hour !== undefined && !(isInt(bp.hour) && isValidBackupHour(bp.hour))) {
      out.push(`backupPolicy.hour: ${JSON.stringify(bp.hour)} is not allowed; allowed: ${list(DROPLET.backupPolicy.hours)} (a number, not a string)`);
    }
  }
  checkTags("tags", d.tags, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Volume and VolumeAttachment
// ---------------------------------------------------------------------------------------------------------------

export const VOLUME = {
  source: `${TF} digitalocean/volume/resource_volume.go@0882a65278efb4f9c5a5520239e1f489e69684e8`,
  // The provider only rejects "" (NoZeroValues). The API: "Must be lowercase and be composed only of numbers,
  // letters and "-", up to a limit of 64 characters. The name must begin with a letter."
  // (API volumes/models/volume_base.yml@06300ff3). Pulumi's auto-name keeps the logical name: keep it lowercase.
  namePattern: /^[a-z][a-z0-9-]*$/,
  nameMaxLength: 64,
  // size: TypeInt, IntAtLeast(1), a number input (SDK). Only grows: CustomizeDiff errors on a smaller size.
  // Upper bound 16 TiB per DO docs: unconfirmed in a stored source.
  minSizeGiB: 1,
  maxSizeGiB: 16 * 1024,
  initialFilesystemTypes: ["ext4", "xfs"] as const,
  // Renaming a volume replaces it (and with it its data); so does changing description.
  forceNew: ["region", "name", "description", "snapshotId", "initialFilesystemType", "initialFilesystemLabel"] as const,
  urnOutput: "volumeUrn",
} as const;

export const VOLUME_ATTACHMENT = {
  source: `${TF} digitalocean/volume/resource_volume_attachment.go@048bf8400878e2a0de8e433672cb08eadf273cd0`,
  // droplet_id is TypeInt: `dropletId: pulumi.Input<number>` while `droplet.id` is a string: convert with Number().
  numberInputs: ["dropletId"] as const,
  stringInputs: ["volumeId"] as const,
  // No Update at all: a new droplet means a new attachment (detach old, attach new; needs deleteBeforeReplace).
  forceNew: ["dropletId", "volumeId"] as const,
} as const;

export function isValidVolumeName(name: string): boolean {
  return name.length <= VOLUME.nameMaxLength && VOLUME.namePattern.test(name);
}

export function isValidVolumeSize(sizeGiB: number): boolean {
  return inRange(sizeGiB, VOLUME.minSizeGiB, VOLUME.maxSizeGiB);
}

/** Problems with resizing a volume from `oldGiB` to `newGiB` (the provider refuses shrinking). */
export function checkVolumeResize(oldGiB: number, newGiB: number): string[] {
  const out: string[] = [];
  if (!isValidVolumeSize(newGiB)) out.push(`size: ${newGiB} must be an integer from ${VOLUME.minSizeGiB} to ${VOLUME.maxSizeGiB} GiB`);
  if (newGiB < oldGiB) out.push(`size: volumes can only grow (${oldGiB} -> ${newGiB} GiB is refused by the provider)`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Reserved IP
// ---------------------------------------------------------------------------------------------------------------

export const RESERVED_IP = {
  source: `${TF} digitalocean/reservedip/resource_reserved_ip.go@301cad9f9e67a99941b5c33ef3332787df13c6d5`,
  // region: required, ForceNew. droplet_id: TypeInt, optional, NOT ForceNew (changing it reassigns in place).
  // ip_address: optional+computed, IsIPv4Address. Do not combine with ReservedIpAssignment (SDK doc).
  numberInputs: ["dropletId"] as const,
  forceNew: ["region"] as const,
  urnOutput: "reservedIpUrn",
} as const;

export const RESERVED_IP_ASSIGNMENT = {
  source: `${TF} digitalocean/reservedip/resource_reserved_ip_assignment.go@147e649264b6345ed52a2209cb74e1729a37d40a`,
  // ip_address: IsIPv4Address; droplet_id: TypeInt, NoZeroValues. Both ForceNew (no Update).
  numberInputs: ["dropletId"] as const,
  forceNew: ["ipAddress", "dropletId"] as const,
} as const;

export function isIPv4(s: string): boolean {
  return isIP(s) === 4;
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
    if (rule.protocol !== "icmp") out.push(`${at}.portRange: required for protocol ${JSON.stringify(rule.protocol)}; allowed: a port, "A-B", "1-65535" or "all"`);
  } else if (typeof port !== "string" || !isValidPortRange(port)) {
    out.push(`${at}.portRange: ${JSON.stringify(port)} is not allowed; allowed: a port 1-65535, "A-B", "1-65535" or "all" (a string)`);
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
        if (!(isInt(item) && item > 0)) out.push(`${at}.${key}: ${JSON.stringify(item)} must be a droplet ID as a number (Number(droplet.id))`);
      } else if (f === "Addresses") {
        if (typeof item !== "string" || !isIpOrCidr(item)) out.push(`${at}.${key}: ${JSON.stringify(item)} is not an IPv4/IPv6 address or CIDR`);
      } else if (f === "Tags") {
        if (typeof item !== "string" || !isValidTagName(item)) out.push(`${at}.${key}: ${JSON.stringify(item)} is not a valid tag name`);
      } else if (!nonEmpty(item)) {
        out.push(`${at}.${key}: ${JSON.stringify(item)} must be a non-empty string ID`);
      }
    }
  }
  // Not a provider check: a rule with no source/destination matches nothing (our own guardrail).
  if (targets === 0) out.push(`${at}: names no ${prefix} (addresses, dropletIds, tags, loadBalancerUids or kubernetesIds), so it matches no traffic`);
  return out;
}

export function checkFirewall(fw: { name?: unknown; inboundRules?: Record<string, unknown>[]; outboundRules?: Record<string, unknown>[]; dropletIds?: unknown; tags?: unknown }): string[] {
  const out: string[] = [];
  if (fw.name !== undefined && !(typeof fw.name === "string" && isValidFirewallName(fw.name))) {
    out.push(`name: ${JSON.stringify(fw.name)} is not allowed; allowed: starts with a letter or digit, then letters, digits, "." or "-" (at least 2 characters)`);
  }
  const inbound = fw.inboundRules ?? [];
  const outbound = fw.outboundRules ?? [];
  if (inbound.length + outbound.length === 0) out.push("inboundRules/outboundRules: at least one rule must be specified");
  for (const r of inbound) out.push(...checkFirewallRule("inbound", r));
  for (const r of outbound) out.push(...checkFirewallRule("outbound", r));
  if (fw.dropletIds !== undefined) {
    if (!Array.isArray(fw.dropletIds) || fw.dropletIds.some((x) => !(isInt(x) && x > 0))) out.push("dropletIds: must be a list of droplet IDs as numbers");
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
  if (c.prefix < minPrefix || c.prefix > maxPrefix) out.push(`ipRange: /${c.prefix} is not allowed; allowed: /${minPrefix} to /${maxPrefix}`);
  // Our own strictness: a range with host bits set (10.0.0.1/24) is accepted by IsCIDR; what the API does with
  // it is unconfirmed, so we require the network address.
  if (c.base % blockSize(c.prefix) !== 0) out.push(`ipRange: ${cidr} has host bits set; write the network address`);
  const inside = VPC.ipRange.privateBlocks.some((b) => {
    const blk = parseIPv4Cidr(b);
    return blk !== undefined && c.prefix >= blk.prefix && Math.floor(c.base / blockSize(blk.prefix)) === Math.floor(blk.base / blockSize(blk.prefix));
  });
  if (!inside) out.push(`ipRange: ${cidr} is not inside an RFC 1918 private block; allowed: ${list(VPC.ipRange.privateBlocks)}`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Domain and DNS record
// ---------------------------------------------------------------------------------------------------------------

export const DOMAIN = {
  source: `${TF} digitalocean/domain/resource_domain.go@95da01c190354c0d9955736d058e4f5fb9811a06`,
  // No Update: name and ip_address (which creates an apex A record) both replace the domain.
  // `name` is NOT auto-named by Pulumi (explicit field mapping in provider/resources.go): it is required.
  forceNew: ["name", "ipAddress"] as const,
  urnOutput: "domainUrn",
} as const;

export const DNS_RECORD = {
  source: `${TF} digitalocean/domain/resource_record.go@1531311cfb70a6bcb61e78c5b61e04489d2ef229`,
  // StringInSlice, case-sensitive. The SDK `RecordType` enum lacks "SOA", which the provider accepts.
  types: ["A", "AAAA", "CAA", "CNAME", "MX", "NS", "TXT", "SRV", "SOA"] as const,
  // ttl: IntAtLeast(1), optional+computed (API default 1800). DO docs cite a 30 s floor: unconfirmed.
  ttlMin: 1,
  ttlDefault: 1800,
  // port/priority/weight: IntBetween(0, 65535); flags: IntBetween(0, 255); tag: issue|issuewild|iodef.
  u16: [0, 65535] as const,
  flagsRange: [0, 255] as const,
  caaTags: ["issue", "issuewild", "iodef"] as const,
  // CustomizeDiff / create: MX needs priority; SRV needs priority, weight and port; CAA needs flags and tag.
  requires: { MX: ["priority"], SRV: ["priority", "weight", "port"], CAA: ["flags", "tag"] } as Record<string, readonly string[]>,
  // name: "@" for the apex. Required in TF, but Pulumi auto-names it when omitted (`<resource>-<hex>`), so an
  // omitted name silently creates a record at some-name.example.com instead of the apex: always set it.
  apexName: "@",
  // On read the provider appends "." to the value of CNAME/MX/NS/SRV/CAA records (except "@" and iodef), so a
  // value like "target.example.net" without the trailing dot diffs on every run: write FQDNs with the dot.
  trailingDotTypes: ["CNAME", "MX", "NS", "SRV"] as const,
  forceNew: ["type", "domain"] as const,
} as const;

export function isValidDnsRecordType(t: string): boolean {
  return (DNS_RECORD.types as readonly string[]).includes(t);
}

export interface DnsRecordInputs {
  type?: unknown;
  domain?: unknown;
  name?: unknown;
  value?: unknown;
  ttl?: unknown;
  priority?: unknown;
  weight?: unknown;
  port?: unknown;
  flags?: unknown;
  tag?: unknown;
}

export function checkDnsRecord(r: DnsRecordInputs): string[] {
  const out: string[] = [];
  oneOf("type", r.type, DNS_RECORD.types, out);
  if (!nonEmpty(r.domain)) out.push("domain: must be a non-empty domain name");
  if (!nonEmpty(r.name)) out.push(`name: must be set ("${DNS_RECORD.apexName}" for the apex); Pulumi would auto-name an omitted name`);
  if (typeof r.value !== "string") out.push("value: must be a string");
  if (r.ttl !== undefined && !(isInt(r.ttl) && r.ttl >= DNS_RECORD.ttlMin)) out.push(`ttl: ${JSON.stringify(r.ttl)} must be an integer number of seconds >= ${DNS_RECORD.ttlMin}`);
  for (const f of ["priority", "weight", "port"] as const) if (r[f] !== undefined) intBetween(f, r[f], DNS_RECORD.u16[0], DNS_RECORD.u16[1], out);
  if (r.flags !== undefined) intBetween("flags", r.flags, DNS_RECORD.flagsRange[0], DNS_RECORD.flagsRange[1], out);
  if (r.tag !== undefined) oneOf("tag", r.tag, DNS_RECORD.caaTags, out);
  const needed = typeof r.type === "string" ? DNS_RECORD.requires[r.type] : undefined;
  for (const f of needed ?? []) if (r[f as keyof DnsRecordInputs] === undefined) out.push(`${f}: required when type is ${String(r.type)}`);
  if (typeof r.type === "string" && (DNS_RECORD.trailingDotTypes as readonly string[]).includes(r.type) && typeof r.value === "string" && r.value !== "@" && !r.value.endsWith(".")) {
    out.push(`value: ${JSON.stringify(r.value)} for a ${r.type} record must be a FQDN ending in "." (or "@"), or the provider reports a diff on every run`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Project and ProjectResources
// ---------------------------------------------------------------------------------------------------------------

export const PROJECT = {
  source: `${TF} digitalocean/project/resource_project.go@221121957d32654dca994bf8e151c9280f48aa76, project/resource_project_resources.go@48a186e1`,
  // name: NoZeroValues + StringLenBetween(1, 175). description, purpose: StringLenBetween(0, 255).
  nameMaxLength: 175,
  descriptionMaxLength: 255,
  purposeMaxLength: 255,
  // environment: StringInSlice(…, ignoreCase=true) + case-insensitive diff suppression, so "production" and the
  // API's "Production" (API projects/models/project.yml enum) are both fine.
  environments: ["Development", "Staging", "Production"] as const,
  // purpose: free text to the provider (default "Web Application"). The API keeps these as-is and stores anything
  // else as "Other: <text>" (the provider strips the prefix on read).
  purposes: [
    "Just trying out DigitalOcean",
    "Class project / Educational purposes",
    "Website or blog",
    "Web Application",
    "Service or API",
    "Mobile Application",
    "Machine learning / AI / Data processing",
    "IoT",
    "Operational / Developer tooling",
  ] as const,
  // resources: DO URNs "do:<type>:<id>" (API projects/models/project_assignment.yml pattern ^do:.*:.*; godo
  // strings.go ToURN lower-cases the type; godo reserved_ips.go: ToURN("ReservedIP", ip) -> do:reservedip:<ip>).
  // Type names other than droplet and reservedip are from godo's URN() methods as remembered: unconfirmed
  // (volume, floatingip, domain, loadbalancer, dbaas, kubernetes, app, space).
  urnTypes: ["droplet", "volume", "reservedip", "floatingip", "domain", "loadbalancer", "dbaas", "kubernetes", "app", "space"] as const,
  urnPattern: /^do:([a-z]+):(\S+)$/,
  // The DO URN of each resource is a differently named output: dropletUrn, volumeUrn, reservedIpUrn, domainUrn,
  // loadBalancerUrn, clusterUrn (DatabaseCluster), vpcUrn (SDK *.d.ts). `resource.urn` is Pulumi's URN.
  urnOutputs: {
    Droplet: "dropletUrn",
    Volume: "volumeUrn",
    ReservedIp: "reservedIpUrn",
    Domain: "domainUrn",
    LoadBalancer: "loadBalancerUrn",
    DatabaseCluster: "clusterUrn",
  } as const,
  forceNew: [] as const,
} as const;

export const PROJECT_RESOURCES = {
  source: PROJECT.source,
  // project (ID) is ForceNew; removed resources go back to the default project.
  forceNew: ["project"] as const,
} as const;

export function isValidProjectEnvironment(env: string): boolean {
  return PROJECT.environments.some((e) => e.toLowerCase() === env.toLowerCase());
}

export function isValidProjectName(name: string): boolean {
  return name.length >= 1 && name.length <= PROJECT.nameMaxLength;
}

export function isValidProjectResourceUrn(urn: string): boolean {
  const m = PROJECT.urnPattern.exec(urn);
  return m !== null && (PROJECT.urnTypes as readonly string[]).includes(m[1] ?? "");
}

export function checkProject(p: { name?: unknown; description?: unknown; purpose?: unknown; environment?: unknown; resources?: unknown }): string[] {
  const out: string[] = [];
  if (p.name !== undefined && !(typeof p.name === "string" && isValidProjectName(p.name))) out.push(`name: must be 1-${PROJECT.nameMaxLength} characters`);
  if (p.description !== undefined && !(typeof p.description === "string" && p.description.length <= PROJECT.descriptionMaxLength)) out.push(`description: at most ${PROJECT.descriptionMaxLength} characters`);
  if (p.purpose !== undefined && !(typeof p.purpose === "string" && p.purpose.length <= PROJECT.purposeMaxLength)) out.push(`purpose: at most ${PROJECT.purposeMaxLength} characters`);
  if (p.environment !== undefined) oneOf("environment", p.environment, PROJECT.environments, out, true);
  if (p.resources !== undefined) {
    if (!Array.isArray(p.resources)) out.push("resources: must be a list of DO URNs");
    else
      for (const u of p.resources) {
        if (typeof u !== "string" || !isValidProjectResourceUrn(u)) {
          out.push(`resources: ${JSON.stringify(u)} is not a DO URN "do:<type>:<id>" (type one of ${list(PROJECT.urnTypes)}); use e.g. droplet.dropletUrn, not droplet.urn`);
        }
      }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Monitoring: MonitorAlert, UptimeCheck, UptimeAlert
// ---------------------------------------------------------------------------------------------------------------

export const MONITOR_ALERT = {
  source: `${TF} digitalocean/monitoring/resource_monitor_alert.go@95da01c190354c0d9955736d058e4f5fb9811a06; values: digitalocean/godo monitoring.go`,
  // StringInSlice of godo constants (case-sensitive). Droplet metrics have no HTTP latency.
  types: [
    "v1/insights/droplet/cpu",
    "v1/insights/droplet/memory_utilization_percent",
    "v1/insights/droplet/disk_utilization_percent",
    "v1/insights/droplet/public_outbound_bandwidth",
    "v1/insights/droplet/public_inbound_bandwidth",
    "v1/insights/droplet/private_outbound_bandwidth",
    "v1/insights/droplet/private_inbound_bandwidth",
    "v1/insights/droplet/disk_read",
    "v1/insights/droplet/disk_write",
    "v1/insights/droplet/load_1",
    "v1/insights/droplet/load_5",
    "v1/insights/droplet/load_15",
    "v1/insights/lbaas/avg_cpu_utilization_percent",
    "v1/insights/lbaas/connection_utilization_percent",
    "v1/insights/lbaas/droplet_health",
    "v1/insights/lbaas/tls_connections_per_second_utilization_percent",
    "v1/insights/lbaas/increase_in_http_error_rate_percentage_5xx",
    "v1/insights/lbaas/increase_in_http_error_rate_percentage_4xx",
    "v1/insights/lbaas/increase_in_http_error_rate_count_5xx",
    "v1/insights/lbaas/increase_in_http_error_rate_count_4xx",
    "v1/insights/lbaas/high_http_request_response_time",
    "v1/insights/lbaas/high_http_request_response_time_50p",
    "v1/insights/lbaas/high_http_request_response_time_95p",
    "v1/insights/lbaas/high_http_request_response_time_99p",
    "v1/dbaas/alerts/load_15_alerts",
    "v1/dbaas/alerts/memory_utilization_alerts",
    "v1/dbaas/alerts/disk_utilization_alerts",
    "v1/dbaas/alerts/cpu_alerts",
  ] as const,
  // PascalCase here (godo.GreaterThan/LessThan), snake_case on UptimeAlert: the two resources differ.
  compares: ["GreaterThan", "LessThan"] as const,
  windows: ["5m", "10m", "30m", "1h"] as const,
  // value: TypeFloat, FloatAtLeast(0). entities: a set of STRINGS (droplet IDs as "123"), MinItems 1 when set,
  // while firewall/LB droplet IDs are numbers. alerts: MaxItems 1; slack channel and url non-empty.
  // description: required. Everything updates in place.
  valueMin: 0,
  forceNew: [] as const,
} as const;

export function isValidMonitorAlertType(t: string): boolean {
  return (MONITOR_ALERT.types as readonly string[]).includes(t);
}

export function checkMonitorAlert(a: { type?: unknown; compare?: unknown; window?: unknown; value?: unknown; entities?: unknown; description?: unknown; tags?: unknown }): string[] {
  const out: string[] = [];
  oneOf("type", a.type, MONITOR_ALERT.types, out);
  oneOf("compare", a.compare, MONITOR_ALERT.compares, out);
  oneOf("window", a.window, MONITOR_ALERT.windows, out);
  if (!(typeof a.value === "number" && Number.isFinite(a.value) && a.value >= MONITOR_ALERT.valueMin)) out.push(`value: ${JSON.stringify(a.value)} must be a number >= 0`);
  if (!nonEmpty(a.description)) out.push("description: required");
  if (a.entities !== undefined) {
    if (!Array.isArray(a.entities) || a.entities.length === 0) out.push("entities: when set, a non-empty list of droplet IDs as strings");
    else for (const e of a.entities) if (typeof e !== "string") out.push(`entities: ${JSON.stringify(e)} must be a string (droplet IDs are strings here: droplet.id)`);
  }
  checkTags("tags", a.tags, out);
  return out;
}

export const UPTIME_CHECK = {
  source: `${TF} digitalocean/uptime/resource_uptime_check.go@48a186e13afce5f01a88ccb4ea531b78b3fbc820`,
  types: ["ping", "http", "https"] as const, // StringInSlice; default "https"
  // regions: not validated by the provider. TF docs (and the API's state keys, godo PR #593 review) spell them
  // with underscores; the SDK doc prints "usEast", "usWest", "euWest", "seAsia" (camelCased by the doc
  // generator: wrong) and the OpenAPI spec (uptime/models/check.yml@444d4acd) lists us-east, us-west, eu-east,
  // eu-west. Which spelling the create API accepts is unconfirmed; the underscore one is what TF users send.
  regions: ["us_east", "us_west", "eu_west", "se_asia"] as const,
  forceNew: [] as const,
} as const;

export const UPTIME_ALERT = {
  source: `${TF} digitalocean/uptime/resource_uptime_alert.go@034b61f3c7a928cf4b62abcff6c2b26298144799`,
  // The SDK doc says `downGlobal`, `sslExpiry`, `greaterThan`, `lessThan`: the provider accepts only snake_case.
  types: ["latency", "down", "down_global", "ssl_expiry"] as const,
  comparisons: ["greater_than", "less_than"] as const,
  // A different set from MonitorAlert windows (5m, 10m, 30m, 1h).
  periods: ["2m", "3m", "5m", "10m", "15m", "30m", "1h"] as const,
  // threshold: TypeInt (latency in ms, ssl_expiry in days: unit per type unconfirmed). check_id is NOT ForceNew.
  forceNew: [] as const,
} as const;

export function checkUptimeCheck(c: { type?: unknown; target?: unknown; regions?: unknown }): string[] {
  const out: string[] = [];
  if (c.type !== undefined) oneOf("type", c.type, UPTIME_CHECK.types, out);
  if (!nonEmpty(c.target)) out.push("target: required (the URL or host to check)");
  if (c.regions !== undefined) {
    if (!Array.isArray(c.regions)) out.push("regions: must be a list");
    else for (const r of c.regions) oneOf("regions", r, UPTIME_CHECK.regions, out);
  }
  return out;
}

export function checkUptimeAlert(a: { type?: unknown; comparison?: unknown; period?: unknown; threshold?: unknown }): string[] {
  const out: string[] = [];
  oneOf("type", a.type, UPTIME_ALERT.types, out);
  if (a.comparison !== undefined) oneOf("comparison", a.comparison, UPTIME_ALERT.comparisons, out);
  if (a.period !== undefined) oneOf("period", a.period, UPTIME_ALERT.periods, out);
  if (a.threshold !== undefined && !(isInt(a.threshold) && a.threshold >= 0)) out.push(`threshold: ${JSON.stringify(a.threshold)} must be a non-negative integer`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Load balancer
// ---------------------------------------------------------------------------------------------------------------

export const LOAD_BALANCER = {
  source: `${TF} digitalocean/loadbalancer/resource_loadbalancer.go@032158d5f93d7ce285f9b045713b1ca787bb9b1b`,
  entryProtocols: ["http", "https", "http2", "http3", "tcp", "udp"] as const,
  targetProtocols: ["http", "https", "http2", "tcp", "udp"] as const, // no http3 towards droplets
  portRange: [1, 65535] as const, // entry_port, target_port, healthcheck.port: numbers
  healthcheck: {
    protocols: ["http", "https", "tcp"] as const,
    // path required for http/https, forbidden for tcp (CustomizeDiff).
    checkIntervalSeconds: [3, 300] as const, // default 10
    responseTimeoutSeconds: [3, 300] as const, // default 5
    unhealthyThreshold: [2, 10] as const, // default 3
    healthyThreshold: [2, 10] as const, // default 5
  },
  stickySessionTypes: ["cookies", "none"] as const, // cookies needs cookieName (2-40 chars) and cookieTtlSeconds >= 1
  sizes: ["lb-small", "lb-medium", "lb-large"] as const, // legacy; equivalent size_unit 1, 3, 6
  sizeUnitRange: [1, 200] as const, // size_unit: number; only one of size / sizeUnit
  types: ["REGIONAL", "GLOBAL", "REGIONAL_NETWORK"] as const, // case-insensitive; region required unless GLOBAL
  networks: ["EXTERNAL", "INTERNAL"] as const,
  networkStacks: ["IPV4", "DUALSTACK"] as const,
  tlsCipherPolicies: ["DEFAULT", "STRONG"] as const, // SDK doc only: unconfirmed in the stored TF copy
  // droplet_ids: TypeInt set (number[]), ConflictsWith droplet_tag. redirect_http_to_https: bool, default false.
  // firewall.allow/deny entries look like "ip:1.2.3.4" or "cidr:1.2.0.0/16".
  numberInputs: ["dropletIds", "sizeUnit", "forwardingRules[].entryPort", "forwardingRules[].targetPort", "healthcheck.port"] as const,
  forceNew: ["region", "vpcUuid", "type", "network", "networkStack"] as const,
  urnOutput: "loadBalancerUrn",
} as const;

export function checkLoadBalancer(lb: {
  size?: unknown;
  sizeUnit?: unknown;
  type?: unknown;
  region?: unknown;
  dropletIds?: unknown;
  dropletTag?: unknown;
  redirectHttpToHttps?: unknown;
  forwardingRules?: Record<string, unknown>[];
  healthcheck?: Record<string, unknown>;
  stickySessions?: Record<string, unknown>;
}): string[] {
  const out: string[] = [];
  const L = LOAD_BALANCER;
  if (lb.size !== undefined && lb.sizeUnit !== undefined) out.push("size/sizeUnit: set only one of them");
  if (lb.size !== undefined) oneOf("size", lb.size, L.sizes, out);
  if (lb.sizeUnit !== undefined) intBetween("sizeUnit", lb.sizeUnit, L.sizeUnitRange[0], L.sizeUnitRange[1], out);
  if (lb.type !== undefined) oneOf("type", lb.type, L.types, out, true);
  const global = typeof lb.type === "string" && lb.type.toUpperCase() === "GLOBAL";
  if (!global && !nonEmpty(lb.region)) out.push("region: required unless type is GLOBAL");
  if (global && nonEmpty(lb.region)) out.push("region: must be empty when type is GLOBAL");
  if (lb.dropletIds !== undefined && lb.dropletTag !== undefined) out.push("dropletIds/dropletTag: set only one of them");
  if (lb.dropletIds !== undefined && (!Array.isArray(lb.dropletIds) || lb.dropletIds.some((x) => !(isInt(x) && x > 0)))) out.push("dropletIds: must be a list of droplet IDs as numbers");
  if (lb.dropletTag !== undefined && !(typeof lb.dropletTag === "string" && isValidTagName(lb.dropletTag))) out.push(`dropletTag: ${JSON.stringify(lb.dropletTag)} is not a valid tag name`);
  if (lb.redirectHttpToHttps !== undefined && typeof lb.redirectHttpToHttps !== "boolean") out.push("redirectHttpToHttps: must be a boolean");
  for (const [i, r] of (lb.forwardingRules ?? []).entries()) {
    oneOf(`forwardingRules[${i}].entryProtocol`, r.entryProtocol, L.entryProtocols, out);
    oneOf(`forwardingRules[${i}].targetProtocol`, r.targetProtocol, L.targetProtocols, out);
    intBetween(`forwardingRules[${i}].entryPort`, r.entryPort, L.portRange[0], L.portRange[1], out);
    intBetween(`forwardingRules[${i}].targetPort`, r.targetPort, L.portRange[0], L.portRange[1], out);
  }
  const hc = lb.healthcheck;
  if (hc !== undefined) {
    const H = L.healthcheck;
    oneOf("healthcheck.protocol", hc.protocol, H.protocols, out);
    intBetween("healthcheck.port", hc.port, L.portRange[0], L.portRange[1], out);
    const httpish = hc.protocol === "http" || hc.protocol === "https";
    if (httpish && !nonEmpty(hc.path)) out.push(`healthcheck.path: required when protocol is ${String(hc.protocol)}`);
    if (hc.protocol === "tcp" && hc.path !== undefined) out.push("healthcheck.path: not allowed when protocol is tcp");
    const ranges = { checkIntervalSeconds: H.checkIntervalSeconds, responseTimeoutSeconds: H.responseTimeoutSeconds, unhealthyThreshold: H.unhealthyThreshold, healthyThreshold: H.healthyThreshold };
    for (const [k, [lo, hi]] of Object.entries(ranges)) if (hc[k] !== undefined) intBetween(`healthcheck.${k}`, hc[k], lo, hi, out);
  }
  const ss = lb.stickySessions;
  if (ss !== undefined) {
    if (ss.type !== undefined) oneOf("stickySessions.type", ss.type, L.stickySessionTypes, out);
    if (ss.type === "cookies") {
      if (!(typeof ss.cookieName === "string" && ss.cookieName.length >= 2 && ss.cookieName.length <= 40)) out.push("stickySessions.cookieName: required, 2-40 characters, when type is cookies");
      if (!(isInt(ss.cookieTtlSeconds) && ss.cookieTtlSeconds >= 1)) out.push("stickySessions.cookieTtlSeconds: required, an integer >= 1, when type is cookies");
    } else if (ss.cookieName !== undefined || ss.cookieTtlSeconds !== undefined) {
      out.push("stickySessions.cookieName/cookieTtlSeconds: not allowed unless type is cookies");
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Managed databases
// ---------------------------------------------------------------------------------------------------------------

export const DATABASE_CLUSTER = {
  source: `${TF} digitalocean/database/resource_database_cluster.go@83ebdb3cc55d9e0c4e07330153ac660b1f979108`,
  // engine: provider NoZeroValues only; API enum (API databases/models/database_cluster.yml@8a97bd73). PostgreSQL
  // is "pg", not "postgres"/"postgresql"; managed Valkey is "valkey" (Redis "redis" is being retired).
  engines: ["pg", "mysql", "redis", "valkey", "mongodb", "kafka", "opensearch"] as const,
  // version: a STRING ("16", not 16), optional in the SDK type but required by CustomizeDiff
  // (transitionVersionToRequired). Changing it runs an in-place major upgrade. storage_size_mib: also a STRING.
  // node_count: a number (NoZeroValues). Kafka must be 3 (SDK doc); upper bound 3 for the others: unconfirmed.
  versionPattern: /^[0-9]+(\.[0-9]+)?$/,
  nodeCountRange: [1, 3] as const,
  // size: provider NoZeroValues. Our checker accepts the basic families "db-s-", "db-amd-", "db-intel-"
  // (SDK `DatabaseSlug` enum, API examples); other families (gd-, so1_5-, m-…) exist but are not needed here.
  sizePattern: /^db-(s|amd|intel)-[0-9]+vcpu-[0-9]+gb$/,
  // eviction_policy values (godo databases.go EvictionPolicy* constants). The SDK doc prints them camelCased
  // (`allkeysLru`…): wrong. At this commit only engine "redis" may set it (validateExclusiveAttributes); the
  // 4.80.1 SDK doc says "for a Valkey cluster", so newer upstream extends it to valkey: unconfirmed here.
  evictionPolicies: ["noeviction", "allkeys_lru", "allkeys_random", "volatile_lru", "volatile_random", "volatile_ttl"] as const,
  evictionPolicyEngines: ["redis", "valkey"] as const,
  sqlModeEngines: ["mysql"] as const,
  // maintenanceWindows[].day "monday".."sunday", hour "HH:MM" string (SDK doc).
  maintenanceDays: ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"] as const,
  // In place: size, nodeCount, storageSizeMib (resize), region (migrate), version (upgrade), tags, eviction policy.
  forceNew: ["name", "engine", "privateNetworkUuid", "projectId"] as const,
  urnOutput: "clusterUrn",
} as const;

export function isValidDatabaseEngine(e: string): boolean {
  return (DATABASE_CLUSTER.engines as readonly string[]).includes(e);
}

export function isValidDatabaseSizeSlug(s: string): boolean {
  return DATABASE_CLUSTER.sizePattern.test(s);
}

export function checkDatabaseCluster(c: { engine?: unknown; version?: unknown; size?: unknown; region?: unknown; nodeCount?: unknown; storageSizeMib?: unknown; evictionPolicy?: unknown; sqlMode?: unknown; maintenanceWindows?: { day?: unknown; hour?: unknown }[]; tags?: unknown }): string[] {
  const out: string[] = [];
  const D = DATABASE_CLUSTER;
  oneOf("engine", c.engine, D.engines, out);
  if (c.version === undefined) out.push('version: required by the provider (a string, e.g. "16" for pg, "8" for valkey)');
  else if (typeof c.version !== "string" || !D.versionPattern.test(c.version)) out.push(`version: ${JSON.stringify(c.version)} must be a version string like "16" (not a number)`);
  if (typeof c.size !== "string" || !isValidDatabaseSizeSlug(c.size)) out.push(`size: ${JSON.stringify(c.size)} is not a database size slug like "db-s-1vcpu-2gb"`);
  if (typeof c.region !== "string" || !isValidRegion(c.region)) out.push(`region: ${JSON.stringify(c.region)} is not a region slug`);
  if (c.engine === "kafka" ? c.nodeCount !== 3 : !inRange(c.nodeCount, D.nodeCountRange[0], D.nodeCountRange[1])) {
    out.push(`nodeCount: ${JSON.stringify(c.nodeCount)} must be a number ${c.engine === "kafka" ? "equal to 3 for kafka" : `from ${D.nodeCountRange[0]} to ${D.nodeCountRange[1]}`}`);
  }
  if (c.storageSizeMib !== undefined && !(typeof c.storageSizeMib === "string" && /^[0-9]+$/.test(c.storageSizeMib))) out.push(`storageSizeMib: ${JSON.stringify(c.storageSizeMib)} must be a string of digits (MiB), e.g. "30720"`);
  if (c.evictionPolicy !== undefined) {
    if (!(D.evictionPolicyEngines as readonly unknown[]).includes(c.engine)) out.push(`evictionPolicy: only for engines ${list(D.evictionPolicyEngines)}`);
    oneOf("evictionPolicy", c.evictionPolicy, D.evictionPolicies, out);
  }
  if (c.sqlMode !== undefined && !(D.sqlModeEngines as readonly unknown[]).includes(c.engine)) out.push("sqlMode: only for engine mysql");
  for (const [i, w] of (c.maintenanceWindows ?? []).entries()) {
    oneOf(`maintenanceWindows[${i}].day`, w.day, D.maintenanceDays, out);
    if (!(typeof w.hour === "string" && /^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$/.test(w.hour))) out.push(`maintenanceWindows[${i}].hour: ${JSON.stringify(w.hour)} must be "HH:MM" (a string, UTC)`);
  }
  checkTags("tags", c.tags, out);
  return out;
}

export const DATABASE_CONNECTION_POOL = {
  source: `${TF} digitalocean/database/resource_database_connection_pool.go@114c9d8d46d0f2ee61dab0d3b25d183b8ba499c3`,
  modes: ["session", "transaction", "statement"] as const, // StringInSlice, case-sensitive
  nameLength: [3, 63] as const, // StringLenBetween(3, 63)
  // size: a number (NoZeroValues). The resource has NO Update: changing anything, even `size`, replaces the pool
  // (clients connected through it drop).
  forceNew: ["clusterId", "name", "user", "mode", "size", "dbName"] as const,
} as const;

export function checkConnectionPool(p: { name?: unknown; mode?: unknown; size?: unknown; dbName?: unknown }): string[] {
  const out: string[] = [];
  const [lo, hi] = DATABASE_CONNECTION_POOL.nameLength;
  if (p.name !== undefined && !(typeof p.name === "string" && p.name.length >= lo && p.name.length <= hi)) out.push(`name: must be ${lo}-${hi} characters`);
  oneOf("mode", p.mode, DATABASE_CONNECTION_POOL.modes, out);
  if (!(isInt(p.size) && p.size >= 1)) out.push(`size: ${JSON.stringify(p.size)} must be an integer >= 1 (a number)`);
  if (!nonEmpty(p.dbName)) out.push("dbName: required");
  return out;
}

export const DATABASE_FIREWALL = {
  source: `${TF} digitalocean/database/resource_database_firewall.go@83ebdb3cc55d9e0c4e07330153ac660b1f979108`,
  // rule.type StringInSlice; rule.value NoZeroValues and a STRING even for a droplet ID ("123").
  ruleTypes: ["ip_addr", "droplet", "k8s", "tag", "app"] as const,
  forceNew: ["clusterId"] as const,
} as const;

export function checkDatabaseFirewallRule(r: { type?: unknown; value?: unknown }): string[] {
  const out: string[] = [];
  oneOf("rules.type", r.type, DATABASE_FIREWALL.ruleTypes, out);
  if (!nonEmpty(r.value)) out.push(`rules.value: ${JSON.stringify(r.value)} must be a non-empty string (droplet IDs as "123")`);
  else if (r.type === "droplet" && !/^[0-9]+$/.test(r.value)) out.push(`rules.value: ${JSON.stringify(r.value)} must be a droplet ID for type droplet`);
  else if (r.type === "ip_addr" && !isIpOrCidr(r.value)) out.push(`rules.value: ${JSON.stringify(r.value)} must be an IP address or CIDR for type ip_addr`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Droplet autoscale pool
// ---------------------------------------------------------------------------------------------------------------

export const DROPLET_AUTOSCALE = {
  source: `${TF} digitalocean/dropletautoscale/resource_droplet_autoscale.go@336aca9ff23ee8c182bf2c0437924ac5f9708ec0`,
  // config: min_instances, max_instances, cooldown_minutes, target_number_instances: ints, NoZeroValues.
  // target_cpu_utilization / target_memory_utilization: FloatBetween(0, 1): a FRACTION (0.7), not a percent (70).
  // target_number_instances cannot be combined with the others (SDK doc).
  utilizationRange: [0, 1] as const,
  // droplet_template: size, region, image required strings; ssh_keys a required set of strings.
  forceNew: [] as const,
} as const;

export function checkDropletAutoscaleConfig(c: { minInstances?: unknown; maxInstances?: unknown; cooldownMinutes?: unknown; targetNumberInstances?: unknown; targetCpuUtilization?: unknown; targetMemoryUtilization?: unknown }): string[] {
  const out: string[] = [];
  const positive = ["minInstances", "maxInstances", "cooldownMinutes", "targetNumberInstances"] as const;
  for (const f of positive) if (c[f] !== undefined && !(isInt(c[f]) && (c[f] as number) >= 1)) out.push(`config.${f}: ${JSON.stringify(c[f])} must be an integer >= 1`);
  const [lo, hi] = DROPLET_AUTOSCALE.utilizationRange;
  for (const f of ["targetCpuUtilization", "targetMemoryUtilization"] as const) {
    const v = c[f];
    if (v !== undefined && !(typeof v === "number" && v >= lo && v <= hi)) out.push(`config.${f}: ${JSON.stringify(v)} must be a fraction from 0 to 1 (0.7 means 70 %)`);
  }
  const dynamic = positive.filter((f) => f !== "targetNumberInstances" && f !== "cooldownMinutes").some((f) => c[f] !== undefined) || c.targetCpuUtilization !== undefined || c.targetMemoryUtilization !== undefined;
  if (c.targetNumberInstances !== undefined && dynamic) out.push("config.targetNumberInstances: cannot be combined with min/max instances or utilization targets");
  if (c.targetNumberInstances === undefined) {
    if (c.minInstances === undefined || c.maxInstances === undefined) out.push("config: set targetNumberInstances, or both minInstances and maxInstances");
    else if (isInt(c.minInstances) && isInt(c.maxInstances) && c.minInstances > c.maxInstances) out.push(`config.minInstances: ${c.minInstances} is above maxInstances ${c.maxInstances}`);
    if (c.targetCpuUtilization === undefined && c.targetMemoryUtilization === undefined) out.push("config: a dynamic pool needs targetCpuUtilization or targetMemoryUtilization");
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Certificate
// ---------------------------------------------------------------------------------------------------------------

export const CERTIFICATE = {
  source: `${TF} digitalocean/certificate/resource_certificate.go@1b8d7f381ff33db2369a73dadb9c4fad6a6d8a2a`,
  types: ["custom", "lets_encrypt"] as const, // default "custom"; not "letsEncrypt"
  // custom needs privateKey + leafCertificate; lets_encrypt needs domains (ConflictsWith the custom fields).
  // No Update: every input replaces the certificate; the ID is the name (a renewed Let's Encrypt cert changes
  // uuid), so load balancers should reference certificateName.
  forceNew: ["name", "privateKey", "leafCertificate", "certificateChain", "domains", "type"] as const,
} as const;

export function checkCertificate(c: { type?: unknown; privateKey?: unknown; leafCertificate?: unknown; certificateChain?: unknown; domains?: unknown }): string[] {
  const out: string[] = [];
  const type = c.type ?? "custom";
  oneOf("type", type, CERTIFICATE.types, out);
  if (type === "custom") {
    if (!nonEmpty(c.privateKey)) out.push("privateKey: required when type is custom");
    if (!nonEmpty(c.leafCertificate)) out.push("leafCertificate: required when type is custom");
  }
  if (type === "lets_encrypt") {
    if (!Array.isArray(c.domains) || c.domains.length === 0 || c.domains.some((d) => !nonEmpty(d))) out.push("domains: a non-empty list of domain names is required when type is lets_encrypt");
    for (const f of ["privateKey", "leafCertificate", "certificateChain"] as const) if (c[f] !== undefined) out.push(`${f}: not allowed when type is lets_encrypt`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Input types per Pulumi type token, and which changes replace
// ---------------------------------------------------------------------------------------------------------------

export type InputKind = "string" | "number" | "boolean" | "string[]" | "number[]";

/**
 * The scalar type each input must have when it reaches the provider (SDK *.d.ts). Paths: "a.b" for nested
 * objects, "a[].b" for each element of a list. Aimed at mocked runs, where inputs arrive as plain values. The
 * traps are the ones where a value that "looks right" has the wrong type: ids as numbers vs strings.
 */
export const INPUT_KINDS: Record<string, Record<string, InputKind>> = {
  "digitalocean:index/droplet:Droplet": {
    name: "string", size: "string", image: "string", region: "string", sshKeys: "string[]", tags: "string[]",
    volumeIds: "string[]", vpcUuid: "string", userData: "string", backups: "boolean", monitoring: "boolean",
    ipv6: "boolean", "backupPolicy.plan": "string", "backupPolicy.weekday": "string", "backupPolicy.hour": "number",
  },
  "digitalocean:index/volume:Volume": { name: "string", region: "string", size: "number", initialFilesystemType: "string", tags: "string[]" },
  "digitalocean:index/volumeAttachment:VolumeAttachment": { dropletId: "number", volumeId: "string" },
  "digitalocean:index/reservedIp:ReservedIp": { region: "string", dropletId: "number", ipAddress: "string" },
  "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": { ipAddress: "string", dropletId: "number" },
  "digitalocean:index/firewall:Firewall": {
    name: "string", dropletIds: "number[]", tags: "string[]",
    "inboundRules[].protocol": "string", "inboundRules[].portRange": "string", "inboundRules[].sourceAddresses": "string[]",
    "inboundRules[].sourceDropletIds": "number[]", "inboundRules[].sourceTags": "string[]",
    "inboundRules[].sourceLoadBalancerUids": "string[]", "inboundRules[].sourceKubernetesIds": "string[]",
    "outboundRules[].protocol": "string", "outboundRules[].portRange": "string", "outboundRules[].destinationAddresses": "string[]",
    "outboundRules[].destinationDropletIds": "number[]", "outboundRules[].destinationTags": "string[]",
    "outboundRules[].destinationLoadBalancerUids": "string[]", "outboundRules[].destinationKubernetesIds": "string[]",
  },
  "digitalocean:index/vpc:Vpc": { name: "string", region: "string", ipRange: "string", description: "string" },
  "digitalocean:index/domain:Domain": { name: "string", ipAddress: "string" },
  "digitalocean:index/dnsRecord:DnsRecord": {
    domain: "string", type: "string", name: "string", value: "string", ttl: "number", priority: "number", port: "number", weight: "number", flags: "number", tag: "string",
  },
  "digitalocean:index/project:Project": { name: "string", environment: "string", purpose: "string", description: "string", resources: "string[]" },
  "digitalocean:index/projectResources:ProjectResources": { project: "string", resources: "string[]" },
  "digitalocean:index/tag:Tag": { name: "string" },
  "digitalocean:index/monitorAlert:MonitorAlert": { type: "string", compare: "string", window: "string", value: "number", entities: "string[]", tags: "string[]", description: "string", "alerts.emails": "string[]" },
  "digitalocean:index/uptimeCheck:UptimeCheck": { name: "string", type: "string", target: "string", regions: "string[]" },
  "digitalocean:index/uptimeAlert:UptimeAlert": { checkId: "string", type: "string", comparison: "string", period: "string", threshold: "number" },
  "digitalocean:index/loadBalancer:LoadBalancer": {
    region: "string", size: "string", sizeUnit: "number", dropletIds: "number[]", dropletTag: "string", redirectHttpToHttps: "boolean", vpcUuid: "string",
    "forwardingRules[].entryProtocol": "string", "forwardingRules[].entryPort": "number", "forwardingRules[].targetProtocol": "string", "forwardingRules[].targetPort": "number",
    "healthcheck.protocol": "string", "healthcheck.port": "number", "healthcheck.path": "string",
  },
  "digitalocean:index/databaseCluster:DatabaseCluster": {
    engine: "string", version: "string", size: "string", region: "string", nodeCount: "number", storageSizeMib: "string", evictionPolicy: "string", privateNetworkUuid: "string", tags: "string[]",
    "maintenanceWindows[].day": "string", "maintenanceWindows[].hour": "string",
  },
  "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool": { clusterId: "string", name: "string", mode: "string", size: "number", dbName: "string", user: "string" },
  "digitalocean:index/databaseFirewall:DatabaseFirewall": { clusterId: "string", "rules[].type": "string", "rules[].value": "string" },
  "digitalocean:index/dropletAutoscale:DropletAutoscale": {
    name: "string", "config.minInstances": "number", "config.maxInstances": "number", "config.cooldownMinutes": "number", "config.targetNumberInstances": "number",
    "config.targetCpuUtilization": "number", "config.targetMemoryUtilization": "number", "dropletTemplate.size": "string", "dropletTemplate.region": "string",
    "dropletTemplate.image": "string", "dropletTemplate.sshKeys": "string[]", "dropletTemplate.tags": "string[]", "dropletTemplate.userData": "string",
  },
  "digitalocean:index/certificate:Certificate": { name: "string", type: "string", domains: "string[]" },
};

/** Pulumi secret marker as it reaches mocks: `{[SECRET_SIG]: SECRET_VALUE, value}`. */
const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

function unwrapSecret(v: unknown): unknown {
  if (v !== null && typeof v === "object" && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE) return (v as { value?: unknown }).value;
  return v;
}

/** Every value at `path` ("a.b", "a[].b") in `obj`, with a printable location. Absent values are skipped. */
function valuesAt(obj: unknown, path: string): [string, unknown][] {
  let found: [string, unknown][] = [["", obj]];
  for (const part of path.split(".")) {
    const each = part.endsWith("[]");
    const key = each ? part.slice(0, -2) : part;
    const next: [string, unknown][] = [];
    for (const [loc, cur] of found) {
      const o = unwrapSecret(cur);
      if (o === null || typeof o !== "object") continue;
      const v = unwrapSecret((o as Record<string, unknown>)[key]);
      if (v === undefined) continue;
      const at = loc ? `${loc}.${key}` : key;
      if (each && Array.isArray(v)) v.forEach((el, i) => next.push([`${at}[${i}]`, el]));
      else if (!each) next.push([at, v]);
    }
    found = next;
  }
  return found;
}

function hasKind(v: unknown, kind: InputKind): boolean {
  const u = unwrapSecret(v);
  switch (kind) {
    case "string":
    case "number":
    case "boolean":
      return typeof u === kind && (kind !== "number" || Number.isFinite(u));
    case "string[]":
    case "number[]": {
      const el = kind === "string[]" ? "string" : "number";
      return Array.isArray(u) && u.every((x) => hasKind(x, el));
    }
  }
}

/**
 * Inputs whose runtime type differs from what the provider takes, e.g.
 * `VolumeAttachment dropletId: must be a number, got string "123"`. Unknown tokens yield no problems.
 */
export function checkInputTypes(token: string, inputs: Record<string, unknown>): string[] {
  const kinds = INPUT_KINDS[token];
  if (!kinds) return [];
  const short = token.split(":").pop() ?? token;
  const out: string[] = [];
  for (const [path, kind] of Object.entries(kinds)) {
    for (const [loc, v] of valuesAt(inputs, path)) {
      if (!hasKind(v, kind)) out.push(`${short} ${loc}: must be ${kind === "number" || kind === "number[]" ? "a " : ""}${kind}, got ${typeof unwrapSecret(v)} ${JSON.stringify(unwrapSecret(v))}`);
    }
  }
  return out;
}

/** Inputs whose change replaces the resource, per Pulumi type token. */
export const FORCE_NEW_INPUTS: Record<string, readonly string[]> = {
  "digitalocean:index/droplet:Droplet": DROPLET.forceNew,
  "digitalocean:index/volume:Volume": VOLUME.forceNew,
  "digitalocean:index/volumeAttachment:VolumeAttachment": VOLUME_ATTACHMENT.forceNew,
  "digitalocean:index/reservedIp:ReservedIp": RESERVED_IP.forceNew,
  "digitalocean:index/reservedIpAssignment:ReservedIpAssignment": RESERVED_IP_ASSIGNMENT.forceNew,
  "digitalocean:index/firewall:Firewall": FIREWALL.forceNew,
  "digitalocean:index/vpc:Vpc": VPC.forceNew,
  "digitalocean:index/domain:Domain": DOMAIN.forceNew,
  "digitalocean:index/dnsRecord:DnsRecord": DNS_RECORD.forceNew,
  "digitalocean:index/project:Project": PROJECT.forceNew,
  "digitalocean:index/projectResources:ProjectResources": PROJECT_RESOURCES.forceNew,
  "digitalocean:index/tag:Tag": TAG.forceNew,
  "digitalocean:index/monitorAlert:MonitorAlert": MONITOR_ALERT.forceNew,
  "digitalocean:index/uptimeCheck:UptimeCheck": UPTIME_CHECK.forceNew,
  "digitalocean:index/uptimeAlert:UptimeAlert": UPTIME_ALERT.forceNew,
  "digitalocean:index/loadBalancer:LoadBalancer": LOAD_BALANCER.forceNew,
  "digitalocean:index/databaseCluster:DatabaseCluster": DATABASE_CLUSTER.forceNew,
  "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool": DATABASE_CONNECTION_POOL.forceNew,
  "digitalocean:index/databaseFirewall:DatabaseFirewall": DATABASE_FIREWALL.forceNew,
  "digitalocean:index/dropletAutoscale:DropletAutoscale": DROPLET_AUTOSCALE.forceNew,
  "digitalocean:index/certificate:Certificate": CERTIFICATE.forceNew,
};

/** Set-typed inputs compare without order (tags also without case). */
const SET_INPUTS: Record<string, readonly string[]> = {
  "digitalocean:index/droplet:Droplet": DROPLET.setInputs,
  "digitalocean:index/certificate:Certificate": ["domains"],
};

function normalize(v: unknown, asSet: boolean, key: string): string {
  const u = unwrapSecret(v);
  if (asSet && Array.isArray(u)) {
    const items = u.map((x) => JSON.stringify(unwrapSecret(x)));
    return JSON.stringify((key === "tags" ? items.map((s) => s.toLowerCase()) : items).sort());
  }
  return JSON.stringify(u ?? null);
}

/**
 * The inputs whose change from `before` to `after` replaces the resource (empty list: updated in place).
 * Includes the droplet's `ipv6` true -> false rule.
 */
export function replacingChanges(token: string, before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = FORCE_NEW_INPUTS[token] ?? [];
  const sets = SET_INPUTS[token] ?? [];
  const changed = keys.filter((k) => normalize(before[k], sets.includes(k), k) !== normalize(after[k], sets.includes(k), k));
  if (token === "digitalocean:index/droplet:Droplet" && unwrapSecret(before.ipv6) === true && unwrapSecret(after.ipv6) !== true) changed.push("ipv6");
  return changed;
}
