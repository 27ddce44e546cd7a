/**
 * One exit-code convention for every command (scripts/cli-exit.ts): 0 done, 1 ran and its check says no, 2 usage or
 * config error, 3 a human is needed. Each command runs here as a real process and its code and message are
 * asserted. Commands that act over ssh run against tests/support/fake-ssh/ssh, first on PATH, which answers each
 * droplet step from files: a drill that fails, a rollback that fails, a failure after the commit point.
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommanderError } from "commander";
import { describe, expect, it } from "vitest";
import {
  checkSeparateOutputs,
  EXIT,
  exitCodeHelp,
  exitCodeOf,
  NeedsHumanError,
  UsageError,
} from "../../scripts/cli-exit";
import { benchMigrationProblems, benchTargetsMissed } from "../bench/bench-migration";
import { logicalOutcome } from "../../infra/scale-out-migration/over-ssh";
import { runCommand } from "../support/processes";

import { SCALE_OUT_CLEAN, SCALE_OUT_HAPPY, type StepAnswers, writeStepAnswers } from "../support/fake-ssh-answers";
const ROOT = join(__dirname, "..", "..");
const TSX = join(ROOT, "node_modules", ".bin", "tsx");
const FAKE_SSH = join(ROOT, "tests", "support", "fake-ssh");
const TIMEOUT = 120_000;

/** Runs scripts/<script>.ts; `steps` are the fake droplet's answers, {step: {out, err, code}}. */
async function cli(script: string, args: string[], steps?: StepAnswers) {
  let env: NodeJS.ProcessEnv = {};
  let dir: string | undefined;
  if (steps) {
    dir = mkdtempSync(join(tmpdir(), "fake-ssh-"));
    writeStepAnswers(dir, steps);
    env = { PATH: `${FAKE_SSH}:${process.env.PATH}`, FAKE_SSH_DIR: dir };
  }
  const r = await runCommand(TSX, [join(ROOT, script), ...args], { cwd: ROOT, env, timeoutMs: TIMEOUT });
  const calls = dir ? readFileSync(join(dir, "calls.log"), "utf8").trim().split("\n").filter(Boolean) : [];
  return { ...r, calls };
}

