/**
 * `npm run scale-out-migrate` as a real process against the harness (../migration/cli-process.ts starts it): the
 * flags that reach the harness droplets, the source's host key and the app node's pinned as the stack pins them.
 */
import * as path from "node:path";
import { type CliExit, hostKeyOf, runCli } from "../migration/cli-process";
import type { Harness } from "../migration/harness";
import { harnessCutover } from "./harness";

const CLI = path.resolve(__dirname, "../../scripts/scale-out-migrate.ts");

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
  ];
}

export const runScaleOutCli = (args: string[], timeoutMs?: number): Promise<CliExit> => runCli(args, timeoutMs, CLI);
