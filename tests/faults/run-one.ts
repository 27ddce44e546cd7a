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
import type { Executor } from "../../infra/migration/runner";
import { type CliExit, cliArgs, runCli } from "../migration/cli-process";
import {
  type Harness,
  type HarnessDroplet,
  migrationFiles,
  seedDatabase,
  startHarness,
  waitFor,
} from "../migration/harness";
import { recorder, unfenced } from "../migration/seams";
import { type CutLanding, pgKillTarget, sshCut, stepFails } from "./inject";
import { killCliAt } from "./cli-kill";
import { addressOf, type Cell } from "./matrix";
import { type NetCut, netCut, nftUsable } from "./net-cut";
import { Relaunched, rebootOld } from "./reboot";

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
  /** Acknowledged writes missing from the serving server (-1: no server could be read back). */
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
  /** Where the fault landed: in the middle of the step, or just after it ended (a fast step). */
  landed?: CutLanding;
  /** What the fault did beyond that (pg-kill-target: killed or not, restarted; reboot-old: what came back; net-cut). */
  injected?: string;
  faultedOutcome: string;
  /** What `migrate --status` said after the faulted run: phase and advice (absent: no journal). */
  statusPhase?: string;
  statusNext?: string;
  recovery: "none" | RecoveryMode;
  recoveryOutcome?: string;
  /**
   * After a completed run, the server left behind: "streaming" (it follows the new primary), "stopped: <why>" (the
   * journal says it does not, and why), or "silent: <what was seen>" (neither: a finding).
   */
  follower?: string;
  /** The droplets whose PostgreSQL is a primary at the end ("none", or both names joined by "+"). */
  primary: string;
  /** The primary a probe write through the front door landed on. */
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

/** What one run of the migration (the faulted one, or the recovery) ended as. */
interface Ran {
  outcome: FaultOutcome;
  /** The runner's outcome and its reason, or the CLI's exit. */
  text: string;
}

/** How a migration is run: in this process (the runner, with the executor seam) or as the real CLI. */
interface Driver {
  /** A run in `mode` (plain, --resume, --rollback) after a fault, with a short lock window. */
  recover(mode: RecoveryMode): Promise<Ran>;
}

type RecoveryMode = "run" | "resume" | "rollback";

interface Recovery {
  /** The journal's outcome as --status printed it (done, rolled-back, running, ...). */
  journalOutcome?: string;
  statusPhase?: string;
  statusNext?: string;
  mode?: RecoveryMode;
  ran?: Ran;
  problem?: string;
}

/**
 * `migrate --status`, then what it advises: --resume or --rollback (it must name the phase then); with no advice but
 * a lock left held, a plain re-run (it takes over a stale lock). Locks a dead run left are waited out first.
 */
async function recover(r: Roles, driver: Driver): Promise<Recovery> {
  const status = await runCli([...cliArgs(r.from, r.to), "--status"]);
  if (status.code !== 0) return { problem: `migrate --status exited ${status.code}: ${status.stderr.trim()}` };
  const statusPhase = /^ {2}phase +(.+)$/m.exec(status.stdout)?.[1];
  const statusNext = /^ {2}next +(.+)$/m.exec(status.stdout)?.[1];
  const lockHeld = /^ {2}lock \((old|new)\) +held by/m.test(status.stdout);
  const advised = statusNext?.includes("--resume")
    ? "resume"
    : statusNext?.includes("--rollback")
      ? "rollback"
      : undefined;
  const mode: RecoveryMode | undefined = advised ?? (lockHeld ? "run" : undefined);
  const journalOutcome = /^ {2}outcome +(\S+)$/m.exec(status.stdout)?.[1];
  const said = {
    ...(journalOutcome ? { journalOutcome } : {}),
    ...(statusPhase ? { statusPhase } : {}),
    ...(statusNext ? { statusNext } : {}),
  };
  if (!mode) return said;
  if (advised && !statusPhase) return { ...said, problem: "migrate --status advises a run but names no phase" };
  await waitFor(
    "the locks of the faulted run to go stale",
    async () => [r.from, r.to].every((d) => (heartbeatAge(d) ?? STALE_SECONDS + 2) > STALE_SECONDS + 1),
    120_000,
  );
  return { ...said, mode, ran: await driver.recover(mode) };
}

function outcomeOf(report: MigrationReport): FaultOutcome {
  switch (report.outcome) {
    case "done":
    case "already-done":
      return "completed";
    case "rolled-back":
    case "refused":
    case "aborted":
      return "rolled-back";
    default:
      return "needs-operator";
  }
}

const reportText = (r: MigrationReport) =>
  `${r.outcome}${r.aborted ? ` (${r.aborted})` : ""}${r.error ? ` (${r.error})` : ""}${r.refused ? ` (${r.refused})` : ""}`;

