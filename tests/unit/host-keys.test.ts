/**
 * Pinned host keys as plain values: the connection's `hostKey` form (checked against OpenSSH's own parser), the
 * known_hosts line, the rendered user data of a pinned server (through `cloud-init schema`), ssh's refusal messages,
 * and which servers the plan pins (new ones) and which it leaves as they are (recorded without the flag).
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { type DeploymentRecord, firstServerNames, readDeployed } from "../../infra/deployed";
import {
  HostKeyFormatError,
  hostKeyMismatchMessage,
  isHostKeyRejection,
  knownHostsLine,
  pinnedHostKey,
  pinnedSshOptions,
  unpinnedHostKeyWarning,
} from "../../infra/host-keys";
import { hostKeyAlias } from "../../infra/migration/host-key-check";
import { planStack } from "../../infra/plan";
import { renderAppNodeCloudInit } from "../../infra/render/app-node";
import { HOST_KEY_SSHD_DROPIN, type HostKeyPair, renderCloudInit } from "../../infra/render/cloud-init";
import { sampleConfig } from "../support/sample-config";

const temp: string[] = [];
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "host-keys-"));
  temp.push(d);
  return d;
};

/** A real ED25519 key pair made by OpenSSH's ssh-keygen: what the tls provider's outputs look like. */
function sshKeygen(type = "ed25519"): { privateKeyOpenssh: string; publicKeyOpenssh: string; file: string } {
  const file = join(tempDir(), "key");
  const r = spawnSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "comment@host", "-f", file], {
    encoding: "utf8",
  });
  expect(r.status, r.stderr).toBe(0);
  return { privateKeyOpenssh: readFileSync(file, "utf8"), publicKeyOpenssh: readFileSync(`${file}.pub`, "utf8"), file };
}

describe("the pinned host key's form (the @pulumi/command connection's hostKey, a known_hosts key)", () => {
  it("is `ssh-ed25519 <base64>` without comment or newline, and OpenSSH's parser reads it as the same key", () => {
    const key = sshKeygen();
    const pinned = pinnedHostKey(key.publicKeyOpenssh);
    const [type, b64] = key.publicKeyOpenssh.trim().split(" ");
    expect(pinned).toBe(`${type} ${b64}`);
    expect(pinned).toMatch(/^ssh-ed25519 [A-Za-z0-9+/]+={0,2}$/);
    // ssh-keygen -l reads authorized_keys lines: the pinned form has the fingerprint of the generated key.
    const file = join(tempDir(), "pinned.pub");
    writeFileSync(file, `${pinned}\n`);
    const fp = (f: string) => spawnSync("ssh-keygen", ["-l", "-f", f], { encoding: "utf8" }).stdout.split(" ")[1];
    expect(fp(file)).toMatch(/^SHA256:/);
    expect(fp(file)).toBe(fp(`${key.file}.pub`));
  });

  it.each([
    ["another type", () => sshKeygen("ecdsa").publicKeyOpenssh, /must be ssh-ed25519, got ecdsa-sha2-nistp256/],
    ["one field", () => "ssh-ed25519", /got 1 field/],
    ["not base64", () => "ssh-ed25519 !!!!", /not base64/],
    [
      "a blob of another type under the ed25519 name",
      () => `ssh-ed25519 ${sshKeygen("ecdsa").publicKeyOpenssh.split(" ")[1]}`,
      /not an ssh-ed25519 public key blob/,
    ],
    [
      "a truncated key",
      () => `ssh-ed25519 ${sshKeygen().publicKeyOpenssh.split(" ")[1]!.slice(0, 40)}`,
      /not base64|not an ssh-ed25519/,
    ],
  ])("refuses %s", (_what, key, message) => {
    expect(() => pinnedHostKey(key())).toThrow(HostKeyFormatError);
    expect(() => pinnedHostKey(key())).toThrow(message);
  });

  it("a known_hosts line under an alias, and the ssh options that accept only it", () => {
    const pinned = pinnedHostKey(sshKeygen().publicKeyOpenssh);
    expect(knownHostsLine("new-droplet.203.0.113.11", pinned)).toBe(`new-droplet.203.0.113.11 ${pinned}`);
    expect(() => knownHostsLine("a b", pinned)).toThrow(/alias/);
    expect(pinnedSshOptions("new-droplet.203.0.113.11", "/tmp/kh")).toEqual([
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      "UserKnownHostsFile=/tmp/kh",
      "-o",
      "GlobalKnownHostsFile=/dev/null",
      "-o",
      "HostKeyAlias=new-droplet.203.0.113.11",
      "-o",
      "HostKeyAlgorithms=ssh-ed25519",
      "-o",
      "UpdateHostKeys=no",
    ]);
    expect(hostKeyAlias("new", { ssh: "root@[2001:db8::1]" })).toBe("new-droplet.2001_db8__1");
  });

  it("recognises ssh's refusals of a host key, and nothing else", () => {
    // OpenSSH 9's messages for a changed key, and for a host offering no key of the pinned type.
    expect(
      isHostKeyRejection(
        "@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n...\nHost key verification failed.\n",
      ),
    ).toBe(true);
    expect(
      isHostKeyRejection(
        "Unable to negotiate with 203.0.113.11 port 22: no matching host key type found. Their offer: rsa-sha2-512\n",
      ),
    ).toBe(true);
    expect(isHostKeyRejection("root@203.0.113.11: Permission denied (publickey).\n")).toBe(false);
    expect(isHostKeyRejection("ssh: connect to host 203.0.113.11 port 22: Connection refused\n")).toBe(false);
  });

  it("the mismatch message names the server and what to check; the warning says how to get a server pinned", () => {
    const m = hostKeyMismatchMessage(
      "the new droplet root@203.0.113.11",
      "root@203.0.113.11",
      "new-droplet.203.0.113.11",
    );
    expect(m).toMatch(/^HOST KEY MISMATCH: the new droplet root@203\.0\.113\.11 /);
    expect(m).toContain("Nothing was changed on either droplet");
    expect(m).toContain("ssh-keyscan -t ed25519 203.0.113.11");
    expect(m).toContain("pulumi stack output servers");
    expect(unpinnedHostKeyWarning("app-8gb (chatbot-prod-8gb)")).toMatch(
      /^app-8gb \(chatbot-prod-8gb\): its SSH host key is not pinned .* the next tier migration .* creates one whose host key the stack generates and pins\.$/,
    );
  });
});

