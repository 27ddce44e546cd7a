/**
 * `npm run scale-out-migrate` as a real process against the harness (../migration/cli-process.ts starts it): the
 * flags that reach the harness droplets, the source's host key and the app node's pinned as the stack pins them.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { type CliExit, hostKeyOf, runCli } from "../migration/cli-process";
import { type Harness, waitFor } from "../migration/harness";
import { harnessCutover } from "./harness";

export const SCALE_OUT_CLI = path.resolve(__dirname, "../../scripts/scale-out-migrate.ts");
export const LOCK_STALE_SECONDS_HERE = 5;

/** Seconds since the source's migration lock had a heartbeat (the droplet's clock is this machine's); none: undefined. */
export function lockAge(harness: Harness): number | undefined {
  const file = path.join(harness.old.migrationDir, "lock", "heartbeat");
  return fs.existsSync(file) ? (Date.now() - fs.statSync(file).mtimeMs) / 1000 : undefined;
}

/** Until a lock a dead run left (if any) is stale: what an operator waits for before acting. */
export async function lockStale(harness: Harness): Promise<void> {
  await waitFor(
    "the dead run's lock to go stale",
    async () => (lockAge(harness) ?? Number.POSITIVE_INFINITY) > LOCK_STALE_SECONDS_HERE + 1,
    120_000,
  );
}

/** --source, --app-nodes and everything the harness droplets need, for the move `harnessCutover` describes. */
export function scaleOutCliArgs(harness: Harness, targetEnv: string): string[] {
  const { old, next } = harness;
  const cut = harnessCutover(harness, targetEnv);
  if (!cut.budgets) throw new Error("harnessCutover gives no budgets");
  const target = (d: Harness["old"]) => `${d.ssh.target}:${d.ssh.port}`;
  const env = (flag: string, values: Readonly<Record<string, string>> = {}) =>
    Object.entries(values).map(([k, v]) => `${flag}=${k}=${v}`);
  return [
    "--source",
    target(old),
    "--source-private",
    old.host,
    "--source-pg-port",
    String(old.pg.port),
    "--upstreams",
    cut.upstreams.join(","),
    "--app-nodes",
    target(next),
    "--source-host-key",
    hostKeyOf(old),
    `--app-node-host-key=${target(next)}=${hostKeyOf(next)}`,
    `--ssh-option=-oIdentityFile=${old.ssh.keyFile}`,
    `--ssh-option=-oIdentityFile=${next.ssh.keyFile}`,
    "--ssh-option=-oBatchMode=yes",
    "--ssh-option=-oIdentitiesOnly=yes",
    ...env("--source-env", cut.source.env),
    ...env("--app-node-env", next.droplet.env),
    "--downtime-budget",
    String(cut.budgets.downtimeBudgetSeconds),
    "--migration-budget",
    String(cut.budgets.migrationBudgetMinutes),
    // A dead run's lock goes stale in seconds here (the default is a minute).
    "--lock-stale-seconds",
    String(LOCK_STALE_SECONDS_HERE),
  ];
}

export const runScaleOutCli = (args: string[], timeoutMs?: number): Promise<CliExit> =>
  runCli(args, timeoutMs, SCALE_OUT_CLI);
