/**
 * Guardrails that follow the stack's name, through the real program under mocks and through `npm run plan` as users
 * run it: a stack named prod or prod-* that declares itself dev is refused before anything is planned, unless the
 * override key says so too, and then every run prints the warning (pulumi.log.warn: the stack's diagnostics in
 * `pulumi preview`/`up`, stderr under the offline plan).
 */
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, afterEach, describe, expect, it, vi } from "vitest";
import { find, ROOT, runStack, T } from "./run-stack";

const temp: string[] = [];
afterAll(() => temp.forEach((d) => rmSync(d, { recursive: true, force: true })));
afterEach(() => vi.restoreAllMocks());

function plan(project: string, stack: string) {
  const r = spawnSync(
    process.execPath,
    ["--import", "tsx", join(ROOT, "scripts", "plan.ts"), "--stack", stack, "--project-dir", project],
    {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, PULUMI_CONFIG_PASSPHRASE: "" },
    },
  );
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A project holding Pulumi.yaml and one stack file: prod's config with `extra` lines. */
function projectWith(stack: string, extra: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "guardrails-"));
  temp.push(dir);
  copyFileSync(join(ROOT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
  const lines = [
    "config:",
    "  chatbot:domain: chat.example.com",
    '  chatbot:sshKeys: ["12345678"]',
    '  chatbot:sshAllowedCidrs: ["0.0.0.0/1", "128.0.0.0/1"]',
    `  chatbot:appImage: ghcr.io/example/chatbot:1.4.2@sha256:${"ab".repeat(32)}`,
    "  chatbot:backups: none",
    ...extra,
    "",
  ];
  writeFileSync(join(dir, `Pulumi.${stack}.yaml`), lines.join("\n"));
  return dir;
}

describe("a stack named prod-* that declares itself dev", () => {
  it("is refused by `npm run plan` (exit 2), naming chatbot:environment and the override, with the prod checks still run", () => {
    const r = plan(projectWith("prod-eu", ["  chatbot:environment: dev"]), "prod-eu");
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toContain('chatbot:environment: must not be dev on stack "prod-eu"');
    expect(r.stderr).toContain("chatbot:allowDevOnProdStack: true");
    expect(r.stderr).toMatch(/chatbot:sshAllowedCidrs: must admit at most 256 IPv4 addresses/);
    expect(r.stderr).toMatch(/chatbot:backups: must be weekly or daily in prod/);
  });

  it("plans with the override, and `npm run plan` prints the warning", () => {
    const r = plan(
      projectWith("prod-eu", ["  chatbot:environment: dev", "  chatbot:allowDevOnProdStack: true"]),
      "prod-eu",
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("Stack chatbot/prod-eu (dev)");
    expect(r.stderr).toMatch(/^warning: \[runtime\] GUARDRAILS OFF on stack "prod-eu"/m);
  });

  it("the program warns through pulumi.log.warn (what `pulumi up` prints) and protects nothing", async () => {
    const warn = vi.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
    const run = await runStack("prod", { "chatbot:environment": "dev", "chatbot:allowDevOnProdStack": "true" });
    const messages = warn.mock.calls.map((c) => String(c[0]));
    expect(messages.filter((m) => m.startsWith('GUARDRAILS OFF on stack "prod"'))).toHaveLength(1);
    expect(find(run, T.droplet).protect).toBe(false);
  });

  it("the same stack as prod: no guardrail warning, the serving droplet protected", async () => {
    const warn = vi.spyOn(pulumi.log, "warn").mockResolvedValue(undefined);
    const run = await runStack("prod", {
      "chatbot:appImage": `ghcr.io/example/chatbot:1.4.2@sha256:${"ab".repeat(32)}`,
    });
    expect(warn).not.toHaveBeenCalled();
    expect(find(run, T.droplet).protect).toBe(true);
  });
});

describe("prod's image pinning", () => {
  it("the prod stack's tag-only image plans, with the digest recommendation on stderr", () => {
    expect(readFileSync(join(ROOT, "Pulumi.prod.yaml"), "utf8")).toMatch(
      /chatbot:appImage: ghcr\.io\/example\/chatbot:1\.4\.2\n/,
    );
    const r = plan(ROOT, "prod");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(
      "warning: [runtime] chatbot:appImage ghcr.io/example/chatbot:1.4.2 is pinned by tag only: in prod, pin it by digest",
    );
  });
});