describe("the convention (scripts/cli-exit.ts)", () => {
  it.each([
    ["--help", new CommanderError(0, "commander.helpDisplayed", "(outputHelp)"), "usage", EXIT.done],
    [
      "an unknown option",
      new CommanderError(1, "commander.unknownOption", "error: unknown option"),
      "human",
      EXIT.usage,
    ],
    ["a UsageError", new UsageError("x"), "human", EXIT.usage],
    ["a NeedsHumanError", new NeedsHumanError("x"), "usage", EXIT.human],
    ["a TypeError (a bug, or fetch failing to connect)", new TypeError("x"), "usage", EXIT.human],
    ["a plain Error, command that only reads inputs", new Error("x"), "usage", EXIT.usage],
    ["a plain Error, command that acts", new Error("x"), "human", EXIT.human],
    ["a thrown string", "x", "usage", EXIT.human],
  ] as const)("%s -> %i", (_what, error, otherErrors, code) => {
    expect(exitCodeOf(error, { otherErrors })).toBe(code);
  });

  it("outputs that would write over each other are refused; separate ones pass", () => {
    const out = { flag: "--out", path: "/tmp/o", dir: true };
    expect(() => checkSeparateOutputs([out, { flag: "--write-state", path: "/tmp/o/../o" }])).toThrow(
      "--write-state /tmp/o/../o: is also --out",
    );
    expect(() => checkSeparateOutputs([{ flag: "--write-state", path: "/tmp/o/a/s.json" }, out])).toThrow(
      "is inside the --out directory /tmp/o",
    );
    // A sibling whose name starts the same, and a directory inside a file's path (not a directory): no clash.
    expect(() => checkSeparateOutputs([out, { flag: "--write-state", path: "/tmp/o2/s.json" }])).not.toThrow();
    expect(() =>
      checkSeparateOutputs([
        { flag: "--chart", path: "/tmp/c.svg" },
        { flag: "--save-metrics", path: "/tmp/c.svg/m.json" },
      ]),
    ).not.toThrow();
  });

  it("--help text names all four codes and the examples", () => {
    const help = exitCodeHelp({ no: "over the limit", examples: ["npm run x -- --y"] });
    expect(help).toMatch(/^ {2}0 {2}done$/m);
    expect(help).toMatch(/^ {2}1 {2}ran, and its check says no: over the limit$/m);
    expect(help).toMatch(/^ {2}2 {2}usage or config error/m);
    expect(help).toMatch(/^ {2}3 {2}a human is needed: an unexpected failure/m);
    expect(help).toContain("Examples:\n  npm run x -- --y");
    expect(exitCodeHelp({ examples: [] })).toContain(
      "1  ran, and its check says no (this command has no such check: never)",
    );
    for (const line of exitCodeHelp({ no: "word ".repeat(60), examples: [] }).split("\n"))
      expect(line.length).toBeLessThanOrEqual(100);
  });

  const fixture = (...args: string[]) =>
    runCommand(TSX, [join(ROOT, "tests/support/cli-exit-fixture.ts"), ...args], { cwd: ROOT, timeoutMs: TIMEOUT });

  it.concurrent.each([
    [["done", "--target", "x"], EXIT.done, ""],
    [["no", "--target", "x"], EXIT.no, ""],
    [["usage", "--target", "x"], EXIT.usage, "fixture: a usage error"],
    [["human", "--target", "x"], EXIT.human, "fixture: rollback incomplete"],
    [["error", "--target", "x"], EXIT.human, "fixture: a plain error"],
    [["bug", "--target", "x"], EXIT.human, "fixture: TypeError: undefined is not a function\n    at "],
    [["rejection", "--target", "x"], EXIT.human, "fixture: nobody awaited this"],
    // Commander would say "required option '--target <t>' not specified" before naming the misspelt one.
    [["done", "--targt", "x"], EXIT.usage, "error: unknown option '--targt'\n(Did you mean --target?)"],
    [["done"], EXIT.usage, "error: required option '--target <t>' not specified"],
    [["done", "1", "2", "--target", "x"], EXIT.usage, "error: too many arguments"],
    // A single-valued option given twice would silently take the last value; a collector keeps every value.
    [
      ["done", "--target", "x", "--target", "y"],
      EXIT.usage,
      `error: option '--target <t>' given 2 times ("x", "y"): it takes one value, give it once`,
    ],
    [["done", "--target", "x", "--list", "a,b", "--list", "a,b,c"], EXIT.usage, "option '--list <a,b>' given 2 times"],
    [["done", "--target", "x", "--tag", "a", "--tag", "b", "--tag", "a", "--verbose", "--verbose"], EXIT.done, ""],
    [["done", "--target", "x", "--target", "y", "--targt"], EXIT.usage, "error: unknown option '--targt'"],
  ])(
    "fixture %j exits %i",
    async (args, code, stderr) => {
      const r = await fixture(...args);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(stderr);
    },
    TIMEOUT,
  );

  it(
    "a thrown plain Error is a usage error where the command says so",
    async () => {
      const r = await runCommand(TSX, [join(ROOT, "tests/support/cli-exit-fixture.ts"), "error", "--target", "x"], {
        cwd: ROOT,
        env: { FIXTURE_OTHER_ERRORS: "usage" },
      });
      expect(r.code).toBe(EXIT.usage);
    },
    TIMEOUT,
  );

  it(
    "exits only once a slow reader has all of stdout (process.exit alone cuts a pipe at 64 KiB)",
    async () => {
      const cmd = `${TSX} tests/support/cli-exit-fixture.ts no 1000000 --target x | (sleep 1; wc -c); exit \${PIPESTATUS[0]}`;
      const r = await runCommand("bash", ["-c", cmd], { cwd: ROOT, timeoutMs: TIMEOUT });
      expect(r.stdout.trim()).toBe("1000000");
      expect(r.code).toBe(EXIT.no);
    },
    TIMEOUT,
  );
});

describe("npm run cost", () => {
  const plans = ["--base", "tests/fixtures/cost/plan-dev-4gb.json", "--head", "tests/fixtures/cost/plan-dev-8gb.json"];

  it.concurrent.each([
    [
      [...plans, "--fail-above", "20"],
      EXIT.no,
      "the steady-state monthly increase $24.00 is above --fail-above $20.00",
    ],
    [[...plans, "--fail-above", "24"], EXIT.done, ""],
    [[...plans, "--fail-abov", "20"], EXIT.usage, "error: unknown option '--fail-abov'\n(Did you mean --fail-above?)"],
    [[...plans, "--fail-above", "lots"], EXIT.usage, '"lots" is not an amount in USD'],
    [["--per-user", "--backups", "hourly"], EXIT.usage, "Allowed choices are none, weekly, daily"],
    [["--preview", "tests/fixtures/cost/missing.json"], EXIT.usage, "missing.json: cannot read (ENOENT)"],
    [
      ["--per-user", "--fail-above", "1"],
      EXIT.usage,
      "cost: --fail-above would be ignored with --per-user (it prices every tier, not a stack or a change)",
    ],
    [[...plans, "--backups", "daily"], EXIT.usage, "cost: --backups is for --per-user"],
    [["--per-user", "--backups", "weekly", "--json"], EXIT.done, ""],
  ])(
    "%j exits %i",
    async (args, code, stderr) => {
      const r = await cli("scripts/cost.ts", args);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(stderr);
    },
    TIMEOUT,
  );
});

