/**
 * Prod's SSH allowlist (applied by infra/config.ts, the scale-out plan and the policy pack) is judged by the addresses its ranges admit together, per family, not range by range
 * (0.0.0.0/1 + 128.0.0.0/1 is the whole IPv4 Internet). 256 IPv4 addresses is one /24: an office's or a VPN's egress
 * range, or a handful of single addresses; anything wider is a provider's range, and anyone renting from that
 * provider reaches port 22. IPv6: a /56, what an ISP delegates to one home or small office (RIPE-690), so one site's
 * addresses fit whatever its prefix; a /48 is a whole organisation.
 */
export const PROD_SSH_LIMITS = { ipv4Addresses: 256n, ipv6Prefix: 56 } as const;

/** An address as a number (IPv6 with an embedded IPv4 tail too); the input was validated as a CIDR already. */
function addressValue(address: string, family: 4 | 6): bigint {
  if (family === 4) return address.split(".").reduce((n, octet) => (n << 8n) | BigInt(Number(octet)), 0n);
  let text = address;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    const n = addressValue(v4[1]!, 4);
    text = `${text.slice(0, v4.index)}${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head, tail] = text.split("::") as [string, string | undefined];
  const parts = (x: string) => (x === "" ? [] : x.split(":"));
  const groups =
    tail === undefined
      ? parts(head)
      : [...parts(head), ...Array(8 - parts(head).length - parts(tail).length).fill("0"), ...parts(tail)];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** The first and last address a CIDR admits (host bits ignored, as a firewall does). */
function cidrRange(cidr: string): { family: 4 | 6; first: bigint; last: bigint } {
  const [address, prefix] = cidr.split("/") as [string, string];
  const family = address.includes(":") ? 6 : 4;
  const hostBits = BigInt((family === 4 ? 32 : 128) - Number(prefix));
  const first = (addressValue(address, family) >> hostBits) << hostBits;
  return { family, first, last: first + (1n << hostBits) - 1n };
}

/** How many addresses of each family the CIDRs admit together (overlaps counted once). */
export function countAddresses(cidrs: readonly string[]): { ipv4: bigint; ipv6: bigint } {
  const total = { ipv4: 0n, ipv6: 0n };
  for (const family of [4, 6] as const) {
    const ranges = cidrs
      .map(cidrRange)
      .filter((r) => r.family === family)
      .sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
    let end = -1n;
    let count = 0n;
    for (const r of ranges) {
      if (r.last <= end) continue;
      count += r.last - (r.first > end ? r.first : end + 1n) + 1n;
      end = r.last;
    }
    total[family === 4 ? "ipv4" : "ipv6"] = count;
  }
  return total;
}

/** ::ffff:0:0/96: IPv4 addresses written as IPv6. */
const IPV4_MAPPED = cidrRange("::ffff:0:0/96");

/** What is wrong with an SSH allowlist in prod, one message per problem (empty: within the limits). */
export function prodSshAllowlistProblems(cidrs: readonly string[]): string[] {
  const problems: string[] = [];
  const of = (family: 4 | 6) => cidrs.filter((c) => cidrRange(c).family === family);
  const admit = (list: string[]) => `${list.join(", ")} ${list.length === 1 ? "admits" : "admit"}`;
  const { ipv4, ipv6 } = countAddresses(cidrs);
  if (ipv4 > PROD_SSH_LIMITS.ipv4Addresses) {
    problems.push(
      `must admit at most ${PROD_SSH_LIMITS.ipv4Addresses} IPv4 addresses (a /24) in prod; ${admit(of(4))} ${ipv4.toLocaleString("en-US")} IPv4 addresses`,
    );
  }
  const ipv6Limit = 1n << BigInt(128 - PROD_SSH_LIMITS.ipv6Prefix);
  if (ipv6 > ipv6Limit) {
    const bits = ipv6.toString(2).length - 1;
    const exact = ipv6 === 1n << BigInt(bits);
    problems.push(
      `must admit at most a /${PROD_SSH_LIMITS.ipv6Prefix} of IPv6 (2^${128 - PROD_SSH_LIMITS.ipv6Prefix} addresses) in prod; ${admit(of(6))} ${exact ? `2^${bits} (a /${128 - bits})` : `more than 2^${bits}`}`,
    );
  }
  const mapped = of(6).filter((c) => {
    const r = cidrRange(c);
    return r.first <= IPV4_MAPPED.last && r.last >= IPV4_MAPPED.first;
  });
  if (mapped.length)
    problems.push(
      `must not hold IPv4-mapped IPv6 ranges (::ffff:0:0/96) in prod (${mapped.join(", ")}): write them as IPv4`,
    );
  return problems;
}
