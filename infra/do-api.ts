/**
 * GET requests to the DigitalOcean API (https://api.digitalocean.com), for the commands that read it: the capacity
 * checker's monitoring history and `npm run prices:check`. The token goes in the Authorization header only.
 *
 * A 429 or a 5xx is retried, never silently (each retry is logged): after the answer's `Retry-After` when it gives
 * one (DigitalOcean's 429 for its burst limit does, in seconds: docs.digitalocean.com/notes/2023/api-rate-limit;
 * RFC 9110 section 10.2.3 also allows an HTTP date), else after 1 s, 2 s, 4 s, 8 s; 5 tries in all. A wait the
 * server asks for above 2 minutes is not waited out: the command stops and says so. Any other status fails at once.
 */

export const DO_API = "https://api.digitalocean.com";

export type FetchLike = (
  url: string,
  init: { headers: Record<string, string> },
) => Promise<{ ok: boolean; status: number; text(): Promise<string>; headers?: { get(name: string): string | null } }>;

/** Time as the retries see it. Production uses the real one; tests pass their own so nothing really waits. */
export interface RetryClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const REAL_CLOCK: RetryClock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export const RETRY = { attempts: 5, firstDelayMs: 1000, maxDelayMs: 30_000, maxRetryAfterMs: 120_000 } as const;

/** How a command reaches the API. */
export interface ApiClient {
  token: string;
  fetch: FetchLike;
  /** @default DO_API */
  baseUrl?: string;
  /** @default REAL_CLOCK */
  clock?: RetryClock;
  /** Each retry, said (retries are never hidden). @default nothing */
  log?: (line: string) => void;
}

/** `Retry-After` in milliseconds: delta-seconds or an HTTP date (RFC 9110 10.2.3); undefined when absent or unreadable. */
export function retryAfterMs(value: string | null | undefined, nowMs: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

/** The wait before retry number `retry` (1 for the first): 1 s, 2 s, 4 s ... capped at RETRY.maxDelayMs. */
export function backoffMs(retry: number): number {
  return Math.min(RETRY.maxDelayMs, RETRY.firstDelayMs * 2 ** (retry - 1));
}

const retryable = (status: number) => status === 429 || (status >= 500 && status <= 599);

/** The body of a 2xx answer to GET `url`; `what` names the request in errors and retry lines. */
export async function getWithRetry(o: ApiClient, url: string, what: string): Promise<string> {
  const clock = o.clock ?? REAL_CLOCK;
  for (let attempt = 1; ; attempt++) {
    const res = await o.fetch(url, { headers: { Authorization: `Bearer ${o.token}`, Accept: "application/json" } });
    const body = await res.text();
    if (res.ok) return body;
    // The body is DigitalOcean's {"id", "message"}; it never echoes the token.
    const failed = `${what}: HTTP ${res.status}: ${body.slice(0, 300)}`;
    if (!retryable(res.status)) throw new Error(failed);
    if (attempt === RETRY.attempts) throw new Error(`${failed} (after ${attempt} tries)`);
    const asked = retryAfterMs(res.headers?.get("retry-after"), clock.now());
    if (asked !== undefined && asked > RETRY.maxRetryAfterMs) {
      throw new Error(`${failed} (Retry-After asks to wait ${Math.round(asked / 1000)} s: try again later)`);
    }
    const wait = asked ?? backoffMs(attempt);
    o.log?.(
      `${what}: HTTP ${res.status}, try ${attempt} of ${RETRY.attempts}: retrying in ${wait / 1000} s${asked === undefined ? "" : " (Retry-After)"}`,
    );
    await clock.sleep(wait);
  }
}
