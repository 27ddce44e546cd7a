/**
 * The net-cut fault's rules on this machine (no harness): while the cut holds, a connection to a droplet's
 * PostgreSQL port from the postgres user hangs, while one from another user (a droplet's own app, the harness's
 * checks) still connects; once lifted, the postgres user connects again and the table is gone. Its table is the
 * harness address block's: not beside a sweep on the same HARNESS_NET.
 */
import { spawnSync } from "node:child_process";
import * as net from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { HarnessDroplet } from "../migration/harness";
import { OLD_HOST, NEW_HOST } from "../migration/harness";
import { osUser } from "../support/processes";
import { cutBetween, cutTable, nftUsable } from "./net-cut";

/** Connects to host:port as `user` (bash's /dev/tcp), giving up after 3 s: true when the connection was made. */
function connects(user: string, host: string, port: number): boolean {
  const r = spawnSync("runuser", ["-u", user, "--", "timeout", "3", "bash", "-c", `exec 3<>/dev/tcp/${host}/${port}`]);
  return r.status === 0;
}

const usable = nftUsable() && osUser("postgres") !== undefined;

describe.skipIf(!usable)("net-cut", () => {
  let server: net.Server;
  let port = 0;
  const droplet = (host: string) =>
    ({ host, pg: { port: 0 }, redis: { port: 0 } }) as unknown as HarnessDroplet & { pg: { port: number } };
  const old = droplet(OLD_HOST);
  const next = droplet(NEW_HOST);

  beforeAll(async () => {
    server = net.createServer((s) => s.destroy());
    await new Promise<void>((resolve) => server.listen(0, OLD_HOST, resolve));
    port = (server.address() as net.AddressInfo).port;
    old.pg.port = port;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("drops the postgres user's connection to the other droplet's server, not another user's; lifted, it connects", () => {
    expect(connects("postgres", OLD_HOST, port)).toBe(true);
    const cut = cutBetween(old, next);
    try {
      expect(connects("postgres", OLD_HOST, port)).toBe(false);
      expect(connects("nobody", OLD_HOST, port)).toBe(true);
    } finally {
      cut.lift();
    }
    expect(connects("postgres", OLD_HOST, port)).toBe(true);
    expect(spawnSync("nft", ["list", "tables"], { encoding: "utf8" }).stdout).not.toContain(cutTable(old));
  });
});
