import { describe, expect, it } from "vitest";
import {
  CERTIFICATE,
  DATABASE_CLUSTER,
  DNS_RECORD,
  DROPLET,
  FORCE_NEW_INPUTS,
  INPUT_KINDS,
  MONITOR_ALERT,
  REGIONS,
  REGIONS_OPEN_FOR_NEW_DROPLETS,
  UPTIME_ALERT,
  checkCertificate,
  checkConnectionPool,
  checkDatabaseCluster,
  checkDatabaseFirewallRule,
  checkDnsRecord,
  checkDroplet,
  checkDropletAutoscaleConfig,
  checkFirewall,
  checkFirewallRule,
  checkInputTypes,
  checkLoadBalancer,
  checkMonitorAlert,
  checkProject,
  checkUptimeAlert,
  checkUptimeCheck,
  checkVolumeResize,
  checkVpcIpRange,
  dropletForceNewInputs,
  isIpOrCidr,
  isPortableDropletName,
  isRegionOpenForNewDroplets,
  isValidBackupHour,
  isValidDatabaseEngine,
  isValidDatabaseSizeSlug,
  isValidDnsRecordType,
  isValidDropletName,
  isValidFirewallName,
  isValidMonitorAlertType,
  isValidPortRange,
  isValidProjectEnvironment,
  isValidProjectResourceUrn,
  isValidRegion,
  isValidSshKeyRef,
  isValidTagName,
  isValidVolumeName,
  isValidVolumeSize,
  isValidVpcName,
  replacingChanges,
} from "../../infra/provider-rules";

const T = {
  droplet: "digitalocean:index/droplet:Droplet",
  volume: "digitalocean:index/volume:Volume",
  attachment: "digitalocean:index/volumeAttachment:VolumeAttachment",
  reservedIp: "digitalocean:index/reservedIp:ReservedIp",
  firewall: "digitalocean:index/firewall:Firewall",
  db: "digitalocean:index/databaseCluster:DatabaseCluster",
  pool: "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool",
  monitor: "digitalocean:index/monitorAlert:MonitorAlert",
} as const;

/** A pure predicate: every `good` value passes, every `bad` value fails. */
function pairs<V>(name: string, pred: (v: V) => boolean, good: V[], bad: V[]) {
  describe(name, () => {
    it.each(good.map((v) => [v]))("accepts %j", (v) => expect(pred(v)).toBe(true));
    it.each(bad.map((v) => [v]))("rejects %j", (v) => expect(pred(v)).toBe(false));
  });
}

