import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { pinnedHostKey } from "../host-keys";
import { SSH_KEY_ARGS, SSH_KEY_PREAMBLE, stackSshFlags } from "../migration/ssh-options";
import type { MigrationPlan } from "../plan";
import { INTERNAL_PORT } from "../render/caddyfile";
import type { AppServer } from "./app-server";

export interface TierMigrationArgs {
  migration: MigrationPlan;
  /** The server migrated from: it keeps serving until the cutover. */
  old: AppServer;
  /** The new tier's server: a replica of the old one until the cutover, the primary after. */
  next: AppServer;
  sshUser: string;
  /** The private key `pulumi up` uses (else the SSH agent); it reaches the migration through the environment. */
  sshPrivateKey?: pulumi.Output<string>;
  healthPath: string;
}

/**
 * The shell command the stack runs on the machine doing `pulumi up`: `npm run migrate` between the two droplets.
 * The migration itself moves traffic at the cutover: the old droplet's proxy holds requests and then forwards them
 * to the new droplet's internal listener (scripts/droplet/proxy-switch.sh); the reserved IP or DNS record follows
 * once this command has succeeded. SSH uses the key in $CHATBOT_SSH_PRIVATE_KEY when set (a 0600 temp file), else
 * the agent. A droplet whose host key the stack pinned is passed with it (`--from-host-key` / `--to-host-key`): only
 * that key is accepted, and another stops the run (exit 3). One created before pinning is accepted on first use. No
 * secret is on this line: the database passwords never leave the droplets, and public host keys are not secret.
 */
export function migrateCommandLine(
  m: MigrationPlan,
  hosts: {
    user: string;
    oldIp: string;
    newIp: string;
    oldPrivate: string;
    newPrivate: string;
    oldHostKey?: string;
    newHostKey?: string;
  },
  healthPath: string,
): string {
  // With a pinned side, the CLI sets each droplet's host key options itself (accept-new only for an unpinned one).
  const pinned = hosts.oldHostKey !== undefined || hosts.newHostKey !== undefined;
  const keyFlag = (flag: string, key: string | undefined) =>
    key === undefined ? [] : [`${flag} '${pinnedHostKey(key)}'`];
  const upstream = `${hosts.newPrivate}:${INTERNAL_PORT}`;
  return [
    "set -eu",
    ...SSH_KEY_PREAMBLE,
    [
      "node --import tsx scripts/migrate.ts",
      // A switch back: the target follows the source, so the runner promotes it and copies nothing.
      ...(m.switchBack ? ["--switch-back"] : []),
      `--from ${hosts.user}@${hosts.oldIp}`,
      `--to ${hosts.user}@${hosts.newIp}`,
      `--from-private ${hosts.oldPrivate}`,
      `--to-private ${hosts.newPrivate}`,
      `--strategy ${m.strategy}`,
      `--downtime-budget ${m.downtimeBudgetSeconds}`,
      `--migration-budget ${m.migrationBudgetMinutes}`,
      ...keyFlag("--from-host-key", hosts.oldHostKey),
      ...keyFlag("--to-host-key", hosts.newHostKey),
      ...stackSshFlags(pinned),
      SSH_KEY_ARGS,
      `--health-url http://${upstream}${healthPath}`,
    ].join(" "),
  ].join("\n");
}

/**
 * Moves the stack from one tier's server to another's with its data, inside the downtime budget.
 *
 * Changing `tier` declares the new server beside the serving one (which is old comes from the stack's `deployment`
 * output) and this component between them: both servers are provisioned and synced first (dependsOn), then `-run`
 * migrates (scripts/migrate.ts over SSH), and only its output lets the reserved IP or A record move (index.ts).
 * `triggers` holds both droplet ids in the direction of the move, so the command runs once per move: a switch back
 * (the same pair the other way) and each flip after it change them and run once; a `pulumi up` stopped mid-way runs
 * it again and the journal on the old droplet makes that run resume (or, finished, only print its result). The
 * result line on stdout carries the commit time that starts the old server's retention and, when the server left
 * follows the new primary, since when.
 */
export class TierMigration extends pulumi.ComponentResource {
  readonly run: command.local.Command;
  /** The new droplet's id and public address, available only once the migration has committed. */
  readonly cutoverDropletId: pulumi.Output<number>;
  readonly cutoverDropletIp: pulumi.Output<string>;

  constructor(name: string, args: TierMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:migration:TierMigration", name, {}, opts);
    const { old, next, migration } = args;
    const create = pulumi
      .all([
        old.droplet.ipv4Address,
        next.droplet.ipv4Address,
        old.droplet.ipv4AddressPrivate,
        next.droplet.ipv4AddressPrivate,
        old.hostPublicKey,
        next.hostPublicKey,
      ])
      .apply(([oldIp, newIp, oldPrivate, newPrivate, oldHostKey, newHostKey]) =>
        migrateCommandLine(
          migration,
          { user: args.sshUser, oldIp, newIp, oldPrivate, newPrivate, oldHostKey, newHostKey },
          args.healthPath,
        ),
      );
    this.run = new command.local.Command(
      `${name}-run`,
      {
        create,
        // No `dir`: the command runs where `pulumi up` runs the program (the project directory). An absolute path
        // here would differ between checkouts and make a later `pulumi up` from elsewhere re-run the command.
        environment: args.sshPrivateKey ? { CHATBOT_SSH_PRIVATE_KEY: args.sshPrivateKey } : undefined,
        triggers: [old.droplet.id, next.droplet.id],
        logging: "stdoutAndStderr",
      },
      {
        parent: this,
        dependsOn: [old.configSync, next.configSync],
        customTimeouts: { create: `${migration.migrationBudgetMinutes + 5}m` },
      },
    );
    this.cutoverDropletId = pulumi.all([this.run.stdout, next.dropletIdNumber]).apply(([, id]) => id);
    this.cutoverDropletIp = pulumi.all([this.run.stdout, next.droplet.ipv4Address]).apply(([, ip]) => ip);
    this.registerOutputs({ report: this.run.stdout });
  }
}