const ranOf = (r: MigrationReport): Ran => ({ outcome: outcomeOf(r), text: reportText(r) });

/**
 * The CLI's exit as a run's end (its --help): 0 with the result line, done; 0 without it (--rollback) or 1 (rolled
 * back, refused), the old serves; anything else, an operator's case.
 */
function cliRan(exit: CliExit): Ran {
  const outcome: FaultOutcome =
    exit.code === 0 && exit.result ? "completed" : exit.code <= 1 ? "rolled-back" : "needs-operator";
  const said = (exit.stderr.trim() || exit.lastLine).split("\n").slice(-2).join(" | ");
  return { outcome, text: `exit ${exit.code ?? exit.signal}${said ? ` (${said})` : ""}` };
}

/** Everything a run does after the harness is up; a thrown error here is a harness failure. */
async function prepare(h: Harness, cell: Cell): Promise<Roles> {
  await seedDatabase(h.old.pg, SEED_BYTES);
  if (cell.migration === "tier") return { from: h.old, to: h.next, switchBack: false };
  const first = await h.migrate({ skipBackup: true });
  if (first.outcome !== "done") throw new HarnessFailure(`the first migration did not finish: ${reportText(first)}`);
  return { from: h.next, to: h.old, switchBack: true };
}

export async function runFault(cell: Cell): Promise<FaultRun> {
  if (cell.fault === "net-cut" && !nftUsable())
    throw new HarnessFailure("net-cut needs nftables, as root (scripts/install-test-deps.sh)");
  const left: Leftovers = { relaunched: new Relaunched(), cuts: [] };
  const h = await startHarness().catch((e: Error) => {
    throw new HarnessFailure(`the harness did not start: ${e.message}`);
  });
  try {
    const roles = await prepare(h, cell).catch((e: Error) => {
      throw e instanceof HarnessFailure ? e : new HarnessFailure(`preparing the run: ${e.message}`);
    });
    return await faultAndRecover(h, cell, roles, left);
  } finally {
    for (const cut of left.cuts) cut.lift();
    await left.relaunched.stop();
    await h.stop();
  }
}

/** The in-process runner (the executor seam carries the fault); `pulumi up`'s traffic move is the harness's. */
function inProcess(h: Harness, r: Roles): Driver {
  return {
    recover: async (mode) =>
      ranOf(
        await h.migrate({
          from: r.from,
          to: r.to,
          switchBack: r.switchBack,
          skipBackup: true,
          mode,
          lockStaleSeconds: STALE_SECONDS,
        }),
      ),
  };
}

/**
 * The real CLI; after it finished a migration, `pulumi up` moves the reserved IP (the front address). A switch back
 * is recovered as one (--switch-back): a plain re-run without it is a tier migration onto a target that holds data.
 */
function asCli(h: Harness, r: Roles): Driver {
  const modeFlag = { run: [], resume: ["--resume"], rollback: ["--rollback"] } as const;
  const back = r.switchBack ? ["--switch-back"] : [];
  return {
    recover: async (mode) => {
      const ran = cliRan(
        await runCli([
          ...cliArgs(r.from, r.to),
          ...back,
          ...modeFlag[mode],
          "--lock-stale-seconds",
          String(STALE_SECONDS),
        ]),
      );
      if (ran.outcome === "completed") await h.front.moveTo(r.to.host);
      return ran;
    },
  };
}

interface Faulted {
  ran: Ran;
  hit: boolean;
  landed?: CutLanding;
  injected?: string;
  /** The runner's calls up to and including the faulted one (in-process runs only). */
  calls?: string[];
}

/** The migration with the fault in it. */
/** What a fault leaves that the harness does not own: processes a reboot started, a network cut not yet lifted. */
interface Leftovers {
  relaunched: Relaunched;
  cuts: NetCut[];
}

