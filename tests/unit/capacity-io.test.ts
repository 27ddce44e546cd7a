/** The capacity checker's edges: the chart, the DigitalOcean monitoring client (fake fetch), the ssh command line. */
import { describe, expect, it } from "vitest";
import { buildChartSpec, renderChart } from "../../infra/capacity/chart";
import {
  cpuPercent,
  diskPercent,
  fetchDropletSamples,
  memoryPercent,
  type FetchLike,
} from "../../infra/capacity/do-monitoring";
import { collectCommand, collectLive } from "../../infra/capacity/live";
import { parseCapacityInput } from "../../infra/capacity/metrics";
import { DAY, MINUTE, series } from "../fixtures/capacity/series";

describe("chart", () => {
  const samples = parseCapacityInput({
    tier: "4gb",
    samples: series({ spanMs: DAY, stepMs: 30 * MINUTE, memoryPct: (i) => 50 + i }),
  }).samples;

  it("plots memory, CPU and latency with every threshold of the framework", () => {
    const spec = JSON.stringify(buildChartSpec(samples, "t"));
    for (const label of [
      "memory %",
      "CPU %",
      "response ms",
      "memory now (90%, 24 h)",
      "CPU now (85%, 6 h)",
      "memory plan (80%, 7 d)",
      "response now (2000 ms, 1 h)",
    ]) {
      expect(spec).toContain(label);
    }
  });

  it("leaves out the latency panel when no sample has a response time", () => {
    const noLatency = parseCapacityInput({
      tier: "4gb",
      samples: series({ spanMs: DAY, stepMs: HOUR_MS, responseMs: null }),
    }).samples;
    expect((buildChartSpec(noLatency, "t").vconcat as unknown[]).length).toBe(1);
  });

  it("renders to SVG through vega and to PNG through resvg", async () => {
    const spec = buildChartSpec(samples, "Capacity test chart");
    const svg = (await renderChart(spec, "x.svg")) as string;
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("Capacity test chart");
    expect(svg).toContain("memory now (90%, 24 h)");
    const png = (await renderChart(spec, "x.PNG")) as Buffer;
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
    await expect(renderChart(spec, "x.pdf")).rejects.toThrow('--chart: "x.pdf" must end in .svg or .png');
  });
});

const HOUR_MS = 3_600_000;

