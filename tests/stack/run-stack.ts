/** Runs the real program under mocks for a stack of this repository, with config overrides; or `npm run plan`. */
import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { type OfflineRun, type Program, type RecordedResource, runOffline } from "../../infra/offline/run";

export const ROOT = resolve(__dirname, "..", "..");

export async function runStack(
  stack: string,
  overrides: Record<string, string | undefined> = {},
  secretOverrides: string[] = [],
): Promise<OfflineRun> {
  const mod = (await import("../../infra/index")) as unknown as { default?: Program } & Program;
  const program = mod.default ?? mod;
  return runOffline({ projectDir: ROOT, stack, program, overrides, secretOverrides });
}

/** `npm run plan -- <args>` as users run it: a child process, offline, with no passphrase. */
export function planCli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "scripts", "plan.ts"), ...args], {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "" },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function find(run: OfflineRun, type: string, name?: string): RecordedResource {
  const r = run.resources.find((x) => x.type === type && (name === undefined || x.name === name));
  if (!r) throw new Error(`no ${type} ${name ?? ""} among ${run.resources.map((x) => x.name).join(", ")}`);
  return r;
}

export function all(run: OfflineRun, type: string): RecordedResource[] {
  return run.resources.filter((x) => x.type === type);
}

export const T = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  attachment: "digitalocean:index/volumeAttachment:VolumeAttachment",
  reservedIp: "digitalocean:index/reservedIp:ReservedIp",
  assignment: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  firewall: "digitalocean:index/firewall:Firewall",
  vpc: "digitalocean:index/vpc:Vpc",
  tag: "digitalocean:index/tag:Tag",
  domain: "digitalocean:index/domain:Domain",
  record: "digitalocean:index/dnsRecord:DnsRecord",
  project: "digitalocean:index/project:Project",
  command: "command:remote:Command",
  password: "random:index/randomPassword:RandomPassword",
  privateKey: "tls:index/privateKey:PrivateKey",
} as const;
