/**
 * Retained volumes leave the stack's record once they are gone at DigitalOcean: the record's filter with a stand-in
 * lookup, and the lookup itself (the provider's getVolume under mocks) telling "no volumes found" from other errors.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import type { DeploymentRecord, RetainedVolume } from "../../infra/deployed";
import type { VolumeLookup } from "../../infra/stack-outputs";

const calls: { token: string; inputs: Record<string, unknown> }[] = [];
// The provider's answers by volume name: an id, or the error it raises (the engine passes a failed invoke's gRPC
// `details` on as the message: @pulumi/pulumi runtime/invoke.ts).
const failure = (details: string) => Object.assign(new Error(details), { details });
const AT_DO: Record<string, { id: string } | Error> = {
  "chatbot-prod-8gb-data": { id: "vol-8" },
  "chatbot-prod-4gb-data": failure(
    "invoke of digitalocean:index/getVolume:getVolume failed: no volumes found with name chatbot-prod-4gb-data",
  ),
  "chatbot-prod-2gb-data": failure(
    "invoke of digitalocean:index/getVolume:getVolume failed: GET https://api.digitalocean.com/v2/volumes: 401 Unable to authenticate you",
  ),
};
const mocksReady = pulumi.runtime.setMocks(
  {
    newResource: (args) => ({ id: `${args.name}-id`, state: args.inputs }),
    call(args) {
      calls.push({ token: args.token, inputs: args.inputs });
      const answer = AT_DO[String(args.inputs.name)];
      if (answer instanceof Error) throw answer;
      return { ...args.inputs, ...answer };
    },
  },
  "chatbot",
  "prod",
  false,
);

let lookup: VolumeLookup;
let filter: typeof import("../../infra/stack-outputs").withExistingRetainedVolumes;
beforeAll(async () => {
  await mocksReady;
  lookup = (await import("../../infra/exports")).volumeAtDigitalOcean;
  filter = (await import("../../infra/stack-outputs")).withExistingRetainedVolumes;
});

const volume = (tier: "4gb" | "8gb", volumeId?: string): RetainedVolume => ({
  key: `app-${tier}`,
  tier,
  volumeName: `chatbot-prod-${tier}-data`,
  ...(volumeId ? { volumeId } : {}),
  sizeGiB: 100,
  region: "nyc3",
  droppedAt: "2026-12-01T00:00:00Z",
});
const record = (retainedVolumes?: RetainedVolume[]): DeploymentRecord => ({
  version: 1,
  tier: "16gb",
  region: "nyc3",
  volumeSizeGiB: 100,
  dnsTtlSeconds: 300,
  generation: 3,
  ...(retainedVolumes ? { retainedVolumes } : {}),
});

describe("the lookup (getVolume)", () => {
  it("answers the id of a volume that exists, undefined for one that is gone, by name and region", async () => {
    expect(await lookup("chatbot-prod-8gb-data", "nyc3")).toEqual({ id: "vol-8" });
    expect(await lookup("chatbot-prod-4gb-data", "nyc3")).toBeUndefined();
    expect(calls[0]).toEqual({
      token: "digitalocean:index/getVolume:getVolume",
      inputs: { name: "chatbot-prod-8gb-data", region: "nyc3" },
    });
  });

  it("any other error fails (a volume that may still bill is not forgotten)", async () => {
    await expect(lookup("chatbot-prod-2gb-data", "nyc3")).rejects.toThrow(/401 Unable to authenticate/);
  });
});

describe("the record's retained volumes", () => {
  it("keeps those that exist (with their id), drops those that are gone", async () => {
    const r = await filter(record([volume("4gb", "vol-4"), volume("8gb")]), lookup);
    expect(r.retainedVolumes).toEqual([{ ...volume("8gb"), volumeId: "vol-8" }]);
    const none = await filter(record([volume("4gb", "vol-4")]), lookup);
    expect(none).toEqual(record());
    expect("retainedVolumes" in none).toBe(false);
  });

  it("a record without retained volumes is left as it is, and asks DigitalOcean nothing", async () => {
    const before = calls.length;
    expect(await filter(record(), lookup)).toEqual(record());
    expect(calls.length).toBe(before);
  });
});
