/**
 * Parsers for the Pulumi CLI's JSON outputs, to the plain resource shapes of infra/resource-shapes.ts. Pure: text in,
 * values out.
 *
 * Formats (pulumi/pulumi `pkg/backend/display/json.go`, `sdk/go/common/display/json.go`; real samples in
 * /work/shared/fixtures/pulumi-json):
 * - the preview digest of `pulumi preview --json`: `{config, steps[], changeSummary, ...}`; a step has `op`, `urn`,
 *   `oldState?`, `newState?`, `replaceReasons?`; unchanged resources appear only with `--show-sames`;
 * - the engine event stream of `pulumi up --json` (one JSON event per line): `resourcePreEvent` / `resOutputsEvent`
 *   with `metadata: {op, urn, type, old, new, keys, diffs}`, and `summaryEvent.resourceChanges`;
 * - `pulumi stack export`: `{version, deployment: {resources[]}}`;
 * - our offline plan (`npm run plan -- --json`): `{project, stack, tier, budgets, resources[]}`.
 * Inputs carry a `__defaults` list (ignored); secrets print as "[secret]" (an encrypted secret object in an
 * export becomes "[secret]" too); unknown values are the sentinel UNKNOWN_VALUE.
 */
import { type AfterWindow, PlanTimelineSchema, type RetainedVolumeCost } from "./cost/timeline";
import { z } from "zod";
import {
  PULUMI_SECRET_MARK,
  PULUMI_SECRET_SIG,
  SECRET_VALUE,
  type ChangeOp,
  type PlannedResource,
  type ResourceChange,
} from "./resource-shapes";

/** Pulumi's secret signature key and value (pulumi/pulumi `sdk/go/common/resource/sig`). */

export interface ParsedPlan {
  kind: "plan";
  project: string;
  stack: string;
  tier?: string;
  budgets?: { downtimeSeconds?: number; migrationMinutes?: number };
  resources: PlannedResource[];
  /** While a server migrated from is kept: the stack once it is dropped (infra/cost/timeline.ts). */
  afterWindow?: AfterWindow;
  /** Volumes of dropped servers still billed at DigitalOcean. */
  retainedVolumes?: RetainedVolumeCost[];
  /** Planned against a state: what the plan says loudly (a volume holding data that loses retainOnDelete). */
  warnings?: string[];
  /** A switch back the plan runs: the serving server hands over to its follower, nothing copied. */
  switchBack?: { fromKey: string; toKey: string; summary: string };
}

export interface ParsedExport {
  kind: "export";
  stack?: string;
  project?: string;
  resources: PlannedResource[];
}

export interface ParsedPreview {
  kind: "preview" | "events";
  stack?: string;
  project?: string;
  config: Record<string, unknown>;
  /** One change per resource (replacement steps collapsed into one `replace`). */
  changes: ResourceChange[];
  /** Resources per operation as Pulumi names them, counted from the steps (one per resource). */
  operations: Record<string, number>;
  /** What the CLI itself reported (`changeSummary`, or the event stream's `summaryEvent.resourceChanges`). */
  changeSummary?: Record<string, number>;
  /** Some resources the CLI counted are not in the steps (a preview without `--show-sames`). */
  partial: boolean;
}

export type ParsedPulumiJson = ParsedPlan | ParsedExport | ParsedPreview;

export interface UrnParts {
  stack: string;
  project: string;
  type: string;
  name: string;
}

/** `urn:pulumi:<stack>::<project>::<parent$...$type>::<name>`. */
export function parseUrn(urn: string): UrnParts {
  const parts = urn.split("::");
  const head = parts[0] ?? "";
  if (!head.startsWith("urn:pulumi:") || parts.length < 4) throw new Error(`"${urn}" is not a Pulumi URN`);
  const qualified = parts[2] ?? "";
  return {
    stack: head.slice("urn:pulumi:".length),
    project: parts[1] ?? "",
    type: qualified.split("$").pop() ?? qualified,
    name: parts.slice(3).join("::"),
  };
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Secret objects become "[secret]"; `__defaults` lists are dropped. */
export function cleanValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cleanValue);
  if (!isPlainObject(value)) return value;
  if (value[PULUMI_SECRET_SIG] === PULUMI_SECRET_MARK) return SECRET_VALUE;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (k !== "__defaults") out[k] = cleanValue(v);
  return out;
}

