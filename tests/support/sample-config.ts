/** A valid stack config for tests that need a parsed config or a plan, with overrides per test. */
import { parseConfig, type StackConfig } from "../../infra/config";

export const SAMPLE_VALUES = {
  region: "nyc3",
  domain: "chat.example.com",
  sshKeys: ["12345678"],
  sshAllowedCidrs: ["203.0.113.0/28"],
  appImage: "ghcr.io/acme/chatbot:1.4.2",
  alertEmails: ["ops@example.com"],
};

export function sampleConfig(overrides: Record<string, unknown> = {}, stack = "dev"): StackConfig {
  return parseConfig({ values: { ...SAMPLE_VALUES, ...overrides }, secretKeys: new Set() }, { stack });
}
