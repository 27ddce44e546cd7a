/**
 * Reads the stack config from Pulumi's runtime into the plain shape infra/config.ts parses. The only module that
 * touches Pulumi's config besides infra/index.ts (which creates the `pulumi.Config`).
 */
import * as pulumi from "@pulumi/pulumi";
import { ConfigError, parseConfig, PROJECT, SECRET_KEYS, type SecretKey, type StackConfig } from "./config";
import { DEPLOYED_OUTPUTS, DeployedStateError, type DeploymentRecord, readDeployed } from "./deployed";

export interface ConfigSource {
  config: StackConfig;
  /** The secret values that are set, as Pulumi secrets. */
  secret(key: SecretKey): pulumi.Output<string> | undefined;
}

/** The runtime's record of which keys the CLI passed as secrets (exported by the SDK, not declared in its types). */
function isConfigSecret(fullKey: string): boolean {
  const runtime = pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean };
  if (typeof runtime.isConfigSecret !== "function") throw new Error("@pulumi/pulumi no longer exposes runtime.isConfigSecret");
  return runtime.isConfigSecret(fullKey);
}

export function readStackConfig(cfg: pulumi.Config): ConfigSource {
  const prefix = `${cfg.name}:`;
  const values: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) continue;
    const key = fullKey.slice(prefix.length);
    values[key] = value;
    if (isConfigSecret(fullKey)) secretKeys.add(key);
  }
  let config: StackConfig;
  try {
    config = parseConfig({ values, secretKeys }, { project: cfg.name || PROJECT, stack: pulumi.getStack() });
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
  return {
    config,
    secret: (key) => ((SECRET_KEYS as readonly string[]).includes(key) && secretKeys.has(key) ? cfg.requireSecret(key) : undefined),
  };
}

/**
 * What the stack's last successful `pulumi up` left, read through a StackReference to the stack itself (it works
 * with every backend: `organization` is the DIY backends' organization name). A stack never deployed has no
 * outputs. Secret outputs are not used: the record holds names, tiers and times only.
 */
export async function readDeployedState(config: StackConfig): Promise<DeploymentRecord | undefined> {
  const self = new pulumi.StackReference("deployed", { name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}` });
  const outputs: Record<string, unknown> = {};
  for (const name of DEPLOYED_OUTPUTS) {
    const details = await self.getOutputDetails(name);
    if (details.value !== undefined) outputs[name] = details.value;
  }
  try {
    return readDeployed(outputs, `${config.project}-${config.stack}`);
  } catch (e) {
    if (e instanceof DeployedStateError) throw new pulumi.RunError(e.message);
    throw e;
  }
}
