#!/usr/bin/env bats
# resources (memory, cpus, pids) through the env's cgroups, suspend/resume
# through the freezer, and the cgroups' removal. Works on cgroup v2 and v1:
# cg_knob finds a knob in whichever hierarchy holds it.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_need_cgroups
	dv_busybox_image
}
teardown() { dv_teardown; }

env_id() { "$DEVENV" status --json | dv_json id; }

# cg_name ID: the name of env ID's cgroups, "<store id>-<env id>".
cg_name() { printf '%s-%s\n' "$(cat "$DV_STORE/store-id")" "$1"; }

# cg_dirs ID: every folder of env ID's cgroups, in this machine's hierarchies.
cg_dirs() {
	local name
	name=$(cg_name "$1")
	findmnt -rn -t cgroup,cgroup2 -o TARGET | while read -r m; do
		[[ -d $m/devenv/$name ]] && printf '%s\n' "$m/devenv/$name"
	done
	return 0
}

# cg_knob ID FILE...: print the first FILE found in a folder of env ID's cgroups.
cg_knob() {
	local name=$1 d f
	shift
	for f in "$@"; do
		for d in $(cg_dirs "$name"); do
			[[ -f $d/$f ]] && {
				cat "$d/$f"
				return 0
			}
		done
	done
	echo "cg_knob: none of $* in devenv/$(cg_name "$name")" >&2
	return 1
}

@test "memory: the limit is written, a hog inside is OOM-killed, the env runs on and status says so" {
	dv_envfile <<-'EOF'
	image: busybox
	resources: { memory: 48m }
	EOF
	run "$DEVENV" up
	assert_success
	id=$(env_id)
	[[ $(cg_knob "$id" memory.max memory.limit_in_bytes) == 50331648 ]]
	# and as much swap as memory, as Docker gives, where swap is accounted
	if [[ -n $(cg_knob "$id" memory.memsw.limit_in_bytes 2>/dev/null) ]]; then
		[[ $(cg_knob "$id" memory.memsw.limit_in_bytes) == $((2 * 50331648)) ]]
	elif [[ -n $(cg_knob "$id" memory.swap.max 2>/dev/null) ]]; then
		[[ $(cg_knob "$id" memory.swap.max) == 50331648 ]]
	fi
	run "$DEVENV" status
	refute_output --partial "out of memory"

	# dd allocates its block and fills it: 200 MiB cannot fit in 48
	run "$DEVENV" ssh -c 'dd if=/dev/zero of=/dev/null bs=200M count=1'
	assert_failure 137
	run "$DEVENV" ssh -c 'echo still here'
	assert_success
	assert_output "still here"

	run "$DEVENV" status
	assert_success
	assert_line "env 'proj' ($id): running"
	assert_line "  out of memory: 1 process OOM-killed; see 'resources: memory'"
	run "$DEVENV" status --json
	[[ $(dv_json oom_killed <<<"$output") == True ]]
	[[ $(dv_json oom_kills <<<"$output") == 1 ]]

	# recorded in state.json
	python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["limits"]["memory"] == 50331648' \
		"$DV_STORE/envs/$id/state.json"
}

@test "memory: provisioning steps run under the same limit, in a cgroup removed after" {
	dv_envfile <<-'EOF'
	image: busybox
	resources: { memory: 48m }
	provision:
	  - run: dd if=/dev/zero of=/dev/null bs=200M count=1
	EOF
	run "$DEVENV" up
	assert_failure 1
	assert_output --partial "Envfile:4:5: provisioning step 1 failed with exit status 137; nothing of step 1 was kept"
	# the build cgroup (devenv/build-<store id>-PID of that devenv) is
	# gone: this store's only (another devenv's build may run meanwhile)
	local sid d
	sid=$(cat "$DV_STORE/store-id")
	[[ -n $sid ]]
	for d in $(dv_cgroup_delegables); do
		[[ -z $(compgen -G "$d/build-$sid-*") ]]
	done
}

@test "pids: a fork bomb stops at the limit, the host and devenv stay responsive, halt cleans up" {
	dv_envfile <<-'EOF'
	image: busybox
	resources: { pids: 32 }
	EOF
	"$DEVENV" up
	id=$(env_id)
	[[ $(cg_knob "$id" pids.max) == 32 ]]

	# bounded bomb: 200 sleepers asked for, the pids controller allows 32
	run timeout 60 "$DEVENV" ssh -c 'i=0; while [ $i -lt 200 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done 2>/dev/null; echo tried'
	[[ $(cg_knob "$id" pids.current) -le 32 ]]
	n=$(cg_knob "$id" cgroup.procs | wc -l)
	((n >= 20 && n <= 32))

	# the host forks freely and devenv answers
	run timeout 10 sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done; echo ok'
	assert_output ok
	run timeout 10 "$DEVENV" status
	assert_success
	assert_line "env 'proj' ($id): running"

	run timeout 30 "$DEVENV" halt
	assert_success
	[[ -z $(cg_dirs "$id") ]]
	[[ -z $(dv_procs_in_store "$DV_STORE") ]]
}

