/**
 * The managed PostgreSQL's CA, pure: the app droplets' DATABASE_URL and CA file, and where the scale-out migration's
 * psql finds the CA on the old droplet. A real server checked with them: tests/artifacts/managed-pg-ca.test.ts and
 * the scale-out cutover on the harness.
 */
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { TARGET_CA_IN_CONTAINER, TARGET_CA_NAME, TARGET_CA_PATH } from "../../infra/scale-out-migration/commands";
import { FAKE_DATABASE_CA } from "../../infra/offline/fake-cloud";
import { planStack } from "../../infra/plan";
import {
  APP_MANAGED_PG_CA,
  MANAGED_PG_CA_FILE,
  renderAppNodeSecretFiles,
  verifiedDatabaseUrl,
} from "../../infra/render/app-node";
import { LAYOUT } from "../../infra/render/layout";
import { POSTGRES_TLS_DIR } from "../../infra/render/postgresql-conf";
import { planScaleOut } from "../../infra/scale-out";
import { sampleConfig } from "../support/sample-config";
import { PROD_INPUT } from "../scale-out/input";

const POOL_URI = "postgresql://chatbot:p%40ss@private-db.b.db.ondigitalocean.com:25061/chatbot-pool?sslmode=require";

describe("verifiedDatabaseUrl", () => {
  it.each([
    [POOL_URI, "postgresql://chatbot:p%40ss@private-db.b.db.ondigitalocean.com:25061/chatbot-pool"],
    ["postgresql://u@h:1/d", "postgresql://u@h:1/d"],
    ["postgresql://u@h:1/d?application_name=x&sslmode=prefer", "postgresql://u@h:1/d?application_name=x"],
    ["postgresql://u@h:1/d?sslrootcert=/other&sslmode=disable", "postgresql://u@h:1/d"],
  ])("%s: verify-ca against the CA file, nothing else changed", (uri, kept) => {
    const sep = kept.includes("?") ? "&" : "?";
    expect(verifiedDatabaseUrl(uri, "/etc/ca.crt")).toBe(`${kept}${sep}sslmode=verify-ca&sslrootcert=/etc/ca.crt`);
  });

  it("refuses a CA path that is not a plain path", () => {
    expect(() => verifiedDatabaseUrl(POOL_URI, "/etc/ca.crt&sslmode=disable")).toThrow(/^caFile: .* must be a plain/);
  });
});

describe("an app droplet's secret files", () => {
  const files = renderAppNodeSecretFiles(
    { databaseUrl: POOL_URI, redisUrl: "rediss://default:x@private-cache:25061", postgresCa: FAKE_DATABASE_CA },
    8090,
  );

  it("app.env's DATABASE_URL says verify-ca and names the CA where the app container sees it", () => {
    const env = files.find((f) => f.path === "app.env")!;
    expect(env.mode).toBe("0600");
    expect(env.content).toContain(`DATABASE_URL=${POOL_URI.replace("sslmode=require", "")}`);
    expect(env.content).toMatch(
      new RegExp(`^DATABASE_URL=\\S+\\?sslmode=verify-ca&sslrootcert=${APP_MANAGED_PG_CA}$`, "m"),
    );
  });

  it("the CA travels beside it, readable by all (not a secret)", () => {
    expect(files.find((f) => f.path === MANAGED_PG_CA_FILE)).toEqual({
      path: MANAGED_PG_CA_FILE,
      mode: "0644",
      content: FAKE_DATABASE_CA,
    });
  });

  it("a CA without a newline at the end gets one; anything but a PEM certificate is refused, naming the field", () => {
    const render = (postgresCa: unknown) =>
      renderAppNodeSecretFiles(
        { databaseUrl: POOL_URI, redisUrl: "rediss://y", postgresCa: postgresCa as string },
        8090,
      ).find((f) => f.path === MANAGED_PG_CA_FILE)!.content;
    expect(render(FAKE_DATABASE_CA.trimEnd())).toBe(FAKE_DATABASE_CA);
    expect(() => render(undefined)).toThrow(/^postgresCa: must be a PEM certificate/);
    expect(() => render("")).toThrow(/^postgresCa: must be a PEM certificate/);
  });

  it("compose mounts that file into the app container read-only, where the URL names it", () => {
    const compose = planScaleOut(PROD_INPUT).app.configFiles.find((f) => f.path === "compose.yaml")!.content;
    expect(parse(compose).services.app.volumes).toEqual([`./${MANAGED_PG_CA_FILE}:${APP_MANAGED_PG_CA}:ro`]);
  });
});

describe("the scale-out migration's CA on the old droplet", () => {
  it("lives in the PostgreSQL certificate directory, which the postgres container mounts where psql looks", () => {
    expect(TARGET_CA_PATH).toBe(`${LAYOUT.postgresTls}/${TARGET_CA_NAME}`);
    expect(TARGET_CA_IN_CONTAINER).toBe(`${POSTGRES_TLS_DIR}/${TARGET_CA_NAME}`);
    const plan = planStack(sampleConfig({ sshKeys: ["1"], appImage: "ghcr.io/acme/chatbot:1.0.0", alertEmails: [] }));
    const compose = parse(plan.active!.configFiles.find((f) => f.path === "compose.yaml")!.content);
    expect(compose.services.postgres.volumes).toContain(`${LAYOUT.postgresTls}:${POSTGRES_TLS_DIR}:ro`);
  });
});
