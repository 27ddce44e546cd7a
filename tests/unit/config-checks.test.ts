/**
 * The config checks beyond one key's schema, as compliance / non-compliance pairs: each refused value names its key
 * (exit 2 from `npm run plan`), and the compliant value beside it passes.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { ConfigError, type ConfigIssue, parseConfig, type RawConfig } from "../../infra/config";
import { type KeyStorage, PROVIDER_CONFIG } from "../../infra/config-checks";
import { rawConfigOf, readStackFiles } from "../../infra/offline/stack-files";
import { TIER_NAMES } from "../../infra/tiers";
import { connectionBudget, maxConnections, splitMemory } from "../../infra/tuning";
import { SAMPLE_VALUES } from "../support/sample-config";

const ROOT = join(__dirname, "..", "..");

function parse(values: Record<string, unknown>, extra: Partial<RawConfig> = {}) {
  return parseConfig({ values: { ...SAMPLE_VALUES, ...values }, secretKeys: new Set(), ...extra }, { stack: "dev" });
}

function issuesOf(values: Record<string, unknown>, extra: Partial<RawConfig> = {}): ConfigIssue[] {
  try {
    parse(values, extra);
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  return [];
}

const withOther = (otherKeys: Record<string, KeyStorage>) => issuesOf({}, { otherKeys });

describe("keys outside the project's namespace", () => {
  it.each<[string, Record<string, KeyStorage>, string, RegExp]>([
    [
      "a misspelt project namespace",
      { "chatbt:tier": "plain" },
      "chatbt:tier",
      /^unknown namespace "chatbt": this program reads chatbot:, digitalocean:, tls:, pulumi: keys; did you mean chatbot:tier\?$/,
    ],
    ["the project name in another case", { "Chatbot:tier": "plain" }, "Chatbot:tier", /did you mean chatbot:tier\?$/],
    [
      "a misspelt provider",
      { "digitalocaen:token": "secure" },
      "digitalocaen:token",
      /did you mean digitalocean:token\?$/,
    ],
    [
      "a provider the program does not use",
      { "aws:region": "plain" },
      "aws:region",
      /^unknown namespace "aws": [^?]*$/,
    ],
    [
      "a misspelt provider key",
      { "digitalocean:tokne": "secure" },
      "digitalocean:tokne",
      /did you mean digitalocean:token\?$/,
    ],
    [
      "a plain DigitalOcean token",
      { "digitalocean:token": "plain" },
      "digitalocean:token",
      /^is a credential in plain text: set it with `pulumi config set --secret digitalocean:token`/,
    ],
    [
      "a plain Spaces secret key",
      { "digitalocean:spacesSecretKey": "plain" },
      "digitalocean:spacesSecretKey",
      /credential in plain text/,
    ],
  ])("refuses %s, naming the key", (_name, otherKeys, key, message) => {
    const issues = withOther(otherKeys);
    expect(issues.map((i) => i.key)).toEqual([key]);
    expect(issues[0]!.message).toMatch(message);
  });

  it.each<[string, Record<string, KeyStorage>]>([
    ["an encrypted DigitalOcean token", { "digitalocean:token": "secure" }],
    ["a plain API endpoint", { "digitalocean:apiEndpoint": "plain" }],
    ["the TLS provider's proxy", { "tls:proxy": "plain" }],
    ["the engine's keys", { "pulumi:tags": "plain", "pulumi:disable-default-providers": "plain" }],
  ])("accepts %s", (_name, otherKeys) => {
    expect(withOther(otherKeys)).toEqual([]);
  });

  it("knows exactly the config keys of the providers the program uses (their config/vars.d.ts)", () => {
    const used = new Set<string>();
    for (const file of readdirSync(join(ROOT, "infra"), { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".ts")) continue;
      const text = readFileSync(join(ROOT, "infra", file), "utf8");
      for (const m of text.matchAll(/from "@pulumi\/([a-z]+)"/g)) used.add(m[1]!);
    }
    expect(used).toContain("digitalocean");
    const withConfig: Record<string, string[]> = {};
    for (const pkg of used) {
      if (pkg === "pulumi") continue;
      let vars: string;
      try {
        vars = readFileSync(join(ROOT, "node_modules", "@pulumi", pkg, "config", "vars.d.ts"), "utf8");
      } catch {
        continue; // no provider config (command, random)
      }
      withConfig[pkg] = [...vars.matchAll(/^export declare const (\w+)/gm)].map((m) => m[1]!).sort();
    }
    expect(Object.fromEntries(Object.entries(PROVIDER_CONFIG).map(([k, v]) => [k, [...v.keys].sort()]))).toEqual(
      withConfig,
    );
    expect(Object.keys(withConfig).sort()).toEqual(["digitalocean", "tls"]);
  });

  it("reads the stack file's other namespaces and how each is stored", () => {
    const dir = mkdtempSync(join(tmpdir(), "config-checks-"));
    writeFileSync(join(dir, "Pulumi.yaml"), "name: chatbot\nruntime: nodejs\n");
    writeFileSync(
      join(dir, "Pulumi.s.yaml"),
      "config:\n  chatbot:tier: 8gb\n  digitalocean:token: dop_v1_x\n  digitalocean:spacesSecretKey:\n    secure: v1:AAAA\n",
    );
    expect(rawConfigOf(readStackFiles(dir, "s")).otherKeys).toEqual({
      "digitalocean:token": "plain",
      "digitalocean:spacesSecretKey": "secure",
    });
  });

  it("npm run plan refuses a stack file with a misspelt namespace and a plain token: exit 2, every key named", async () => {
    const dir = mkdtempSync(join(tmpdir(), "config-checks-"));
    writeFileSync(join(dir, "Pulumi.yaml"), readFileSync(join(ROOT, "Pulumi.yaml")));
    writeFileSync(
      join(dir, "Pulumi.bad.yaml"),
      `${readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8")}  chatbt:tier: 16gb\n  digitalocean:token: dop_v1_plain\n`,
    );
    const r = await run(["--import", "tsx", "scripts/plan.ts", "--stack", "bad", "--project-dir", dir]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("chatbt:tier: unknown namespace");
    expect(r.stderr).toContain("digitalocean:token: is a credential in plain text");
    expect(r.stderr).not.toContain("dop_v1_plain");
    expect(r.stdout).toBe("");
  }, 60_000);
});

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)("node", args, { cwd: ROOT });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("an unknown key of the project", () => {
  it.each([
    ["teir", /^unknown key; did you mean chatbot:tier\?; known keys: /],
    ["vpcIPRange", /^unknown key; did you mean chatbot:vpcIpRange\?; known keys: /],
    ["colour", /^unknown key; known keys: acmeEmail, /],
  ])("%s", (key, message) => {
    expect(issuesOf({ [key]: "x" })).toEqual([{ key: `chatbot:${key}`, message: expect.stringMatching(message) }]);
  });
});

describe("vpcIpRange: RFC 1918, /16 to /24", () => {
  it.each(["10.10.0.0/16", "10.10.10.0/24", "172.16.0.0/20", "172.31.255.0/24", "192.168.0.0/16"])(
    "accepts %s",
    (cidr) => {
      expect(parse({ vpcIpRange: cidr }).vpcIpRange).toBe(cidr);
    },
  );

  it.each([
    ["8.8.8.0/24", /not inside an RFC 1918 private block/],
    ["172.32.0.0/16", /not inside an RFC 1918 private block/], // starts with 172. but lies past 172.16.0.0/12
    ["192.169.0.0/16", /not inside an RFC 1918 private block/],
    ["10.0.0.0/8", /\/8 is not allowed; allowed: \/16 to \/24/],
    ["172.16.0.0/12", /\/12 is not allowed/],
    ["10.10.10.0/25", /\/25 is not allowed/],
    ["10.10.10.1/24", /host bits set/],
  ])("refuses %s naming chatbot:vpcIpRange", (cidr, message) => {
    const issues = issuesOf({ vpcIpRange: cidr });
    expect(issues.map((i) => i.key)).toEqual(["chatbot:vpcIpRange"]);
    expect(issues[0]!.message).toMatch(/^must be an RFC 1918 private range .* from \/16 to \/24/);
    expect(issues[0]!.message).toMatch(message);
  });
});

describe("the DNS zone of a domain, by the Public Suffix List", () => {
  it.each([
    ["chat.example.com", "example.com", "chat"],
    ["example.com", "example.com", "@"],
    ["app.example.co.uk", "example.co.uk", "app"],
    ["a.b.example.com.au", "example.com.au", "a.b"],
    ["chat.example.co.jp", "example.co.jp", "chat"],
    ["myapp.github.io", "myapp.github.io", "@"], // a private suffix: the label below it is what someone registered
  ])("%s is in zone %s as record %s", (domain, zone, record) => {
    const c = parse({ domain });
    expect([c.dnsZone, c.dnsRecordName]).toEqual([zone, record]);
  });

  it.each([
    ["app.example.co.uk", "example.co.uk", undefined],
    ["app.example.co.uk", "app.example.co.uk", undefined],
    ["app.example.co.uk", "co.uk", /must be example\.co\.uk or a name under it/],
    ["app.example.co.uk", "other.co.uk", /must be app\.example\.co\.uk or a parent of it/],
  ])("%s with dnsZone %s", (domain, dnsZone, message) => {
    const issues = issuesOf({ domain, dnsZone });
    if (message === undefined) expect(issues).toEqual([]);
    else expect(issues).toEqual([{ key: "chatbot:dnsZone", message: expect.stringMatching(message) }]);
  });

  it("refuses a domain that is itself a public suffix, naming chatbot:domain", () => {
    expect(issuesOf({ domain: "co.uk" })).toEqual([
      { key: "chatbot:domain", message: expect.stringMatching(/^co\.uk is a public suffix/) },
    ]);
  });
});

describe("appEnv", () => {
  it("accepts distinct names with printable values, spaces and non-ASCII letters included", () => {
    expect(parse({ appEnv: ["A=1", "B=x y", "C=ünïcödé", "D="] }).appEnv).toHaveLength(4);
  });

  it("refuses a name set twice, naming the entry and the earlier one", () => {
    expect(issuesOf({ appEnv: ["A=1", "B=2", "A=3"] })).toEqual([
      { key: "chatbot:appEnv", message: "sets A again (entry 0 sets it already): set each name once (entry 2)" },
    ]);
  });

  it.each([
    ["\t", "U+0009 tab"],
    ["\n", "U+000A line feed"],
    ["\r", "U+000D carriage return"],
    ["\u0000", "U+0000 NUL"],
    ["\u001b", "U+001B"],
    ["\u007f", "U+007F DEL"],
    ["\u0085", "U+0085"],
  ])("refuses the control character %j, naming it and the entry", (c, name) => {
    const issues = issuesOf({ appEnv: ["OK=1", `BAD=a${c}b`] });
    expect(issues.map((i) => i.key)).toEqual(["chatbot:appEnv"]);
    expect(issues[0]!.message).toMatch(new RegExp(`^holds ${name.replace("+", "\\+")}\\b.*\\(entry 1\\)$`));
  });
});

describe("max_connections the tier's memory cannot carry is warned about", () => {
  const warningOf = (values: Record<string, unknown>) =>
    parse(values).warnings.filter((w) => w.includes("max_connections"));

  it.each(TIER_NAMES)(
    "%s: the defaults fit; the largest pools that fit do not warn, one connection more does",
    (tier) => {
      expect(warningOf({ tier })).toEqual([]);
      const b = connectionBudget(tier);
      // max_connections = workers x (pool + overflow) + admin: the largest pool + overflow within the budget.
      const perWorker = Math.floor((b.connections - b.adminConnections) / b.appWorkers);
      const fits = { dbPoolSize: Math.min(100, perWorker), dbMaxOverflow: perWorker - Math.min(100, perWorker) };
      expect(maxConnections(tier, fits)).toBeLessThanOrEqual(b.connections);
      expect(warningOf({ tier, ...fits })).toEqual([]);
      expect(warningOf({ tier, ...fits, dbMaxOverflow: fits.dbMaxOverflow + 1 })).toHaveLength(1);
    },
  );

  it("says the arithmetic: 4gb with pools of 100 + 100", () => {
    expect(splitMemory("4gb").postgresMiB).toBe(2048);
    expect(warningOf({ tier: "4gb", dbPoolSize: 100, dbMaxOverflow: 100 })).toEqual([
      "chatbot:dbPoolSize and chatbot:dbMaxOverflow ask PostgreSQL for max_connections = 410 (2 app workers x (100 + 100) + 10 for admin), more than tier 4gb carries: 120. Its PostgreSQL share of 2048 MiB less 512 MiB of shared_buffers leaves 1536 MiB, which at 3 x 4 MiB of work_mem per connection (pgtune's formula at its floor) is 128 connections less 8 background workers. Lower the pools or move to a larger tier",
    ]);
  });

  it("a scale-out stack (managed PostgreSQL) is not judged by a droplet tier", () => {
    expect(
      warningOf({ tier: "scale-out", dbPoolSize: 100, dbMaxOverflow: 100, alertEmails: ["ops@example.com"] }),
    ).toEqual([]);
  });
});