pairs("isValidRegion", isValidRegion, ["nyc3", "fra1", "ams3", "sfo1"], ["NYC3", "nyc4", "us-east-1", "", "fra"]);
pairs(
  "isRegionOpenForNewDroplets",
  isRegionOpenForNewDroplets,
  ["nyc3", "fra1", "sfo3", "lon1"],
  ["nyc2", "sfo1", "ams2", "atl1", "mars1"],
);
pairs(
  "isValidDropletName",
  isValidDropletName,
  ["app-4gb", "chatbot.example.com", "Web01"],
  ["", "-app", "app-", "app_1", "a b", "x".repeat(256)],
);
pairs(
  "isPortableDropletName",
  isPortableDropletName,
  ["chatbot-prod-droplet", "ab"],
  ["Chatbot", "app.example.com", "a", "x".repeat(33), "9app"],
);
pairs(
  "isValidSshKeyRef",
  isValidSshKeyRef,
  ["289794", "3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45"],
  ["", "ssh-ed25519 AAAA", "3b:16:e4", "SHA256:abc"],
);
pairs("isValidBackupHour", isValidBackupHour, [0, 4, 8, 12, 16, 20], [3, 21, 24, -4, 2.5]);
pairs(
  "isValidVolumeName",
  isValidVolumeName,
  ["pgdata", "pg-data-1"],
  ["PgData", "1pgdata", "pg_data", "", "a".repeat(65)],
);
pairs("isValidVolumeSize", isValidVolumeSize, [1, 100, 16384], [0, -1, 1.5, 16385]);
pairs(
  "isValidPortRange",
  isValidPortRange,
  ["22", "8000-9000", "1-65535", "all", "65535"],
  ["0", "", "80,443", " 80", "9000-8000", "65536", "1-65536", "http"],
);
pairs(
  "isValidFirewallName",
  isValidFirewallName,
  ["chatbot-fw", "fw.prod", "A1", "fw"],
  ["-fw", "chatbot_fw", "", "x"],
);
pairs(
  "isValidTagName",
  isValidTagName,
  ["env:prod", "chatbot_app", "Tier-4GB"],
  ["", "env prod", "a/b", "x".repeat(256)],
);
pairs("isValidVpcName", isValidVpcName, ["chatbot-vpc", "env.prod-vpc", "vpc-a0b1c2d"], ["", "chatbot vpc", "vpc_1"]);
pairs("isValidDnsRecordType", isValidDnsRecordType, ["A", "AAAA", "CNAME", "SOA", "CAA"], ["a", "PTR", "ALIAS", ""]);
pairs(
  "isValidProjectEnvironment",
  isValidProjectEnvironment,
  ["Production", "production", "STAGING", "Development"],
  ["prod", "dev", "Test", ""],
);
pairs(
  "isValidProjectResourceUrn",
  isValidProjectResourceUrn,
  [
    "do:droplet:13457723",
    "do:volume:506f78a4-e098-11e5-ad9f-000f53306ae1",
    "do:reservedip:1.2.3.4",
    "do:domain:example.com",
    "do:dbaas:9cc10173",
  ],
  [
    "urn:pulumi:dev::chatbot::digitalocean:index/droplet:Droplet::app",
    "do:droplet:",
    "droplet:123",
    "do:vpc:5a4981aa",
    "13457723",
  ],
);
pairs(
  "isValidMonitorAlertType",
  isValidMonitorAlertType,
  ["v1/insights/droplet/cpu", "v1/insights/droplet/memory_utilization_percent", "v1/dbaas/alerts/cpu_alerts"],
  ["cpu", "v1/insights/droplet/http_latency", "v1/insights/droplet/memory"],
);
pairs(
  "isValidDatabaseEngine",
  isValidDatabaseEngine,
  ["pg", "valkey", "redis", "mysql"],
  ["postgres", "postgresql", "PG", "memcached"],
);
pairs(
  "isValidDatabaseSizeSlug",
  isValidDatabaseSizeSlug,
  ["db-s-1vcpu-1gb", "db-s-2vcpu-4gb", "db-amd-4vcpu-8gb"],
  ["s-2vcpu-4gb", "db-s-1vcpu", "DB-S-1VCPU-1GB", ""],
);
pairs(
  "isIpOrCidr",
  isIpOrCidr,
  ["0.0.0.0/0", "::/0", "10.0.0.5", "2002:1001::/48"],
  ["10.0.0.0/33", "10.0.0/24", "example.com", "", "1.2.3.4/8/1"],
);

describe("regions data", () => {
  it("marks every open region as an existing slug and keeps restricted ones out of the open set", () => {
    for (const s of REGIONS_OPEN_FOR_NEW_DROPLETS) expect(REGIONS[s].newDroplets).toBe("open");
    expect(REGIONS_OPEN_FOR_NEW_DROPLETS.has("nyc2")).toBe(false);
  });
});

describe("checkDroplet", () => {
  const good = {
    name: "chatbot-prod",
    size: "s-2vcpu-4gb",
    image: "ubuntu-24-04-x64",
    region: "fra1",
    sshKeys: ["289794", "3b:16:e4:bf:8b:00:8b:b8:59:8c:a9:d3:f0:19:fa:45"],
    userData: "#cloud-config\n",
    backups: true,
    backupPolicy: { plan: "weekly", weekday: "SUN", hour: 4 },
    tags: ["chatbot", "env:prod"],
  };
  it("accepts a compliant droplet", () => expect(checkDroplet(good)).toEqual([]));
  it.each<[string, Record<string, unknown>, string]>([
    ["an ssh key ID as a number", { sshKeys: [289794] }, "sshKeys"],
    ["a region that takes no new droplets", { region: "sfo1" }, "region: sfo1"],
    ["an unknown region", { region: "us-east-1" }, "region"],
    [
      "backup hour the API refuses though the provider's 0-20 check passes",
      { backupPolicy: { plan: "daily", hour: 3 } },
      "backupPolicy.hour",
    ],
    ["backup hour as a string", { backupPolicy: { plan: "daily", hour: "4" } }, "backupPolicy.hour"],
    [
      "a backup plan spelled in capitals",
      { backupPolicy: { plan: "Weekly", weekday: "SUN", hour: 0 } },
      "backupPolicy.plan",
    ],
    ["a lowercase weekday", { backupPolicy: { plan: "weekly", weekday: "sun", hour: 0 } }, "backupPolicy.weekday"],
    ["a backup policy while backups are off", { backups: false }, "backups is true"],
    ["user data over 64 KiB", { userData: "x".repeat(64 * 1024 + 1) }, "64 KiB"],
    ["empty user data", { userData: "" }, "userData"],
    ["an uppercase size slug", { size: "S-2VCPU-4GB" }, "size"],
    ["an invalid tag", { tags: ["env prod"] }, "tags"],
  ])("rejects %s", (_label, patch, fragment) => {
    const problems = checkDroplet({ ...good, ...patch });
    expect(problems.join("\n")).toContain(fragment);
  });
  it("accepts exactly 64 KiB of user data", () =>
    expect(checkDroplet({ ...good, userData: "x".repeat(64 * 1024) })).toEqual([]));
});

