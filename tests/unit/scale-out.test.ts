/**
 * The scale-out plan, pure: sizing of app droplets and pools, load balancer rules, managed clusters, firewalls,
 * guardrails per field, and the provider's own rules as compliance / non-compliance pairs.
 */
import { describe, expect, it } from "vitest";
import { DATABASE_NODE_MONTHLY_USD, DROPLET_MONTHLY_USD } from "../../infra/pricing";
import {
  checkConnectionPool,
  checkDatabaseCluster,
  checkDatabaseFirewallRule,
  checkLoadBalancer,
} from "../../infra/provider-rules";
import {
  appDropletSizes,
  backendConnections,
  DIRECT_CONNECTIONS,
  DRAIN_SECONDS,
  dropletShape,
  LB_HEALTHCHECK,
  planScaleOut,
  scaleOutMonthly,
  type ScaleOutInput,
  ScaleOutError,
} from "../../infra/scale-out";
import { APP_MIB_PER_WORKER } from "../../infra/tuning";
import { PROD_INPUT } from "../scale-out/input";

const BASE: ScaleOutInput = PROD_INPUT;

function problemsOf(input: ScaleOutInput): string[] {
  try {
    planScaleOut(input);
  } catch (e) {
    if (e instanceof ScaleOutError) return e.problems;
    throw e;
  }
  return [];
}

describe("app droplets", () => {
  it.each(appDropletSizes())(
    "%s: one worker per vCPU, and the host, proxy and app add up to the droplet's RAM",
    (size) => {
      const plan = planScaleOut({ ...BASE, appDropletSize: size, dbSize: "db-s-16vcpu-64gb" });
      const shape = dropletShape(size)!;
      expect(plan.app.workers).toBe(shape.vcpus);
      const m = plan.app.memory;
      expect(m.reserveMiB + m.proxyMiB + m.appMiB).toBe(shape.memoryMiB);
      expect(m.appMiB).toBeGreaterThanOrEqual(plan.app.workers * APP_MIB_PER_WORKER);
      expect(plan.app.configFiles.find((f) => f.path === "compose.yaml")!.content).toContain(`mem_limit: ${m.appMiB}m`);
    },
  );

  it("refuses a droplet too small to hold its worker next to the host, naming the sizes that fit", () => {
    const small = Object.keys(DROPLET_MONTHLY_USD).filter((s) => !appDropletSizes().includes(s));
    expect(small).toEqual(["s-1vcpu-1gb"]);
    const [problem] = problemsOf({ ...BASE, appDropletSize: "s-1vcpu-1gb" });
    expect(problem).toMatch(/^appDropletSize: "s-1vcpu-1gb" cannot hold 1 worker/);
    expect(problem).toContain("s-2vcpu-4gb");
  });

  it("names N droplets after the prefix, all with the same user data and files", () => {
    const plan = planScaleOut({ ...BASE, appCount: 4 });
    expect(plan.app.droplets.map((d) => d.dropletName)).toEqual([
      "chatbot-prod-app-1",
      "chatbot-prod-app-2",
      "chatbot-prod-app-3",
      "chatbot-prod-app-4",
    ]);
    expect(plan.app.tag).toBe("chatbot-prod-app");
  });

  it("keeps PostgreSQL and Redis off the app droplets", () => {
    const plan = planScaleOut(BASE);
    const compose = plan.app.configFiles.find((f) => f.path === "compose.yaml")!.content;
    expect(compose).not.toMatch(/postgres|redis:/);
    expect(plan.app.userData).not.toMatch(/postgres|redis|overcommit/);
    expect(plan.app.configFiles.map((f) => f.path).sort()).toEqual([
      "Caddyfile",
      "bin/apply-app-node.sh",
      "bin/tls-cert.sh",
      "compose.yaml",
    ]);
  });

  it("changes only synced files, never the user data, when the image, environment or pools change", () => {
    const a = planScaleOut(BASE);
    const b = planScaleOut({
      ...BASE,
      appImage: "ghcr.io/acme/chatbot:1.5.0",
      appEnv: ["LOG_LEVEL=debug"],
      dbPoolSize: 2,
    });
    expect(b.app.userData).toBe(a.app.userData);
    expect(b.app.configFiles).not.toEqual(a.app.configFiles);
  });
});

