/**
 * Canned step answers for tests/support/fake-ssh/ssh (the stand-in for a droplet: it answers each step from files),
 * shared by the tests that drive `npm run scale-out-migrate` through it.
 */
import * as fs from "node:fs";
import * as path from "node:path";

export type StepAnswers = Record<string, { out?: string; err?: string; code?: number }>;

/** logical.sh state (and the start of preflight) on a droplet no earlier run left anything on. */
export const SCALE_OUT_CLEAN = "switched=\nswitched_at=\nfenced=0\npublication=0\nslot=0\nsubscription=0\n";

/** What logical.sh and proxy-switch.sh print for each step of a scale-out move that goes through. */
export const SCALE_OUT_HAPPY: StepAnswers = {
  state: { out: SCALE_OUT_CLEAN },
  // The migration lock (the tier migration's journal_read, for --status): free.
  journal_read: { out: "journal_present=0\nlock_present=0\n" },
  preflight: { out: `${SCALE_OUT_CLEAN}source_version_num=150010\ntarget_version_num=150010\ndb_bytes=1048576\n` },
  // An app droplet's gate (close and open alike) prints its internal listener's certificate.
  gate: {
    out: `tls_cert=${Buffer.from("-----BEGIN CERTIFICATE-----\napp\n-----END CERTIFICATE-----\n").toString("base64")}\n`,
  },
  sync: { out: "sync_ms=12\n" },
  lag: { out: "lag_bytes=0\n" },
  cutover: { out: "fence_ms=40\ncatchup_ms=3\nseq.public.users_id_seq=501\ntables=1\nchecked=1\nswitched=c1\n" },
  counts: { out: "source.public.users=500\ntarget.public.users=500\n" },
  cache_warm: { out: "warm_keys=10\nwarm_skipped=0\nwarm_ms=4\n" },
};

/** Writes the answers into `dir` (FAKE_SSH_DIR) as fake-ssh reads them, with an empty calls.log. */
export function writeStepAnswers(dir: string, steps: StepAnswers): void {
  fs.writeFileSync(path.join(dir, "calls.log"), "");
  for (const [step, a] of Object.entries(steps)) {
    if (a.out !== undefined) fs.writeFileSync(path.join(dir, `${step}.out`), a.out);
    if (a.err !== undefined) fs.writeFileSync(path.join(dir, `${step}.err`), a.err);
    if (a.code !== undefined) fs.writeFileSync(path.join(dir, `${step}.code`), String(a.code));
  }
}