function cleanRecord(value: unknown): Record<string, unknown> {
  const cleaned = cleanValue(value ?? {});
  return isPlainObject(cleaned) ? cleaned : {};
}

function formatIssues(source: string, error: z.ZodError): Error {
  const lines = error.issues.map((i) => `  ${i.path.length ? i.path.join(".") : "(top level)"}: ${i.message}`);
  return new Error(`${source}: not valid:\n${lines.join("\n")}`);
}

const Record_ = z.record(z.string(), z.unknown());

const PlanSchema = z.looseObject({
  project: z.string().min(1),
  stack: z.string().min(1),
  tier: z.string().optional(),
  budgets: z
    .looseObject({
      downtimeSeconds: z.number().int().positive().optional(),
      migrationMinutes: z.number().positive().optional(),
    })
    .optional(),
  resources: z.array(
    z.looseObject({
      type: z.string().min(1),
      name: z.string().min(1),
      urn: z.string().optional(),
      inputs: Record_.optional(),
      outputs: Record_.optional(),
    }),
  ),
  ...PlanTimelineSchema.shape,
  state: z.looseObject({ warnings: z.array(z.string()).optional() }).optional(),
  switchBack: z.looseObject({ fromKey: z.string(), toKey: z.string(), summary: z.string() }).optional(),
});

const StateSchema = z.looseObject({
  type: z.string().optional(),
  urn: z.string().optional(),
  custom: z.boolean().optional(),
  inputs: Record_.nullish(),
  outputs: Record_.nullish(),
});

const PreviewSchema = z.looseObject({
  config: Record_.optional(),
  steps: z
    .array(
      z.looseObject({
        op: z.string().min(1),
        urn: z.string().min(1),
        oldState: StateSchema.nullish(),
        newState: StateSchema.nullish(),
        replaceReasons: z.array(z.string()).nullish(),
      }),
    )
    .optional(),
  changeSummary: z.record(z.string(), z.number()).optional(),
});

const ExportSchema = z.looseObject({
  version: z.number().optional(),
  deployment: z.looseObject({
    resources: z
      .array(
        z.looseObject({
          urn: z.string().min(1),
          type: z.string().min(1),
          custom: z.boolean().optional(),
          inputs: Record_.nullish(),
          outputs: Record_.nullish(),
        }),
      )
      .nullish(),
  }),
});

const EventMetadataSchema = z.looseObject({
  op: z.string().min(1),
  urn: z.string().min(1),
  type: z.string().optional(),
  old: StateSchema.nullish(),
  new: StateSchema.nullish(),
  keys: z.array(z.string()).nullish(),
});

interface RawResource {
  type: string;
  name: string;
  urn?: string | undefined;
  custom?: boolean | undefined;
  inputs?: Record<string, unknown> | null | undefined;
  outputs?: Record<string, unknown> | null | undefined;
}

/** The one place raw resources become PlannedResource: secrets masked, `__defaults` dropped, absent keys left out. */
function toPlanned(r: RawResource): PlannedResource {
  return {
    type: r.type,
    name: r.name,
    ...(r.urn === undefined ? {} : { urn: r.urn }),
    ...(r.custom === undefined ? {} : { custom: r.custom }),
    inputs: cleanRecord(r.inputs),
    ...(r.outputs ? { outputs: cleanRecord(r.outputs) } : {}),
  };
}

function toResource(urn: string, state: z.infer<typeof StateSchema> | null | undefined): PlannedResource | undefined {
  if (!state || (state.type === undefined && state.inputs === undefined)) return undefined;
  const parts = parseUrn(state.urn ?? urn);
  return toPlanned({ ...state, type: state.type ?? parts.type, name: parts.name, urn: state.urn ?? urn });
}

export function parsePlan(value: unknown, source = "plan"): ParsedPlan {
  const parsed = PlanSchema.safeParse(value);
  if (!parsed.success) throw formatIssues(source, parsed.error);
  const p = parsed.data;
  return {
    kind: "plan",
    project: p.project,
    stack: p.stack,
    ...(p.tier === undefined ? {} : { tier: p.tier }),
    ...(p.budgets === undefined ? {} : { budgets: p.budgets }),
    resources: p.resources.map((r) => toPlanned({ ...r, custom: undefined })),
    ...(p.afterWindow ? { afterWindow: p.afterWindow } : {}),
    ...(p.retainedVolumes ? { retainedVolumes: p.retainedVolumes } : {}),
    ...(p.state?.warnings?.length ? { warnings: p.state.warnings } : {}),
    ...(p.switchBack
      ? { switchBack: { fromKey: p.switchBack.fromKey, toKey: p.switchBack.toKey, summary: p.switchBack.summary } }
      : {}),
  };
}

