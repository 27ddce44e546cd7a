/**
 * Pulumi's secret marker on serialized values, and the few walks over it the offline plan needs. Pure.
 *
 * In a program's registered inputs (and in what mocks receive) a secret is `{[SECRET_SIG]: SECRET_VALUE, value}`;
 * in a `pulumi stack export` it is `{[SECRET_SIG]: SECRET_VALUE, ciphertext}` (or `plaintext`, a JSON text, with
 * `--show-secrets`). Source: pulumi/pulumi `sdk/go/common/resource/sig` and `sdk/nodejs/runtime/rpc.ts`.
 */
import { SECRET_PLACEHOLDER } from "./stack-files";

export { PULUMI_SECRET_MARK as SECRET_VALUE, PULUMI_SECRET_SIG as SECRET_SIG } from "../resource-shapes";
import { PULUMI_SECRET_MARK as SECRET_VALUE, PULUMI_SECRET_SIG as SECRET_SIG } from "../resource-shapes";

/** The ciphertext written for every secret of a state this tool writes: it never holds the plain value. */
export const PLACEHOLDER_CIPHERTEXT = "v1:offline-plan:not-encrypted-the-value-is-not-here";

export function isSecret(v: unknown): v is { value?: unknown; ciphertext?: unknown; plaintext?: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

export function wrapSecret(value: unknown): { value: unknown } {
  return { [SECRET_SIG]: SECRET_VALUE, value } as { value: unknown };
}

function mapDeep(
  v: unknown,
  onSecret: (s: { value?: unknown; ciphertext?: unknown; plaintext?: unknown }) => unknown,
): unknown {
  if (isSecret(v)) return onSecret(v);
  if (Array.isArray(v)) return v.map((x) => mapDeep(x, onSecret));
  if (v && typeof v === "object")
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, mapDeep(x, onSecret)]));
  return v;
}

/** Replaces every secret with the string "[secret]" (deeply). */
export function redactSecrets(v: unknown): unknown {
  return mapDeep(v, () => SECRET_PLACEHOLDER);
}

/** Unwraps secrets (deeply), for tests that inspect what a secret carries. */
export function revealSecrets(v: unknown): unknown {
  return mapDeep(v, (s) => revealSecrets(s.value));
}

/**
 * A value read from a stack export, in the shape the program's runtime uses: an encrypted secret becomes a secret
 * holding "[secret]" (it cannot be decrypted offline), a `plaintext` secret its decoded value, still secret.
 */
export function secretsFromExport(v: unknown): unknown {
  return mapDeep(v, (s) => {
    if (typeof s.plaintext === "string") {
      try {
        return wrapSecret(secretsFromExport(JSON.parse(s.plaintext)));
      } catch {
        return wrapSecret(SECRET_PLACEHOLDER);
      }
    }
    return wrapSecret(SECRET_PLACEHOLDER);
  });
}

/** A value as a stack export stores it: every secret becomes the signature with a placeholder ciphertext. */
export function secretsForExport(v: unknown): unknown {
  return mapDeep(v, () => ({ [SECRET_SIG]: SECRET_VALUE, ciphertext: PLACEHOLDER_CIPHERTEXT }));
}

/** Whether a secret occurs anywhere in the value. */
export function containsSecret(v: unknown): boolean {
  if (isSecret(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (v && typeof v === "object") return Object.values(v).some(containsSecret);
  return false;
}
