/**
 * One run of the fault sweep on the scale-out move (the single droplet onto managed PostgreSQL by logical
 * replication; ../scale-out/harness.ts: the old droplet is the source, the new droplet's PostgreSQL stands in for the
 * managed cluster and its Caddy's internal listener for the app droplets). A fresh harness prepared as a publisher
 * and seeded, load on, the move with one fault at one step, then the recovery an operator makes:
 * `scale-out-migrate --status` (the real CLI), then the run it advises (--rollback before the commit point, --resume
 * after it), once a dead run's lock is stale. Then the verdict: rolled back, the source serves (writable) with every
 * acknowledged write; completed, the cluster's stand-in takes the writes with every acknowledged write, and the
 * source stays read-only (it must never take a write again).
 */
import * as fs from "node:fs";
import { PROXY_STEPS } from "../../infra/migration/steps";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { logicalOutcome } from "../../infra/scale-out-migration/over-ssh";
import { type LogicalExecutor, type LogicalReport, runLogicalCutover } from "../../infra/scale-out-migration/runner";
import { LOGICAL_STEPS } from "../../infra/scale-out-migration/steps";
import type { WriteRecord } from "../migration/checker";
import type { CliExit } from "../migration/cli-process";
import { type Harness, type HarnessDroplet, migrationFiles, seedDatabase } from "../migration/harness";
import { recorder } from "../migration/seams";
import { lockStale, runScaleOutCli, SCALE_OUT_CLI, scaleOutCliArgs } from "../scale-out/cli";
import { harnessCutover, prepare } from "../scale-out/harness";
import { unfenced } from "../scale-out/seams";
import { type CliSteps, escaped, killCliAt } from "./cli-kill";
import {
  type Faulted,
  type FaultOutcome,
  type FaultRun,
  type FaultTargets,
  faultedOf,
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
} from "./fault-run";
import { addressOf, type Cell } from "./matrix";

/** How the scale-out CLI shows a step: "-> <step>" on stderr (an app droplet's gate with its ssh target after it). */
const SCALE_OUT_STEPS: CliSteps = {
  script: SCALE_OUT_CLI,
  stream: "stderr",
  line: (at) => new RegExp(`^-> ${escaped(at.step)}(?: \\S+)?$`, "gm"),
  words: (at) => ({ ...LOGICAL_STEPS, ...PROXY_STEPS })[at.step as keyof typeof LOGICAL_STEPS].words,
  // Its stderr carries the steps' own stderr too: only a phase or step line says it went on.
  progress: (output) => output.match(/^(?:->|==) /gm)?.length ?? 0,
};

export async function runScaleOutFault(cell: Cell): Promise<FaultRun> {
  return onFreshHarness(
    async (h) => {
      const targetEnv = await prepare(h);
      await seedDatabase(h.old.pg, SEED_BYTES);
      return targetEnv;
    },
    (h, targetEnv, left) => faultAndRecover(h, cell, targetEnv, left),
  );
}

/** The runner's outcomes as the sweep's: an incomplete rollback, or a failure after the commit point, is an operator's. */
function ranOf(report: LogicalReport): Ran {
  const said = logicalOutcome(report);
  const outcome: FaultOutcome =
    said === "done" ? "completed" : said === "rolled-back" ? "rolled-back" : "needs-operator";
  const why = [report.aborted, report.error].filter(Boolean).join("; ");
  return { outcome, text: `${said}${why ? ` (${why})` : ""}` };
}

/**
 * The CLI's exit as a run's end (its --help): 0, the mode done (a rollback rolled back, a run or a resume finished);
 * 1 from a plain run, rolled back; 1 from a recovery (refused: --status advised the wrong one) or anything else, an
 * operator's case.
 */
function cliRan(mode: RecoveryMode, exit: CliExit): Ran {
  const outcome: FaultOutcome =
    exit.code === 0
      ? mode === "rollback"
        ? "rolled-back"
        : "completed"
      : exit.code === 1 && mode === "run"
        ? "rolled-back"
        : "needs-operator";
  const said = (exit.stderr.trim() || exit.lastLine).split("\n").slice(-2).join(" | ");
  return { outcome, text: `exit ${exit.code ?? exit.signal}${said ? ` (${said})` : ""}` };
}

/** The move with the fault in it: the real CLI killed, or the runner in process with the fault in its executor. */
async function faultedRun(h: Harness, cell: Cell, targetEnv: string, left: Leftovers): Promise<Faulted> {
  const at = addressOf(cell.step);
  const on: FaultTargets = { step: at.side === "app" ? h.next : h.old, source: h.old, target: h.next };
  if (cell.fault === "cli-sigkill") {
    const killed = await killCliAt(scaleOutCliArgs(h, targetEnv), at, on.step, SCALE_OUT_STEPS);
    const ran = killed.landed
      ? { outcome: "needs-operator" as const, text: "killed (SIGKILL)" }
      : cliRan("run", killed.exit);
    return { ran, hit: killed.landed !== undefined, ...(killed.landed ? { landed: killed.landed } : {}) };
  }
  const rec = recorder();
  const seen: Injection = {};
  const ssh = sshExecutor();
  const { switchedAt: _, ...cutover } = harnessCutover(h, targetEnv);
  const report = await runLogicalCutover({
    ...cutover,
    exec: rec.wrap(
      cell.fault === "unfenced"
        ? unfenced(ssh, cutover.source)
        : injectFault<Parameters<LogicalExecutor>[0]>(ssh, cell.fault, at, on, left, seen),
    ),
  }).finally(() => ssh.close());
  return faultedOf(ranOf(report), rec.calls, at, seen);
}

