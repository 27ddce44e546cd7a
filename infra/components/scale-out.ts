import * as command from "@pulumi/command";
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { DROPLET_IGNORE_CHANGES } from "../droplet-options";
import { DROPLET_IMAGE } from "../plan";
import { renderAppNodeSecretFiles } from "../render/app-node";
import { hashFiles, renderStageScript } from "../render/files";
import type { ScaleOutFirewallRule, ScaleOutPlan } from "../scale-out";

export interface ScaleOutArgs {
  /** The planned tier (infra/scale-out.ts `planScaleOut`). */
  plan: ScaleOutPlan;
  /** The stack's VPC: droplets, load balancer and both clusters live in it. Caution: changing it replaces them. */
  vpcId: pulumi.Input<string>;
  /**
   * The stack's tag (Network component). Admitted by the database firewalls and by the app droplets' port 80 only
   * while `plan.input.migrating` is set (the old droplet moves its data and forwards traffic during the cutover).
   */
  tag: pulumi.Input<string>;
  /** How `pulumi up` reaches the app droplets to sync their config. */
  ssh: { user: string; privateKey?: pulumi.Output<string> };
  /** Protect the managed clusters and the app database from deletion (prod). @default plan.protect */
  protect?: boolean;
}

/**
 * The scale-out tier: a load balancer (HTTPS with a managed Let's Encrypt certificate, HTTP redirected) in front of N
 * app droplets, a managed PostgreSQL cluster with the app's database, role and a transaction-mode pool, and a
 * managed Valkey cluster, both admitting only the app droplets' tag.
 *
 * - The app droplets are stateless: their user data holds only packages and kernel settings; the compose file, the
 *   proxy config and app.env (the pool's and Valkey's private URIs, secret) are synced by `-config`/`-secrets`
 *   commands, one droplet after another (each sync drains its droplet from the load balancer first).
 * - Caution: changing `appDropletSize` resizes droplets in place (power-off, one after another is NOT guaranteed by
 *   DigitalOcean: plan resizes in a maintenance window); changing the image, region or SSH keys replaces them.
 * - Caution: the connection pool has no update; its size follows `dbSize` only, so adding droplets never recreates it.
 */
export class ScaleOut extends pulumi.ComponentResource {
  readonly appTag: digitalocean.Tag;
  readonly postgres: digitalocean.DatabaseCluster;
  readonly database: digitalocean.DatabaseDb;
  readonly user: digitalocean.DatabaseUser;
  readonly pool: digitalocean.DatabaseConnectionPool;
  readonly valkey: digitalocean.DatabaseCluster;
  readonly valkeyConfig: digitalocean.DatabaseValkeyConfig;
  readonly postgresFirewall: digitalocean.DatabaseFirewall;
  readonly valkeyFirewall: digitalocean.DatabaseFirewall;
  readonly certificate: digitalocean.Certificate;
  readonly droplets: digitalocean.Droplet[];
  readonly loadBalancer: digitalocean.LoadBalancer;
  readonly appFirewall: digitalocean.Firewall;
  readonly secretsSyncs: command.remote.Command[];
  readonly configSyncs: command.remote.Command[];
  /** The load balancer's public address (the domain's A record points here once traffic has moved). */
  readonly address: pulumi.Output<string>;
  /** The app droplets' VPC addresses (the old droplet's proxy forwards to `<ip>:8081` from a cutover on). */
  readonly privateIps: pulumi.Output<string[]>;
  /** The app droplets' public addresses (a cutover opens their gates over ssh), in the order of `privateIps`. */
  readonly publicIps: pulumi.Output<string[]>;
  /** Secret: what the app uses (pool, transaction mode) and what migrations and admins use (the cluster itself). */
  readonly databaseUrl: pulumi.Output<string>;
  readonly redisUrl: pulumi.Output<string>;
  /** DO URNs for the stack's DigitalOcean project. */
  readonly projectResources: pulumi.Output<string>[];

