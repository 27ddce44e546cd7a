import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  parseCurlTiming,
  parseDf,
  parseDockerStats,
  parseFree,
  parsePgCacheRatio,
  parsePgStatements,
  parsePs,
  parseRedisInfo,
  parseSize,
  parseVmstat,
  readCollectorOutput,
} from "../../infra/capacity/parsers";

// free/vmstat/df/ps/curl fixtures are real output captured on Debian bookworm (procps-ng 4.0.2); vmstat-gu.txt has
// the extra "gu" column of procps-ng >= 4.0.4; docker-stats.txt is docker's --format output for four containers.
const fixture = (name: string) => readFileSync(join(__dirname, "..", "fixtures", "capacity", name), "utf8");

describe("tool output parsers", () => {
  it("free -b: memory in use excludes the page cache (total - available)", () => {
    const r = parseFree(fixture("free.txt"));
    expect(r.totalBytes).toBe(25276026880);
    expect(r.availableBytes).toBe(24770535424);
    expect(r.memoryPct).toBeCloseTo(((25276026880 - 24770535424) / 25276026880) * 100, 1);
  });

  it.each([
    ["vmstat.txt", 100],
    ["vmstat-gu.txt", 75],
  ])("vmstat (%s): CPU is 100 - idle of the last line", (file, cpu) => {
    expect(parseVmstat(fixture(file)).cpuPct).toBe(cpu);
  });

  it("df -P -B1: sizes and use%", () => {
    const rows = parseDf(fixture("df.txt"));
    expect(rows[0]).toEqual({
      filesystem: "/dev/vda",
      sizeBytes: 270553174016,
      usedBytes: 23651676160,
      availableBytes: 85292617728,
      usePct: 22,
      mount: "/",
    });
  });

  it("ps: RSS in KiB to bytes, commands with spaces", () => {
    const rows = parsePs(fixture("ps.txt"));
    expect(rows[0]).toEqual({ pid: 13071, rssBytes: 147476 * 1024, cpuPct: 89.5, command: "node" });
    expect(rows[1]!.command).toBe("npm exec tsx sc");
  });

  it("docker stats: usage and limit with binary units", () => {
    const rows = parseDockerStats(fixture("docker-stats.txt"));
    expect(rows.map((r) => r.name)).toEqual([
      "chatbot-postgres-1",
      "chatbot-redis-1",
      "chatbot-app-1",
      "chatbot-proxy-1",
    ]);
    expect(rows[0]).toEqual({
      name: "chatbot-postgres-1",
      cpuPct: 3.12,
      memUsageBytes: 812.4 * 1048576,
      memLimitBytes: 1073741824,
    });
    expect(rows[2]!.memLimitBytes).toBeCloseTo(3.823 * 1024 ** 3, 0);
  });

  it.each([
    ["0B", 0],
    ["512kB", 512000],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["20MB", 20e6],
  ])("size %s", (text, bytes) => expect(parseSize(text)).toBe(bytes));

  it("curl -w: a failed request is code 000, not ok", () => {
    expect(parseCurlTiming(fixture("curl-down.txt"))).toMatchObject({ httpCode: 0, ok: false });
    expect(parseCurlTiming("200 0.253114\n")).toEqual({ httpCode: 200, responseMs: 253.1, ok: true });
  });

  it("redis INFO stats", () => {
    const text =
      "# Stats\r\ntotal_connections_received:4\r\nkeyspace_hits:90\r\nkeyspace_misses:10\r\nevicted_keys:3\r\n";
    expect(parseRedisInfo(text)).toEqual({ keyspaceHits: 90, keyspaceMisses: 10, evictedKeys: 3 });
  });

  it("psql outputs", () => {
    expect(parsePgCacheRatio("990\t10\n")).toBe(0.99);
    expect(parsePgCacheRatio("0\t0\n")).toBeUndefined();
    expect(parsePgStatements("12\t340.5\tSELECT * FROM t WHERE a = $1\n3\t0.2\tSELECT 1\n")).toEqual([
      { calls: 12, meanMs: 340.5, query: "SELECT * FROM t WHERE a = $1" },
      { calls: 3, meanMs: 0.2, query: "SELECT 1" },
    ]);
  });

  it.each<[string, (t: string) => unknown, string]>([
    ["free", parseFree, "total used\nnothing here\n"],
    ["vmstat", parseVmstat, "procs\n"],
    ["df", parseDf, "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/vda lots 1 2 3% /\n"],
    ["ps", parsePs, "garbage\n"],
    ["curl", parseCurlTiming, "curl: (6) Could not resolve host\n"],
  ])("%s: unreadable output is an error quoting it", (tool, parse, text) => {
    expect(() => parse(text)).toThrow(new RegExp(`^${tool}: [\\s\\S]*--- output was ---`));
  });
});

describe("collector output", () => {
  const snapshot = (at: string, curl: string, extra = "") =>
    [
      "=== snapshot",
      "--- at",
      at,
      "--- free",
      fixture("free.txt").trimEnd(),
      "--- vmstat",
      fixture("vmstat-gu.txt").trimEnd(),
      "--- df",
      fixture("df.txt").trimEnd(),
      "--- curl",
      curl,
      extra,
    ].join("\n");

  it("turns history plus a fresh snapshot into ordered samples and the newest evidence", () => {
    const text = [
      snapshot("2026-11-20T10:00:00Z", "200 0.120"),
      snapshot("2026-11-20T10:05:00Z", "000 10.001"),
      snapshot(
        "2026-11-20T10:10:00Z",
        "200 0.300",
        `--- docker-stats\n${fixture("docker-stats.txt")}--- ps\n${fixture("ps.txt")}`,
      ),
    ].join("\n");
    const { samples, evidence } = readCollectorOutput(text);
    expect(samples.map((s) => [s.at, s.cpuPct, s.diskPct, s.responseMs])).toEqual([
      ["2026-11-20T10:00:00Z", 75, 22, 120],
      ["2026-11-20T10:05:00Z", 75, 22, undefined],
      ["2026-11-20T10:10:00Z", 75, 22, 300],
    ]);
    expect(evidence.failedHealthChecks).toBe(1);
    expect(evidence.containers).toHaveLength(4);
    expect(evidence.topProcesses![0]!.command).toBe("node");
  });

  it("names the snapshot whose required section is missing", () => {
    expect(() => readCollectorOutput("=== snapshot\n--- at\n2026-11-20T10:00:00Z\n")).toThrow(
      'snapshot 0: section "free" is missing or empty',
    );
  });
});