describe("npm run capacity", () => {
  const metrics = (name: string) => ["--metrics", `tests/fixtures/capacity/${name}.json`];

  it.concurrent.each([
    [[...metrics("metrics-upgrade-now"), "--check"], EXIT.no, "capacity: --check: the verdict is upgrade-now"],
    [[...metrics("metrics-plan-upgrade"), "--check"], EXIT.no, "capacity: --check: the verdict is plan-upgrade"],
    [[...metrics("metrics-none"), "--check"], EXIT.done, ""],
    [metrics("metrics-upgrade-now"), EXIT.done, ""], // without --check the verdict is only printed
    [metrics("metrics-malformed"), EXIT.usage, "samples[1] (at 2026-11-20T10:05:00Z).memoryPct: Too big"],
    [["--metrics", "tests/fixtures/capacity/nope.json"], EXIT.usage, "ENOENT"],
    [["--metric", "x.json"], EXIT.usage, "error: unknown option '--metric'\n(Did you mean --metrics?)"],
    [
      ["--days", "7", "--tier", "4gb", "--droplet-id", "1"],
      EXIT.usage,
      "DIGITALOCEAN_TOKEN: a DigitalOcean API token is required",
    ],
    [
      ["--host", "root@droplet", "--tier", "4gb", "--env", "PGPASSWORD=x"],
      EXIT.usage,
      "PGPASSWORD looks like a secret",
    ],
    [
      [...metrics("metrics-none"), "--tier", "4gb", "--env", "A=1"],
      EXIT.usage,
      "capacity: --tier, --env would be ignored with --metrics (its file gives the tier and the samples)",
    ],
    [
      ["--host", "root@droplet", "--tier", "4gb", "--droplet-id", "1"],
      EXIT.usage,
      "capacity: --droplet-id would be ignored with --host",
    ],
    [[...metrics("metrics-none"), "--active-users", "10", "--complaints", "--json"], EXIT.done, ""],
  ])(
    "%j exits %i",
    async (args, code, stderr) => {
      const r = await cli("scripts/capacity.ts", args);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(stderr);
    },
    TIMEOUT,
  );

  it(
    "a droplet that ssh cannot reach: a human is needed",
    async () => {
      const r = await cli("scripts/capacity.ts", ["--host", "root@droplet", "--tier", "4gb"], {
        history: { code: 255, err: "ssh: connect to host droplet port 22: Connection refused\n" },
      });
      expect(r.code, r.stderr).toBe(EXIT.human);
      expect(r.stderr).toContain(
        "capacity: collector on root@droplet exited 255: ssh: connect to host droplet port 22: Connection refused",
      );
    },
    TIMEOUT,
  );
});

describe("npm run restore-drill", () => {
  const report = (restored: number) =>
    `${[
      "backup=/backups/chatbot-20261201T031500Z.dump",
      "backup_bytes=2048",
      "backup_age_hours=5",
      "checksum=ok",
      "expected.public.users=500",
      `count.public.users=${restored}`,
      "restore_seconds=1.5",
      "total_seconds=3",
    ].join("\n")}\n`;
  const drill = (...args: string[]) => ["--host", "root@droplet", ...args];

  it.concurrent.each([
    ["the drill passes", { script: { out: report(500) } }, EXIT.done, "", "Restore drill PASSED."],
    [
      "a table's rows differ",
      { script: { out: report(499) } },
      EXIT.no,
      "",
      "public.users: 500 rows in the dump, 499 restored",
    ],
    [
      "no backup (the script stops)",
      {
        script: {
          code: 1,
          err: "[03:15:00 restore-drill] ERROR: no chatbot-*.dump in /backups: has the backup timer run?\n",
        },
      },
      EXIT.no,
      "has the backup timer run?",
      "",
    ],
    [
      "ssh cannot connect: the drill never ran",
      { script: { code: 255, err: "ssh: connect to host droplet port 22: No route to host\n" } },
      EXIT.human,
      "failed (exit 255): ssh: connect",
      "",
    ],
  ])(
    "%s",
    async (_what, steps, code, stderr, stdout) => {
      const r = await cli("scripts/restore-drill.ts", drill(), steps);
      expect(r.code, r.stderr).toBe(code);
      expect(r.stderr).toContain(stderr);
      expect(r.stdout).toContain(stdout);
      expect(r.calls).toEqual(["script"]);
    },
    TIMEOUT,
  );

  it.concurrent.each([
    [["--hots", "root@droplet"], "error: unknown option '--hots'\n(Did you mean --host?)"],
    [[], "error: required option '--host <target>' not specified"],
    [drill("--env", "PGPASSWORD=x"), "PGPASSWORD looks like a secret"],
    [drill("--env", "oops"), '--env: "oops" must be KEY=VALUE'],
  ])(
    "%j: usage error, ssh never called",
    async (args, stderr) => {
      const r = await cli("scripts/restore-drill.ts", args, {});
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr).toContain(stderr);
      expect(r.stderr).not.toContain("required option '--host <target>' not specified\n(Did");
      expect(r.calls).toEqual([]);
    },
    TIMEOUT,
  );
});

