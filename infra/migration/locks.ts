/**
 * The migration lock on both droplets (the scale-out move: its source), as the runner holds it: taken on the old
 * droplet then the new one (migrate.sh lock_acquire: mkdir under flock; a stale lock, no heartbeat for
 * `staleSeconds` by the droplet's clock, is taken over and said so), a heartbeat every `heartbeatMs` while held, released in reverse order. A heartbeat
 * that finds the lock taken over reports it lost (`onLost`): the run must stop without touching anything more.
 */
import { type MigrationCommands, readStep, type Side, type StepCommand } from "./commands";
import type { Executor, StepResult } from "./run-api";
import { STEP_EXIT } from "./steps";
import { StepFailed } from "./stops";

/** Another run holds a fresh lock: the migration is refused, nothing touched. */
export class LockHeld extends Error {}

export interface LockOptions {
  cmds: MigrationCommands;
  /** The executor for heartbeats (not timed, not announced). */
  exec: Executor;
  /** How the runner runs a quiet step (timed in its timeline); `always` runs even after the abort signal. */
  run: (cmd: StepCommand, o: { quiet: true; always?: boolean; rerunnable?: boolean }) => Promise<StepResult>;
  runId: string;
  holder: string;
  startedAt: string;
  staleSeconds: number;
  heartbeatMs: number;
  /** ssh targets, for messages. */
  targets: Record<Side, string>;
  /** The droplets locked, in order. @default both: old, then new (the scale-out move locks its source only) */
  sides?: readonly Side[];
  note: (message: string) => void;
  onLost: (message: string) => void;
}

export class MigrationLocks {
  private readonly held: Side[] = [];
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private beating = false;
  private lost = false;

  constructor(private readonly o: LockOptions) {}

  async acquire(): Promise<void> {
    const { cmds, runId, holder, startedAt, staleSeconds } = this.o;
    for (const side of this.o.sides ?? (["old", "new"] as const)) {
      const cmd = cmds.lockAcquire(side, { runId, holder, startedAt, staleSeconds });
      const r = await this.o.run(cmd, { quiet: true });
      const v = readStep(cmd, r.stdout);
      if (r.code === STEP_EXIT.lockLost) {
        throw new LockHeld(
          `another migration holds the lock on the ${side} droplet (${this.o.targets[side]}): ${v.lock_holder ?? "?"}, run ${v.lock_run ?? "?"}, started ${v.lock_started ?? "?"}, last heartbeat ${v.lock_age_s ?? "?"} s ago`,
        );
      }
      // A failure (a dropped connection, say) may come after the lock was taken: it counts as held, and the release,
      // which removes only this run's own lock, clears it.
      this.held.push(side);
      if (r.code !== STEP_EXIT.ok) throw new StepFailed(`${cmd.step} on ${cmd.side}`, r);
      if (v.lock === "taken-over") {
        this.o.note(
          `took over a stale lock on the ${side} droplet: ${v.previous_holder ?? "?"}, run ${v.previous_run ?? "?"}, started ${v.previous_started ?? "?"}, no heartbeat for ${v.previous_age_s ?? "?"} s`,
        );
      }
    }
    this.heartbeat = setInterval(() => this.beat(), this.o.heartbeatMs);
    this.heartbeat.unref?.();
  }

  private beat(): void {
    if (this.beating) return;
    this.beating = true;
    Promise.all(
      this.held.map(async (side) => {
        const r = await this.o.exec(this.o.cmds.lockHeartbeat(side, this.o.runId));
        if (r.code === STEP_EXIT.lockLost && !this.lost) {
          this.lost = true;
          this.o.onLost(
            `this run lost the migration lock on the ${side} droplet (another run took it over): it stopped without touching anything more`,
          );
        }
      }),
    )
      .catch(() => undefined) // a missed heartbeat is not a failure: the steps themselves will fail if the droplet is gone
      .finally(() => (this.beating = false));
  }

  async release(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    for (const side of this.held.splice(0).reverse()) {
      await this.o
        .run(this.o.cmds.lockRelease(side, this.o.runId), { quiet: true, always: true, rerunnable: true })
        .catch((e: Error) => this.o.note(`the lock on the ${side} droplet was not released: ${e.message}`));
    }
  }
}
