/**
 * Mocks accept anything. Every input the program registers is checked here against what the DigitalOcean provider
 * really validates: infra/provider-rules/ encodes those rules, each citing the provider source file it comes from
 * (digitalocean/terraform-provider-digitalocean and the pulumi-digitalocean SDK types).
 */
import { beforeAll, describe, expect, it } from "vitest";
import { type OfflineRun, revealSecrets } from "../../infra/offline/run";
import {
  checkDnsRecord,
  checkDroplet,
  checkFirewall,
  checkInputTypes,
  checkProject,
  checkVpcIpRange,
  isValidBackupHour,
  isValidTagName,
  isValidVolumeName,
  isValidVolumeSize,
  replacingChanges,
} from "../../infra/provider-rules";
import { all, find, runStack, T } from "./run-stack";

const runs: Record<string, OfflineRun> = {};

beforeAll(async () => {
  runs.dev = await runStack("dev");
  runs.prod = await runStack("prod");
  runs.big = await runStack("prod", {
    "chatbot:tier": "16gb",
    "chatbot:vpcIpRange": "10.20.0.0/20",
    "chatbot:backups": "weekly",
  });
});

describe.each(["dev", "prod", "big"])("provider compatibility of the %s stack", (name) => {
  const run = () => runs[name]!;

  it("passes every input of the right type (numbers where the provider wants numbers)", () => {
    const problems = run().resources.flatMap((r) => checkInputTypes(r.type, r.inputs));
    expect(problems).toEqual([]);
  });

  it("uses droplet sizes, images, regions, backup policies and names the provider accepts", () => {
    for (const d of all(run(), T.droplet)) {
      // A pinned server's userData is a secret (it holds the host key): the provider gets, and the rule checks, its text.
      expect(checkDroplet(revealSecrets(d.inputs) as Parameters<typeof checkDroplet>[0])).toEqual([]);
      const policy = d.inputs.backupPolicy as { hour?: number } | undefined;
      if (policy?.hour !== undefined) expect(isValidBackupHour(policy.hour)).toBe(true);
    }
  });

  it("uses firewall protocols, port ranges and sources the provider accepts", () => {
    expect(checkFirewall(find(run(), T.firewall).inputs as Parameters<typeof checkFirewall>[0])).toEqual([]);
  });

  it("names volumes and tags as the provider requires, with a size it accepts", () => {
    for (const v of all(run(), T.volume)) {
      expect(isValidVolumeName(String(v.inputs.name))).toBe(true);
      expect(isValidVolumeSize(Number(v.inputs.size))).toBe(true);
    }
    expect(isValidTagName(String(find(run(), T.tag).inputs.name))).toBe(true);
  });

  it("uses DNS record fields and project enums the provider accepts", () => {
    expect(checkDnsRecord(find(run(), T.record).inputs as Parameters<typeof checkDnsRecord>[0])).toEqual([]);
    expect(checkProject(find(run(), T.project).inputs as Parameters<typeof checkProject>[0])).toEqual([]);
    const range = find(run(), T.vpc).inputs.ipRange;
    if (typeof range === "string") expect(checkVpcIpRange(range)).toEqual([]);
  });
});

describe("the checks themselves can fail", () => {
  it("reports a droplet id passed as a string", () => {
    const att = find(runs.dev!, T.attachment);
    expect(checkInputTypes(att.type, { ...att.inputs, dropletId: "123" })).toEqual([
      expect.stringMatching(/dropletId: must be a number/),
    ]);
  });

  it("reports a firewall protocol the provider refuses, and a project environment it does not know", () => {
    const fw = find(runs.dev!, T.firewall).inputs as Record<string, unknown>;
    expect(
      checkFirewall({
        ...fw,
        inboundRules: [{ protocol: "https", portRange: "443", sourceAddresses: ["0.0.0.0/0"] }],
      } as Parameters<typeof checkFirewall>[0]),
    ).not.toEqual([]);
    expect(checkProject({ ...find(runs.dev!, T.project).inputs, environment: "prod" })).not.toEqual([]);
  });
});

describe("which changes replace the droplet", () => {
  it("a tuning or image change leaves every replacing input of the droplet alone", async () => {
    const changed = await runStack("dev", {
      "chatbot:appImage": "ghcr.io/example/chatbot:9.9.9",
      "chatbot:dbPoolSize": "20",
    });
    expect(replacingChanges(T.droplet, find(runs.dev!, T.droplet).inputs, find(changed, T.droplet).inputs)).toEqual([]);
  });

  it("an SSH key change does replace it (a caution docs/configuration.md repeats)", async () => {
    const changed = await runStack("dev", { "chatbot:sshKeys": '["87654321"]' });
    expect(replacingChanges(T.droplet, find(runs.dev!, T.droplet).inputs, find(changed, T.droplet).inputs)).toEqual([
      "sshKeys",
    ]);
  });
});
