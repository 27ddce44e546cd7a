import { describe, expect, it } from "vitest";
import {
  CONFIG_KEYS,
  ConfigError,
  PASSWORD_KEYS,
  type PasswordKey,
  parseConfig,
  type RawConfig,
  SECRET_KEYS,
} from "../../infra/config";
import { planStack } from "../../infra/plan";
import { DEV_INPUT } from "../scale-out/input";
import { planScaleOut } from "../../infra/scale-out";

const valid: Record<string, unknown> = {
  tier: "4gb",
  region: "nyc3",
  domain: "chat.example.com",
  sshKeys: '["12345678"]',
  sshAllowedCidrs: '["203.0.113.0/28"]',
  appImage: "ghcr.io/acme/chatbot:1.4.2",
};

const raw = (values: Record<string, unknown>, secrets: string[] = []): RawConfig => ({
  values,
  secretKeys: new Set(secrets),
});

function issuesOf(values: Record<string, unknown>, stack = "dev", secrets: string[] = []) {
  try {
    parseConfig(raw(values, secrets), { stack });
  } catch (e) {
    if (e instanceof ConfigError) return e.issues;
    throw e;
  }
  return [];
}

describe("config", () => {
  it("parses a minimal config with defaults", () => {
    const c = parseConfig(raw(valid), { stack: "dev" });
    expect(c).toMatchObject({
      tier: "4gb",
      environment: "dev",
      appPort: 8090,
      healthPath: "/health",
      downtimeBudgetSeconds: 300,
      migrationBudgetMinutes: 30,
      backups: "weekly",
      dnsZone: "example.com",
      dnsRecordName: "chat",
      sshKeys: ["12345678"],
      protectStateful: false,
    });
  });

  it("accepts already-parsed values and treats empty strings as unset", () => {
    const c = parseConfig(
      raw({
        ...valid,
        sshKeys: ["3b:16:bf:e4:8b:00:8b:b8:59:8c:a9:d3:f0:19:45:fa"],
        appPort: 9000,
        dnsZone: "",
        environment: "",
      }),
      { stack: "dev" },
    );
    expect(c.appPort).toBe(9000);
    expect(c.dnsZone).toBe("example.com");
  });

  it.each([
    ["a tag", "ghcr.io/acme/chatbot:1.4.2"],
    ["a digest", `ghcr.io/acme/chatbot@sha256:${"0123456789abcdef".repeat(4)}`],
    [
      "a tag and a digest (the digest decides what runs)",
      `ghcr.io/acme/chatbot:1.4.2@sha256:${"0123456789abcdef".repeat(4)}`,
    ],
    ["a registry port", "registry.example.com:5000/acme/chatbot:1.4.2"],
  ])("accepts appImage with %s", (_what, image) => {
    expect(parseConfig(raw({ ...valid, appImage: image }), { stack: "dev" }).appImage).toBe(image);
  });

  it("defaults Strict-Transport-Security to one year, and takes 0 (the header that clears it)", () => {
    expect(parseConfig(raw(valid), { stack: "dev" }).hstsMaxAgeSeconds).toBe(31536000);
    expect(parseConfig(raw({ ...valid, hstsMaxAgeSeconds: "0" }), { stack: "dev" }).hstsMaxAgeSeconds).toBe(0);
  });

  // A domain the config accepts must not fail later, during planning, in an error that does not name chatbot:domain
  // (the day-2 renderer and the scale-out plan check host names too).
  it.each([
    "chat.example.com",
    "chat.example.com.",
    "Chat.Example.com",
    "203.0.113.7",
    "a.b",
    "localhost",
    "x-1.chat-bot.example.io",
    "chat..example.com",
    "-chat.example.com",
    "chat.example.c0m",
  ])("domain %s: refused naming chatbot:domain, or planned by every tier", (domain) => {
    const issues = issuesOf({ ...valid, domain });
    if (issues.some((i) => i.key === "chatbot:domain")) return;
    expect(issues).toEqual([]);
    const config = parseConfig(raw({ ...valid, domain }), { stack: "dev" });
    expect(() => planStack(config)).not.toThrow();
    expect(() => planScaleOut({ ...DEV_INPUT, domain: config.domain })).not.toThrow();
  });

  it("serves the apex with record @", () => {
    expect(
      parseConfig(raw({ ...valid, domain: "example.com", dnsZone: "example.com" }), { stack: "dev" }).dnsRecordName,
    ).toBe("@");
  });

  // One bad value per key: the error names the key as <project>:<key> and says what is allowed.
  it.each([
    ["tier", "2gb", /one of 4gb, 8gb, 16gb/],
    ["environment", "staging", /dev or prod/],
    ["region", "mars1", /region slug open to new droplets: nyc1, nyc3/],
    ["region", "nyc2", /open to new droplets/],
    ["domain", "not a host", /host name/],
    ["domain", "chat.example.com.", /must not end with a dot: write chat\.example\.com/],
    ["domain", "Chat.Example.com", /lowercase/],
    ["domain", "203.0.113.7", /host name/],
    ["dnsZone", "example.com.", /must not end with a dot: write example\.com/],
    ["dnsZone", "other.org", /parent of it/],
    ["manageDnsZone", "yes", /true or false/],
    ["dnsTtlSeconds", "5", /at least 30/],
    ["sshKeys", '["my laptop"]', /SSH key id/],
    ["sshKeys", "[]", /at least one SSH key/],
    ["sshAllowedCidrs", '["10.0.0.1"]', /CIDR/],
    ["sshUser", "Root!", /Unix user/],
    ["appImage", "chatbot", /tag or digest/],
    ["appImage", "ghcr.io/acme/chatbot@sha256:ABC", /digest must be sha256: and 64 lowercase hex digits/],
    ["appImage", `ghcr.io/acme/chatbot:1.4.2@sha512:${"a".repeat(128)}`, /digest must be sha256:/],
    ["appPort", "5432", /must not be 5432/],
    ["appPort", "80", /at least 1024/],
    ["healthPath", "health", /starting with \//],
    ["appEnv", '["DATABASE_URL=x"]', /must not set DATABASE_URL/],
    ["appEnv", '["lower=x"]', /NAME=value/],
    ["dbPoolSize", "0", /at least 1/],
    ["dbMaxOverflow", "1.5", /whole number/],
    ["volumeSizeGiB", "5", /at least 10/],
    ["backups", "hourly", /none, weekly or daily/],
    ["downtimeBudgetSeconds", "0", /at least 1/],
    ["migrationBudgetMinutes", "abc", /whole number/],
    ["alertEmails", '["ops"]', /email/],
    ["acmeEmail", "nobody", /email/],
    ["slackChannel", "alerts", /channel name/],
    ["trafficSwitch", "bgp", /reserved-ip or dns/],
    ["vpcIpRange", "8.8.8.0/24", /private range/],
    ["previousTier", "1gb", /the tier being migrated from/],
    ["previousTier", "4gb", /must differ from tier/],
    ["previousTierRetainUntil", "next tuesday", /ISO 8601/],
    ["previousTierRetainHours", "-1", /at least 0/],
    ["allowDataLoss", "maybe", /true or false/],
    ["migrationStrategy", "rsync", /auto, replicate or dump-restore/],
    ["appCount", "1", /at least 2/],
    ["appDropletSize", "large", /Basic droplet slug/],
    ["dbSize", "db-large", /managed database size slug/],
    ["dbNodeCount", "4", /at most 3/],
    ["valkeySize", "s-1vcpu-1gb", /managed database size slug/],
    ["hstsMaxAgeSeconds", "-1", /at least 0/],
    ["hstsMaxAgeSeconds", "1.5", /whole number/],
    ["hstsMaxAgeSeconds", "63072001", /at most 63072000/],
    ["allowDevOnProdStack", "yes", /true or false/],
    ["allowDevOnProdStack", "true", /only for a stack named prod or prod-\* that sets environment: dev/],
  ])("rejects %s = %s", (key, value, message) => {
    const issues = issuesOf({ ...valid, [key]: value });
    const issue = issues.find((i) => i.key === `chatbot:${key}`);
    expect(issue, JSON.stringify(issues)).toBeDefined();
    expect(issue!.message).toMatch(message);
  });

  it("covers every key of the schema in the bad-value table above", () => {
    // Keep this list in step with the table: a new key needs a bad-value case.
    const tested = [
      "tier",
      "environment",
      "region",
      "domain",
      "dnsZone",
      "manageDnsZone",
      "dnsTtlSeconds",
      "sshKeys",
      "sshAllowedCidrs",
      "sshUser",
      "appImage",
      "appPort",
      "healthPath",
      "appEnv",
      "dbPoolSize",
      "dbMaxOverflow",
      "volumeSizeGiB",
      "backups",
      "downtimeBudgetSeconds",
      "migrationBudgetMinutes",
      "alertEmails",
      "acmeEmail",
      "slackChannel",
      "trafficSwitch",
      "vpcIpRange",
      "previousTier",
      "previousTierRetainUntil",
      "previousTierRetainHours",
      "allowDataLoss",
      "migrationStrategy",
      "appCount",
      "appDropletSize",
      "dbSize",
      "dbNodeCount",
      "valkeySize",
      "hstsMaxAgeSeconds",
      "allowDevOnProdStack",
    ];
    expect([...CONFIG_KEYS].sort()).toEqual([...tested].sort());
  });

  it.each(["domain", "sshKeys", "sshAllowedCidrs", "appImage"])("requires %s", (key) => {
    const values = { ...valid };
    delete values[key];
    expect(issuesOf(values)).toContainEqual({ key: `chatbot:${key}`, message: "is required" });
  });

  it("reports every problem at once", () => {
    const issues = issuesOf({ ...valid, tier: "1gb", region: "xx1", appPort: "1", bogus: "1" });
    expect(issues.map((i) => i.key).sort()).toEqual([
      "chatbot:appPort",
      "chatbot:bogus",
      "chatbot:region",
      "chatbot:tier",
    ]);
    expect(() => parseConfig(raw({ ...valid, tier: "1gb" }), { stack: "dev" })).toThrow(/chatbot:tier: must be one of/);
  });

  it("refuses a secret key set in plain text, and accepts it set as a secret", () => {
    expect(issuesOf({ ...valid, postgresPassword: "hunter2" })).toContainEqual({
      key: "chatbot:postgresPassword",
      message: "is a secret: set it with `pulumi config set --secret postgresPassword`",
    });
    const c = parseConfig(raw({ ...valid, postgresPassword: "[secret]" }, ["postgresPassword"]), { stack: "dev" });
    expect(c.secrets.postgresPassword).toBe(true);
    expect(JSON.stringify(c)).not.toContain("[secret]");
    expect(SECRET_KEYS).toContain("sshPrivateKey");
  });

  it("needs the Slack webhook secret when a Slack channel is set", () => {
    expect(issuesOf({ ...valid, slackChannel: "#alerts" }).map((i) => i.key)).toEqual(["chatbot:slackWebhookUrl"]);
    expect(
      issuesOf({ ...valid, slackChannel: "#alerts", slackWebhookUrl: "[secret]" }, "dev", ["slackWebhookUrl"]),
    ).toEqual([]);
  });
});

describe("postgresPassword and redisPassword (compliant / non-compliant pairs)", () => {
  /** The issues for one password set as a secret, its plain value at hand as under `pulumi preview` and `up`. */
  function passwordIssues(key: PasswordKey, password: string, more: Record<string, unknown> = {}) {
    try {
      parseConfig(
        {
          values: { ...valid, ...more, [key]: "[secret]" },
          secretKeys: new Set([key]),
          passwords: { [key]: password },
        },
        { stack: "dev" },
      );
    } catch (e) {
      if (e instanceof ConfigError) return e.issues;
      throw e;
    }
    return [];
  }

  const hostile: [string, string, string][] = [
    ["shell code", "$(touch /tmp/somefile)", 'it holds "$", " "'],
    ["a space", "a b", 'it has 3 characters and it holds " "'],
    ["a second command", "x;id", "it has 4 characters"],
    ["a variable", "${HOME}-and-16-characters", 'it holds "$"'],
    ["a comment", "sixteen-characters#comment", 'it holds "#"'],
    ["single quotes", "'sixteen-characters'", `it holds "'"`],
    ["double quotes", '"sixteen-characters"', 'it holds "\\""'],
    ["a backtick", "`sixteen-characters`", 'it holds "`"'],
    ["a backslash", "sixteen\\characters-x", 'it holds "\\\\"'],
    ["a newline (a second Redis config line)", "sixteen-characters\nmaxmemory 1", 'it holds "\\n", " "'],
    ["a trailing space", "sixteen-characters ", 'it holds " "'],
    ["a tab", "sixteen\tcharacters", 'it holds "\\t"'],
    ["a letter outside ASCII", "sixteen-charactèrs", 'it holds "è"'],
    ["15 characters", "fifteen-chars-x", "it has 15 characters"],
  ];

  describe.each(PASSWORD_KEYS)("%s", (key) => {
    it.each(hostile)(
      "refuses one with %s, naming the key and the allowed set, not the value",
      (_what, password, found) => {
        const issues = passwordIssues(key, password);
        expect(issues).toEqual([
          {
            key: `chatbot:${key}`,
            message: expect.stringMatching(
              /^must be at least 16 characters of A-Z a-z 0-9 ! % & \( \) \* \+ , - \. \/ : ; < = > \? @ \[ \] \^ _ \{ \| \} ~ /,
            ),
          },
        ]);
        expect(issues[0]!.message.endsWith(`; ${found}`), issues[0]!.message).toBe(true);
        if (password.length > 4) expect(issues[0]!.message).not.toContain(password);
      },
    );

    it.each([
      ["16 letters", "abcdefghijklmnop"],
      ["every allowed punctuation mark", "Aa0!%&()*+,-./:;<=>?@[]^_{|}~"],
      ["= signs (the reader splits at the first)", "=starts=with=equals="],
      ["32 letters and digits, like a generated one", "Q7fJ2kLmN9pR4sT6vW8xY0zA1bC3dE5g"],
    ])("accepts one of %s", (_what, password) => {
      expect(passwordIssues(key, password)).toEqual([]);
    });
  });

  it("reports a bad password with every other problem at once", () => {
    expect(
      passwordIssues("redisPassword", "a b", { tier: "1gb" })
        .map((i) => i.key)
        .sort(),
    ).toEqual(["chatbot:redisPassword", "chatbot:tier"]);
  });

  it("judges nothing when the value is not at hand (the offline plan cannot decrypt), only that it is set", () => {
    const c = parseConfig(
      raw({ ...valid, postgresPassword: "[secret]", redisPassword: "[secret]" }, ["postgresPassword", "redisPassword"]),
      { stack: "dev" },
    );
    expect(c.secrets).toMatchObject({ postgresPassword: true, redisPassword: true });
    expect(JSON.stringify(c)).not.toContain("passwords");
  });
});

describe("prod guardrails (compliant / non-compliant pairs)", () => {
  const prod = { ...valid, backups: "daily", alertEmails: '["ops@example.com"]' };

  it("treats stacks named prod or prod-* as prod, and protects stateful resources there", () => {
    expect(parseConfig(raw(prod), { stack: "prod" })).toMatchObject({ environment: "prod", protectStateful: true });
    expect(parseConfig(raw(prod), { stack: "prod-eu" }).environment).toBe("prod");
    expect(parseConfig(raw(prod), { stack: "production-test" }).environment).toBe("dev");
    expect(parseConfig(raw({ ...prod, environment: "prod" }), { stack: "live" }).protectStateful).toBe(true);
  });

  it.each([
    [
      "sshAllowedCidrs",
      '["0.0.0.0/0"]',
      '["203.0.113.0/28"]',
      /at most 256 IPv4 addresses \(a \/24\) in prod; 0\.0\.0\.0\/0 admits 4,294,967,296/,
    ],
    [
      "sshAllowedCidrs",
      '["::/0"]',
      '["2001:db8::/56"]',
      /at most a \/56 of IPv6 \(2\^72 addresses\) in prod; ::\/0 admits 2\^128/,
    ],
    // The union is judged, not each range: two halves of the Internet are the Internet.
    [
      "sshAllowedCidrs",
      '["0.0.0.0/1", "128.0.0.0/1"]',
      '["203.0.113.0/25", "203.0.113.128/25"]',
      /0\.0\.0\.0\/1, 128\.0\.0\.0\/1 admit 4,294,967,296/,
    ],
    [
      "sshAllowedCidrs",
      '["::/1", "8000::/1"]',
      '["2001:db8::/57", "2001:db8:0:80::/57"]',
      /::\/1, 8000::\/1 admit 2\^128/,
    ],
    // One address over the limit is refused; overlapping ranges count once (the sum would be 257).
    [
      "sshAllowedCidrs",
      '["203.0.113.0/24", "198.51.100.7/32"]',
      '["203.0.113.0/24", "203.0.113.7/32"]',
      /admit 257 IPv4 addresses/,
    ],
    ["sshAllowedCidrs", '["203.0.112.0/23"]', '["203.0.113.0/24"]', /203\.0\.112\.0\/23 admits 512/],
    [
      "sshAllowedCidrs",
      '["2001:db8::/55"]',
      '["2001:db8::/56", "2001:db8::1/128"]',
      /2001:db8::\/55 admits 2\^73 \(a \/55\)/,
    ],
    // Host bits set: the range is what the firewall admits, not the address written.
    ["sshAllowedCidrs", '["203.0.113.77/16"]', '["203.0.113.77/24"]', /admits 65,536/],
    ["sshAllowedCidrs", '["::ffff:0:0/96"]', '["2001:db8::7/128"]', /IPv4-mapped/],
    ["backups", "none", "weekly", /weekly or daily in prod/],
    ["alertEmails", "[]", '["a@example.com"]', /at least one address/],
    ["appImage", "ghcr.io/acme/chatbot:latest", `ghcr.io/acme/chatbot@sha256:${"a".repeat(64)}`, /not :latest/],
  ])("%s = %s is refused in prod, %s is accepted", (key, bad, good, message) => {
    const issues = issuesOf({ ...prod, [key]: bad }, "prod");
    expect(issues.find((i) => i.key === `chatbot:${key}`)?.message).toMatch(message);
    expect(issuesOf({ ...prod, [key]: good }, "prod")).toEqual([]);
    expect(issuesOf({ ...prod, [key]: bad }, "dev").filter((i) => i.key === `chatbot:${key}`)).toEqual([]);
  });
});

describe("guardrails follow the stack's name", () => {
  const prod = { ...valid, backups: "daily", alertEmails: '["ops@example.com"]' };
  const wide = { ...valid, sshAllowedCidrs: '["0.0.0.0/0"]', backups: "none" };

  it.each(["prod", "prod-eu"])(
    "stack %s cannot declare itself dev (non-compliant), and keeps the guardrails",
    (stack) => {
      const issues = issuesOf({ ...wide, environment: "dev" }, stack);
      expect(issues.find((i) => i.key === "chatbot:environment")?.message).toMatch(
        new RegExp(
          `must not be dev on stack "${stack}": stacks named prod or prod-\\* keep the prod guardrails and protection; to run it as dev anyway, also set chatbot:allowDevOnProdStack: true`,
        ),
      );
      // The prod checks still ran: every problem at once.
      expect(issues.map((i) => i.key)).toEqual(
        expect.arrayContaining(["chatbot:sshAllowedCidrs", "chatbot:backups", "chatbot:alertEmails"]),
      );
    },
  );

  it("stack prod with environment dev and the explicit override (compliant): dev, unprotected, and a loud warning", () => {
    const c = parseConfig(raw({ ...wide, environment: "dev", allowDevOnProdStack: "true" }), { stack: "prod" });
    expect(c).toMatchObject({ environment: "dev", protectStateful: false });
    expect(c.warnings).toHaveLength(1);
    expect(c.warnings[0]).toMatch(
      /^GUARDRAILS OFF on stack "prod": chatbot:environment is dev and chatbot:allowDevOnProdStack is true/,
    );
    expect(c.warnings[0]).toMatch(/not protected from deletion/);
  });

  it("the override is refused where it would mean nothing (a stale key must not wait for the next mistake)", () => {
    expect(issuesOf({ ...prod, allowDevOnProdStack: "true" }, "prod").map((i) => i.key)).toEqual([
      "chatbot:allowDevOnProdStack",
    ]);
    expect(issuesOf({ ...prod, environment: "prod", allowDevOnProdStack: "true" }, "prod").map((i) => i.key)).toEqual([
      "chatbot:allowDevOnProdStack",
    ]);
    expect(
      issuesOf({ ...valid, environment: "dev", allowDevOnProdStack: "true" }, "staging").map((i) => i.key),
    ).toEqual(["chatbot:allowDevOnProdStack"]);
    expect(issuesOf({ ...valid, allowDevOnProdStack: "false" }, "dev")).toEqual([]);
  });

  it("other stacks keep choosing: production-test is dev by default, and any stack may declare itself prod", () => {
    expect(parseConfig(raw({ ...valid, environment: "dev" }), { stack: "production-test" })).toMatchObject({
      environment: "dev",
      warnings: [],
    });
    expect(issuesOf({ ...wide, environment: "prod" }, "live").map((i) => i.key)).toEqual(
      expect.arrayContaining(["chatbot:sshAllowedCidrs", "chatbot:backups"]),
    );
  });
});

describe("appImage pinning in prod", () => {
  const prod = { ...valid, backups: "daily", alertEmails: '["ops@example.com"]' };
  const digest = `sha256:${"0123456789abcdef".repeat(4)}`;

  it("a tag-only image plans in prod with a warning that says how to pin it by digest", () => {
    const c = parseConfig(raw(prod), { stack: "prod" });
    expect(c.warnings).toEqual([
      "chatbot:appImage ghcr.io/acme/chatbot:1.4.2 is pinned by tag only: in prod, pin it by digest (ghcr.io/acme/chatbot:1.4.2@sha256:<digest>) so a re-pushed tag cannot change what a restart or a new droplet runs",
    ]);
  });

  it.each([`ghcr.io/acme/chatbot:1.4.2@${digest}`, `ghcr.io/acme/chatbot@${digest}`])("%s: no warning", (image) => {
    expect(parseConfig(raw({ ...prod, appImage: image }), { stack: "prod" }).warnings).toEqual([]);
  });

  it("dev stacks are not warned", () => {
    expect(parseConfig(raw(valid), { stack: "dev" }).warnings).toEqual([]);
  });
});

describe("tier migration keys", () => {
  it("needs a retention time with previousTier, and previousTier with a retention time", () => {
    expect(issuesOf({ ...valid, tier: "8gb", previousTier: "4gb" }).map((i) => i.key)).toEqual([
      "chatbot:previousTierRetainUntil",
    ]);
    expect(issuesOf({ ...valid, previousTierRetainUntil: "2026-12-01T00:00:00Z" }).map((i) => i.key)).toEqual([
      "chatbot:previousTierRetainUntil",
    ]);
    expect(
      issuesOf({ ...valid, tier: "8gb", previousTier: "4gb", previousTierRetainUntil: "2026-12-01T00:00:00Z" }),
    ).toEqual([]);
  });
});

describe("scale-out keys", () => {
  it("moves onto scale-out only from the largest droplet", () => {
    const until = "2026-12-01T00:00:00Z";
    expect(
      issuesOf({ ...valid, tier: "scale-out", previousTier: "8gb", previousTierRetainUntil: until }).map(
        (i) => i.message,
      ),
    ).toEqual(["must be 16gb to move onto scale-out (the largest single droplet; migrate up to it first)"]);
    expect(issuesOf({ ...valid, tier: "scale-out", previousTier: "16gb", previousTierRetainUntil: until })).toEqual([]);
  });

  it("needs a standby database node in prod", () => {
    const prod = { ...valid, tier: "scale-out", backups: "daily", alertEmails: '["ops@example.com"]' };
    expect(issuesOf(prod, "prod").map((i) => i.key)).toEqual(["chatbot:dbNodeCount"]);
    expect(issuesOf({ ...prod, dbNodeCount: "2" }, "prod")).toEqual([]);
  });
});

describe("stack names", () => {
  it("refuses a stack name that cannot name a volume", () => {
    expect(issuesOf(valid, "Prod_EU")).toContainEqual({
      key: "stack",
      message: expect.stringMatching(/lowercase letters, digits and hyphens/),
    });
    expect(issuesOf(valid, "staging-2")).toEqual([]);
  });
});
