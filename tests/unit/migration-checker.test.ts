import { describe, expect, it } from "vitest";
import { type WriteRecord, checkWrites, largestGap } from "../migration/checker";
import { classify } from "../migration/harness";

const rec = (
  id: string,
  endMs: number,
  pg: WriteRecord["pg"],
  redis: WriteRecord["redis"] = pg === "ok" ? "ok" : "none",
): WriteRecord => ({
  id,
  startMs: endMs - 5,
  endMs,
  pg,
  redis,
});

describe("set checker", () => {
  it("lost = acknowledged - present; a failed write that is present is an error; unknown is neither", () => {
    const records = [
      rec("a", 100, "ok"),
      rec("b", 200, "ok"),
      rec("c", 300, "fail"),
      rec("d", 400, "unknown"),
      rec("e", 1400, "ok"),
    ];
    const pg = new Map([
      ["a", 90],
      ["c", 290],
      ["d", 390],
      ["e", 1390],
      ["other-run", 5000],
    ]);
    const redis = new Map([
      ["a", 95],
      ["e", 1395],
    ]);
    const r = checkWrites(records, pg, redis);
    expect(r).toMatchObject({ attempted: 5, acknowledged: 3, failed: 1, unknown: 1, redisAcknowledged: 3 });
    expect(r.lost).toEqual(["b"]);
    expect(r.failedButPresent).toEqual(["c"]);
    expect(r.redisLost).toEqual(["b"]);
    expect(r.frontDoorGapMs).toBe(1200); // acks at 100, 200, 1400
    expect(r.pgGapMs).toBe(1000); // rows of this run only: 90, 290, 390, 1390
    expect(r.redisGapMs).toBe(1300);
  });

  it("largestGap handles order and tiny inputs", () => {
    expect(largestGap([])).toBe(0);
    expect(largestGap([5])).toBe(0);
    expect(largestGap([30, 10, 15])).toBe(15);
  });

  it.each([
    [
      { status: 200, body: '{"pg":"ok","redis":"ok"}' },
      { pg: "ok", redis: "ok" },
    ],
    [
      { status: 200, body: '{"pg":"ok","redis":"unknown"}' },
      { pg: "ok", redis: "unknown" },
    ],
    [
      { status: 503, body: '{"pg":"fail"}' },
      { pg: "fail", redis: "none" },
    ],
    [
      { status: 500, body: '{"pg":"unknown"}' },
      { pg: "unknown", redis: "none" },
    ],
    // A proxy's 502 says nothing about whether the app applied the write: unknown, never "fail".
    [
      { status: 502, body: "" },
      { pg: "unknown", redis: "none" },
    ],
    [
      { status: 502, body: '{"pg":"fail"}' },
      { pg: "unknown", redis: "none" },
    ],
    [
      { status: 200, body: '{"pg":"fail"}' },
      { pg: "unknown", redis: "none" },
    ],
    [
      { status: 504, body: "" },
      { pg: "unknown", redis: "none" },
    ],
    [
      { status: 0, body: "", error: "timeout" },
      { pg: "unknown", redis: "none" },
    ],
    [
      { status: 503, body: "<html>" },
      { pg: "unknown", redis: "none" },
    ],
  ])("classifies %j as %j", (response, expected) => {
    expect(classify(response)).toEqual(expected);
  });
});