describe("a usage error of a command that pins a droplet's host key comes before the pin", () => {
  // An ed25519 public key blob (string "ssh-ed25519", 32 key bytes): the form --host-key takes.
  const u32 = (n: number) => Buffer.from([0, 0, 0, n]);
  const blob = Buffer.concat([u32(11), Buffer.from("ssh-ed25519"), u32(32), Buffer.alloc(32, 7)]);
  const key = `ssh-ed25519 ${blob.toString("base64")}`;

  it.concurrent.each([
    ["scripts/restore-drill.ts", ["--host", "root@droplet", "--env", "PGPASSWORD=x"], "PGPASSWORD looks like a secret"],
    [
      "scripts/capacity.ts",
      ["--host", "root@droplet", "--tier", "4gb", "--env", "PGPASSWORD=x"],
      "PGPASSWORD looks like a secret",
    ],
  ])(
    "%s %j: exit 2, no warning, no known_hosts file left, with or without --host-key",
    async (script, args, stderr) => {
      for (const pin of [[], ["--host-key", key]]) {
        const tmp = mkdtempSync(join(tmpdir(), "pin-tmp-"));
        const r = await runCommand(TSX, [join(ROOT, script), ...args, ...pin], {
          cwd: ROOT,
          env: { TMPDIR: tmp },
          timeoutMs: TIMEOUT,
        });
        expect(r.code, r.stderr).toBe(EXIT.usage);
        expect(r.stderr).toContain(stderr);
        expect(r.stderr).not.toContain("warning");
        expect(readdirSync(tmp).filter((f) => f.startsWith("chatbot-known-hosts-"))).toEqual([]);
      }
    },
    TIMEOUT,
  );
});

/**
 * The move's own steps: each run (and each recovery a plain run makes) holds the source's lock, taken first and
 * released last, which is checked here and then left out.
 */
function moveSteps<R extends { calls: string[] }>(r: R): R {
  const locks = r.calls.filter((c) => c.startsWith("lock_"));
  expect(locks.length).toBeGreaterThan(0);
  expect(r.calls[0]).toBe("lock_acquire");
  expect(r.calls.at(-1)).toBe("lock_release");
  expect(locks.filter((c) => c === "lock_acquire").length).toBe(locks.filter((c) => c === "lock_release").length);
  return { ...r, calls: r.calls.filter((c) => !c.startsWith("lock_")) };
}

