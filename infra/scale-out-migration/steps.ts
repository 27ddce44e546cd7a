/**
 * The scale-out's logical.sh steps, declared like the tier migration's (infra/migration/steps.ts, which holds the
 * scripts' exit codes and the proxy-switch.sh actions both use): every step runs on the source droplet.
 */
import { none, opt, req, spec } from "../migration/steps";

/**
 * What an earlier run left (logical-cutover.sh print_state): the commit record's id (empty: none), the fence, the
 * publication and slot on the source, the subscription on the cluster ("unknown": it did not answer). ./status.ts.
 */
const STATE_OUT = {
  switched: opt,
  switched_at: opt,
  fenced: req,
  publication: req,
  slot: req,
  subscription: req,
} as const;

export const LOGICAL_STEPS = {
  state: spec({ script: "logical", words: ["state"], runsOn: "source", argv: none, out: STATE_OUT }),
  preflight: spec({
    script: "logical",
    words: ["preflight"],
    runsOn: "source",
    argv: none,
    out: {
      ...STATE_OUT,
      wal_level: opt,
      source_version_num: req,
      target_version_num: req,
      db_bytes: req,
      free_slots: opt,
      tables_without_pk: opt,
    },
  }),
  schema: spec({
    script: "logical",
    words: ["schema"],
    runsOn: "source",
    argv: none,
    out: { tables: opt, schema_ms: opt },
  }),
  publish: spec({ script: "logical", words: ["publish"], runsOn: "source", argv: none, out: { publication: opt } }),
  subscribe: spec({
    script: "logical",
    words: ["subscribe"],
    runsOn: "source",
    argv: (a: { address: string; port: number }) => [a.address, a.port],
    out: { subscription: opt },
  }),
  sync: spec({
    script: "logical",
    words: ["sync"],
    runsOn: "source",
    argv: (a: { timeoutSeconds: number }) => [a.timeoutSeconds],
    out: { sync_ms: req, tables_ready: opt, lag_bytes: opt },
  }),
  lag: spec({ script: "logical", words: ["lag"], runsOn: "source", argv: none, out: { lag_bytes: req } }),
  /** stdin: proxy-switch.sh (its hold runs in the same round trip). */
  cutover: spec({
    script: "logical",
    words: ["cutover"],
    runsOn: "source",
    argv: (a: { id: string; upstreams: string; holdSeconds: number; catchupSeconds: number }) => [
      a.id,
      a.upstreams,
      a.holdSeconds,
      a.catchupSeconds,
    ],
    out: {
      fence_lsn: opt,
      fence_ms: opt,
      catchup_ms: opt,
      sequences: opt,
      tables: opt,
      checked: opt,
      checks_ms: opt,
      switched: req,
    },
    families: ["seq"],
    proxy: "hold",
  }),
  counts: spec({
    script: "logical",
    words: ["counts"],
    runsOn: "source",
    argv: none,
    out: {},
    families: ["source", "target"],
  }),
  finish: spec({ script: "logical", words: ["finish"], runsOn: "source", argv: none, out: { finished: opt } }),
  rollback_target: spec({
    script: "logical",
    words: ["rollback_target"],
    runsOn: "source",
    argv: none,
    out: { rolled_back_target: opt, switched: opt },
  }),
  /** stdin: proxy-switch.sh (`local` runs in the same round trip unless the hold is kept). */
  unfence: spec({
    script: "logical",
    words: ["unfence"],
    runsOn: "source",
    argv: (a: { keepHold: boolean }) => (a.keepHold ? ["keep-hold"] : []),
    out: { switched: opt, unfenced: opt, hold: opt },
    proxy: "local",
  }),
  cache_warm: spec({
    script: "logical",
    words: ["cache_warm"],
    runsOn: "source",
    argv: none,
    out: { warm_keys: req, warm_skipped: req, warm_ms: req },
  }),
};
export type LogicalStepName = keyof typeof LOGICAL_STEPS;
