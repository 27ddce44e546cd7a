/**
 * The steps of migrate-state.sh (the migration's state on the droplets: the journal, the lock, the target's claim),
 * declared as ./steps.ts declares the others of migrate.sh; ./commands.ts joins the two tables.
 */
import { none, opt, req, spec } from "./steps";

const LOCK_FIELDS = { lock_run: opt, lock_holder: opt, lock_started: opt, lock_age_s: opt };

export const STATE_STEPS = {
  claim_target: spec({
    script: "migrate",
    words: ["claim_target"],
    runsOn: "new",
    argv: (a: { sourceSystemId: string; id: string; source: string }) => [a.sourceSystemId, a.id, a.source],
    out: { claimed: opt },
  }),
  journal_read: spec({
    script: "migrate",
    words: ["journal_read"],
    runsOn: "either",
    argv: none,
    out: { journal_present: req, journal: opt, lock_present: req, ...LOCK_FIELDS },
  }),
  /** stdin: the journal JSON. */
  journal_write: spec({
    script: "migrate",
    words: ["journal_write"],
    runsOn: "old",
    argv: (a: { runId: string; archive?: string }) => (a.archive ? [a.runId, a.archive] : [a.runId]),
    out: { journal_written: opt },
  }),
  lock_acquire: spec({
    script: "migrate",
    words: ["lock_acquire"],
    runsOn: "either",
    argv: (a: { runId: string; holder: string; startedAt: string; staleSeconds: number }) => [
      a.runId,
      a.holder,
      a.startedAt,
      a.staleSeconds,
    ],
    out: {
      lock: opt,
      ...LOCK_FIELDS,
      previous_run: opt,
      previous_holder: opt,
      previous_started: opt,
      previous_age_s: opt,
    },
  }),
  lock_heartbeat: spec({
    script: "migrate",
    words: ["lock_heartbeat"],
    runsOn: "either",
    argv: (a: { runId: string }) => [a.runId],
    out: { heartbeat: opt, lock_run: opt, lock_holder: opt, lock_started: opt },
  }),
  lock_release: spec({
    script: "migrate",
    words: ["lock_release"],
    runsOn: "either",
    argv: (a: { runId: string }) => [a.runId],
    out: { lock_released: opt },
  }),
};
