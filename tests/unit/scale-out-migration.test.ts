/**
 * The scale-out migration's command builders (exact command lines), the target env file, and the runner's
 * decisions (order, budget aborts, rollback, commit point) driven by a scripted executor.
 */
import { describe, expect, it } from "vitest";
import { targetHostKeys } from "../../infra/host-keys";
import type { Droplet } from "../../infra/migration/commands";
import { scriptFiles, scriptText } from "../../infra/migration/steps";
import {
  appGateCommand,
  checkUpstreams,
  logicalCommands,
  renderTargetEnv,
  sequenceValues,
  splitCounts,
  type TargetEndpoints,
  type LogicalCommand,
} from "../../infra/scale-out-migration/commands";
import { appNodeDroplets, sourceDroplet } from "../../infra/scale-out-migration/over-ssh";
import { type LogicalRunnerOptions, runLogicalCutover } from "../../infra/scale-out-migration/runner";
import { scaleOutMigrateCommandLine } from "../../infra/components/scale-out-migration";
import { APP_NODES, BOUNCED_ROLLBACK, CLEAN, HAPPY, pem, SOURCE, scripted, UPSTREAMS } from "./scale-out-scripted";

/** An ED25519 public key in the form the stack pins. */
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGuvAddbRUXhZqAjjjcWQNvcseadSNGmRYqJIfvF+VvL";

describe("logical.sh command lines", () => {
  const c = logicalCommands(SOURCE);

  it("sends the script on stdin, over ssh to the droplet", () => {
    const cmd = c.subscribe();
    expect(cmd.argv.at(-1)).toBe("bash -s -- subscribe 10.10.0.5 5432");
    expect(cmd.argv).toEqual(["ssh", "root@203.0.113.5", cmd.argv.at(-1)]);
    expect(cmd.stdinFiles).toEqual(scriptFiles("logical"));
  });

  it.each([
    [() => c.preflight(), "preflight"],
    [() => c.sync(1800), "sync 1800"],
    [
      () => c.cutover("c20261128", ["10.10.0.7:8081", "10.10.0.8:8081"], 299.5, 150),
      "cutover c20261128 10.10.0.7:8081,10.10.0.8:8081 300 150",
    ],
    [() => c.unfence(), "unfence"],
    [() => c.rollbackTarget(), "rollback_target"],
    [() => c.cacheWarm(), "cache_warm"],
  ])("%#: %s", (build, tail) => {
    expect(build().argv.at(-1)).toBe(`bash -s -- ${tail}`);
  });

  it("sends proxy-switch.sh after the script to the steps that move the droplet's proxy, and only to those", () => {
    for (const cmd of [c.cutover("c1", ["10.10.0.7:8081"], 60, 30), c.unfence()]) {
      expect(cmd.stdinData).toBe(scriptText("proxy"));
      expect(cmd.stdinLabel).toBe("scripts/droplet/proxy-switch.sh");
    }
    for (const cmd of [c.preflight(), c.finish(), c.rollbackTarget(), c.cacheWarm()])
      expect(cmd.stdinData).toBeUndefined();
  });

  it("opens and closes an app droplet's gate with proxy-switch.sh over ssh to it, never touching the source", () => {
    const node: Droplet = { ssh: "root@203.0.113.21", privateAddress: "10.10.0.7" };
    for (const action of ["close", "open"] as const) {
      const cmd = appGateCommand(node, action);
      expect(cmd).toMatchObject({ side: "app", step: `gate_${action}`, stdinFiles: scriptFiles("proxy") });
      expect(cmd.argv).toEqual(["ssh", "root@203.0.113.21", `bash -s -- gate ${action}`]);
    }
  });

  it("refuses ids and upstreams that would reach SQL or the Caddyfile unchecked", () => {
    expect(() => c.cutover("x'; DROP TABLE writes; --", ["10.0.0.1:8081"], 60, 30)).toThrow(
      /^id: .* must be 1-64 letters/,
    );
    expect(() => c.cutover("c1", ["10.0.0.1"], 60, 30)).toThrow(/must be host:port/);
    expect(() => c.cutover("c1", ["10.0.0.1:8081"], 60, 0)).toThrow(/catchup timeout: 0 must be a whole number/);
    expect(() => checkUpstreams(["10.0.0.1:80", "evil; rm -rf /"])).toThrow(
      /^upstreams: "evil; rm -rf \/" must be host:port/,
    );
    expect(() => checkUpstreams([])).toThrow(/at least one upstream/);
    expect(() => c.sync(0)).toThrow(/sync timeout: 0 must be a whole number of seconds/);
  });

  it("refuses secret-looking names in the env prefix (they belong in the env files)", () => {
    expect(() => logicalCommands({ ...SOURCE, env: { TARGET_PGPASSWORD: "x" } }).preflight()).toThrow(
      /looks like a secret/,
    );
  });

  it("parses counts and sequence values", () => {
    const counts = splitCounts({ "source.public.writes": "10", "target.public.writes": "9", other: "x" });
    expect([...counts.source]).toEqual([["public.writes", 10]]);
    expect([...counts.target]).toEqual([["public.writes", 9]]);
    expect(sequenceValues({ sequences: "1", "seq.public.writes_seq_seq": "742" })).toEqual({
      "public.writes_seq_seq": 742,
    });
  });
});

