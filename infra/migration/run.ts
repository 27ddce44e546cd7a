/**
 * One run of the tier migration, as state: the report it builds, the journal it keeps on the old droplet, the locks
 * it holds, the phase it is in, and how it runs a step (timed, announced, cut short by the abort signal where that
 * is safe, its output read against the step's declaration). The phases (./phases.ts, ./after-commit.ts) act on it.
 */
import { randomBytes } from "node:crypto";
import * as os from "node:os";
import { ASSUMED_RATES, type Budgets, DEFAULT_BUDGETS, type Rates } from "./budget";
import { Certificates } from "./certificates";
import { type MigrationCommands, migrationCommands, readStep, type StepCommand } from "./commands";
import { type AfterCommitStep, type Journal, type JournalEnd, journalEnd, serializeJournal } from "./journal";
import { LockHeld, MigrationLocks } from "./locks";
import {
  defaultMigrationId,
  heartbeatMsFor,
  LOCK_STALE_SECONDS,
  type MigrationReport,
  type RunnerEvent,
  type RunnerOptions,
  type StepResult,
} from "./run-api";
import { type AnySpec, STEP_EXIT, type OutputOf } from "./steps";
import { StepFailed, budgetGate } from "./stops";
import { type Phase, Timeline } from "./timeline";

/** A check said no before anything changed. */
export class Refused extends Error {}
/** A check said no to the arguments themselves (a switch back's target that does not follow the source): exit 2. */
export class WrongTarget extends Refused {}
/** The abort signal stopped the run. */
export class Interrupted extends Error {}
/** Another run took the lock over: this one stops touching anything. */
export class LockLost extends Error {}

/** Steps the abort signal may cut short: long copies and waits, all before the commit point. */
const INTERRUPTIBLE = new Set(["backup", "standby", "redis_replica", "catchup", "dump_restore"]);

export const iso = (ms: number) => new Date(ms).toISOString();
const word = (s: string) => s.replace(/[^A-Za-z0-9._:@+-]/g, "_");

export interface StepOptions {
  onStderr?: (chunk: string) => void;
  onStdout?: (chunk: string) => void;
  /** Not announced (journal, lock). */
  quiet?: boolean;
  /** Runs even after the abort signal (rollback, after the commit point). */
  always?: boolean;
  stdinTail?: Promise<string>;
  /**
   * The step may run twice (rollback steps, the journal write, the lock release: a resumed run repeats them anyway):
   * when its connection dropped (ssh's 255), it runs once more over a connection of its own, so that a dying shared
   * connection does not leave the old server fenced until an operator comes.
   */
  rerunnable?: boolean;
}

/** ssh's exit code when the connection failed or dropped. */
const SSH_DROPPED = 255;

export class MigrationRun {
  readonly now: () => number;
  readonly budgets: Budgets;
  readonly rates: Rates;
  readonly cmds: MigrationCommands;
  readonly timeline: Timeline;
  readonly report: MigrationReport;
  readonly runId: string;
  readonly holder: string;
  readonly pair: { from: JournalEnd; to: JournalEnd };
  /** Aborted by the caller's signal or a lost lock. */
  readonly stop = new AbortController();
  readonly locks: MigrationLocks;
  readonly certs: Certificates;
  /** The migration this run works on, once it has one. */
  journal: Journal | undefined;
  /**
   * This run's cutover ended its promotion step with nothing promoted (no go line sent, or refused before
   * pg_promote): its rollback need not ask the new server first before the old one writes again.
   */
  promotionRuledOut = false;
  private lockLost: string | undefined;
  private currentPhase: Phase | undefined;
  private readonly journalRuns = new WeakSet<Journal>();

  constructor(readonly opts: RunnerOptions) {
    this.now = opts.now ?? Date.now;
    this.budgets = opts.budgets ?? DEFAULT_BUDGETS;
    this.rates = opts.rates ?? ASSUMED_RATES;
    this.cmds = migrationCommands(opts.old, opts.next);
    this.timeline = new Timeline(this.now);
    this.report = {
      outcome: "aborted",
      ok: false,
      committed: false,
      resumed: false,
      notes: [],
      timeline: this.timeline.entries,
      startedAt: this.timeline.startedAt,
      totalMs: 0,
    };
    this.runId = `${defaultMigrationId(this.timeline.startedAt)}-${randomBytes(3).toString("hex")}`;
    this.holder = word(opts.holder ?? `${os.hostname()}:${process.pid}`);
    this.pair = { from: journalEnd(opts.old), to: journalEnd(opts.next) };
    this.certs = new Certificates((side) => this.step(this.cmds.preflight(side), { quiet: true }));
    const staleSeconds = opts.lockStaleSeconds ?? LOCK_STALE_SECONDS.default;
    this.locks = new MigrationLocks({
      cmds: this.cmds,
      exec: opts.exec,
      run: (cmd, o) => this.run(cmd, o),
      runId: this.runId,
      holder: this.holder,
      startedAt: iso(this.timeline.startedAt),
      staleSeconds,
      heartbeatMs: opts.heartbeatMs ?? heartbeatMsFor(staleSeconds),
      targets: { old: this.pair.from.target, new: this.pair.to.target },
      note: (m) => this.note(m),
      onLost: (m) => {
        this.lockLost ??= m;
        this.stop.abort("a lost lock");
      },
    });
  }