// A single droplet's and a scale-out app droplet's user data take the key the same way (render/cloud-init.ts).
const USER_DATA: [string, (hostKey?: HostKeyPair) => string][] = [
  [
    "a pinned server's",
    (hostKey) => renderCloudInit({ volumeName: "chatbot-prod-16gb-data-g2", swapMiB: 2048, hostKey }),
  ],
  ["a pinned scale-out app droplet's", (hostKey) => renderAppNodeCloudInit({ swapMiB: 1024, hostKey })],
];

describe.each(USER_DATA)("%s user data", (_what, render) => {
  const key = sshKeygen();
  const { privateKeyOpenssh, publicKeyOpenssh } = key;
  const pinned = render({ privateKeyOpenssh, publicKeyOpenssh });

  it("holds the host key for cloud-init, deletes the image's keys, generates no other, and sshd offers only it", () => {
    const doc = parse(pinned) as Record<string, unknown> & { write_files: { path: string; content: string }[] };
    expect(doc.ssh_deletekeys).toBe(true);
    expect(doc.ssh_genkeytypes).toEqual(["ed25519"]);
    expect(doc.ssh_keys).toEqual({ ed25519_private: privateKeyOpenssh, ed25519_public: publicKeyOpenssh.trim() });
    expect(pinned).toContain(pinnedHostKey(key.publicKeyOpenssh));
    expect(doc.write_files.find((f) => f.path === HOST_KEY_SSHD_DROPIN)?.content).toBe(
      "HostKey /etc/ssh/ssh_host_ed25519_key\n",
    );
  });

  it("passes `cloud-init schema`", () => {
    const file = join(tempDir(), "user-data.yaml");
    writeFileSync(file, pinned);
    const r = spawnSync("cloud-init", ["schema", "--config-file", file], { encoding: "utf8" });
    expect(`${r.stdout}${r.stderr}`).toMatch(/Valid cloud-config/);
    expect(r.status).toBe(0);
  });

  it("without a host key the user data is what it always was (no ssh_keys, no drop-in)", () => {
    const plain = render();
    expect(plain).not.toMatch(/ssh_keys|ssh_deletekeys|ssh_genkeytypes|sshd_config/);
    expect(pinned.startsWith(plain.slice(0, plain.indexOf("ssh_pwauth")))).toBe(true);
  });
});

describe("which servers the plan pins", () => {
  const config = sampleConfig({ tier: "8gb" });
  const prefix = `${config.project}-${config.stack}`;
  const record = (serving: DeploymentRecord["serving"]): DeploymentRecord => ({
    version: 1,
    tier: "8gb",
    region: config.region,
    volumeSizeGiB: config.volumeSizeGiB,
    dnsTtlSeconds: config.dnsTtlSeconds,
    generation: 1,
    serving,
  });

  it("a new stack's server is created pinned, and the record it leaves says so", () => {
    const plan = planStack(config);
    expect(plan.active?.pinHostKey).toBe(true);
    expect(plan.active?.record.hostKey).toBe("pinned");
  });

  it("a server recorded without the flag (deployed before) stays unpinned with the same user data", () => {
    const legacy = record(firstServerNames(prefix, "8gb"));
    const plan = planStack(config, legacy);
    expect(plan.active?.pinHostKey).toBe(false);
    expect(plan.active?.record.hostKey).toBeUndefined();
    expect(plan.active?.userData).toBe(planStack(config).active?.userData); // the render without a key is unchanged
  });

  it("a tier migration's target is pinned; the server migrated from keeps what it was", () => {
    const legacy = record(firstServerNames(prefix, "8gb"));
    const up = planStack(sampleConfig({ tier: "16gb" }), legacy);
    expect(up.active?.pinHostKey).toBe(true);
    expect(up.previous?.pinHostKey).toBe(false);
  });

  it("the record reads the flag back, and a record without it (any stack deployed before) still reads", () => {
    const pinned = { ...record({ ...firstServerNames(prefix, "8gb"), hostKey: "pinned" }) };
    expect(readDeployed({ deployment: pinned }, prefix)?.serving?.hostKey).toBe("pinned");
    expect(
      readDeployed({ deployment: record(firstServerNames(prefix, "8gb")) }, prefix)?.serving?.hostKey,
    ).toBeUndefined();
    expect(() =>
      readDeployed({ deployment: record({ ...firstServerNames(prefix, "8gb"), hostKey: "yes" as "pinned" }) }, prefix),
    ).toThrow(/serving\.hostKey/);
  });
});
