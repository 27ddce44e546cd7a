/**
 * pg_hba.conf: local socket for the container's own tools; everything over TCP must be TLS (`hostssl`) with a
 * password (SCRAM), and only from private address ranges. Clear-text TCP is refused by the first rows
 * (`hostnossl ... reject`: the first matching row decides, and `all` does not cover `replication`, so both are
 * listed). The firewall admits 5432 only from the stack's own droplets; this is the second lock.
 * Source: postgresql.org/docs/15/auth-pg-hba-conf.html (hostssl, hostnossl, first match wins, `all` and replication).
 */
export const PRIVATE_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] as const;

/** The TCP sources admitted (over TLS) on a droplet: the container's own loopback and the private ranges. */
export const DROPLET_CLIENT_CIDRS: readonly string[] = ["127.0.0.1/32", ...PRIVATE_CIDRS];

/**
 * @param opts.clientCidrs where TCP clients (the app, tools, the new droplet's replica) may come from.
 *   @default DROPLET_CLIENT_CIDRS; the migration harness passes its loopback range.
 */
export function renderPgHba(opts: { clientCidrs?: readonly string[] } = {}): string {
  const cidrs = opts.clientCidrs ?? DROPLET_CLIENT_CIDRS;
  const rows: string[][] = [
    ["local", "all", "all", "", "trust"],
    ...["0.0.0.0/0", "::/0"].flatMap((any) => [
      ["hostnossl", "all", "all", any, "reject"],
      ["hostnossl", "replication", "all", any, "reject"],
    ]),
    ...cidrs.map((c) => ["hostssl", "all", "all", c, "scram-sha-256"]),
    ...cidrs
      .filter((c) => c !== "127.0.0.1/32")
      .map((c) => ["hostssl", "replication", "replicator", c, "scram-sha-256"]),
  ];
  return [
    "# Rendered by infra/render/pg-hba.ts. TYPE DATABASE USER ADDRESS METHOD",
    ...rows.map((r) => r.filter(Boolean).join(" ")),
    "",
  ].join("\n");
}
