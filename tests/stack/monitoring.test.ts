/**
 * Wiring of the Monitoring component under Pulumi mocks: resource types, names, parents, inputs, and that the Slack
 * webhook reaches the provider only as a secret.
 */
import * as pulumi from "@pulumi/pulumi";
import { beforeAll, describe, expect, it } from "vitest";
import { checkMonitorAlert, checkUptimeAlert, checkUptimeCheck } from "../../infra/provider-rules";

interface Created {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
  parent?: string;
}

const SECRET_SIG = "4dabf18193072939515e22adb298388d";
const created: Created[] = [];

// The mocks are in place at once; the promise is awaited before the program is imported.
const mocksReady = pulumi.runtime.setMocks(
  {
    newResource(args) {
      created.push({ type: args.type, name: args.name, inputs: args.inputs, ...(args.custom ? {} : {}) });
      return { id: `${args.name}-id`, state: args.inputs };
    },
    call(args) {
      return args.inputs;
    },
  },
  "chatbot",
  "test",
  false,
);

let Monitoring: typeof import("../../infra/components/monitoring").Monitoring;

function outputValue<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply(resolve));
}

async function settle(): Promise<void> {
  // Let the mock monitor register every child resource.
  await new Promise((r) => setTimeout(r, 50));
}

function isSecretWrapped(value: unknown): value is { value: unknown } {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SECRET_SIG] !== undefined;
}

beforeAll(async () => {
  await mocksReady;
  ({ Monitoring } = await import("../../infra/components/monitoring"));
});

