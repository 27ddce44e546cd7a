/**
 * One exit-code convention for the project's commands, and the commander setup that keeps to it:
 *
 *   0  done
 *   1  the command ran and its check says no (over the cost limit, a capacity verdict that asks for action, a
 *      restore drill that fails, a migration rolled back)
 *   2  usage or config error: an unknown or misspelled option (with a "did you mean"), a missing or bad value, a
 *      single-valued option given twice, an input file that cannot be read, an output path that cannot be written;
 *      found before any work, nothing was changed
 *   3  a human is needed: rollback incomplete, failed after a commit point, or an unexpected failure (the stack trace
 *      is printed)
 *
 * A command builds its commander `Command` as usual, then hands it to `runCli` with its own lines for each code and
 * its examples; `runCli` adds them to `--help`, parses, runs `main`, maps what it throws to a code, and exits once
 * stdout and stderr are flushed (a piped `--json` is never cut short). Node's own exit code for a crash (1) would
 * read as "the check says no": unhandled rejections and exceptions exit 3 instead.
 */
import { accessSync, constants, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { type Command, CommanderError, type Option } from "commander";

export const EXIT = { done: 0, no: 1, usage: 2, human: 3 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** Bad flags, values, files or config: exit 2. Throw it before anything is changed. */
export class UsageError extends Error {}

/** The command stopped in a state a person must look at (rollback incomplete, after a commit point): exit 3. */
export class NeedsHumanError extends Error {}

export interface ExitCodeHelp {
  /** When the command exits 1 ("its check says no"); omitted: it never does. */
  no?: string;
  /** What else counts as a usage or config error for this command, beyond bad flags and values. */
  usage?: string;
  /** When the command exits 3 besides an unexpected failure. */
  human?: string;
  examples: string[];
}

const HELP_WIDTH = 100;

/** The `Exit codes:` and `Examples:` blocks every command's `--help` ends with. */
export function exitCodeHelp(h: ExitCodeHelp): string {
  const wrap = (code: number, text: string) => {
    const lines = [`  ${code} `];
    for (const word of text.split(" ")) {
      if (`${lines.at(-1)} ${word}`.length > HELP_WIDTH) lines.push(`   ${" ".repeat(String(code).length)}`);
      lines[lines.length - 1] += ` ${word}`;
    }
    return lines.join("\n");
  };
  return [
    "",
    "Exit codes (the same convention for every command of this project):",
    wrap(EXIT.done, "done"),
    wrap(
      EXIT.no,
      h.no
        ? `ran, and its check says no: ${h.no}`
        : "ran, and its check says no (this command has no such check: never)",
    ),
    wrap(
      EXIT.usage,
      `usage or config error, nothing changed: an unknown option (with a "did you mean"), a missing or bad value, a single-valued option given twice${h.usage ? `, ${h.usage}` : ""}`,
    ),
    wrap(
      EXIT.human,
      `a human is needed: ${h.human ? `${h.human}; or ` : ""}an unexpected failure (the stack trace is printed)`,
    ),
    "",
    "Examples:",
    ...h.examples.map((e) => `  ${e}`),
    "",
  ].join("\n");
}

export interface CliSpec<O> {
  help: ExitCodeHelp;
  /**
   * The exit code of an `Error` thrown by `main` that is neither a UsageError nor a NeedsHumanError: `usage` for a
   * command that only reads inputs and prints (it throws on bad input, before acting), `human` for a command that
   * acts on servers (the failure may have left something half done). TypeError, ReferenceError and RangeError (bugs,
   * and `fetch` failing to connect) are always 3.
   */
  otherErrors: "usage" | "human";
  /** Maps an error to a code before the defaults do (an error class of infra/ the command knows); undefined: default. */
  classify?: (e: unknown) => ExitCode | undefined;
  main: (opts: O, cmd: Command) => Promise<ExitCode> | ExitCode;
}

const BUGS = [TypeError, ReferenceError, RangeError];

/** What a thrown value means for the exit code. */
export function exitCodeOf(e: unknown, spec: Pick<CliSpec<unknown>, "otherErrors" | "classify">): ExitCode {
  const classified = spec.classify?.(e);
  if (classified !== undefined) return classified;
  if (e instanceof CommanderError) return e.exitCode === 0 ? EXIT.done : EXIT.usage;
  if (e instanceof UsageError) return EXIT.usage;
  if (e instanceof NeedsHumanError) return EXIT.human;
  if (BUGS.some((kind) => e instanceof kind)) return EXIT.human;
  if (e instanceof Error) return spec.otherErrors === "usage" ? EXIT.usage : EXIT.human;
  return EXIT.human;
}

/**
 * Commander parses required options before it looks for unknown ones, so `--hots x` for `--host x` would say
 * "required option '--host' not specified". Required options are therefore checked here, after parsing (which has
 * already refused unknown options with its suggestion).
 */
function deferRequiredOptions(cmd: Command): () => void {
  const required = cmd.options.filter((o) => o.mandatory);
  for (const o of required) o.mandatory = false;
  return () => {
    for (const o of required) {
      if (cmd.getOptionValue(o.attributeName()) === undefined) {
        cmd.error(`error: required option '${o.flags}' not specified`, {
          code: "commander.missingMandatoryOptionValue",
          exitCode: EXIT.usage,
        });
      }
    }
  };
}

/** The parser of a repeatable option (`--env A=1 --env B=2`): every value, in order. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/**
 * A single-valued option given twice would silently take the last value (`--stack dev --stack prod` plans prod). An
 * option is repeatable when its parser keeps the earlier values (a collector such as `--env`, or a variadic one);
 * any other option that takes a value is refused when given more than once. Checked after parsing, so that an
 * unknown option is named first.
 */
export function refuseRepeatedOptions(cmd: Command): () => void {
  const given = new Map<Option, string[]>();
  for (const o of cmd.options) {
    if (o.isBoolean() || o.variadic) continue;
    cmd.on(`option:${o.name()}`, (raw: string | undefined) => given.set(o, [...(given.get(o) ?? []), raw ?? ""]));
  }
  return () => {
    for (const [o, values] of given) {
      if (values.length > 1 && !keepsEarlierValues(o, values.at(-1)!)) {
        cmd.error(
          `error: option '${o.flags}' given ${values.length} times (${values.map((v) => JSON.stringify(v)).join(", ")}): it takes one value, give it once`,
          { code: "commander.repeatedOption", exitCode: EXIT.usage },
        );
      }
    }
  };
}

/**
 * Options given on the command line that the chosen mode would ignore: a UsageError naming them, then `why` ("with
 * --x"; an ignored flag reads as obeyed). `except` lists the attribute names the mode reads.
 */
export function refuseIgnoredOptions(cmd: Command, except: readonly string[], why: string): void {
  const ignored = cmd.options.filter(
    (o) => cmd.getOptionValueSource(o.attributeName()) === "cli" && !except.includes(o.attributeName()),
  );
  if (ignored.length) throw new UsageError(`${ignored.map((o) => o.long).join(", ")} would be ignored ${why}`);
}

/** Whether the option's parser keeps what it was given before: asked with a marker as the earlier value. */
function keepsEarlierValues(o: Option, raw: string): boolean {
  const marker = Symbol("earlier");
  try {
    const value = o.parseArg?.(raw, [marker]) as unknown;
    return Array.isArray(value) && value.includes(marker);
  } catch {
    return false;
  }
}

/** What is at `path`; undefined when nothing is (also when a file stands where a directory should). */
function statOf(path: string): ReturnType<typeof statSync> {
  try {
    return statSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") return undefined;
    throw e;
  }
}

/** The nearest existing directory above `path`, or a UsageError naming `flag` when a file is in the way. */
function existingAncestor(flag: string, path: string): string {
  let dir = dirname(resolve(path));
  for (;;) {
    const stat = statOf(dir);
    if (stat?.isDirectory()) return dir;
    if (stat) throw new UsageError(`${flag} ${path}: ${dir} is a file, not a directory`);
    dir = dirname(dir);
  }
}

function checkWritable(flag: string, path: string, dir: string): void {
  try {
    accessSync(dir, constants.W_OK);
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot write in ${dir} (${(e as NodeJS.ErrnoException).code})`);
  }
}

/**
 * An output file the command writes at the end, checked before any work: not a directory, and its directory
 * writable (or creatable). A failure at the end would come after the work, as an unexpected failure.
 */
export function checkOutputFile(flag: string, path: string): void {
  const stat = statOf(path);
  if (stat?.isDirectory()) throw new UsageError(`${flag} ${path}: is a directory; give the path of a file to write`);
  checkWritable(flag, path, stat ? path : existingAncestor(flag, path));
}

/** An input file's text, or a UsageError naming the flag and why it cannot be read (ENOENT, EISDIR, EACCES). */
export function readInputFile(flag: string, path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    throw new UsageError(`${flag} ${path}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

/** Writes a file checked by checkOutputFile, creating its directory. */
export function writeOutputFile(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
}

/**
 * An output directory the command fills: a new one, or an empty one. Files already there could be the user's own
 * (a `compose.yaml` in the working directory) and would be overwritten.
 */
export function checkOutputDir(flag: string, path: string): void {
  const stat = statOf(path);
  if (stat && !stat.isDirectory())
    throw new UsageError(`${flag} ${path}: is a file; give a directory to create (or an empty one)`);
  if (stat) {
    const entries = readdirSync(path);
    if (entries.length)
      throw new UsageError(
        `${flag} ${path}: the directory exists and is not empty (${entries.slice(0, 5).join(", ")}${entries.length > 5 ? ", ..." : ""}); files there would be overwritten: name a new or empty directory, or remove this one first`,
      );
  }
  checkWritable(flag, path, stat ? path : existingAncestor(flag, path));
}

/** An output of one run: a file it writes, or (`dir`) a directory it fills. */
export interface OutputPath {
  flag: string;
  path: string;
  dir?: boolean;
}

/**
 * Outputs of one run that would write over each other: the same path given to two flags, or a file inside a
 * directory the run fills (an artifact of the same name would overwrite it, or it an artifact). Each is checked on
 * its own (checkOutputFile, checkOutputDir) before this; none exists yet, so the write would fail or clobber only
 * at the end, after the work.
 */
export function checkSeparateOutputs(outputs: readonly OutputPath[]): void {
  for (const [i, a] of outputs.entries()) {
    for (const b of outputs.slice(i + 1)) {
      const [pa, pb] = [resolve(a.path), resolve(b.path)];
      if (pa === pb) throw new UsageError(`${b.flag} ${b.path}: is also ${a.flag}: give each output its own path`);
      for (const [inner, outer, pi, po] of [
        [a, b, pa, pb],
        [b, a, pb, pa],
      ] as const) {
        if (outer.dir && pi.startsWith(`${po}/`))
          throw new UsageError(
            `${inner.flag} ${inner.path}: is inside the ${outer.flag} directory ${outer.path}, which this command fills: write it elsewhere`,
          );
      }
    }
  }
}

/**
 * Exit with `code` once stdout and stderr have been written out. `process.exit` right after a large write to a pipe
 * loses what the pipe has not taken yet (64 KiB on Linux): `npm run -s plan -- --stack prod --json | (sleep 1; wc -c)`
 * can print 65536. For commands not (yet) on runCli, such as scripts/plan.ts.
 */
export function exitWhenFlushed(code: number): never {
  process.exitCode = code;
  let pending = 2;
  const done = () => {
    pending -= 1;
    if (pending === 0) process.exit(code);
  };
  process.stdout.write("", done);
  process.stderr.write("", done);
  // Never returns to the caller: the writes' callbacks exit. Anything still running (timers, children) is cut there.
  return undefined as never;
}

function report(name: string, e: unknown, code: ExitCode): void {
  if (e instanceof CommanderError) return; // commander has printed its message (or the help)
  const bug = code === EXIT.human && BUGS.some((kind) => e instanceof kind);
  const text = e instanceof Error ? (bug && e.stack ? e.stack : e.message) : String(e);
  process.stderr.write(`${name}: ${text}\n`);
}

/**
 * Parse `argv` with `cmd`, run `main`, exit with the convention's code. `cmd` must not have an action handler:
 * `main` is the action. Never returns.
 */
export async function runCli<O>(
  cmd: Command,
  spec: CliSpec<O>,
  argv: readonly string[] = process.argv,
): Promise<never> {
  const name = cmd.name();
  const fail = (e: unknown): never => {
    const code = exitCodeOf(e, spec);
    report(name, e, code);
    return exitWhenFlushed(code);
  };
  process.on("unhandledRejection", fail);
  process.on("uncaughtException", fail);
  cmd.exitOverride().showSuggestionAfterError(true).addHelpText("after", exitCodeHelp(spec.help));
  const checkRequired = deferRequiredOptions(cmd);
  const checkRepeated = refuseRepeatedOptions(cmd);
  try {
    cmd.parse([...argv]);
    checkRepeated();
    checkRequired();
    return exitWhenFlushed(await spec.main(cmd.opts() as O, cmd));
  } catch (e) {
    return fail(e);
  }
}

/** Runs `f`, turning what it throws into a UsageError (for validation that lives in infra/ as plain errors). */
export function asUsage<T>(f: () => T): T {
  try {
    return f();
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
}
