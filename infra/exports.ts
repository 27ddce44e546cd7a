/**
 * The stack outputs operators use, wired from the components (the plain shapes and rules are infra/stack-outputs.ts),
 * and the monthly cost of every resource the program registers, priced by infra/cost.
 */
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import type { AppServer } from "./components/app-server";
import type { Edge } from "./components/edge";
import type { ScaleOut } from "./components/scale-out";
import { estimateMonthly, retainedVolumeCost } from "./cost";
import { appDropletServerKey, type DeploymentRecord } from "./deployed";
import type { ServerPlan, StackPlan } from "./plan";
import { type PlannedResource, SECRET_VALUE } from "./resource-shapes";
import {
  type DropletValues,
  knownHostsOf,
  migrationStatus,
  serverOutputs,
  servingServer,
  type VolumeLookup,
  withExistingRetainedVolumes,
} from "./stack-outputs";

interface Registered {
  type: string;
  name: string;
  custom: boolean;
  props: pulumi.Inputs;
}

/** A value as the price table may read it: a secret stays "[secret]" (never priced, never revealed). */
function readable(v: unknown): pulumi.Output<unknown> {
  const o = pulumi.output(v);
  return pulumi.output(pulumi.isSecret(o)).apply((secret) => (secret ? SECRET_VALUE : pulumi.unsecret(o)));
}

function planned(r: Registered): pulumi.Output<PlannedResource> {
  const entries = Object.entries(r.props ?? {}).map(([k, v]) => readable(v).apply((x): [string, unknown] => [k, x]));
  return pulumi.all(entries).apply(
    (kv): PlannedResource => ({
      type: r.type,
      name: r.name,
      custom: r.custom,
      inputs: Object.fromEntries(kv) as Record<string, unknown>,
    }),
  );
}

/**
 * Records every resource registered from now on (a stack transformation that changes nothing). `monthlyCost()`, called
 * once all are registered, is their price per month in USD (infra/cost `estimateMonthly`, as `npm run plan` shows it).
 * During a real preview it is unknown while any input is (a new resource's id, for example).
 */
export function trackResourcesForCost(): { monthlyCost(): pulumi.Output<number> } {
  const registered: Registered[] = [];
  pulumi.runtime.registerStackTransformation((args) => {
    if (!args.type.startsWith("pulumi:")) {
      registered.push({
        type: args.type,
        name: args.name,
        custom: args.resource instanceof pulumi.CustomResource,
        props: args.props,
      });
    }
    return undefined;
  });
  return {
    monthlyCost: () => pulumi.all(registered.map(planned)).apply((resources) => estimateMonthly(resources).monthly),
  };
}

/**
 * A volume by name and region at DigitalOcean (the provider's `getVolume` data source), undefined when there is none:
 * its "no volumes found with name" error (terraform-provider-digitalocean `digitalocean/volume/datasource_volume.go`,
 * findVolumeByName). Any other error fails the update, rather than forgetting a volume that still bills.
 */
export const volumeAtDigitalOcean: VolumeLookup = (name, region) =>
  digitalocean.getVolume({ name, region }).then(
    (v) => ({ id: v.id }),
    (e: unknown) => {
      if (/no volumes found with name/.test(String((e as Error)?.message ?? e))) return undefined;
      throw e;
    },
  );

/** The `deployment` record this update leaves, with only the retained volumes that still exist. */
export function recordWithExistingVolumes(record: pulumi.Output<DeploymentRecord>): pulumi.Output<DeploymentRecord> {
  return record.apply((r) => withExistingRetainedVolumes(r, volumeAtDigitalOcean));
}

export interface OperatorOutputArgs {
  plan: StackPlan;
  /** The record this `pulumi up` leaves (it says which server serves and what migration is kept). */
  deployment: pulumi.Output<DeploymentRecord>;
  /** The single-droplet servers with their plans: the serving one and, while it is kept, the one migrated from. */
  servers: { plan: ServerPlan; server: AppServer }[];
  scaleOut: ScaleOut | undefined;
  edge: Edge;
  sshUser: string;
  monthlyCost: pulumi.Output<number>;
}