describe("droplet ForceNew", () => {
  const base = {
    name: "a",
    size: "s-2vcpu-4gb",
    image: "ubuntu-24-04-x64",
    region: "fra1",
    userData: "v1",
    sshKeys: ["1", "2"],
    tags: ["x"],
    ipv6: false,
    monitoring: true,
  };
  it("lists the replacing inputs", () => {
    expect([...dropletForceNewInputs].sort()).toEqual([
      "dropletAgent",
      "gpuPartitionMode",
      "image",
      "monitoring",
      "region",
      "sshKeys",
      "userData",
      "vpcUuid",
    ]);
    expect(dropletForceNewInputs).not.toContain("size");
    expect(dropletForceNewInputs).not.toContain("name");
  });
  it.each<[string, Record<string, unknown>, string[]]>([
    ["a resize", { size: "s-4vcpu-8gb" }, []],
    ["a rename", { name: "b" }, []],
    ["reordered ssh keys (a set)", { sshKeys: ["2", "1"] }, []],
    ["tags in other case", { tags: ["X"] }, []],
    ["turning ipv6 on", { ipv6: true }, []],
    ["new user data", { userData: "v2" }, ["userData"]],
    ["another ssh key", { sshKeys: ["1", "3"] }, ["sshKeys"]],
    ["turning monitoring off", { monitoring: false }, ["monitoring"]],
    ["another region and image", { region: "ams3", image: "debian-12-x64" }, ["image", "region"]],
  ])("%s", (_label, patch, expected) => {
    expect(replacingChanges(T.droplet, base, { ...base, ...patch }).sort()).toEqual(expected);
  });
  it("replaces when ipv6 goes from true to false, not the other way", () => {
    expect(replacingChanges(T.droplet, { ...base, ipv6: true }, base)).toEqual(["ipv6"]);
    expect(replacingChanges(T.droplet, base, { ...base, ipv6: true })).toEqual([]);
  });
  it("replaces a volume on rename and a connection pool on a size change", () => {
    expect(replacingChanges(T.volume, { name: "pgdata", size: 10 }, { name: "pgdata2", size: 10 })).toEqual(["name"]);
    expect(replacingChanges(T.volume, { name: "pgdata", size: 10 }, { name: "pgdata", size: 20 })).toEqual([]);
    expect(replacingChanges(T.pool, { size: 10, mode: "transaction" }, { size: 20, mode: "transaction" })).toEqual([
      "size",
    ]);
    expect(replacingChanges(T.reservedIp, { region: "fra1", dropletId: 1 }, { region: "fra1", dropletId: 2 })).toEqual(
      [],
    );
  });
  it("has a ForceNew entry and input kinds for the same resource tokens", () => {
    expect(Object.keys(FORCE_NEW_INPUTS).sort()).toEqual(Object.keys(INPUT_KINDS).sort());
  });
});

describe("checkVolumeResize", () => {
  it("accepts growth", () => expect(checkVolumeResize(10, 20)).toEqual([]));
  it("refuses shrinking", () => expect(checkVolumeResize(20, 10).join()).toContain("only grow"));
});

