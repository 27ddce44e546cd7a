/**
 * One run of the fault sweep on a fresh loopback harness: seed a small database, start the load, run the migration
 * with one fault at one step, then recover as an operator (or the next `pulumi up`) would: `migrate --status` (the
 * real CLI) must name the phase, then the run it advises (--resume or --rollback, through the same runner, which
 * moves the front address as `pulumi up` would), after waiting out a lock a dead connection left. Then the verdict
 * (`judge`): which server serves, and the set checker's result against it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { MigrationReport } from "../../infra/migration/runner";
import { cliArgs, runCli } from "../migration/cli-process";
import {
  type Harness,
  type HarnessDroplet,
  migrationFiles,
  seedDatabase,
  startHarness,
  waitFor,
} from "../migration/harness";
import { recorder } from "../migration/seams";
import { type CutLanding, sshCut, stepFails } from "./inject";
import { addressOf, type Cell } from "./matrix";

/** The recovery's lock window: short, so a lock a cut connection left goes stale in seconds. */
const STALE_SECONDS = 5;
const SEED_BYTES = 15 * 1024 * 1024;

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
  lost: number;
  /** Writes present more than once on the primary (its primary key makes this 0 unless the schema changes). */
  duplicated: number;
  /** Requests certainly refused, and those whose fate the client could not know. */
  failed: number;
  unknown: number;
  acknowledged: number;
  recoverySeconds: number;
  lockReleased: boolean;
  /** The faulted step was reached (a fault at a step the run never got to did nothing). */
  faultHit: boolean;
  cut?: CutLanding;
  faultedOutcome: string;
  /** What `migrate --status` said after the faulted run: phase and advice (absent: no journal). */
  statusPhase?: string;
  statusNext?: string;
  recovery: "none" | "resume" | "rollback";
  recoveryOutcome?: string;
  /** The droplets whose PostgreSQL is a primary at the end ("none", or both names joined by "+"). */
  primary: string;
  /** The primary a probe write through the front door landed on. */
  serving: string;
  frontDoor: string;
  /** The runner's calls up to and including the faulted one ("side:step"): the matrix's order is checked on them. */
  calls: string[];
}

/** The harness could not be set up (not a finding about the migration): the benchmark exits 3. */
export class HarnessFailure extends Error {}

interface Roles {
  from: HarnessDroplet;
  to: HarnessDroplet;
  switchBack: boolean;
}

async function isPrimary(d: HarnessDroplet): Promise<boolean> {
  if (!fs.existsSync(path.join(d.pg.dataDir, "postmaster.pid"))) return false;
  return d.pg.psql("SELECT pg_is_in_recovery()").then(
    (r) => r === "f",
    () => false,
  );
}

/** Seconds since the lock's last heartbeat on a droplet (the droplet's clock is this machine's), or undefined. */
function heartbeatAge(d: HarnessDroplet): number | undefined {
  const file = path.join(d.migrationDir, "lock", "heartbeat");
  return fs.existsSync(file) ? (Date.now() - fs.statSync(file).mtimeMs) / 1000 : undefined;
}

interface Recovery {
  statusPhase?: string;
  statusNext?: string;
  mode?: "resume" | "rollback";
  report?: MigrationReport;
  problem?: string;
}

/** `migrate --status`, then what it advises. */
async function recover(h: Harness, r: Roles): Promise<Recovery> {
  const status = await runCli([...cliArgs(r.from, r.to), "--status"]);
  if (status.code !== 0) return { problem: `migrate --status exited ${status.code}: ${status.stderr.trim()}` };
  const statusPhase = /^ {2}phase +(.+)$/m.exec(status.stdout)?.[1];
  const statusNext = /^ {2}next +(.+)$/m.exec(status.stdout)?.[1];
  const mode = statusNext?.includes("--resume")
    ? "resume"
    : statusNext?.includes("--rollback")
      ? "rollback"
      : undefined;
  if (!mode) return { statusPhase, statusNext };
  if (!statusPhase) return { statusNext, problem: "migrate --status advises a run but names no phase" };
  await waitFor(
    "the locks of the faulted run to go stale",
    async () => [r.from, r.to].every((d) => (heartbeatAge(d) ?? STALE_SECONDS + 2) > STALE_SECONDS + 1),
    120_000,
  );
  const report = await h.migrate({
    from: r.from,
    to: r.to,
    switchBack: r.switchBack,
    skipBackup: true,
    mode,
    lockStaleSeconds: STALE_SECONDS,
  });
  return { statusPhase, statusNext, mode, report };
}

function outcomeOf(report: MigrationReport): { outcome: FaultOutcome; why?: string } {
  switch (report.outcome) {
    case "done":
    case "already-done":
      return { outcome: "completed" };
    case "rolled-back":
    case "refused":
    case "aborted":
      return { outcome: "rolled-back" };
    default:
      return { outcome: "needs-operator", why: report.error ?? report.aborted ?? report.refused };
  }
}

const reportText = (r: MigrationReport) =>
  `${r.outcome}${r.aborted ? ` (${r.aborted})` : ""}${r.error ? ` (${r.error})` : ""}${r.refused ? ` (${r.refused})` : ""}`;

