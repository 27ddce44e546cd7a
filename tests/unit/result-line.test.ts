/** The result line a finished migration prints for the stack: what parses, and what is refused as malformed. */
import { describe, expect, it } from "vitest";
import { formatMigrationResult, type MigrationResult, parseMigrationResult } from "../../infra/migration/result-line";

const done: MigrationResult = {
  id: "m-1",
  state: "done",
  from: "root@203.0.113.10",
  to: "root@203.0.113.11",
  strategy: "replicate",
  committedAt: "2026-12-07T12:00:00.123Z",
  finishedAt: "2026-12-07T12:00:05Z",
  resumed: false,
};

describe("the migration's result line", () => {
  it("round-trips, the last line winning, with the switch-back fields", () => {
    const back = { ...done, id: "m-2", switchBack: true as const, followingSince: "2026-12-07T12:00:04Z" };
    const stdout = ["noise", formatMigrationResult(done), "more", formatMigrationResult(back), ""].join("\n");
    expect(parseMigrationResult(stdout)).toEqual(back);
  });

  it("is absent without a line, and refused when a field is malformed", () => {
    expect(parseMigrationResult("no result here")).toBeUndefined();
    const bad = (r: object) => parseMigrationResult(formatMigrationResult(r as MigrationResult));
    expect(bad({ ...done, committedAt: "yesterday" })).toBeUndefined();
    expect(bad({ ...done, switchBack: "yes" })).toBeUndefined();
    expect(bad({ ...done, followingSince: "soon" })).toBeUndefined();
    expect(bad({ ...done, followingSince: "2026-12-07T12:00:04Z" })?.followingSince).toBe("2026-12-07T12:00:04Z");
  });
});
