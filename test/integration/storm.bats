#!/usr/bin/env bats
# The storm (issue 12): 8 workers for STORM_SECONDS (default 60) running up,
# ssh, halt, destroy, gc, commit, suspend and resume at random on three
# shared busybox envs (scripts/storm). No command may hang, crash, or print
# an error that is not a clear refusal; afterwards every env is destroyed,
# the store collected, nothing of it left running or in tmp/. The offending
# commands are printed with their lines.

load helpers

setup() {
	dv_setup
}
teardown() { dv_teardown; }

@test "storm: 8 workers on shared envs: no hang, no crash, no error but clear refusals" {
	[[ -x $DV_ROOT/scripts/storm ]] || skip "scripts/storm is not in this copy of the tests"
	STORM_DIR=$BATS_TEST_TMPDIR/storm run "$DV_ROOT/scripts/storm"
	# the counts per command and status, and anything offending
	printf '%s\n' "$output" | grep -v '^storm: error line' | grep -v '^    ' >&3 || true
	assert_success
	assert_line --regexp '^storm: [0-9]+ commands, 0 offending$'
}
