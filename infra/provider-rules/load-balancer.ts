/**
 * Provider rules for load balancers and the certificates they terminate TLS with. Sources (TF, SDK, API, GODO) and
 * how to read them: see ./index.ts.
 */
import { TF, intBetween, isInt, nonEmpty, oneOf } from "./checks";
import { isValidTagName } from "./network";

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
  numberInputs: [
    "dropletIds",
    "sizeUnit",
    "forwardingRules[].entryPort",
    "forwardingRules[].targetPort",
    "healthcheck.port",
  ] as const,
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
  if (lb.dropletIds !== undefined && lb.dropletTag !== undefined)
    out.push("dropletIds/dropletTag: set only one of them");
  if (lb.dropletIds !== undefined && (!Array.isArray(lb.dropletIds) || lb.dropletIds.some((x) => !(isInt(x) && x > 0))))
    out.push("dropletIds: must be a list of droplet IDs as numbers");
  if (lb.dropletTag !== undefined && !(typeof lb.dropletTag === "string" && isValidTagName(lb.dropletTag)))
    out.push(`dropletTag: ${JSON.stringify(lb.dropletTag)} is not a valid tag name`);
  if (lb.redirectHttpToHttps !== undefined && typeof lb.redirectHttpToHttps !== "boolean")
    out.push("redirectHttpToHttps: must be a boolean");
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
    const ranges = {
      checkIntervalSeconds: H.checkIntervalSeconds,
      responseTimeoutSeconds: H.responseTimeoutSeconds,
      unhealthyThreshold: H.unhealthyThreshold,
      healthyThreshold: H.healthyThreshold,
    };
    for (const [k, [lo, hi]] of Object.entries(ranges))
      if (hc[k] !== undefined) intBetween(`healthcheck.${k}`, hc[k], lo, hi, out);
  }
  const ss = lb.stickySessions;
  if (ss !== undefined) {
    if (ss.type !== undefined) oneOf("stickySessions.type", ss.type, L.stickySessionTypes, out);
    if (ss.type === "cookies") {
      if (!(typeof ss.cookieName === "string" && ss.cookieName.length >= 2 && ss.cookieName.length <= 40))
        out.push("stickySessions.cookieName: required, 2-40 characters, when type is cookies");
      if (!(isInt(ss.cookieTtlSeconds) && ss.cookieTtlSeconds >= 1))
        out.push("stickySessions.cookieTtlSeconds: required, an integer >= 1, when type is cookies");
    } else if (ss.cookieName !== undefined || ss.cookieTtlSeconds !== undefined) {
      out.push("stickySessions.cookieName/cookieTtlSeconds: not allowed unless type is cookies");
    }
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

export function checkCertificate(c: {
  type?: unknown;
  privateKey?: unknown;
  leafCertificate?: unknown;
  certificateChain?: unknown;
  domains?: unknown;
}): string[] {
  const out: string[] = [];
  const type = c.type ?? "custom";
  oneOf("type", type, CERTIFICATE.types, out);
  if (type === "custom") {
    if (!nonEmpty(c.privateKey)) out.push("privateKey: required when type is custom");
    if (!nonEmpty(c.leafCertificate)) out.push("leafCertificate: required when type is custom");
  }
  if (type === "lets_encrypt") {
    if (!Array.isArray(c.domains) || c.domains.length === 0 || c.domains.some((d) => !nonEmpty(d)))
      out.push("domains: a non-empty list of domain names is required when type is lets_encrypt");
    for (const f of ["privateKey", "leafCertificate", "certificateChain"] as const)
      if (c[f] !== undefined) out.push(`${f}: not allowed when type is lets_encrypt`);
  }
  return out;
}