  constructor(name: string, args: ScaleOutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:scaleout:ScaleOut", name, {}, opts);
    const { plan } = args;
    const protect = args.protect ?? plan.protect;
    const region = plan.input.region;

    this.appTag = new digitalocean.Tag(`${name}-app-tag`, { name: plan.app.tag }, { parent: this });
    const sources = this.normalizeDatabaseSources(plan, args.tag);

    ({
      postgres: this.postgres,
      database: this.database,
      user: this.user,
      pool: this.pool,
    } = this.createPostgres(name, plan, args.vpcId, protect));
    ({ valkey: this.valkey, config: this.valkeyConfig } = this.createValkey(name, plan, args.vpcId, protect));
    this.postgresFirewall = new digitalocean.DatabaseFirewall(
      `${name}-pg-firewall`,
      { clusterId: this.postgres.id, rules: sources },
      { parent: this },
    );
    this.valkeyFirewall = new digitalocean.DatabaseFirewall(
      `${name}-valkey-firewall`,
      { clusterId: this.valkey.id, rules: sources },
      { parent: this },
    );

    this.databaseUrl = pulumi.secret(this.pool.privateUri);
    this.redisUrl = pulumi.secret(this.valkey.privateUri);

    this.droplets = this.createDroplets(name, plan, args.vpcId);
    ({ certificate: this.certificate, loadBalancer: this.loadBalancer } = this.createLoadBalancer(
      name,
      plan,
      args.vpcId,
      region,
    ));
    this.appFirewall = this.createAppFirewall(name, plan, args.tag);
    ({ secrets: this.secretsSyncs, config: this.configSyncs } = this.createConfigSyncs(name, plan, args.ssh));

    this.address = this.loadBalancer.ip;
    this.privateIps = pulumi.all(this.droplets.map((d) => d.ipv4AddressPrivate));
    this.publicIps = pulumi.all(this.droplets.map((d) => d.ipv4Address));
    this.projectResources = [
      this.loadBalancer.loadBalancerUrn,
      this.postgres.clusterUrn,
      this.valkey.clusterUrn,
      ...this.droplets.map((d) => d.dropletUrn),
    ];
    this.registerOutputs({
      loadBalancerIp: this.address,
      dropletIds: this.droplets.map((d) => d.id),
      postgresClusterId: this.postgres.id,
      valkeyClusterId: this.valkey.id,
      configHash: hashFiles(plan.app.configFiles),
    });
  }

  private normalizeDatabaseSources(
    plan: ScaleOutPlan,
    stackTag: pulumi.Input<string>,
  ): pulumi.Input<digitalocean.types.input.DatabaseFirewallRule>[] {
    // The tag names come from the Tag resources (so the firewall waits for them), in the plan's order.
    return plan.databaseFirewall.map((r) => ({
      type: r.type,
      value: r.value === plan.app.tag ? this.appTag.name : stackTag,
    }));
  }

  /** A managed cluster in the stack's VPC, tagged like the app droplets; its URIs and password are secret outputs. */
  private createCluster(
    resourceName: string,
    plan: ScaleOutPlan,
    spec: {
      name: string;
      engine: string;
      version: string;
      size: string;
      nodeCount: number;
      maintenanceWindow: { day: string; hour: string };
    },
    vpcId: pulumi.Input<string>,
    protect: boolean,
  ): digitalocean.DatabaseCluster {
    return new digitalocean.DatabaseCluster(
      resourceName,
      {
        name: spec.name,
        engine: spec.engine,
        version: spec.version,
        size: spec.size,
        region: plan.input.region,
        nodeCount: spec.nodeCount,
        privateNetworkUuid: vpcId,
        maintenanceWindows: [spec.maintenanceWindow],
        tags: [this.appTag.name],
      },
      { parent: this, protect, additionalSecretOutputs: ["password", "uri", "privateUri"] },
    );
  }

  private createPostgres(name: string, plan: ScaleOutPlan, vpcId: pulumi.Input<string>, protect: boolean) {
    const pg = plan.postgres;
    const postgres = this.createCluster(`${name}-pg`, plan, pg, vpcId, protect);
    const database = new digitalocean.DatabaseDb(
      `${name}-pg-db`,
      { clusterId: postgres.id, name: pg.dbName },
      { parent: this, protect },
    );
    const user = new digitalocean.DatabaseUser(
      `${name}-pg-user`,
      { clusterId: postgres.id, name: pg.user },
      { parent: this, additionalSecretOutputs: ["password"] },
    );
    const pool = new digitalocean.DatabaseConnectionPool(
      `${name}-pg-pool`,
      {
        clusterId: postgres.id,
        name: pg.pool.name,
        mode: pg.pool.mode,
        size: pg.pool.size,
        dbName: database.name,
        user: user.name,
      },
      { parent: this, additionalSecretOutputs: ["password", "uri", "privateUri"] },
    );
    return { postgres, database, user, pool };
  }

  private createValkey(name: string, plan: ScaleOutPlan, vpcId: pulumi.Input<string>, protect: boolean) {
    const v = plan.valkey;
    const valkey = this.createCluster(`${name}-valkey`, plan, v, vpcId, protect);
    // The maxmemory policy goes through the engine's config resource (TF docs digitalocean_database_valkey_config:
    // maxmemory_policy = "allkeys-lru"), not the cluster's evictionPolicy (redis-only at the stored provider commit).
    const config = new digitalocean.DatabaseValkeyConfig(
      `${name}-valkey-config`,
      { clusterId: valkey.id, valkeyMaxmemoryPolicy: v.maxmemoryPolicy },
      { parent: this },
    );
    return { valkey, config };
  }