/**
 * `--status`, then what it advises (--rollback or --resume; it must name the phase then); with no advice but the
 * lock a dead run left, a plain run (it takes the lock over). A phase in the middle of the move without advice is a
 * problem: the operator is left without a next step. A dead run's lock is waited out first.
 */
async function recover(h: Harness, targetEnv: string): Promise<Recovery> {
  const args = scaleOutCliArgs(h, targetEnv);
  const status = await runScaleOutCli([...args, "--status"]);
  const tail = (status.stderr.trim() || status.stdout.trim()).split("\n").slice(-2).join(" | ");
  if (status.code !== 0) return { problem: `scale-out-migrate --status exited ${status.code}: ${tail}` };
  const { advised, ...said } = parseStatus(status.stdout);
  if (!said.statusPhase) return { ...said, problem: "scale-out-migrate --status names no phase" };
  const lockHeld = /^ {2}lock +held by/m.test(status.stdout);
  if (!advised && !["none", "done"].includes(said.statusPhase))
    return { ...said, problem: `scale-out-migrate --status says ${said.statusPhase} and advises nothing` };
  const mode: RecoveryMode | undefined = advised ?? (lockHeld ? "run" : undefined);
  if (!mode) return said;
  await lockStale(h);
  const flags = mode === "run" ? [] : [`--${mode}`];
  return { ...said, mode, ran: cliRan(mode, await runScaleOutCli([...args, ...flags])) };
}

async function faultAndRecover(h: Harness, cell: Cell, targetEnv: string, left: Leftovers): Promise<FaultRun> {
  const { result, records } = await h.withLoad(async () => {
    const faulted = await faultedRun(h, cell, targetEnv, left);
    const t0 = Date.now();
    const recovery = await recover(h, targetEnv).catch(
      (e: Error): Recovery => ({ problem: `recovery failed: ${e.message}` }),
    );
    const outcome = outcomeOf(faulted, recovery);
    // The stack's DNS move once the move is done (a run in process made it itself): clients reach the cluster's side.
    if (outcome === "completed") h.front.moveTo(h.next.host);
    return { faulted, recovery, outcome, recoveryMs: Date.now() - t0 };
  });
  const { faulted, recovery, outcome } = result;
  const why = [
    `faulted run: ${faulted.ran.text}`,
    ...(!recovery.ran && recovery.statusPhase ? [`--status: phase ${recovery.statusPhase}, advises nothing`] : []),
    ...(recovery.ran ? [`recovery (${recovery.mode}): ${recovery.ran.text}`] : []),
    ...(recovery.problem ? [recovery.problem] : []),
  ];
  const verdict = await judge(h, outcome, records);
  if (verdict.sourceWritable && outcome === "completed") why.push("the source takes writes after the commit point");
  const leftovers = await leftoversOf(h);
  return {
    migration: cell.migration,
    step: cell.step,
    fault: cell.fault,
    outcome,
    why: why.join("; "),
    ...verdict.run,
    ...(leftovers ? { leftovers } : {}),
    recoverySeconds: Math.round(result.recoveryMs / 100) / 10,
    lockReleased: !migrationFiles(h.old).includes("lock"),
    ...recordOf(faulted, recovery),
  };
}

/**
 * The end as the operator sees it: the recovery's run when --status advised one. Without one, a faulted run that
 * left an operator's case is settled by the phase --status printed (none: nothing left, the source serves; done:
 * finished); a run that had ended on its own keeps its outcome, and the verdict checks it.
 */
function outcomeOf(faulted: Faulted, recovery: Recovery): FaultOutcome {
  if (recovery.problem) return "needs-operator";
  if (recovery.ran) return recovery.ran.outcome;
  if (faulted.ran.outcome !== "needs-operator") return faulted.ran.outcome;
  return recovery.statusPhase === "done" ? "completed" : "rolled-back";
}

/** The droplet's database takes writes (not fenced: a fresh session is not read-only); false when it is down. */
const takesWrites = (d: HarnessDroplet) =>
  d.pg.psql("SHOW default_transaction_read_only", "chatbot").then(
    (v) => v === "off",
    () => false,
  );

/**
 * Which server serves, and every acknowledged write on it: rolled back, the source; completed, the cluster's stand-in
 * with the source read-only (a source that takes writes after the commit point is not a known state).
 */
async function judge(
  h: Harness,
  outcome: FaultOutcome,
  records: WriteRecord[],
): Promise<{ run: Awaited<ReturnType<typeof judgeServing>>; sourceWritable: boolean }> {
  const writable: HarnessDroplet[] = [];
  for (const d of [h.old, h.next]) if (await takesWrites(d)) writable.push(d);
  const expected = outcome === "completed" ? h.next : outcome === "rolled-back" ? h.old : undefined;
  const run = await judgeServing(h, writable, expected, records);
  const sourceWritable = writable.includes(h.old);
  return { run: { ...run, known: run.known && !(outcome === "completed" && sourceWritable) }, sourceWritable };
}

/** What the end state keeps of the move: a subscription, a slot, a publication, a closed gate (none once over). */
async function leftoversOf(h: Harness): Promise<string | undefined> {
  const count = (d: HarnessDroplet, table: string) =>
    d.pg.psql(`SELECT count(*) FROM ${table}`, "chatbot").catch(() => "unreadable");
  const found = [
    ["subscription on the cluster", await count(h.next, "pg_subscription")],
    ["replication slot on the source", await count(h.old, "pg_replication_slots")],
    ["publication on the source", await count(h.old, "pg_publication")],
    [
      "closed gate on the app droplet",
      fs.readFileSync(h.next.caddy.caddyfile, "utf8").includes("#gate-closed#") ? "1" : "0",
    ],
  ].filter(([, n]) => n !== "0");
  return found.length ? found.map(([what, n]) => `${what}: ${n}`).join(", ") : undefined;
}
