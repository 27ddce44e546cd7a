/**
 * The delete step of a server's drop guard (components/app-server.ts): scripts/droplet/drop-guard.sh, sent whole in
 * a quoted here-document (nothing in it is expanded on the way), run with the server's name.
 */
import { dropletScript } from "./droplet-scripts";

const END = "CHATBOT_DROP_GUARD_END";

export function dropGuardCommand(serverName: string): string {
  if (!/^[a-z0-9-]+$/.test(serverName))
    throw new Error(`drop guard: server name must be lower-case letters, digits and dashes, got "${serverName}"`);
  const script = dropletScript("drop-guard.sh");
  return `bash -s -- ${serverName} <<'${END}'\n${script}${END}\n`;
}
