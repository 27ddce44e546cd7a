/**
 * The ssh options every droplet command shares, in one place: the connect and keep-alive bounds the executor adds
 * to each connection, host key pinning (../host-keys.ts, applied per droplet by ./host-key-check.ts), and the shell
 * preamble the stack's migration commands use to hand `pulumi up`'s private key to the CLI.
 */
export { pinnedSshOptions, UNPINNED_SSH_OPTIONS } from "../host-keys";

/**
 * A droplet that does not answer fails the connection within 20 s instead of hanging; a link that dies mid-step is
 * noticed after 4 unanswered keep-alives 15 s apart. Placed after the caller's own options (ssh keeps the first value
 * given), so a caller may still choose its own.
 */
export const CONNECT_OPTIONS = [
  "-o",
  "ConnectTimeout=20",
  "-o",
  "ServerAliveInterval=15",
  "-o",
  "ServerAliveCountMax=4",
] as const;

/**
 * Shell lines for a command `pulumi up` runs: $CHATBOT_SSH_PRIVATE_KEY (when set) goes to a 0600 temp file `$key`,
 * removed on exit; SSH_KEY_ARGS then passes it to the CLI. Without it, ssh uses the agent.
 */
export const SSH_KEY_PREAMBLE = [
  'if [ -n "${CHATBOT_SSH_PRIVATE_KEY:-}" ]; then',
  '  key=$(mktemp) && trap \'rm -f "$key"\' EXIT && chmod 600 "$key" && printf \'%s\\n\' "$CHATBOT_SSH_PRIVATE_KEY" > "$key"',
  "fi",
] as const;
export const SSH_KEY_ARGS = '${key:+--ssh-option=-i --ssh-option="$key"}';

/** The CLI's --ssh-option flags for a stack command: batch mode, and trust on first use where no key is pinned. */
export function stackSshFlags(pinned: boolean): string[] {
  const opts = pinned ? ["-o", "BatchMode=yes"] : ["-o", "StrictHostKeyChecking=accept-new", "-o", "BatchMode=yes"];
  return opts.map((o) => `--ssh-option=${o}`);
}
