import * as command from "@pulumi/command";
import * as pulumi from "@pulumi/pulumi";
import { pinnedHostKey, targetHostKeyArg } from "../host-keys";
import { SSH_KEY_ARGS, SSH_KEY_PREAMBLE, stackSshFlags } from "../migration/ssh-options";
import { APP_DB, APP_DB_USER } from "../scale-out";
import { INTERNAL_PORT } from "../render/caddyfile";
import { pemFile } from "../render/app-node";
import { renderTargetEnv, TARGET_CA_IN_CONTAINER, TARGET_CA_PATH } from "../scale-out-migration/commands";
import type { AppServer } from "./app-server";
import type { ScaleOut } from "./scale-out";

export interface ScaleOutMigrationArgs {
  /** The single-droplet server whose data moves into the managed cluster; it serves until the cutover. */
  source: AppServer;
  /** The scale-out tier, planned with `migrating: true` (its databases admit the stack's tag meanwhile). */
  scaleOut: ScaleOut;
  sshUser: string;
  /** The private key `pulumi up` uses (else the SSH agent); it reaches the migration through the environment. */
  sshPrivateKey?: pulumi.Output<string>;
  downtimeBudgetSeconds: number;
  migrationBudgetMinutes: number;
}

/** Where the stack writes the managed endpoints on the source droplet (mode 0600; logical.sh reads it). */
export const TARGET_ENV_PATH = "/etc/chatbot/scale-out-target.env";

/**
 * The command line `pulumi up` runs: `scripts/scale-out-migrate.ts` against the source droplet, which moves traffic
 * by pointing the droplet's proxy at the app droplets' internal listeners, whose gates it opens over ssh. SSH uses $CHATBOT_SSH_PRIVATE_KEY when set (a 0600 temp
 * file), else the agent. No secret on this line: the managed endpoints are in the target env file on the droplet.
 */
export function scaleOutMigrateCommandLine(
  hosts: {
    user: string;
    sourceIp: string;
    sourcePrivate: string;
    upstreams: string[];
    appIps: string[];
    sourceHostKey?: string;
    /** The app droplets' pinned host keys, in the order of `appIps` (undefined: not pinned). */
    appHostKeys?: readonly (string | undefined)[];
  },
  budgets: { downtimeBudgetSeconds: number; migrationBudgetMinutes: number },
): string {
  // A droplet whose host key the stack pinned: only that key (the CLI's --source-host-key, --app-node-host-key);
  // else accepted on first use.
  const appNodes = hosts.appIps.map((ip) => `${hosts.user}@${ip}`);
  const appKeys = appNodes.flatMap((target, i) => {
    const key = hosts.appHostKeys?.[i];
    return key === undefined ? [] : [`--app-node-host-key '${targetHostKeyArg(target, key)}'`];
  });
  return [
    "set -eu",
    ...SSH_KEY_PREAMBLE,
    [
      "node --import tsx scripts/scale-out-migrate.ts",
      `--source ${hosts.user}@${hosts.sourceIp}`,
      `--source-private ${hosts.sourcePrivate}`,
      `--upstreams ${hosts.upstreams.join(",")}`,
      `--app-nodes ${appNodes.join(",")}`,
      `--downtime-budget ${budgets.downtimeBudgetSeconds}`,
      `--migration-budget ${budgets.migrationBudgetMinutes}`,
      ...(hosts.sourceHostKey === undefined ? [] : [`--source-host-key '${pinnedHostKey(hosts.sourceHostKey)}'`]),
      ...appKeys,
      ...stackSshFlags(hosts.sourceHostKey !== undefined),
      SSH_KEY_ARGS,
      "--json",
    ].join(" "),
  ].join("\n");
}

/**
 * Moves a single-droplet stack onto the scale-out tier: the managed endpoints are written onto the droplet
 * (`-target-env`, secret stdin) with the cluster's CA (`-target-ca`: the droplet's psql checks the cluster's
 * certificate, `sslmode=verify-ca`), then `-run` replicates its PostgreSQL into the managed cluster, fences it, sets
 * the sequences, moves traffic to the app droplets and warms Valkey (infra/scale-out-migration/runner.ts, with
 * rollback before the commit point). It starts only once the droplet's and every app droplet's config is synced,
 * and runs once per (droplet, cluster) pair (`triggers`). `cutoverAddress` (the load balancer's IP) resolves only
 * after it has committed: point the domain's A record at it, so DNS moves only after the data has.
 */
export class ScaleOutMigration extends pulumi.ComponentResource {
  readonly targetEnv: command.remote.Command;
  readonly targetCa: command.remote.Command;
  readonly run: command.local.Command;
  readonly cutoverAddress: pulumi.Output<string>;

