#!/usr/bin/env bats
# Two stores (DEVENV_HOME) used on one checkout at the same time never touch
# each other's envs: what is global to the machine (the cgroups) carries the
# store's id (<store>/store-id).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
	STORE_B=$(dirname "$DV_STORE")/store-b
	DEVENV_HOME=$STORE_B dv_busybox_image
	printf 'image: busybox\n' >Envfile
}

teardown() {
	local b=${STORE_B:-} out
	if [[ -n $b && -d $b/envs ]]; then
		for dir in "$b"/envs/*/; do
			[[ -d $dir ]] || continue
			out=$(DEVENV_HOME=$b timeout 60 "$DEVENV" destroy -f -e "$(basename "$dir")" 2>&1) ||
				echo "teardown: destroy in store B failed: $out" >&2
		done
		mapfile -t left < <(dv_procs_in_store "$b")
		((${#left[@]} == 0)) || {
			echo "teardown: still running in store B: ${left[*]}" >&2
			kill -KILL "${left[@]}"
		}
		dv_rm_store "$b"
	fi
	dv_teardown
}

A() { DEVENV_HOME=$DV_STORE "$DEVENV" "$@"; }
B() { DEVENV_HOME=$STORE_B "$DEVENV" "$@"; }

# The cgroup folders (one per hierarchy) a pid is in, sorted.
cgroups_of() { sort "/proc/$1/cgroup"; }

@test "each store gets an id of its own, written once" {
	A up >/dev/null
	B up >/dev/null
	ida=$(cat "$DV_STORE/store-id")
	idb=$(cat "$STORE_B/store-id")
	[[ $ida =~ ^[0-9a-f]{8}$ ]]
	[[ $idb =~ ^[0-9a-f]{8}$ ]]
	[[ $ida != "$idb" ]]
	A halt >/dev/null
	A up >/dev/null
	[[ $(cat "$DV_STORE/store-id") == "$ida" ]]

	# a damaged one is replaced, with one line naming it
	A halt >/dev/null
	printf 'garbage' >"$DV_STORE/store-id"
	run A up
	assert_success
	assert_line --partial "warning: '$DV_STORE/store-id' is damaged; the store gets a new id"
	[[ $(cat "$DV_STORE/store-id") =~ ^[0-9a-f]{8}$ ]]
	[[ -z $(ls "$DV_STORE/tmp") ]]
}

@test "two stores on one checkout: up, halt, gc and destroy in one leave the other's env running" {
	run A up
	assert_success
	pa=$(DEVENV_HOME=$DV_STORE dv_init_pid)
	[[ -n $pa ]]
	before=$(cgroups_of "$pa")

	# the same checkout, so the same env id, in the other store
	run B up
	assert_success
	pb=$(DEVENV_HOME=$STORE_B dv_init_pid)
	[[ -n $pb && $pb != "$pa" ]]
	[[ $(A status --json | dv_json id) == $(B status --json | dv_json id) ]]

	# A's init still runs, in the very cgroups it started in
	kill -0 "$pa"
	diff <(echo "$before") <(cgroups_of "$pa")
	[[ $(A status --json | dv_json state) == running ]]
	[[ $(A status --json | dv_json pid) == "$pa" ]]

	run B halt
	assert_success
	kill -0 "$pa"
	diff <(echo "$before") <(cgroups_of "$pa")
	[[ $(A status --json | dv_json state) == running ]]

	run B gc
	assert_success
	run B up
	assert_success
	run B destroy -f
	assert_success
	kill -0 "$pa"
	diff <(echo "$before") <(cgroups_of "$pa")
	run A status --json
	[[ $(dv_json state <<<"$output") == running ]]
	[[ $(dv_json pid <<<"$output") == "$pa" ]]
	run A ssh -c 'echo still here'
	assert_success
	assert_output "still here"

	# and the other way round
	run B up
	assert_success
	pb=$(DEVENV_HOME=$STORE_B dv_init_pid)
	run A destroy -f
	assert_success
	run A gc
	assert_success
	kill -0 "$pb"
	[[ $(B status --json | dv_json state) == running ]]
	run B ssh -c 'echo b here'
	assert_success
	assert_output "b here"
}

@test "the env's and a build step's cgroups carry the store's id" {
	dv_need_cgroups
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: sleep 2
	EOF
	A up >"$BATS_TEST_TMPDIR/up.log" 2>&1 &
	upid=$!
	sid=$(cat "$DV_STORE/store-id" 2>/dev/null) || true
	found=
	for ((i = 0; i < 100; i++)); do
		[[ -n $sid ]] || sid=$(cat "$DV_STORE/store-id" 2>/dev/null) || true
		if [[ -n $sid ]] && compgen -G "/sys/fs/cgroup/*/devenv/build-$sid-*" >/dev/null ||
			compgen -G "/sys/fs/cgroup/devenv/build-$sid-*" >/dev/null; then
			found=1
			break
		fi
		sleep 0.05
	done
	wait "$upid"
	[[ -n $found ]] || {
		cat "$BATS_TEST_TMPDIR/up.log"
		ls -d /sys/fs/cgroup/*/devenv/*"$sid"*/ /sys/fs/cgroup/devenv/*"$sid"*/ 2>/dev/null
		false
	}
	id=$(A status --json | dv_json id)
	pa=$(DEVENV_HOME=$DV_STORE dv_init_pid)
	grep -q "devenv/$sid-$id\$" "/proc/$pa/cgroup"
}

@test "an env an older devenv started (cgroups devenv/<env id>) runs on, halts, and starts with the new names" {
	dv_need_cgroups
	A up >/dev/null
	id=$(A status --json | dv_json id)
	sid=$(cat "$DV_STORE/store-id")
	pid=$(DEVENV_HOME=$DV_STORE dv_init_pid)
	state=$DV_STORE/envs/$id/state.json
	# move its processes to folders with the old name, and record those
	mapfile -t new < <(python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))["cgroups"]))' "$state")
	((${#new[@]}))
	old=()
	for d in "${new[@]}"; do
		[[ $d == */devenv/$sid-$id ]]
		o=${d%/*}/$id
		mkdir "$o"
		while read -r p; do echo "$p" >"$o/cgroup.procs"; done <"$d/cgroup.procs"
		rmdir "$d"
		old+=("$o")
	done
	python3 -c '
import json, sys
p = sys.argv[1]
s = json.load(open(p))
s["cgroups"] = sys.argv[2:]
json.dump(s, open(p, "w"))' "$state" "${old[@]}"
	grep -q "devenv/$id\$" "/proc/$pid/cgroup"

	[[ $(A status --json | dv_json state) == running ]]
	run A ssh -c 'echo still here'
	assert_success
	assert_output "still here"
	run A halt
	assert_success
	for o in "${old[@]}"; do [[ ! -d $o ]]; done
	run A up
	assert_success
	pid=$(DEVENV_HOME=$DV_STORE dv_init_pid)
	grep -q "devenv/$sid-$id\$" "/proc/$pid/cgroup"
	! grep -q "devenv/$id\$" "/proc/$pid/cgroup"
}
