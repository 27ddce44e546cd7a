/**
 * Alerts as code: DigitalOcean monitor alerts on the stack's droplets, an uptime check on the health endpoint, and
 * latency / down alerts on that check, all notifying the same emails (and Slack when configured).
 *
 * The plan (thresholds, windows, enum values) is infra/alerts.ts; this component only wires it into resources.
 */
import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";
import { dropletEntityId, planAlerts, type AlertPlan } from "../alerts";
import type { TierName } from "../tiers";

export interface MonitoringArgs {
  /** The droplets the monitor alerts watch (`droplet.id`). Changing them updates the alerts in place. */
  dropletIds: pulumi.Input<string>[];
  /** Public host name of the app; the uptime check probes `https://<domain><healthPath>`. */
  domain: string;
  /** Health endpoint path, starting with "/". */
  healthPath: string;
  /** Where every alert is sent. At least one address. */
  alertEmails: string[];
  /** Slack incoming-webhook URL (a secret). @default no Slack notifications */
  slackWebhookUrl?: pulumi.Input<string>;
  /** Slack channel, required with slackWebhookUrl. */
  slackChannel?: string;
  /** The stack's tier: the load alert's threshold is the tier's vCPU count. */
  tier: TierName;
}

export class Monitoring extends pulumi.ComponentResource {
  readonly monitorAlerts: digitalocean.MonitorAlert[];
  readonly uptimeCheck: digitalocean.UptimeCheck;
  readonly uptimeAlerts: digitalocean.UptimeAlert[];
  readonly monitorAlertIds: pulumi.Output<string>[];
  readonly uptimeCheckId: pulumi.Output<string>;
  readonly uptimeAlertIds: pulumi.Output<string>[];

  constructor(name: string, args: MonitoringArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:monitoring:Monitoring", name, {}, opts);
    const plan = planAlerts({
      tier: args.tier,
      domain: args.domain,
      healthPath: args.healthPath,
      alertEmails: args.alertEmails,
      slackConfigured: args.slackWebhookUrl !== undefined,
      ...(args.slackChannel !== undefined ? { slackChannel: args.slackChannel } : {}),
    });
    const slacks = this.normalizeSlack(plan, args.slackWebhookUrl);
    const entities = args.dropletIds.map((id) => pulumi.output(id).apply(dropletEntityId));

    this.monitorAlerts = this.createMonitorAlerts(name, plan, entities, slacks);
    this.uptimeCheck = this.createUptimeCheck(name, plan);
    this.uptimeAlerts = this.createUptimeAlerts(name, plan, this.uptimeCheck, slacks);
    this.monitorAlertIds = this.monitorAlerts.map((a) => a.id);
    this.uptimeCheckId = this.uptimeCheck.id;
    this.uptimeAlertIds = this.uptimeAlerts.map((a) => a.id);

    this.registerOutputs({
      monitorAlertIds: this.monitorAlertIds,
      uptimeCheckId: this.uptimeCheckId,
      uptimeAlertIds: this.uptimeAlertIds,
    });
  }

  private normalizeSlack(
    plan: AlertPlan,
    url: pulumi.Input<string> | undefined,
  ): { channel: string; url: pulumi.Output<string> }[] {
    if (url === undefined || plan.slackChannel === undefined) return [];
    return [{ channel: plan.slackChannel, url: pulumi.secret(url) }];
  }

  private createMonitorAlerts(
    name: string,
    plan: AlertPlan,
    entities: pulumi.Output<string>[],
    slacks: { channel: string; url: pulumi.Output<string> }[],
  ): digitalocean.MonitorAlert[] {
    return plan.monitorAlerts.map(
      (a) =>
        new digitalocean.MonitorAlert(
          `${name}-${a.key}`,
          {
            type: a.type,
            compare: a.compare,
            value: a.value,
            window: a.window,
            description: a.description,
            enabled: true,
            entities,
            alerts: { emails: plan.emails, slacks },
          },
          { parent: this },
        ),
    );
  }

  private createUptimeCheck(name: string, plan: AlertPlan): digitalocean.UptimeCheck {
    const c = plan.uptimeCheck;
    return new digitalocean.UptimeCheck(
      `${name}-health`,
      { name: c.name, target: c.target, type: c.type, regions: c.regions, enabled: true },
      { parent: this },
    );
  }

  private createUptimeAlerts(
    name: string,
    plan: AlertPlan,
    check: digitalocean.UptimeCheck,
    slacks: { channel: string; url: pulumi.Output<string> }[],
  ): digitalocean.UptimeAlert[] {
    // The provider reads only the first `notifications` block: emails and Slack go in one element.
    const notifications = [{ emails: plan.emails, slacks }];
    return plan.uptimeAlerts.map(
      (a) =>
        new digitalocean.UptimeAlert(
          `${name}-${a.key}`,
          {
            checkId: check.id,
            name: a.name,
            type: a.type,
            period: a.period,
            ...(a.comparison !== undefined ? { comparison: a.comparison } : {}),
            ...(a.threshold !== undefined ? { threshold: a.threshold } : {}),
            notifications,
          },
          { parent: this },
        ),
    );
  }
}
