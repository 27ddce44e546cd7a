/**
 * Checks of the stack config that need more than one key's schema: the stack file's other namespaces, the DNS zone a
 * domain belongs to, the app's environment entries and what the tier's memory carries. Pure; infra/config.ts calls
 * them and reports their issues with the rest.
 */
import { closest, distance } from "fastest-levenshtein";
import { getDomain } from "tldts";
import { checkVpcIpRange } from "./provider-rules";
import type { TierName } from "./tiers";
import { connectionBudget, maxConnections, type PoolSizes } from "./tuning";

/**
 * The namespaces besides the project's that the program reads, with their keys: the default providers of the
 * packages it creates resources with read `<package>:<key>` (the keys are those of each package's config/vars.d.ts,
 * kept equal by a test). @pulumi/command and @pulumi/random read no config. `pulumi:` belongs to the engine
 * (`pulumi:tags`, `pulumi:disable-default-providers`): any key of it passes.
 */
export const PROVIDER_CONFIG = {
  digitalocean: {
    keys: [
      "apiEndpoint",
      "httpRetryMax",
      "httpRetryWaitMax",
      "httpRetryWaitMin",
      "requestsPerSecond",
      "spacesAccessId",
      "spacesEndpoint",
      "spacesSecretKey",
      "token",
    ],
    /** Credentials: refused in plain text, as the project's own secrets are. */
    secrets: ["token", "spacesSecretKey"],
  },
  tls: { keys: ["proxy"], secrets: [] },
} as const satisfies Record<string, { keys: readonly string[]; secrets: readonly string[] }>;

const ENGINE_NAMESPACE = "pulumi";

/** How the stack file holds a key: encrypted (`secure:`), or plain text. */
export type KeyStorage = "secure" | "plain";

export interface KeyIssue {
  key: string;
  message: string;
}

/** The candidate within a third of `word`'s length in edits (at least one), if any. */
function nearest(word: string, candidates: readonly string[]): string | undefined {
  if (!candidates.length) return undefined;
  const best = closest(word, candidates as string[]);
  return distance(word, best) <= Math.max(1, Math.ceil(word.length / 3)) ? best : undefined;
}

/** An unknown key of the project's namespace: a did-you-mean for a near miss, and the keys there are. */
export function unknownKeyMessage(key: string, known: readonly string[], project: string): string {
  const guess = nearest(key, known);
  return `unknown key${guess ? `; did you mean ${project}:${guess}?` : ""}; known keys: ${known.join(", ")}`;
}

/**
 * What is wrong with the keys outside the project's namespace (full keys, `digitalocean:token`), each with whether
 * its value is stored encrypted: a namespace the program does not read (a misspelt `chatbot` would otherwise be
 * ignored and the default planned), a key its provider does not read, a provider credential in plain text.
 */
export function otherNamespaceIssues(project: string, keys: Readonly<Record<string, KeyStorage>>): KeyIssue[] {
  const namespaces = [project, ...Object.keys(PROVIDER_CONFIG), ENGINE_NAMESPACE];
  const read = `this program reads ${namespaces.map((n) => `${n}:`).join(", ")} keys`;
  const issues: KeyIssue[] = [];
  for (const [key, stored] of Object.entries(keys)) {
    const at = key.indexOf(":");
    const [namespace, name] = at < 0 ? ["", key] : [key.slice(0, at), key.slice(at + 1)];
    if (namespace === project || namespace === ENGINE_NAMESPACE) continue;
    const provider = PROVIDER_CONFIG[namespace as keyof typeof PROVIDER_CONFIG];
    if (!provider) {
      const guess = nearest(namespace, namespaces);
      issues.push({
        key,
        message: `unknown namespace "${namespace}": ${read}${guess ? `; did you mean ${guess}:${name}?` : ""}`,
      });
      continue;
    }
    const known: readonly string[] = provider.keys;
    if (!known.includes(name)) {
      const guess = nearest(name, known);
      issues.push({
        key,
        message: `is not a key of the ${namespace} provider (known: ${known.join(", ")})${guess ? `; did you mean ${namespace}:${guess}?` : ""}`,
      });
    } else if ((provider.secrets as readonly string[]).includes(name) && stored === "plain") {
      issues.push({
        key,
        message: `is a credential in plain text: set it with \`pulumi config set --secret ${key}\` (encrypted in the stack file)${key === "digitalocean:token" ? " or leave it out and export DIGITALOCEAN_TOKEN" : ""}`,
      });
    }
  }
  return issues;
}

/**
 * The DNS zone a domain belongs to by default: its registrable domain under the Public Suffix List (tldts, private
 * suffixes such as github.io included: a name under one belongs to whoever registered the label below it), so
 * app.example.co.uk is in example.co.uk. Undefined when the domain is itself a public suffix.
 */
