import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import type { AppSecrets } from "../render/app-env";

export interface StackSecretsArgs {
  /** Passwords set in config (as Pulumi secrets); the others are generated and kept in the stack's state. */
  postgresPassword?: pulumi.Output<string>;
  redisPassword?: pulumi.Output<string>;
}

/**
 * The stack's passwords. Generated ones are alphanumeric (safe in URLs and env files) and 32 characters long.
 * Every output is a secret.
 */
export class StackSecrets extends pulumi.ComponentResource {
  readonly values: pulumi.Output<AppSecrets>;

  constructor(name: string, args: StackSecretsArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:secrets:StackSecrets", name, {}, opts);
    const generate = (id: string) =>
      new random.RandomPassword(`${name}-${id}`, { length: 32, special: false }, { parent: this }).result;
    const postgres = args.postgresPassword ?? generate("postgres");
    const app = generate("app-db");
    const replication = generate("replication");
    const redis = args.redisPassword ?? generate("redis");
    this.values = pulumi.secret(
      pulumi
        .all([postgres, app, replication, redis])
        .apply(([postgresPassword, appDbPassword, replicationPassword, redisPassword]) => ({
          postgresPassword,
          appDbPassword,
          replicationPassword,
          redisPassword,
        })),
    );
    this.registerOutputs({});
  }
}