export function parseStackExport(value: unknown, source = "stack export"): ParsedExport {
  const parsed = ExportSchema.safeParse(value);
  if (!parsed.success) throw formatIssues(source, parsed.error);
  const raw = parsed.data.deployment.resources ?? [];
  const resources = raw.map((r) => toPlanned({ ...r, name: parseUrn(r.urn).name }));
  const first = raw[0] ? parseUrn(raw[0].urn) : undefined;
  return { kind: "export", ...(first ? { stack: first.stack, project: first.project } : {}), resources };
}

const REPLACE_FAMILY = new Set([
  "replace",
  "create-replacement",
  "delete-replaced",
  "read-replacement",
  "import-replacement",
  "discard-replaced",
]);

/** Pulumi's op (after collapsing replacement steps) to the estimator's. */
function costOp(op: string): ChangeOp {
  if (op === "replace" || op === "create" || op === "update" || op === "delete") return op;
  if (op === "discard") return "delete";
  return "same"; // same, read, refresh, import: the resource exists before and after
}

interface StepRecord {
  op: string;
  urn: string;
  type?: string;
  old?: PlannedResource;
  new?: PlannedResource;
  replaceReasons?: string[];
}

/** Steps (possibly several per URN) to one change per resource, in first-seen order. */
function collapse(steps: StepRecord[]): { changes: ResourceChange[]; operations: Record<string, number> } {
  const byUrn = new Map<string, StepRecord[]>();
  for (const s of steps) byUrn.set(s.urn, [...(byUrn.get(s.urn) ?? []), s]);
  const operations: Record<string, number> = {};
  const changes: ResourceChange[] = [];
  for (const [urn, group] of byUrn) {
    const ops = group.map((s) => s.op);
    const op = ops.some((o) => REPLACE_FAMILY.has(o)) ? "replace" : (ops[0] as string);
    operations[op] = (operations[op] ?? 0) + 1;
    const cop = costOp(op);
    const before = cop === "create" ? undefined : group.find((s) => s.old)?.old;
    const latest = [...group].reverse().find((s) => s.new)?.new;
    const after = cop === "delete" ? undefined : (latest ?? (cop === "same" ? before : undefined));
    const parts = parseUrn(urn);
    const type = before?.type ?? after?.type ?? group.find((s) => s.type)?.type ?? parts.type;
    const reasons = group.flatMap((s) => s.replaceReasons ?? []);
    changes.push({
      key: `${type}::${parts.name}`,
      type,
      name: parts.name,
      urn,
      op: cop,
      ...(before ? { before } : {}),
      ...(after ? { after } : {}),
      ...(reasons.length ? { replaceReasons: [...new Set(reasons)] } : {}),
    });
  }
  return { changes, operations };
}

function isPartial(operations: Record<string, number>, summary: Record<string, number> | undefined): boolean {
  if (!summary) return false;
  return Object.entries(summary).some(([op, n]) => n > (operations[op] ?? 0));
}

function stackOf(changes: ResourceChange[]): { stack?: string; project?: string } {
  const urn = changes.find((c) => c.urn)?.urn;
  if (!urn) return {};
  const p = parseUrn(urn);
  return { stack: p.stack, project: p.project };
}

export function parsePreviewDigest(value: unknown, source = "preview"): ParsedPreview {
  const parsed = PreviewSchema.safeParse(value);
  if (!parsed.success) throw formatIssues(source, parsed.error);
  const d = parsed.data;
  const steps: StepRecord[] = (d.steps ?? []).map((s) => {
    const old = toResource(s.urn, s.oldState);
    const next = toResource(s.urn, s.newState);
    return {
      op: s.op,
      urn: s.urn,
      ...(old ? { old } : {}),
      ...(next ? { new: next } : {}),
      ...(s.replaceReasons ? { replaceReasons: s.replaceReasons } : {}),
    };
  });
  const { changes, operations } = collapse(steps);
  return {
    kind: "preview",
    ...stackOf(changes),
    config: d.config ?? {},
    changes,
    operations,
    ...(d.changeSummary ? { changeSummary: d.changeSummary } : {}),
    partial: isPartial(operations, d.changeSummary),
  };
}

