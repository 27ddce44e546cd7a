/**
 * infra/pulumi-config.ts reads the config through the SDK's public API only (`allConfig`, `getSecret`): secret keys are
 * secrets whatever the stack file holds, their values never reach planning, and a secret key the stack file holds in
 * plain text is refused with the command to run.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, describe, expect, it } from "vitest";
import { declaredSecretKeys, plainSecretsInStackFile, readProjectFile } from "../../infra/offline/stack-files";
import { readStackConfig } from "../../infra/pulumi-config";

const ROOT = join(__dirname, "..", "..");
const dir = mkdtempSync(join(tmpdir(), "pulumi-config-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const base = {
  "chatbot:domain": "chat.example.com",
  "chatbot:sshKeys": '["12345678"]',
  "chatbot:sshAllowedCidrs": '["203.0.113.0/28"]',
  "chatbot:appImage": "ghcr.io/acme/chatbot:1.4.2",
};

function stackFile(stack: string, lines: string[]) {
  writeFileSync(join(dir, "Pulumi.yaml"), "name: chatbot\nruntime: nodejs\n");
  writeFileSync(join(dir, `Pulumi.${stack}.yaml`), `${["config:", ...lines.map((l) => `  ${l}`)].join("\n")}\n`);
}

async function outputValue(
  o: pulumi.Output<string> | undefined,
): Promise<{ value: string | undefined; secret: boolean }> {
  if (!o) return { value: undefined, secret: false };
  const value = await new Promise<string>((resolve) => o.apply((v) => (resolve(v), v)));
  return { value, secret: await pulumi.isSecret(o) };
}

describe("readStackConfig", () => {
  it("reads a secret key encrypted in the stack file with getSecret: set, secret, and absent from the parsed config", async () => {
    stackFile("enc", ["chatbot:postgresPassword:", "    secure: v1:AAAA:BBBB"]);
    pulumi.runtime.setAllConfig({ ...base, "chatbot:postgresPassword": "decrypted-by-the-cli" });
    const source = readStackConfig(new pulumi.Config("chatbot"), { rootDirectory: dir, stack: "enc" });
    expect(source.config.secrets).toMatchObject({ postgresPassword: true, redisPassword: false });
    expect(JSON.stringify(source.config)).not.toContain("decrypted-by-the-cli");
    expect(await outputValue(source.secret("postgresPassword"))).toEqual({
      value: "decrypted-by-the-cli",
      secret: true,
    });
    expect(source.secret("redisPassword")).toBeUndefined();
  });

  it("refuses a secret key the stack file holds in plain text, naming the command to run", () => {
    stackFile("plain", ["chatbot:redisPassword: hunter2"]);
    pulumi.runtime.setAllConfig({ ...base, "chatbot:redisPassword": "hunter2" });
    expect(() => readStackConfig(new pulumi.Config("chatbot"), { rootDirectory: dir, stack: "plain" })).toThrow(
      /chatbot:redisPassword: is a secret: set it with `pulumi config set --secret redisPassword`/,
    );
  });

  it("checks the decrypted passwords: one that is shell code is refused naming the key, not the value", () => {
    stackFile("hostile", [
      "chatbot:redisPassword:",
      "    secure: v1:AAAA:BBBB",
      "chatbot:postgresPassword:",
      "    secure: v1:CCCC:DDDD",
    ]);
    pulumi.runtime.setAllConfig({
      ...base,
      "chatbot:redisPassword": "$(touch /tmp/somefile)",
      "chatbot:postgresPassword": "long-enough-and-plain",
    });
    let message = "";
    try {
      readStackConfig(new pulumi.Config("chatbot"), { rootDirectory: dir, stack: "hostile" });
    } catch (e) {
      message = (e as Error).message;
    }
    expect(message).toMatch(
      /^Invalid stack config \(1 problem\):\n {2}chatbot:redisPassword: must be at least 16 characters of A-Z a-z 0-9 .*; it holds "\$", " "$/,
    );
    expect(message).not.toContain("touch");
  });

  it("does not judge the offline plan's placeholder for a password it cannot decrypt", () => {
    stackFile("offline", ["chatbot:redisPassword:", "    secure: v1:AAAA:BBBB"]);
    pulumi.runtime.setAllConfig({ ...base, "chatbot:redisPassword": "[secret]" });
    expect(
      readStackConfig(new pulumi.Config("chatbot"), { rootDirectory: dir, stack: "offline" }).config.secrets
        .redisPassword,
    ).toBe(true);
  });

  it("treats a secret key with no stack file to judge by (config from an ESC environment, a test) as a secret", async () => {
    pulumi.runtime.setAllConfig({
      ...base,
      "chatbot:slackWebhookUrl": "https://hooks.slack.com/services/T/B/X",
      "chatbot:slackChannel": "#alerts",
    });
    const source = readStackConfig(new pulumi.Config("chatbot"), {
      rootDirectory: join(dir, "missing"),
      stack: "none",
    });
    expect(source.config.slackChannel).toBe("#alerts");
    expect((await outputValue(source.secret("slackWebhookUrl"))).secret).toBe(true);
  });
});

describe("readStackConfig: keys of other namespaces", () => {
  const read = (stack: string) => () => readStackConfig(new pulumi.Config("chatbot"), { rootDirectory: dir, stack });

  it("refuses a DigitalOcean token the stack file holds in plain text, and accepts it encrypted", () => {
    stackFile("do-plain", ["digitalocean:token: dop_v1_plain"]);
    pulumi.runtime.setAllConfig({ ...base, "digitalocean:token": "dop_v1_plain" });
    expect(read("do-plain")).toThrow(/digitalocean:token: is a credential in plain text/);
    stackFile("do-secure", ["digitalocean:token:", "    secure: v1:AAAA:BBBB"]);
    pulumi.runtime.setAllConfig({ ...base, "digitalocean:token": "dop_v1_decrypted" });
    expect(read("do-secure")).not.toThrow();
  });

  it("refuses a key of a misspelt namespace with a did-you-mean, wherever the config comes from", () => {
    pulumi.runtime.setAllConfig({ ...base, "chatbott:tier": "16gb" });
    expect(() =>
      readStackConfig(new pulumi.Config("chatbot"), { rootDirectory: join(dir, "missing"), stack: "none" }),
    ).toThrow(/chatbott:tier: unknown namespace "chatbott".*did you mean chatbot:tier\?/);
  });
});

describe("the stack files of this repository", () => {
  it("hold every secret key encrypted (prod's `secure:` placeholders)", () => {
    const secrets = declaredSecretKeys(readProjectFile(ROOT));
    for (const stack of ["dev", "prod", "scale"])
      expect(plainSecretsInStackFile(ROOT, stack, secrets), stack).toEqual([]);
  });

  it("a plain value is found (negative control)", () => {
    stackFile("ctl", ["chatbot:sshPrivateKey: not-encrypted"]);
    expect(plainSecretsInStackFile(dir, "ctl", ["sshPrivateKey", "redisPassword"])).toEqual(["sshPrivateKey"]);
  });
});
