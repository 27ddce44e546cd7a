import * as command from "@pulumi/command";
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { DROPLET_IGNORE_CHANGES } from "../droplet-options";
import { DROPLET_IMAGE, type ServerPlan } from "../plan";
import type { AppSecrets } from "../render/app-env";
import { applyCommand, hashFiles, renderSecretFiles, renderStageScript } from "../render/files";

export interface AppServerArgs {
  server: ServerPlan;
  region: string;
  vpcId: pulumi.Input<string>;
  /** The stack's tag: the firewall and the database ports apply to droplets carrying it. */
  tag: pulumi.Input<string>;
  sshKeys: string[];
  /** How `pulumi up` reaches the droplet to sync its config. */
  ssh: { user: string; privateKey?: pulumi.Output<string> };
  secrets: pulumi.Output<AppSecrets>;
  appPort: number;
}

/**
 * One app droplet with its data volume, running the FastAPI app, PostgreSQL, Redis and Caddy in containers.
 *
 * - Caution: the droplet is replaced when its user data, image, region or VPC change. Its data lives on the volume,
 *   which survives a replacement; changing the tier goes through a migration, not a replacement. A protected droplet
 *   (the serving one in prod, a migration's target until it has succeeded) cannot be replaced: the update stops at
 *   that step instead. `sshKeys` is ignored once the droplet exists (DROPLET_IGNORE_CHANGES): a key rotation
 *   reaches new droplets only, never replacing a running one.
 * - The volume's name and description are fixed when it is created (both replace it when changed) and it is left
 *   at DigitalOcean when the stack drops it (`retainOnDelete`), unless the stack allows data loss (dev only).
 * - Tuning, the app image and its environment are synced onto the running droplet by the `-config` command,
 *   re-run when the rendered files change (their hash is the trigger): no replacement, only the affected
 *   containers restart.
 */
export class AppServer extends pulumi.ComponentResource {
  readonly droplet: digitalocean.Droplet;
  readonly volume: digitalocean.Volume;
  readonly attachment: digitalocean.VolumeAttachment;
  readonly secretsSync: command.remote.Command;
  readonly configSync: command.remote.Command;
  /** The droplet id as the number that `dropletId` inputs require (droplet.id is a string). */
  readonly dropletIdNumber: pulumi.Output<number>;

  constructor(name: string, args: AppServerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:server:AppServer", name, {}, opts);
    const { server } = args;

    this.volume = new digitalocean.Volume(
      `${name}-volume`,
      {
        name: server.volumeName,
        region: args.region,
        size: server.volumeSizeGiB,
        initialFilesystemType: "ext4",
        description: server.volumeDescription,
      },
      { parent: this, protect: server.protect, retainOnDelete: server.retainVolumeOnDelete },
    );

    this.droplet = new digitalocean.Droplet(
      `${name}-droplet`,
      {
        name: server.dropletName,
        image: DROPLET_IMAGE,
        region: args.region,
        size: server.tier.slug,
        vpcUuid: args.vpcId,
        sshKeys: args.sshKeys,
        tags: [args.tag],
        userData: server.userData,
        monitoring: true,
        ipv6: true,
        backups: server.backups.enabled,
        backupPolicy: server.backups.enabled ? { plan: server.backups.plan, hour: 4, ...(server.backups.plan === "weekly" ? { weekday: "SUN" } : {}) } : undefined,
        gracefulShutdown: true,
      },
      { parent: this, protect: server.protect, ignoreChanges: [...DROPLET_IGNORE_CHANGES] },
    );
    this.dropletIdNumber = this.droplet.id.apply((id) => Number(id));

    this.attachment = new digitalocean.VolumeAttachment(
      `${name}-volume-attachment`,
      { dropletId: this.dropletIdNumber, volumeId: this.volume.id },
      { parent: this, deleteBeforeReplace: true },
    );

    const connection: command.types.input.remote.ConnectionArgs = {
      host: this.droplet.ipv4Address,
      user: args.ssh.user,
      privateKey: args.ssh.privateKey,
      dialErrorLimit: 60,
      perDialTimeout: 10,
    };

    const secretFiles = args.secrets.apply((s) => renderSecretFiles(s, args.appPort));
    this.secretsSync = new command.remote.Command(
      `${name}-secrets`,
      {
        connection,
        create: "bash -s",
        stdin: pulumi.secret(secretFiles.apply(renderStageScript)),
        // A new droplet (or a new attachment) needs its files again: changing `connection` alone would not re-run.
        triggers: [pulumi.secret(secretFiles.apply(hashFiles)), this.droplet.id, this.attachment.id],
      },
      { parent: this, dependsOn: [this.attachment] },
    );

    const configHash = hashFiles(server.configFiles);
    this.configSync = new command.remote.Command(
      `${name}-config`,
      {
        connection,
        create: "bash -s",
        stdin: renderStageScript(server.configFiles) + applyCommand(server.volumeDevice) + "\n",
        triggers: [configHash, this.droplet.id, this.attachment.id, this.secretsSync.id],
      },
      { parent: this, dependsOn: [this.attachment, this.secretsSync] },
    );

    this.registerOutputs({ dropletId: this.droplet.id, volumeId: this.volume.id, configHash });
  }
}
