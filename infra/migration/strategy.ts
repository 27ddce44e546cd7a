/**
 * Which way to move the data. `replicate` (physical streaming replication, then a switchover) needs the same
 * PostgreSQL major version on both sides (pg_basebackup docs: "works only with servers of the same major version");
 * otherwise `dump-restore` (pg_dump -Fd -j from the newer client, pg_restore -j).
 */
export const STRATEGIES = ["replicate", "dump-restore"] as const;
export type Strategy = (typeof STRATEGIES)[number];
export type StrategyRequest = Strategy | "auto";

export interface StrategyChoice {
  strategy: Strategy;
  reason: string;
}

/** server_version_num (e.g. 150010) -> major version (15). Versions before 10 are not supported. */
export function majorVersion(versionNum: number): number {
  if (!Number.isInteger(versionNum) || versionNum < 100000) {
    throw new Error(`server_version_num must be an integer >= 100000 (PostgreSQL 10+), got ${versionNum}`);
  }
  return Math.floor(versionNum / 10000);
}

export function parseStrategyRequest(value: string): StrategyRequest {
  if (value === "auto" || (STRATEGIES as readonly string[]).includes(value)) return value as StrategyRequest;
  throw new Error(`strategy must be one of auto, ${STRATEGIES.join(", ")}; got "${value}"`);
}

export function chooseStrategy(input: {
  oldVersionNum: number;
  newVersionNum: number;
  requested?: StrategyRequest;
}): StrategyChoice {
  const oldMajor = majorVersion(input.oldVersionNum);
  const newMajor = majorVersion(input.newVersionNum);
  const requested = input.requested ?? "auto";
  if (newMajor < oldMajor) {
    throw new Error(
      `new server runs PostgreSQL ${newMajor}, older than the old server's ${oldMajor}: downgrades are not supported`,
    );
  }
  const same = oldMajor === newMajor;
  if (requested === "replicate" && !same) {
    throw new Error(
      `strategy replicate needs the same PostgreSQL major version (old ${oldMajor}, new ${newMajor}); use dump-restore or auto`,
    );
  }
  if (requested === "dump-restore") {
    return { strategy: "dump-restore", reason: `dump-restore requested (PostgreSQL ${oldMajor} -> ${newMajor})` };
  }
  if (same) {
    return {
      strategy: "replicate",
      reason: `same PostgreSQL major version (${oldMajor}) on both servers: physical streaming replication, downtime independent of size`,
    };
  }
  return {
    strategy: "dump-restore",
    reason: `PostgreSQL ${oldMajor} -> ${newMajor} crosses a major version: physical replication is impossible, using pg_dump/pg_restore`,
  };
}
