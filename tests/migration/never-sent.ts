/**
 * Requests the front door's reload reset before their TLS handshake finished: they never left the client, so they
 * cannot have been applied. The cutover tests allow a few (KNOWN GAP: a connection opened at the instant a hold
 * reloads the serving Caddy, seen with Caddy 2.6.2) and prove each absent from both sides.
 */
import { expect } from "vitest";
import type { WriteRecord } from "./checker";
import { BEFORE_TLS } from "./front-door";
import type { Harness } from "./harness";

/** At most this many never-sent requests per cutover. */
export const MAX_NEVER_SENT = 2;

export const neverSent = (r: WriteRecord): boolean =>
  r.pg === "unknown" && r.status === 0 && (r.detail ?? "").endsWith(BEFORE_TLS);

/**
 * None of these writes reached an app: their rows are on neither droplet (or only on `sides`, such as the new one
 * after a tier migration, whose copy holds everything the stopped old one had).
 */
export async function expectNowhere(
  harness: Harness,
  records: readonly WriteRecord[],
  sides = [harness.old, harness.next],
): Promise<void> {
  if (!records.length) return;
  const ids = records.map((r) => `'${r.id}'`).join(",");
  for (const side of sides)
    expect(await side.pg.psql(`SELECT count(*) FROM writes WHERE id IN (${ids})`, "chatbot")).toBe("0");
}
