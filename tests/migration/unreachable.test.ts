/**
 * A droplet that does not answer: the one executor bounds the connection and names the host in what it reports; a
 * retry after a dropped connection gets a connection of its own.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
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

  it("shares one connection per droplet, except for a step asked to run over its own (a retry after a drop)", async () => {
    // An ssh on PATH that prints the options it was given: what the executor adds is what is checked.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "chatbot-fake-ssh-"));
    fs.writeFileSync(path.join(dir, "ssh"), '#!/bin/sh\ncat >/dev/null\nprintf "%s\\n" "$@"\n', { mode: 0o755 });
    const savedPath = process.env.PATH;
    process.env.PATH = `${dir}:${savedPath}`;
    const ssh = sshExecutor();
    try {
      const cmd = { step: "preflight" as const, argv: ["ssh", "root@127.0.0.1", "true"], stdinText: "" };
      const shared = (await ssh(cmd)).stdout.split("\n");
      const own = (await ssh(cmd, { fresh: true })).stdout.split("\n");
      expect(shared).toContain("ControlMaster=auto");
      expect(shared.find((a) => a.startsWith("ControlPath="))).not.toBe("ControlPath=none");
      expect(own).toContain("ControlMaster=no");
      expect(own).toContain("ControlPath=none");
      expect(own).not.toContain("ControlMaster=auto");
    } finally {
      process.env.PATH = savedPath;
      ssh.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
