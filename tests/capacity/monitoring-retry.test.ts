/**
 * The DigitalOcean monitoring client's retries, against a real HTTP server on loopback and Node's real `fetch`:
 * 429 with `Retry-After` (seconds, or an HTTP date) then 200, 5xx with exponential backoff, the limits. Only the
 * clock is the test's (the client's `clock` seam): waits are recorded, never slept.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { fetchDropletSamples } from "../../infra/capacity/do-monitoring";
import { backoffMs, retryAfterMs, type RetryClock } from "../../infra/do-api";

const T0 = 1_763_640_000;
const NOW_MS = (T0 + 600) * 1000;
const METRICS = ["memory_total", "memory_available", "cpu", "filesystem_size", "filesystem_free"];
const matrix = (result: unknown[]) => JSON.stringify({ status: "success", data: { resultType: "matrix", result } });
const series = (values: string[]) => [
  { metric: { mode: "idle", device: "/dev/vda1", mountpoint: "/" }, values: values.map((v, i) => [T0 + 300 * i, v]) },
];
const ANSWERS: Record<string, string> = {
  memory_total: matrix(series(["4000", "4000"])),
  memory_available: matrix(series(["1000", "2000"])),
  // One idle series only: busy % = 1 - d(idle)/d(all) = 0.
  cpu: matrix(series(["100", "160"])),
  filesystem_size: matrix(series(["100", "100"])),
  filesystem_free: matrix(series(["70", "70"])),
};

/** Per metric, the answers still to give before the 200: [status, headers]. */
let script: Record<string, [number, Record<string, string>][]> = {};
let requests: string[] = [];

function handle(req: IncomingMessage, res: ServerResponse): void {
  const metric = new URL(req.url ?? "/", "http://x").pathname.split("/").pop() ?? "";
  requests.push(metric);
  const next = script[metric]?.shift();
  if (next) {
    res.writeHead(next[0], { "content-type": "application/json", ...next[1] });
    res.end(JSON.stringify({ id: next[0] === 429 ? "too_many_requests" : "server_error", message: "try again" }));
    return;
  }
  res.writeHead(200, { "content-type": "application/json" });
  res.end(ANSWERS[metric]);
}

const server = createServer(handle);
let baseUrl = "";
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  script = {};
  requests = [];
});

function clock(): RetryClock & { waits: number[] } {
  const waits: number[] = [];
  return { waits, now: () => NOW_MS, sleep: async (ms) => void waits.push(ms) };
}

function fetchSamples(c: RetryClock, log: string[] = []) {
  return fetchDropletSamples({
    token: "t",
    dropletId: "42",
    days: 1,
    now: new Date(NOW_MS),
    fetch: (url, init) => fetch(url, init),
    baseUrl,
    clock: c,
    log: (l) => log.push(l),
  });
}

const everyMetric = (answers: [number, Record<string, string>][]) =>
  Object.fromEntries(
    METRICS.map((m) => [m, answers.map(([s, h]) => [s, { ...h }] as [number, Record<string, string>])]),
  );

describe("DigitalOcean monitoring client: retries", () => {
  it("429 with Retry-After: 3, then 200: waits the 3 s it was told, once per metric, and returns the samples", async () => {
    script = everyMetric([[429, { "retry-after": "3" }]]);
    const c = clock();
    const log: string[] = [];
    const samples = await fetchSamples(c, log);
    expect(samples).toEqual([{ at: new Date((T0 + 300) * 1000).toISOString(), memoryPct: 50, cpuPct: 0, diskPct: 30 }]);
    expect(requests.filter((m) => m === "cpu")).toHaveLength(2);
    expect(requests).toHaveLength(10);
    expect(c.waits).toEqual([3000, 3000, 3000, 3000, 3000]);
    expect(log).toContain("DigitalOcean monitoring API cpu: HTTP 429, try 1 of 5: retrying in 3 s (Retry-After)");
  });

  it("Retry-After as an HTTP date: waits until then", async () => {
    script = { cpu: [[429, { "retry-after": new Date(NOW_MS + 7000).toUTCString() }]] };
    const c = clock();
    await fetchSamples(c);
    expect(c.waits).toEqual([7000]);
  });

  it("5xx without Retry-After: 1 s, 2 s, 4 s, 8 s, and the fifth try answers", async () => {
    script = {
      memory_total: [
        [503, {}],
        [502, {}],
        [500, {}],
        [504, {}],
      ],
    };
    const c = clock();
    await fetchSamples(c);
    expect(c.waits).toEqual([1000, 2000, 4000, 8000]);
    expect(requests.filter((m) => m === "memory_total")).toHaveLength(5);
  });

  it("gives up after 5 tries, saying so", async () => {
    script = {
      cpu: [
        [500, {}],
        [500, {}],
        [500, {}],
        [500, {}],
        [500, {}],
      ],
    };
    const c = clock();
    await expect(fetchSamples(c)).rejects.toThrow(
      /^DigitalOcean monitoring API cpu: HTTP 500: .*try again.* \(after 5 tries\)$/,
    );
    expect(c.waits).toEqual([1000, 2000, 4000, 8000]);
  });

  it("does not wait out a Retry-After above 2 minutes", async () => {
    script = { cpu: [[429, { "retry-after": "600" }]] };
    const c = clock();
    await expect(fetchSamples(c)).rejects.toThrow("DigitalOcean monitoring API cpu: HTTP 429: ");
    await expect(fetchSamples(clock())).resolves.toHaveLength(1); // the server answers again
    expect(c.waits).toEqual([]);
  });

  it("does not retry any other status (401, 404)", async () => {
    script = { cpu: [[401, {}]], memory_total: [[404, {}]] };
    const c = clock();
    await expect(fetchSamples(c)).rejects.toThrow(/HTTP (401|404)/);
    expect(requests.filter((m) => m === "cpu" || m === "memory_total")).toHaveLength(2);
    expect(c.waits).toEqual([]);
  });

  it.each([
    ["3", 3000],
    ["0", 0],
    [" 12 ", 12000],
    [new Date(NOW_MS + 5000).toUTCString(), 5000],
    [new Date(NOW_MS - 5000).toUTCString(), 0],
    ["soon", undefined],
    ["", undefined],
    [null, undefined],
  ])("Retry-After %j is %j ms", (value, ms) => {
    expect(retryAfterMs(value, NOW_MS)).toBe(ms);
  });

  it("backoff doubles from 1 s and stops at 30 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 16000, 30000, 30000]);
  });
});
