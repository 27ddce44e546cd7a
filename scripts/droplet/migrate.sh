# shellcheck shell=bash
# Tier migration steps that run ON a droplet (old or new), one step per call:
#
#   migrate.sh <step> [args...]
#
# Sent over ssh as standard input (`bash -s -- <step> args`, behind the loader line of remote-bash.ts's
# scriptStdin) by the migration runner, after the prelude
# (migrate-common.sh) and the step files: infra/migration/steps.ts lists the files in order and
# infra/migration/commands.ts builds the exact command lines. Nothing needs to be installed first; everything runs
# inside main() so no command can swallow the rest of the script from stdin.
#
# Output: machine-readable `key=value` lines on stdout, human progress on stderr.
# Exit codes: 0 ok, 1 error, 3 budget/timeout (nothing changed that a rollback cannot undo), 4 promote refused
# (the standby had not replayed the fence point: the old server may be restarted), 5 commit point uncertain,
# 6 the migration lock is held by another run (or no longer by this one), 7 rollback refused: this droplet's copy
# was already promoted (the commit point was passed even if the journal did not record it).

main() {
  STEP="${1:-}"
  [ -n "$STEP" ] || die "usage: migrate.sh <step> [args]"
  shift
  load_env
  case "$STEP" in
    preflight | backup | pg_trust | standby | drop_slot | redis_replica | lag | catchup | checkpoint | fence | promote | redis_failover | redis_follow | redis_trust | \
      redis_promote | forget_primary | follow | follower | counts | health | freeze | unfreeze | dump_restore | rollback_old | rollback_new | retire | \
      claim_target | journal_read | journal_write | lock_acquire | lock_heartbeat | lock_release)
      "step_$STEP" "$@"
      ;;
    *) die "unknown step '$STEP'" ;;
  esac
}

# bash reads this script from standard input; what follows it there (journal_write: the journal; fence and promote
# with their proxy action: proxy-switch.sh) is read by that step to the end, or the step dies first: it is never run
# as commands.
main "$@"
