/** `npm run plan` as users run it: a child process, offline, for the repository's stacks and for broken ones. */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import type { PlanResource } from "../../infra/offline/plan-report";
import { END_MARKER } from "../../infra/render/files";
import { FAKE_PRIVATE_HOST_KEY } from "../../infra/offline/fake-cloud";
import { isSecret } from "../../infra/offline/secret-values";
import { find, planCli, ROOT, runStack, T } from "./run-stack";

const temp: string[] = [];
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "plan-cli-"));
  temp.push(d);
  return d;
};

const plan = planCli;

interface Doc {
  project: string;
  stack: string;
  tier: string;
  monthlyCost: number;
  resources: { type: string; name: string; inputs: Record<string, unknown>; monthlyCost: number | null }[];
}

describe("npm run plan", () => {
  it("prints one JSON document for the dev stack", () => {
    const r = plan("--stack", "dev", "--json");
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    expect(doc).toMatchObject({ project: "chatbot", stack: "dev", tier: "4gb" });
    const droplet = doc.resources.find((x) => x.type === "digitalocean:index/droplet:Droplet");
    expect(droplet?.inputs.size).toBe("s-2vcpu-4gb");
    expect(doc.resources.find((x) => x.name === "app-4gb-secrets")?.inputs.stdin).toBe("[secret]");
    expect(r.stdout).not.toMatch(/mock-password/);
    expect(doc.monthlyCost).toBeGreaterThanOrEqual(24);
  });

  it("plans prod, whose stack file holds encrypted values, with no passphrase and no Pulumi CLI", () => {
    expect(readFileSync(join(ROOT, "Pulumi.prod.yaml"), "utf8")).toContain("secure: v1:");
    const out = tempDir();
    const r = plan("--stack", "prod", "--out", out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Tier 8gb: droplet s-4vcpu-8gb");
    expect(r.stdout).toMatch(/Monthly cost: \$\d+\.\d\d/);
    expect(r.stdout).toContain("shared_buffers");
    expect(readdirSync(out).sort()).toEqual([
      "Caddyfile",
      "compose.yaml",
      "pg_hba.conf",
      "postgresql.conf",
      "redis.conf",
      "user-data.yaml",
    ]);
  });

  it("writes artifacts byte-identical to the user data and the synced files", async () => {
    const out = tempDir();
    const r = plan("--stack", "dev", "--json", "--out", out);
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as Doc;
    const droplet = doc.resources.find((x) => x.type === "digitalocean:index/droplet:Droplet")!;
    // A new stack's server is pinned: its user data holds the host key, so the document shows it as a secret, and
    // the artifact is the registered user data (the offline plan's private key is only a placeholder).
    expect(droplet.inputs.userData).toBe("[secret]");
    const registered = find(await runStack("dev"), T.droplet).inputs.userData;
    expect(isSecret(registered)).toBe(true);
    expect(readFileSync(join(out, "user-data.yaml"), "utf8")).toBe((registered as { value: string }).value);
    expect(readFileSync(join(out, "user-data.yaml"), "utf8")).toContain(FAKE_PRIVATE_HOST_KEY.split("\n")[1]);
    const stdin = String(doc.resources.find((x) => x.name === "app-4gb-config")!.inputs.stdin);
    for (const f of ["compose.yaml", "postgresql.conf", "pg_hba.conf", "redis.conf", "Caddyfile"]) {
      expect(stdin, f).toContain(`/${f}' <<'${END_MARKER}'\n${readFileSync(join(out, f), "utf8")}${END_MARKER}\n`);
    }
  });

  it("on invalid config: exits non-zero, names every bad key on stderr, prints nothing, writes nothing", () => {
    const project = tempDir();
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    writeFileSync(
      join(project, "Pulumi.broken.yaml"),
      [
        "config:",
        "  chatbot:tier: 32gb",
        "  chatbot:region: moon1",
        "  chatbot:domain: chat.example.com",
        "  chatbot:sshKeys: []",
        "  chatbot:appPort: 22",
        "",
      ].join("\n"),
    );
    const out = join(project, "out");
    const r = plan("--stack", "broken", "--project-dir", project, "--out", out, "--json");
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    for (const key of ["tier", "region", "sshKeys", "appPort", "sshAllowedCidrs", "appImage"])
      expect(r.stderr).toContain(`chatbot:${key}:`);
    expect(existsSync(out)).toBe(false);
  });

  it("names a stack that has no stack file", () => {
    const r = plan("--stack", "nope");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("Pulumi.nope.yaml");
    expect(r.stdout).toBe("");
  });
});

describe("npm run plan: the resource tree, protect / retainOnDelete and the outputs", () => {
  it("--json: every resource carries protect and retainOnDelete as booleans, and its parent; the outputs and which are secret", () => {
    const r = plan("--stack", "prod", "--json");
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as {
      resources: PlanResource[];
      outputs: Record<string, unknown>;
      secretOutputs: string[];
    };
    for (const x of doc.resources) {
      expect(typeof x.protect, x.name).toBe("boolean");
      expect(typeof x.retainOnDelete, x.name).toBe("boolean");
    }
    const by = (name: string) => doc.resources.find((x) => x.name === name)!;
    expect(by("app-8gb-volume")).toMatchObject({ protect: true, retainOnDelete: true, parent: by("app-8gb").urn });
    expect(by("app-8gb-droplet")).toMatchObject({ protect: true, retainOnDelete: false });
    expect(by("edge-record")).toMatchObject({ protect: false, retainOnDelete: false });
    expect(by("app-8gb").parent).toBe("urn:pulumi:prod::chatbot::pulumi:pulumi:Stack::chatbot-prod");
    expect(doc.outputs).toMatchObject({
      tier: "8gb",
      servingServer: "app-8gb",
      migration: { state: "none" },
      monthlyCost: expect.any(Number),
    });
    expect(doc.secretOutputs).toEqual([]);
  });

  it("--json on scale-out: secret outputs print [secret]", () => {
    const r = plan("--stack", "scale", "--json");
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { outputs: Record<string, unknown>; secretOutputs: string[] };
    expect(doc.secretOutputs.sort()).toEqual(["databaseUrl", "redisUrl"]);
    expect(doc.outputs).toMatchObject({ databaseUrl: "[secret]", redisUrl: "[secret]" });
    expect(r.stdout).not.toContain("mock-password");
  });

  it("text without a state: the resources as a tree by parent with their monthly price and options, then the outputs", () => {
    const r = plan("--stack", "prod");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ {4}pulumi:pulumi:Stack +chatbot-prod$/m);
    expect(r.stdout).toMatch(/^ \+ {2}├─ chatbot:server:AppServer +app-8gb *$/m);
    expect(r.stdout).toMatch(
      /^ \+ {2}│ {2}├─ digitalocean:index\/volume:Volume +app-8gb-volume +\$10\.00 +protected retainOnDelete$/m,
    );
    expect(r.stdout).toMatch(
      /^ \+ {2}│ {2}├─ digitalocean:index\/droplet:Droplet +app-8gb-droplet +\$\d+\.\d\d +protected$/m,
    );
    expect(r.stdout).toMatch(/^Outputs:\n(.*\n)* {4}servingDropletId *: "\d+"$/m);
    expect(r.stdout).toMatch(/^ {4}sshTarget *: "root@[\d.]+"$/m);
  });
});

