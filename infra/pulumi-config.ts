/**
 * Reads the stack config from Pulumi's runtime into the plain shape infra/config.ts parses. The only module that
 * touches Pulumi's config besides infra/index.ts (which creates the `pulumi.Config`).
 */
import * as pulumi from "@pulumi/pulumi";
import {
  ConfigError,
  parseConfig,
  PASSWORD_KEYS,
  type PasswordKey,
  PROJECT,
  SECRET_KEYS,
  type SecretKey,
  type StackConfig,
} from "./config";
import type { KeyStorage } from "./config-checks";
import { DEPLOYED_OUTPUTS, DeployedStateError, type DeploymentRecord, readDeployed } from "./deployed";
import { otherKeysInStackFile, plainSecretsInStackFile, SECRET_PLACEHOLDER } from "./offline/stack-files";

export interface ConfigSource {
  config: StackConfig;
  /** The secret values that are set, as Pulumi secrets. */
  secret(key: SecretKey): pulumi.Output<string> | undefined;
}

/** Where the program reads its stack file from: the project's root and the stack (the runtime's, by default). */
export interface StackLocation {
  rootDirectory: string;
  stack: string;
}

/**
 * Reads the config through the SDK's public API only. Secret keys (SECRET_KEYS, declared `secret: true` in
 * Pulumi.yaml) are read with `getSecret`, so their values are secrets whatever the stack file holds, and never enter
 * planning (it only learns which are set). A secret key the stack file holds in plain text is refused with the
 * `pulumi config set --secret` command to run: the SDK does not say whether a value arrived encrypted, the stack
 * file does. The passwords' plain values are handed to the parse only to be checked against the password rule.
 */
export function readStackConfig(
  cfg: pulumi.Config,
  at: StackLocation = { rootDirectory: pulumi.runtime.getRootDirectory(), stack: pulumi.getStack() },
): ConfigSource {
  const prefix = `${cfg.name}:`;
  const secretNames: readonly string[] = SECRET_KEYS;
  const values: Record<string, unknown> = {};
  const setSecrets = new Set<string>();
  const passwords: Partial<Record<PasswordKey, string>> = {};
  // Keys of other namespaces are judged too (a misspelt project name, a plain provider token): only the stack file
  // tells whether one is stored in plain text.
  const inStackFile = otherKeysInStackFile(at.rootDirectory, at.stack);
  const otherKeys: Record<string, KeyStorage> = {};
  for (const [fullKey, value] of Object.entries(pulumi.runtime.allConfig())) {
    if (!fullKey.startsWith(prefix)) {
      otherKeys[fullKey] = inStackFile[fullKey] === "plain" ? "plain" : "secure";
      continue;
    }
    const key = fullKey.slice(prefix.length);
    if (secretNames.includes(key)) {
      values[key] = SECRET_PLACEHOLDER;
      setSecrets.add(key);
      // The offline plan cannot decrypt and hands the placeholder: then there is no password to check.
      if ((PASSWORD_KEYS as readonly string[]).includes(key) && value !== SECRET_PLACEHOLDER)
        passwords[key as PasswordKey] = value;
    } else {
      values[key] = value;
    }
  }
  const plain = new Set(plainSecretsInStackFile(at.rootDirectory, at.stack, [...setSecrets]));
  let config: StackConfig;
  try {
    config = parseConfig(
      { values, secretKeys: new Set([...setSecrets].filter((k) => !plain.has(k))), passwords, otherKeys },
      { project: cfg.name || PROJECT, stack: at.stack },
    );
  } catch (e) {
    if (e instanceof ConfigError) throw new pulumi.RunError(e.message);
    throw e;
  }
  return {
    config,
    secret: (key) => (setSecrets.has(key) ? cfg.getSecret(key) : undefined),
  };
}

/**
 * What the stack's last successful `pulumi up` left, read through a StackReference to the stack itself (it works
 * with every backend: `organization` is the DIY backends' organization name). A stack never deployed has no
 * outputs. Secret outputs are not used: the record holds names, tiers and times only.
 */
export async function readDeployedState(config: StackConfig): Promise<DeploymentRecord | undefined> {
  const self = new pulumi.StackReference("deployed", {
    name: `${pulumi.getOrganization()}/${pulumi.getProject()}/${pulumi.getStack()}`,
  });
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
