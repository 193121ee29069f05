#!/usr/bin/env bats
# Disk: `devenv df`, the sizes `ls` and `status` show (recorded at commit
# and halt, never walked on their path), and what `gc` takes back (the
# cgroups of killed builds).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
}
teardown() {
	local d
	# The decoy cgroups of the gc test, and its killed build's, should it
	# have failed half-way.
	for d in ${DECOYS:-} ${KILLED:-}; do rmdir "$d" 2>/dev/null; done
	[[ -n ${LIVE:-} ]] && kill "$LIVE" 2>/dev/null
	dv_teardown
}

# build_cgroups SID PID: the folders of cgroup build-SID-PID in every hierarchy.
build_cgroups() {
	local d
	for d in /sys/fs/cgroup/devenv /sys/fs/cgroup/*/devenv; do
		[[ -d $d/build-$1-$2 ]] && echo "$d/build-$1-$2"
	done
	return 0
}

@test "gc removes the cgroups of builds whose devenv was killed (build-<store id>-<pid>), and only those" {
	local upid sid d i n=0
	local -a left=()
	dv_need_cgroups
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: sleep 30
	EOF
	"$DEVENV" up >up.out 2>&1 </dev/null 3>&- &
	upid=$!
	for ((i = 0; i < 200; i++)); do
		sid=$(cat "$DV_STORE/store-id" 2>/dev/null) || true
		[[ -n $sid ]] && build_cgroups "$sid" "$upid" | grep -q . && break
		sleep 0.05
	done
	kill -KILL "$upid"
	wait "$upid" || true
	# What the kill left: the step's cgroup, in each hierarchy devenv uses
	# (with a v1 hierarchy or none: more than dv_cgroup_delegables names).
	mapfile -t left < <(build_cgroups "$sid" "$upid")
	KILLED="${left[*]}"
	((${#left[@]} > 0))
	# Decoys that must stay: the same store's name for a live pid (a build
	# running now), another store's name for the dead pid.
	sleep 300 &
	LIVE=$!
	for d in $(dv_cgroup_delegables); do
		[[ -d $d ]] || continue
		mkdir "$d/build-$sid-$LIVE" "$d/build-0badc0de-$upid"
		DECOYS+=" $d/build-$sid-$LIVE $d/build-0badc0de-$upid"
		n=$((n + 1))
	done
	run "$DEVENV" gc
	assert_success
	if ((${#left[@]} == 1)); then
		assert_line "removed 1 cgroup of killed builds"
	else
		assert_line "removed ${#left[@]} cgroups of killed builds"
	fi
	for d in "${left[@]}"; do [[ ! -e $d ]]; done
	for d in $DECOYS; do [[ -d $d ]]; done
	# Nothing more to take the second time.
	run "$DEVENV" gc
	assert_success
	refute_output --partial "cgroup"
}
