/**
 * What the mocks answer when the program registers a resource: the id and state the engine would hand back.
 *
 * - A resource already in the deployed state keeps its id and outputs, as the engine does for an existing resource
 *   (updated inputs overlaid on an update); a replaced one gets a new id.
 * - A new resource gets a fake id and plausible outputs (documentation address ranges) derived from its URN, never
 *   from a counter, so adding a resource does not shift the others'. Droplet ids are numeric strings.
 * - A host key (tls.PrivateKey, ED25519) answers with a real ED25519 public key derived from the URN, and a private
 *   key that is only a marked placeholder: the offline plan never holds a usable private host key.
 * - The tier migration's command answers with the result line a successful run prints (infra/migration/result-line.ts),
 *   committed at the plan's clock, the old server following the new primary a second later (a switch back says so).
 * - A managed cluster's CA (the provider function getDatabaseCa) is a marked placeholder certificate.
 */
import { createHash, createPrivateKey, createPublicKey } from "node:crypto";
import { formatMigrationResult } from "../migration/result-line";
import { secretsFromExport } from "./secret-values";
import type { DeployedResource } from "./state-file";
import { isMigrationCommand } from "./state-diff";

const DROPLET = "digitalocean:index/droplet:Droplet";

function hash(seed: string): number {
  return parseInt(createHash("sha256").update(seed).digest("hex").slice(0, 8), 16);
}

/** Addresses handed out from a small range: the URN picks the start, taken ones are skipped. */
class AddressPool {
  private readonly taken = new Set<string>();
  constructor(
    private readonly prefix: string,
    private readonly first: number,
    private readonly size: number,
  ) {}

  reserve(address: unknown): void {
    if (typeof address === "string") this.taken.add(address);
  }

  allocate(seed: string): string {
    const start = hash(seed) % this.size;
    for (let i = 0; i < this.size; i++) {
      const a = `${this.prefix}${this.first + ((start + i) % this.size)}`;
      if (!this.taken.has(a)) {
        this.taken.add(a);
        return a;
      }
    }
    throw new Error(`fake cloud: no free address left in ${this.prefix}${this.first}-${this.first + this.size - 1}`);
  }
}

/** The offline plan's stand-in for a private host key: cloud-init accepts the string, nothing can use it. */
export const FAKE_PRIVATE_HOST_KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\n(placeholder of the offline plan: the stack generates the real key)\n-----END OPENSSH PRIVATE KEY-----\n";

/** An ED25519 key pair's outputs as the tls provider names them, the public half real and derived from `seed`. */
function fakeHostKey(seed: string): Record<string, unknown> {
  const pkcs8 = Buffer.concat([
    Buffer.from("302e020100300506032b657004220420", "hex"),
    createHash("sha256").update(seed).digest(),
  ]);
  const jwk = createPublicKey(createPrivateKey({ key: pkcs8, format: "der", type: "pkcs8" })).export({ format: "jwk" });
  const raw = Buffer.from(String(jwk.x), "base64url");
  const wire = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  const blob = Buffer.concat([wire(Buffer.from("ssh-ed25519")), wire(raw)]);
  return {
    algorithm: "ED25519",
    publicKeyOpenssh: `ssh-ed25519 ${blob.toString("base64")}\n`,
    privateKeyOpenssh: FAKE_PRIVATE_HOST_KEY,
  };
}

/** The offline plan's stand-in for a managed cluster's CA (getDatabaseCa): PEM-shaped, signs nothing. */
export const FAKE_DATABASE_CA =
  "-----BEGIN CERTIFICATE-----\n(placeholder of the offline plan: the provider reads the cluster's real CA)\n-----END CERTIFICATE-----\n";

/** What the mocks answer for a provider function (an invoke): the managed cluster's CA, else nothing. */
export function answerCall(args: { token: string; inputs: Record<string, unknown> }): Record<string, unknown> {
  if (args.token === "digitalocean:index/getDatabaseCa:getDatabaseCa")
    return { certificate: FAKE_DATABASE_CA, clusterId: args.inputs.clusterId, id: args.inputs.clusterId };
  return {};
}

export interface Answer {
  id: string;
  state: Record<string, unknown>;
}

export class FakeCloud {
  private readonly publicIps = new AddressPool("203.0.113.", 10, 240);
  private readonly privateIps = new AddressPool("10.10.0.", 10, 240);
  private readonly reservedIps = new AddressPool("198.51.100.", 1, 250);
  private readonly balancerIps = new AddressPool("192.0.2.", 1, 250);

