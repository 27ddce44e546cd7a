/**
 * docker.service's drop-in through systemd itself: in a scratch root holding the system's units, a stand-in
 * docker.service, the rendered drop-in and guard, and the mount unit that systemd's own fstab generator makes from
 * the fstab entry the rendered user data asks cloud-init for, `systemd-analyze verify` passes, and the unit systemd
 * loads requires and orders after the volume's mount (read from the unit dump systemd-analyze prints at debug log
 * level). Without the drop-in, as before, nothing ties dockerd to the volume: the entry is `nofail`, which only
 * makes local-fs.target want the mount.
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { planStack } from "../../infra/plan";
import { LAYOUT } from "../../infra/render/layout";
import { DOCKER_DROP_IN, VOLUME_GUARD } from "../../infra/render/volume-guard";
import { sampleConfig } from "../support/sample-config";

const roots: string[] = [];
afterAll(() => roots.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

const plan = planStack(sampleConfig());
const server = plan.active!;
/** A file the config sync installs outside /etc/chatbot, as staged (`root/<path>`). */
const synced = (absolute: string) => server.configFiles.find((f) => f.path === `root${absolute}`)!;

/** The fstab line cloud-init writes for the user data's `mounts` entry (device, mount point, type, options, dump, pass). */
function fstabLine(): string {
  const userData = parse(server.userData) as { mounts: string[][] };
  const entry = userData.mounts.find((m) => m[1] === LAYOUT.dataDir)!;
  return entry.join("\t");
}

const unitName = (mountPoint: string) => `${mountPoint.slice(1).replaceAll("/", "-")}.mount`;
const MOUNT_UNIT = unitName(LAYOUT.dataDir);

function scratchRoot(withDropIn: boolean): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "volume-guard-root-"));
  roots.push(root);
  fs.cpSync("/lib/systemd/system", path.join(root, "lib/systemd/system"), { recursive: true });
  // A stand-in for the docker.io package's unit (no engine here): what matters is what the drop-in adds to it.
  fs.writeFileSync(
    path.join(root, "lib/systemd/system/docker.service"),
    "[Unit]\nDescription=stand-in for docker.service\nAfter=network-online.target\nWants=network-online.target\n\n[Service]\nType=notify\nExecStart=/usr/bin/dockerd -H fd://\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n",
  );
  fs.mkdirSync(path.join(root, "usr/bin"), { recursive: true });
  fs.writeFileSync(path.join(root, "usr/bin/dockerd"), "#!/bin/sh\n", { mode: 0o755 });
  if (withDropIn) {
    for (const p of [DOCKER_DROP_IN, VOLUME_GUARD]) {
      const f = synced(p);
      fs.mkdirSync(path.dirname(path.join(root, p)), { recursive: true });
      fs.writeFileSync(path.join(root, p), f.content, { mode: parseInt(f.mode, 8) });
    }
  }
  // The mount unit, made by systemd's own generator from the fstab entry.
  fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
  fs.writeFileSync(path.join(root, "etc/fstab"), `${fstabLine()}\n`);
  const out = path.join(root, "etc/systemd/system");
  const gen = spawnSync("/lib/systemd/system-generators/systemd-fstab-generator", [out, out, out], {
    encoding: "utf8",
    env: { ...process.env, SYSTEMD_FSTAB: path.join(root, "etc/fstab"), SYSTEMD_PROC_CMDLINE: "" },
  });
  expect(gen.status, gen.stderr).toBe(0);
  expect(fs.existsSync(path.join(out, MOUNT_UNIT))).toBe(true);
  return root;
}

function verify(root: string, unit: string, debug = false) {
  const r = spawnSync("systemd-analyze", ["verify", `--root=${root}`, unit], {
    encoding: "utf8",
    env: { ...process.env, ...(debug ? { SYSTEMD_LOG_LEVEL: "debug" } : {}) },
  });
  return { code: r.status, stderr: r.stderr, stdout: r.stdout };
}

/** The section systemd prints (on stdout) for one unit in its debug dump ("-> Unit <name>:" up to the next unit). */
function dumpOf(log: string, unit: string): string {
  const start = log.indexOf(`-> Unit ${unit}:`);
  expect(start, `no dump of ${unit}`).toBeGreaterThanOrEqual(0);
  const next = log.indexOf("-> Unit ", start + 1);
  return log.slice(start, next < 0 ? undefined : next);
}

describe("docker.service waits for the data volume", () => {
  it("the drop-in passes systemd-analyze verify with no warning", () => {
    const root = scratchRoot(true);
    const r = verify(root, "docker.service");
    expect(r.stderr.trim()).toBe("");
    expect(r.code).toBe(0);
  });

  it("systemd loads docker.service requiring and ordered after the volume's mount, with the guard before dockerd", () => {
    const root = scratchRoot(true);
    const log = verify(root, "docker.service", true).stdout;
    const docker = dumpOf(log, "docker.service");
    expect(docker).toContain(`DropIn Path: ${path.join(root, DOCKER_DROP_IN)}`);
    expect(docker).toMatch(new RegExp(`Requires: ${MOUNT_UNIT.replaceAll(".", "\\.")} \\(origin-path\\)`));
    expect(docker).toMatch(new RegExp(`After: ${MOUNT_UNIT.replaceAll(".", "\\.")} \\(origin-path\\)`));
    expect(docker.indexOf(`Command Line: ${VOLUME_GUARD} check`)).toBeGreaterThan(0);
    expect(docker.indexOf(`Command Line: ${VOLUME_GUARD} check`)).toBeLessThan(
      docker.indexOf("Command Line: /usr/bin/dockerd"),
    );
    // The mount unit is the volume's, generated from the rendered fstab entry.
    expect(fs.readFileSync(path.join(root, "etc/systemd/system", MOUNT_UNIT), "utf8")).toContain(
      `What=${server.volumeDevice}\nWhere=${LAYOUT.dataDir}\n`,
    );
  });

  it("without the drop-in (before this change), nothing ties dockerd to the volume", () => {
    const root = scratchRoot(false);
    const r = verify(root, "docker.service", true);
    expect(r.code).toBe(0);
    expect(dumpOf(r.stdout, "docker.service")).not.toContain(MOUNT_UNIT);
    // nofail: local-fs.target only wants the mount, so boot (and dockerd) go on without it.
    expect(fs.existsSync(path.join(root, "etc/systemd/system/local-fs.target.wants", MOUNT_UNIT))).toBe(true);
    expect(fs.existsSync(path.join(root, "etc/systemd/system/local-fs.target.requires", MOUNT_UNIT))).toBe(false);
  });

  it("a broken drop-in is caught (the check can fail)", () => {
    const root = scratchRoot(true);
    fs.writeFileSync(
      path.join(root, DOCKER_DROP_IN),
      "[Unit]\nRequiresMountsFor=var/lib/chatbot\n[Service]\nExecStartPre=/usr/local/lib/chatbot/missing.sh check\n",
    );
    const r = verify(root, "docker.service");
    expect(`${r.code} ${r.stderr}`).toMatch(/missing\.sh|not absolute/);
  });
});
