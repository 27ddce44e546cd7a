/**
 * The chatbot stacks' guardrails as CrossGuard policies (the rules are policy/rules.ts). Kept apart from index.ts,
 * whose PolicyPack starts the analyzer server, so the tests can call each policy's validate function directly.
 *
 * Prod-only policies apply to stacks whose name matches `prodStacks` (default: the program's `prod` / `prod-*`);
 * the rest apply to every stack. Limits are the policies' config (`--policy-pack-config <file>`, see README).
 */
import {
  type Policies,
  type PolicyConfigSchema,
  type ResourceValidationArgs,
  type ResourceValidationPolicy,
  type StackValidationPolicy,
  UnknownValueError,
} from "@pulumi/policy";
import { PROD_STACK_PATTERN } from "../infra/config";
import {
  deletableVolumes,
  dropletSizeProblem,
  type Finding,
  isProdStack,
  isServerChild,
  monthlyCostOf,
  publicDatabaseFirewall,
  publicDatabasePorts,
  sshProblems,
  type StackResource,
  TYPES,
  UNKNOWN_VALUE,
  unprotectedStateful,
} from "./rules";

export const PACK_NAME = "chatbot-guardrails";

/** Defaults of the policies' config: the largest tier's droplet ($96, 16gb), and a monthly ceiling above scale-out's. */
export const DEFAULTS = {
  prodStacks: PROD_STACK_PATTERN.source,
  maxDropletMonthlyUsd: 96,
  maxMonthlyCostUsd: 500,
} as const;

const prodStacksSchema: PolicyConfigSchema = {
  properties: {
    prodStacks: {
      type: "string",
      default: DEFAULTS.prodStacks,
      description: "Regular expression over stack names: the stacks these guardrails apply to.",
    },
  },
};

type Settings = { -readonly [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends string ? string : number };

/** The policy's config over the defaults (the CLI fills in the schema's defaults; an analyzer never configured has none). */
function settings(args: { getConfig<T extends object>(): T }): Settings {
  return { ...DEFAULTS, ...args.getConfig<Partial<Settings>>() };
}

/** Leaves a resource of a stack that is not prod alone, as CrossGuard expects: not applicable. */
function prodOnly(args: {
  urn: string;
  getConfig<T extends object>(): T;
  notApplicable(reason?: string): never;
}): void {
  const { prodStacks } = settings(args);
  if (!isProdStack(args.urn, prodStacks)) args.notApplicable(`stack is not prod (prodStacks: ${prodStacks})`);
}

/** Whether the resource is of one of these types; any other is reported not applicable, as `validateResourceOfType` does. */
function ofType(args: ResourceValidationArgs, ...types: string[]): true {
  if (!types.includes(args.type)) args.notApplicable(`not a ${types.join(" or ")}`);
  return true;
}

/** A property bag with every value not known yet (a preview) replaced by Pulumi's unknown sentinel. */
function readable(v: unknown): unknown {
  const read = (get: () => unknown): unknown => {
    try {
      return readable(get());
    } catch (e) {
      if (e instanceof UnknownValueError) return UNKNOWN_VALUE;
      throw e;
    }
  };
  if (v === null || typeof v !== "object") return v;
  const o = v as Record<string, unknown>;
  if (Array.isArray(v)) return Array.from({ length: v.length }, (_, i) => read(() => o[i]));
  return Object.fromEntries(Object.keys(o).map((k) => [k, read(() => o[k])]));
}

export const sshAllowlist: ResourceValidationPolicy = {
  name: "prod-ssh-allowlist",
  description:
    "Prod firewalls admit SSH only from the allowlist: never the world, at most a /24 of IPv4 and a /56 of IPv6 together.",
  configSchema: prodStacksSchema,
  validateResource: (args, report) => {
    ofType(args, TYPES.firewall);
    prodOnly(args);
    for (const p of sshProblems(args.props)) report(p);
  },
};

export const noPublicDatabasePort: ResourceValidationPolicy = {
  name: "no-public-database-port",
  description: "PostgreSQL (5432) and Redis (6379) are never open to 0.0.0.0/0 or ::/0, in any stack.",
  validateResource: (args, report) => {
    ofType(args, TYPES.firewall, TYPES.databaseFirewall);
    for (const p of args.type === TYPES.firewall ? publicDatabasePorts(args.props) : publicDatabaseFirewall(args.props))
      report(p);
  },
};

export const dropletBackups: ResourceValidationPolicy = {
  name: "prod-droplet-backups",
  description: "Prod droplets that hold data (the servers' droplets) have DigitalOcean backups on.",
  configSchema: prodStacksSchema,
  validateResource: (args, report) => {
    ofType(args, TYPES.droplet);
    if (!isServerChild(args.urn)) args.notApplicable("a scale-out app droplet: stateless, nothing to back up");
    prodOnly(args);
    if (args.props.backups !== true)
      report(`droplet ${args.name} has backups off: set chatbot:backups to weekly or daily`);
  },
};

export const dropletSizeCeiling: ResourceValidationPolicy = {
  name: "droplet-size-ceiling",
  description: "Every droplet's size is in the price table and costs at most maxDropletMonthlyUsd per month.",
  configSchema: {
    properties: {
      maxDropletMonthlyUsd: {
        type: "number",
        default: DEFAULTS.maxDropletMonthlyUsd,
        description: "Highest monthly price of one droplet, USD.",
      },
    },
  },
  validateResource: (args, report) => {
    ofType(args, TYPES.droplet);
    const problem = dropletSizeProblem(args.props.size, settings(args).maxDropletMonthlyUsd);
    if (problem) report(`droplet ${args.name}: ${problem}`);
  },
};

const stackResources = (
  resources: {
    type: string;
    name: string;
    urn: string;
    parent?: { urn: string };
    opts: { protect: boolean; parent?: string };
    props: Record<string, unknown>;
  }[],
): StackResource[] =>
  resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    parent: r.parent?.urn ?? r.opts.parent,
    protect: r.opts.protect,
    props: r.props,
  }));