describe("checkInputTypes (numbers vs strings)", () => {
  it.each<[string, string, Record<string, unknown>]>([
    ["VolumeAttachment.dropletId as number", T.attachment, { dropletId: 123456, volumeId: "506f78a4" }],
    ["ReservedIp.dropletId as number", T.reservedIp, { region: "fra1", dropletId: 1 }],
    [
      "Firewall nested source droplet ids as numbers",
      T.firewall,
      { name: "fw", inboundRules: [{ protocol: "tcp", portRange: "22", sourceDropletIds: [1, 2] }] },
    ],
    [
      "DatabaseCluster version and storage as strings",
      T.db,
      { engine: "pg", version: "16", size: "db-s-1vcpu-2gb", region: "fra1", nodeCount: 1, storageSizeMib: "30720" },
    ],
    ["MonitorAlert entities as strings", T.monitor, { type: "v1/insights/droplet/cpu", value: 80, entities: ["123"] }],
    [
      "a secret-wrapped string input",
      T.droplet,
      { userData: { "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", value: "#cloud-config" } },
    ],
  ])("accepts %s", (_label, token, inputs) => expect(checkInputTypes(token, inputs)).toEqual([]));

  it.each<[string, string, Record<string, unknown>, string]>([
    [
      "VolumeAttachment.dropletId as the droplet's string id",
      T.attachment,
      { dropletId: "123456", volumeId: "v" },
      "dropletId: must be a number",
    ],
    ["ReservedIp.dropletId as a string", T.reservedIp, { region: "fra1", dropletId: "1" }, "dropletId"],
    [
      "Firewall source droplet id as string",
      T.firewall,
      { inboundRules: [{ protocol: "tcp", sourceDropletIds: ["1"] }] },
      "inboundRules[0].sourceDropletIds",
    ],
    ["DatabaseCluster version as a number", T.db, { version: 16 }, "version: must be string"],
    ["DatabaseCluster nodeCount as a string", T.db, { nodeCount: "1" }, "nodeCount"],
    ["Droplet ssh key IDs as numbers", T.droplet, { sshKeys: [289794] }, "sshKeys"],
    ["Droplet backup hour as a string", T.droplet, { backupPolicy: { hour: "4" } }, "backupPolicy.hour"],
    ["MonitorAlert entities as numbers", T.monitor, { entities: [123] }, "entities"],
    ["Volume size as a string", T.volume, { size: "100" }, "size"],
    ["ConnectionPool size as a string", T.pool, { size: "20" }, "size"],
  ])("rejects %s", (_label, token, inputs, fragment) => {
    expect(checkInputTypes(token, inputs).join("\n")).toContain(fragment);
  });
  it("ignores tokens it does not know", () =>
    expect(checkInputTypes("random:index/randomPassword:RandomPassword", { length: "x" })).toEqual([]));
});

describe("firewall", () => {
  const ssh = { protocol: "tcp", portRange: "22", sourceAddresses: ["203.0.113.4/32"] };
  it("accepts compliant inbound and outbound rules", () => {
    expect(
      checkFirewall({
        name: "chatbot-fw",
        inboundRules: [ssh, { protocol: "icmp", sourceAddresses: ["0.0.0.0/0", "::/0"] }],
        outboundRules: [{ protocol: "udp", portRange: "all", destinationAddresses: ["0.0.0.0/0"] }],
      }),
    ).toEqual([]);
    expect(
      checkFirewallRule("inbound", { protocol: "tcp", portRange: "5432", sourceDropletIds: [123], action: "deny" }),
    ).toEqual([]);
  });
  it.each<[string, Record<string, unknown>, string]>([
    ["protocol http (the SDK Protocol enum has it; firewalls do not)", { ...ssh, protocol: "http" }, "protocol"],
    ["protocol in capitals", { ...ssh, protocol: "TCP" }, "protocol"],
    ["tcp without a port range", { protocol: "tcp", sourceAddresses: ["1.2.3.4"] }, "portRange: required"],
    ["port range 0", { ...ssh, portRange: "0" }, "portRange"],
    ["a port list", { ...ssh, portRange: "80,443" }, "portRange"],
    ["a droplet id as string", { protocol: "tcp", portRange: "22", sourceDropletIds: ["123"] }, "sourceDropletIds"],
    ["a hostname as address", { ...ssh, sourceAddresses: ["example.com"] }, "sourceAddresses"],
    ["an action other than allow/deny", { ...ssh, action: "drop" }, "action"],
    ["no sources at all", { protocol: "tcp", portRange: "22" }, "matches no traffic"],
  ])("rejects a rule with %s", (_label, rule, fragment) => {
    expect(checkFirewallRule("inbound", rule).join("\n")).toContain(fragment);
  });
  it("uses destination* fields for outbound rules", () => {
    expect(
      checkFirewallRule("outbound", { protocol: "tcp", portRange: "443", destinationAddresses: ["0.0.0.0/0"] }),
    ).toEqual([]);
    expect(
      checkFirewallRule("outbound", { protocol: "tcp", portRange: "443", sourceAddresses: ["0.0.0.0/0"] }).join(),
    ).toContain("no destination");
  });
  it("requires at least one rule and a valid name", () => {
    expect(checkFirewall({ name: "chatbot-fw" }).join()).toContain("at least one rule");
    expect(checkFirewall({ name: "chatbot_fw", inboundRules: [ssh] }).join()).toContain("name");
  });
});

