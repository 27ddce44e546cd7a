/**
 * The Pulumi program: read the config once, plan, build the components, export what operators need.
 * Exported as a function so the offline plan and the tests can run it more than once in one process.
 */
import * as pulumi from "@pulumi/pulumi";
import { AppServer } from "./components/app-server";
import { Edge } from "./components/edge";
import { Monitoring } from "./components/monitoring";
import { TierMigration } from "./components/migration";
import { Network } from "./components/network";
import { ProjectGroup } from "./components/project";
import { StackSecrets } from "./components/secrets";
import { planStack, type ServerPlan } from "./plan";
import { readStackConfig } from "./pulumi-config";

export = async () => {
  const source = readStackConfig(new pulumi.Config());
  const plan = planStack(source.config);
  const { config } = plan;

  const secrets = new StackSecrets("secrets", {
    postgresPassword: source.secret("postgresPassword"),
    redisPassword: source.secret("redisPassword"),
  });
  const network = new Network("network", { plan });
  const newServer = (server: ServerPlan) =>
    new AppServer(server.name, {
      server,
      region: config.region,
      vpcId: network.vpc.id,
      tag: network.tag.name,
      sshKeys: config.sshKeys,
      ssh: { user: config.sshUser, privateKey: source.secret("sshPrivateKey") },
      secrets: secrets.values,
      appPort: config.appPort,
    });
  const server = newServer(plan.active);
  const previous = plan.previous && newServer(plan.previous);
  const migration =
    plan.migration && previous
      ? new TierMigration("migration", {
          migration: plan.migration,
          old: previous,
          next: server,
          sshUser: config.sshUser,
          sshPrivateKey: source.secret("sshPrivateKey"),
          healthPath: config.healthPath,
        })
      : undefined;
  // During a migration the reserved IP moves to the new droplet only once the migration has committed.
  const edge = new Edge("edge", {
    plan,
    dropletId: migration ? migration.cutoverDropletId : server.dropletIdNumber,
    dropletIp: migration ? migration.cutoverDropletIp : server.droplet.ipv4Address,
    protect: config.protectStateful,
  });
  new ProjectGroup("group", {
    name: plan.projectName,
    environment: config.environment,
    resources: [
      ...[server, ...(previous ? [previous] : [])].flatMap((s) => [s.droplet.dropletUrn, s.volume.volumeUrn]),
      ...(edge.reservedIp ? [edge.reservedIp.reservedIpUrn] : []),
      ...(edge.zone ? [edge.zone.domainUrn] : []),
    ],
  });

  // Alerts need somewhere to go: a stack without alertEmails (allowed in dev only) gets none.
  if (config.alertEmails.length > 0) {
    new Monitoring("monitoring", {
      dropletIds: [server.droplet.id, ...(previous ? [previous.droplet.id] : [])],
      domain: config.domain,
      healthPath: config.healthPath,
      alertEmails: config.alertEmails,
      slackWebhookUrl: source.secret("slackWebhookUrl"),
      slackChannel: config.slackChannel,
      tier: config.tier,
    });
  }

  return {
    tier: config.tier,
    dropletSize: plan.active.tier.slug,
    publicIp: edge.address,
    url: `https://${config.domain}`,
    dropletId: server.droplet.id,
  };
};
