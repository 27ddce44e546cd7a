import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { StackPlan } from "../plan";

export interface EdgeArgs {
  plan: Pick<StackPlan, "dns" | "config">;
  /** The droplet that receives traffic, as the number `dropletId` requires. */
  dropletId: pulumi.Input<number>;
  /** Its public address (used by the DNS traffic switch, where the record points at the droplet itself). */
  dropletIp: pulumi.Input<string>;
  protect: boolean;
}

/**
 * The stack's public address. With `trafficSwitch: reserved-ip` (the default): a reserved IP assigned to the serving
 * droplet and the domain's A record pointing at it; moving traffic is a change of the assignment only. With
 * `trafficSwitch: dns`: no reserved IP, the A record points at the serving droplet and moving traffic changes the
 * record (its TTL must have been lowered one old TTL ahead: config refuses a DNS-mode migration otherwise).
 */
export class Edge extends pulumi.ComponentResource {
  readonly reservedIp: digitalocean.ReservedIp | undefined;
  readonly assignment: digitalocean.ReservedIpAssignment | undefined;
  readonly zone: digitalocean.Domain | undefined;
  readonly record: digitalocean.DnsRecord;
  /** The public address users reach. */
  readonly address: pulumi.Output<string>;

  constructor(name: string, args: EdgeArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:edge:Edge", name, {}, opts);
    const { dns, config } = args.plan;
    if (config.trafficSwitch === "reserved-ip") {
      this.reservedIp = new digitalocean.ReservedIp(`${name}-ip`, { region: config.region }, { parent: this, protect: args.protect });
      this.assignment = new digitalocean.ReservedIpAssignment(
        `${name}-ip-assignment`,
        { ipAddress: this.reservedIp.ipAddress, dropletId: args.dropletId },
        { parent: this },
      );
    }
    const address = this.reservedIp ? this.reservedIp.ipAddress : args.dropletIp;
    this.zone = dns.manageZone
      ? new digitalocean.Domain(`${name}-zone`, { name: dns.zone }, { parent: this, protect: args.protect })
      : undefined;
    this.record = new digitalocean.DnsRecord(
      `${name}-record`,
      {
        domain: this.zone ? this.zone.id : dns.zone,
        type: "A",
        name: dns.recordName,
        value: address,
        ttl: dns.ttl,
      },
      { parent: this },
    );
    this.address = pulumi.output(address);
    this.registerOutputs({ ip: this.address, fqdn: this.record.fqdn });
  }
}