describe("npm run scale-out-migrate", () => {
  const args = [
    "--source",
    "root@droplet",
    "--source-private",
    "10.10.0.5",
    "--upstreams",
    "10.10.0.7:8081,10.10.0.8:8081",
    "--app-nodes",
    "root@app1,root@app2",
  ];
  const happy = SCALE_OUT_HAPPY;

  it.concurrent.each([
    ["it goes through", {}, EXIT.done, "", "chatbot-migration-result: "],
    [
      "the subscription fails: rolled back",
      { subscribe: { code: 1, err: "could not connect\n" } },
      EXIT.no,
      "",
      "stopped (rolled-back): subscribe exited 1",
    ],
    [
      "the subscription fails and so does undoing it",
      { subscribe: { code: 1 }, rollback_target: { code: 1, err: "cluster unreachable\n" } },
      EXIT.human,
      "",
      "rollback incomplete: rollback_target exited 1",
    ],
    [
      "finishing fails after the traffic switch",
      { finish: { code: 1, err: "drop subscription failed\n" } },
      EXIT.human,
      "",
      "stopped (failed-after-commit): finish exited 1",
    ],
  ])(
    "%s",
    async (_what, faults, code, stderr, stdout) => {
      const r = moveSteps(await cli("scripts/scale-out-migrate.ts", args, { ...happy, ...faults }));
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(code);
      expect(r.stderr).toContain(stderr);
      expect(r.stdout).toContain(stdout);
      expect(r.calls[0]).toBe("preflight");
      if (code === EXIT.done)
        expect(r.calls).toEqual([
          "preflight",
          "schema",
          "publish",
          "subscribe",
          "sync",
          "lag",
          "gate",
          "gate",
          "trust",
          "cert",
          "cutover",
          "gate",
          "gate",
          "counts",
          "cache_warm",
          "finish",
        ]);
    },
    TIMEOUT,
  );

  const BEFORE = "switched=\nfenced=1\npublication=1\nslot=1\nsubscription=1\n";
  const AFTER = "switched=c1\nswitched_at=2026-12-08T03:00:00.000Z\nfenced=1\npublication=1\nslot=1\nsubscription=1\n";
  const DONE = "switched=c1\nswitched_at=2026-12-08T03:00:00.000Z\nfenced=1\npublication=0\nslot=0\nsubscription=0\n";
  it.concurrent.each([
    [
      "--status, nothing left",
      ["--status"],
      SCALE_OUT_CLEAN,
      EXIT.done,
      /^ {2}phase +none$/m,
      ["state", "journal_read"],
    ],
    [
      "--status, stopped in the cutover",
      ["--status"],
      BEFORE,
      EXIT.done,
      /^ {2}lock +free$[\s\S]*^ {2}next +--rollback /m,
      ["state", "journal_read"],
    ],
    [
      "a plain run on an earlier run's leftovers that its rollback does not clear: stops, exit 1",
      [],
      BEFORE,
      EXIT.no,
      /stopped \(rolled-back\): an earlier run left /,
      [
        "preflight",
        "state",
        "cert",
        "unfence",
        "gate",
        "gate",
        "local",
        "rollback_target",
        "gate",
        "gate",
        "preflight",
      ],
    ],
    [
      "a plain run on a finished move: nothing touched, the result line again",
      [],
      DONE,
      EXIT.done,
      /chatbot-migration-result: .*"committedAt":"2026-12-08T03:00:00.000Z".*"resumed":true/,
      ["preflight", "state"],
    ],
    [
      "--rollback before the commit point",
      ["--rollback"],
      BEFORE,
      EXIT.done,
      /stopped \(rolled-back\): --rollback of an interrupted run/,
      // The fake ssh names a proxy-switch.sh action by its first word: the bounces are the first two "gate"s.
      ["state", "cert", "unfence", "gate", "gate", "local", "rollback_target", "gate", "gate"],
    ],
    ["--rollback past the commit point: refused", ["--rollback"], AFTER, EXIT.no, /stopped \(refused\)/, ["state"]],
    [
      "--resume past the commit point",
      ["--resume"],
      AFTER,
      EXIT.done,
      /chatbot-migration-result: .*"committedAt":"2026-12-08T03:00:00.000Z".*"resumed":true/,
      ["state", "gate", "gate", "counts", "cache_warm", "finish"],
    ],
    ["--resume before the commit point: refused", ["--resume"], BEFORE, EXIT.no, /stopped \(refused\)/, ["state"]],
  ])(
    "%s",
    async (_what, flags, left, code, stdout, calls) => {
      const answers = {
        ...happy,
        state: { out: left },
        preflight: { out: `${left}source_version_num=1\ntarget_version_num=1\ndb_bytes=1\n` },
      };
      const r = await cli("scripts/scale-out-migrate.ts", [...args, ...flags], {
        ...answers,
        unfence: { out: "unfenced=1\nhold=kept\n" },
        cert: {
          out: `tls_cert=${Buffer.from("-----BEGIN CERTIFICATE-----\nsource\n-----END CERTIFICATE-----\n").toString("base64")}\n`,
        },
      });
      expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(code);
      expect(r.stdout).toMatch(stdout);
      // --status reads, holding no lock.
      expect(flags.includes("--status") ? r.calls : moveSteps(r).calls).toEqual(calls);
    },
    TIMEOUT,
  );

  it.concurrent(
    "--status names a lock a dead run left, and a plain run refused by a fresh one (exit 1)",
    async () => {
      const lock =
        "lock_present=1\nlock_run=c1-abc\nlock_holder=ci:42\nlock_started=2026-12-08T03:00:00Z\nlock_age_s=3\n";
      const status = await cli("scripts/scale-out-migrate.ts", [...args, "--status"], {
        ...happy,
        journal_read: { out: `journal_present=0\n${lock}` },
      });
      expect(status.code, status.stderr).toBe(EXIT.done);
      expect(status.stdout).toMatch(/^ {2}lock +held by ci:42, run c1-abc, last heartbeat 3 s ago/m);
      const run = await cli("scripts/scale-out-migrate.ts", args, {
        ...happy,
        lock_acquire: { code: 6, out: lock.replace("lock_present=1\n", "") },
      });
      expect(run.code, run.stderr).toBe(EXIT.no);
      expect(run.stdout).toMatch(/stopped \(refused\): another migration holds the lock .*ci:42/);
      expect(run.calls).toEqual(["lock_acquire"]);
    },
    TIMEOUT,
  );

  it.concurrent.each([
    [["--sourc", "root@droplet"], "error: unknown option '--sourc'\n(Did you mean --source?)"],
    [
      ["--source", "root@droplet", "--source-private", "10.10.0.5", "--upstreams", "app1", "--app-nodes", "root@app1"],
      'upstreams: "app1" must be host:port',
    ],
    [[...args.slice(0, 6), "--app-nodes", "root@app1"], "appNodes: 1 ssh destination(s) for 2 upstream(s)"],
    [[...args.slice(0, 6)], "error: required option '--app-nodes <list>' not specified"],
    [[...args, "--downtime-budget", "0"], "downtimeBudgetSeconds: must be a positive number"],
    [
      [
        ...args,
        "--app-node-host-key",
        "root@app9=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuvAddbRUXhZqAjjjcWQNvcseadSNGmRYqJIfvF+VvL",
      ],
      'appNodeHostKey: "root@app9" is none of the targets it may pin (root@app1, root@app2)',
    ],
    [
      [...args, "--app-node-host-key", "root@app1=ssh-rsa AAAA"],
      "appNodeHostKey: root@app1: the pinned host key must be ssh-ed25519",
    ],
    [[...args.slice(0, 4)], "error: required option '--upstreams <list>' not specified"],
  ])(
    "%j: usage error, nothing touched",
    async (argv, stderr) => {
      const r = await cli("scripts/scale-out-migrate.ts", argv, {});
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr).toContain(stderr);
      expect(r.calls).toEqual([]);
    },
    TIMEOUT,
  );

  it("how a run ended, from the runner's report", () => {
    expect(logicalOutcome({ ok: true, committed: true })).toBe("done");
    expect(logicalOutcome({ ok: false, committed: true })).toBe("failed-after-commit");
    expect(logicalOutcome({ ok: false, committed: false, rolledBack: true })).toBe("rolled-back");
    expect(logicalOutcome({ ok: false, committed: false, rolledBack: false })).toBe("rollback-incomplete");
  });
});

