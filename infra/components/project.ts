import * as digitalocean from "@pulumi/digitalocean";
import * as pulumi from "@pulumi/pulumi";

export interface ProjectGroupArgs {
  name: string;
  environment: "dev" | "prod";
  /** URNs of the DigitalOcean resources to group (droplets, volumes, reserved IPs, domains). */
  resources: pulumi.Input<string>[];
}

/** A DigitalOcean project grouping the stack's resources in the control panel. */
export class ProjectGroup extends pulumi.ComponentResource {
  readonly project: digitalocean.Project;

  constructor(name: string, args: ProjectGroupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("chatbot:project:ProjectGroup", name, {}, opts);
    this.project = new digitalocean.Project(
      `${name}-project`,
      {
        name: args.name,
        description: "FastAPI chatbot with PostgreSQL and Redis",
        purpose: "Web Application",
        environment: args.environment === "prod" ? "Production" : "Development",
        resources: args.resources,
      },
      { parent: this },
    );
    this.registerOutputs({ projectId: this.project.id });
  }
}
