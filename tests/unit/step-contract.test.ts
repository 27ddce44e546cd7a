/**
 * The droplet scripts against their declaration (infra/migration/steps.ts), in both directions: each script's
 * dispatch list, the keys it prints and the exit codes it uses are exactly the declared ones, read from all its files
 * as they are sent (concatenated), and every dispatched step is defined in them. Each check is also run on a script
 * altered one way, to show it notices.
 */
import { readdirSync } from "node:fs";
import { basename, dirname } from "node:path";
import { describe, expect, it } from "vitest";
import {
  type AnySpec,
  STEP_EXIT,
  MIGRATE_STEPS,
  PROXY_STEPS,
  readOutput,
  SCRIPTS,
  type ScriptName,
  StepOutputError,
  scriptFiles,
  scriptText,
} from "../../infra/migration/steps";
import { STATE_STEPS } from "../../infra/migration/state-steps";
import { LOGICAL_STEPS } from "../../infra/scale-out-migration/steps";

const ALL: Record<ScriptName, AnySpec[]> = { migrate: [], proxy: [], logical: [] };
for (const s of [
  ...Object.values(MIGRATE_STEPS),
  ...Object.values(STATE_STEPS),
  ...Object.values(PROXY_STEPS),
  ...Object.values(LOGICAL_STEPS),
])
  ALL[s.script].push(s as AnySpec);

/** The body of a bash function `name() {` ... `}` (a closing brace alone at the start of a line). */
function body(text: string, name: string): string {
  const m = new RegExp(`^${name}\\(\\) \\{\\n([\\s\\S]*?)^\\}`, "m").exec(text);
  if (!m?.[1]) throw new Error(`no function ${name}()`);
  return m[1];
}

/** The labels of the first `case` in a function body: `a | b | c)` lines, joined across `\` continuations. */
function caseLabels(fnBody: string): string[] {
  const after = fnBody.slice(fnBody.indexOf(" in\n") + 4).replace(/\\\n\s*/g, " ");
  const labels: string[] = [];
  for (const line of after.split("\n")) {
    const m = /^\s*([a-z_][a-z_ |]*)\)/.exec(line);
    if (m?.[1]) labels.push(...m[1].split("|").map((w) => w.trim()));
  }
  return labels;
}

/** Every dispatch path of a script: [step] for migrate.sh and logical.sh, [action, sub-action] for proxy-switch.sh. */
function dispatch(script: ScriptName, text: string): string[] {
  const main = caseLabels(body(text, "main"));
  if (script !== "proxy") return main;
  return main.flatMap((a) => (a === "gate" ? caseLabels(body(text, "gate")).map((g) => `gate ${g}`) : [a]));
}