describe("npm run migrate --lock-stale-seconds", () => {
  const pair = ["--from", "root@203.0.113.10", "--to", "root@203.0.113.11"];

  it.concurrent.each(["abc", "4", "3601", "1.5", "", "60s"])(
    "%j is a usage error naming the flag and the range, before any ssh",
    async (value) => {
      const r = await cli("scripts/migrate.ts", [...pair, "--lock-stale-seconds", value], {});
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr.trim()).toBe(
        `migrate: --lock-stale-seconds must be a whole number of seconds from 5 to 3600, got "${value}"`,
      );
      expect(r.calls).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    "a valid window reaches both droplets' lock_acquire (--dry-run); --help shows it with its default",
    async () => {
      const dry = await cli("scripts/migrate.ts", [...pair, "--lock-stale-seconds", "600", "--dry-run"], {});
      expect(dry.code, dry.stderr).toBe(EXIT.done);
      const acquires = dry.stdout.split("\n").filter((l) => l.includes(" lock_acquire "));
      expect(acquires.length).toBeGreaterThan(0);
      for (const line of acquires) expect(line).toMatch(/ '\\''<started>'\\'' 600'$/);
      const help = await cli("scripts/migrate.ts", ["--help"]);
      expect(help.stdout.replace(/\s+/g, " ")).toContain(
        '--lock-stale-seconds <n> a lock without heartbeat for longer than this (the droplet\'s clock) belongs to a dead run and is taken over; a whole number from 5 to 3600 (longer on a slow link) (default: "60")',
      );
    },
    TIMEOUT,
  );
});

describe("npm run migrate --status", () => {
  it(
    "a droplet that does not answer: exit 3 (a human looks), naming the droplet",
    async () => {
      const r = await cli("scripts/migrate.ts", ["--from", "root@203.0.113.10", "--status"], {
        journal_read: { code: 255, err: "ssh: connect to host 203.0.113.10 port 22: Connection timed out\n" },
      });
      expect(r.code, r.stderr).toBe(EXIT.human);
      expect(r.stderr).toMatch(
        /^migrate --status: journal_read on the old droplet exited 255: .*203\.0\.113\.10 did not answer/m,
      );
      expect(r.calls).toEqual(["journal_read"]);
    },
    TIMEOUT,
  );
});

describe("npm run bench:plan and bench:migration", () => {
  it.concurrent.each([
    ["scripts/bench-plan.ts", ["--runs", "0"], "option '--runs <n>' argument '0' is invalid"],
    ["scripts/bench-plan.ts", ["--stak", "dev"], "error: unknown option '--stak'\n(Did you mean --stack?)"],
    ["scripts/bench-plan.ts", ["--stack", "nope", "--runs", "1"], "no stack file"],
    ["tests/bench/bench-migration.ts", ["--sizes", "1XB"], '--sizes: "1XB" is not a size like 100MB or 1GB'],
    [
      "tests/bench/bench-migration.ts",
      ["--strategies", "rsync"],
      '--strategies: "rsync" is not one of replicate, dump-restore, scale-out',
    ],
    ["tests/bench/bench-migration.ts", ["--size", "1GB"], "error: unknown option '--size'\n(Did you mean --sizes?)"],
  ])(
    "%s %j: usage error",
    async (script, args, stderr) => {
      const r = await cli(script, args);
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr).toContain(stderr);
    },
    TIMEOUT,
  );

  it(
    "bench:plan --fail-above: 1 when the median is slower",
    async () => {
      const r = await cli("scripts/bench-plan.ts", ["--stack", "dev", "--runs", "1", "--fail-above", "0.001"]);
      expect(r.code, r.stderr).toBe(EXIT.no);
      expect(r.stderr).toMatch(/bench:plan: the median \d+\.\d\d s is above --fail-above 0.001 s/);
    },
    TIMEOUT,
  );

  it("bench:migration's check: a lost write, an unfinished run, a negative control that lost nothing", () => {
    const row = { size: "100MB", completed: true, lost: 0, failedButPresent: 0 };
    const control = { ...row, strategy: "replicate (unfenced: negative control)" as const };
    expect(
      benchMigrationProblems([
        { ...row, strategy: "replicate" },
        { ...control, lost: 15 },
      ]),
    ).toEqual([]);
    expect(
      benchMigrationProblems([
        { ...row, strategy: "replicate", lost: 2 },
        { ...row, strategy: "dump-restore", completed: false, note: "budget" },
        control,
      ]),
    ).toEqual([
      "replicate 100MB: 2 acknowledged write(s) lost",
      "dump-restore 100MB: did not complete (budget)",
      'replicate (unfenced: negative control) 100MB: the negative control lost no acknowledged write, so "0 lost" in the other runs proves nothing',
    ]);
    expect(benchMigrationProblems([{ ...row, strategy: "replicate", failedButPresent: 1 }])).toEqual([
      "replicate 100MB: 1 write(s) recorded as failed are present",
    ]);
    expect(
      benchMigrationProblems([
        { ...row, strategy: "scale-out", lost: 1 },
        { ...row, strategy: "scale-out", size: "1GB", completed: false, note: "switch exited 1" },
      ]),
    ).toEqual(["scale-out 100MB: 1 acknowledged write(s) lost", "scale-out 1GB: did not complete (switch exited 1)"]);
  });

  it("bench:migration names each quiet-machine target a run missed, with its load average", () => {
    const fine = {
      strategy: "replicate",
      size: "1GB",
      requests: 900,
      ok: 900,
      failed: 0,
      unknown: 0,
      lost: 0,
      maxLatencyMs: 1900,
      p99LatencyMs: 40,
      writeGapMs: 950,
      totalSeconds: 60,
      frontDoor: "caddy v2.6.2",
      loadAvg1: 0.4,
    };
    expect(benchTargetsMissed([fine])).toEqual([]);
    expect(benchTargetsMissed([{ ...fine, failed: 1, unknown: 2, maxLatencyMs: 2001, writeGapMs: 1001 }])).toEqual([
      "replicate 1GB (load 0.4): 1 failed and 2 unknown requests (target 0)",
      "replicate 1GB (load 0.4): max latency 2001 ms (target <= 2000)",
      "replicate 1GB (load 0.4): write gap 1001 ms (target <= 1000)",
    ]);
    expect(benchTargetsMissed([{ ...fine, strategy: "dump-restore", writeGapMs: 9000 }])).toEqual([]); // its writes stop for the restore
    expect(
      benchTargetsMissed([{ ...fine, strategy: "scale-out", size: "100MB", unknown: 4, writeGapMs: 2300 }]),
    ).toEqual([
      "scale-out 100MB (load 0.4): 0 failed and 4 unknown requests (target 0)",
      "scale-out 100MB (load 0.4): write gap 2300 ms (target <= 1000)",
    ]);
  });
});