describe("checkVpcIpRange", () => {
  it.each(["10.10.10.0/24", "10.20.0.0/16", "172.16.0.0/20", "192.168.4.0/22"])("accepts %s", (c) =>
    expect(checkVpcIpRange(c)).toEqual([]),
  );
  it.each<[string, string]>([
    ["10.0.0.0/8", "/8"],
    ["10.0.0.0/25", "/25"],
    ["100.64.0.0/16", "RFC 1918"],
    ["172.32.0.0/16", "RFC 1918"],
    ["10.0.0.1/24", "host bits"],
    ["10.0.0.0", "not an IPv4 CIDR"],
    ["fd00::/48", "not an IPv4 CIDR"],
  ])("rejects %s", (c, fragment) => expect(checkVpcIpRange(c).join()).toContain(fragment));
});

describe("checkDnsRecord", () => {
  it.each<[string, Record<string, unknown>]>([
    ["an apex A record", { type: "A", domain: "example.com", name: "@", value: "203.0.113.4", ttl: 60 }],
    ["a CNAME with a trailing dot", { type: "CNAME", domain: "example.com", name: "www", value: "example.com." }],
    ["an MX with priority", { type: "MX", domain: "example.com", name: "@", value: "mx.example.net.", priority: 10 }],
    [
      "a CAA record",
      { type: "CAA", domain: "example.com", name: "@", value: "letsencrypt.org.", flags: 0, tag: "issue" },
    ],
  ])("accepts %s", (_label, r) => expect(checkDnsRecord(r)).toEqual([]));
  it.each<[string, Record<string, unknown>, string]>([
    ["a lowercase type", { type: "a", domain: "example.com", name: "@", value: "1.2.3.4" }, "type"],
    [
      "no name (Pulumi would auto-name it)",
      { type: "A", domain: "example.com", value: "1.2.3.4" },
      "name: must be set",
    ],
    ["ttl 0", { type: "A", domain: "example.com", name: "@", value: "1.2.3.4", ttl: 0 }, "ttl"],
    ["ttl as a string", { type: "A", domain: "example.com", name: "@", value: "1.2.3.4", ttl: "60" }, "ttl"],
    [
      "MX without priority",
      { type: "MX", domain: "example.com", name: "@", value: "mx.example.net." },
      "priority: required",
    ],
    [
      "SRV without weight and port",
      { type: "SRV", domain: "example.com", name: "_sip._tcp", value: "sip.example.net.", priority: 1 },
      "weight: required",
    ],
    [
      "CAA with an unknown tag",
      { type: "CAA", domain: "example.com", name: "@", value: "ca.", flags: 0, tag: "issuer" },
      "tag",
    ],
    [
      "a CNAME without the trailing dot",
      { type: "CNAME", domain: "example.com", name: "www", value: "example.com" },
      "FQDN",
    ],
    [
      "flags above 255",
      { type: "CAA", domain: "example.com", name: "@", value: "ca.", flags: 256, tag: "issue" },
      "flags",
    ],
  ])("rejects %s", (_label, r, fragment) => expect(checkDnsRecord(r).join("\n")).toContain(fragment));
  it("keeps SOA although the SDK RecordType enum lacks it", () => expect(DNS_RECORD.types).toContain("SOA"));
});

