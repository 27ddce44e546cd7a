/**
 * The Pulumi program: read the config once, plan, build the components, export what operators need.
 * Exported as a function so the offline plan and the tests can run it more than once in one process.
 */
import * as pulumi from "@pulumi/pulumi";
import { AppServer } from "./components/app-server";
import { Edge } from "./components/edge";
import { Monitoring } from "./components/monitoring";
import { Network } from "./components/network";
import { ProjectGroup } from "./components/project";
import { StackSecrets } from "./components/secrets";
import { planStack } from "./plan";
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
  const server = new AppServer(plan.active.name, {
    server: plan.active,
    region: config.region,
    vpcId: network.vpc.id,
    tag: network.tag.name,
    sshKeys: config.sshKeys,
    ssh: { user: config.sshUser, privateKey: source.secret("sshPrivateKey") },
    secrets: secrets.values,
    appPort: config.appPort,
  });
  const edge = new Edge("edge", { plan, dropletId: server.dropletIdNumber, protect: config.protectStateful });
  new ProjectGroup("group", {
    name: plan.projectName,
    environment: config.environment,
    resources: [server.droplet.dropletUrn, server.volume.volumeUrn, edge.reservedIp.reservedIpUrn, ...(edge.zone ? [edge.zone.domainUrn] : [])],
  });

  // Alerts need somewhere to go: a stack without alertEmails (allowed in dev only) gets none.
  if (config.alertEmails.length > 0) {
    new Monitoring("monitoring", {
      dropletIds: [server.droplet.id],
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
    publicIp: edge.reservedIp.ipAddress,
    url: `https://${config.domain}`,
    dropletId: server.droplet.id,
  };
};