const firstUrn = (resources: { urn: string }[]) => resources[0]?.urn ?? "";

/** A prod-only stack policy reporting each finding on its resource. */
function prodStackPolicy(
  name: string,
  description: string,
  find: (resources: StackResource[]) => Finding[],
): StackValidationPolicy {
  return {
    name,
    description,
    configSchema: prodStacksSchema,
    validateStack: (args, report) => {
      prodOnly({ ...args, urn: firstUrn(args.resources) });
      for (const f of find(stackResources(args.resources))) report(f.message, f.urn);
    },
  };
}

export const statefulProtected = prodStackPolicy(
  "prod-stateful-protected",
  "Prod servers' droplets and managed database clusters are protected (the server migrated from excepted once its retention has passed: one update takes its protection off, the next drops it).",
  unprotectedStateful,
);

export const volumesKept = prodStackPolicy(
  "prod-volumes-kept",
  "Prod data volumes are never deleted: protected, except the rollback target's, which the program retains at DigitalOcean (retainOnDelete).",
  deletableVolumes,
);

export const monthlyCostCeiling: StackValidationPolicy = {
  name: "monthly-cost-ceiling",
  description:
    "The stack's monthly cost (infra/cost, as the pull-request comment prices it) is at most maxMonthlyCostUsd.",
  configSchema: {
    properties: {
      maxMonthlyCostUsd: {
        type: "number",
        default: DEFAULTS.maxMonthlyCostUsd,
        description: "Highest monthly cost of the stack, USD.",
      },
    },
  },
  validateStack: (args, report) => {
    const max = settings(args).maxMonthlyCostUsd;
    const cost = monthlyCostOf(stackResources(args.resources), readable);
    if (cost.monthly > max) {
      const lowerBound = cost.unpriced.length ? ` at least (not priced yet: ${cost.unpriced.join(", ")})` : "";
      report(
        `the stack costs${lowerBound} $${cost.monthly.toFixed(2)}/month, above the ceiling of $${max} (policy config maxMonthlyCostUsd)`,
      );
    }
  },
};

/** Every policy of the pack, mandatory. */
export const policies: Policies = [
  sshAllowlist,
  noPublicDatabasePort,
  dropletBackups,
  dropletSizeCeiling,
  statefulProtected,
  volumesKept,
  monthlyCostCeiling,
];