describe("a single-valued option given twice is a usage error in every command, found before any work", () => {
  it.concurrent.each([
    [
      "scripts/cost.ts",
      [
        ...["--base", "tests/fixtures/cost/plan-dev-4gb.json", "--head", "tests/fixtures/cost/plan-dev-8gb.json"],
        ...["--fail-above", "1", "--fail-above", "2"],
      ],
      `option '--fail-above <usd>' given 2 times ("1", "2")`,
    ],
    [
      "scripts/capacity.ts",
      [
        "--metrics",
        "tests/fixtures/capacity/metrics-none.json",
        "--metrics",
        "tests/fixtures/capacity/metrics-upgrade-now.json",
      ],
      "option '--metrics <file>' given 2 times",
    ],
    [
      "scripts/restore-drill.ts",
      ["--host", "root@a", "--host", "root@b"],
      `option '--host <target>' given 2 times ("root@a", "root@b")`,
    ],
    [
      "scripts/migrate.ts",
      ["--from", "root@a", "--to", "root@b", "--to", "root@c"],
      "option '--to <target>' given 2 times",
    ],
    [
      "scripts/scale-out-migrate.ts",
      [
        "--source",
        "root@a",
        "--source",
        "root@b",
        "--source-private",
        "10.10.0.5",
        "--upstreams",
        "10.10.0.7:8081",
        "--app-nodes",
        "root@app1",
      ],
      "option '--source <target>' given 2 times",
    ],
    [
      "scripts/bench-plan.ts",
      ["--stack", "dev", "--stack", "prod"],
      `option '--stack <name>' given 2 times ("dev", "prod")`,
    ],
    ["tests/bench/bench-migration.ts", ["--sizes", "1GB", "--sizes", "100MB"], "option '--sizes <list>' given 2 times"],
    [
      "scripts/prices-check.ts",
      ["--response", "tests/fixtures/digitalocean-sizes/sizes.json", "--response", "x.json"],
      "option '--response <file>' given 2 times",
    ],
  ])(
    "%s %j",
    async (script, args, stderr) => {
      const r = await cli(script, args, {});
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr).toContain(`error: ${stderr}`);
      expect(r.stderr).toContain("it takes one value, give it once");
      expect(r.stdout).toBe("");
      expect(r.calls).toEqual([]);
    },
    TIMEOUT,
  );

  it(
    "repeatable options stay repeatable (restore-drill with --ssh-arg and --env twice runs the drill)",
    async () => {
      const r = await cli(
        "scripts/restore-drill.ts",
        ["--host", "root@droplet", "--ssh-arg=-p", "--ssh-arg=2222", "--env", "A=1", "--env", "B=2"],
        {
          script: {
            out: "backup=/b.dump\nbackup_bytes=1\nbackup_age_hours=1\nchecksum=ok\nexpected.public.users=1\ncount.public.users=1\nrestore_seconds=1\ntotal_seconds=1\n",
          },
        },
      );
      expect(r.code, r.stderr).toBe(EXIT.done);
      expect(r.calls).toEqual(["script"]);
    },
    TIMEOUT,
  );
});

