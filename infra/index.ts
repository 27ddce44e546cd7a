/**
 * The Pulumi program: read the config once, plan, build the components, export what operators need.
 * Exported as a function so the offline plan and the tests can run it more than once in one process.
 */
import * as pulumi from "@pulumi/pulumi";
import { AppServer } from "./components/app-server";
import { Edge } from "./components/edge";
import { TierMigration } from "./components/migration";
import { Monitoring } from "./components/monitoring";
import { Network } from "./components/network";
import { ProjectGroup } from "./components/project";
import { ScaleOut } from "./components/scale-out";
import { ScaleOutMigration } from "./components/scale-out-migration";
import { StackSecrets } from "./components/secrets";
import { operatorOutputs, recordWithExistingVolumes, trackResourcesForCost } from "./exports";
import { deploymentAfter, planStack, type ServerPlan } from "./plan";
import { readDeployedState, readStackConfig } from "./pulumi-config";
import { parseMigrationResult } from "./migration/result-line";
import type { ProgramOptions } from "./offline/run";

export = async (opts: ProgramOptions = {}) => {
  const cost = trackResourcesForCost();
  const source = readStackConfig(new pulumi.Config());
  const plan = planStack(source.config, await readDeployedState(source.config), opts.now);
  const { config } = plan;
  const ssh = { user: config.sshUser, privateKey: source.secret("sshPrivateKey") };

  // Passwords of the droplets' own PostgreSQL and Redis (the scale-out tier's managed engines have their own).
  const secrets =
    (plan.active || plan.previous) &&
    new StackSecrets("secrets", {
      postgresPassword: source.secret("postgresPassword"),
      redisPassword: source.secret("redisPassword"),
    });
  const network = new Network("network", { plan });
  const appServer = (server: ServerPlan, passwords: StackSecrets) =>
    new AppServer(server.name, {
      server,
      region: config.region,
      vpcId: network.vpc.id,
      tag: network.tag.name,
      sshKeys: config.sshKeys,
      ssh,
      secrets: passwords.values,
      appPort: config.appPort,
    });

  // Serving: one droplet of the tier, or the scale-out tier. During a migration, the previous server too.
  const server = plan.active && secrets && appServer(plan.active, secrets);
  const previous = plan.previous && secrets && appServer(plan.previous, secrets);
  const scaleOut =
    plan.scaleOut &&
    new ScaleOut("scale-out", {
      plan: plan.scaleOut,
      vpcId: network.vpc.id,
      tag: network.tag.name,
      ssh,
      protect: config.protectStateful,
    });

  const migration =
    plan.migration && previous && server
      ? new TierMigration("migration", {
          migration: plan.migration,
          old: previous,
          next: server,
          sshUser: ssh.user,
          sshPrivateKey: ssh.privateKey,
          healthPath: config.healthPath,
        })
      : undefined;
  const scaleOutMigration =
    plan.scaleOutMigration && previous && scaleOut
      ? new ScaleOutMigration("scale-out-migration", {
          source: previous,
          scaleOut,
          sshUser: ssh.user,
          sshPrivateKey: ssh.privateKey,
          ...plan.scaleOutMigration,
        })
      : undefined;

  // Traffic reaches the new server only through a migration's result (it resolves once the migration committed).
  const serving = server
    ? {
        dropletId: migration?.cutoverDropletId ?? server.dropletIdNumber,
        address: migration?.cutoverDropletIp ?? server.droplet.ipv4Address,
      }
    : { dropletId: undefined, address: scaleOutMigration?.cutoverAddress ?? scaleOut!.address };
  const reservedIpDroplet =
    plan.edge.reservedIp === "serving"
      ? serving.dropletId
      : plan.edge.reservedIp === "previous"
        ? previous?.dropletIdNumber
        : undefined;
  const edge = new Edge("edge", {
    plan,
    reservedIp:
      reservedIpDroplet === undefined
        ? undefined
        : { dropletId: reservedIpDroplet, protect: config.protectStateful && plan.edge.reservedIp === "serving" },
    recordValue: plan.edge.record === "serving" ? serving.address : undefined,
    protect: config.protectStateful,
  });

  // Newest server first, the order a migration leaves: a switch back, which swaps the roles, changes no list.
  const previousIsNewer = (plan.previous?.record.generation ?? 0) > (plan.active?.record.generation ?? 0);
  const servers = (previousIsNewer ? [previous, server] : [server, previous]).filter(
    (s): s is AppServer => s !== undefined,
  );
  new ProjectGroup("group", {
    name: plan.projectName,
    environment: config.environment,
    resources: [
      ...servers.flatMap((s) => [s.droplet.dropletUrn, s.volume.volumeUrn]),
      ...(scaleOut ? scaleOut.projectResources : []),
      ...(edge.reservedIp ? [edge.reservedIp.reservedIpUrn] : []),
      ...(edge.zone ? [edge.zone.domainUrn] : []),
    ],
  });

  if (plan.monitoring) {
    new Monitoring("monitoring", {
      dropletIds: [...servers.map((s) => s.droplet.id), ...(scaleOut ? scaleOut.droplets.map((d) => d.id) : [])],
      domain: config.domain,
      healthPath: config.healthPath,
      alertEmails: config.alertEmails,
      slackWebhookUrl: source.secret("slackWebhookUrl"),
      slackChannel: config.slackChannel,
      tier: plan.monitoring.tier,
    });
  }

  // What the next `pulumi up` reads as deployed. A migration run by this update contributes its commit time.
  const moveReport = plan.migration?.running
    ? migration?.run.stdout
    : plan.scaleOutMigration?.running
      ? scaleOutMigration?.run.stdout
      : undefined;
  const deployment = recordWithExistingVolumes(
    pulumi.output(moveReport).apply((stdout) => deploymentAfter(plan, parseMigrationResult(stdout))),
  );

  return {
    deployment,
    tier: config.tier,
    dropletSize: plan.active ? plan.active.tier.slug : config.appDropletSize,
    publicIp: edge.address,
    url: `https://${config.domain}`,
    ...operatorOutputs({
      plan,
      deployment,
      servers: [
        ...(plan.active && server ? [{ plan: plan.active, server }] : []),
        ...(plan.previous && previous ? [{ plan: plan.previous, server: previous }] : []),
      ],
      scaleOut,
      edge,
      sshUser: ssh.user,
      monthlyCost: cost.monthlyCost(),
    }),
  };
};
