/**
 * `npm run plan` refusing what it cannot do before doing any work (exit 2, naming the flag), planning at another
 * time (`--now`), and not writing `--write-state` when `pulumi up` of the plan would fail.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { planCli as plan, ROOT } from "./run-stack";

const TIMEOUT = 120_000;
const temp: string[] = [];
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "plan-checks-"));
  temp.push(d);
  return d;
};

describe("npm run plan: usage errors are found before any work, exit 2 and name the flag", () => {
  const dir = tempDir();
  const file = join(dir, "a-file");
  writeFileSync(file, "mine\n");
  const full = join(dir, "full");
  mkdirSync(full);
  writeFileSync(join(full, "compose.yaml"), "mine\n");

  it.concurrent.each([
    [["--out", file], `plan: --out ${file}: is a file; give a directory to create (or an empty one)`],
    [
      ["--out", full],
      `plan: --out ${full}: the directory exists and is not empty (compose.yaml); files there would be overwritten: name a new or empty directory, or remove this one first`,
    ],
    [
      ["--write-state", join(file, "state.json")],
      `plan: --write-state ${join(file, "state.json")}: ${file} is a file, not a directory`,
    ],
    [["--write-state", dir], `plan: --write-state ${dir}: is a directory; give the path of a file to write`],
    [
      ["--out", join(dir, "new"), "--write-state", join(dir, "new")],
      `plan: --write-state ${join(dir, "new")}: is also --out: give each output its own path`,
    ],
    [
      ["--out", join(dir, "new"), "--write-state", join(dir, "new", "compose.yaml")],
      `plan: --write-state ${join(dir, "new", "compose.yaml")}: is inside the --out directory ${join(dir, "new")}, which this command fills: write it elsewhere`,
    ],
    [
      ["--stack", "prod"],
      `error: option '--stack <name>' given 2 times ("dev", "prod"): it takes one value, give it once`,
    ],
    [
      ["--now", "yesterday"],
      "error: option '--now <time>' argument 'yesterday' is invalid. Expected an ISO 8601 time with a zone, such as 2026-12-24T09:00:00Z.",
    ],
    [["--now", "2026-12-24T09:00:00"], "error: option '--now <time>' argument '2026-12-24T09:00:00' is invalid."],
  ])(
    "--stack dev %j",
    async (args, message) => {
      const r = plan("--stack", "dev", ...args);
      expect(r.status, r.stderr).toBe(2);
      expect(r.stderr).toContain(message);
      expect(r.stdout).toBe(""); // nothing planned
      expect(readFileSync(join(full, "compose.yaml"), "utf8")).toBe("mine\n");
      expect(readFileSync(file, "utf8")).toBe("mine\n");
      expect(existsSync(join(dir, "new"))).toBe(false);
    },
    TIMEOUT,
  );

  it(
    "a repeated flag is refused even with the same value; a repeated switch (--json) is not",
    () => {
      const r = plan("--stack", "dev", "--json", "--json", "--state", "x.json", "--state", "x.json");
      expect(r.status).toBe(2);
      expect(r.stderr).toContain(`error: option '--state <file>' given 2 times ("x.json", "x.json")`);
      const ok = plan("--stack", "dev", "--json", "--json");
      expect(ok.status, ok.stderr).toBe(0);
      expect(JSON.parse(ok.stdout)).toMatchObject({ stack: "dev" });
    },
    TIMEOUT,
  );
});

describe("npm run plan --now: plans at that time", () => {
  const project = tempDir();
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
  writeFileSync(
    join(project, "Pulumi.dev.yaml"),
    readFileSync(join(ROOT, "Pulumi.dev.yaml"), "utf8").replace("chatbot:tier: 4gb", "chatbot:tier: 8gb"),
  );
  const at4gb = join(project, "dev-4gb.json");
  const at8gb = join(project, "dev-8gb.json");
  const against8gb = (now: string, ...more: string[]) =>
    plan("--stack", "dev", "--project-dir", project, "--state", at8gb, "--now", now, ...more);

  it(
    "the migration commits at --now; the rollback target is kept until 24 h later and dropped after",
    () => {
      expect(plan("--stack", "dev", "--write-state", at4gb).status).toBe(0);
      const up = plan("--stack", "dev", "--project-dir", project, "--state", at4gb, "--write-state", at8gb, "--now");
      expect(up.status, up.stderr).toBe(2); // --now needs a value
      const migrate = plan(
        ...["--stack", "dev", "--project-dir", project, "--state", at4gb, "--write-state", at8gb],
        ...["--now", "2030-01-01T00:00:00Z"],
      );
      expect(migrate.status, migrate.stderr).toBe(0);
      expect(migrate.stdout).toMatch(/^Planned as at 2030-01-01T00:00:00.000Z \(--now\)\n/);

      const within = against8gb("2030-01-01T23:59:00Z");
      expect(within.status, within.stderr).toBe(0);
      expect(within.stdout).toContain("Planned as at 2030-01-01T23:59:00.000Z (--now)");
      expect(within.stdout).toContain(
        "Tier migration 4gb -> 8gb done (committed 2030-01-01T00:00:00.000Z): the 4gb server is kept as the rollback target until 2030-01-02T00:00:00.000Z",
      );
      expect(within.stdout).toMatch(/Resources:\n +\d+ unchanged\n/);

      const after = against8gb("2030-01-02T00:00:00+01:00", "--json"); // 2030-01-01T23:00Z: still kept
      expect(after.status, after.stderr).toBe(0);
      expect(JSON.parse(after.stdout)).toMatchObject({ now: "2030-01-01T23:00:00.000Z" });

      const dropped = against8gb("2030-01-02T00:00:01Z");
      expect(dropped.status, dropped.stderr).toBe(0);
      expect(dropped.stdout).toContain("The 4gb server's retention has passed: this update deletes its droplet");
      expect(dropped.stdout).toMatch(/digitalocean:index\/droplet:Droplet +app-4gb-droplet +delete/);
      expect(dropped.stdout).toMatch(/digitalocean:index\/droplet:Droplet +app-8gb-droplet +same/);
    },
    TIMEOUT * 3,
  );

  it(
    "without --now the JSON document has no `now` (the plan prints as it always did)",
    () => {
      const r = plan("--stack", "dev", "--json");
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).not.toHaveProperty("now");
      expect(r.stdout).not.toContain("Planned as at");
    },
    TIMEOUT,
  );
});

describe("npm run plan --write-state when `pulumi up` would fail", () => {
  const dir = tempDir();
  const state = join(dir, "prod.json");
  const next = join(dir, "next.json");

  /** The prod state with one more protected resource, which the program no longer declares: a delete that fails. */
  function withProtectedLeftover(): string {
    const exported = JSON.parse(readFileSync(state, "utf8")) as {
      deployment: { resources: { type: string; urn: string; id?: string; protect?: boolean }[] };
    };
    const tag = exported.deployment.resources.find((r) => r.type === "digitalocean:index/tag:Tag")!;
    exported.deployment.resources.push({ ...tag, urn: tag.urn.replace(/::[^:]+$/, "::old-tag"), protect: true });
    const file = join(dir, "prod-leftover.json");
    writeFileSync(file, JSON.stringify(exported));
    return file;
  }

  it(
    "a protected resource the plan deletes: not written, exit 1, the resource named; without it the state is written",
    () => {
      const w = plan("--stack", "prod", "--write-state", state);
      expect(w.status, w.stderr).toBe(0);
      const r = plan("--stack", "prod", "--state", withProtectedLeftover(), "--write-state", next);
      expect(r.status, r.stderr).toBe(1);
      expect(r.stderr).toContain(
        "plan: `pulumi up` would fail: digitalocean:index/tag:Tag old-tag is protected and this plan would delete it",
      );
      expect(r.stderr).toContain(`plan: ${next} not written: \`pulumi up\` would fail`);
      expect(r.stderr).not.toContain("data loss");
      expect(existsSync(next)).toBe(false);
      expect(r.stdout).toMatch(/digitalocean:index\/tag:Tag +old-tag +delete +protected/);
      expect(r.stdout).not.toContain("Wrote the state");

      // Negative control: the same plan against the state as written goes through and writes.
      const ok = plan("--stack", "prod", "--state", state, "--write-state", next);
      expect(ok.status, ok.stderr).toBe(0);
      expect(ok.stderr).not.toContain("would fail");
      expect(existsSync(next)).toBe(true);
    },
    TIMEOUT * 2,
  );
});