describe("an input file that cannot be read is a usage error naming its flag", () => {
  it.concurrent.each([
    [
      "scripts/capacity.ts",
      ["--metrics", "tests/fixtures/capacity"],
      "--metrics tests/fixtures/capacity: cannot read (EISDIR)",
    ],
    ["scripts/prices-check.ts", ["--response", "nope.json"], "--response nope.json: cannot read (ENOENT)"],
    ["scripts/cost.ts", ["--preview", "nope.json"], "cost: --preview nope.json: cannot read (ENOENT)"],
    [
      "scripts/cost.ts",
      ["--base", "tests/fixtures/capacity/metrics-none.json", "--head", "nope.json"],
      "cost: --base tests/fixtures/capacity/metrics-none.json: unrecognised Pulumi JSON",
    ],
    ["scripts/readme-tables.ts", ["--writ"], "error: unknown option '--writ'\n(Did you mean --write?)"],
  ])(
    "%s %j",
    async (script, args, stderr) => {
      const r = await cli(script, args);
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr).toContain(stderr);
      expect(r.stdout).toBe("");
    },
    TIMEOUT,
  );
});

describe("capacity: a bad --chart or --save-metrics path is a usage error before anything is read", () => {
  const dir = mkdtempSync(join(tmpdir(), "capacity-out-"));
  const file = join(dir, "a-file");
  writeFileSync(file, "");
  const metrics = ["--metrics", "tests/fixtures/capacity/metrics-none.json"];

  it.concurrent.each([
    [["--chart", join(dir, "chart.jpg")], `capacity: --chart ${join(dir, "chart.jpg")}: must end in .svg or .png`],
    [["--chart", join(file, "c.svg")], `capacity: --chart ${join(file, "c.svg")}: ${file} is a file, not a directory`],
    [["--chart", dir], `capacity: --chart ${dir}: must end in .svg or .png`],
    [["--chart", join(dir, "d.svg"), "--save-metrics", dir], `capacity: --save-metrics ${dir}: is a directory`],
    [
      ["--chart", join(dir, "same.svg"), "--save-metrics", join(dir, "same.svg")],
      `capacity: --chart ${join(dir, "same.svg")}: is also --save-metrics: give each output its own path`,
    ],
  ])(
    "%j",
    async (args, stderr) => {
      const r = await cli("scripts/capacity.ts", [...metrics, ...args]);
      expect(r.code, r.stderr).toBe(EXIT.usage);
      expect(r.stderr).toContain(stderr);
      expect(r.stdout).toBe(""); // no report: nothing was read
    },
    TIMEOUT,
  );

  it(
    "a chart in a directory that does not exist yet is written there",
    async () => {
      const chart = join(dir, "new", "chart.svg");
      const r = await cli("scripts/capacity.ts", [...metrics, "--chart", chart]);
      expect(r.code, r.stderr).toBe(EXIT.done);
      expect(readFileSync(chart, "utf8")).toMatch(/^<svg/);
    },
    TIMEOUT,
  );
});

describe("--help of every command states the convention with examples", () => {
  it.concurrent.each([
    "cost",
    "capacity",
    "restore-drill",
    "scale-out-migrate",
    "bench-plan",
    "../tests/bench/bench-migration",
    "prices-check",
    "readme-tables",
  ])(
    "%s --help",
    async (name) => {
      const r = await cli(`scripts/${name}.ts`, ["--help"]);
      expect(r.code, r.stderr).toBe(EXIT.done);
      expect(r.stdout).toContain("Exit codes (the same convention for every command of this project):");
      for (const code of [0, 1, 2, 3]) expect(r.stdout).toMatch(new RegExp(`^ {2}${code} {2}\\S`, "m"));
      expect(r.stdout).toMatch(/Examples:\n {2}npm run /);
    },
    TIMEOUT,
  );
});
