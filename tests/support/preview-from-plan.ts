/**
 * A `pulumi preview --json` digest (the shape of /work/shared/fixtures/pulumi-json 01-03: `steps` with `op`, `urn`,
 * `oldState`, `newState`, `diffReasons`; `changeSummary`) made from an offline plan against a state: the old side
 * from the state's resources, the new side from the plan's. For tests of what reads real previews.
 */
interface StateResource {
  urn: string;
  type: string;
  custom?: boolean;
  id?: string;
  inputs?: Record<string, unknown>;
  outputs?: Record<string, unknown>;
}
interface PlanDoc {
  resources: { urn: string; type: string; inputs: unknown }[];
  operations: {
    urn: string;
    type: string;
    op: string;
    diffKeys?: string[];
    replaceKeys: string[];
    previousUrn?: string;
  }[];
}

export function previewFromPlan(state: { deployment: { resources: StateResource[] } }, plan: PlanDoc): unknown {
  const old = new Map(state.deployment.resources.map((r) => [r.urn, r]));
  const next = new Map(plan.resources.map((r) => [r.urn, r]));
  const summary: Record<string, number> = {};
  const steps = plan.operations.map((o) => {
    summary[o.op] = (summary[o.op] ?? 0) + 1;
    const before = old.get(o.previousUrn ?? o.urn);
    const after = next.get(o.urn);
    const custom = !o.type.startsWith("chatbot:");
    return {
      op: o.op,
      urn: o.urn,
      ...(before && o.op !== "create"
        ? { oldState: { urn: before.urn, custom, type: before.type, id: before.id, inputs: before.inputs ?? {} } }
        : {}),
      ...(after && o.op !== "delete" ? { newState: { urn: o.urn, custom, type: o.type, inputs: after.inputs } } : {}),
      ...(o.diffKeys?.length ? { diffReasons: o.diffKeys } : {}),
      ...(o.replaceKeys.length ? { replaceReasons: o.replaceKeys } : {}),
      detailedDiff: null,
    };
  });
  return { steps, changeSummary: summary };
}