describe("prod past the retention: what loses its protection is what the text names", () => {
  const dir = tempDir();
  const project = tempDir();
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(project, "Pulumi.yaml"));
  writeFileSync(
    join(project, "Pulumi.prod.yaml"),
    readFileSync(join(ROOT, "Pulumi.prod.yaml"), "utf8").replace("chatbot:tier: 8gb", "chatbot:tier: 16gb"),
  );
  const at16 = (state: string, out: string) =>
    plan(
      "--stack",
      "prod",
      "--project-dir",
      project,
      "--state",
      state,
      "--write-state",
      out,
      "--now",
      "2030-01-01T00:00:00Z",
    );
  const late = (state: string, ...more: string[]) =>
    plan("--stack", "prod", "--project-dir", project, "--state", state, "--now", "2030-01-02T01:00:00Z", ...more);

  it.each([
    ["a server with a pinned host key", undefined, "droplet, volume, host key"],
    ["a server created before pinned host keys (v1 state)", "v1-prod-8gb.json", "droplet, volume"],
  ])(
    "%s",
    (_what, fixture, parts) => {
      const from = join(dir, `${parts.length}-8gb.json`);
      if (fixture) copyFileSync(join(ROOT, "tests", "fixtures", "state", fixture), from);
      else expect(plan("--stack", "prod", "--write-state", from).status).toBe(0);
      const to = join(dir, `${parts.length}-16gb.json`);
      const up = at16(from, to);
      expect(up.status, up.stderr).toBe(0);
      const text = late(to);
      expect(text.status, text.stderr).toBe(0);
      expect(text.stdout).toContain(
        `The 8gb server's retention has passed: this update takes its protection off (${parts});`,
      );
      const doc = JSON.parse(late(to, "--json").stdout) as {
        operations: { name: string; flags?: { protect?: [boolean, boolean] } }[];
      };
      const unprotected = doc.operations.filter((o) => o.flags?.protect?.[1] === false).map((o) => o.name);
      const kinds: Record<string, string> = { droplet: "droplet", volume: "volume", "host-key": "host key" };
      expect(unprotected.map((n) => kinds[n.replace("app-8gb-", "")]).sort()).toEqual(parts.split(", ").sort());
    },
    TIMEOUT * 3,
  );
});