  private createDroplets(name: string, plan: ScaleOutPlan, vpcId: pulumi.Input<string>): digitalocean.Droplet[] {
    return plan.app.droplets.map(
      (d) =>
        new digitalocean.Droplet(
          `${name}-${d.key}`,
          {
            name: d.dropletName,
            image: DROPLET_IMAGE,
            region: plan.input.region,
            size: plan.app.size,
            vpcUuid: vpcId,
            sshKeys: plan.input.sshKeys,
            tags: [this.appTag.name],
            userData: plan.app.userData,
            monitoring: true,
            ipv6: true,
            // Stateless: everything on them is rendered by the stack; data lives in the managed clusters.
            backups: false,
            gracefulShutdown: true,
          },
          // A key rotation must not replace the app droplets (every one of them at once).
          { parent: this, ignoreChanges: [...DROPLET_IGNORE_CHANGES] },
        ),
    );
  }

  private createLoadBalancer(name: string, plan: ScaleOutPlan, vpcId: pulumi.Input<string>, region: string) {
    const lb = plan.loadBalancer;
    const certificate = new digitalocean.Certificate(
      `${name}-cert`,
      { name: lb.certificate.name, type: lb.certificate.type, domains: lb.certificate.domains },
      { parent: this },
    );
    const loadBalancer = new digitalocean.LoadBalancer(
      `${name}-lb`,
      {
        name: lb.name,
        region,
        sizeUnit: lb.sizeUnit,
        vpcUuid: vpcId,
        dropletTag: this.appTag.name,
        redirectHttpToHttps: lb.redirectHttpToHttps,
        // The certificate is referenced by name: a renewed Let's Encrypt certificate keeps its name, not its id.
        forwardingRules: lb.forwardingRules.map((r) => ({
          entryProtocol: r.entryProtocol,
          entryPort: r.entryPort,
          targetProtocol: r.targetProtocol,
          targetPort: r.targetPort,
          ...(r.certificate ? { certificateName: certificate.name } : {}),
        })),
        healthcheck: { ...lb.healthcheck },
      },
      { parent: this, dependsOn: this.droplets },
    );
    return { certificate, loadBalancer };
  }

  private createAppFirewall(name: string, plan: ScaleOutPlan, stackTag: pulumi.Input<string>): digitalocean.Firewall {
    const inbound = (r: ScaleOutFirewallRule): digitalocean.types.input.FirewallInboundRule => ({
      protocol: r.protocol,
      portRange: r.portRange,
      sourceAddresses: r.sourceAddresses,
      sourceTags: r.sourceTags?.map((t) => (t === plan.input.stackTag ? stackTag : t)),
      sourceLoadBalancerUids: r.fromLoadBalancer ? [this.loadBalancer.id] : undefined,
    });
    return new digitalocean.Firewall(
      `${name}-app-firewall`,
      {
        name: plan.app.firewallName,
        tags: [this.appTag.name],
        inboundRules: plan.app.firewall.inbound.map(inbound),
        outboundRules: plan.app.firewall.outbound.map((r) => ({
          protocol: r.protocol,
          portRange: r.portRange,
          destinationAddresses: r.sourceAddresses,
        })),
      },
      { parent: this },
    );
  }

  private createConfigSyncs(name: string, plan: ScaleOutPlan, ssh: ScaleOutArgs["ssh"]) {
    const secretFiles = pulumi
      .all([this.pool.privateUri, this.valkey.privateUri])
      .apply(([databaseUrl, redisUrl]) => renderAppNodeSecretFiles({ databaseUrl, redisUrl }, plan.input.appPort));
    const configHash = hashFiles(plan.app.configFiles);
    const configScript = `${renderStageScript(plan.app.configFiles) + plan.app.applyCommand}\n`;
    const secrets: command.remote.Command[] = [];
    const config: command.remote.Command[] = [];
    let previous: command.remote.Command | undefined;
    plan.app.droplets.forEach((d, i) => {
      const droplet = this.droplets[i]!;
      const connection: command.types.input.remote.ConnectionArgs = {
        host: droplet.ipv4Address,
        user: ssh.user,
        privateKey: ssh.privateKey,
        dialErrorLimit: 60,
        perDialTimeout: 10,
      };
      const s = new command.remote.Command(
        `${name}-${d.key}-secrets`,
        {
          connection,
          create: "bash -s",
          stdin: pulumi.secret(secretFiles.apply(renderStageScript)),
          triggers: [pulumi.secret(secretFiles.apply(hashFiles))],
        },
        { parent: this, dependsOn: [droplet, this.postgresFirewall, this.valkeyFirewall] },
      );
      // One droplet after another: each sync drains its droplet, so the others keep serving.
      const c = new command.remote.Command(
        `${name}-${d.key}-config`,
        { connection, create: "bash -s", stdin: configScript, triggers: [configHash, s.id] },
        { parent: this, dependsOn: [s, this.pool, ...(previous ? [previous] : [])] },
      );
      secrets.push(s);
      config.push(c);
      previous = c;
    });
    return { secrets, config };
  }
}