/**
 * The outputs besides `deployment`, `tier`, `dropletSize`, `publicIp` and `url`: `servers` (every droplet's id, public
 * and private address, volume), `servingServer`, `servingDropletId` and `sshTarget` (single droplet), `reservedIp`,
 * `migration`, `monthlyCost`, and on scale-out the app's `databaseUrl` and `redisUrl` (secret).
 */
export function operatorOutputs(a: OperatorOutputArgs): Record<string, pulumi.Output<unknown>> {
  const droplets: pulumi.Output<DropletValues>[] = [
    ...a.servers.map(({ plan, server }) =>
      pulumi
        .all([
          server.droplet.id,
          server.droplet.ipv4Address,
          server.droplet.ipv4AddressPrivate,
          server.volume.id,
          server.hostPublicKey,
        ])
        .apply(([dropletId, publicIp, privateIp, volumeId, hostKey]) => ({
          key: plan.name,
          tier: plan.tier.name,
          dropletId,
          dropletName: plan.dropletName,
          publicIp,
          privateIp,
          volumeId,
          volumeName: plan.volumeName,
          ...(hostKey ? { hostKey } : {}),
        })),
    ),
    ...(a.scaleOut && a.plan.scaleOut
      ? a.scaleOut.droplets.map((d, i) => {
          const p = a.plan.scaleOut!.app.droplets[i]!;
          return pulumi
            .all([d.id, d.ipv4Address, d.ipv4AddressPrivate, a.scaleOut!.hostPublicKeys[i]])
            .apply(([dropletId, publicIp, privateIp, hostKey]) => ({
              key: appDropletServerKey(p.key),
              dropletId,
              dropletName: p.dropletName,
              publicIp,
              privateIp,
              ...(hostKey ? { hostKey } : {}),
            }));
        })
      : []),
  ];
  const servers = pulumi
    .all([a.deployment, pulumi.all(droplets)])
    .apply(([record, values]) => serverOutputs(record, values));
  const serving = pulumi.all([a.deployment, servers]).apply(([record, all]) => all[servingServer(record)]);
  const retain = {
    hours: a.plan.config.previousTierRetainHours,
    ...(a.plan.config.previousTierRetainUntil ? { until: a.plan.config.previousTierRetainUntil } : {}),
  };
  return {
    servers,
    servingServer: a.deployment.apply(servingServer),
    ...(a.plan.active
      ? {
          servingDropletId: serving.apply((s) => s?.dropletId ?? ""),
          sshTarget: serving.apply((s) => (s ? `${a.sshUser}@${s.publicIp}` : "")),
        }
      : {}),
    ...(a.edge.reservedIp ? { reservedIp: a.edge.reservedIp.ipAddress } : {}),
    // Only when a server is pinned: a stack of unpinned servers keeps exactly the outputs it had.
    ...(a.servers.some(({ server }) => server.hostPublicKey) || a.scaleOut?.hostPublicKeys.some((k) => k)
      ? { knownHosts: servers.apply(knownHostsOf) }
      : {}),
    migration: a.deployment.apply((record) => migrationStatus(record, retain)),
    // Volumes of dropped servers left at DigitalOcean bill on until deleted.
    monthlyCost: pulumi
      .all([a.monthlyCost, a.deployment])
      .apply(([cost, record]) =>
        (record.retainedVolumes ?? []).reduce(
          (sum, v) => Math.round((sum + retainedVolumeCost(v).monthlyCost) * 100) / 100,
          cost,
        ),
      ),
    ...(a.scaleOut ? { databaseUrl: a.scaleOut.databaseUrl, redisUrl: a.scaleOut.redisUrl } : {}),
  };
}
