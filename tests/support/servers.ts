/**
 * Shared test helpers that start real servers on loopback (PostgreSQL 15, Redis 7, OpenSSH).
 *
 *   import { startPostgres, startRedis, startSshd } from "../support/servers";
 *   const pg = await startPostgres({ host: "127.0.0.2" });
 *   expect(await pg.psql("SELECT 1")).toBe("1");
 *   await pg.stop();
 *
 * Importing this file registers an `afterAll` hook in the importing test file that stops whatever is still running,
 * and the process exit hook in ./processes kills leftovers if the worker dies. Scripts outside vitest (the
 * benchmark) import ./processes directly: it does not import vitest.
 */
import { afterAll } from "vitest";
import { stopAll } from "./processes";

export * from "./processes";

afterAll(stopAll);