  constructor(
    private readonly now: Date,
    deployed: readonly DeployedResource[] = [],
  ) {
    for (const r of deployed) {
      this.publicIps.reserve(r.outputs.ipv4Address);
      this.privateIps.reserve(r.outputs.ipv4AddressPrivate);
      this.reservedIps.reserve(r.outputs.ipAddress);
      this.balancerIps.reserve(r.outputs.ip);
    }
  }

  /**
   * The answer for a registration. `deployed` is the state resource it continues and `op` what the diff says;
   * a replacement's id is derived from the old id too, so it differs from the one it replaces.
   */
  answer(
    r: { urn: string; type: string; name: string; inputs: Record<string, unknown> },
    deployed?: { resource: DeployedResource; op: "same" | "update" | "replace" },
  ): Answer {
    if (deployed && deployed.op !== "replace") {
      const outputs = secretsFromExport(deployed.resource.outputs) as Record<string, unknown>;
      return { id: deployed.resource.id ?? "", state: deployed.op === "same" ? outputs : { ...outputs, ...r.inputs } };
    }
    const seed = deployed ? `${r.urn}#replaces:${deployed.resource.id ?? ""}` : r.urn;
    const h = hash(seed);
    const id =
      r.type === DROPLET
        ? String(100_000_000 + (h % 900_000_000))
        : deployed
          ? `${r.name}-id-${h.toString(16).padStart(8, "0")}`
          : `${r.name}-id`;
    return { id, state: { ...r.inputs, ...this.outputs(r.type, r.name, r.inputs, id, seed) } };
  }

  private outputs(
    type: string,
    name: string,
    inputs: Record<string, unknown>,
    id: string,
    seed: string,
  ): Record<string, unknown> {
    switch (type) {
      case DROPLET:
        return {
          ipv4Address: this.publicIps.allocate(seed),
          ipv4AddressPrivate: this.privateIps.allocate(seed),
          dropletUrn: `do:droplet:${id}`,
          status: "active",
        };
      case "digitalocean:index/volume:Volume":
        return { volumeUrn: `do:volume:${id}` };
      case "digitalocean:index/reservedIp:ReservedIp": {
        const ip = this.reservedIps.allocate(seed);
        return { ipAddress: ip, reservedIpUrn: `do:reservedip:${ip}` };
      }
      case "digitalocean:index/domain:Domain":
        return { domainUrn: `do:domain:${String(inputs.name)}` };
      case "digitalocean:index/vpc:Vpc":
        return { ipRange: inputs.ipRange ?? "10.10.0.0/20", vpcUrn: `do:vpc:${id}` };
      case "digitalocean:index/dnsRecord:DnsRecord":
        return { fqdn: `${String(inputs.name)}.${String(inputs.domain)}` };
      case "random:index/randomPassword:RandomPassword":
        return { result: `mock-password-${name}` };
      case "command:remote:Command":
        return { stdout: "", stderr: "" };
      case "tls:index/privateKey:PrivateKey":
        return fakeHostKey(seed);
      case "command:local:Command":
        return { stdout: isMigrationCommand(type, name) ? this.migrationResult(inputs, seed) : "", stderr: "" };
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
          clusterUrn: `do:dbaas:${id}`,
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
        return { ip: this.balancerIps.allocate(seed), loadBalancerUrn: `do:loadbalancer:${id}` };
      default:
        return {};
    }
  }

  /** The line `npm run migrate` prints when it finishes: what a successful `pulumi up` leaves in the command's stdout. */
  private migrationResult(inputs: Record<string, unknown>, seed: string): string {
    const create = typeof inputs.create === "string" ? inputs.create : "";
    const flag = (name: string) => new RegExp(`--${name}[ =](\\S+)`).exec(create)?.[1] ?? "";
    const at = this.now.toISOString();
    // A tier migration's old server follows the new primary a moment after the commit; the move onto scale-out's
    // does not (the managed engines have no standby on the droplet).
    const tier = /\bscripts\/migrate\.ts /.test(create);
    const following = new Date(this.now.getTime() + 1000).toISOString();
    return formatMigrationResult({
      id: `mig-${hash(seed).toString(16).padStart(8, "0")}`,
      state: "done",
      from: flag("from"),
      to: flag("to"),
      strategy: "replicate",
      committedAt: at,
      finishedAt: tier ? following : at,
      resumed: false,
      ...(/ --switch-back\b/.test(create) ? { switchBack: true as const } : {}),
      ...(tier ? { followingSince: following } : {}),
    });
  }
}
