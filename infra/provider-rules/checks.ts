/**
 * Small checks shared by the resource families of the provider rules. Only isIpOrCidr and isIPv4 are public
 * (re-exported by ./index.ts); the rest is for the families' checkers.
 */
import { isIP } from "node:net";

/** Where most rules come from (see ./index.ts). */
export const TF = "digitalocean/terraform-provider-digitalocean";

export const list = (xs: readonly (string | number)[]) => xs.map((x) => JSON.stringify(x)).join(", ");
export const isInt = (n: unknown): n is number => typeof n === "number" && Number.isInteger(n);
export const inRange = (n: unknown, lo: number, hi: number) => isInt(n) && n >= lo && n <= hi;
export const nonEmpty = (s: unknown): s is string => typeof s === "string" && s.length > 0;

export function oneOf(
  field: string,
  value: unknown,
  allowed: readonly string[],
  out: string[],
  ignoreCase = false,
): void {
  const ok =
    typeof value === "string" &&
    allowed.some((a) => (ignoreCase ? a.toLowerCase() === value.toLowerCase() : a === value));
  if (!ok) out.push(`${field}: ${JSON.stringify(value)} is not allowed; allowed: ${list(allowed)}`);
}

export function intBetween(field: string, value: unknown, lo: number, hi: number, out: string[]): void {
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

export function isIPv4(s: string): boolean {
  return isIP(s) === 4;
}