describe("checkProject", () => {
  it("accepts a compliant project", () => {
    expect(
      checkProject({
        name: "chatbot",
        environment: "Production",
        purpose: "Web Application",
        resources: ["do:droplet:1", "do:volume:abc"],
      }),
    ).toEqual([]);
  });
  it.each<[string, Record<string, unknown>, string]>([
    ["a 176-character name", { name: "x".repeat(176) }, "name"],
    ["environment prod", { environment: "prod" }, "environment"],
    [
      "a Pulumi URN in resources",
      { resources: ["urn:pulumi:dev::chatbot::digitalocean:index/droplet:Droplet::app"] },
      "dropletUrn",
    ],
    ["a bare droplet id in resources", { resources: ["123"] }, "resources"],
    ["a 256-character purpose", { purpose: "p".repeat(256) }, "purpose"],
  ])("rejects %s", (_label, p, fragment) => expect(checkProject(p).join()).toContain(fragment));
});

describe("monitoring", () => {
  const alert = {
    type: "v1/insights/droplet/memory_utilization_percent",
    compare: "GreaterThan",
    window: "5m",
    value: 90,
    entities: ["123"],
    description: "memory high",
  };
  it("accepts a compliant monitor alert", () => expect(checkMonitorAlert(alert)).toEqual([]));
  it.each<[string, Record<string, unknown>, string]>([
    ["window 15m", { window: "15m" }, "window"],
    ["window 24h", { window: "24h" }, "window"],
    ["compare in snake_case (the uptime spelling)", { compare: "greater_than" }, "compare"],
    ["a negative value", { value: -1 }, "value"],
    ["entities as numbers", { entities: [123] }, "entities"],
    ["an invented type", { type: "v1/insights/droplet/http_latency" }, "type"],
    ["no description", { description: "" }, "description"],
  ])("rejects a monitor alert with %s", (_label, patch, fragment) =>
    expect(checkMonitorAlert({ ...alert, ...patch }).join("\n")).toContain(fragment),
  );

  it("knows the alert windows are only 5m, 10m, 30m, 1h", () =>
    expect([...MONITOR_ALERT.windows]).toEqual(["5m", "10m", "30m", "1h"]));

  it("accepts compliant uptime checks and alerts", () => {
    expect(
      checkUptimeCheck({ type: "https", target: "https://chat.example.com/healthz", regions: ["us_east", "eu_west"] }),
    ).toEqual([]);
    expect(checkUptimeAlert({ type: "latency", comparison: "greater_than", period: "2m", threshold: 500 })).toEqual([]);
  });
  it.each<[string, Record<string, unknown>, string]>([
    ["the SDK doc's camelCase comparison", { type: "latency", comparison: "greaterThan" }, "comparison"],
    ["the SDK doc's camelCase type", { type: "downGlobal" }, "type"],
    ["the monitor-alert comparison spelling", { type: "down", comparison: "GreaterThan" }, "comparison"],
    ["period 4m", { type: "down", period: "4m" }, "period"],
    ["a fractional threshold", { type: "latency", threshold: 2.5 }, "threshold"],
  ])("rejects an uptime alert with %s", (_label, a, fragment) =>
    expect(checkUptimeAlert(a).join()).toContain(fragment),
  );
  it.each<[string, Record<string, unknown>, string]>([
    ["the SDK doc's camelCase region", { target: "https://x", regions: ["usEast"] }, "regions"],
    ["type tcp", { type: "tcp", target: "x" }, "type"],
    ["no target", { type: "ping" }, "target"],
  ])("rejects an uptime check with %s", (_label, c, fragment) =>
    expect(checkUptimeCheck(c).join()).toContain(fragment),
  );
  it("keeps uptime periods distinct from monitor windows", () => expect(UPTIME_ALERT.periods).toContain("2m"));
});

