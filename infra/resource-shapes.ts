/**
 * The plain resource shapes shared by the parsers of Pulumi's JSON (infra/pulumi-json.ts) and the cost of a plan
 * or a change (infra/cost/). Types and one constant only: both sides import this, neither imports the other back.
 */

/** How the CLI (and our offline plan) prints a secret. */
export const SECRET_VALUE = "[secret]";

/** Pulumi's marker on a secret in serialized properties and exports: `{ [PULUMI_SECRET_SIG]: PULUMI_SECRET_MARK, ... }`. */
export const PULUMI_SECRET_SIG = "4dabf18193072939515e22adb298388d";
export const PULUMI_SECRET_MARK = "1b47061264138c4ac30d75fd1eb44270";

/** One planned (or deployed) resource: the shape shared by plans, previews and stack exports. */
export interface PlannedResource {
  type: string;
  name: string;
  urn?: string;
  /** false for component resources (they cost nothing). */
  custom?: boolean;
  inputs: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}

export type ChangeOp = "same" | "create" | "update" | "replace" | "delete";

/** One resource's change between two resource sets (or one step of a preview). */
export interface ResourceChange {
  key: string;
  type: string;
  name: string;
  urn?: string;
  op: ChangeOp;
  before?: PlannedResource;
  after?: PlannedResource;
  /** Inputs whose change forces a replacement, when known. */
  replaceReasons?: string[];
}