describe("the target env file", () => {
  const t: TargetEndpoints = {
    pg: {
      host: "private-db.example",
      port: 25060,
      user: "doadmin",
      password: "pw1",
      database: "chatbot",
      sslmode: "verify-ca",
      sslrootcert: "/etc/postgresql/tls/managed-pg-ca.crt",
      appUser: "chatbot",
    },
    redis: { host: "private-cache.example", port: 25061, user: "default", password: "pw2", tls: true },
  };

  it("holds every endpoint, single-quoted", () => {
    const text = renderTargetEnv(t);
    expect(text).toContain("TARGET_PGPASSWORD='pw1'\n");
    expect(text).toContain("TARGET_REDIS_TLS='1'\n");
    expect(text.split("\n").filter((l) => l.startsWith("TARGET_"))).toHaveLength(13);
  });

  it("asks the droplet's psql to check the cluster's certificate against its CA file", () => {
    const text = renderTargetEnv(t);
    expect(text).toContain("TARGET_PGSSLMODE='verify-ca'\n");
    expect(text).toContain("TARGET_PGSSLROOTCERT='/etc/postgresql/tls/managed-pg-ca.crt'\n");
    expect(() => renderTargetEnv({ ...t, pg: { ...t.pg, sslrootcert: "ca.crt" } })).toThrow(
      /^TARGET_PGSSLROOTCERT: "ca.crt" must be an absolute path/,
    );
  });

  it("refuses values that could break out of the quotes", () => {
    expect(() => renderTargetEnv({ ...t, pg: { ...t.pg, password: "a'b" } })).toThrow(
      /^TARGET_PGPASSWORD: must not contain/,
    );
    expect(() => renderTargetEnv({ ...t, redis: { ...t.redis, password: "$(id)" } })).toThrow(/^TARGET_REDIS_PASSWORD/);
  });
});

