/**
 * What the DigitalOcean provider really accepts, as data, plus small pure checkers: one module per resource family
 * (droplet and volume, network and firewall, load balancer, databases, monitoring, DNS and reserved IPs, project),
 * the regions, and the input types and replacing changes per Pulumi type token. This index re-exports them.
 *
 * Mocks accept anything: a droplet id passed as a string, an enum spelled the way the Pulumi SDK docs print it, a
 * firewall rule with protocol "http" all pass a mocked run and fail the first real `pulumi up`. Every rule in these
 * modules cites the file it comes from. Sources:
 *
 *   TF  = github.com/digitalocean/terraform-provider-digitalocean (what @pulumi/digitalocean bridges; schema
 *         validation, ForceNew and CustomizeDiff live here). Commits are those of the stored copy that was read;
 *         @pulumi/digitalocean 4.80.1 bridges a newer upstream (its droplet has `gpuPartitionMode`,
 *         `publicNetworking`), so a rule can have moved since: re-check before relying on an edge.
 *   SDK = node_modules/@pulumi/digitalocean 4.80.1 (*.d.ts): which inputs are `number` and which `string`.
 *   API = github.com/digitalocean/openapi specification/… (what the API itself says; the provider does not check it,
 *         so a violation passes `pulumi preview` and fails at create time).
 *   GODO = github.com/digitalocean/godo (constants the provider validates against).
 *
 * Anything not confirmed from a source is marked `unconfirmed` in a comment.
 *
 * Planning code: imports nothing from Pulumi.
 */
export { isIPv4, isIpOrCidr } from "./checks";
export {
  isRegionOpenForNewDroplets,
  isValidRegion,
  REGION_SLUGS,
  REGIONS,
  REGIONS_OPEN_FOR_NEW_DROPLETS,
  type RegionSlug,
  type RegionStatus,
} from "./regions";
export {
  checkFirewall,
  checkFirewallRule,
  checkVpcIpRange,
  FIREWALL,
  isValidFirewallName,
  isValidPortRange,
  isValidTagName,
  isValidVpcName,
  TAG,
  VPC,
} from "./network";
export {
  checkDroplet,
  checkDropletAutoscaleConfig,
  checkVolumeResize,
  DROPLET,
  DROPLET_AUTOSCALE,
  dropletForceNewInputs,
  type DropletInputs,
  isPortableDropletName,
  isValidBackupHour,
  isValidDropletName,
  isValidSshKeyRef,
  isValidVolumeName,
  isValidVolumeSize,
  userDataBytes,
  VOLUME,
  VOLUME_ATTACHMENT,
} from "./droplet";
export {
  checkDnsRecord,
  DNS_RECORD,
  type DnsRecordInputs,
  DOMAIN,
  isValidDnsRecordType,
  RESERVED_IP,
  RESERVED_IP_ASSIGNMENT,
} from "./dns-and-reserved-ips";
export {
  checkProject,
  isValidProjectEnvironment,
  isValidProjectName,
  isValidProjectResourceUrn,
  PROJECT,
  PROJECT_RESOURCES,
} from "./project";
export {
  checkMonitorAlert,
  checkUptimeAlert,
  checkUptimeCheck,
  isValidMonitorAlertType,
  MONITOR_ALERT,
  UPTIME_ALERT,
  UPTIME_CHECK,
} from "./monitoring";
export { CERTIFICATE, checkCertificate, checkLoadBalancer, LOAD_BALANCER } from "./load-balancer";
export {
  checkConnectionPool,
  checkDatabaseCluster,
  checkDatabaseFirewallRule,
  DATABASE_CLUSTER,
  DATABASE_CONNECTION_POOL,
  DATABASE_FIREWALL,
  isValidDatabaseEngine,
  isValidDatabaseSizeSlug,
} from "./databases";
export { checkInputTypes, FORCE_NEW_INPUTS, INPUT_KINDS, type InputKind, replacingChanges } from "./inputs";
