# shellcheck shell=bash
# Scale-out migration steps: logical replication from this droplet's PostgreSQL (the publisher) into the managed
# PostgreSQL cluster (the subscriber), the cutover, and the cache warm-up into managed Valkey. One step per call:
#
#   logical.sh <step> [args...]
#
# Every step runs ON the single droplet (the source), sent over ssh as standard input (`bash -s -- <step> args`) by
# the runner, after the prelude (logical-common.sh) and the step files: infra/migration/steps.ts lists the files in
# order and infra/scale-out-migration/commands.ts builds the exact command lines. The managed cluster is reached
# from here with psql, so it needs no ssh. Everything runs inside main(), so no command can read the rest of the
# script from stdin.
#
# The cutover keeps every request: the droplet's proxy (Caddy, scripts/droplet/proxy-switch.sh, which follows this
# script on standard input for `cutover` and `unfence` and is run with bash, never sourced) holds them while the source
# is fenced and the subscriber catches up. The gate is on the app droplets' side, as in the tier migration: the
# runner closes their internal listeners (proxy-switch.sh gate close, over ssh to each) before the fence, and opens
# them right after the cutover step. So the Caddy that holds the requests is never reloaded at the commit point (a reload
# ends the old config's retry loop: the held requests would get a 502).
#   cutover   (one round trip) a subscriber session and a source session connect first; then the public site forwards
#             to the app droplets' closed listeners (proxy-switch.sh hold: Caddy retries a refused connection every
#             100 ms, drains the local app), the fence, the marker wait and setval, then the commit record
#             ($CONFIG_DIR/scale-out-switched). Its success is the commit point: the runner opens the app droplets'
#             gates next. Nothing in it grows with the data.
#   state     (read-only) what an earlier run left: the commit record, the fence, publication, slot, subscription
#             (preflight prints the same keys first: a run refuses to start on an earlier one's leftovers).
#   counts    (after the commit point) every published table's exact row count on the source and the cluster.
#   unfence [keep-hold]
#             (rollback) exit 7, touching nothing, if the cutover wrote its commit record; else the source takes
#             writes again and the public site forwards to the local app again (proxy-switch.sh local: a reload, so
#             the requests it holds then get Caddy's 502, never applied: a refused connection only). With keep-hold
#             the site keeps holding: the runner bounces the held requests back here first, then runs `local`.
#
# Output: `key=value` lines on stdout, human progress on stderr.
# Exit codes: 0 ok, 1 error, 3 timeout (nothing changed that a rollback cannot undo), 7 unfence or rollback_target
# found the switch done.

main() {
  STEP="${1:?usage: logical.sh <step> [args...]}"
  shift
  load_env
  case "$STEP" in
    preflight | schema | publish | subscribe | sync | lag | cutover | counts | finish | \
      rollback_target | unfence | cache_warm | state) "step_$STEP" "$@" ;;
    *) die "unknown step '$STEP'" ;;
  esac
}

# bash reads this script from standard input; what follows it there (cutover and unfence: proxy-switch.sh) is
# read by that step to the end, or the step dies first: it is never run as commands.
main "$@"