function registrableDomain(domain: string): string | undefined {
  return getDomain(domain, { allowPrivateDomains: true, extractHostname: false }) ?? undefined;
}

/**
 * The DNS zone of `domain`: `explicit` (dnsZone) when set, which must be the domain or a parent of it at or under the
 * registered domain; else the registered domain. A problem names the key it is about.
 */
export function dnsZoneOf(
  domain: string,
  explicit: string | undefined,
): { zone: string; problem?: { key: "domain" | "dnsZone"; message: string } } {
  const registered = registrableDomain(domain);
  if (explicit === undefined) {
    if (registered) return { zone: registered };
    const message = `${domain} is a public suffix (Public Suffix List): use a host name under a domain you registered, such as chat.example.${domain}`;
    return { zone: domain, problem: { key: "domain", message } };
  }
  if (domain !== explicit && !domain.endsWith(`.${explicit}`))
    return { zone: explicit, problem: { key: "dnsZone", message: `must be ${domain} or a parent of it` } };
  if (registered && explicit !== registered && !explicit.endsWith(`.${registered}`)) {
    const message = `must be ${registered} or a name under it: ${explicit} is above the registered domain (a public suffix or part of one)`;
    return { zone: explicit, problem: { key: "dnsZone", message } };
  }
  return { zone: explicit };
}

/**
 * vpcIpRange against DigitalOcean's limits: RFC 1918 and /16 to /24. The provider checks only that it is a CIDR
 * (terraform-provider-digitalocean digitalocean/vpc/resource_vpc.go: validation.IsCIDR), so anything else fails at
 * the API during `pulumi up`; the limits are in its docs/resources/vpc.md ("must be in range of private addresses as
 * defined in RFC1918. It may not be larger than /16 or smaller than /24"), encoded in provider-rules' VPC.
 */
export function vpcIpRangeProblem(cidr: string): string | undefined {
  const problems = checkVpcIpRange(cidr).map((p) => p.replace(/^ipRange: /, ""));
  if (!problems.length) return undefined;
  return `must be an RFC 1918 private range (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16) from /16 to /24, DigitalOcean's VPC limits: ${problems.join("; ")}`;
}

/** A control character's code point and name, for a message. */
function controlName(c: string): string {
  const code = c.codePointAt(0)!;
  const names: Record<number, string> = { 9: "tab", 10: "line feed", 13: "carriage return", 0: "NUL", 127: "DEL" };
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}${names[code] ? ` ${names[code]}` : ""}`;
}

// C0 controls, DEL and C1 controls: app.env is read as one NAME=value per line by compose and the droplet scripts.
// biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters being refused.
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/u;

/** What is wrong with one appEnv entry's characters (undefined: nothing). */
export function appEnvEntryProblem(entry: string): string | undefined {
  const found = [...new Set([...entry].filter((c) => CONTROL.test(c)))];
  if (!found.length) return undefined;
  return `holds ${found.map(controlName).join(", ")}: app.env is one NAME=value per line, read by docker compose and the droplet scripts, so a value is one line of printable characters`;
}

/** Entries that set a name an earlier entry set already: index and message (compose would keep only one). */
export function appEnvDuplicates(entries: readonly string[]): { index: number; message: string }[] {
  const first = new Map<string, number>();
  const out: { index: number; message: string }[] = [];
  entries.forEach((entry, index) => {
    const name = entry.split("=")[0]!;
    const earlier = first.get(name);
    if (earlier === undefined) first.set(name, index);
    else out.push({ index, message: `sets ${name} again (entry ${earlier} sets it already): set each name once` });
  });
  return out;
}

/**
 * A warning when the app's pools ask for more PostgreSQL connections than the tier's memory carries (undefined:
 * they fit), with the arithmetic.
 */
export function connectionsWarning(project: string, tier: TierName, pools: PoolSizes): string | undefined {
  const wanted = maxConnections(tier, pools);
  const b = connectionBudget(tier);
  if (wanted <= b.connections) return undefined;
  return (
    `${project}:dbPoolSize and ${project}:dbMaxOverflow ask PostgreSQL for max_connections = ${wanted} ` +
    `(${b.appWorkers} app workers x (${pools.dbPoolSize} + ${pools.dbMaxOverflow}) + ${b.adminConnections} for admin), ` +
    `more than tier ${tier} carries: ${b.connections}. Its PostgreSQL share of ${b.shareMiB} MiB less ` +
    `${b.sharedBuffersMiB} MiB of shared_buffers leaves ${b.shareMiB - b.sharedBuffersMiB} MiB, which at 3 x ` +
    `${b.workMemFloorMiB} MiB of work_mem per connection (pgtune's formula at its floor) is ` +
    `${b.connections + b.backgroundWorkers} connections less ${b.backgroundWorkers} background workers. ` +
    "Lower the pools or move to a larger tier"
  );
}
