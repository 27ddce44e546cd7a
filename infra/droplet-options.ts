/**
 * Resource options every droplet of the program gets, as plain values: the components apply them and the cost of a
 * change (infra/cost/diff.ts) reads the same list, so the pull-request comment agrees with what `pulumi up` does.
 */

/**
 * Droplet inputs Pulumi ignores once the droplet exists (`ignoreChanges`). DigitalOcean replaces a droplet whose
 * `sshKeys` change (ForceNew in the provider: a new disk), and the keys only reach the droplet through cloud-init at
 * its first boot, so a rotated key list must never replace a serving droplet. Droplets created later (a tier
 * migration's target, a new scale-out app droplet) get the current list; running ones keep the keys they booted with:
 * the config sync does not manage `authorized_keys` (README, "What changes what").
 */
export const DROPLET_IGNORE_CHANGES = ["sshKeys"] as const;