@test "cpus: the quota is written" {
	dv_envfile <<-'EOF'
	image: busybox
	resources: { cpus: 0.5, pids: 4096, memory: 1g }
	EOF
	"$DEVENV" up
	id=$(env_id)
	if q=$(cg_knob "$id" cpu.max 2>/dev/null); then
		[[ $q == "50000 100000" ]]
	else
		[[ $(cg_knob "$id" cpu.cfs_quota_us) == 50000 ]]
		[[ $(cg_knob "$id" cpu.cfs_period_us) == 100000 ]]
	fi
	# a command entered by ssh is in the env's limited cgroups
	run "$DEVENV" ssh -c 'cat /proc/self/cgroup'
	assert_success
	pid=$(dv_init_pid)
	grep -q "devenv/$(cg_name "$id")\$" /proc/$pid/cgroup
}

@test "a changed resources is reported by up and applied by reload" {
	dv_envfile <<-'EOF'
	image: busybox
	resources: { pids: 64 }
	EOF
	"$DEVENV" up
	id=$(env_id)
	sed -i 's/pids: 64/pids: 100/' Envfile
	run "$DEVENV" up
	assert_success
	assert_output "env 'proj' is running, but its Envfile changed; 'devenv reload' restarts it with the change (its files are kept)"
	[[ $(cg_knob "$id" pids.max) == 64 ]]
	run "$DEVENV" reload
	assert_success
	[[ $(cg_knob "$id" pids.max) == 100 ]]
	# no limit any more: the knob goes back to max
	printf 'image: busybox\n' >Envfile
	"$DEVENV" reload
	[[ $(cg_knob "$id" pids.max) == max ]]
}

@test "suspend freezes every process, ssh reports it, resume thaws, halt of a suspended env works" {
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up
	"$DEVENV" ssh -c 'i=0; while true; do i=$((i+1)); echo $i > /workspace/counter; sleep 0.05; done >/dev/null 2>&1 &'
	dv_wait 10 test -s counter
	run "$DEVENV" suspend
	assert_success
	assert_output "env 'proj' suspended; 'devenv resume' thaws it"
	run "$DEVENV" suspend
	assert_success
	assert_output "env 'proj' is already suspended"
	[[ $("$DEVENV" status --json | dv_json state) == suspended ]]
	c1=$(cat counter)
	# (nothing to wait for: the test is that nothing happens, for ten of
	# the loop's steps)
	sleep 0.5
	[[ $(cat counter) == "$c1" ]]

	run timeout 10 "$DEVENV" ssh -c true
	assert_failure 125
	assert_output "devenv: env 'proj' is suspended; 'devenv resume' thaws it"
	run timeout 10 "$DEVENV" up
	assert_failure 1
	assert_output "devenv: env 'proj' is suspended; 'devenv resume' thaws it"

	run "$DEVENV" resume
	assert_success
	assert_output "env 'proj' resumed"
	run "$DEVENV" resume
	assert_output "env 'proj' is not suspended"
	dv_wait 10 eval '[[ $(cat counter) != "$c1" ]]'
	[[ $("$DEVENV" status --json | dv_json state) == running ]]

	"$DEVENV" suspend
	id=$(env_id)
	run timeout 30 "$DEVENV" halt
	assert_success
	assert_output "env 'proj' halted; its files are kept"
	[[ -z $(cg_dirs "$id") ]]
	run "$DEVENV" suspend
	assert_failure 1
	assert_output "devenv: env 'proj' is not running; 'devenv up' starts it"
}

@test "suspend and resume take -e and --help" {
	printf 'image: busybox\nname: far\n' >Envfile
	"$DEVENV" up
	cd /
	run "$DEVENV" suspend -e far
	assert_success
	run "$DEVENV" resume -e far
	assert_success
	assert_output "env 'far' resumed"
	run "$DEVENV" suspend --help
	assert_success
	assert_line "usage: devenv suspend [-e NAME|ID]"
	run "$DEVENV" resume --help
	assert_success
	assert_line "usage: devenv resume [-e NAME|ID]"
}

@test "cgroups are gone after halt, after destroy, and after the init was SIGKILLed" {
	printf 'image: busybox\nresources: { memory: 64m, pids: 64 }\n' >Envfile
	"$DEVENV" up
	id=$(env_id)
	[[ -n $(cg_dirs "$id") ]]
	"$DEVENV" halt
	[[ -z $(cg_dirs "$id") ]]

	"$DEVENV" up
	"$DEVENV" ssh -c 'sleep 300 >/dev/null 2>&1 &'
	kill -KILL "$(dv_init_pid)"
	for i in $(seq 50); do
		[[ $("$DEVENV" status --json | dv_json state) == halted ]] && break
		sleep 0.1
	done
	[[ $("$DEVENV" status --json | dv_json state) == halted ]]
	run "$DEVENV" halt
	assert_success
	[[ -z $(cg_dirs "$id") ]]

	"$DEVENV" up
	kill -KILL "$(dv_init_pid)"
	dv_wait 10 eval '[[ $("$DEVENV" status --json | dv_json state) == halted ]]'
	run "$DEVENV" up
	assert_success
	[[ -n $(cg_dirs "$id") ]]
	"$DEVENV" destroy -f
	[[ -z $(cg_dirs "$id") ]]
}
