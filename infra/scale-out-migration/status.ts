/**
 * Where an interrupted scale-out move stands, from what it left on the droplet and the cluster (logical.sh `state`,
 * the same keys `preflight` prints first): the commit record, the fence, the publication and its slot, the
 * subscription. The move keeps no journal: these are the facts a rollback or a resume acts on, read again each time.
 *
 *   none           nothing left (never started, rolled back, or stopped before the publication)
 *   before-commit  a run stopped between its first change and the commit point: --rollback undoes it
 *   after-commit   the commit record is written, replication not yet ended: --resume finishes
 *   done           committed and finished
 */
import type { LockInfo } from "../migration/journal";
import type { OutputOf } from "../migration/steps";
import type { LOGICAL_STEPS } from "./steps";

export type ScaleOutPhase = "none" | "before-commit" | "after-commit" | "done";

export interface ScaleOutState {
  /** The commit record's id ("" when there is none), and when it was written (ISO 8601, UTC). */
  switched: string;
  switchedAt?: string;
  fenced: boolean;
  publication: boolean;
  slot: boolean;
  /** "unknown": the cluster did not answer. */
  subscription: boolean | "unknown";
}

export interface ScaleOutStatus {
  phase: ScaleOutPhase;
  /** When the commit record was written, if it was. */
  switchedAt?: string;
  /** What is left, in words ("the fence", "the publication", ...). */
  left: string[];
  /** What to run next (the flag first), when something must be done. */
  next?: string;
}

type StateValues = Pick<
  OutputOf<typeof LOGICAL_STEPS.state>,
  "switched" | "switched_at" | "fenced" | "publication" | "slot" | "subscription"
>;

export function readState(v: StateValues): ScaleOutState {
  const one = (key: keyof StateValues, value: string) => {
    if (value !== "0" && value !== "1") throw new Error(`logical.sh state: ${key}=${value} is not 0 or 1`);
    return value === "1";
  };
  return {
    switched: v.switched ?? "",
    ...(v.switched_at ? { switchedAt: v.switched_at } : {}),
    fenced: one("fenced", v.fenced),
    publication: one("publication", v.publication),
    slot: one("slot", v.slot),
    subscription: v.subscription === "unknown" ? "unknown" : one("subscription", v.subscription),
  };
}

export const ROLLBACK_ADVICE =
  "--rollback (the same arguments): the droplet takes writes again and its proxy serves its app, the subscription and the slot are dropped, the app droplets' gates open; a plain run then starts over";
export const RESUME_ADVICE =
  "--resume (the same arguments): the app droplets' gates open, the row counts are compared, replication ends, Valkey is warmed; never write to the droplet again";

export function statusOf(s: ScaleOutState): ScaleOutStatus {
  const at = s.switchedAt ? { switchedAt: s.switchedAt } : {};
  const left = [
    ...(s.switched ? [`the commit record (${s.switched})`] : []),
    ...(s.fenced ? ["the fence (the droplet's database is read-only)"] : []),
    ...(s.publication ? ["the publication"] : []),
    ...(s.slot ? ["the replication slot"] : []),
    ...(s.subscription === true ? ["the subscription on the cluster"] : []),
    ...(s.subscription === "unknown" ? ["the cluster did not answer (its subscription unknown)"] : []),
  ];
  // `finish` drops the subscription, then the publication (and with the subscription, the slot): any of them left
  // means it has not run to its end. The cluster's answer is not needed to tell.
  const replicating = s.publication || s.slot || s.subscription === true;
  if (s.switched)
    return replicating ? { phase: "after-commit", ...at, left, next: RESUME_ADVICE } : { phase: "done", ...at, left };
  if (replicating || s.fenced) return { phase: "before-commit", left, next: ROLLBACK_ADVICE };
  return { phase: "none", left };
}

/**
 * `--status` as printed: two-space indented `key value` lines, as `migrate --status` prints its own. A lock still
 * held (a run under way, or a dead one's not yet stale) is named: any command waits for it or takes it over.
 */
export function formatStatus(source: string, st: ScaleOutStatus & { lock?: LockInfo }): string {
  const row = (k: string, v: string) => `  ${k.padEnd(9)}${v}`;
  const { lock } = st;
  return [
    `scale-out move from ${source}`,
    row("phase", st.phase),
    row("left", st.left.length ? st.left.join("; ") : "nothing"),
    row(
      "lock",
      lock
        ? `held by ${lock.holder}, run ${lock.run}, last heartbeat ${lock.ageSeconds} s ago (a run still under way: let it finish; a dead one's lock is taken over once stale)`
        : "free",
    ),
    ...(st.next ? [row("next", st.next)] : []),
  ].join("\n");
}
