/**
 * The droplet's user data. It holds only what needs a new machine: packages, kernel settings Redis needs, swap,
 * log rotation, the volume's mount point and the private address for compose. No tuning, no image, no secret:
 * those are synced onto the running droplet (infra/render/sync.ts), so changing them never replaces the droplet.
 * Any change to this output replaces the droplet (DigitalOcean treats user_data as ForceNew).
 *
 * One exception to "no secret": a server created with a pinned host key (infra/deployed.ts `hostKey: "pinned"`)
 * gets its SSH host key here, the private half included, so that the stack knows the droplet's host key before the
 * first connection. The droplet's `userData` is then a Pulumi secret (infra/components/app-server.ts). Servers
 * without the flag render byte-identically to the version before it.
 */
import { stringify } from "yaml";
import { LAYOUT, volumeDevice } from "./layout";

export interface CloudInitInput {
  volumeName: string;
  swapMiB: number;
  /** The droplet's SSH host key (OpenSSH formats); absent: cloud-init generates host keys as it always did. */
  hostKey?: HostKeyPair;
}

/** An ED25519 host key in OpenSSH formats: `-----BEGIN OPENSSH PRIVATE KEY-----...` and `ssh-ed25519 AAAA...`. */
export interface HostKeyPair {
  privateKeyOpenssh: string;
  publicKeyOpenssh: string;
}

/** sshd offers only the pinned key, whatever else may appear in /etc/ssh (Ubuntu's sshd_config includes this dir first). */
export const HOST_KEY_SSHD_DROPIN = "/etc/ssh/sshd_config.d/10-chatbot-host-key.conf";

/** The write_files entry of HOST_KEY_SSHD_DROPIN. */
export const HOST_KEY_SSHD_FILE = {
  path: HOST_KEY_SSHD_DROPIN,
  permissions: "0644",
  content: "HostKey /etc/ssh/ssh_host_ed25519_key\n",
} as const;

/**
 * cloud-init's cc_ssh: `ssh_deletekeys` removes every /etc/ssh/ssh_host_*key* of the image; with `ssh_keys` present
 * it writes exactly those keys and generates none (`ssh_genkeytypes` is read only without `ssh_keys`; it is set to
 * ed25519 alone anyway). Source: cloud-init `cloudinit/config/cc_ssh.py` (handle) and its schema
 * (`^(dsa|ecdsa|ed25519|rsa)_(public|private|certificate)$`), checked with cloud-init 22.4.2 here.
 */
export function hostKeyConfig(key: HostKeyPair) {
  return {
    ssh_deletekeys: true,
    ssh_genkeytypes: ["ed25519"],
    ssh_keys: { ed25519_private: key.privateKeyOpenssh, ed25519_public: key.publicKeyOpenssh.trim() },
  };
}

const THP_UNIT = `[Unit]
Description=Disable transparent huge pages (Redis latency and fork memory)
DefaultDependencies=no
After=sysinit.target local-fs.target
Before=docker.service

[Service]
Type=oneshot
ExecStart=/bin/sh -c 'echo never > /sys/kernel/mm/transparent_hugepage/enabled && echo never > /sys/kernel/mm/transparent_hugepage/defrag'

[Install]
WantedBy=basic.target
`;

const PRIVATE_IP_SCRIPT = `#!/bin/sh
# Writes the droplet's VPC address for docker compose (ports of PostgreSQL and Redis are published on it only).
set -eu
ip=$(curl -fsS http://169.254.169.254/metadata/v1/interfaces/private/0/ipv4/address)
printf 'COMPOSE_PROJECT_NAME=${LAYOUT.composeProject}\\nCHATBOT_PRIVATE_IP=%s\\n' "$ip" > ${LAYOUT.configDir}/.env
`;

export function renderCloudInit(input: CloudInitInput): string {
  const doc = {
    package_update: true,
    package_upgrade: false,
    packages: ["docker.io", "docker-compose-v2", "postgresql-client", "redis-tools", "jq", "curl"],
    ssh_pwauth: false,
    ...(input.hostKey ? hostKeyConfig(input.hostKey) : {}),
    swap: { filename: "/swapfile", size: input.swapMiB * 1024 * 1024, maxsize: input.swapMiB * 1024 * 1024 },
    mounts: [
      [
        volumeDevice(input.volumeName),
        LAYOUT.dataDir,
        "ext4",
        "defaults,nofail,discard,noatime,x-systemd.device-timeout=60s",
        "0",
        "2",
      ],
    ],
    write_files: [
      {
        path: "/etc/sysctl.d/60-chatbot.conf",
        permissions: "0644",
        content: "vm.overcommit_memory = 1\nvm.swappiness = 10\nnet.core.somaxconn = 1024\n",
      },
      { path: "/etc/systemd/system/disable-thp.service", permissions: "0644", content: THP_UNIT },
      {
        path: "/etc/docker/daemon.json",
        permissions: "0644",
        content:
          JSON.stringify({ "log-driver": "json-file", "log-opts": { "max-size": "10m", "max-file": "5" } }, null, 2) +
          "\n",
      },
      {
        path: "/etc/logrotate.d/chatbot",
        permissions: "0644",
        content: `${LAYOUT.dataDir}/log/*.log {\n  weekly\n  rotate 8\n  compress\n  missingok\n  notifempty\n  copytruncate\n}\n`,
      },
      { path: "/usr/local/sbin/chatbot-private-ip", permissions: "0755", content: PRIVATE_IP_SCRIPT },
      ...(input.hostKey ? [HOST_KEY_SSHD_FILE] : []),
    ],
    runcmd: [
      ["sysctl", "--system"],
      ["systemctl", "daemon-reload"],
      ["systemctl", "enable", "--now", "disable-thp.service"],
      ["mkdir", "-p", LAYOUT.configDir, LAYOUT.dataDir],
      ["chmod", "0750", LAYOUT.configDir],
      ["/usr/local/sbin/chatbot-private-ip"],
      ["systemctl", "enable", "--now", "docker"],
    ],
  };
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}
