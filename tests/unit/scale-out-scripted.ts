/**
 * A scripted droplet for the scale-out runner's unit tests: each step answered with canned key=value output, the
 * calls recorded in order (app droplets' steps with their ssh target).
 */
import type { Droplet } from "../../infra/migration/commands";
import type { LogicalRunnerOptions } from "../../infra/scale-out-migration/runner";

export const SOURCE: Droplet = { ssh: "root@203.0.113.5", privateAddress: "10.10.0.5" };

/** A scripted droplet: answers each step with canned key=value output, records the order (the lock's apart). */
export function scripted(answers: Partial<Record<string, { code?: number; out?: string }>>) {
  const calls: string[] = [];
  /** The source's lock steps (the tier migration's), kept apart: every run takes and releases it. */
  const locks: string[] = [];
  const exec: LogicalRunnerOptions["exec"] = async (cmd) => {
    if (cmd.step.startsWith("lock_")) locks.push(cmd.step);
    else calls.push(cmd.side === "app" ? `${cmd.step} ${cmd.argv.at(-2)}` : cmd.step);
    const a = answers[cmd.step] ?? {};
    return { code: a.code ?? 0, stdout: a.out ?? "", stderr: a.code ? `boom in ${cmd.step}` : "" };
  };
  return { calls, locks, exec };
}

/** What logical.sh state (and the start of preflight) prints on a droplet no run has touched. */
export const CLEAN = "switched=\nswitched_at=\nfenced=0\npublication=0\nslot=0\nsubscription=0\n";
export const pem = (name: string) => `-----BEGIN CERTIFICATE-----\n${name}\n-----END CERTIFICATE-----\n`;
export const HAPPY = {
  gate_close: { out: `gate=close\ntls_cert=${Buffer.from(pem("app")).toString("base64")}\n` },
  proxy_cert: { out: `tls_cert=${Buffer.from(pem("source")).toString("base64")}\n` },
  preflight: {
    out: `${CLEAN}wal_level=logical\nsource_version_num=150010\ntarget_version_num=150008\ndb_bytes=1000000\ntables_without_pk=\n`,
  },
  sync: { out: "sync_ms=900\nlag_bytes=0\n" },
  lag: { out: "lag_bytes=1024\n" },
  cutover: {
    out: "upstream=10.10.0.7:8081 10.10.0.8:8081\ndrained_ms=20\ndrained=1\nfence_lsn=0/1A2B3C\nfence_ms=80\ncatchup_ms=120\nsequences=1\ntables=1\nseq.public.writes_seq_seq=42\nchecked=1\nchecks_ms=150\nswitched=t1\n",
  },
  counts: { out: "source.public.writes=42\ntarget.public.writes=45\n" },
  cache_warm: { out: "warm_keys=10\nwarm_skipped=0\nwarm_ms=3\n" },
};

export const UPSTREAMS = ["10.10.0.7:8081", "10.10.0.8:8081"];
export const APP_NODES: Droplet[] = [
  { ssh: "root@a1", privateAddress: "10.10.0.7" },
  { ssh: "root@a2", privateAddress: "10.10.0.8" },
];

/** A rollback after the fence: the proxy keeps holding while the app gates bounce its held requests to the source. */
export const BOUNCED_ROLLBACK = [
  "unfence",
  "gate_bounce root@a1",
  "gate_bounce root@a2",
  "proxy_local",
  "rollback_target",
] as const;