describe("npm run plan during a tier migration", () => {
  it("says which server is migrated from, the budgets and until when the old one is kept", () => {
    const project = tempDir();
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    const until = new Date(Date.now() + 48 * 3600_000).toISOString();
    writeFileSync(
      join(project, "Pulumi.mig.yaml"),
      readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8").replace(
        "chatbot:tier: 4gb",
        `chatbot:tier: 8gb\n  chatbot:previousTier: 4gb\n  chatbot:previousTierRetainUntil: "${until}"`,
      ),
    );
    const r = plan("--stack", "mig", "--project-dir", project);
    expect(r.status, r.stderr).toBe(0);
    // previousTier / previousTierRetainUntil describe a migration that has already run (infra/plan.ts legacyOverride).
    expect(r.stdout).toContain(
      `Tier migration 4gb -> 8gb done (committed earlier): the 4gb server is kept as the rollback target until ${until}`,
    );
    expect(r.stdout).toMatch(/app-4gb-droplet[\s\S]*app-8gb-droplet|app-8gb-droplet[\s\S]*app-4gb-droplet/);
    expect(r.stdout).toContain("migration-run");
  });
});

describe("npm run plan: usage errors exit 2, --help says the convention", () => {
  it("an unknown option exits 2, naming it", () => {
    const r = plan("--stack", "dev", "--bogus");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option '--bogus'");
    expect(r.stdout).toBe("");
  });

  it("a misspelt --stack is named with a suggestion, not reported as a missing option; a missing one exits 2", () => {
    const r = plan("--stak", "dev");
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("unknown option '--stak'");
    expect(r.stderr).toContain("Did you mean --stack?");
    expect(r.stderr).not.toContain("required option");
    const missing = plan("--json");
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("required option '--stack <name>' not specified");
  });

  it("--help exits 0 with the exit codes and examples", () => {
    const r = plan("--help");
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Exit codes:\n {2}0 {2}done\n {2}1 {2}the data-loss check says no/);
    expect(r.stdout).toContain("--state <file>");
    expect(r.stdout).toContain("npm run plan -- --stack dev --state");
  });

  it("a --state file that is not a version 3 export exits 2, naming the file and what is expected", () => {
    const file = join(tempDir(), "old.json");
    writeFileSync(file, JSON.stringify({ version: 2, deployment: { resources: [] } }));
    const r = plan("--stack", "dev", "--state", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `${file}: deployment version 2; expected a \`pulumi stack export\` of deployment version 3`,
    );
    expect(r.stdout).toBe("");
  });

  it("a --state file whose stack outputs the program cannot read exits 2 (the program's error, not a crash)", () => {
    const file = join(tempDir(), "bad-record.json");
    const stackUrn = "urn:pulumi:dev::chatbot::pulumi:pulumi:Stack::chatbot-dev";
    writeFileSync(
      file,
      JSON.stringify({
        version: 3,
        deployment: {
          resources: [
            { urn: stackUrn, custom: false, type: "pulumi:pulumi:Stack", outputs: { deployment: { version: 99 } } },
          ],
        },
      }),
    );
    const r = plan("--stack", "dev", "--state", file);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^plan: .*deployment/m);
    expect(r.stderr).not.toMatch(/\n\s+at /); // a message, not a stack trace
  });
});