describe("DigitalOcean monitoring client", () => {
  const t0 = 1_763_640_000;
  const matrix = (result: unknown[]) => JSON.stringify({ status: "success", data: { resultType: "matrix", result } });
  const answers: Record<string, string> = {
    memory_total: matrix([
      {
        metric: { host_id: "42" },
        values: [
          [t0, "4000"],
          [t0 + 300, "4000"],
          [t0 + 600, "4000"],
        ],
      },
    ]),
    memory_available: matrix([
      {
        metric: { host_id: "42" },
        values: [
          [t0, "1000"],
          [t0 + 300, "400"],
          [t0 + 600, "200"],
        ],
      },
    ]),
    cpu: matrix([
      {
        metric: { mode: "idle" },
        values: [
          [t0, "100"],
          [t0 + 300, "160"],
          [t0 + 600, "170"],
        ],
      },
      {
        metric: { mode: "user" },
        values: [
          [t0, "50"],
          [t0 + 300, "90"],
          [t0 + 600, "180"],
        ],
      },
    ]),
    filesystem_size: matrix([
      {
        metric: { device: "/dev/vda1", mountpoint: "/" },
        values: [
          [t0 + 300, "100"],
          [t0 + 600, "100"],
        ],
      },
      {
        metric: { device: "/dev/sda", mountpoint: "/var/lib/chatbot" },
        values: [
          [t0 + 300, "200"],
          [t0 + 600, "200"],
        ],
      },
    ]),
    filesystem_free: matrix([
      {
        metric: { device: "/dev/vda1", mountpoint: "/" },
        values: [
          [t0 + 300, "70"],
          [t0 + 600, "70"],
        ],
      },
      {
        metric: { device: "/dev/sda", mountpoint: "/var/lib/chatbot" },
        values: [
          [t0 + 300, "20"],
          [t0 + 600, "100"],
        ],
      },
    ]),
  };
  const calls: { url: string; auth: string }[] = [];
  const fakeFetch: FetchLike = async (url, init) => {
    calls.push({ url, auth: init.headers.Authorization ?? "" });
    const metric = new URL(url).pathname.split("/").pop()!;
    const body = answers[metric];
    return {
      ok: body !== undefined,
      status: body ? 200 : 404,
      text: async () => body ?? '{"id":"not_found","message":"nope"}',
    };
  };

  it("asks each metric for the range with the token in the header only, and joins them into samples", async () => {
    calls.length = 0;
    const samples = await fetchDropletSamples({
      token: "dop_v1_secret",
      dropletId: "42",
      days: 2,
      now: new Date((t0 + 600) * 1000),
      fetch: fakeFetch,
    });
    expect(calls.map((c) => new URL(c.url).pathname)).toEqual([
      "/v2/monitoring/metrics/droplet/memory_total",
      "/v2/monitoring/metrics/droplet/memory_available",
      "/v2/monitoring/metrics/droplet/cpu",
      "/v2/monitoring/metrics/droplet/filesystem_size",
      "/v2/monitoring/metrics/droplet/filesystem_free",
    ]);
    const q = new URL(calls[0]!.url).searchParams;
    expect([q.get("host_id"), q.get("start"), q.get("end")]).toEqual([
      "42",
      String(t0 + 600 - 2 * 86400),
      String(t0 + 600),
    ]);
    expect(calls.every((c) => c.auth === "Bearer dop_v1_secret" && !c.url.includes("secret"))).toBe(true);
    // CPU needs two points: the first timestamp has memory but no CPU interval and is dropped.
    expect(samples).toEqual([
      { at: new Date((t0 + 300) * 1000).toISOString(), memoryPct: 90, cpuPct: 40, diskPct: 90 },
      { at: new Date((t0 + 600) * 1000).toISOString(), memoryPct: 95, cpuPct: 90, diskPct: 50 },
    ]);
  });

  it("CPU skips an interval where the counters reset (reboot)", () => {
    const cpu = cpuPercent([
      {
        metric: { mode: "idle" },
        values: [
          [1, "100"],
          [2, "5"],
          [3, "15"],
        ],
      },
      {
        metric: { mode: "user" },
        values: [
          [1, "100"],
          [2, "5"],
          [3, "15"],
        ],
      },
    ]);
    expect([...cpu.entries()]).toEqual([[3, 50]]);
  });

  it("memory and disk need both series at the same time", () => {
    expect(memoryPercent([{ metric: {}, values: [[1, "10"]] }], [{ metric: {}, values: [[2, "5"]] }]).size).toBe(0);
    expect(
      diskPercent([{ metric: { device: "a" }, values: [[1, "10"]] }], [{ metric: { device: "b" }, values: [[1, "5"]] }])
        .size,
    ).toBe(0);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ["no token", { token: "" }, /^DIGITALOCEAN_TOKEN: a DigitalOcean API token is required/],
    ["a bad droplet id", { dropletId: "web-1" }, /^--droplet-id: "web-1" is not a droplet id/],
    ["too many days", { days: 90 }, /^--days: 90 must be a whole number from 1 to 30/],
    [
      "an API error",
      {
        dropletId: "43",
        fetch: (async () => ({ ok: false, status: 401, text: async () => '{"id":"unauthorized"}' })) as FetchLike,
      },
      /HTTP 401: \{"id":"unauthorized"\}/,
    ],
  ])("fails clearly on %s", async (_name, override, message) => {
    await expect(
      fetchDropletSamples({ token: "t", dropletId: "42", days: 7, fetch: fakeFetch, ...override } as never),
    ).rejects.toThrow(message);
  });
});

describe("live collector command", () => {
  it("pipes collect.sh into bash -s on the target, with its settings in env", () => {
    const c = collectCommand(
      {
        target: "root@203.0.113.10",
        sshArgs: ["-p", "2222"],
        env: { CHATBOT_HEALTH_URL: "https://chat.example.com/healthz?x=1 2" },
        historyDays: 8,
      },
      "#!/bin/bash\necho hi\n",
    );
    expect(c).toEqual({
      cmd: "ssh",
      args: [
        "-p",
        "2222",
        "root@203.0.113.10",
        "env CHATBOT_HEALTH_URL='https://chat.example.com/healthz?x=1 2' bash -s -- history 8",
      ],
      input: "#!/bin/bash\necho hi\n",
    });
  });

  it.each([
    [{ POSTGRES_PASSWORD: "x" }, /env: POSTGRES_PASSWORD looks like a secret/],
    [{ "bad name": "x" }, /env: "bad name" is not an environment variable name/],
  ])("refuses env %j", (env, message) => {
    expect(() => collectCommand({ target: "t", env }, "")).toThrow(message);
  });

  it("reports the collector's failure with its stderr", async () => {
    const runner = async () => ({
      code: 1,
      stdout: "",
      stderr: "collect.sh: set CHATBOT_HEALTH_URL to the app health endpoint\n",
    });
    await expect(collectLive({ target: "root@x", tier: "4gb" }, "", runner)).rejects.toThrow(
      /collector on root@x exited 1: collect.sh: set CHATBOT_HEALTH_URL/,
    );
  });
});
