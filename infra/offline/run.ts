/**
 * Runs the real Pulumi program in-process under `pulumi.runtime.setMocks`: no CLI, no credentials, no network.
 * Every resource registration is recorded with its inputs (secrets still wrapped), parent, protection and
 * dependencies. This powers both the offline `plan` command and the wiring tests, so what a user previews is what
 * the program does.
 */
import * as pulumi from "@pulumi/pulumi";
import { readStackFiles, type StackFiles } from "./stack-files";

/** The marker Pulumi puts on a secret value in serialized properties. */
export const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const SECRET_VALUE = "1b47061264138c4ac30d75fd1eb44270";

export interface RecordedResource {
  urn: string;
  type: string;
  name: string;
  custom: boolean;
  parent: string | undefined;
  protect: boolean;
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  /** URNs this resource depends on (explicit dependsOn and those carried by its inputs). */
  dependencies: string[];
  /** Inputs as registered; secret values are wrapped `{ [SECRET_SIG]: ..., value }`. */
  inputs: Record<string, unknown>;
  /** The id and state the mocks answered with (custom resources only). */
  id: string | undefined;
  outputs: Record<string, unknown>;
}

export interface OfflineRun {
  stack: StackFiles;
  resources: RecordedResource[];
  outputs: Record<string, unknown>;
}

export type Program = () => Promise<Record<string, unknown>>;

export function isSecret(v: unknown): v is { value: unknown } {
  return typeof v === "object" && v !== null && (v as Record<string, unknown>)[SECRET_SIG] === SECRET_VALUE;
}

/** Replaces every secret with the string "[secret]" (deeply). */
export function redactSecrets(v: unknown): unknown {
  if (isSecret(v)) return "[secret]";
  if (Array.isArray(v)) return v.map(redactSecrets);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, redactSecrets(x)]));
  return v;
}

/** Unwraps secrets (deeply), for tests that inspect what a secret carries. */
export function revealSecrets(v: unknown): unknown {
  if (isSecret(v)) return revealSecrets(v.value);
  if (Array.isArray(v)) return v.map(revealSecrets);
  if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, revealSecrets(x)]));
  return v;
}

/** Plausible provider outputs, from documentation address ranges, so dependent inputs resolve. */
function fakeOutputs(type: string, name: string, inputs: Record<string, unknown>, n: number): Record<string, unknown> {
  switch (type) {
    case "digitalocean:index/droplet:Droplet":
      return { ipv4Address: `203.0.113.${10 + n}`, ipv4AddressPrivate: `10.10.0.${10 + n}`, dropletUrn: `do:droplet:${n}`, status: "active" };
    case "digitalocean:index/volume:Volume":
      return { volumeUrn: `do:volume:mock-${n}` };
    case "digitalocean:index/reservedIp:ReservedIp":
      return { ipAddress: `198.51.100.${n % 250}`, reservedIpUrn: `do:reservedip:198.51.100.${n % 250}` };
    case "digitalocean:index/domain:Domain":
      return { domainUrn: `do:domain:${String(inputs.name)}` };
    case "digitalocean:index/vpc:Vpc":
      return { ipRange: inputs.ipRange ?? "10.10.0.0/20", vpcUrn: `do:vpc:mock-${n}` };
    case "digitalocean:index/dnsRecord:DnsRecord":
      return { fqdn: `${String(inputs.name)}.${String(inputs.domain)}` };
    case "random:index/randomPassword:RandomPassword":
      return { result: `mock-password-${name}` };
    case "command:remote:Command":
    case "command:local:Command":
      return { stdout: "", stderr: "" };
    case "digitalocean:index/databaseCluster:DatabaseCluster": {
      const host = `${name}.db.mock.invalid`;
      const privateHost = `private-${host}`;
      const port = inputs.engine === "pg" ? 25060 : 25061;
      const scheme = inputs.engine === "pg" ? "postgresql" : "rediss";
      return {
        host,
        privateHost,
        port,
        user: "doadmin",
        password: `mock-password-${name}`,
        database: "defaultdb",
        uri: `${scheme}://doadmin:mock-password-${name}@${host}:${port}`,
        privateUri: `${scheme}://doadmin:mock-password-${name}@${privateHost}:${port}`,
        clusterUrn: `do:dbaas:mock-${n}`,
      };
    }
    case "digitalocean:index/databaseUser:DatabaseUser":
      return { password: `mock-password-${name}` };
    case "digitalocean:index/databaseConnectionPool:DatabaseConnectionPool":
      return {
        host: `${name}.pool.mock.invalid`,
        privateHost: `private-${name}.pool.mock.invalid`,
        port: 25061,
        uri: `postgresql://chatbot:mock-password-${name}@${name}.pool.mock.invalid:25061/chatbot`,
        privateUri: `postgresql://chatbot:mock-password-${name}@private-${name}.pool.mock.invalid:25061/chatbot`,
      };
    case "digitalocean:index/loadBalancer:LoadBalancer":
      return { ip: `192.0.2.${n % 250}`, loadBalancerUrn: `do:loadbalancer:mock-${n}` };
    default:
      return {};
  }
}