describe("the CLI's inputs and the stack's command line", () => {
  it("validates the source", () => {
    expect(() => sourceDroplet({ source: "203.0.113.5", sourcePrivate: "10.0.0.1" })).toThrow(
      /^source: .* must be user@host/,
    );
    expect(() => sourceDroplet({ source: "root@203.0.113.5", sourcePrivate: "x" })).toThrow(/^sourcePrivate/);
  });

  it("a pinned droplet's ssh options stay its own: the app droplets get the general ones", () => {
    const pinned = ["-o", "StrictHostKeyChecking=yes", "-o", "HostKeyAlias=old"];
    const general = ["-o", "StrictHostKeyChecking=accept-new"];
    expect(
      sourceDroplet({
        source: "root@203.0.113.5",
        sourcePrivate: "10.0.0.1",
        sshOptions: general,
        sourceSshOptions: pinned,
      }).sshOptions,
    ).toEqual(pinned);
    expect(
      sourceDroplet({ source: "root@203.0.113.5", sourcePrivate: "10.0.0.1", sshOptions: general }).sshOptions,
    ).toEqual(general);
    expect(
      appNodeDroplets({ appNodes: ["root@203.0.113.21"], upstreams: ["10.10.0.7:8081"], sshOptions: general }).map(
        (d) => d.sshOptions,
      ),
    ).toEqual([general]);
  });

  it("pairs every upstream with its app droplet's ssh destination", () => {
    expect(
      appNodeDroplets({
        appNodes: ["root@203.0.113.21", "root@203.0.113.22"],
        upstreams: ["10.10.0.7:8081", "10.10.0.8:8081"],
        sshOptions: ["-p", "22"],
      }),
    ).toEqual([
      { ssh: "root@203.0.113.21", sshOptions: ["-p", "22"], privateAddress: "10.10.0.7" },
      { ssh: "root@203.0.113.22", sshOptions: ["-p", "22"], privateAddress: "10.10.0.8" },
    ]);
    expect(() =>
      appNodeDroplets({ appNodes: ["root@203.0.113.21"], upstreams: ["10.10.0.7:8081", "10.10.0.8:8081"] }),
    ).toThrow(/^appNodes: 1 ssh destination\(s\) for 2 upstream\(s\)/);
    expect(() => appNodeDroplets({ appNodes: ["203.0.113.21"], upstreams: ["10.10.0.7:8081"] })).toThrow(
      /^appNodes: "203.0.113.21" must be user@host/,
    );
  });

  it("puts hosts and budgets on the line, the key only in the environment", () => {
    const line = scaleOutMigrateCommandLine(
      {
        user: "root",
        sourceIp: "203.0.113.5",
        sourcePrivate: "10.10.0.5",
        upstreams: ["10.10.0.7:8081"],
        appIps: ["203.0.113.7"],
      },
      { downtimeBudgetSeconds: 120, migrationBudgetMinutes: 45 },
    );
    expect(line).toContain(
      "node --import tsx scripts/scale-out-migrate.ts --source root@203.0.113.5 --source-private 10.10.0.5 --upstreams 10.10.0.7:8081 --app-nodes root@203.0.113.7 --downtime-budget 120 --migration-budget 45",
    );
    expect(line).toContain('"$CHATBOT_SSH_PRIVATE_KEY" > "$key"');
  });

  it("passes each pinned app droplet's key as --app-node-host-key <target>=<key>, none for one not pinned", () => {
    const hosts = {
      user: "root",
      sourceIp: "203.0.113.5",
      sourcePrivate: "10.10.0.5",
      upstreams: ["10.10.0.7:8081", "10.10.0.8:8081"],
      appIps: ["203.0.113.7", "203.0.113.8"],
    };
    const budgets = { downtimeBudgetSeconds: 120, migrationBudgetMinutes: 45 };
    const line = scaleOutMigrateCommandLine({ ...hosts, appHostKeys: [`${KEY} comment\n`, undefined] }, budgets);
    expect(line).toContain(` --app-node-host-key 'root@203.0.113.7=${KEY}' `);
    expect(line.match(/--app-node-host-key/g)).toHaveLength(1);
    // What the CLI reads back from those values: the keys in the order of --app-nodes.
    const values = [...line.matchAll(/--app-node-host-key '([^']+)'/g)].map((m) => m[1]!);
    expect(targetHostKeys("appNodeHostKey", values, ["root@203.0.113.7", "root@203.0.113.8"])).toEqual([
      KEY,
      undefined,
    ]);
    expect(scaleOutMigrateCommandLine(hosts, budgets)).not.toContain("--app-node-host-key");
  });
});

describe("--app-node-host-key values (targetHostKeys)", () => {
  const targets = ["root@203.0.113.7", "root@203.0.113.8"];
  it.each([
    [["root@203.0.113.7"], 'appNodeHostKey: "root@203.0.113.7" must be <user@host>=<ssh-ed25519 key>'],
    [[`=${KEY}`], `appNodeHostKey: "=${KEY}" must be <user@host>=<ssh-ed25519 key>`],
    [[`root@203.0.113.9=${KEY}`], 'appNodeHostKey: "root@203.0.113.9" is none of the targets it may pin'],
    [[`root@203.0.113.7=${KEY}`, `root@203.0.113.7=${KEY}`], 'appNodeHostKey: "root@203.0.113.7" is given twice'],
    [
      ["root@203.0.113.7=ssh-rsa AAAAB3NzaC1yc2E="],
      "appNodeHostKey: root@203.0.113.7: the pinned host key must be ssh-ed25519",
    ],
  ])("%j is refused: %s", (values, message) => {
    expect(() => targetHostKeys("appNodeHostKey", values, targets)).toThrow(message);
  });

  it("keys in the order of the targets", () => {
    expect(targetHostKeys("appNodeHostKey", [`root@203.0.113.8=${KEY}`], targets)).toEqual([undefined, KEY]);
    expect(targetHostKeys("appNodeHostKey", [], targets)).toEqual([undefined, undefined]);
  });
});

