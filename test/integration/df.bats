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

# env_id: this checkout's env id.
env_id() { "$DEVENV" status --json | dv_json id; }

@test "ls and status show the env's size recorded at halt, from the record alone (no walk on their path)" {
	local id
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up -q
	id=$(env_id)
	# Never halted: no record yet.
	run "$DEVENV" ls
	assert_success
	assert_line --index 0 --regexp '^ID +NAME +STATE +AGE +SIZE +IMAGE +CHECKOUT$'
	assert_line --regexp "^$id  proj +running +[0-9]+s +- +localhost/busybox:latest "
	"$DEVENV" ssh -c 'dd if=/dev/zero of=/root/two bs=1M count=2 2>/dev/null'
	"$DEVENV" halt
	[[ -s $DV_STORE/envs/$id/size.json ]]
	run "$DEVENV" ls
	assert_line --regexp "^$id  proj +halted +[0-9]+s +2\.[0-9] MiB +localhost/busybox:latest "
	run "$DEVENV" status
	assert_line --regexp '^  size:     2\.[0-9] MiB \(at its last halt, [0-9]+s ago\)$'
	run "$DEVENV" status --json
	run python3 -c 'import json, sys; s = json.loads(sys.argv[1]); print(s["size"] >= 2 << 20, s["size_measured"])' "$output"
	assert_output "True halt"
	# A file put in the env's folder behind devenv's back: status and ls
	# still say what the record says, as they read nothing else.
	dd if=/dev/zero of="$DV_STORE/envs/$id/upper/root/more" bs=1M count=5 2>/dev/null
	run "$DEVENV" status
	assert_line --regexp '^  size:     2\.[0-9] MiB '
	# The next run's halt measures again.
	"$DEVENV" up -q
	run "$DEVENV" ls
	assert_line --regexp "^$id  proj +running +[0-9]+s +~2\.[0-9] MiB "
	"$DEVENV" halt
	run "$DEVENV" status
	assert_line --regexp '^  size:     7\.[0-9] MiB \(at its last halt'
}

@test "commit records the env's size; a reset env has no record until its next halt" {
	local id
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up -q
	id=$(env_id)
	"$DEVENV" ssh -c 'dd if=/dev/zero of=/root/one bs=1M count=1 2>/dev/null'
	"$DEVENV" commit snap >/dev/null
	run "$DEVENV" status
	assert_line --regexp '^  size:     1\.[0-9] MiB \(at its last commit, [0-9]+s ago; it may have grown since\)$'
	# A new step recreates the env on its new layers: its files are reset.
	printf 'image: busybox\nprovision:\n  - run: echo hi >/hi\n' | dv_envfile
	"$DEVENV" reload >/dev/null
	[[ ! -e $DV_STORE/envs/$id/size.json ]]
	run "$DEVENV" status
	refute_output --partial "size:"
}

@test "df: images, layers (shared ones once), envs, volumes; what rmi+gc and destroy reclaim; -v and --json" {
	local id out
	dv_envfile <<-'EOF'
	image: busybox
	volumes: ["data:/data"]
	provision:
	  - run: dd if=/dev/zero of=/three bs=1M count=3 2>/dev/null
	EOF
	"$DEVENV" up -q
	id=$(env_id)
	"$DEVENV" ssh -c 'dd if=/dev/zero of=/data/v bs=1M count=1 2>/dev/null'
	# Two names for the same image: its layers count once.
	"$DEVENV" tag busybox other >/dev/null
	"$DEVENV" halt >/dev/null
	run "$DEVENV" df
	assert_success
	assert_line --index 0 --regexp '^TYPE +TOTAL +ACTIVE +SIZE +RECLAIMABLE$'
	assert_line --index 1 --regexp '^Images +2 +2 +'
	assert_line --index 2 --regexp '^Layers +2 +2 +5\.[0-9] MiB +0 B \(0%\)$'
	assert_line --index 3 --regexp '^Envs +1 +0 +.* \(100%\)$'
	assert_line --index 4 --regexp '^Volumes +1 +1 +1\.[0-9] MiB +0 B \(0%\)$'
	run "$DEVENV" df --json
	assert_success
	out=$output
	run python3 - "$out" <<-'PY'
	import json, sys
	d = json.loads(sys.argv[1])
	img = d["images"]
	one = img["items"][0]["size"]
	assert img["total"] == 2 and img["items"][1]["size"] == one, img
	assert img["size"] == one, "shared layers counted twice: %r" % img
	assert d["layers"]["size"] == sum(i["size"] for i in d["layers"]["items"])
	assert d["layers"]["size"] >= one + 3 * 2**20
	assert d["envs"]["total"] == 1 and d["envs"]["reclaimable"] == d["envs"]["size"] > 0
	assert d["envs"]["items"][0]["state"] == "halted" and not d["envs"]["items"][0]["estimate"]
	assert d["volumes"]["items"][0]["size"] >= 2**20
	print("ok")
	PY
	assert_output ok
	run "$DEVENV" df -v
	assert_success
	assert_line --regexp "^  $id  proj +halted +"
	assert_line --regexp '^  localhost/other:latest +sha256:[0-9a-f]{12} +2\.[0-9] MiB +used by an env$'
	assert_line --regexp "^  proj-$id-data +1\.[0-9] MiB +named$"
	# destroy --volumes: the env's files and its volume gone; the step's
	# layer now reclaimable by gc, which frees just that.
	"$DEVENV" destroy -f --volumes >/dev/null
	run "$DEVENV" df --json
	run python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["layers"]["reclaimable"] >= 3 << 20, d["envs"]["total"], d["volumes"]["total"], d["images"]["active"])' "$output"
	assert_output "True 0 0 0"
	"$DEVENV" gc >/dev/null
	run "$DEVENV" df --json
	run python3 -c 'import json, sys; d = json.loads(sys.argv[1]); print(d["layers"]["reclaimable"], d["layers"]["total"])' "$output"
	assert_output "0 1"
}

@test "df marks a running env's recorded size as an estimate" {
	printf 'image: busybox\n' | dv_envfile
	"$DEVENV" up -q
	"$DEVENV" halt >/dev/null
	"$DEVENV" up -q
	run "$DEVENV" df
	assert_success
	assert_line --regexp '^Envs +1 +1 +~[0-9.]+ [KMG]?i?B +0 B \(0%\)$'
	assert_line "~: a running env's size as of its last halt or commit"
	run "$DEVENV" df extra
	assert_failure 2
}
