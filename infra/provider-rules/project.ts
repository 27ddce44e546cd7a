/**
 * Provider rules for projects and the resources assigned to them. Sources (TF, SDK, API, GODO) and how to read them:
 * see ./index.ts.
 */
import { TF, list, oneOf } from "./checks";

export const PROJECT = {
  source: `${TF} digitalocean/project/resource_project.go@221121957d32654dca994bf8e151c9280f48aa76, project/resource_project_resources.go@48a186e1`,
  // name: NoZeroValues + StringLenBetween(1, 175). description, purpose: StringLenBetween(0, 255).
  nameMaxLength: 175,
  descriptionMaxLength: 255,
  purposeMaxLength: 255,
  // environment: StringInSlice(…, ignoreCase=true) + case-insensitive diff suppression, so "production" and the
  // API's "Production" (API projects/models/project.yml enum) are both fine.
  environments: ["Development", "Staging", "Production"] as const,
  // purpose: free text to the provider (default "Web Application"). The API keeps these as-is and stores anything
  // else as "Other: <text>" (the provider strips the prefix on read).
  purposes: [
    "Just trying out DigitalOcean",
    "Class project / Educational purposes",
    "Website or blog",
    "Web Application",
    "Service or API",
    "Mobile Application",
    "Machine learning / AI / Data processing",
    "IoT",
    "Operational / Developer tooling",
  ] as const,
  // resources: DO URNs "do:<type>:<id>" (API projects/models/project_assignment.yml pattern ^do:.*:.*; godo
  // strings.go ToURN lower-cases the type; godo reserved_ips.go: ToURN("ReservedIP", ip) -> do:reservedip:<ip>).
  // Type names other than droplet and reservedip are from godo's URN() methods as remembered: unconfirmed
  // (volume, floatingip, domain, loadbalancer, dbaas, kubernetes, app, space).
  urnTypes: [
    "droplet",
    "volume",
    "reservedip",
    "floatingip",
    "domain",
    "loadbalancer",
    "dbaas",
    "kubernetes",
    "app",
    "space",
  ] as const,
  urnPattern: /^do:([a-z]+):(\S+)$/,
  // The DO URN of each resource is a differently named output: dropletUrn, volumeUrn, reservedIpUrn, domainUrn,
  // loadBalancerUrn, clusterUrn (DatabaseCluster), vpcUrn (SDK *.d.ts). `resource.urn` is Pulumi's URN.
  urnOutputs: {
    Droplet: "dropletUrn",
    Volume: "volumeUrn",
    ReservedIp: "reservedIpUrn",
    Domain: "domainUrn",
    LoadBalancer: "loadBalancerUrn",
    DatabaseCluster: "clusterUrn",
  } as const,
  forceNew: [] as const,
} as const;

export const PROJECT_RESOURCES = {
  source: PROJECT.source,
  // project (ID) is ForceNew; removed resources go back to the default project.
  forceNew: ["project"] as const,
} as const;

export function isValidProjectEnvironment(env: string): boolean {
  return PROJECT.environments.some((e) => e.toLowerCase() === env.toLowerCase());
}

export function isValidProjectName(name: string): boolean {
  return name.length >= 1 && name.length <= PROJECT.nameMaxLength;
}

export function isValidProjectResourceUrn(urn: string): boolean {
  const m = PROJECT.urnPattern.exec(urn);
  return m !== null && (PROJECT.urnTypes as readonly string[]).includes(m[1] ?? "");
}

export function checkProject(p: {
  name?: unknown;
  description?: unknown;
  purpose?: unknown;
  environment?: unknown;
  resources?: unknown;
}): string[] {
  const out: string[] = [];
  if (p.name !== undefined && !(typeof p.name === "string" && isValidProjectName(p.name)))
    out.push(`name: must be 1-${PROJECT.nameMaxLength} characters`);
  if (
    p.description !== undefined &&
    !(typeof p.description === "string" && p.description.length <= PROJECT.descriptionMaxLength)
  )
    out.push(`description: at most ${PROJECT.descriptionMaxLength} characters`);
  if (p.purpose !== undefined && !(typeof p.purpose === "string" && p.purpose.length <= PROJECT.purposeMaxLength))
    out.push(`purpose: at most ${PROJECT.purposeMaxLength} characters`);
  if (p.environment !== undefined) oneOf("environment", p.environment, PROJECT.environments, out, true);
  if (p.resources !== undefined) {
    if (!Array.isArray(p.resources)) out.push("resources: must be a list of DO URNs");
    else
      for (const u of p.resources) {
        if (typeof u !== "string" || !isValidProjectResourceUrn(u)) {
          out.push(
            `resources: ${JSON.stringify(u)} is not a DO URN "do:<type>:<id>" (type one of ${list(PROJECT.urnTypes)}); use e.g. droplet.dropletUrn, not droplet.urn`,
          );
        }
      }
  }
  return out;
}
