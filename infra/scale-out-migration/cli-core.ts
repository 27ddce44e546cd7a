/**
 * What `scripts/scale-out-migrate.ts` runs once it has parsed its arguments: the logical cutover from a droplet in
 * the container runtime, over ssh; the droplet's own proxy moves the traffic (logical.sh `switch`: its Caddy forwards
 * to the app droplets until DNS points at the load balancer, which the stack does). No argument parsing here.
 */
import type { Droplet } from "../migration/commands";
import { sshExecutor } from "../migration/ssh-executor";
import { checkUpstreams } from "./commands";
import { fromStepExecutor, type LogicalReport, runLogicalCutover } from "./runner";

export interface ScaleOutMigrateOptions {
  /** ssh destination of the single droplet, `root@203.0.113.5`. */
  source: string;
  /** Its VPC address: the managed cluster subscribes to its PostgreSQL there. */
  sourcePrivate: string;
  /** The app droplets' `<private ip>:80`, where the droplet's proxy forwards at the cutover. */
  upstreams: string[];
  downtimeBudgetSeconds: number;
  migrationBudgetMinutes: number;
  sshOptions?: string[];
  log?: (line: string) => void;
}

export function sourceDroplet(o: Pick<ScaleOutMigrateOptions, "source" | "sourcePrivate" | "sshOptions">): Droplet {
  if (!/^[a-z_][a-z0-9_-]*@[A-Za-z0-9.:-]+$/.test(o.source)) throw new Error(`source: "${o.source}" must be user@host`);
  if (!/^[0-9.]+$/.test(o.sourcePrivate)) throw new Error(`sourcePrivate: "${o.sourcePrivate}" must be an IPv4 address`);
  return { ssh: o.source, sshOptions: o.sshOptions ?? [], privateAddress: o.sourcePrivate, runtime: "container" };
}

export async function scaleOutMigrate(o: ScaleOutMigrateOptions): Promise<LogicalReport> {
  const source = sourceDroplet(o);
  const upstreams = checkUpstreams(o.upstreams); // before anything runs
  const ssh = sshExecutor({ ...(o.log ? { log: o.log } : {}) });
  const exec = fromStepExecutor(ssh);
  try {
    return await runLogicalCutover({
      source,
      exec,
      budgets: { downtimeBudgetSeconds: o.downtimeBudgetSeconds, migrationBudgetMinutes: o.migrationBudgetMinutes },
      upstreams,
      ...(o.log ? { onEvent: (e) => o.log?.(e.kind === "phase" ? `== ${e.phase}` : e.kind === "step" ? `-> ${e.step}` : e.message) } : {}),
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
