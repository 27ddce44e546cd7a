/**
 * What every run of the fault sweep shares, whichever migration it faults (./run-one.ts: the tier migration and the
 * switch back; ./scale-out-run.ts: the scale-out move): the run's record, the fault put into the executor seam, what
 * a `--status` printed, and the verdict (which server serves, and the set checker's result against it).
 */
import type { WriteRecord } from "../migration/checker";
import { type Harness, type HarnessDroplet, startHarness } from "../migration/harness";
import type { Addressed, SeamExecutor } from "../migration/seams";
import { type CutLanding, pgKillTarget, sshCut, stepFails } from "./inject";
import type { Cell, StepAddress } from "./matrix";
import { type NetCut, netCut } from "./net-cut";
import { Relaunched, rebootOld } from "./reboot";

/** The database every run starts from: big enough that a copy takes a while, small enough for a minute a run. */
export const SEED_BYTES = 15 * 1024 * 1024;

export type FaultOutcome = "rolled-back" | "completed" | "needs-operator";

export interface FaultRun {
  migration: Cell["migration"];
  step: string;
  fault: Cell["fault"];
  outcome: FaultOutcome;
  /** Why: the runner's outcomes (faulted run, then recovery) and, when an operator is needed, the reason. */
  why: string;
  /** The final state is an allowed one: the source or the target the one primary, serving, with every write. */
  known: boolean;
  /** Acknowledged writes missing from the serving server (-1: no server could be read back). */
  lost: number;
  /** Writes present more than once on the primary (its primary key makes this 0 unless the schema changes). */
  duplicated: number;
  /** Requests certainly refused, and those whose fate the client could not know. */
  failed: number;
  unknown: number;
  acknowledged: number;
  recoverySeconds: number;
  /** The migration's locks are gone at the end (the scale-out move holds the source droplet's). */
  lockReleased: boolean;
  /** The faulted step was reached (a fault at a step the run never got to did nothing). */
  faultHit: boolean;
  /** Where the fault landed: in the middle of the step, or just after it ended (a fast step). */
  landed?: CutLanding;
  /** What the fault did beyond that (pg-kill-target: killed or not, restarted; reboot-old: what came back; net-cut). */
  injected?: string;
  faultedOutcome: string;
  /** What `--status` said after the faulted run: phase and advice (absent: nothing in progress). */
  statusPhase?: string;
  statusNext?: string;
  recovery: "none" | RecoveryMode;
  recoveryOutcome?: string;
  /**
   * After a completed run, the server left behind: "streaming" (it follows the new primary), "stopped: <why>" (the
   * journal says it does not, and why), or "silent: <what was seen>" (neither: a finding).
   */
  follower?: string;
  /**
   * The scale-out move: what the end state keeps of the move that it should not (a subscription, a replication slot,
   * a closed gate); absent when nothing is left.
   */
  leftovers?: string;
  /** The droplets whose PostgreSQL takes writes at the end ("none", or both names joined by "+"). */
  primary: string;
  /** The server a probe write through the front door landed on. */
  serving: string;
  frontDoor: string;
  /**
   * The runner's calls up to and including the faulted one ("side:step"), for the in-process faults: the matrix's
   * order is checked on them.
   */
  calls?: string[];
}

/** The harness could not be set up (not a finding about the migration): the benchmark exits 3. */
export class HarnessFailure extends Error {}

export type RecoveryMode = "run" | "resume" | "rollback";

/** What one run of the migration (the faulted one, or the recovery) ended as. */
export interface Ran {
  outcome: FaultOutcome;
  /** The runner's outcome and its reason, or the CLI's exit. */
  text: string;
}

/** What a fault leaves that the harness does not own: processes a reboot started, a network cut not yet lifted. */
export interface Leftovers {
  relaunched: Relaunched;
  cuts: NetCut[];
}

/**
 * A fresh harness for one run: `prepare` (a failure there is the harness's, not the migration's), then `body`; the
 * harness, and whatever the fault left, are always stopped.
 */
