/** A droplet that does not answer: the one executor bounds the connection and names the host in what it reports. */
import { describe, expect, it } from "vitest";
import { sshExecutor } from "../../infra/migration/ssh-executor";
import { CONNECT_OPTIONS } from "../../infra/migration/ssh-options";

describe("the ssh executor against a host that does not answer", () => {
  it("exits 255 naming the host; a reachable command's own output is left alone", async () => {
    const ssh = sshExecutor({ multiplex: false });
    try {
      // Port 1 on loopback: the connection is refused at once.
      const r = await ssh({
        step: "preflight",
        argv: ["ssh", "-p", "1", "-o", "BatchMode=yes", "root@127.0.0.1", "true"],
        stdinText: "",
      });
      expect(r.code).toBe(255);
      expect(r.stderr).toMatch(/ssh: root@127\.0\.0\.1 did not answer \(exit 255: no connection, or it dropped\)\n$/);
    } finally {
      ssh.close();
    }
  });

  it("bounds the connect and notices a dead link", () => {
    expect(CONNECT_OPTIONS.join(" ")).toBe("-o ConnectTimeout=20 -o ServerAliveInterval=15 -o ServerAliveCountMax=4");
  });
});