describe("Monitoring component", () => {
  it("creates five monitor alerts, one uptime check and two uptime alerts, all children of the component", async () => {
    created.length = 0;
    const m = new Monitoring("mon", {
      dropletIds: ["123456", pulumi.output("654321")],
      domain: "chat.example.com",
      healthPath: "/healthz",
      alertEmails: ["ops@example.com"],
      tier: "8gb",
    });
    await outputValue(pulumi.all([...m.monitorAlertIds, m.uptimeCheckId, ...m.uptimeAlertIds]));
    await settle();
    // Registration order is asynchronous: compare sorted names.
    const byType = (t: string) =>
      created
        .filter((c) => c.type === t)
        .map((c) => c.name)
        .sort();
    expect(byType("chatbot:monitoring:Monitoring")).toEqual(["mon"]);
    expect(byType("digitalocean:index/monitorAlert:MonitorAlert")).toEqual([
      "mon-cpu-high",
      "mon-disk-high",
      "mon-load-high",
      "mon-memory-critical",
      "mon-memory-warning",
    ]);
    expect(byType("digitalocean:index/uptimeCheck:UptimeCheck")).toEqual(["mon-health"]);
    expect(byType("digitalocean:index/uptimeAlert:UptimeAlert")).toEqual(["mon-down", "mon-latency"]);

    const cpu = created.find((c) => c.name === "mon-cpu-high")!;
    expect(cpu.inputs).toMatchObject({
      type: "v1/insights/droplet/cpu",
      compare: "GreaterThan",
      value: 85,
      window: "1h",
      entities: ["123456", "654321"],
      alerts: { emails: ["ops@example.com"], slacks: [] },
    });
    expect(isSecretWrapped(cpu.inputs.alerts)).toBe(false);
    const load = created.find((c) => c.name === "mon-load-high")!;
    expect(load.inputs.value).toBe(4); // 8gb has 4 vCPUs

    const check = created.find((c) => c.name === "mon-health")!;
    expect(check.inputs).toMatchObject({ target: "https://chat.example.com/healthz", type: "https" });
    const latency = created.find((c) => c.name === "mon-latency")!;
    expect(latency.inputs).toMatchObject({
      checkId: "mon-health-id",
      type: "latency",
      comparison: "greater_than",
      threshold: 2000,
      notifications: [{ emails: ["ops@example.com"], slacks: [] }],
    });
  });

  it("parents every child to the component", async () => {
    const m = new Monitoring("par", {
      dropletIds: ["1"],
      domain: "a.example.com",
      healthPath: "/",
      alertEmails: ["a@example.com"],
      tier: "4gb",
    });
    const children = [...m.monitorAlerts, m.uptimeCheck, ...m.uptimeAlerts];
    const urns = await outputValue(pulumi.all(children.map((c) => c.urn)));
    expect(urns).toHaveLength(8);
    // A child's URN carries its parent's type before its own: <parent type>$<child type>::<name>.
    for (const urn of urns) expect(urn).toMatch(/::chatbot:monitoring:Monitoring\$digitalocean:index\/\w+:\w+::par-/);
  });

  it("sends the Slack webhook as a secret, in one notifications block with the emails", async () => {
    created.length = 0;
    const m = new Monitoring("slk", {
      dropletIds: ["42"],
      domain: "chat.example.com",
      healthPath: "/healthz",
      alertEmails: ["ops@example.com", "cto@example.com"],
      slackWebhookUrl: "https://hooks.slack.com/services/T000/B000/XXXX",
      slackChannel: "#alerts",
      tier: "4gb",
    });
    await outputValue(pulumi.all([...m.monitorAlertIds, ...m.uptimeAlertIds]));
    await settle();
    const mem = created.find((c) => c.name === "slk-memory-critical")!;
    // Secretness propagates to the whole `alerts` block: the provider receives it marked secret, so the state and
    // the preview never show the webhook in plain text.
    expect(isSecretWrapped(mem.inputs.alerts)).toBe(true);
    const alerts = (mem.inputs.alerts as { value: { emails: string[]; slacks: { channel: string; url: string }[] } })
      .value;
    expect(alerts.emails).toEqual(["ops@example.com", "cto@example.com"]);
    expect(alerts.slacks).toEqual([{ channel: "#alerts", url: "https://hooks.slack.com/services/T000/B000/XXXX" }]);

    const down = created.find((c) => c.name === "slk-down")!;
    expect(isSecretWrapped(down.inputs.notifications)).toBe(true);
    const notifications = (down.inputs.notifications as { value: { emails: string[]; slacks: unknown[] }[] }).value;
    expect(notifications).toHaveLength(1);
    expect(notifications[0]!.slacks).toHaveLength(1);
    expect(notifications[0]!.emails).toHaveLength(2);
    expect(down.inputs.comparison).toBeUndefined();
    const outputs = await outputValue(pulumi.all(m.uptimeAlertIds));
    expect(outputs).toEqual(["slk-latency-id", "slk-down-id"]);
  });

  it("what reaches the provider passes its validation (infra/provider-rules/)", async () => {
    created.length = 0;
    const m = new Monitoring("chk", {
      dropletIds: ["777"],
      domain: "chat.example.com",
      healthPath: "/healthz",
      alertEmails: ["ops@example.com"],
      slackWebhookUrl: pulumi.secret("https://hooks.slack.com/services/T/B/X"),
      slackChannel: "#ops",
      tier: "16gb",
    });
    await outputValue(pulumi.all([...m.monitorAlertIds, m.uptimeCheckId, ...m.uptimeAlertIds]));
    await settle();
    const unwrap = (v: unknown) => (isSecretWrapped(v) ? v.value : v);
    const inputs = (type: string) =>
      created
        .filter((c) => c.type === type)
        .map((c) => Object.fromEntries(Object.entries(c.inputs).map(([k, v]) => [k, unwrap(v)])));
    const monitors = inputs("digitalocean:index/monitorAlert:MonitorAlert");
    expect(monitors).toHaveLength(5);
    for (const a of monitors) expect(checkMonitorAlert(a)).toEqual([]);
    for (const a of inputs("digitalocean:index/uptimeAlert:UptimeAlert")) expect(checkUptimeAlert(a)).toEqual([]);
    for (const c of inputs("digitalocean:index/uptimeCheck:UptimeCheck")) expect(checkUptimeCheck(c)).toEqual([]);
  });

  it("rejects a bad configuration before creating anything", () => {
    expect(
      () =>
        new Monitoring("bad", {
          dropletIds: ["1"],
          domain: "chat.example.com",
          healthPath: "/h",
          alertEmails: [],
          slackChannel: "#x",
          tier: "4gb",
        }),
    ).toThrow(/alertEmails: at least one[\s\S]*slackChannel: set, but no Slack webhook/);
  });
});