  get phaseNow(): Phase {
    return this.currentPhase ?? "preflight";
  }

  emit(e: RunnerEvent): void {
    this.opts.onEvent?.(e);
  }

  info(message: string): void {
    this.emit({ kind: "info", message });
  }

  /** A finding worth printing at the end, and said now. */
  note(message: string): void {
    this.report.notes.push(message);
    this.info(message);
  }

  phase(p: Phase): void {
    if (p === this.currentPhase) return;
    this.currentPhase = p;
    this.emit({ kind: "phase", phase: p });
  }

  /** Throws if the run must stop: its lock was taken over, or the abort signal came. */
  checkStop(): void {
    if (this.lockLost) throw new LockLost(this.lockLost);
    if (this.stop.signal.aborted) throw new Interrupted(`interrupted by ${String(this.stop.signal.reason)}`);
  }

  /** Runs a step, timed; returns its raw result. */
  async run(cmd: StepCommand<AnySpec>, o: StepOptions = {}): Promise<StepResult> {
    if (!o.always) this.checkStop();
    const phase = this.phaseNow;
    return this.timeline.time(phase, cmd.step, cmd.side, async () => {
      if (!o.quiet) this.emit({ kind: "step", phase, step: cmd.step, side: cmd.side });
      const interruptible = INTERRUPTIBLE.has(cmd.step) && !o.always;
      const hooks = {
        ...(o.onStderr ? { onStderr: o.onStderr } : {}),
        ...(o.onStdout ? { onStdout: o.onStdout } : {}),
        ...(interruptible ? { signal: this.stop.signal } : {}),
        ...(o.stdinTail ? { stdinTail: o.stdinTail } : {}),
      };
      let result = await this.opts.exec(cmd, hooks);
      if (result.code === SSH_DROPPED && o.rerunnable) {
        this.info(`${cmd.step} on ${cmd.side}: the connection dropped; once more over a new connection`);
        result = await this.opts.exec(cmd, { ...hooks, fresh: true });
      }
      if (interruptible && this.stop.signal.aborted) this.checkStop();
      return result;
    });
  }

  /** Runs a step that must succeed; returns its output, read against its declaration. */
  async step<S extends AnySpec>(cmd: StepCommand<S>, o: StepOptions = {}): Promise<OutputOf<S>> {
    const result = await this.run(cmd, o);
    if (result.code !== STEP_EXIT.ok) throw new StepFailed(`${cmd.step} on ${cmd.side}`, result);
    return readStep(cmd, result.stdout);
  }

  budgetGate(where: string, remainingSeconds: number, downtimeSeconds: number): void {
    budgetGate(this.timeline, this.budgets, {
      phase: this.phaseNow,
      where,
      remainingSeconds,
      downtimeSeconds,
      now: this.now(),
    });
  }

  /** Takes both locks; a fresh lock held by another run refuses this one. */
  async acquireLocks(): Promise<void> {
    await this.locks.acquire().catch((e: Error) => Promise.reject(e instanceof LockHeld ? new Refused(e.message) : e));
  }

  /** The journal as it stands, written on the old droplet (the first write of a migration may archive another). */
  async writeJournal(j: Journal, archive?: string): Promise<void> {
    if (!this.journalRuns.has(j)) {
      this.journalRuns.add(j);
      j.runs += 1;
    }
    j.holder = this.holder;
    j.updatedAt = iso(this.now());
    const cmd = this.cmds.journalWrite(this.runId, serializeJournal(j), archive);
    const r = await this.run(cmd, { quiet: true, always: true, rerunnable: true });
    if (r.code === STEP_EXIT.lockLost)
      throw new LockLost(`the journal was not written: this run no longer holds the lock on the old droplet`);
    if (r.code !== STEP_EXIT.ok) throw new StepFailed(`${cmd.step} on ${cmd.side}`, r);
    this.report.journal = j;
  }

  /** Enters a phase: the journal records the one left as done. */
  async enter(p: Phase, archive?: string): Promise<void> {
    this.phase(p);
    const j = this.mine();
    if (j.phase !== p && j.phase !== "done") {
      if (!j.phasesDone.includes(j.phase)) j.phasesDone.push(j.phase);
      j.phase = p;
    }
    await this.writeJournal(j, archive);
  }

  /** The journal of the migration this run works on (the phases run only once it has one). */
  mine(): Journal {
    if (!this.journal) throw new Error("no migration journal yet");
    return this.journal;
  }

  done(s: AfterCommitStep): boolean {
    return this.mine().stepsDone.includes(s);
  }

  mark(s: AfterCommitStep): void {
    if (!this.done(s)) this.mine().stepsDone.push(s);
  }

  /** The commit point: recorded in the journal (written by the caller) and the report. */
  commit(at: { cutoverStart: number; fenceLsn?: string }): void {
    const j = this.mine();
    j.committed = this.report.committed = true;
    j.committedAt = iso(this.now());
    j.cutoverStartedAt = iso(at.cutoverStart);
    if (at.fenceLsn !== undefined) j.fenceLsn = at.fenceLsn;
  }
}
