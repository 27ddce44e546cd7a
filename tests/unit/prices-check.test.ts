/**
 * `npm run prices:check` against the hand-recorded /v2/sizes answer (tests/fixtures/digitalocean-sizes, whose README
 * says where each figure comes from), against copies of it with one thing changed each, and `fetchSizes` against a
 * loopback HTTP server paging the same answer. The live endpoint is not reachable here.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  compareWithSizes,
  type DoSize,
  fetchSizes,
  parseSizesResponse,
  renderPriceCheck,
} from "../../infra/prices-check";
import { runCommand } from "../support/processes";

const ROOT = join(__dirname, "..", "..");
const RECORDED = join(ROOT, "tests", "fixtures", "digitalocean-sizes", "sizes.json");
const recorded = (): DoSize[] => parseSizesResponse(readFileSync(RECORDED, "utf8"), RECORDED);
const edit = (slug: string, change: Partial<DoSize>) =>
  recorded().map((s) => (s.slug === slug ? { ...s, ...change } : s));

describe("comparing with /v2/sizes", () => {
  it("the recorded answer agrees with infra/pricing.ts and infra/tiers.ts", () => {
    expect(compareWithSizes(recorded())).toEqual([]);
  });

  it.each([
    [
      "a price change",
      edit("s-2vcpu-4gb", { price_monthly: 28 }),
      ["s-2vcpu-4gb: $24.00/month in infra/pricing.ts DROPLET_MONTHLY_USD, $28.00 at DigitalOcean"],
    ],
    [
      "a cent",
      edit("s-1vcpu-1gb", { price_monthly: 6.01 }),
      ["s-1vcpu-1gb: $6.00/month in infra/pricing.ts DROPLET_MONTHLY_USD, $6.01 at DigitalOcean"],
    ],
    [
      "a size gone",
      recorded().filter((s) => s.slug !== "s-8vcpu-16gb"),
      ["s-8vcpu-16gb: in infra/pricing.ts DROPLET_MONTHLY_USD but not in /v2/sizes (retired or renamed?)"],
    ],
    [
      "a size no longer available",
      edit("s-1vcpu-2gb", { available: false }),
      ["s-1vcpu-2gb: /v2/sizes says it is not available for new droplets"],
    ],
    [
      "a tier's vCPUs",
      edit("s-4vcpu-8gb", { vcpus: 2 }),
      ["s-4vcpu-8gb: 4 vCPUs in infra/tiers.ts 8gb, 2 at DigitalOcean"],
    ],
    [
      "a tier's memory",
      edit("s-2vcpu-4gb", { memory: 4000 }),
      ["s-2vcpu-4gb: 4096 MiB of memory in infra/tiers.ts 4gb, 4000 at DigitalOcean"],
    ],
    [
      "a tier's disk",
      edit("s-8vcpu-16gb", { disk: 300 }),
      ["s-8vcpu-16gb: 320 GiB of disk in infra/tiers.ts 16gb, 300 at DigitalOcean"],
    ],
  ])("finds %s", (_what, sizes, messages) => {
    expect(compareWithSizes(sizes).map((d) => d.message)).toEqual(messages);
  });

  it("sizes we do not use are not differences", () => {
    expect(
      compareWithSizes([
        ...recorded(),
        { slug: "c-2", memory: 4096, vcpus: 2, disk: 25, price_monthly: 42, available: true },
      ]),
    ).toEqual([]);
  });

  it("says what /v2/sizes cannot check", () => {
    expect(renderPriceCheck([], "x")).toContain(
      "Not in /v2/sizes, not checked: volumes, snapshots, reserved IPs, load balancers, managed databases, uptime checks.",
    );
  });
});

describe("npm run prices:check", () => {
  const dir = mkdtempSync(join(tmpdir(), "prices-check-"));
  const saved = (name: string, sizes: unknown) => {
    const file = join(dir, name);
    writeFileSync(file, JSON.stringify({ sizes, links: {}, meta: { total: Array.isArray(sizes) ? sizes.length : 0 } }));
    return file;
  };
  const check = (...args: string[]) =>
    runCommand(join(ROOT, "node_modules", ".bin", "tsx"), [join(ROOT, "scripts", "prices-check.ts"), ...args], {
      cwd: ROOT,
      env: { DIGITALOCEAN_TOKEN: "" },
    });

  it("the recorded answer: exit 0", async () => {
    const r = await check("--response", RECORDED);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain("infra/pricing.ts and infra/tiers.ts agree with the /v2/sizes answer in");
  }, 60_000);

  it("a changed price and a retired size: exit 1, each printed", async () => {
    const file = saved(
      "changed.json",
      edit("s-2vcpu-4gb", { price_monthly: 28 }).filter((s) => s.slug !== "s-1vcpu-1gb"),
    );
    const r = await check("--response", file);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stdout).toContain("2 difference(s) between our tables and the /v2/sizes answer in");
    expect(r.stdout).toContain(
      "  - s-1vcpu-1gb: in infra/pricing.ts DROPLET_MONTHLY_USD but not in /v2/sizes (retired or renamed?)",
    );
    expect(r.stdout).toContain(
      "  - s-2vcpu-4gb: $24.00/month in infra/pricing.ts DROPLET_MONTHLY_USD, $28.00 at DigitalOcean",
    );
    const json = await check("--response", file, "--json");
    expect(json.code).toBe(1);
    expect(
      JSON.parse(json.stdout).differences.map((d: { slug: string; what: string }) => `${d.slug} ${d.what}`),
    ).toEqual(["s-1vcpu-1gb missing", "s-2vcpu-4gb price_monthly"]);
  }, 60_000);

  it.each([
    [[], "give --response <file>, or set DIGITALOCEAN_TOKEN"],
    [["--response", "/nonexistent/sizes.json"], "ENOENT"],
    [["--respons", RECORDED], "error: unknown option '--respons'\n(Did you mean --response?)"],
  ])(
    "%j: usage error, exit 2",
    async (args, message) => {
      const r = await check(...args);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(message);
    },
    60_000,
  );

  it("a file that is not a /v2/sizes answer: exit 2, every problem named", async () => {
    const r = await check("--response", saved("bad.json", [{ slug: "s-1vcpu-1gb", price_monthly: "6" }]));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("not a /v2/sizes response:");
    expect(r.stderr).toContain("sizes.0.price_monthly: Invalid input: expected number, received string");
    expect(r.stderr).toContain("sizes.0.vcpus:");
  }, 60_000);
});

describe("fetchSizes against a loopback server (the live API is not reachable here)", () => {
  const pages: string[] = [];
  const auth: string[] = [];
  let answers: ((
    base: string,
    page: string | null,
  ) => { status: number; body: unknown; headers?: Record<string, string> })[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    pages.push(`${url.pathname}?${url.searchParams.toString()}`);
    auth.push(req.headers.authorization ?? "");
    const answer = answers.shift()!(base, url.searchParams.get("page"));
    res.writeHead(answer.status, { "content-type": "application/json", ...answer.headers });
    res.end(JSON.stringify(answer.body));
  });
  let base = "";
  beforeAll(async () => {
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const client = (waits: number[] = []) => ({
    token: "dop_v1_t",
    fetch: (u: string, i: { headers: Record<string, string> }) => fetch(u, i),
    baseUrl: base,
    clock: { now: () => 0, sleep: async (ms: number) => void waits.push(ms) },
  });

  it("follows links.pages.next, sends the token in the header only, and retries a 429", async () => {
    const all = recorded();
    pages.length = 0;
    auth.length = 0;
    answers = [
      (b) => ({
        status: 200,
        body: {
          sizes: all.slice(0, 4),
          links: { pages: { next: `${b}/v2/sizes?page=2&per_page=200` } },
          meta: { total: 6 },
        },
      }),
      () => ({ status: 429, body: { id: "too_many_requests" }, headers: { "retry-after": "2" } }),
      () => ({ status: 200, body: { sizes: all.slice(4), links: {}, meta: { total: 6 } } }),
    ];
    const waits: number[] = [];
    const sizes = await fetchSizes(client(waits));
    expect(sizes).toEqual(all);
    expect(compareWithSizes(sizes)).toEqual([]);
    expect(pages).toEqual(["/v2/sizes?per_page=200", "/v2/sizes?page=2&per_page=200", "/v2/sizes?page=2&per_page=200"]);
    expect(auth.every((a) => a === "Bearer dop_v1_t")).toBe(true);
    expect(waits).toEqual([2000]);
  });

  it("never follows a next page on another host (the token would go there)", async () => {
    answers = [
      () => ({ status: 200, body: { sizes: [], links: { pages: { next: "https://evil.example/v2/sizes?page=2" } } } }),
    ];
    await expect(fetchSizes(client())).rejects.toThrow(
      "the next page is at https://evil.example/v2/sizes?page=2, outside",
    );
  });

  it("a 401 fails at once", async () => {
    answers = [() => ({ status: 401, body: { id: "unauthorized", message: "Unable to authenticate you" } })];
    await expect(fetchSizes(client())).rejects.toThrow('GET /v2/sizes (page 1): HTTP 401: {"id":"unauthorized"');
  });
});