describe("the managed pool and the app's SQLAlchemy pools", () => {
  // Backend connections by hand: 25 per GiB of the node's RAM minus 3 (DigitalOcean's connection-pool page).
  it.each([
    ["db-s-1vcpu-1gb", 22],
    ["db-s-1vcpu-2gb", 47],
    ["db-s-2vcpu-4gb", 97],
    ["db-s-4vcpu-8gb", 197],
    ["db-s-6vcpu-16gb", 397],
  ])("%s offers %i backend connections; the pool takes all but the direct reserve", (size, backend) => {
    expect(backendConnections(size)).toBe(backend);
    const plan = planScaleOut({ ...BASE, appCount: 2, appDropletSize: "s-1vcpu-2gb", dbSize: size });
    expect(plan.postgres.pool.size).toBe(backend - DIRECT_CONNECTIONS);
    expect(plan.postgres.backendConnections).toBe(backend);
  });

  it("caps each worker's pool_size at its share of the managed pool", () => {
    // 3 droplets x 4 vCPUs = 12 workers; db-s-1vcpu-2gb: 47 - 10 = 37 server connections; 37 / 12 = 3 each.
    const plan = planScaleOut({ ...BASE, dbSize: "db-s-1vcpu-2gb", dbPoolSize: 5, dbMaxOverflow: 4 });
    expect(plan.app.dbPoolSize).toBe(3);
    expect(plan.app.dbMaxOverflow).toBe(4);
    expect(plan.app.clientConnections).toBe(12 * (3 + 4));
    expect(plan.app.workers * plan.app.count * plan.app.dbPoolSize).toBeLessThanOrEqual(plan.postgres.pool.size);
    const compose = plan.app.configFiles.find((f) => f.path === "compose.yaml")!.content;
    expect(compose).toContain('DB_POOL_SIZE: "3"');
    expect(compose).toContain('WEB_CONCURRENCY: "4"');
  });

  it("keeps the configured pool_size when the share is larger", () => {
    expect(planScaleOut({ ...BASE, dbSize: "db-s-4vcpu-8gb", dbPoolSize: 5 }).app.dbPoolSize).toBe(5);
  });

  it("does not change the pool (which has no update) when app droplets are added", () => {
    expect(planScaleOut({ ...BASE, appCount: 5 }).postgres.pool).toEqual(
      planScaleOut({ ...BASE, appCount: 2 }).postgres.pool,
    );
  });

  it("refuses a database too small for the workers, naming dbSize", () => {
    const [problem] = problemsOf({ ...BASE, appCount: 12, dbSize: "db-s-1vcpu-1gb" });
    expect(problem).toMatch(
      /^dbSize: "db-s-1vcpu-1gb" leaves 12 pool connection\(s\) .* fewer than the 48 uvicorn workers/,
    );
  });

  it("uses a transaction-mode pool on the app's database and role", () => {
    expect(planScaleOut(BASE).postgres.pool).toMatchObject({
      mode: "transaction",
      dbName: "chatbot",
      user: "chatbot",
      name: "chatbot-pool",
    });
  });
});

