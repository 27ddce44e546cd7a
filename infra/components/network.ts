import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { FirewallRule, StackPlan } from "../plan";

export interface NetworkArgs {
  plan: Pick<StackPlan, "tag" | "vpcName" | "firewallName" | "firewall" | "config">;
}

/**
 * The stack's private network and its firewall. The firewall applies by tag, so every droplet of the stack (the
 * active server and, during a tier migration, the new one) gets the same rules, and PostgreSQL and Redis admit
 * only droplets carrying the tag.
 */
export class Network extends pulumi.ComponentResource {
  readonly vpc: digitalocean.Vpc;
  readonly tag: digitalocean.Tag;
  readonly firewall: digitalocean.Firewall;

  constructor(name: string, args: NetworkArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:network:Network", name, {}, opts);
    const { plan } = args;
    // The config's warnings (guardrails turned off on a prod-named stack, a prod image without a digest), printed
    // by `pulumi preview`/`up` as the stack's diagnostics and by `npm run plan` on stderr. Here because every stack
    // builds its network first, from the parsed config.
    for (const warning of plan.config.warnings) void pulumi.log.warn(warning);
    this.vpc = new digitalocean.Vpc(
      `${name}-vpc`,
      {
        name: plan.vpcName,
        region: plan.config.region,
        ipRange: plan.config.vpcIpRange,
        description: `Private network of ${plan.tag}`,
      },
      { parent: this },
    );
    this.tag = new digitalocean.Tag(`${name}-tag`, { name: plan.tag }, { parent: this });
    const toInbound = (r: FirewallRule): digitalocean.types.input.FirewallInboundRule => ({
      protocol: r.protocol,
      portRange: r.portRange,
      sourceAddresses: r.fromVpc ? [this.vpc.ipRange] : r.sourceAddresses,
      sourceTags: r.fromStackTag ? [this.tag.name] : undefined,
    });
    this.firewall = new digitalocean.Firewall(
      `${name}-firewall`,
      {
        name: plan.firewallName,
        tags: [this.tag.name],
        inboundRules: plan.firewall.inbound.map(toInbound),
        outboundRules: plan.firewall.outbound.map((r) => ({
          protocol: r.protocol,
          portRange: r.portRange,
          destinationAddresses: r.sourceAddresses,
        })),
      },
      { parent: this },
    );
    this.registerOutputs({ vpcId: this.vpc.id, firewallId: this.firewall.id });
  }
}