export async function onFreshHarness<P>(
  prepare: (h: Harness) => Promise<P>,
  body: (h: Harness, prepared: P, left: Leftovers) => Promise<FaultRun>,
): Promise<FaultRun> {
  const left: Leftovers = { relaunched: new Relaunched(), cuts: [] };
  const h = await startHarness().catch((e: Error) => {
    throw new HarnessFailure(`the harness did not start: ${e.message}`);
  });
  try {
    const prepared = await prepare(h).catch((e: Error) => {
      throw e instanceof HarnessFailure ? e : new HarnessFailure(`preparing the run: ${e.message}`);
    });
    return await body(h, prepared, left);
  } finally {
    for (const cut of left.cuts) cut.lift();
    await left.relaunched.stop();
    await h.stop();
  }
}

/** What the recovery found and did: what --status printed, the run it advised and how that ended, or a problem. */
export interface Recovery {
  /** The tier migration's journal outcome as --status printed it (done, rolled-back, running, ...). */
  journalOutcome?: string;
  statusPhase?: string;
  statusNext?: string;
  mode?: RecoveryMode;
  ran?: Ran;
  problem?: string;
}

/** A run's record as the faulted run and the recovery made it (the same fields for every migration). */
export function recordOf(
  faulted: Faulted,
  recovery: Recovery,
): Pick<
  FaultRun,
  | "faultHit"
  | "landed"
  | "injected"
  | "faultedOutcome"
  | "statusPhase"
  | "statusNext"
  | "recovery"
  | "recoveryOutcome"
  | "calls"
> {
  return {
    faultHit: faulted.hit,
    ...(faulted.landed ? { landed: faulted.landed } : {}),
    ...(faulted.injected ? { injected: faulted.injected } : {}),
    faultedOutcome: faulted.ran.outcome,
    ...(recovery.statusPhase ? { statusPhase: recovery.statusPhase } : {}),
    ...(recovery.statusNext ? { statusNext: recovery.statusNext } : {}),
    recovery: recovery.mode ?? "none",
    ...(recovery.ran ? { recoveryOutcome: recovery.ran.outcome } : {}),
    ...(faulted.calls ? { calls: faulted.calls } : {}),
  };
}

/** The migration with the fault in it, as it ended. */
export interface Faulted {
  ran: Ran;
  hit: boolean;
  landed?: CutLanding;
  injected?: string;
  /** The runner's calls up to and including the faulted one (in-process runs only). */
  calls?: string[];
}

/** A `--status`'s phase and advice lines ("  phase    <phase>", "  next     <advice>"), and the run it advises. */
export function parseStatus(stdout: string): {
  statusPhase?: string;
  statusNext?: string;
  advised?: "resume" | "rollback";
} {
  const statusPhase = /^ {2}phase +(.+)$/m.exec(stdout)?.[1];
  const statusNext = /^ {2}next +(.+)$/m.exec(stdout)?.[1];
  const advised = statusNext?.includes("--resume")
    ? "resume"
    : statusNext?.includes("--rollback")
      ? "rollback"
      : undefined;
  return {
    ...(statusPhase ? { statusPhase } : {}),
    ...(statusNext ? { statusNext } : {}),
    ...(advised ? { advised } : {}),
  };
}

/** The droplets a fault acts on: where the faulted step runs, the move's source and its target. */
export interface FaultTargets {
  step: HarnessDroplet;
  source: HarnessDroplet;
  target: HarnessDroplet;
}

/** What the fault reported as it acted; `rebooted` settles once a rebooted droplet is up again. */
export interface Injection {
  landed?: CutLanding;
  injected?: string;
  rebooted?: Promise<void>;
}

/** `exec` with the cell's fault in it (the executor-seam kinds only); `seen` fills in as the fault acts. */
export function injectFault<C extends Addressed>(
  exec: SeamExecutor<C>,
  fault: Cell["fault"],
  at: StepAddress,
  on: FaultTargets,
  left: Leftovers,
  seen: Injection,
): SeamExecutor<C> {
  switch (fault) {
    case "step-fails":
      return stepFails(exec, at);
    case "ssh-cut":
      return sshCut(exec, at, on.step, (w) => {
        seen.landed = w;
      });
    case "net-cut":
      return netCut(
        exec,
        at,
        on.step,
        [on.source, on.target],
        (cut) => left.cuts.push(cut),
        (what) => {
          seen.landed = what.landed;
          seen.injected = what.cut;
        },
      );
    case "reboot-old":
      return rebootOld(exec, at, on.step, on.source, left.relaunched, (what) => {
        seen.landed = what.landed;
        seen.rebooted = what.rebooted.then((text) => {
          seen.injected = text;
        });
      });
    case "pg-kill-target":
      return pgKillTarget(exec, at, on.step, on.target, (what) => {
        seen.landed = what.landed;
        seen.injected = what.restarted;
      });
    default:
      throw new Error(`${fault} does not go through the executor`);
  }
}

