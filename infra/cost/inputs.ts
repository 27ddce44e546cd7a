/**
 * Readers of resource inputs as Pulumi's JSON gives them (unknown until apply, secret, numbers as strings) and the
 * DigitalOcean type tokens the cost looks at. Shared by the pricing of resources, the diff of two resource sets and
 * the pricing of a change; imports nothing of theirs.
 */
import { SECRET_VALUE } from "../resource-shapes";

/** Pulumi's unknown-value sentinel (pulumi/pulumi `sdk/go/common/resource/plugin/rpc.go`, UnknownStringValue). */
export const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

export const TYPES = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  volumeSnapshot: "digitalocean:index/volumeSnapshot:VolumeSnapshot",
  reservedIp: "digitalocean:index/reservedIp:ReservedIp",
  reservedIpAssignment: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  loadBalancer: "digitalocean:index/loadBalancer:LoadBalancer",
  databaseCluster: "digitalocean:index/databaseCluster:DatabaseCluster",
  dropletAutoscale: "digitalocean:index/dropletAutoscale:DropletAutoscale",
  uptimeCheck: "digitalocean:index/uptimeCheck:UptimeCheck",
} as const;

/**
 * Droplet inputs whose change replaces the droplet (new disk); `size` resizes it in place with a power-off.
 * See /work/shared/GUIDE.md, "Facts we rely on".
 */
export const DROPLET_REPLACE_INPUTS = [
  "userData",
  "image",
  "region",
  "sshKeys",
  "vpcUuid",
  "monitoring",
  "dropletAgent",
];

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Why a value cannot be read: unknown until apply, or secret. undefined when it can. */
export function unreadable(value: unknown): string | undefined {
  if (value === UNKNOWN_VALUE) return "unknown until apply";
  if (value === SECRET_VALUE) return "secret";
  return undefined;
}

export function readNumber(value: unknown): number | undefined {
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && value.trim() !== "" && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}
