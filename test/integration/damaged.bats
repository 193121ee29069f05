#!/usr/bin/env bats
# Damaged records heal: a truncated, empty or garbage record gives one line
# naming the file and saying what to do; `ls` shows a damaged env, `destroy
# -e ID` removes it (and what runs of it), `gc` skips and reports it.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
	printf 'image: busybox\n' >Envfile
	STORE=$(realpath "$DV_STORE")
}
teardown() { dv_teardown; }

# damage KIND FILE: make FILE empty, truncated, garbage, or another env's.
damage() {
	case $1 in
	empty) : >"$2" ;;
	truncated) head -c 17 "$2" >"$2.cut" && mv "$2.cut" "$2" ;;
	garbage) printf '\x00\x01not json at all\n' >"$2" ;;
	trailing) printf '{"id": "%s"} and more\n' "$id" >"$2" ;;
	other) printf '{"id": "0123456789ab", "name": "other"}\n' >"$2" ;;
	esac
}

why() {
	case $1 in
	empty) echo "empty" ;;
	other) echo "it names no env or another env" ;;
	*) echo "not a JSON object" ;;
	esac
}

@test "a damaged state.json of a running env: one line naming it, ls says damaged, gc skips it, destroy -e removes it and its processes" {
	for kind in empty truncated garbage trailing other; do
		run "$DEVENV" up
		assert_success
		id=$("$DEVENV" status --json | dv_json id)
		pid=$(dv_init_pid)
		[[ -n $pid ]]
		layers=$(ls "$STORE/layers" | wc -l)
		damage "$kind" "$STORE/envs/$id/state.json"
		line="devenv: '$STORE/envs/$id/state.json' is damaged ($(why "$kind")); 'devenv destroy -e $id' removes the env"

		run "$DEVENV" ls
		assert_success
		assert_line "$line"
		assert_line --regexp "^$id +\\? +damaged "
		run "$DEVENV" ls --json
		assert_success
		[[ $(python3 -c 'import json,sys; print([e["state"] for e in json.loads(sys.stdin.read().splitlines()[-1]) if e["id"] == sys.argv[1]][0])' "$id" <<<"$output") == damaged ]]

		for cmd in status up halt ssh; do
			run "$DEVENV" $cmd
			assert_failure
			assert_output "$line"
		done
		run "$DEVENV" status -e "$id"
		assert_failure
		assert_output "$line"

		run "$DEVENV" gc
		assert_success
		assert_line "$line"
		assert_line "kept every layer: 1 env is damaged (see above)"
		[[ $(ls "$STORE/layers" | wc -l) == "$layers" ]]
		kill -0 "$pid"

		run "$DEVENV" destroy -f -e "$id"
		assert_success
		assert_output "damaged env $id destroyed (the checkout and named volumes are kept)"
		[[ ! -e $STORE/envs/$id ]]
		for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$pid" 2>/dev/null
		[[ -z $(dv_procs_in_store "$STORE") ]]
		[[ -z $(ls -d /sys/fs/cgroup/*/devenv/*-"$id" /sys/fs/cgroup/devenv/*-"$id" 2>/dev/null) ]]
		run "$DEVENV" ls
		refute_output --partial "$id"
	done
}

@test "a damaged state.json of a halted env: destroy in its checkout asks for -f, then removes it; up starts afresh" {
	"$DEVENV" up >/dev/null
	id=$("$DEVENV" status --json | dv_json id)
	"$DEVENV" halt >/dev/null
	damage garbage "$STORE/envs/$id/state.json"
	run "$DEVENV" destroy
	assert_failure 2
	assert_output "devenv: 'devenv destroy' asks before removing the damaged env $id; pass -f to skip the question"
	[[ -e $STORE/envs/$id ]]
	run "$DEVENV" destroy -f
	assert_success
	assert_output "damaged env $id destroyed (the checkout and named volumes are kept)"
	run "$DEVENV" up
	assert_success
	[[ $("$DEVENV" status --json | dv_json state) == running ]]
}
