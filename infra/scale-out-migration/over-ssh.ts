/**
 * What `scripts/scale-out-migrate.ts` runs once it has parsed its arguments: the logical cutover from a droplet in
 * the container runtime, over ssh; the droplet's own proxy moves the traffic (from the fence on its Caddy forwards
 * to the app droplets, held until their gates open right after the switch; it keeps forwarding until DNS points at
 * the load balancer, which the stack does). No argument parsing here.
 */
import type { Droplet } from "../migration/commands";
import { sshExecutor } from "../migration/ssh-executor";
import { checkUpstreams } from "./commands";
import { type LogicalReport, runLogicalCutover } from "./runner";

export interface ScaleOutMigrateOptions {
  /** ssh destination of the single droplet, `root@203.0.113.5`. */
  source: string;
  /** Its VPC address: the managed cluster subscribes to its PostgreSQL there. */
  sourcePrivate: string;
  /** The app droplets' internal listeners, `<private ip>:8081`, where the droplet's proxy forwards at the cutover. */
  upstreams: string[];
  /** The app droplets' ssh destinations (`root@203.0.113.21`), in the order of `upstreams`: their gates open there. */
  appNodes: string[];
  downtimeBudgetSeconds: number;
  migrationBudgetMinutes: number;
  /** ssh options of every connection (the app droplets'). */
  sshOptions?: string[];
  /** ssh options of the droplet's connections instead of `sshOptions` (its pinned host key). @default sshOptions */
  sourceSshOptions?: string[];
  /** Each app droplet's ssh options instead of `sshOptions` (its host key), in the order of `appNodes`. @default sshOptions */
  appNodeSshOptions?: readonly (readonly string[])[];
  log?: (line: string) => void;
}

export function sourceDroplet(
  o: Pick<ScaleOutMigrateOptions, "source" | "sourcePrivate" | "sshOptions" | "sourceSshOptions">,
): Droplet {
  if (!/^[a-z_][a-z0-9_-]*@[A-Za-z0-9.:-]+$/.test(o.source)) throw new Error(`source: "${o.source}" must be user@host`);
  if (!/^[0-9.]+$/.test(o.sourcePrivate))
    throw new Error(`sourcePrivate: "${o.sourcePrivate}" must be an IPv4 address`);
  return {
    ssh: o.source,
    sshOptions: o.sourceSshOptions ?? o.sshOptions ?? [],
    privateAddress: o.sourcePrivate,
  };
}

/** The app droplets as the runner reaches them, one per upstream, in the same order. */
export function appNodeDroplets(
  o: Pick<ScaleOutMigrateOptions, "appNodes" | "upstreams" | "sshOptions" | "appNodeSshOptions">,
): Droplet[] {
  const upstreams = checkUpstreams(o.upstreams);
  if (o.appNodes.length !== upstreams.length)
    throw new Error(
      `appNodes: ${o.appNodes.length} ssh destination(s) for ${upstreams.length} upstream(s): one per app droplet, in the same order`,
    );
  return o.appNodes.map((ssh, i) => {
    if (!/^[a-z_][a-z0-9_-]*@[A-Za-z0-9.:-]+$/.test(ssh)) throw new Error(`appNodes: "${ssh}" must be user@host`);
    return {
      ssh,
      sshOptions: [...(o.appNodeSshOptions?.[i] ?? o.sshOptions ?? [])],
      privateAddress: upstreams[i]!.replace(/:\d+$/, ""),
    };
  });
}

export async function scaleOutMigrate(o: ScaleOutMigrateOptions): Promise<LogicalReport> {
  const source = sourceDroplet(o);
  const upstreams = checkUpstreams(o.upstreams); // before anything runs
  const appNodes = appNodeDroplets(o);
  const ssh = sshExecutor({ ...(o.log ? { log: o.log } : {}) });
  try {
    return await runLogicalCutover({
      source,
      exec: ssh,
      budgets: { downtimeBudgetSeconds: o.downtimeBudgetSeconds, migrationBudgetMinutes: o.migrationBudgetMinutes },
      upstreams,
      appNodes,
      ...(o.log
        ? {
            onEvent: (e) =>
              o.log?.(e.kind === "phase" ? `== ${e.phase}` : e.kind === "step" ? `-> ${e.step}` : e.message),
          }
        : {}),
    });
  } finally {
    ssh.close();
  }
}

/** How a run ended, for the command's exit code and the person reading it. */
export type LogicalOutcome = "done" | "rolled-back" | "rollback-incomplete" | "failed-after-commit";

export function logicalOutcome(report: Pick<LogicalReport, "ok" | "committed" | "rolledBack">): LogicalOutcome {
  if (report.committed) return report.ok ? "done" : "failed-after-commit";
  return report.rolledBack === false ? "rollback-incomplete" : "rolled-back";
}