describe("the load balancer", () => {
  const lb = planScaleOut(BASE).loadBalancer;

  it("terminates HTTPS on 443 with a Let's Encrypt certificate for the domain and forwards HTTP to port 80", () => {
    expect(lb.forwardingRules).toEqual([
      { entryProtocol: "https", entryPort: 443, targetProtocol: "http", targetPort: 80, certificate: true },
      { entryProtocol: "http", entryPort: 80, targetProtocol: "http", targetPort: 80, certificate: false },
    ]);
    expect(lb.redirectHttpToHttps).toBe(true);
    expect(lb.certificate).toMatchObject({ type: "lets_encrypt", domains: ["chat.example.com"] });
  });

  it("checks the health path over HTTP, fast enough for the drain to take a droplet out", () => {
    expect(lb.healthcheck).toMatchObject({ protocol: "http", port: 80, path: "/healthz" });
    expect(DRAIN_SECONDS).toBeGreaterThan(LB_HEALTHCHECK.checkIntervalSeconds * LB_HEALTHCHECK.unhealthyThreshold);
    expect(planScaleOut(BASE).app.applyCommand).toContain(`DRAIN_SECONDS=${DRAIN_SECONDS}`);
  });

  it("renames the certificate when the domain changes (certificates are replaced, names are unique per account)", () => {
    const other = planScaleOut({ ...BASE, domain: "chat2.example.com" }).loadBalancer.certificate.name;
    expect(other).not.toBe(lb.certificate.name);
    expect(lb.certificate.name).toMatch(/^chatbot-prod-cert-[0-9a-f]{8}$/);
  });
});

describe("managed clusters", () => {
  it("prod: PostgreSQL 15 with a standby node, Valkey with two nodes, protected", () => {
    const plan = planScaleOut(BASE);
    expect(plan.postgres).toMatchObject({
      engine: "pg",
      version: "15",
      size: "db-s-2vcpu-4gb",
      nodeCount: 2,
      standbyNodes: 1,
      name: "chatbot-prod-pg",
    });
    expect(plan.valkey).toMatchObject({
      engine: "valkey",
      version: "8",
      nodeCount: 2,
      maxmemoryPolicy: "allkeys-lru",
      name: "chatbot-prod-valkey",
    });
    expect(plan.protect).toBe(true);
  });

  it("dev: a single PostgreSQL node is allowed, nothing protected", () => {
    const plan = planScaleOut({
      ...BASE,
      prefix: "chatbot-dev",
      stackTag: "chatbot-dev",
      environment: "dev",
      dbNodeCount: 1,
    });
    expect(plan.postgres.standbyNodes).toBe(0);
    expect(plan.valkey.nodeCount).toBe(1);
    expect(plan.protect).toBe(false);
  });

  it("prod refuses a single PostgreSQL node", () => {
    expect(problemsOf({ ...BASE, dbNodeCount: 1 })).toEqual([
      expect.stringMatching(/^dbNodeCount: 1 must be at least 2 in prod/),
    ]);
  });

  it("the databases admit only the app droplets' tag, and the stack's tag only while data moves in", () => {
    expect(planScaleOut(BASE).databaseFirewall.map(({ type, value }) => ({ type, value }))).toEqual([
      { type: "tag", value: "chatbot-prod-app" },
    ]);
    expect(planScaleOut({ ...BASE, migrating: true }).databaseFirewall.map((r) => r.value)).toEqual([
      "chatbot-prod-app",
      "chatbot-prod",
    ]);
  });

  it("app droplets accept HTTP only from the load balancer (and the old droplet while migrating), SSH only from the allowlist", () => {
    const inbound = planScaleOut(BASE).app.firewall.inbound;
    const http = inbound.filter((r) => r.portRange === "80");
    expect(http).toEqual([expect.objectContaining({ fromLoadBalancer: true })]);
    expect(http[0]!.sourceAddresses).toBeUndefined();
    expect(inbound.find((r) => r.portRange === "22")!.sourceAddresses).toEqual(["203.0.113.0/28"]);
    expect(inbound.some((r) => ["443", "5432", "6379"].includes(r.portRange ?? ""))).toBe(false);
    expect(inbound.some((r) => r.portRange === "8081")).toBe(false);
    // While a droplet's data moves in, its proxy reaches their internal listener (the cutover's gate), not port 80.
    const migrating = planScaleOut({ ...BASE, migrating: true }).app.firewall.inbound;
    expect(migrating.filter((r) => r.portRange === "80").map((r) => r.sourceTags ?? "lb")).toEqual(["lb"]);
    expect(migrating.filter((r) => r.portRange === "8081").map((r) => r.sourceTags)).toEqual([["chatbot-prod"]]);
  });
});