/** Engine events (objects, one per line in the file). */
export function parseEngineEvents(events: unknown[], source = "events"): ParsedPreview {
  const byStep = new Map<string, StepRecord>();
  let config: Record<string, unknown> = {};
  let summary: Record<string, number> | undefined;
  events.forEach((event, i) => {
    if (!isPlainObject(event)) throw new Error(`${source}: event ${i + 1} is not a JSON object`);
    const prelude = event.preludeEvent;
    if (isPlainObject(prelude) && isPlainObject(prelude.config)) config = prelude.config;
    const summaryEvent = event.summaryEvent;
    if (isPlainObject(summaryEvent) && isPlainObject(summaryEvent.resourceChanges)) {
      summary = z.record(z.string(), z.number()).parse(summaryEvent.resourceChanges);
    }
    for (const kind of ["resourcePreEvent", "resOutputsEvent"] as const) {
      const body = event[kind];
      if (body === undefined) continue;
      const meta = EventMetadataSchema.safeParse(isPlainObject(body) ? body.metadata : undefined);
      if (!meta.success) throw formatIssues(`${source}: event ${i + 1} (${kind}.metadata)`, meta.error);
      const m = meta.data;
      const old = toResource(m.urn, m.old);
      const next = toResource(m.urn, m.new);
      const key = `${m.urn}\u0000${m.op}`;
      const prev = byStep.get(key);
      // resOutputsEvent comes after resourcePreEvent for the same step and carries outputs: it wins.
      byStep.set(key, {
        op: m.op,
        urn: m.urn,
        ...(m.type ? { type: m.type } : {}),
        ...((old ?? prev?.old) ? { old: old ?? prev?.old } : {}),
        ...((next ?? prev?.new) ? { new: next ?? prev?.new } : {}),
        ...(m.op === "replace" && m.keys ? { replaceReasons: m.keys } : {}),
      } as StepRecord);
    }
  });
  const { changes, operations } = collapse([...byStep.values()]);
  return {
    kind: "events",
    ...stackOf(changes),
    config,
    changes,
    operations,
    ...(summary ? { changeSummary: summary } : {}),
    partial: isPartial(operations, summary),
  };
}

function parseJsonLines(text: string, source: string): unknown[] {
  const events: unknown[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    try {
      events.push(JSON.parse(line));
    } catch (e) {
      throw new Error(`${source}: line ${i + 1} is not JSON (${(e as Error).message})`);
    }
  });
  return events;
}

const EVENT_KEYS = [
  "preludeEvent",
  "resourcePreEvent",
  "resOutputsEvent",
  "summaryEvent",
  "diagnosticEvent",
  "cancelEvent",
];

function looksLikeEvent(value: unknown): boolean {
  return isPlainObject(value) && ("sequence" in value || EVENT_KEYS.some((k) => k in value));
}

/** Detect the format and parse it. `source` names the input in error messages (a file name). */
export function parsePulumiJson(text: string, source = "input"): ParsedPulumiJson {
  const trimmed = text.trim();
  if (trimmed === "") throw new Error(`${source}: empty input`);
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    const events = parseJsonLines(trimmed, source);
    if (!events.every(looksLikeEvent)) {
      throw new Error(`${source}: not JSON, and not an engine event stream (one JSON event per line)`);
    }
    return parseEngineEvents(events, source);
  }
  if (Array.isArray(value)) {
    if (value.every(looksLikeEvent)) return parseEngineEvents(value, source);
    throw new Error(`${source}: a JSON array that is not a list of engine events`);
  }
  if (!isPlainObject(value)) throw new Error(`${source}: expected a JSON object`);
  if ("deployment" in value) return parseStackExport(value, source);
  if ("steps" in value || "changeSummary" in value) return parsePreviewDigest(value, source);
  if ("resources" in value) return parsePlan(value, source);
  if (looksLikeEvent(value)) return parseEngineEvents([value], source);
  throw new Error(
    `${source}: unrecognised Pulumi JSON: expected a preview digest (steps, changeSummary), an engine event stream ` +
      "(one event per line), a stack export (deployment.resources) or an offline plan (project, stack, resources)",
  );
}