/** The index of the nth `call` in `calls`, or -1. */
export function nthIndex(calls: readonly string[], call: string, nth: number): number {
  let seen = 0;
  return calls.findIndex((c) => c === call && ++seen === nth);
}

/**
 * An in-process faulted run as it ended, once a rebooted droplet is up again (an operator waits for it before
 * acting): whether the fault's step was reached, and the runner's calls up to it.
 */
export async function faultedOf(
  ran: Ran,
  calls: readonly string[],
  at: StepAddress,
  seen: Injection,
): Promise<Faulted> {
  await seen.rebooted;
  const hitIndex = nthIndex(calls, `${at.side}:${at.step}`, at.nth);
  return {
    ran,
    hit: hitIndex >= 0,
    calls: hitIndex >= 0 ? calls.slice(0, hitIndex + 1) : [...calls],
    ...(seen.landed ? { landed: seen.landed } : {}),
    ...(seen.injected ? { injected: seen.injected } : {}),
  };
}

export type Verdict = Pick<
  FaultRun,
  "known" | "lost" | "duplicated" | "failed" | "unknown" | "acknowledged" | "primary" | "serving" | "frontDoor"
>;

const UNREAD = { lost: -1, duplicated: 0, failed: 0, unknown: 0, acknowledged: 0 };

/**
 * Which server serves: a probe write through the front door must be acknowledged and land on one of `writable` (a
 * server that takes writes but does not serve, such as an empty rolled-back target, is not the one); the set checker
 * reads every write back from that one. `expected`: the server the run's outcome says must serve (undefined: an
 * operator's case, which may end on either side).
 */
export async function judgeServing(
  h: Harness,
  writable: readonly HarnessDroplet[],
  expected: HarnessDroplet | undefined,
  records: WriteRecord[],
): Promise<Verdict> {
  const primary = writable.length ? writable.map((d) => d.name).join("+") : "none";
  const frontDoor = h.serving().name;
  const probe = `probe-${Date.now().toString(36)}`;
  const answer = await h.request("POST", `/write/${probe}`, 30_000);
  const holds = async (d: HarnessDroplet) =>
    (await d.pg.psql(`SELECT count(*) FROM writes WHERE id = '${probe}'`, "chatbot").catch(() => "0")) === "1";
  // The first that holds it: a write the scale-out's source took reaches the cluster by replication, never the
  // other way (`writable` lists the source first).
  let serving: HarnessDroplet | undefined;
  for (const d of writable) if (!serving && (await holds(d))) serving = d;
  // No server to read back from (its PostgreSQL down): not a known state, and what was lost cannot be counted (-1).
  const check = await h.check(records, serving ?? h.serving()).catch(() => undefined);
  if (!check) return { known: false, primary, serving: "none (unreadable)", frontDoor, ...UNREAD };
  const duplicated = serving
    ? Number(
        await serving.pg.psql(
          "SELECT count(*) FROM (SELECT id FROM writes GROUP BY id HAVING count(*) > 1) d",
          "chatbot",
        ),
      )
    : 0;
  const known =
    answer.status === 200 &&
    serving !== undefined &&
    check.lost.length === 0 &&
    check.failedButPresent.length === 0 &&
    duplicated === 0 &&
    (expected === undefined || serving === expected);
  return {
    known,
    primary,
    serving: serving?.name ?? `none (probe answered ${answer.status})`,
    frontDoor,
    lost: check.lost.length,
    duplicated,
    failed: check.failed,
    unknown: check.unknown,
    acknowledged: check.acknowledged,
  };
}
