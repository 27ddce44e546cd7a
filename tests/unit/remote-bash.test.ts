import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { scriptStdin } from "../../infra/migration/remote-bash";

/** `bash -s -- <words>` fed the loader, the script, then the step's data: as ssh runs it on a droplet. */
function runRemote(input: Buffer, words: string[]) {
  const r = spawnSync("bash", ["-s", "--", ...words], { input, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const script = Buffer.from(
  'set -euo pipefail\nmain() { echo "words=$*"; echo "data=$(cat)"; [ "${1:-}" != fail ] || exit 3; }\nmain "$@"',
);

describe("scriptStdin: the script read in blocks, then run", () => {
  it("runs the script with its words, leaves the data after it on stdin, and exits with its status", () => {
    const ok = runRemote(Buffer.concat([scriptStdin(script), Buffer.from("journal {}\n")]), ["step", "a b"]);
    expect(ok).toEqual({ code: 0, stdout: "words=step a b\ndata=journal {}\n", stderr: "" });
    const failed = runRemote(Buffer.concat([scriptStdin(script), Buffer.from("x")]), ["fail"]);
    expect(failed.code).toBe(3);
    expect(failed.stdout).toBe("words=fail\ndata=x\n");
  });

  it("reads the script with a few large reads, not one read per byte as bash reads a pipe", () => {
    const big = Buffer.from(`${"# padding line of a long script\n".repeat(2000)}echo done\n`);
    const traced = spawnSync("strace", ["-f", "-c", "-e", "trace=read", "bash", "-s"], { input: scriptStdin(big) });
    expect(traced.error).toBeUndefined();
    // strace -c's table: % time, seconds, usecs/call, calls, [errors,] syscall.
    const row = traced.stderr
      .toString()
      .split("\n")
      .find((l) => /\sread$/.test(l));
    const reads = Number(row?.trim().split(/\s+/)[3]);
    expect(traced.stdout.toString()).toBe("done\n");
    expect(reads).toBeGreaterThan(0);
    expect(reads).toBeLessThan(big.length / 10);
  });

  it("a script cut short never runs as if it were whole: a non-zero exit, said on stderr", () => {
    const whole = scriptStdin(script);
    // Cut after `main "$@"`, before the `exit` the loader appends: main runs, and the loader says the rest is missing.
    const cut = whole.subarray(0, whole.indexOf('main "$@"') + 'main "$@"\n'.length);
    const r = runRemote(cut, ["step"]);
    expect(r.code).toBe(126);
    expect(r.stderr).toMatch(/did not arrive whole/);
    // Cut in the middle of a statement: bash refuses it, nothing runs.
    const mid = runRemote(whole.subarray(0, whole.indexOf("main()") + 10), ["step"]);
    expect(mid.code).not.toBe(0);
    expect(mid.stdout).toBe("");
  });
});
