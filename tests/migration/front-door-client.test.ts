/**
 * The harness client tells a reset before its TLS handshake finished (the request never left it) from one after
 * (the request may have reached the server): the cutover tests accept only the first (tests/migration/never-sent.ts).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import * as tls from "node:tls";
import { afterEach, describe, expect, it } from "vitest";
import { BEFORE_TLS, DOMAIN, frontRequest } from "./front-door";

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

async function listen(server: net.Server): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as net.AddressInfo).port;
}

/** A request as the harness clients send it, to the test server on `port`. */
function request(port: number, ca: string[]) {
  return frontRequest("127.0.0.1", ca, "POST", "/write/x", 10_000, port);
}

describe("the harness client's resets", () => {
  it("a reset before the TLS handshake is marked never sent; one after it is not", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "front-door-client-"));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:P-256",
          "-nodes",
          "-days",
          "1",
          "-subj",
          `/CN=${DOMAIN}`,
          "-addext",
          `subjectAltName=DNS:${DOMAIN}`,
          "-keyout",
          path.join(dir, "key.pem"),
          "-out",
          path.join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      const cert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
      const key = fs.readFileSync(path.join(dir, "key.pem"), "utf8");

      const before = await listen(net.createServer((socket) => socket.resetAndDestroy()));
      const r1 = await request(before, [cert]);
      expect(r1.status).toBe(0);
      expect(r1.error).toBe(`ECONNRESET${BEFORE_TLS}`);

      // TLS on a plain TCP socket, so that socket (not the TLS layer) can be reset once the request has arrived.
      const after = await listen(
        net.createServer((raw) => {
          const secure = new tls.TLSSocket(raw, {
            isServer: true,
            secureContext: tls.createSecureContext({ cert, key }),
          });
          secure.once("data", () => raw.resetAndDestroy());
        }),
      );
      const r2 = await request(after, [cert]);
      expect(r2.status).toBe(0);
      expect(r2.error).toBe("ECONNRESET");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