describe("checkLoadBalancer", () => {
  const lb = {
    region: "fra1",
    sizeUnit: 1,
    dropletTag: "chatbot-app",
    redirectHttpToHttps: true,
    forwardingRules: [
      {
        entryProtocol: "https",
        entryPort: 443,
        targetProtocol: "http",
        targetPort: 8000,
        certificateName: "chat-cert",
      },
      { entryProtocol: "http", entryPort: 80, targetProtocol: "http", targetPort: 8000 },
    ],
    healthcheck: { protocol: "http", port: 8000, path: "/healthz", checkIntervalSeconds: 10 },
    stickySessions: { type: "none" },
  };
  it("accepts a compliant load balancer", () => expect(checkLoadBalancer(lb)).toEqual([]));
  it.each<[string, Record<string, unknown>, string]>([
    ["size and sizeUnit together", { size: "lb-small" }, "only one"],
    ["sizeUnit 0", { sizeUnit: 0 }, "sizeUnit"],
    ["sizeUnit 201", { sizeUnit: 201 }, "sizeUnit"],
    [
      "an http3 target",
      { forwardingRules: [{ entryProtocol: "https", entryPort: 443, targetProtocol: "http3", targetPort: 8000 }] },
      "targetProtocol",
    ],
    [
      "a port as a string",
      { forwardingRules: [{ entryProtocol: "http", entryPort: "80", targetProtocol: "http", targetPort: 8000 }] },
      "entryPort",
    ],
    [
      "an http health check without path",
      { healthcheck: { protocol: "http", port: 8000 } },
      "healthcheck.path: required",
    ],
    ["a tcp health check with a path", { healthcheck: { protocol: "tcp", port: 8000, path: "/" } }, "not allowed"],
    [
      "a health check interval of 1 s",
      { healthcheck: { protocol: "tcp", port: 8000, checkIntervalSeconds: 1 } },
      "checkIntervalSeconds",
    ],
    ["dropletIds and dropletTag together", { dropletIds: [1] }, "only one"],
    ["no region for a regional LB", { region: undefined }, "region: required"],
    [
      "cookie sessions without a cookie name",
      { stickySessions: { type: "cookies", cookieTtlSeconds: 300 } },
      "cookieName",
    ],
    ["redirectHttpToHttps as a string", { redirectHttpToHttps: "true" }, "boolean"],
  ])("rejects %s", (_label, patch, fragment) =>
    expect(checkLoadBalancer({ ...lb, ...patch }).join("\n")).toContain(fragment),
  );
});

describe("managed databases", () => {
  const pg = {
    engine: "pg",
    version: "16",
    size: "db-s-1vcpu-2gb",
    region: "fra1",
    nodeCount: 1,
    maintenanceWindows: [{ day: "sunday", hour: "03:00" }],
  };
  const valkey = {
    engine: "valkey",
    version: "8",
    size: "db-s-1vcpu-1gb",
    region: "fra1",
    nodeCount: 1,
    evictionPolicy: "allkeys_lru",
  };
  it("accepts compliant PostgreSQL and Valkey clusters", () => {
    expect(checkDatabaseCluster(pg)).toEqual([]);
    expect(checkDatabaseCluster(valkey)).toEqual([]);
  });
  it.each<[string, Record<string, unknown>, string]>([
    ["engine postgresql", { ...pg, engine: "postgresql" }, "engine"],
    ["version as a number", { ...pg, version: 16 }, "version"],
    ["no version", { ...pg, version: undefined }, "version: required"],
    ["nodeCount 0", { ...pg, nodeCount: 0 }, "nodeCount"],
    ["nodeCount as a string", { ...pg, nodeCount: "2" }, "nodeCount"],
    ["a droplet size slug", { ...pg, size: "s-2vcpu-4gb" }, "size"],
    ["the SDK doc's camelCase eviction policy", { ...valkey, evictionPolicy: "allkeysLru" }, "evictionPolicy"],
    ["redis.conf's dashed eviction policy", { ...valkey, evictionPolicy: "allkeys-lru" }, "evictionPolicy"],
    ["an eviction policy on PostgreSQL", { ...pg, evictionPolicy: "noeviction" }, "only for engines"],
    ["storageSizeMib as a number", { ...pg, storageSizeMib: 30720 }, "storageSizeMib"],
    ["a capitalised maintenance day", { ...pg, maintenanceWindows: [{ day: "Sunday", hour: "03:00" }] }, "day"],
    ["a maintenance hour as a number", { ...pg, maintenanceWindows: [{ day: "sunday", hour: 3 }] }, "hour"],
    ["kafka with one node", { ...pg, engine: "kafka", nodeCount: 1 }, "equal to 3"],
  ])("rejects a cluster with %s", (_label, c, fragment) =>
    expect(checkDatabaseCluster(c).join("\n")).toContain(fragment),
  );
  it("documents the eviction policies with underscores", () =>
    expect(DATABASE_CLUSTER.evictionPolicies).toContain("volatile_ttl"));

  it("checks connection pools", () => {
    expect(checkConnectionPool({ name: "app", mode: "transaction", size: 20, dbName: "chatbot" })).toEqual([]);
    expect(checkConnectionPool({ name: "ap", mode: "transaction", size: 20, dbName: "chatbot" }).join()).toContain(
      "name",
    );
    expect(checkConnectionPool({ name: "app", mode: "Transaction", size: 20, dbName: "chatbot" }).join()).toContain(
      "mode",
    );
    expect(checkConnectionPool({ name: "app", mode: "transaction", size: "20", dbName: "chatbot" }).join()).toContain(
      "size",
    );
  });

  it.each<[Record<string, unknown>]>([
    [{ type: "droplet", value: "123456" }],
    [{ type: "ip_addr", value: "203.0.113.0/24" }],
    [{ type: "tag", value: "chatbot-app" }],
  ])("accepts database firewall rule %j", (r) => expect(checkDatabaseFirewallRule(r)).toEqual([]));
  it.each<[Record<string, unknown>, string]>([
    [{ type: "ip", value: "1.2.3.4" }, "rules.type"],
    [{ type: "droplet", value: 123456 }, "rules.value"],
    [{ type: "droplet", value: "app-droplet" }, "droplet ID"],
    [{ type: "ip_addr", value: "example.com" }, "IP address"],
  ])("rejects database firewall rule %j", (r, fragment) =>
    expect(checkDatabaseFirewallRule(r).join()).toContain(fragment),
  );
});

