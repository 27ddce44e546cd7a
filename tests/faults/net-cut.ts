/**
 * net-cut: the network between the two droplets is cut for 30 s from the moment the step runs, with nftables (an
 * output-hook rule on loopback drops the packets, so a connection hangs as on a dead link instead of being refused).
 * On loopback every droplet-to-droplet connection comes from 127.0.0.1, so the cut is by destination: each droplet's
 * address with the ports the other droplet's services reach it on, and for the servers by the user that connects:
 * - PostgreSQL's port, from the postgres user (the standby's WAL receiver, pg_basebackup, the steps' psql to the
 *   other server);
 * - Redis's port, from the redis user (a replica's link to its master);
 * - the internal forward's port (INTERNAL_PORT: one droplet's proxy forwarding or holding for the other's).
 * Not cut: the operator's ssh to each droplet (the runner's steps: that is the ssh-cut fault), users' requests to the
 * front address, and each droplet's app and the harness's own checks reaching that droplet's servers (other users).
 * A same-user TCP connection from a droplet to its own PostgreSQL or Redis would be cut too; the steps reach their
 * own servers over the Unix socket (the docker shim), so none is known.
 * The rules live in a table of their own, named after the harness's address block (two harnesses never share one),
 * always deleted: after 30 s, at the end of the run, and when the process exits.
 */
import { spawnSync } from "node:child_process";
import { INTERNAL_PORT } from "../../infra/render/caddyfile";
import type { HarnessDroplet } from "../migration/harness";
import type { Addressed, SeamExecutor } from "../migration/seams";
import { osUser } from "../support/processes";
import { type CutLanding, onceStepRuns } from "./inject";
import type { StepAddress } from "./matrix";

export const CUT_SECONDS = 30;

function nft(...args: string[]): { ok: boolean; stderr: string } {
  const r = spawnSync("nft", args, { encoding: "utf8" });
  return { ok: r.status === 0, stderr: (r.stderr ?? r.error?.message ?? "").trim() };
}

/** nftables is installed and this process may use it (root). */
export const nftUsable = () => nft("list", "tables").ok;

/** The cut: `lift()` deletes the table (idempotent). */
export interface NetCut {
  lift(): void;
}

/** The nft rules that cut what reaches `d` from the other droplet. */
function rulesTo(d: HarnessDroplet): string[][] {
  const uid = (user: string) => String(osUser(user)?.uid ?? 0);
  return [
    ["ip", "daddr", d.host, "tcp", "dport", String(d.pg.port), "meta", "skuid", uid("postgres"), "drop"],
    ["ip", "daddr", d.host, "tcp", "dport", String(d.redis.port), "meta", "skuid", uid("redis"), "drop"],
    ["ip", "daddr", d.host, "tcp", "dport", String(INTERNAL_PORT), "drop"],
  ];
}

/** The cut's nftables table: one per harness address block (127.0.N). */
export const cutTable = (d: Pick<HarnessDroplet, "host">) => `chatbot_netcut_${d.host.split(".")[2]}`;

/** Cuts the link between `a` and `b` now; throws when nftables refuses (the harness cannot make this fault). */
export function cutBetween(a: HarnessDroplet, b: HarnessDroplet): NetCut {
  const table = cutTable(a);
  const lift = () => {
    nft("delete", "table", "inet", table);
  };
  lift(); // one a killed run may have left
  process.once("exit", lift);
  const steps = [
    ["add", "table", "inet", table],
    ["add", "chain", "inet", table, "out", "{ type filter hook output priority 0; }"],
    ...[...rulesTo(a), ...rulesTo(b)].map((rule) => ["add", "rule", "inet", table, "out", ...rule]),
  ];
  for (const s of steps) {
    const r = nft(...s);
    if (!r.ok) {
      lift();
      throw new Error(`nft ${s.join(" ")}: ${r.stderr} (install nftables: scripts/install-test-deps.sh)`);
    }
  }
  return {
    lift: () => {
      lift();
      process.removeListener("exit", lift);
    },
  };
}

/**
 * The fault: once the step runs, the link between the droplets is cut for CUT_SECONDS while the migration goes on;
 * `lifts` receives the cut so that the run's end lifts it if the 30 s have not passed.
 */
export function netCut<C extends Addressed>(
  exec: SeamExecutor<C>,
  at: StepAddress,
  stepDroplet: HarnessDroplet,
  droplets: readonly [HarnessDroplet, HarnessDroplet],
  lifts: (cut: NetCut) => void,
  done: (what: { landed: CutLanding; cut: string }) => void,
): SeamExecutor<C> {
  return onceStepRuns(exec, at, stepDroplet, async (landed) => {
    const cut = cutBetween(...droplets);
    lifts(cut);
    setTimeout(() => cut.lift(), CUT_SECONDS * 1000).unref();
    done({ landed, cut: `cut for ${CUT_SECONDS} s` });
  });
}
