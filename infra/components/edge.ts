import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { StackPlan } from "../plan";

export interface EdgeArgs {
  plan: Pick<StackPlan, "dns" | "config">;
  /** The droplet that receives traffic, as the number `dropletId` requires. */
  dropletId: pulumi.Input<number>;
  protect: boolean;
}

/**
 * The stack's public address: a reserved IP assigned to the serving droplet, and the domain's A record pointing at
 * it. Moving traffic to another droplet of the same region is a change of the assignment only; the address and the
 * DNS record stay.
 */
export class Edge extends pulumi.ComponentResource {
  readonly reservedIp: digitalocean.ReservedIp;
  readonly assignment: digitalocean.ReservedIpAssignment;
  readonly zone: digitalocean.Domain | undefined;
  readonly record: digitalocean.DnsRecord;

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:edge:Edge", name, {}, opts);
    const { dns, config } = args.plan;
    this.reservedIp = new digitalocean.ReservedIp(`${name}-ip`, { region: config.region }, { parent: this, protect: args.protect });
    this.assignment = new digitalocean.ReservedIpAssignment(
      `${name}-ip-assignment`,
      { ipAddress: this.reservedIp.ipAddress, dropletId: args.dropletId },
      { parent: this },
    );
    this.zone = dns.manageZone
      ? new digitalocean.Domain(`${name}-zone`, { name: dns.zone }, { parent: this, protect: args.protect })
      : undefined;
    this.record = new digitalocean.DnsRecord(
      `${name}-record`,
      {
        domain: this.zone ? this.zone.id : dns.zone,
        type: "A",
        name: dns.recordName,
        value: this.reservedIp.ipAddress,
        ttl: dns.ttl,
      },
      { parent: this },
    );
    this.registerOutputs({ ip: this.reservedIp.ipAddress, fqdn: this.record.fqdn });
  }
}
