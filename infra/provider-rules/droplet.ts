/**
 * Provider rules for droplets, their volumes and volume attachments, and droplet autoscale pools. Sources (TF, SDK,
 * API, GODO) and how to read them: see ./index.ts.
 */
import { TF, inRange, isInt, list, nonEmpty, oneOf } from "./checks";
import { checkTags } from "./network";
import {
  REGIONS,
  REGIONS_OPEN_FOR_NEW_DROPLETS,
  REGION_SLUGS,
  isRegionOpenForNewDroplets,
  isValidRegion,
} from "./regions";

// ---------------------------------------------------------------------------------------------------------------
// Droplet
// ---------------------------------------------------------------------------------------------------------------

export const DROPLET = {
  source: `${TF} digitalocean/droplet/resource_droplet.go@06e95bcec554b20a4877f35123f50d064e5c9bbd`,
  /** size, image, region are strings (SDK droplet.d.ts). A numeric `image` string is sent as an image ID. */
  stringInputs: ["size", "image", "region", "name", "vpcUuid", "userData"] as const,
  /**
   * `sshKeys` is `string[]` (SDK) though its doc says "in the format `[12345, 123456]`": each element that parses
   * as an integer is sent as a key ID, anything else as a fingerprint (resource_droplet.go expandSshKeys).
   */
  sshKeyRef: { idPattern: /^[0-9]+$/, md5FingerprintPattern: /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/ },
  backupPolicy: {
    // StringInSlice, case-sensitive.
    plans: ["daily", "weekly"] as const,
    weekdays: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const,
    // The provider checks only IntBetween(0, 20); the API accepts only the 4-hour window starts
    // (API droplets/models/droplet_backup_policy.yml enum), so hour: 3 passes preview and fails at the API.
    providerHourRange: [0, 20] as const,
    hours: [0, 4, 8, 12, 16, 20] as const,
    // RequiredWith ["backups"], and create/update refuse a policy while backups is false (errDropletBackupPolicy).
    requiresBackupsTrue: true,
  },
  /**
   * user_data: provider only rejects "" (NoZeroValues). The API caps it at 64 KiB of plain text
   * (API droplets/models/droplet_create.yml). State keeps a SHA-1 hash (util.HashStringStateFunc), so the
   * `userData` *output* is a hash, never the script.
   */
  userDataMaxBytes: 64 * 1024,
  /**
   * name: provider only rejects "" (NoZeroValues); renames in place (DropletActions.Rename). Pulumi auto-names
   * `name` when omitted (`<resource name>-<7 hex>`, pulumi-digitalocean provider/resources.go AutoName; old
   * commit 036a144a, the SDK still marks `name` optional). The API spec for a single create documents
   * ^[a-z][a-z0-9-]{0,30}[a-z0-9]$ (API droplets/models/droplet_single_create.yml@ea8b3a50) while its own example
   * is "example.com"; DO docs allow letters, digits, "." and "-": which one the API enforces is unconfirmed.
   */
  hostnamePattern: /^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/,
  portableNamePattern: /^[a-z][a-z0-9-]{0,30}[a-z0-9]$/,
  nameMaxLength: 255,
  /**
   * Changing any of these replaces the droplet (new disk, data on it gone). `gpuPartitionMode` is ForceNew per
   * the SDK doc (not in the stored TF copy). `ipv6` true -> false also replaces (CustomizeDiff ForceNewIfChange);
   * false -> true is done in place. In place: name (rename), size (power-off resize; with resizeDisk=true, the
   * default, the disk grows and can never shrink back), backups, backupPolicy, ipv6 on, tags, volumeIds.
   */
  forceNew: [
    "image",
    "region",
    "sshKeys",
    "userData",
    "monitoring",
    "dropletAgent",
    "vpcUuid",
    "gpuPartitionMode",
  ] as const,
  /** Set-typed inputs (order does not matter; tags compare case-insensitively). */
  setInputs: ["sshKeys", "tags", "volumeIds"] as const,
  /** Pulumi output holding the DO URN (`do:droplet:<id>`): `.urn` is Pulumi's own URN, not this. */
  urnOutput: "dropletUrn",
} as const;

export const dropletForceNewInputs: readonly string[] = DROPLET.forceNew;

export function isValidDropletName(name: string): boolean {
  return name.length <= DROPLET.nameMaxLength && DROPLET.hostnamePattern.test(name);
}

/** A name that passes both the documented hostname rule and the stricter OpenAPI pattern. */
export function isPortableDropletName(name: string): boolean {
  return DROPLET.portableNamePattern.test(name);
}

export function isValidSshKeyRef(ref: string): boolean {
  return DROPLET.sshKeyRef.idPattern.test(ref) || DROPLET.sshKeyRef.md5FingerprintPattern.test(ref);
}