describe("bad input names the field and what is allowed", () => {
  it.each<[Partial<ScaleOutInput>, RegExp]>([
    [{ prefix: "Chatbot_Prod" }, /^prefix: "Chatbot_Prod" must be lowercase/],
    [{ region: "nyc2" }, /^region: "nyc2" is not a region slug open to new droplets/],
    [{ domain: "localhost" }, /^domain: "localhost" must be a lowercase host name/],
    [{ healthPath: "health" }, /^healthPath: "health" must be a URL path/],
    [{ appPort: 70000 }, /^appPort: 70000 must be a whole number from 1024 to 65535/],
    [{ appImage: "ghcr.io/acme/chatbot" }, /^appImage: .* must be an image reference with a tag or digest/],
    [{ appImage: "ghcr.io/acme/chatbot:latest" }, /^appImage: must be pinned/],
    [{ appEnv: ["lower=1"] }, /^appEnv: "lower=1" must be NAME=value/],
    [{ sshKeys: [] }, /^sshKeys: must list at least one/],
    [{ sshKeys: ["abc"] }, /^sshKeys: "abc" is neither/],
    [{ sshAllowedCidrs: ["0.0.0.0/0"] }, /^sshAllowedCidrs: must admit at most 256 IPv4 addresses \(a \/24\) in prod/],
    [
      { sshAllowedCidrs: ["0.0.0.0/1", "128.0.0.0/1"] },
      /^sshAllowedCidrs: must admit at most 256 IPv4 addresses .* admit 4,294,967,296/,
    ],
    [{ stackTag: "bad tag" }, /^stackTag: "bad tag" is not a valid tag name/],
    [{ appCount: 1 }, /^appCount: 1 must be a whole number from 2 to 50/],
    [{ appCount: 2.5 }, /^appCount: 2.5 must be a whole number/],
    [{ appDropletSize: "c-2" }, /^appDropletSize: "c-2" is not a priced droplet size; allowed: s-1vcpu-2gb/],
    [
      { dbSize: "db-s-3vcpu-3gb" },
      /^dbSize: "db-s-3vcpu-3gb" is not a managed PostgreSQL size; allowed: db-s-1vcpu-1gb/,
    ],
    [{ dbNodeCount: 4 }, /^dbNodeCount: 4 must be a whole number from 1 to 3/],
    [{ valkeySize: "cache-1gb" }, /^valkeySize: "cache-1gb" is not a managed Valkey size/],
    [{ dbPoolSize: 0 }, /^dbPoolSize: 0 must be a whole number from 1 to 100/],
    [{ dbMaxOverflow: -1 }, /^dbMaxOverflow: -1 must be a whole number from 0 to 100/],
    [{ lbSizeUnit: 0 }, /^lbSizeUnit: 0 must be a whole number from 1 to 100/],
  ])("%o", (patch, message) => {
    expect(problemsOf({ ...BASE, ...patch })).toEqual([expect.stringMatching(message)]);
  });

  it("reports every problem at once", () => {
    expect(problemsOf({ ...BASE, appCount: 0, dbSize: "x", valkeySize: "y" })).toHaveLength(3);
  });

  it("accepts every priced database size for both engines", () => {
    for (const size of Object.keys(DATABASE_NODE_MONTHLY_USD.pg)) {
      expect(
        problemsOf({ ...BASE, dbSize: size, valkeySize: size, appCount: 2, appDropletSize: "s-1vcpu-2gb" }),
      ).toEqual([]);
    }
  });
});