let running = false;

export async function runOffline(opts: {
  projectDir: string;
  stack: string;
  program: Program;
  /** Config values (full keys) to set over the stack file, for tests. */
  overrides?: Record<string, string | undefined>;
  /** Extra secret keys (full keys) among the overrides. */
  secretOverrides?: string[];
}): Promise<OfflineRun> {
  if (running) throw new Error("runOffline: one run at a time");
  running = true;
  try {
    const stack = readStackFiles(opts.projectDir, opts.stack);
    const config = { ...stack.config };
    for (const [k, v] of Object.entries(opts.overrides ?? {})) {
      if (v === undefined) delete config[k];
      else config[k] = v;
    }
    const secretKeys = [...stack.secretKeys, ...(opts.secretOverrides ?? [])].filter((k) => k in config);

    const byUrn = new Map<string, RecordedResource>();
    const answers = new Map<string, { id: string; state: Record<string, unknown> }>();
    let counter = 0;
    await pulumi.runtime.setMocks(
      {
        newResource: (args) => {
          counter += 1;
          const id = args.type.startsWith("digitalocean:index/droplet") ? String(100000000 + counter) : `${args.name}-id`;
          const answer = { id, state: { ...args.inputs, ...fakeOutputs(args.type, args.name, args.inputs, counter) } };
          answers.set(`${args.type}::${args.name}`, answer);
          return answer;
        },
        call: () => ({}),
      },
      stack.project,
      stack.stack,
      false,
    );
    // Capture what the mocks API does not pass on: parent, protect, dependencies.
    const monitor = pulumi.runtime.getMonitor() as unknown as {
      registerResource(req: RegisterRequest, cb: unknown): Promise<void>;
      newUrn(parent: string, type: string, name: string): string;
    };
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = async (req, cb) => {
      const urn = realUrn(monitor.newUrn(req.getParent(), req.getType(), req.getName()));
      byUrn.set(urn, {
        urn,
        type: req.getType(),
        name: req.getName(),
        custom: req.getCustom(),
        parent: req.getParent() ? realUrn(req.getParent()) : undefined,
        protect: Boolean(req.getProtect()),
        retainOnDelete: Boolean(req.getRetainondelete?.()),
        deleteBeforeReplace: Boolean(req.getDeletebeforereplace()),
        dependencies: req.getDependenciesList().map(realUrn),
        inputs: (req.getObject()?.toJavaScript() ?? {}) as Record<string, unknown>,
        id: undefined,
        outputs: {},
      });
      return register(req, cb);
    };
    pulumi.runtime.setAllConfig(config, secretKeys);

    const outputs = (await pulumi.runtime.runInPulumiStack(opts.program)) ?? {};
    await (pulumi.runtime as unknown as { waitForRPCs(): Promise<void> }).waitForRPCs();
    const resolved: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(outputs)) resolved[k] = pulumi.Output.isInstance(v) ? await outputValue(v) : v;

    const resources = [...byUrn.values()]
      .filter((r) => r.type !== "pulumi:pulumi:Stack")
      .map((r) => {
        const answer = r.custom ? answers.get(`${r.type}::${r.name}`) : undefined;
        return { ...r, id: answer?.id, outputs: answer?.state ?? {} };
      });
    return { stack, resources, outputs: resolved };
  } finally {
    running = false;
  }
}

/** The mock monitor puts the stack's type at the head of every type chain; the engine does not. */
function realUrn(urn: string): string {
  return urn.replace("::pulumi:pulumi:Stack$", "::");
}

interface RegisterRequest {
  getType(): string;
  getName(): string;
  getParent(): string;
  getCustom(): boolean;
  getProtect(): boolean | undefined;
  getRetainondelete?(): boolean | undefined;
  getDeletebeforereplace(): boolean;
  getDependenciesList(): string[];
  getObject(): { toJavaScript(): unknown } | undefined;
}

function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => { resolve(v); return v; }));
}