const CLOSE = ["gate_close root@a1", "gate_close root@a2"];
const OPEN = ["gate_open root@a1", "gate_open root@a2"];
const run = (exec: LogicalRunnerOptions["exec"], extra: Partial<LogicalRunnerOptions> = {}) =>
  runLogicalCutover({ source: SOURCE, exec, upstreams: UPSTREAMS, appNodes: APP_NODES, ...extra });

describe("the runner", () => {
  it("runs the steps in order: the app gates closed before the cutover (one round trip) and opened right after it, the DNS move once, after the commit point", async () => {
    const { calls, exec } = scripted(HAPPY);
    let moved = 0;
    const r = await run(exec, { moveTraffic: async () => void moved++, id: "t1" });
    expect(calls).toEqual([
      "preflight",
      "schema",
      "publish",
      "subscribe",
      "sync",
      "lag",
      ...CLOSE,
      "proxy_trust",
      "proxy_cert",
      "cutover",
      ...OPEN,
      "counts",
      "cache_warm",
      "finish",
    ]);
    expect(moved).toBe(1);
    expect(r).toMatchObject({
      ok: true,
      committed: true,
      catchupMs: 120,
      fenceMs: 80,
      drainedMs: 20,
      sequences: { "public.writes_seq_seq": 42 },
      cache: { keys: 10 },
      countProblems: [],
    });
    expect(r.timeline.find((e) => e.step === "move traffic")?.startMs).toBeGreaterThanOrEqual(
      r.timeline.find((e) => e.step === "gate_open root@a2")?.endMs ?? Infinity,
    );
  });

  it("row counts are compared after the commit point (the cluster at least as many): a shortfall is reported for an operator, never rolled back", async () => {
    const { calls, exec } = scripted({
      ...HAPPY,
      counts: { out: "source.public.writes=42\ntarget.public.writes=41\n" },
    });
    const r = await run(exec);
    expect(r).toMatchObject({
      committed: true,
      ok: false,
      countProblems: ["public.writes: 42 rows on the old server, 41 on the new"],
    });
    expect(r.rolledBack).toBeUndefined();
    expect(calls).not.toContain("unfence");
    expect(calls.indexOf("counts")).toBeGreaterThan(calls.indexOf("gate_open root@a2"));
  });

  it("a cutover that fails (catchup too slow, the fence: no commit record) rolls back, the source first, the app gates last", async () => {
    const { calls, exec } = scripted({ ...HAPPY, cutover: { code: 1, out: "" } });
    let moved = 0;
    const r = await run(exec, { moveTraffic: async () => void moved++ });
    expect(moved).toBe(0);
    expect(r).toMatchObject({ committed: false, rolledBack: true });
    expect(r.aborted).toMatch(/^cutover exited 1/);
    // The source's proxy keeps holding while the app gates bounce its held requests back to its internal listener,
    // then serves the local app; the gates' opening ends the bounce.
    expect(calls.slice(-8)).toEqual(["cutover", ...BOUNCED_ROLLBACK, ...OPEN]);
  });

  it("the rollback's bounce: unfence keeps the hold, each app gate forwards to the source's internal listener with the source's certificate only", async () => {
    const seen: LogicalCommand[] = [];
    const { exec } = scripted({ ...HAPPY, cutover: { code: 1, out: "" } });
    const r = await run(async (cmd) => (seen.push(cmd), exec(cmd)));
    expect(r).toMatchObject({ committed: false, rolledBack: true });
    expect(seen.find((c) => c.step === "unfence")?.args).toEqual(["keep-hold"]);
    const bounces = seen.filter((c) => c.step === "gate_bounce");
    expect(bounces.map((c) => [c.argv.at(-2), c.args, c.stdinData])).toEqual([
      ["root@a1", [`${SOURCE.privateAddress}:8081`], pem("source")],
      ["root@a2", [`${SOURCE.privateAddress}:8081`], pem("source")],
    ]);
    // A bounce that fails is noted; the rollback still puts the source's proxy back and opens the gates.
    const events: string[] = [];
    const failing = scripted({ ...HAPPY, cutover: { code: 1, out: "" }, gate_bounce: { code: 255 } });
    const r2 = await run(failing.exec, { onEvent: (e) => void (e.kind === "info" && events.push(e.message)) });
    expect(r2).toMatchObject({ committed: false, rolledBack: true });
    expect(events.join("\n")).toMatch(/held requests could not all be sent back to the source's app/);
    expect(failing.calls.slice(-3)).toEqual(["rollback_target", ...OPEN]);
    expect(failing.calls).toContain("proxy_local");
    // No certificate read before the cutover (an older droplet): no bounce, unfence puts the proxy back itself.
    const old = scripted({ ...HAPPY, cutover: { code: 1, out: "" }, proxy_cert: { code: 1 } });
    expect(await run(old.exec)).toMatchObject({ committed: false, rolledBack: true });
    expect(old.calls.slice(-5)).toEqual(["cutover", "unfence", "rollback_target", ...OPEN]);
  });

  it("a rollback whose unfence fails leaves replication and the app gates as they are (the cutover may have committed: its commit record unread)", async () => {
    const { calls, exec } = scripted({ ...HAPPY, cutover: { code: 1 }, unfence: { code: 1 } });
    const r = await run(exec);
    expect(r).toMatchObject({ committed: false, rolledBack: false });
    expect(calls.slice(-2)).toEqual(["cutover", "unfence"]);
    expect(r.aborted).toMatch(/rollback incomplete: unfence exited 1/);
  });

  it("a dropped connection: the step runs once more over a new connection, but never the cutover or the subscription", async () => {
    const fresh: string[] = [];
    const { calls, exec } = scripted({ ...HAPPY, cutover: { code: 255 } });
    let unfenceTries = 0;
    const dropping: LogicalRunnerOptions["exec"] = async (cmd, hooks) => {
      if (hooks?.fresh) fresh.push(cmd.step);
      if (cmd.step === "unfence" && ++unfenceTries === 1) return { code: 255, stdout: "", stderr: "connection closed" };
      return exec(cmd, hooks);
    };
    const r = await run(dropping);
    expect(fresh).toEqual(["unfence"]);
    expect(calls.filter((c) => c === "cutover")).toHaveLength(1);
    expect(r).toMatchObject({ committed: false, rolledBack: true });
  });

  it("rollback_target that finds the commit record (exit 7) goes forward too, replication left", async () => {
    const { calls, exec } = scripted({ ...HAPPY, cutover: { code: 255 }, rollback_target: { code: 7 } });
    const r = await run(exec);
    expect(r).toMatchObject({ committed: true });
    expect(calls.slice(calls.indexOf("rollback_target"))).toEqual([
      "rollback_target",
      ...OPEN,
      "counts",
      "cache_warm",
      "finish",
    ]);
  });

  it("a rollback that finds the cutover done (unfence exit 7: the answer was lost) goes forward instead, gates first", async () => {
    const { calls, exec } = scripted({ ...HAPPY, cutover: { code: 255 }, unfence: { code: 7 } });
    const r = await run(exec);
    expect(r).toMatchObject({ committed: true, ok: true });
    expect(r.rolledBack).toBeUndefined();
    expect(calls.slice(-7)).toEqual(["cutover", "unfence", ...OPEN, "counts", "cache_warm", "finish"]);
  });

  it("the droplet's proxy trusts exactly the app droplets' internal listener certificates, as their gates printed them, before the cutover", async () => {
    const trusted: string[] = [];
    const exec: LogicalRunnerOptions["exec"] = async (cmd) => {
      if (cmd.step === "gate_close")
        return { code: 0, stdout: `tls_cert=${Buffer.from(pem(cmd.argv.at(-2)!)).toString("base64")}\n`, stderr: "" };
      if (cmd.step === "proxy_trust") trusted.push(cmd.stdinData ?? "");
      return scripted(HAPPY).exec(cmd);
    };
    expect((await run(exec)).ok).toBe(true);
    expect(trusted).toEqual([pem("root@a1") + pem("root@a2")]);
  });

  it("an app droplet whose gate prints no certificate (config synced before TLS) stops the run before the cutover, gates reopened", async () => {
    const { calls, exec } = scripted({ ...HAPPY, gate_close: { out: "gate=close\n" } });
    const r = await run(exec);
    expect(r).toMatchObject({ committed: false, rolledBack: true });
    expect(r.aborted).toMatch(
      /app droplet root@a1 printed no certificate for its internal listener \(tls_cert\).*run `pulumi up` first/,
    );
    expect(calls).not.toContain("cutover");
    expect(calls).not.toContain("proxy_trust");
    expect(calls.slice(-2)).toEqual(OPEN);
  });

  it("a gate that does not open after the commit point is reported for an operator, never rolled back", async () => {
    const exec: LogicalRunnerOptions["exec"] = async (cmd) =>
      cmd.step === "gate_open" && cmd.argv.at(-2) === "root@a2"
        ? { code: 1, stdout: "", stderr: "caddy reload failed" }
        : scripted(HAPPY).exec(cmd);
    const r = await run(exec);
    expect(r).toMatchObject({ committed: true, ok: false });
    expect(r.error).toMatch(/1 of 2 app droplet gate\(s\) did not open: gate_open root@a2 exited 1/);
    expect(r.rolledBack).toBeUndefined();
  });

  it("a gate that does not close stops the run before the cutover; the gates are reopened", async () => {
    const exec: LogicalRunnerOptions["exec"] = async (cmd) =>
      cmd.step === "gate_close" ? { code: 1, stdout: "", stderr: "no internal listener" } : scripted(HAPPY).exec(cmd);
    const r = await run(exec);
    expect(r).toMatchObject({ committed: false, rolledBack: true });
    expect(r.aborted).toMatch(/2 of 2 app droplet gate\(s\) did not close/);
    expect(r.timeline.map((e) => e.step)).not.toContain("cutover");
    expect(r.timeline.map((e) => e.step).slice(-2)).toEqual(OPEN);
  });

  it("aborts before the cutover when the lag is above the limit, without unfencing what was never fenced", async () => {
    const { calls, exec } = scripted({ ...HAPPY, lag: { out: "lag_bytes=999999999\n" } });
    const r = await run(exec);
    expect(r.aborted).toMatch(/streaming lag 999999999 bytes/);
    expect(calls).not.toContain("cutover");
    expect(calls).not.toContain("gate_close root@a1");
    expect(calls.slice(-1)).toEqual(["rollback_target"]);
  });

  it("aborts at preflight when the database cannot be copied within the migration budget", async () => {
    const { calls, exec } = scripted({
      ...HAPPY,
      preflight: {
        out: `${CLEAN}wal_level=logical\nsource_version_num=150010\ntarget_version_num=150008\ndb_bytes=100000000000\n`,
      },
    });
    const r = await run(exec, { budgets: { downtimeBudgetSeconds: 300, migrationBudgetMinutes: 30 } });
    expect(r.aborted).toMatch(/exceeds migrationBudgetMinutes 30/);
    expect(calls).toEqual(["preflight"]);
    expect(r.rolledBack).toBe(true);
  });

  it("refuses a managed cluster older than the source", async () => {
    const { exec } = scripted({
      ...HAPPY,
      preflight: {
        out: `${CLEAN}wal_level=logical\nsource_version_num=160002\ntarget_version_num=150008\ndb_bytes=1\n`,
      },
    });
    const r = await run(exec);
    expect(r.aborted).toMatch(/older than the source/);
  });

  it("after the commit point, a failure (finish, the DNS move) is reported for an operator, not rolled back", async () => {
    for (const [answers, move, message] of [
      [{ ...HAPPY, finish: { code: 1 } }, undefined, /finish exited 1/],
      [
        HAPPY,
        async () => {
          throw new Error("dns update failed");
        },
        /dns update failed/,
      ],
    ] as const) {
      const { calls, exec } = scripted(answers);
      const r = await run(exec, move ? { moveTraffic: move } : {});
      expect(r.committed).toBe(true);
      expect(r.error).toMatch(message);
      expect(calls).not.toContain("rollback_target");
      expect(calls).not.toContain("unfence");
    }
  });
});