  constructor(name: string, args: ScaleOutMigrationArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:scaleout:ScaleOutMigration", name, {}, opts);
    const { source, scaleOut } = args;
    const pg = scaleOut.postgres;
    const valkey = scaleOut.valkey;
    const targetEnv = pulumi
      .all([
        pg.privateHost,
        pg.port,
        pg.user,
        pg.password,
        valkey.privateHost,
        valkey.port,
        valkey.user,
        valkey.password,
      ])
      .apply(([pgHost, pgPort, pgUser, pgPassword, redisHost, redisPort, redisUser, redisPassword]) =>
        renderTargetEnv({
          pg: {
            host: pgHost,
            port: pgPort,
            user: pgUser,
            password: pgPassword,
            database: APP_DB,
            sslmode: "verify-ca",
            sslrootcert: TARGET_CA_IN_CONTAINER,
            appUser: APP_DB_USER,
          },
          redis: { host: redisHost, port: redisPort, user: redisUser, password: redisPassword, tls: true },
        }),
      );
    const connection: command.types.input.remote.ConnectionArgs = {
      host: source.droplet.ipv4Address,
      user: args.sshUser,
      privateKey: args.sshPrivateKey,
      ...(source.hostPublicKey ? { hostKey: source.hostPublicKey } : {}),
      dialErrorLimit: 60,
      perDialTimeout: 10,
    };
    this.targetEnv = new command.remote.Command(
      `${name}-target-env`,
      {
        connection,
        create: `umask 077 && cat > ${TARGET_ENV_PATH}`,
        delete: `rm -f ${TARGET_ENV_PATH}`,
        stdin: pulumi.secret(targetEnv),
        triggers: [pulumi.secret(targetEnv)],
      },
      {
        parent: this,
        dependsOn: [source.configSync, scaleOut.postgresFirewall, scaleOut.valkeyFirewall, scaleOut.database],
        // Its delete removes the same path: a replacement (new credentials) written first would be removed after.
        deleteBeforeReplace: true,
      },
    );
    // The cluster's CA, which the target env names (TARGET_PGSSLROOTCERT). Delete before replace: the old command's
    // delete removes the same path, so a new CA written first would be removed after.
    const caFile = scaleOut.postgresCa.apply((pem) => pemFile("postgresCa", pem));
    this.targetCa = new command.remote.Command(
      `${name}-target-ca`,
      {
        connection,
        create: `cat > ${TARGET_CA_PATH} && chmod 0644 ${TARGET_CA_PATH}`,
        delete: `rm -f ${TARGET_CA_PATH}`,
        stdin: caFile,
        triggers: [caFile],
      },
      { parent: this, dependsOn: [source.configSync], deleteBeforeReplace: true },
    );
    const create = pulumi
      .all([
        source.droplet.ipv4Address,
        source.droplet.ipv4AddressPrivate,
        scaleOut.privateIps,
        scaleOut.publicIps,
        source.hostPublicKey,
        pulumi.all(scaleOut.hostPublicKeys),
      ])
      .apply(([sourceIp, sourcePrivate, ips, appIps, sourceHostKey, appHostKeys]) =>
        scaleOutMigrateCommandLine(
          {
            user: args.sshUser,
            sourceIp,
            sourcePrivate,
            upstreams: ips.map((ip) => `${ip}:${INTERNAL_PORT}`),
            appIps,
            sourceHostKey,
            appHostKeys,
          },
          { downtimeBudgetSeconds: args.downtimeBudgetSeconds, migrationBudgetMinutes: args.migrationBudgetMinutes },
        ),
      );
    this.run = new command.local.Command(
      `${name}-run`,
      {
        create,
        // No `dir`: the command runs where `pulumi up` runs the program (the project directory). An absolute path
        // here would differ between checkouts and make a later `pulumi up` from elsewhere re-run the command.
        environment: args.sshPrivateKey ? { CHATBOT_SSH_PRIVATE_KEY: args.sshPrivateKey } : undefined,
        triggers: [source.droplet.id, pg.id],
        logging: "stdoutAndStderr",
      },
      {
        parent: this,
        dependsOn: [this.targetEnv, this.targetCa, ...scaleOut.configSyncs],
        customTimeouts: { create: `${args.migrationBudgetMinutes + 5}m` },
      },
    );
    this.cutoverAddress = pulumi.all([this.run.stdout, scaleOut.address]).apply(([, ip]) => ip);
    this.registerOutputs({ report: this.run.stdout });
  }
}