describe("npm run plan --state / --write-state", () => {
  interface Op {
    urn: string;
    type: string;
    name: string;
    op: string;
    replaceKeys: string[];
    flags?: Record<string, [boolean, boolean]>;
  }
  const dir = tempDir();
  const state = join(dir, "dev.json");

  it("writes the state after `pulumi up`; planning against it shows only `same` and exits 0", () => {
    const w = plan("--stack", "dev", "--write-state", state);
    expect(w.status, w.stderr).toBe(0);
    expect(w.stdout).toContain(`Wrote the state after \`pulumi up\` to ${state}`);
    const exported = JSON.parse(readFileSync(state, "utf8")) as {
      version: number;
      deployment: { resources: { type: string }[] };
    };
    expect(exported.version).toBe(3);
    expect(exported.deployment.resources[0]?.type).toBe("pulumi:pulumi:Stack");
    expect(readFileSync(state, "utf8")).not.toMatch(/mock-password/);

    const r = plan("--stack", "dev", "--state", state, "--json");
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { operations: Op[]; dataLoss: unknown[]; state: { file: string } };
    expect(doc.operations.length).toBeGreaterThan(10);
    expect(doc.operations.filter((o) => o.op !== "same")).toEqual([]);
    for (const o of doc.operations)
      expect(o).toMatchObject({
        urn: expect.stringMatching(/^urn:pulumi:dev::chatbot::/),
        type: expect.any(String),
        name: expect.any(String),
        op: "same",
        replaceKeys: [],
      });
    expect(doc.dataLoss).toEqual([]);
    expect(doc.state.file).toBe(state);

    const text = plan("--stack", "dev", "--state", state);
    expect(text.status, text.stderr).toBe(0);
    expect(text.stdout).toContain(`Preview against ${state}`);
    expect(text.stdout).toMatch(/├─ digitalocean:index\/volume:Volume +app-4gb-volume +same/);
    expect(text.stdout).toMatch(/Resources:\n +\d+ unchanged/);
  });

  it("chains: the tier changed to 8gb against the 4gb state plans the migration, then the state it writes plans only `same`", () => {
    const project = tempDir();
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    writeFileSync(
      join(project, "Pulumi.dev.yaml"),
      readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8").replace("chatbot:tier: 4gb", "chatbot:tier: 8gb"),
    );
    const next = join(dir, "dev-8gb.json");
    const r = plan("--stack", "dev", "--project-dir", project, "--state", state, "--write-state", next);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Tier migration 4gb -> 8gb (strategy auto, traffic by reserved-ip)");
    expect(r.stdout).toContain("the 4gb server is kept as the rollback target until 24 h after the commit");
    expect(r.stdout).toMatch(/^ \+ {2}[│ ]+└─ command:local:Command +migration-run +create/m);
    expect(r.stdout).toMatch(
      /^ \+- [│ ]+└─ digitalocean:index\/reservedIpAssignment:ReservedIpAssignment +edge-ip-assignment +replace +\[replace: dropletId\]/m,
    );
    expect(r.stdout).not.toMatch(/Data loss/);
    // docs/planning.md shows this plan, shortened: every line it shows and its summary are the plan's.
    const docs = readFileSync(join(ROOT, "docs", "planning.md"), "utf8");
    const shown = /```\nPreview against \/tmp\/dev-4gb\.json[^\n]*\n([^`]*)```/.exec(docs)?.[1] ?? "";
    expect(shown).toContain("Resources:");
    for (const line of shown.split("\n").filter((l) => l && !l.includes("...")))
      expect(r.stdout, "docs/planning.md").toContain(line);
    expect(r.stdout, "docs/planning.md").toContain(shown.slice(shown.indexOf("Resources:")));
    const again = plan("--stack", "dev", "--project-dir", project, "--state", next);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stdout).toMatch(
      /Tier migration 4gb -> 8gb done \(committed \S+\): the 4gb server is kept as the rollback target until \S+Z/,
    );
    expect(again.stdout).toMatch(/Resources:\n +\d+ unchanged\n/);
  });

  it("flags: allowDataLoss takes retainOnDelete off the deployed volume: in --json, marked in the tree, said loudly", () => {
    const project = tempDir();
    copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
    const dev = readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8");
    writeFileSync(
      join(project, "Pulumi.dev.yaml"),
      dev.replace("config:\n", "config:\n  chatbot:allowDataLoss: true\n"),
    );
    const r = plan("--stack", "dev", "--project-dir", project, "--state", state, "--json");
    expect(r.status, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout) as { operations: Op[]; state: { warnings: string[] } };
    expect(doc.operations.filter((o) => o.flags).map((o) => [o.name, o.op, o.flags])).toEqual([
      ["app-4gb-volume", "same", { retainOnDelete: [true, false] }],
    ]);
    expect(doc.state.warnings).toEqual([
      expect.stringMatching(/^volume app-4gb-volume holds data and loses retainOnDelete/),
    ]);
    const text = plan("--stack", "dev", "--project-dir", project, "--state", state);
    expect(text.stdout).toMatch(/app-4gb-volume +same +\[retainOnDelete: true -> false\]/);
    expect(text.stdout).toMatch(/^WARNING: volume app-4gb-volume holds data and loses retainOnDelete/m);
    expect(text.stdout).toContain("1 with changed resource options (protect, retainOnDelete)");
    // Without a flag change, no warning and no marks.
    const plain = plan("--stack", "dev", "--state", state);
    expect(plain.stdout).not.toMatch(/WARNING|-> false|changed resource options/);
  });

  it("a volume renamed in the state: `replace` on name, exit 1, the volume named on stderr, no state written", () => {
    const renamed = join(dir, "renamed.json");
    const exported = JSON.parse(readFileSync(state, "utf8")) as {
      deployment: { resources: { type: string; inputs: Record<string, unknown> }[] };
    };
    const volume = exported.deployment.resources.find((x) => x.type === "digitalocean:index/volume:Volume")!;
    volume.inputs.name = "renamed-by-hand";
    writeFileSync(renamed, JSON.stringify(exported));
    const next = join(dir, "next.json");
    const r = plan("--stack", "dev", "--state", renamed, "--write-state", next, "--json");
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(
      /plan: data loss: digitalocean:index\/volume:Volume app-4gb-volume \(replace\): volume replaced \(name cannot change in place\)/,
    );
    expect(r.stderr).toContain(`${next} not written: the plan would lose data`);
    expect(existsSync(next)).toBe(false);
    const doc = JSON.parse(r.stdout) as { operations: Op[]; dataLoss: { name: string }[] };
    expect(doc.operations.find((o) => o.name === "app-4gb-volume")).toMatchObject({
      op: "replace",
      replaceKeys: ["name"],
    });
    expect(doc.dataLoss.map((d) => d.name)).toEqual(["app-4gb-volume"]);
  });

  it("refuses the state of another stack (exit 2)", () => {
    const r = plan("--stack", "prod", "--state", state);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(
      `${state}: an export of stack dev of project chatbot; expected stack prod of project chatbot`,
    );
  });
});
