/**
 * The data volume's guard on a single-droplet server: no container starts unless the block-storage volume is mounted
 * and carries the marker the config sync writes on it (scripts/droplet/volume-guard.sh says why and how).
 *
 *   - docker.service waits for the volume's mount unit and fails without it (`RequiresMountsFor=`): the fstab entry is
 *     `nofail`, so boot does not wait, and dockerd would otherwise start every `restart: unless-stopped` container on
 *     the root disk's empty directories;
 *   - docker.service runs the guard's check first (`ExecStartPre=`): mounted, and the marker is there;
 *   - the config sync runs the guard before installing anything (marking a fresh volume) and again before
 *     `docker compose up`.
 *
 * Synced with the config, not in the user data: adding or changing it never replaces a droplet.
 */
import { DAY2_BIN_DIR } from "./day2";
import { dropletScript } from "./droplet-scripts";
import { LAYOUT } from "./layout";

/** The guard on the droplet (apply-config.sh runs the staged copy at the same path under root/). */
export const VOLUME_GUARD = `${DAY2_BIN_DIR}/volume-guard.sh`;
/** The marker file on the volume. */
export const VOLUME_MARKER = `${LAYOUT.dataDir}/.chatbot-volume`;
export const DOCKER_DROP_IN = "/etc/systemd/system/docker.service.d/chatbot-volume.conf";

export function renderDockerDropIn(): string {
  return [
    "# Rendered by infra/render/volume-guard.ts. Do not edit on the droplet: `pulumi up` overwrites it.",
    "# dockerd starts the containers as soon as it runs: never before the data volume is mounted and marked.",
    "[Unit]",
    `RequiresMountsFor=${LAYOUT.dataDir}`,
    "",
    "[Service]",
    `ExecStartPre=${VOLUME_GUARD} check`,
    "",
  ].join("\n");
}

export function renderVolumeGuardFiles(): { path: string; content: string; mode: "0644" | "0755" }[] {
  return [
    { path: VOLUME_GUARD, content: dropletScript("volume-guard.sh"), mode: "0755" },
    { path: DOCKER_DROP_IN, content: renderDockerDropIn(), mode: "0644" },
  ];
}
