/**
 * The CrossGuard policy pack: `pulumi preview --policy-pack policy` / `pulumi up --policy-pack policy` (the deploy,
 * drift and cost workflows pass it). Every policy is mandatory: a violation stops the update.
 */
import { PolicyPack } from "@pulumi/policy";
import { PACK_NAME, policies } from "./policies";

new PolicyPack(PACK_NAME, {
  description:
    "Guardrails of the chatbot stacks: SSH allowlist, no public database port, backups, protection, volumes kept, size and cost ceilings",
  enforcementLevel: "mandatory",
  policies,
});