/** Everything a run does after the harness is up; a thrown error here is a harness failure. */
async function prepare(h: Harness, cell: Cell): Promise<Roles> {
  await seedDatabase(h.old.pg, SEED_BYTES);
  if (cell.migration === "tier") return { from: h.old, to: h.next, switchBack: false };
  const first = await h.migrate({ skipBackup: true });
  if (first.outcome !== "done") throw new HarnessFailure(`the first migration did not finish: ${reportText(first)}`);
  return { from: h.next, to: h.old, switchBack: true };
}

export async function runFault(cell: Cell): Promise<FaultRun> {
  const h = await startHarness().catch((e: Error) => {
    throw new HarnessFailure(`the harness did not start: ${e.message}`);
  });
  try {
    const roles = await prepare(h, cell).catch((e: Error) => {
      throw e instanceof HarnessFailure ? e : new HarnessFailure(`preparing the run: ${e.message}`);
    });
    return await faultAndRecover(h, cell, roles);
  } finally {
    await h.stop();
  }
}

async function faultAndRecover(h: Harness, cell: Cell, roles: Roles): Promise<FaultRun> {
  const at = addressOf(cell.step);
  const rec = recorder();
  let cut: CutLanding | undefined;
  const inject =
    cell.fault === "step-fails"
      ? (exec: Parameters<typeof stepFails>[0]) => stepFails(exec, at)
      : (exec: Parameters<typeof stepFails>[0]) =>
          sshCut(exec, at, at.side === "old" ? roles.from : roles.to, (w) => {
            cut = w;
          });
  const { result, records } = await h.withLoad(async () => {
    const faulted = await h.migrate({
      from: roles.from,
      to: roles.to,
      switchBack: roles.switchBack,
      skipBackup: true,
      wrap: (exec) => rec.wrap(inject(exec)),
    });
    const t0 = Date.now();
    const recovery = await recover(h, roles).catch(
      (e: Error) => ({ problem: `recovery failed: ${e.message}` }) as Recovery,
    );
    return { faulted, recovery, recoveryMs: Date.now() - t0 };
  });
  const { faulted, recovery } = result;
  const last = recovery.report ?? faulted;
  const judged = outcomeOf(last);
  const outcome: FaultOutcome = recovery.problem ? "needs-operator" : judged.outcome;
  const why = [
    `faulted run: ${reportText(faulted)}`,
    ...(recovery.report ? [`recovery (--${recovery.mode}): ${reportText(recovery.report)}`] : []),
    ...(recovery.problem ? [recovery.problem] : []),
  ].join("; ");

  const verdict = await judge(h, roles, outcome, records);
  const callsSoFar = rec.calls.filter((c) => c === `${at.side}:${at.step}`).length;
  const hitIndex = nthIndex(rec.calls, `${at.side}:${at.step}`, at.nth);
  return {
    migration: cell.migration,
    step: cell.step,
    fault: cell.fault,
    outcome,
    why,
    ...verdict,
    recoverySeconds: Math.round(result.recoveryMs / 100) / 10,
    lockReleased: [roles.from, roles.to].every((d) => !migrationFiles(d).includes("lock")),
    faultHit: callsSoFar >= at.nth,
    ...(cut ? { cut } : {}),
    faultedOutcome: faulted.outcome,
    ...(recovery.statusPhase ? { statusPhase: recovery.statusPhase } : {}),
    ...(recovery.statusNext ? { statusNext: recovery.statusNext } : {}),
    recovery: recovery.mode ?? "none",
    ...(recovery.report ? { recoveryOutcome: recovery.report.outcome } : {}),
    calls: hitIndex >= 0 ? rec.calls.slice(0, hitIndex + 1) : rec.calls,
  };
}

function nthIndex(calls: readonly string[], call: string, nth: number): number {
  let seen = 0;
  return calls.findIndex((c) => c === call && ++seen === nth);
}

type Verdict = Pick<
  FaultRun,
  "known" | "lost" | "duplicated" | "failed" | "unknown" | "acknowledged" | "primary" | "serving" | "frontDoor"
>;

/**
 * Which server serves: a probe write through the front door must be acknowledged and land on a primary (the target
 * of a tier migration that was rolled back is a running primary too, but empty and not serving); the set checker
 * reads every write back from that one.
 */
async function judge(
  h: Harness,
  roles: Roles,
  outcome: FaultOutcome,
  records: Parameters<Harness["check"]>[0],
): Promise<Verdict> {
  const primaries: HarnessDroplet[] = [];
  for (const d of [roles.from, roles.to]) if (await isPrimary(d)) primaries.push(d);
  const primary = primaries.length ? primaries.map((d) => d.name).join("+") : "none";
  const frontDoor = h.serving().name;
  const probe = `probe-${Date.now().toString(36)}`;
  const answer = await h.request("POST", `/write/${probe}`, 30_000);
  const holds = async (d: HarnessDroplet) =>
    (await d.pg.psql(`SELECT count(*) FROM writes WHERE id = '${probe}'`, "chatbot").catch(() => "0")) === "1";
  let serving: HarnessDroplet | undefined;
  for (const d of primaries) if (await holds(d)) serving = d;
  const check = await h.check(records, serving ?? h.serving());
  const duplicated = serving
    ? Number(
        await serving.pg.psql(
          "SELECT count(*) FROM (SELECT id FROM writes GROUP BY id HAVING count(*) > 1) d",
          "chatbot",
        ),
      )
    : 0;
  // An operator's case may end on either side; a finished run must end on its own.
  const expected = outcome === "completed" ? roles.to : outcome === "rolled-back" ? roles.from : undefined;
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