describe("checkDropletAutoscaleConfig", () => {
  it.each<[Record<string, unknown>]>([
    [{ minInstances: 1, maxInstances: 3, targetCpuUtilization: 0.7, cooldownMinutes: 5 }],
    [{ targetNumberInstances: 2 }],
  ])("accepts %j", (c) => expect(checkDropletAutoscaleConfig(c)).toEqual([]));
  it.each<[Record<string, unknown>, string]>([
    [{ minInstances: 1, maxInstances: 3, targetCpuUtilization: 70 }, "fraction"],
    [{ minInstances: 3, maxInstances: 1, targetCpuUtilization: 0.5 }, "above maxInstances"],
    [{ minInstances: 0, maxInstances: 2, targetMemoryUtilization: 0.5 }, "minInstances"],
    [{ targetNumberInstances: 2, targetCpuUtilization: 0.5 }, "cannot be combined"],
    [{ minInstances: 1, maxInstances: 2 }, "needs targetCpuUtilization"],
    [{}, "set targetNumberInstances"],
  ])("rejects %j", (c, fragment) => expect(checkDropletAutoscaleConfig(c).join()).toContain(fragment));
});

describe("checkCertificate", () => {
  it("accepts Let's Encrypt with domains and a custom certificate with key and leaf", () => {
    expect(checkCertificate({ type: "lets_encrypt", domains: ["chat.example.com"] })).toEqual([]);
    expect(checkCertificate({ privateKey: "k", leafCertificate: "c" })).toEqual([]);
  });
  it.each<[Record<string, unknown>, string]>([
    [{ type: "letsEncrypt", domains: ["a.example.com"] }, "type"],
    [{ type: "lets_encrypt" }, "domains"],
    [{ type: "lets_encrypt", domains: ["a.example.com"], privateKey: "k" }, "privateKey: not allowed"],
    [{ type: "custom", privateKey: "k" }, "leafCertificate"],
  ])("rejects %j", (c, fragment) => expect(checkCertificate(c).join()).toContain(fragment));
  it("replaces the certificate on any change", () => expect(CERTIFICATE.forceNew).toContain("domains"));
});

describe("data sanity", () => {
  it("keeps droplet backup hours inside the provider's own 0-20 range", () => {
    const [lo, hi] = DROPLET.backupPolicy.providerHourRange;
    for (const h of DROPLET.backupPolicy.hours) expect(h >= lo && h <= hi).toBe(true);
  });
  it("cites a provider source file for every resource object", () => {
    for (const o of [DROPLET, DNS_RECORD, MONITOR_ALERT, UPTIME_ALERT, DATABASE_CLUSTER, CERTIFICATE])
      expect(o.source).toMatch(/digitalocean\/[a-z]+\/resource_[a-z_]+\.go@[0-9a-f]{8}/);
  });
});