/** Keys a script prints: `out key`, SQL `'key=' ||`, `SELECT 'key=...'`, python `print("key=`, sed renames. */
function printedKeys(text: string): { keys: Set<string>; families: Set<string> } {
  const keys = new Set<string>();
  const families = new Set<string>();
  const add = (re: RegExp, to: Set<string>) => {
    for (const m of text.matchAll(re)) to.add(m[1]!);
  };
  // `out` where a command starts: a line's start, or after ; { & | ) then else do.
  add(/(?:^|[;{&|)]|\bthen|\belse|\bdo)[ \t]*out ([a-z_]+) /gm, keys);
  add(/'([a-z_]+)=' \|\|/g, keys);
  add(/SELECT '([a-z_]+)=[^']*';/g, keys);
  add(/''([a-z_]+)=%s''/g, keys);
  add(/print\("([a-z_]+)=%/g, keys);
  add(/s\/\^[a-z]+=\/([a-z_]+)=\/p/g, keys);
  add(/'([a-z_]+)\.' \|\|/g, families);
  add(/format\('([a-z_]+)\.%s/g, families);
  return { keys, families };
}

/** Dispatched steps with no `step_<name>()` in the script's text (a step file left out of the list, say). */
function undefinedSteps(script: ScriptName, text: string): string[] {
  if (script === "proxy") return [];
  return dispatch(script, text).filter((s) => !new RegExp(`^step_${s}\\(\\) \\{`, "m").test(text));
}

/** Exit codes a script can end with: 0, `die` (1 unless it names one), and `exit <n>` of the script itself. */
function exitCodes(text: string): Set<number> {
  const codes = new Set<number>([0]);
  for (const line of text.split("\n")) {
    if (/^\s*#/.test(line)) continue;
    if (/\bdie\b/.test(line) && !/^die\(\)/.test(line)) {
      const m = /\bdie\b.*["'] ([0-9]+)\s*(?:;.*|\}.*)?$/.exec(line);
      codes.add(m ? Number(m[1]) : 1);
    }
  }
  return codes;
}

function declared(script: ScriptName) {
  const specs = ALL[script];
  return {
    dispatch: specs.map((s) => s.words.join(" ")),
    keys: new Set(specs.flatMap((s) => Object.keys(s.out))),
    families: new Set(specs.flatMap((s) => s.families ?? [])),
    exits: new Set(SCRIPTS[script].exits.map((e) => STEP_EXIT[e] as number)),
  };
}

const sorted = (xs: Iterable<string | number>) => [...xs].map(String).sort();

/** What differs between a script's text and its declaration (empty: they agree). */
function problems(script: ScriptName, text: string): string[] {
  const d = declared(script);
  const found = printedKeys(text);
  const diff = (what: string, inScript: Iterable<string | number>, inDecl: Iterable<string | number>) => {
    const a = new Set(sorted(inScript));
    const b = new Set(sorted(inDecl));
    return [
      ...[...a].filter((x) => !b.has(x)).map((x) => `${what} ${x}: in the ${script} script, not declared`),
      ...[...b].filter((x) => !a.has(x)).map((x) => `${what} ${x}: declared, not in the ${script} script`),
    ];
  };
  return [
    ...diff("step", dispatch(script, text), d.dispatch),
    ...diff("key", found.keys, d.keys),
    ...diff("family", found.families, d.families),
    ...diff("exit", exitCodes(text), d.exits),
    ...undefinedSteps(script, text).map((s) => `step ${s}: dispatched, no step_${s}() in the ${script} script`),
  ];
}

const text = (script: ScriptName) => scriptText(script);

describe("each droplet script is exactly its declaration", () => {
  it.each(Object.keys(SCRIPTS) as ScriptName[])("%s", (script) => {
    expect(problems(script, text(script))).toEqual([]);
  });

  it("finds every step of migrate.sh's dispatch list and every key family the runner reads", () => {
    expect(dispatch("migrate", text("migrate"))).toHaveLength(
      Object.keys(MIGRATE_STEPS).length + Object.keys(STATE_STEPS).length,
    );
    expect(sorted(printedKeys(text("migrate")).families)).toEqual(["count", "table_rows"]);
    expect(sorted(printedKeys(text("logical")).families)).toEqual(["seq", "source", "target"]);
    expect(sorted(exitCodes(text("migrate")))).toEqual(sorted([0, 1, 2, 3, 4, 5, 6, 7]));
  });

  it("lists every migrate*.sh and logical*.sh file in scripts/droplet (a file left out would never be sent)", () => {
    const dir = dirname(scriptFiles("migrate")[0]!);
    const onDisk = readdirSync(dir).filter((f) => /^(migrate|logical)[-.]/.test(f) && f.endsWith(".sh"));
    const listed = [...scriptFiles("migrate"), ...scriptFiles("logical")].map((f) => basename(f));
    expect(sorted(listed)).toEqual(sorted(onDisk));
  });
});

describe("the check notices a script that drifts from its declaration (negative controls)", () => {
  const migrate = text("migrate");
  it.each([
    [
      "a step added to the dispatch",
      migrate.replace("lock_heartbeat | lock_release)", "lock_heartbeat | lock_release | lock_break)"),
      "step lock_break: in the migrate script, not declared",
    ],
    [
      "a step dropped from the dispatch",
      migrate.replace("| retire | \\", "| \\"),
      "step retire: declared, not in the migrate script",
    ],
    [
      "an undeclared key",
      migrate.replace("  out healthy 1\n", "  out healthy 1\n  out health_ms 3\n"),
      "key health_ms: in the migrate script, not declared",
    ],
    [
      "a declared key no longer printed",
      migrate.replace("  out retired 1\n", "\n"),
      "key retired: declared, not in the migrate script",
    ],
    [
      "an undeclared exit code",
      migrate.replace('die "PostgreSQL is still read-only"', 'die "PostgreSQL is still read-only" 9'),
      "exit 9: in the migrate script, not declared",
    ],
    [
      "a step file left out of the list",
      migrate.replace(/^step_redis_failover\(\) \{$/m, "redis_failover_unsent() {"),
      "step redis_failover: dispatched, no step_redis_failover() in the migrate script",
    ],
  ])("%s", (_what, altered, problem) => {
    expect(altered).not.toBe(migrate);
    expect(problems("migrate", altered)).toContain(problem);
  });

  it("a proxy action missing from gate's dispatch", () => {
    const proxy = text("proxy");
    const altered = proxy.replace("    open) sed", "    reopen) sed");
    expect(problems("proxy", altered)).toEqual([
      "step gate reopen: in the proxy script, not declared",
      "step gate open: declared, not in the proxy script",
    ]);
  });
});

describe("a step's output is read against its declaration", () => {
  it("returns its keys and families, and its proxy action's keys", () => {
    expect(readOutput("counts", MIGRATE_STEPS.counts, "noise\ncount.public.writes=12\nredis_keys=3\n")).toEqual({
      "count.public.writes": "12",
      redis_keys: "3",
    });
    expect(
      readOutput("fence", MIGRATE_STEPS.fence, "upstream=10.0.0.3:8081\ndrained=1\nfence_lsn=0/3000148\n").drained,
    ).toBe("1");
  });

  it("refuses an undeclared key and a missing required one, naming the step and the key", () => {
    expect(() => readOutput("backup", MIGRATE_STEPS.backup, "backup_file=/x\nbackup_size=3\n")).toThrow(
      new StepOutputError(`step backup (scripts/droplet/migrate.sh): printed "backup_size", which it does not declare`),
    );
    expect(() => readOutput("fence", MIGRATE_STEPS.fence, "stop_ms=3\n")).toThrow(
      /^step fence \(scripts\/droplet\/migrate.sh\): did not print "fence_lsn"$/,
    );
    // A family belongs to the step that declares it only.
    expect(() => readOutput("lag", MIGRATE_STEPS.lag, "pg_lag_bytes=0\ncount.public.writes=1\n")).toThrow(
      /printed "count.public.writes", which it does not declare/,
    );
  });
});