async function faultedRun(h: Harness, cell: Cell, r: Roles, left: Leftovers): Promise<Faulted> {
  const at = addressOf(cell.step);
  const droplet = at.side === "old" ? r.from : r.to;
  if (cell.fault === "cli-sigkill") {
    const args = [...cliArgs(r.from, r.to), ...(r.switchBack ? ["--switch-back"] : [])];
    const killed = await killCliAt([...args, "--lock-stale-seconds", String(STALE_SECONDS)], at, droplet);
    const ran = killed.landed ? { outcome: "needs-operator" as const, text: "killed (SIGKILL)" } : cliRan(killed.exit);
    return { ran, hit: killed.landed !== undefined, ...(killed.landed ? { landed: killed.landed } : {}) };
  }
  const rec = recorder();
  let landed: CutLanding | undefined;
  let injected: string | undefined;
  let rebooted: Promise<void> | undefined;
  const inject = (exec: Executor) => {
    switch (cell.fault) {
      case "step-fails":
        return stepFails(exec, at);
      case "ssh-cut":
        return sshCut(exec, at, droplet, (w) => {
          landed = w;
        });
      case "unfenced":
        return unfenced(exec);
      case "net-cut":
        return netCut(
          exec,
          at,
          droplet,
          [r.from, r.to],
          (cut) => left.cuts.push(cut),
          (what) => {
            landed = what.landed;
            injected = what.cut;
          },
        );
      case "reboot-old":
        return rebootOld(exec, at, droplet, r.from, left.relaunched, (what) => {
          landed = what.landed;
          rebooted = what.rebooted.then((text) => {
            injected = text;
          });
        });
      case "pg-kill-target":
        return pgKillTarget(exec, at, droplet, r.to, (what) => {
          landed = what.landed;
          injected = what.restarted;
        });
      default:
        throw new Error(`${cell.fault} does not go through the executor`);
    }
  };
  const report = await h.migrate({
    from: r.from,
    to: r.to,
    switchBack: r.switchBack,
    skipBackup: true,
    wrap: (exec) => rec.wrap(inject(exec)),
  });
  // An operator waits for a rebooted droplet to be up before acting.
  await rebooted;
  const hitIndex = nthIndex(rec.calls, `${at.side}:${at.step}`, at.nth);
  return {
    ran: ranOf(report),
    hit: hitIndex >= 0,
    ...(landed ? { landed } : {}),
    ...(injected ? { injected } : {}),
    calls: hitIndex >= 0 ? rec.calls.slice(0, hitIndex + 1) : rec.calls,
  };
}

async function faultAndRecover(h: Harness, cell: Cell, roles: Roles, left: Leftovers): Promise<FaultRun> {
  const driver = cell.fault === "cli-sigkill" ? asCli(h, roles) : inProcess(h, roles);
  const { result, records } = await h.withLoad(async () => {
    const faulted = await faultedRun(h, cell, roles, left);
    const t0 = Date.now();
    const recovery = await recover(roles, driver).catch(
      (e: Error): Recovery => ({ problem: `recovery failed: ${e.message}` }),
    );
    return { faulted, recovery, recoveryMs: Date.now() - t0 };
  });
  const { faulted, recovery } = result;
  // A run that reported an operator's case while its journal says it finished: the status is what an operator acts on.
  const settled =
    !recovery.ran && faulted.ran.outcome === "needs-operator"
      ? ({ done: "completed", "rolled-back": "rolled-back" } as const)[recovery.journalOutcome ?? ""]
      : undefined;
  const outcome: FaultOutcome = recovery.problem
    ? "needs-operator"
    : (settled ?? (recovery.ran ?? faulted.ran).outcome);
  const why = [
    `faulted run: ${faulted.ran.text}`,
    ...(settled ? [`the journal says ${recovery.journalOutcome}: --status advises nothing`] : []),
    ...(recovery.ran ? [`recovery (${recovery.mode}): ${recovery.ran.text}`] : []),
    ...(recovery.problem ? [recovery.problem] : []),
  ].join("; ");
  const verdict = await judge(h, roles, outcome, records);
  const follower = outcome === "completed" ? await followerOf(roles) : undefined;
  return {
    migration: cell.migration,
    step: cell.step,
    fault: cell.fault,
    outcome,
    why,
    ...verdict,
    ...(follower ? { follower } : {}),
    recoverySeconds: Math.round(result.recoveryMs / 100) / 10,
    lockReleased: [roles.from, roles.to].every((d) => !migrationFiles(d).includes("lock")),
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

/**
 * The server a completed run left behind follows the new primary, or its journal (on that droplet) says why not.
 * Streaming may start a little after the run ends: up to 15 s.
 */
async function followerOf(r: Roles): Promise<string> {
  const streaming = async () =>
    (await r.from.pg.psql("SELECT status FROM pg_stat_wal_receiver").catch(() => "")) === "streaming";
  for (let i = 0; i < 30; i++) {
    if (await streaming()) return "streaming";
    await new Promise((res) => setTimeout(res, 500));
  }
  const file = path.join(r.from.migrationDir, "journal.json");
  const said = fs.existsSync(file)
    ? (JSON.parse(fs.readFileSync(file, "utf8")) as { follower?: { state?: string; reason?: string } }).follower
    : undefined;
  if (said?.state === "stopped") return `stopped: ${said.reason ?? "no reason given"}`;
  const recovering = await r.from.pg.psql("SELECT pg_is_in_recovery()").catch((e: Error) => e.message.split("\n")[0]);
  return `silent: the journal says ${said?.state ?? "nothing"}, pg_is_in_recovery ${recovering}`;
}

function nthIndex(calls: readonly string[], call: string, nth: number): number {
  let seen = 0;
  return calls.findIndex((c) => c === call && ++seen === nth);
}

const UNREAD = { lost: -1, duplicated: 0, failed: 0, unknown: 0, acknowledged: 0 };

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
