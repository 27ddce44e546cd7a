/**
 * The one way a command runs bash on a droplet: `ssh <options> <target> 'env K=V ... bash -s -- <words>'`, the script
 * on standard input (so a droplet needs nothing installed first). Non-secret settings go in the `env` prefix;
 * secrets never do (ps shows argv on both ends): the scripts read them from the droplet's env file.
 */

const ENV_NAME = /^[A-Z_][A-Z0-9_]*$/;
const SECRET_NAME = /PASSWORD|SECRET|TOKEN|AUTH/;

/** Quote one word for a POSIX shell (only when needed, so commands stay readable). */
export function shellQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Refuses a name that is not an environment variable's, or that looks like a secret's. */
export function checkEnv(env: Readonly<Record<string, string>>): void {
  for (const key of Object.keys(env)) {
    if (!ENV_NAME.test(key)) throw new Error(`env: "${key}" is not an environment variable name (A-Z, 0-9, _)`);
    if (SECRET_NAME.test(key))
      throw new Error(
        `env: ${key} looks like a secret; the droplet scripts read secrets from the droplet's env file (CHATBOT_ENV_FILE), never the command line`,
      );
  }
}

/** The remote shell command: `env K=V ... bash -s -- <words>` (no `env` without variables, no `--` without words). */
export function remoteBashLine(env: Readonly<Record<string, string>>, words: readonly (string | number)[]): string {
  checkEnv(env);
  const vars = Object.entries(env).map(([k, v]) => `${k}=${shellQuote(v)}`);
  return [
    ...(vars.length > 0 ? ["env", ...vars] : []),
    "bash",
    "-s",
    ...(words.length > 0 ? ["--", ...words.map((w) => shellQuote(String(w)))] : []),
  ].join(" ");
}

/** The local argv: ssh to `target` with its options, running `remoteBashLine`. */
export function remoteBashArgv(
  target: { ssh: string; sshOptions?: readonly string[] },
  env: Readonly<Record<string, string>>,
  words: readonly (string | number)[],
): string[] {
  return ["ssh", ...(target.sshOptions ?? []), target.ssh, remoteBashLine(env, words)];
}

/**
 * The remote bash's standard input for `script`: a first line that reads the script with `head -c` and runs it,
 * then the script, ended by an `exit` with its status. bash reads a script from a pipe one byte at a time (so that
 * the commands it runs get the rest of the input): the migration steps' 59 KB are 59,000 reads, about 20 ms of each
 * step on a quiet 2-core machine, paid inside the write gap. `head -c` reads no further than its count, so the data
 * after the script stays on stdin for the step. A script that did not arrive whole never reaches its own `exit`:
 * the first line then says so and exits 126.
 */
export function scriptStdin(script: Buffer): Buffer {
  const body = Buffer.concat([script, Buffer.from(`${script.at(-1) === 0x0a ? "" : "\n"}exit $?\n`)]);
  const loader = `. <(head -c ${body.length}); echo "the script did not arrive whole" >&2; exit 126\n`;
  return Buffer.concat([Buffer.from(loader), body]);
}
