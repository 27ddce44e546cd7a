/**
 * Provider rules for reserved IPs and their assignments, domains and DNS records. Sources (TF, SDK, API, GODO) and
 * how to read them: see ./index.ts.
 */
import { TF, intBetween, isInt, nonEmpty, oneOf } from "./checks";

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
  requires: { MX: ["priority"], SRV: ["priority", "weight", "port"], CAA: ["flags", "tag"] } as Record<
    string,
    readonly string[]
  >,
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
  if (!nonEmpty(r.name))
    out.push(`name: must be set ("${DNS_RECORD.apexName}" for the apex); Pulumi would auto-name an omitted name`);
  if (typeof r.value !== "string") out.push("value: must be a string");
  if (r.ttl !== undefined && !(isInt(r.ttl) && r.ttl >= DNS_RECORD.ttlMin))
    out.push(`ttl: ${JSON.stringify(r.ttl)} must be an integer number of seconds >= ${DNS_RECORD.ttlMin}`);
  for (const f of ["priority", "weight", "port"] as const)
    if (r[f] !== undefined) intBetween(f, r[f], DNS_RECORD.u16[0], DNS_RECORD.u16[1], out);
  if (r.flags !== undefined) intBetween("flags", r.flags, DNS_RECORD.flagsRange[0], DNS_RECORD.flagsRange[1], out);
  if (r.tag !== undefined) oneOf("tag", r.tag, DNS_RECORD.caaTags, out);
  const needed = typeof r.type === "string" ? DNS_RECORD.requires[r.type] : undefined;
  for (const f of needed ?? [])
    if (r[f as keyof DnsRecordInputs] === undefined) out.push(`${f}: required when type is ${String(r.type)}`);
  if (
    typeof r.type === "string" &&
    (DNS_RECORD.trailingDotTypes as readonly string[]).includes(r.type) &&
    typeof r.value === "string" &&
    r.value !== "@" &&
    !r.value.endsWith(".")
  ) {
    out.push(
      `value: ${JSON.stringify(r.value)} for a ${r.type} record must be a FQDN ending in "." (or "@"), or the provider reports a diff on every run`,
    );
  }
  return out;
}
