/**
 * What `scripts/scale-out-migrate.ts` runs once it has parsed its arguments: the logical cutover from a droplet in
 * the container runtime, over ssh; the droplet's own proxy moves the traffic (from the fence on its Caddy forwards
 * to the app droplets, held until their gates open right after the switch; it keeps forwarding until DNS points at
 * the load balancer, which the stack does). No argument parsing here.
 */
import { type Droplet, dropletFromTarget, migrationCommands, readStep, type StepCommand } from "../migration/commands";
import type { AnySpec, OutputOf } from "../migration/steps";
import { type LockInfo, parseDropletState } from "../migration/journal";
import { sshExecutor } from "../migration/ssh-executor";
import { checkUpstreams, logicalCommands } from "./commands";
import { readState, type ScaleOutStatus, statusOf } from "./status";
import {
  type LogicalReport,
  type LogicalRunnerOptions,
  resumeLogical,
  rollbackLogical,
  runLogicalCutover,
} from "./runner";

/** A plain run, or the recovery of an interrupted one (./status.ts says which). */
export type ScaleOutMode = "run" | "resume" | "rollback";

const RUNS: Record<ScaleOutMode, (o: LogicalRunnerOptions) => Promise<LogicalReport>> = {
  run: runLogicalCutover,
  resume: resumeLogical,
  rollback: rollbackLogical,
};

export interface ScaleOutMigrateOptions {
  /** ssh destination of the single droplet, `root@203.0.113.5`. */
  source: string;
  /** Its VPC address: the managed cluster subscribes to its PostgreSQL there. */
  sourcePrivate: string;
  /** Its PostgreSQL's port there. @default 5432 */
  sourcePgPort?: number;
  /** Non-secret settings for the droplet's scripts (CHATBOT_* paths, ...). */
  sourceEnv?: Readonly<Record<string, string>>;
  /** The same for every app droplet's proxy-switch.sh. */
  appNodeEnv?: Readonly<Record<string, string>>;
  /** @default "run" */
  mode?: ScaleOutMode;
  /** A migration lock without heartbeat for this long is a dead run's. @default LOCK_STALE_SECONDS.default */
  lockStaleSeconds?: number;
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

/** user@host or user@host:port (the port becomes ssh's -p, before the other options). */
function sshTarget(field: string, target: string, privateAddress: string, sshOptions: readonly string[]): Droplet {
  if (!/^[a-z_][a-z0-9_-]*@[A-Za-z0-9.-]+(?::\d{1,5})?$/.test(target))
    throw new Error(`${field}: "${target}" must be user@host or user@host:port`);
  return dropletFromTarget(field, target, { privateAddress, sshOptions });
}

export function sourceDroplet(
  o: Pick<
    ScaleOutMigrateOptions,
    "source" | "sourcePrivate" | "sshOptions" | "sourceSshOptions" | "sourcePgPort" | "sourceEnv"
  >,
): Droplet {
  if (!/^[0-9.]+$/.test(o.sourcePrivate))
    throw new Error(`sourcePrivate: "${o.sourcePrivate}" must be an IPv4 address`);
  return {
    ...sshTarget("source", o.source, o.sourcePrivate, o.sourceSshOptions ?? o.sshOptions ?? []),
    ...(o.sourcePgPort === undefined ? {} : { pgPort: o.sourcePgPort }),
    ...(o.sourceEnv ? { env: { ...o.sourceEnv } } : {}),
  };
}

/** The app droplets as the runner reaches them, one per upstream, in the same order. */
export function appNodeDroplets(
  o: Pick<ScaleOutMigrateOptions, "appNodes" | "upstreams" | "sshOptions" | "appNodeSshOptions" | "appNodeEnv">,
): Droplet[] {
  const upstreams = checkUpstreams(o.upstreams);
  if (o.appNodes.length !== upstreams.length)
    throw new Error(
      `appNodes: ${o.appNodes.length} ssh destination(s) for ${upstreams.length} upstream(s): one per app droplet, in the same order`,
    );
  return o.appNodes.map((ssh, i) => {
    return {
      ...sshTarget("appNodes", ssh, upstreams[i]!.replace(/:\d+$/, ""), o.appNodeSshOptions?.[i] ?? o.sshOptions ?? []),
      ...(o.appNodeEnv ? { env: { ...o.appNodeEnv } } : {}),
    };
  });
}

export async function scaleOutMigrate(o: ScaleOutMigrateOptions): Promise<LogicalReport> {
  const source = sourceDroplet(o);
  const upstreams = checkUpstreams(o.upstreams); // before anything runs
  const appNodes = appNodeDroplets(o);
  const ssh = sshExecutor({ ...(o.log ? { log: o.log } : {}) });
  try {
    return await RUNS[o.mode ?? "run"]({
      source,
      exec: ssh,
      budgets: { downtimeBudgetSeconds: o.downtimeBudgetSeconds, migrationBudgetMinutes: o.migrationBudgetMinutes },
      upstreams,
      appNodes,
      ...(o.lockStaleSeconds === undefined ? {} : { lockStaleSeconds: o.lockStaleSeconds }),
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

/**
 * --status: two read-only steps on the droplet (it reads the cluster from there): the move's state and the
 * migration lock (the tier migration's journal_read: a run that holds it, or a dead one whose lock is not yet stale).
 */
export async function scaleOutStatus(
  o: Pick<ScaleOutMigrateOptions, "source" | "sourcePrivate" | "sshOptions" | "sourceSshOptions" | "sourceEnv" | "log">,
): Promise<ScaleOutStatus & { lock?: LockInfo }> {
  const source = sourceDroplet(o);
  const ssh = sshExecutor({ ...(o.log ? { log: o.log } : {}) });
  const read = async <S extends AnySpec>(cmd: StepCommand<S, string>): Promise<OutputOf<S>> => {
    const r = await ssh(cmd as StepCommand);
    if (r.code !== 0) throw new Error(`${cmd.step} exited ${r.code}: ${r.stderr.trim().split("\n").at(-1) ?? ""}`);
    return readStep(cmd, r.stdout);
  };
  try {
    const status = statusOf(readState(await read(logicalCommands(source).state())));
    const { lock } = parseDropletState(await read(migrationCommands(source, source).journalRead("old")));
    return { ...status, ...(lock ? { lock } : {}) };
  } finally {
    ssh.close();
  }
}

/** How a run ended, for the command's exit code and the person reading it. */
export type LogicalOutcome = "done" | "refused" | "rolled-back" | "rollback-incomplete" | "failed-after-commit";

export function logicalOutcome(
  report: Pick<LogicalReport, "ok" | "committed" | "rolledBack" | "refused">,
): LogicalOutcome {
  if (report.refused) return "refused";
  if (report.committed) return report.ok ? "done" : "failed-after-commit";
  return report.rolledBack === false ? "rollback-incomplete" : "rolled-back";
}
