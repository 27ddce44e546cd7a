import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { StackPlan } from "../plan";

export interface EdgeArgs {
  plan: Pick<StackPlan, "dns" | "config">;
  /** A reserved IP assigned to this droplet (`dropletId` is a number). @default no reserved IP */
  reservedIp?: { dropletId: pulumi.Input<number>; protect: boolean };
  /** What the A record points at. @default the reserved IP */
  recordValue?: pulumi.Input<string>;
  protect: boolean;
}

/**
 * The stack's public address (what goes where is the plan's `edge`). With `trafficSwitch: reserved-ip` (the
 * default): a reserved IP assigned to the serving droplet and the domain's A record pointing at it; moving traffic
 * is a change of the assignment only. With `trafficSwitch: dns`, and on scale-out (a load balancer has its own
 * address): the A record points at the serving droplet or load balancer and moving traffic changes the record.
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
    if (args.reservedIp) {
      this.reservedIp = new digitalocean.ReservedIp(
        `${name}-ip`,
        { region: config.region },
        { parent: this, protect: args.reservedIp.protect },
      );
      this.assignment = new digitalocean.ReservedIpAssignment(
        `${name}-ip-assignment`,
        { ipAddress: this.reservedIp.ipAddress, dropletId: args.reservedIp.dropletId },
        { parent: this },
      );
    }
    const address = args.recordValue ?? this.reservedIp?.ipAddress;
    if (address === undefined) throw new Error("Edge: neither a record value nor a reserved IP");
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
