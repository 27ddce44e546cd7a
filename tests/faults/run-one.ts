/**
 * One run of the fault sweep on a fresh loopback harness: seed a small database, start the load, run the migration
 * with one fault at one step, then recover as an operator (or the next `pulumi up`) would: `migrate --status` (the
 * real CLI) must name the phase, then the run it advises (--resume or --rollback, through the same runner, which
 * moves the front address as `pulumi up` would), after waiting out a lock a dead connection left. Then the verdict
 * (`judge`): which server serves, and the set checker's result against it.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Executor, MigrationReport } from "../../infra/migration/runner";
import { type CliExit, cliArgs, runCli } from "../migration/cli-process";
import { type Harness, type HarnessDroplet, migrationFiles, seedDatabase, waitFor } from "../migration/harness";
import { recorder, unfenced } from "../migration/seams";
import { killCliAt } from "./cli-kill";
import {
  type Faulted,
  type FaultOutcome,
  type FaultRun,
  faultedOf,
  HarnessFailure,
  type Injection,
  injectFault,
  judgeServing,
  type Leftovers,
  onFreshHarness,
  recordOf,
  parseStatus,
  type Ran,
  type Recovery,
  type RecoveryMode,
  SEED_BYTES,
  type Verdict,
} from "./fault-run";
import { addressOf, type Cell } from "./matrix";
import { nftUsable } from "./net-cut";
import { runScaleOutFault } from "./scale-out-run";

export { type FaultOutcome, type FaultRun, HarnessFailure } from "./fault-run";

/** The recovery's lock window: short, so a lock a cut connection left goes stale in seconds. */
const STALE_SECONDS = 5;

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

/** How a migration is run: in this process (the runner, with the executor seam) or as the real CLI. */
interface Driver {
  /** A run in `mode` (plain, --resume, --rollback) after a fault, with a short lock window. */
  recover(mode: RecoveryMode): Promise<Ran>;
}

/**
 * `migrate --status`, then what it advises: --resume or --rollback (it must name the phase then); with no advice but
 * a lock left held, a plain re-run (it takes over a stale lock). Locks a dead run left are waited out first.
 */
async function recover(r: Roles, driver: Driver): Promise<Recovery> {
  const status = await runCli([...cliArgs(r.from, r.to), "--status"]);
  if (status.code !== 0) return { problem: `migrate --status exited ${status.code}: ${status.stderr.trim()}` };
  const { advised, ...printed } = parseStatus(status.stdout);
  const lockHeld = /^ {2}lock \((old|new)\) +held by/m.test(status.stdout);
  const mode: RecoveryMode | undefined = advised ?? (lockHeld ? "run" : undefined);
  const journalOutcome = /^ {2}outcome +(\S+)$/m.exec(status.stdout)?.[1];
  const said = { ...(journalOutcome ? { journalOutcome } : {}), ...printed };
  if (!mode) return said;
  if (advised && !printed.statusPhase) return { ...said, problem: "migrate --status advises a run but names no phase" };
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
  if (cell.migration === "scale-out") return runScaleOutFault(cell);
  return onFreshHarness(
    (h) => prepare(h, cell),
    (h, roles, left) => faultAndRecover(h, cell, roles, left),
  );
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
  const seen: Injection = {};
  const targets = { step: droplet, source: r.from, target: r.to };
  const report = await h.migrate({
    from: r.from,
    to: r.to,
    switchBack: r.switchBack,
    skipBackup: true,
    wrap: (exec: Executor) =>
      rec.wrap(cell.fault === "unfenced" ? unfenced(exec) : injectFault(exec, cell.fault, at, targets, left, seen)),
  });
  return faultedOf(ranOf(report), rec.calls, at, seen);
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
    ...recordOf(faulted, recovery),
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

/**
 * Which server serves: one of the primaries (the target of a tier migration that was rolled back is a running
 * primary too, but empty and not serving); an operator's case may end on either side, a finished run on its own.
 */
async function judge(
  h: Harness,
  roles: Roles,
  outcome: FaultOutcome,
  records: Parameters<Harness["check"]>[0],
): Promise<Verdict> {
  const primaries: HarnessDroplet[] = [];
  for (const d of [roles.from, roles.to]) if (await isPrimary(d)) primaries.push(d);
  const expected = outcome === "completed" ? roles.to : outcome === "rolled-back" ? roles.from : undefined;
  return judgeServing(h, primaries, expected, records);
}
