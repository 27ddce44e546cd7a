/**
 * pg_hba.conf: local socket for the container's own tools, password (SCRAM) everywhere else, and only from
 * private address ranges. The firewall admits 5432 only from the stack's own droplets; this is the second lock.
 */
export const PRIVATE_CIDRS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"] as const;

export function renderPgHba(): string {
  const rows: string[][] = [
    ["local", "all", "all", "", "trust"],
    ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"],
    ...PRIVATE_CIDRS.map((c) => ["host", "all", "all", c, "scram-sha-256"]),
    ...PRIVATE_CIDRS.map((c) => ["host", "replication", "replicator", c, "scram-sha-256"]),
  ];
  return [
    "# Rendered by infra/render/pg-hba.ts. TYPE DATABASE USER ADDRESS METHOD",
    ...rows.map((r) => r.filter(Boolean).join(" ")),
    "",
  ].join("\n");
}
