/**
 * Each droplet's certificates (public), as its preflight reports them (base64 PEM): the other droplet's PostgreSQL
 * clients check its PostgreSQL server against its PostgreSQL certificate (sslmode=verify-ca), the other's Redis trusts
 * its Redis certificate for the TLS replica link (migrate.sh trust_redis_peer), the old droplet's Caddy the new
 * one's internal listener certificate for the forward (proxy-switch.sh trust). A run that skipped the preflight (a
 * resumed one) reads them again: the preflight only reads.
 */
import type { Side } from "./commands";

/** The certificates a droplet's preflight reports, and what each is. */
export const CERTS = {
  pg_tls_cert: "PostgreSQL certificate (pg_tls_cert)",
  redis_tls_cert: "Redis certificate (redis_tls_cert)",
  proxy_tls_cert: "certificate for its internal listener (proxy_tls_cert)",
} as const;
export type CertKey = keyof typeof CERTS;

type Preflight = Readonly<Record<string, string | undefined>>;

export class Certificates {
  private readonly preflights: Partial<Record<Side, Preflight>> = {};

  /** `readPreflight`: runs the preflight step on that droplet. */
  constructor(private readonly readPreflight: (side: Side) => Promise<Preflight>) {}

  /** What a preflight this run made reported (so the certificates need no second one). */
  remember(side: Side, preflight: Preflight): void {
    this.preflights[side] = preflight;
  }

  async of(side: Side, key: CertKey): Promise<string> {
    if (!this.preflights[side]?.[key]) this.preflights[side] = await this.readPreflight(side);
    const pem = Buffer.from(this.preflights[side]?.[key] ?? "", "base64").toString("utf8");
    if (!pem.includes("BEGIN CERTIFICATE"))
      throw new Error(`the ${side} droplet's preflight reported no ${CERTS[key]}`);
    return pem;
  }

  postgres(side: Side): Promise<string> {
    return this.of(side, "pg_tls_cert");
  }

  redis(side: Side): Promise<string> {
    return this.of(side, "redis_tls_cert");
  }

  proxy(side: Side): Promise<string> {
    return this.of(side, "proxy_tls_cert");
  }
}