export function isValidBackupHour(hour: number): boolean {
  return (DROPLET.backupPolicy.hours as readonly number[]).includes(hour);
}

export function userDataBytes(userData: string): number {
  return Buffer.byteLength(userData, "utf8");
}

export interface DropletInputs {
  name?: unknown;
  size?: unknown;
  image?: unknown;
  region?: unknown;
  sshKeys?: unknown;
  userData?: unknown;
  backups?: unknown;
  backupPolicy?: { plan?: unknown; weekday?: unknown; hour?: unknown } | undefined;
  tags?: unknown;
}

export function checkDroplet(d: DropletInputs): string[] {
  const out: string[] = [];
  if (d.name !== undefined && !(typeof d.name === "string" && isValidDropletName(d.name))) {
    out.push(
      `name: ${JSON.stringify(d.name)} is not a valid droplet name; allowed: letters, digits, "." and "-", not starting or ending with "." or "-", at most 255`,
    );
  }
  if (!nonEmpty(d.size) || d.size !== d.size.toLowerCase())
    out.push(`size: must be a lowercase size slug string (e.g. "s-2vcpu-4gb"), got ${JSON.stringify(d.size)}`);
  if (!nonEmpty(d.image))
    out.push(
      `image: must be a non-empty string (slug, or an image ID written as a string), got ${JSON.stringify(d.image)}`,
    );
  if (d.region !== undefined) {
    if (typeof d.region !== "string" || !isValidRegion(d.region))
      out.push(`region: ${JSON.stringify(d.region)} is not a region slug; allowed: ${list(REGION_SLUGS)}`);
    else if (!isRegionOpenForNewDroplets(d.region))
      out.push(
        `region: ${d.region} does not take new droplets (${REGIONS[d.region].newDroplets}); open: ${list([...REGIONS_OPEN_FOR_NEW_DROPLETS])}`,
      );
  }
  if (d.sshKeys !== undefined) {
    if (!Array.isArray(d.sshKeys)) out.push("sshKeys: must be a list of strings");
    else
      for (const k of d.sshKeys) {
        if (typeof k !== "string")
          out.push(`sshKeys: ${JSON.stringify(k)} must be a string (write key IDs as "12345", not 12345)`);
        else if (!isValidSshKeyRef(k))
          out.push(
            `sshKeys: ${JSON.stringify(k)} is neither a numeric key ID nor an MD5 fingerprint (aa:bb:…, 16 pairs)`,
          );
      }
  }
  if (d.userData !== undefined) {
    if (!nonEmpty(d.userData)) out.push('userData: must be a non-empty string when set (the provider rejects "")');
    else if (userDataBytes(d.userData) > DROPLET.userDataMaxBytes)
      out.push(
        `userData: ${userDataBytes(d.userData)} bytes exceeds the API limit of ${DROPLET.userDataMaxBytes} bytes (64 KiB)`,
      );
  }
  const bp = d.backupPolicy;
  if (bp !== undefined) {
    if (d.backups !== true) out.push("backupPolicy: can only be set when backups is true");
    oneOf("backupPolicy.plan", bp.plan, DROPLET.backupPolicy.plans, out);
    if (bp.weekday !== undefined || bp.plan === "weekly")
      oneOf("backupPolicy.weekday", bp.weekday, DROPLET.backupPolicy.weekdays, out);
    if (bp.hour !== undefined && !(isInt(bp.hour) && isValidBackupHour(bp.hour))) {
      out.push(
        `backupPolicy.hour: ${JSON.stringify(bp.hour)} is not allowed; allowed: ${list(DROPLET.backupPolicy.hours)} (a number, not a string)`,
      );
    }
  }
  checkTags("tags", d.tags, out);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Volume and VolumeAttachment
// ---------------------------------------------------------------------------------------------------------------

export const VOLUME = {
  source: `${TF} digitalocean/volume/resource_volume.go@0882a65278efb4f9c5a5520239e1f489e69684e8`,
  // The provider only rejects "" (NoZeroValues). The API: "Must be lowercase and be composed only of numbers,
  // letters and "-", up to a limit of 64 characters. The name must begin with a letter."
  // (API volumes/models/volume_base.yml@06300ff3). Pulumi's auto-name keeps the logical name: keep it lowercase.
  namePattern: /^[a-z][a-z0-9-]*$/,
  nameMaxLength: 64,
  // size: TypeInt, IntAtLeast(1), a number input (SDK). Only grows: CustomizeDiff errors on a smaller size.
  // Upper bound 16 TiB per DO docs: unconfirmed in a stored source.
  minSizeGiB: 1,
  maxSizeGiB: 16 * 1024,
  initialFilesystemTypes: ["ext4", "xfs"] as const,
  // Renaming a volume replaces it (and with it its data); so does changing description.
  forceNew: ["region", "name", "description", "snapshotId", "initialFilesystemType", "initialFilesystemLabel"] as const,
  urnOutput: "volumeUrn",
} as const;

export const VOLUME_ATTACHMENT = {
  source: `${TF} digitalocean/volume/resource_volume_attachment.go@048bf8400878e2a0de8e433672cb08eadf273cd0`,
  // droplet_id is TypeInt: `dropletId: pulumi.Input<number>` while `droplet.id` is a string: convert with Number().
  numberInputs: ["dropletId"] as const,
  stringInputs: ["volumeId"] as const,
  // No Update at all: a new droplet means a new attachment (detach old, attach new; needs deleteBeforeReplace).
  forceNew: ["dropletId", "volumeId"] as const,
} as const;

export function isValidVolumeName(name: string): boolean {
  return name.length <= VOLUME.nameMaxLength && VOLUME.namePattern.test(name);
}

export function isValidVolumeSize(sizeGiB: number): boolean {
  return inRange(sizeGiB, VOLUME.minSizeGiB, VOLUME.maxSizeGiB);
}

/** Problems with resizing a volume from `oldGiB` to `newGiB` (the provider refuses shrinking). */
export function checkVolumeResize(oldGiB: number, newGiB: number): string[] {
  const out: string[] = [];
  if (!isValidVolumeSize(newGiB))
    out.push(`size: ${newGiB} must be an integer from ${VOLUME.minSizeGiB} to ${VOLUME.maxSizeGiB} GiB`);
  if (newGiB < oldGiB) out.push(`size: volumes can only grow (${oldGiB} -> ${newGiB} GiB is refused by the provider)`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Droplet autoscale pool
// ---------------------------------------------------------------------------------------------------------------

export const DROPLET_AUTOSCALE = {
  source: `${TF} digitalocean/dropletautoscale/resource_droplet_autoscale.go@336aca9ff23ee8c182bf2c0437924ac5f9708ec0`,
  // config: min_instances, max_instances, cooldown_minutes, target_number_instances: ints, NoZeroValues.
  // target_cpu_utilization / target_memory_utilization: FloatBetween(0, 1): a FRACTION (0.7), not a percent (70).
  // target_number_instances cannot be combined with the others (SDK doc).
  utilizationRange: [0, 1] as const,
  // droplet_template: size, region, image required strings; ssh_keys a required set of strings.
  forceNew: [] as const,
} as const;

export function checkDropletAutoscaleConfig(c: {
  minInstances?: unknown;
  maxInstances?: unknown;
  cooldownMinutes?: unknown;
  targetNumberInstances?: unknown;
  targetCpuUtilization?: unknown;
  targetMemoryUtilization?: unknown;
}): string[] {
  const out: string[] = [];
  const positive = ["minInstances", "maxInstances", "cooldownMinutes", "targetNumberInstances"] as const;
  for (const f of positive)
    if (c[f] !== undefined && !(isInt(c[f]) && (c[f] as number) >= 1))
      out.push(`config.${f}: ${JSON.stringify(c[f])} must be an integer >= 1`);
  const [lo, hi] = DROPLET_AUTOSCALE.utilizationRange;
  for (const f of ["targetCpuUtilization", "targetMemoryUtilization"] as const) {
    const v = c[f];
    if (v !== undefined && !(typeof v === "number" && v >= lo && v <= hi))
      out.push(`config.${f}: ${JSON.stringify(v)} must be a fraction from 0 to 1 (0.7 means 70 %)`);
  }
  const dynamic =
    positive.filter((f) => f !== "targetNumberInstances" && f !== "cooldownMinutes").some((f) => c[f] !== undefined) ||
    c.targetCpuUtilization !== undefined ||
    c.targetMemoryUtilization !== undefined;
  if (c.targetNumberInstances !== undefined && dynamic)
    out.push("config.targetNumberInstances: cannot be combined with min/max instances or utilization targets");
  if (c.targetNumberInstances === undefined) {
    if (c.minInstances === undefined || c.maxInstances === undefined)
      out.push("config: set targetNumberInstances, or both minInstances and maxInstances");
    else if (isInt(c.minInstances) && isInt(c.maxInstances) && c.minInstances > c.maxInstances)
      out.push(`config.minInstances: ${c.minInstances} is above maxInstances ${c.maxInstances}`);
    if (c.targetCpuUtilization === undefined && c.targetMemoryUtilization === undefined)
      out.push("config: a dynamic pool needs targetCpuUtilization or targetMemoryUtilization");
  }
  return out;
}
