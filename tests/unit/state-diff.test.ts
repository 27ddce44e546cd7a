/**
 * The offline preview against a deployed state, without the program: reading `pulumi stack export` files (the real
 * one in /work/shared/fixtures/pulumi-json and refusals), comparing inputs as the engine does (checked against the
 * decisions of real `pulumi preview` runs in fixtures 01-03), the provider's replace rules, deletes, aliases, the
 * data-loss check, and the export written for `--write-state`.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SECRET_SIG, SECRET_VALUE, wrapSecret } from "../../infra/offline/secret-values";
import {
  checkDataLoss,
  diffResource,
  flagWarnings,
  planOperations,
  type Registration,
} from "../../infra/offline/state-diff";
import {
  buildStateExport,
  checkStateIsFor,
  type DeployedResource,
  type DeployedState,
  parseStateExport,
  readStateFile,
  StateFileError,
} from "../../infra/offline/state-file";

const REAL = "/work/shared/fixtures/pulumi-json";
const readJson = (file: string) => JSON.parse(readFileSync(join(REAL, file), "utf8")) as Record<string, unknown>;
const encrypted = (ciphertext = "v1:abc:def") => ({ [SECRET_SIG]: SECRET_VALUE, ciphertext });

const T = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  assignment: "digitalocean:index/reservedIpAssignment:ReservedIpAssignment",
  record: "digitalocean:index/dnsRecord:DnsRecord",
  local: "command:local:Command",
  remote: "command:remote:Command",
  password: "random:index/randomPassword:RandomPassword",
} as const;

const urn = (type: string, name: string, parent = "") =>
  `urn:pulumi:dev::chatbot::${parent ? `${parent}$` : ""}${type}::${name}`;

function deployed(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  extra: Partial<DeployedResource> = {},
): DeployedResource {
  return {
    urn: urn(type, name),
    type,
    name,
    custom: true,
    id: `${name}-id`,
    inputs,
    outputs: inputs,
    protect: false,
    retainOnDelete: false,
    dependencies: [],
    external: false,
    ...extra,
  };
}

function registered(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
  extra: Partial<Registration> = {},
): Registration {
  const u = urn(type, name);
  return {
    urn: u,
    type,
    name,
    custom: true,
    id: `${name}-id`,
    inputs,
    outputs: inputs,
    protect: false,
    retainOnDelete: false,
    dependencies: [],
    replaceOnChanges: [],
    ignoreChanges: [],
    deployedUrn: u,
    ...extra,
  };
}

function stateOf(resources: DeployedResource[]): DeployedState {
  return { file: "state.json", project: "chatbot", stack: "dev", stackOutputs: {}, undecryptedOutputs: [], resources };
}

describe("reading a pulumi stack export", () => {
  it("reads the real export (fixture 05): resources without the Stack and the providers, stack and project from the URNs", () => {
    const s = parseStateExport(readJson("05-stratify-stack-export.json"), "05.json");
    expect(s).toMatchObject({ project: "sample", stack: "dev", stackOutputs: {}, undecryptedOutputs: [] });
    expect(s.resources).toHaveLength(15); // 17 minus the Stack and the aws provider
    expect(s.resources.some((r) => r.type === "pulumi:pulumi:Stack" || r.type.startsWith("pulumi:providers:"))).toBe(
      false,
    );
    expect(s.resources.find((r) => r.name === "docs")).toMatchObject({
      id: "docs-4936161",
      custom: true,
      protect: false,
      retainOnDelete: false,
    });
    expect(s.secretsProviders).toMatchObject({ type: "passphrase" });
  });

  it.each([
    [
      "version 2",
      { version: 2, deployment: { resources: [] } },
      /x\.json: deployment version 2; expected a `pulumi stack export` of deployment version 3/,
    ],
    ["no version", { deployment: { resources: [] } }, /x\.json: deployment version null; expected .*version 3/],
    [
      "a preview",
      readJson("01-stratify-preview-update.json"),
      /x\.json: this is a preview \(`pulumi preview --json`\), not a stack export/,
    ],
    [
      "a resource without a URN",
      { version: 3, deployment: { resources: [{ type: "a:b:C" }] } },
      /x\.json: not a valid stack export \(deployment\.resources\.0\.urn/,
    ],
  ])("refuses %s, naming the file and what is expected", (_label, value, message) => {
    expect(() => parseStateExport(value, "x.json")).toThrow(StateFileError);
    expect(() => parseStateExport(value, "x.json")).toThrow(message);
  });

  it("refuses a file that is missing or not JSON, naming it", () => {
    const dir = mkdtempSync(join(tmpdir(), "state-"));
    try {
      writeFileSync(join(dir, "bad.json"), "{not json");
      expect(() => readStateFile(join(dir, "bad.json"))).toThrow(/bad\.json: not JSON/);
      expect(() => readStateFile(join(dir, "none.json"))).toThrow(/none\.json: cannot read \(ENOENT\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses the export of another stack (its URNs would match nothing)", () => {
    const s = parseStateExport(readJson("05-stratify-stack-export.json"), "05.json");
    expect(() => checkStateIsFor(s, "chatbot", "dev")).toThrow(
      /05\.json: an export of stack dev of project sample; expected stack dev of project chatbot/,
    );
    expect(() => checkStateIsFor(s, "sample", "dev")).not.toThrow();
  });

  it("leaves encrypted stack outputs out (named), decodes plaintext ones", () => {
    const s = parseStateExport(
      {
        version: 3,
        deployment: {
          resources: [
            {
              urn: "urn:pulumi:dev::chatbot::pulumi:pulumi:Stack::chatbot-dev",
              type: "pulumi:pulumi:Stack",
              outputs: {
                tier: "4gb",
                password: encrypted(),
                deployment: { tier: "4gb", token: encrypted() },
                shown: { [SECRET_SIG]: SECRET_VALUE, plaintext: '"visible"' },
              },
            },
          ],
        },
      },
      "s.json",
    );
    expect(s.stackOutputs).toEqual({ tier: "4gb", deployment: { tier: "4gb" }, shown: "visible" });
    expect(s.undecryptedOutputs).toEqual(["password", "deployment.token"]);
  });
});

describe("comparing inputs as the engine does", () => {
  // Every step of three real previews that carries old and new inputs: the keys we find changed are the engine's
  // diffReasons (restricted to inputs: a replacement's reasons also list computed outputs).
  const steps = [
    "01-stratify-preview-update.json",
    "02-drift-adopter-aws-update-and-replace.json",
    "03-drift-adopter-create-update-replace-delete.json",
  ].flatMap((f) =>
    (
      readJson(f).steps as {
        op: string;
        urn: string;
        diffReasons?: string[];
        oldState?: { type: string; inputs?: Record<string, unknown>; outputs?: Record<string, unknown> };
        newState?: { type: string; inputs?: Record<string, unknown> };
      }[]
    )
      .filter((s) => s.oldState && s.newState)
      .map((s) => [`${f.slice(0, 2)} ${s.op} ${s.urn.split("::").pop()}`, s] as const),
  );
  it.each(steps)("%s: the changed inputs are the engine's", (_label, s) => {
    const before = s.oldState!.inputs ?? {};
    const after = s.newState!.inputs ?? {};
    const d = diffResource(s.newState!.type, before, after, { beforeOutputs: s.oldState!.outputs ?? {} });
    const inputs = new Set([...Object.keys(before), ...Object.keys(after)]);
    expect(d.diffKeys.sort()).toEqual((s.diffReasons ?? []).filter((k) => inputs.has(k)).sort());
    expect(d.op === "same").toBe(s.op === "same");
  });

  it("a RandomString is replaced on any change, as the real preview 03 shows", () => {
    const step = (
      readJson("03-drift-adopter-create-update-replace-delete.json").steps as {
        urn: string;
        replaceReasons?: string[];
        oldState: { type: string; inputs: Record<string, unknown> };
        newState: { inputs: Record<string, unknown> };
      }[]
    ).find((s) => s.urn.endsWith("::random-str-0"))!;
    const d = diffResource(step.oldState.type, step.oldState.inputs, step.newState.inputs);
    expect(d).toMatchObject({ op: "replace", replaceKeys: step.replaceReasons });
  });

  it("keys the provider defaulted (`__defaults`) are no change when the program does not set them", () => {
    const before = {
      __defaults: ["ipv6", "resizeDisk"],
      ipv6: false,
      resizeDisk: true,
      size: "s-2vcpu-4gb",
      backupPolicy: { __defaults: [], hour: 4 },
    };
    expect(diffResource(T.droplet, before, { size: "s-2vcpu-4gb", backupPolicy: { hour: 4 } }).op).toBe("same");
    expect(diffResource(T.droplet, before, { size: "s-2vcpu-4gb", backupPolicy: { hour: 8 } })).toMatchObject({
      op: "update",
      diffKeys: ["backupPolicy"],
    });
    // A key the program set (not a default) and then dropped is a change.
    expect(diffResource(T.droplet, { monitoring: true, size: "s" }, { size: "s" })).toMatchObject({
      op: "replace",
      diffKeys: ["monitoring"],
      replaceKeys: ["monitoring"],
    });
  });

  it.each([
    ["volume name", T.volume, { name: "a", size: 20 }, { name: "b", size: 20 }, "replace", ["name"]],
    ["volume size (grows in place)", T.volume, { name: "a", size: 20 }, { name: "a", size: 40 }, "update", []],
    [
      "droplet size (resize in place)",
      T.droplet,
      { size: "s-2vcpu-4gb", userData: "x" },
      { size: "s-4vcpu-8gb", userData: "x" },
      "update",
      [],
    ],
    [
      "droplet userData",
      T.droplet,
      { size: "s", userData: "x" },
      { size: "s", userData: "y" },
      "replace",
      ["userData"],
    ],
    [
      "assignment dropletId",
      T.assignment,
      { ipAddress: "1.2.3.4", dropletId: 1 },
      { ipAddress: "1.2.3.4", dropletId: 2 },
      "replace",
      ["dropletId"],
    ],
    ["record value", T.record, { type: "A", value: "1.2.3.4" }, { type: "A", value: "5.6.7.8" }, "update", []],
    ["password length", T.password, { length: 32 }, { length: 40 }, "replace", ["length"]],
    [
      "command triggers",
      T.remote,
      { create: "x", triggers: [1] },
      { create: "x", triggers: [2] },
      "replace",
      ["triggers"],
    ],
    [
      "command triggers with an update command",
      T.remote,
      { create: "x", update: "u", triggers: [1] },
      { create: "x", update: "u", triggers: [2] },
      "update",
      [],
    ],
    ["command create line", T.local, { create: "x" }, { create: "y" }, "update", []],
  ])("%s: %s", (_label, type, before, after, op, replaceKeys) => {
    expect(diffResource(type, before, after)).toMatchObject({ op, replaceKeys });
  });

  it("honours replaceOnChanges and ignoreChanges", () => {
    expect(diffResource(T.record, { ttl: 300 }, { ttl: 60 }, { replaceOnChanges: ["ttl"] })).toMatchObject({
      op: "replace",
      replaceKeys: ["ttl"],
    });
    expect(diffResource(T.record, { ttl: 300 }, { ttl: 60 }, { replaceOnChanges: ["*"] })).toMatchObject({
      op: "replace",
      replaceKeys: ["ttl"],
    });
    expect(diffResource(T.record, { ttl: 300 }, { ttl: 60 }, { ignoreChanges: ["ttl"] }).op).toBe("same");
  });

  it("compares a secret only by presence, and says which inputs", () => {
    const before = { userData: encrypted(), size: "s" };
    const same = diffResource(T.droplet, before, { userData: wrapSecret("#cloud-config, changed or not"), size: "s" });
    expect(same).toMatchObject({ op: "same", secretKeys: ["userData"] });
    expect(diffResource(T.droplet, before, { size: "s" })).toMatchObject({ op: "replace", replaceKeys: ["userData"] });
    // Nested: a secret inside a list of objects.
    expect(
      diffResource(
        T.remote,
        { connection: { host: "h", privateKey: encrypted() } },
        { connection: { host: "h", privateKey: wrapSecret("k") } },
      ),
    ).toMatchObject({ op: "same", secretKeys: ["connection"] });
  });
});

describe("operations against a state", () => {
  const vol = deployed(T.volume, "app-volume", { name: "chatbot-dev-data", size: 20 });
  const drop = deployed(T.droplet, "app-droplet", { size: "s", userData: "x" }, { id: "111" });

  it("same, update, create and delete; the Stack, providers, external reads and StackReferences are never deleted", () => {
    const state = stateOf([
      vol,
      drop,
      deployed("pulumi:pulumi:StackReference", "deployed", {}, { external: true }),
      deployed("digitalocean:index/tag:Tag", "old-tag", { name: "t" }),
    ]);
    const ops = planOperations(
      [
        registered(T.volume, "app-volume", { name: "chatbot-dev-data", size: 40 }),
        registered(T.droplet, "app-droplet", { size: "s", userData: "x" }),
        registered(T.record, "rec", { type: "A" }, { deployedUrn: undefined }),
      ],
      state,
    );
    expect(ops.map((o) => [o.name, o.op])).toEqual([
      ["app-volume", "update"],
      ["app-droplet", "same"],
      ["rec", "create"],
      ["old-tag", "delete"],
    ]);
  });

  it("a registration continuing a state resource through an alias is not a delete plus a create", () => {
    const ops = planOperations(
      [registered(T.volume, "app-4gb-volume", { name: "chatbot-dev-data", size: 20 }, { deployedUrn: vol.urn })],
      stateOf([vol]),
    );
    expect(ops).toHaveLength(1);
    expect(ops[0]).toMatchObject({ op: "same", previousUrn: vol.urn });
  });

  it("without a state, everything is a create", () => {
    expect(
      planOperations([registered(T.volume, "v", { name: "n" }, { deployedUrn: undefined })], undefined).map(
        (o) => o.op,
      ),
    ).toEqual(["create"]);
  });
});

describe("resource options (protect, retainOnDelete) of deployed resources", () => {
  const vol = deployed(T.volume, "app-volume", { name: "data", size: 20 }, { protect: true, retainOnDelete: true });
  const drop = deployed(T.droplet, "app-droplet", { size: "s" }, { protect: true });

  it("carries each changed flag as [deployed, planned], only the ones that change, on an otherwise `same` step", () => {
    const ops = planOperations(
      [
        registered(T.volume, "app-volume", { name: "data", size: 20 }, { protect: false, retainOnDelete: true }),
        registered(T.droplet, "app-droplet", { size: "s" }, { protect: true }),
      ],
      stateOf([vol, drop]),
    );
    expect(ops.map((o) => [o.name, o.op, o.flags])).toEqual([
      ["app-volume", "same", { protect: [true, false] }],
      ["app-droplet", "same", undefined],
    ]);
    expect(flagWarnings(ops)).toEqual([]);
  });

  it("a new resource or a delete has no flag change (nothing deployed to compare with, or nothing planned)", () => {
    const ops = planOperations(
      [registered(T.volume, "new-volume", { name: "n" }, { deployedUrn: undefined, protect: true })],
      stateOf([drop]),
    );
    expect(ops.map((o) => [o.op, o.flags])).toEqual([
      ["create", undefined],
      ["delete", undefined],
    ]);
  });

  it("a volume that loses retainOnDelete is warned about; one that gains it, or a droplet, is not", () => {
    const lose = planOperations(
      [registered(T.volume, "app-volume", { name: "data", size: 20 }, { protect: true, retainOnDelete: false })],
      stateOf([vol]),
    );
    expect(lose[0]?.flags).toEqual({ retainOnDelete: [true, false] });
    expect(flagWarnings(lose)).toEqual([
      expect.stringMatching(/^volume app-volume holds data and loses retainOnDelete/),
    ]);
    const gain = planOperations(
      [registered(T.volume, "app-volume", { name: "data", size: 20 }, { protect: true, retainOnDelete: true })],
      stateOf([{ ...vol, retainOnDelete: false }]),
    );
    expect(gain[0]?.flags).toEqual({ retainOnDelete: [false, true] });
    expect(flagWarnings(gain)).toEqual([]);
    const droplet = planOperations(
      [registered(T.droplet, "app-droplet", { size: "s" }, { protect: true, retainOnDelete: false })],
      stateOf([{ ...drop, retainOnDelete: true }]),
    );
    expect(flagWarnings(droplet)).toEqual([]);
  });
});

describe("the data-loss check", () => {
  const vol = deployed(T.volume, "app-volume", { name: "data", size: 20 });
  const oldDroplet = deployed(T.droplet, "app-4gb-droplet", { size: "s" }, { id: "111" });
  const newDroplet = registered(
    T.droplet,
    "app-8gb-droplet",
    { size: "m" },
    { deployedUrn: undefined, id: "222", outputs: { ipv4Address: "203.0.113.20" } },
  );
  const keptDroplet = registered(
    T.droplet,
    "app-4gb-droplet",
    { size: "s" },
    { id: "111", outputs: { ipv4Address: "203.0.113.10" } },
  );
  const migration = registered(T.local, "migration-run", { create: "x" }, { deployedUrn: undefined });
  const check = (regs: Registration[], state: DeployedState) => checkDataLoss(planOperations(regs, state), regs, state);

  it("a volume replaced is data loss, named with the keys that force it", () => {
    const loss = check([registered(T.volume, "app-volume", { name: "renamed", size: 20 })], stateOf([vol]));
    expect(loss).toEqual([
      expect.objectContaining({
        name: "app-volume",
        op: "replace",
        reason: expect.stringMatching(/^volume replaced \(name cannot change in place\)/),
      }),
    ]);
  });

  it("a volume deleted is data loss unless the state marks it retainOnDelete", () => {
    expect(check([], stateOf([vol]))).toEqual([
      expect.objectContaining({
        name: "app-volume",
        op: "delete",
        reason: expect.stringContaining("not mark it retainOnDelete"),
      }),
    ]);
    expect(check([], stateOf([{ ...vol, retainOnDelete: true }]))).toEqual([]);
  });

  it("a reserved IP moved to a droplet created in this plan is data loss, unless it waits for the migration", () => {
    const state = stateOf([
      oldDroplet,
      deployed(T.assignment, "edge-ip-assignment", { ipAddress: "1.2.3.4", dropletId: 111 }),
    ]);
    const moved = registered(T.assignment, "edge-ip-assignment", { ipAddress: "1.2.3.4", dropletId: 222 });
    expect(check([keptDroplet, newDroplet, moved], state)).toEqual([
      expect.objectContaining({
        name: "edge-ip-assignment",
        op: "replace",
        reason: expect.stringMatching(/^sends traffic to droplet app-8gb-droplet, created in this plan/),
      }),
    ]);
    expect(check([keptDroplet, newDroplet, migration, { ...moved, dependencies: [migration.urn] }], state)).toEqual([]);
    // Staying on the deployed droplet is fine.
    expect(
      check([keptDroplet, newDroplet, { ...moved, inputs: { ipAddress: "1.2.3.4", dropletId: 111 } }], state),
    ).toEqual([]);
  });

  it("an A record pointed at a droplet created in this plan is data loss", () => {
    const state = stateOf([oldDroplet, deployed(T.record, "edge-record", { type: "A", value: "203.0.113.10" })]);
    const rec = registered(T.record, "edge-record", { type: "A", value: "203.0.113.20" });
    expect(check([keptDroplet, newDroplet, rec], state)).toEqual([
      expect.objectContaining({ name: "edge-record", op: "update" }),
    ]);
  });

  it("a first deployment (no droplet in the state) loses nothing", () => {
    const assignment = registered(
      T.assignment,
      "edge-ip-assignment",
      { ipAddress: "1.2.3.4", dropletId: 222 },
      { deployedUrn: undefined },
    );
    expect(check([newDroplet, assignment], stateOf([]))).toEqual([]);
  });
});

describe("the export written for --write-state", () => {
  const now = new Date("2030-01-02T03:04:05.000Z");
  const parent = "urn:pulumi:dev::chatbot::chatbot:server:AppServer::app";
  const child = "urn:pulumi:dev::chatbot::chatbot:server:AppServer$digitalocean:index/volume:Volume::app-volume";
  const written = buildStateExport({
    project: "chatbot",
    stack: "dev",
    now,
    outputs: { tier: "4gb", token: "plain-token-value" },
    secretOutputs: ["token"],
    secretsProviders: { type: "passphrase" },
    resources: [
      // Registered child before parent: written parent first.
      {
        urn: child,
        type: T.volume,
        custom: true,
        id: "v-1",
        inputs: { name: "data", key: wrapSecret("secret-input-value") },
        outputs: { name: "data", password: wrapSecret("secret-output-value") },
        parent,
        protect: true,
        retainOnDelete: true,
        dependencies: [parent],
      },
      {
        urn: parent,
        type: "chatbot:server:AppServer",
        custom: false,
        inputs: {},
        outputs: {},
        protect: false,
        retainOnDelete: false,
        dependencies: [],
      },
    ],
  });
  const text = JSON.stringify(written);

  it("has the export's shape: version 3, manifest, secrets provider, the Stack first with the outputs", () => {
    expect(written.version).toBe(3);
    const d = written.deployment as {
      manifest: { time: string; magic: string; version: string };
      secrets_providers: unknown;
      resources: Record<string, unknown>[];
    };
    expect(d.manifest.time).toBe("2030-01-02T03:04:05.000Z");
    expect(d.manifest.magic).toBe(createHash("sha256").update(d.manifest.version).digest("hex"));
    expect(d.secrets_providers).toEqual({ type: "passphrase" });
    expect(d.resources.map((r) => r.urn)).toEqual([
      "urn:pulumi:dev::chatbot::pulumi:pulumi:Stack::chatbot-dev",
      parent,
      child,
    ]);
    expect(d.resources[1]).toEqual({
      urn: parent,
      custom: false,
      type: "chatbot:server:AppServer",
      inputs: {},
      outputs: {},
      parent: d.resources[0]!.urn,
      protect: false,
      dependencies: [],
    });
    expect(d.resources[2]).toMatchObject({
      id: "v-1",
      protect: true,
      retainOnDelete: true,
      parent,
      dependencies: [parent],
    });
  });

  it("never holds a secret in plain text: the signature with a placeholder ciphertext", () => {
    for (const plain of ["plain-token-value", "secret-input-value", "secret-output-value"])
      expect(text).not.toContain(plain);
    const d = written.deployment as {
      resources: { outputs?: Record<string, unknown>; inputs?: Record<string, unknown> }[];
    };
    expect(d.resources[0]!.outputs!.token).toEqual({ [SECRET_SIG]: SECRET_VALUE, ciphertext: expect.any(String) });
    expect(d.resources[2]!.inputs!.key).toEqual({ [SECRET_SIG]: SECRET_VALUE, ciphertext: expect.any(String) });
  });

  it("reads back: the same resources, the secret stack output named as not decryptable", () => {
    const back = parseStateExport(JSON.parse(text), "written.json");
    expect(back).toMatchObject({
      project: "chatbot",
      stack: "dev",
      stackOutputs: { tier: "4gb" },
      undecryptedOutputs: ["token"],
    });
    expect(back.resources.map((r) => [r.name, r.protect, r.retainOnDelete])).toEqual([
      ["app", false, false],
      ["app-volume", true, true],
    ]);
  });
});
