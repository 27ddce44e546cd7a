/** The scale-out input the unit, wiring and artifact tests start from (a prod stack; tests override fields). */
import type { ScaleOutInput } from "../../infra/scale-out";

export const PROD_INPUT: ScaleOutInput = {
  prefix: "chatbot-prod",
  region: "nyc3",
  domain: "chat.example.com",
  healthPath: "/healthz",
  appPort: 8090,
  appImage: "ghcr.io/acme/chatbot:1.4.2",
  appEnv: ["LOG_LEVEL=info"],
  environment: "prod",
  sshKeys: ["12345678"],
  sshAllowedCidrs: ["203.0.113.0/28"],
  stackTag: "chatbot-prod",
  appCount: 3,
  appDropletSize: "s-4vcpu-8gb",
  dbSize: "db-s-2vcpu-4gb",
  dbNodeCount: 2,
  valkeySize: "db-s-1vcpu-2gb",
  dbPoolSize: 5,
  dbMaxOverflow: 5,
  hstsMaxAgeSeconds: 31536000,
};

/** The same stack as a dev stack. */
export const DEV_INPUT: ScaleOutInput = {
  ...PROD_INPUT,
  prefix: "chatbot-dev",
  stackTag: "chatbot-dev",
  environment: "dev",
  dbNodeCount: 1,
};
