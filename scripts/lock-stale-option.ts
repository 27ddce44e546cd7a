/**
 * --lock-stale-seconds, as `migrate` and `scale-out-migrate` take it: both hold the same migration lock on a droplet
 * (migrate.sh lock_acquire), so both judge a dead run's lock the same way.
 */
import { Option } from "commander";
import { LOCK_STALE_SECONDS } from "../infra/migration/run-api";
import { UsageError } from "./cli-exit";

export function lockStaleOption(): Option {
  const { min, max } = LOCK_STALE_SECONDS;
  return new Option(
    "--lock-stale-seconds <n>",
    `a lock without heartbeat for longer than this (the droplet's clock) belongs to a dead run and is taken over; a whole number from ${min} to ${max} (longer on a slow link)`,
  ).default(String(LOCK_STALE_SECONDS.default));
}

export function parseLockStaleSeconds(value: string): number {
  const { min, max } = LOCK_STALE_SECONDS;
  const n = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(n >= min && n <= max))
    throw new UsageError(
      `--lock-stale-seconds must be a whole number of seconds from ${min} to ${max}, got "${value}"`,
    );
  return n;
}
