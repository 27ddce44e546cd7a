/**
 * The policy pack as the Pulumi CLI runs it: `@pulumi/pulumi/cmd/run-policy-pack` in policy/ (ts-node compiles and
 * type-checks the TypeScript pack and the infra/ modules it imports), serving the Analyzer gRPC service whose port
 * it prints; then the engine's calls: GetAnalyzerInfo, Analyze (one resource's inputs) and AnalyzeStack (every
 * resource). What is not run here: the CLI itself (`pulumi preview --policy-pack`), which cannot be installed.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const ROOT = join(__dirname, "..", "..");
// The gRPC and protobuf modules the pack and the SDK themselves use (instanceof checks cross these modules).
const fromSdk = createRequire(require.resolve("@pulumi/pulumi"));
const grpc = createRequire(require.resolve("@pulumi/policy"))("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const services = fromSdk("./proto/analyzer_grpc_pb") as {
  AnalyzerClient: new (address: string, credentials: unknown) => AnalyzerClient;
};
const pb = fromSdk("./proto/analyzer_pb") as Record<string, new () => Message>;
const { Empty } = fromSdk("google-protobuf/google/protobuf/empty_pb") as { Empty: new () => Message };
const { Struct } = fromSdk("google-protobuf/google/protobuf/struct_pb") as {
  Struct: { fromJavaScript(v: unknown): Message };
};

type Message = Record<string, (...args: unknown[]) => unknown>;
type Callback = (err: Error | null, res: Message) => void;
interface AnalyzerClient {
  getAnalyzerInfo(req: Message, cb: Callback): void;
  analyze(req: Message, cb: Callback): void;
  analyzeStack(req: Message, cb: Callback): void;
  close(): void;
}

const MANDATORY = 1; // pulumirpc.EnforcementLevel

let pack: ChildProcess;
let client: AnalyzerClient;
const call = (method: "getAnalyzerInfo" | "analyze" | "analyzeStack", req: Message) =>
  new Promise<Message>((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res))));

beforeAll(async () => {
  pack = spawn(process.execPath, [require.resolve("@pulumi/pulumi/cmd/run-policy-pack"), "127.0.0.1:1", "."], {
    cwd: join(ROOT, "policy"),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  pack.stderr!.on("data", (d) => (stderr += String(d)));
  const port = await new Promise<string>((resolve, reject) => {
    let out = "";
    pack.stdout!.on("data", (d) => {
      out += String(d);
      const m = /^(\d+)\s*$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    pack.on("exit", (code) => reject(new Error(`the policy pack exited ${code} before serving:\n${stderr}`)));
  });
  client = new services.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 240_000);
afterAll(() => {
  client?.close();
  pack?.kill();
});

function resource(
  kind: "AnalyzeRequest" | "AnalyzerResource",
  r: { type: string; urn: string; props: unknown; protect?: boolean; parent?: string },
): Message {
  const m = new pb[kind]!();
  m.setType!(r.type);
  m.setUrn!(r.urn);
  m.setName!(r.urn.split("::").pop());
  m.setProperties!(Struct.fromJavaScript(r.props));
  const opts = new pb.AnalyzerResourceOptions!();
  opts.setProtect!(r.protect ?? false);
  m.setOptions!(opts);
  if (r.parent) m.setParent!(r.parent);
  return m;
}

const diagnostics = (res: Message) =>
  (res.getDiagnosticsList!() as Message[]).map((d) => ({
    policy: d.getPolicyname!() as string,
    level: d.getEnforcementlevel!() as number,
    message: d.getMessage!() as string,
  }));

const firewall = (stack: string) => ({
  type: "digitalocean:index/firewall:Firewall",
  urn: `urn:pulumi:${stack}::chatbot::chatbot:network:Network$digitalocean:index/firewall:Firewall::network-firewall`,
  props: {
    inboundRules: [
      { protocol: "tcp", portRange: "22", sourceAddresses: ["0.0.0.0/0"] },
      { protocol: "tcp", portRange: "6379", sourceAddresses: ["::/0"] },
    ],
  },
});

describe("the policy pack under Pulumi's policy runner", () => {
  it("serves the pack with every policy mandatory", async () => {
    const info = await call("getAnalyzerInfo", new Empty());
    expect(info.getName!()).toBe("chatbot-guardrails");
    const list = (info.getPoliciesList!() as Message[]).map((p) => [p.getName!(), p.getEnforcementlevel!()]);
    expect(list.map(([n]) => n)).toEqual([
      "prod-ssh-allowlist",
      "no-public-database-port",
      "prod-droplet-backups",
      "droplet-size-ceiling",
      "prod-stateful-protected",
      "prod-volumes-kept",
      "monthly-cost-ceiling",
    ]);
    for (const [, level] of list) expect(level).toBe(MANDATORY);
  });

  it("Analyze: a prod firewall open to the world on 22 and 6379 gets mandatory diagnostics; in dev only the database port", async () => {
    const prod = diagnostics(await call("analyze", resource("AnalyzeRequest", firewall("prod"))));
    expect(prod.map((d) => [d.policy, d.level])).toEqual([
      ["prod-ssh-allowlist", MANDATORY],
      ["prod-ssh-allowlist", MANDATORY],
      ["no-public-database-port", MANDATORY],
    ]);
    expect(prod.map((d) => d.message).join("\n")).toContain("port 22 is open to the world (0.0.0.0/0)");
    const dev = diagnostics(await call("analyze", resource("AnalyzeRequest", firewall("dev"))));
    expect(dev.map((d) => d.policy)).toEqual(["no-public-database-port"]);
  });

  it("AnalyzeStack: an unprotected prod server is refused, a protected one passes", async () => {
    const stack = (protect: boolean) => {
      const server = "urn:pulumi:prod::chatbot::chatbot:server:AppServer::app-8gb";
      const req = new pb.AnalyzeStackRequest!();
      req.setResourcesList!([
        resource("AnalyzerResource", { type: "chatbot:server:AppServer", urn: server, props: {} }),
        resource("AnalyzerResource", {
          type: "digitalocean:index/droplet:Droplet",
          urn: "urn:pulumi:prod::chatbot::chatbot:server:AppServer$digitalocean:index/droplet:Droplet::app-8gb-droplet",
          props: { size: "s-4vcpu-8gb", backups: true },
          protect,
          parent: server,
        }),
        resource("AnalyzerResource", {
          type: "digitalocean:index/volume:Volume",
          urn: "urn:pulumi:prod::chatbot::chatbot:server:AppServer$digitalocean:index/volume:Volume::app-8gb-volume",
          props: { size: 100 },
          protect,
          parent: server,
        }),
      ]);
      return req;
    };
    expect(diagnostics(await call("analyzeStack", stack(true)))).toEqual([]);
    expect(diagnostics(await call("analyzeStack", stack(false))).map((d) => d.policy)).toEqual([
      "prod-stateful-protected",
      "prod-volumes-kept",
    ]);
  });
});