describe("provider compatibility of what the plan asks for (infra/provider-rules/; sources cited there)", () => {
  const plan = planScaleOut(BASE);

  it('managed PostgreSQL is engine "pg" with a string version; "postgres" and a numeric version are refused', () => {
    const ok = {
      engine: plan.postgres.engine,
      version: plan.postgres.version,
      size: plan.postgres.size,
      region: "nyc3",
      nodeCount: plan.postgres.nodeCount,
    };
    expect(checkDatabaseCluster(ok)).toEqual([]);
    expect(checkDatabaseCluster({ ...ok, engine: "postgres" })).toEqual([
      expect.stringMatching(/^engine: "postgres" is not allowed/),
    ]);
    expect(checkDatabaseCluster({ ...ok, version: 15 })).toEqual([
      expect.stringMatching(/^version: 15 must be a version string/),
    ]);
  });

  it('Valkey is engine "valkey"; "redis" would be accepted but is being retired, so the plan never asks for it', () => {
    expect(plan.valkey.engine).toBe("valkey");
    expect(
      checkDatabaseCluster({
        engine: "valkey",
        version: plan.valkey.version,
        size: plan.valkey.size,
        region: "nyc3",
        nodeCount: plan.valkey.nodeCount,
      }),
    ).toEqual([]);
  });

  it('the pool mode is lowercase "transaction"; "Transaction" is refused', () => {
    expect(checkConnectionPool(plan.postgres.pool)).toEqual([]);
    expect(checkConnectionPool({ ...plan.postgres.pool, mode: "Transaction" })).toEqual([
      expect.stringMatching(/^mode: "Transaction" is not allowed/),
    ]);
  });

  it('database firewall rules are type "tag" with a tag name; a droplet rule needs a numeric id string', () => {
    for (const r of plan.databaseFirewall) expect(checkDatabaseFirewallRule(r)).toEqual([]);
    expect(checkDatabaseFirewallRule({ type: "droplet", value: "chatbot-prod-app" })).toEqual([
      expect.stringMatching(/must be a droplet ID/),
    ]);
  });

  it('forwarding rules use lowercase protocols and numeric ports; "HTTPS" or a string port is refused', () => {
    const rules = plan.loadBalancer.forwardingRules.map(({ certificate: _c, ...r }) => r);
    const lb = {
      sizeUnit: 1,
      region: "nyc3",
      dropletTag: plan.app.tag,
      forwardingRules: rules,
      healthcheck: plan.loadBalancer.healthcheck,
    };
    expect(checkLoadBalancer(lb)).toEqual([]);
    expect(
      checkLoadBalancer({ ...lb, forwardingRules: [{ ...rules[0]!, entryProtocol: "HTTPS", entryPort: "443" }] }),
    ).toHaveLength(2);
  });
});

describe("monthly cost of the tier, from the one price table (infra/cost/)", () => {
  it("prices the load balancer, every app droplet and every database node; nothing is left unpriced", () => {
    // By hand from infra/pricing.ts: 1 LB node $12 + 3 x s-4vcpu-8gb $48 + PostgreSQL 2 x db-s-2vcpu-4gb $60
    // + Valkey 2 x db-s-1vcpu-2gb $30 = 12 + 144 + 120 + 60 = $336.
    const est = scaleOutMonthly(planScaleOut(BASE));
    expect(est.monthly).toBe(336);
    expect(est.unpriced).toEqual([]);
    expect(est.unpricedTypes).toEqual([]);
  });

  it("a dev stack with one PostgreSQL node and one Valkey node costs less", () => {
    // 12 + 3 x 48 + 60 + 30 = 246
    expect(
      scaleOutMonthly(
        planScaleOut({ ...BASE, environment: "dev", prefix: "chatbot-dev", stackTag: "chatbot-dev", dbNodeCount: 1 }),
      ).monthly,
    ).toBe(246);
  });

  it("the smallest prod layout costs as much as the 16gb droplet alone ($96 before backups), the default one more", () => {
    const smallest = scaleOutMonthly(
      planScaleOut({
        ...BASE,
        appCount: 2,
        appDropletSize: "s-1vcpu-2gb",
        dbSize: "db-s-1vcpu-1gb",
        valkeySize: "db-s-1vcpu-1gb",
      }),
    ).monthly;
    expect(smallest).toBe(12 + 2 * 12 + 2 * 15 + 2 * 15); // 96: the same as 16gb's droplet alone
    expect(scaleOutMonthly(planScaleOut(BASE)).monthly).toBeGreaterThan(96);
  });
});
