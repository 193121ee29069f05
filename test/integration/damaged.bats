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
		assert_line "kept every layer: 1 damaged record (see above)"
		[[ $(ls "$STORE/layers" | wc -l) == "$layers" ]]
		kill -0 "$pid"

		run "$DEVENV" destroy -f -e "$id"
		assert_success
		assert_output "damaged env $id destroyed (the checkout and named volumes are kept)"
		[[ ! -e $STORE/envs/$id ]]
		for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$pid" 2>/dev/null
		[[ -z $(dv_procs_in_store "$STORE") ]]
		sid=$(cat "$STORE/store-id")
		[[ -z $(ls -d /sys/fs/cgroup/*/devenv/"$sid-$id" /sys/fs/cgroup/devenv/"$sid-$id" 2>/dev/null) ]]
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

@test "a damaged image record: one line naming it (up, images, gc), gc keeps every layer, rmi removes it" {
	rec=$STORE/images/localhost/busybox/latest.json
	line="devenv: '$rec' is damaged; 'devenv rmi localhost/busybox:latest' removes it, then pull or import the image again"
	layers=$(ls "$STORE/layers" | wc -l)
	for kind in empty truncated garbage; do
		cp "$rec" "$BATS_TEST_TMPDIR/rec"
		damage "$kind" "$rec"
		run "$DEVENV" up
		assert_failure
		assert_output "$line"
		run "$DEVENV" images
		assert_success
		assert_line "$line"
		refute_line --partial "localhost/busybox "
		run "$DEVENV" gc
		assert_success
		assert_line "$line"
		assert_line "kept every layer: 1 damaged record (see above)"
		[[ $(ls "$STORE/layers" | wc -l) == "$layers" ]]
		cp "$BATS_TEST_TMPDIR/rec" "$rec"
	done
	damage garbage "$rec"
	run "$DEVENV" rmi busybox
	assert_success
	assert_output "removed the damaged record of image 'localhost/busybox:latest'"
	[[ ! -e $rec ]]
	run "$DEVENV" gc
	assert_success
	refute_output --partial damaged
	[[ $(ls "$STORE/layers" | wc -l) == 0 ]]
	dv_busybox_image
	run "$DEVENV" up
	assert_success
}

@test "a damaged cache entry: one line naming it, the step runs again and the entry is written anew; gc drops what it cannot read" {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo a > /a
	EOF
	"$DEVENV" up >/dev/null
	"$DEVENV" halt >/dev/null
	key=$(ls "$STORE/cache")
	[[ $(wc -w <<<"$key") == 1 ]]
	entry=$STORE/cache/$key
	good=$(cat "$entry")
	for kind in empty garbage; do
		damage "$kind" "$entry"
		run "$DEVENV" up
		assert_success
		assert_line "devenv: warning: '$entry' is damaged (1 unreadable line); the step runs again"
		assert_line "[1/1] run: echo a > /a"
		[[ $(cat "$entry") == "$good" ]]
		"$DEVENV" halt >/dev/null
	done
	printf '%s\n\x01\x02garbage\n' "$good" >"$entry"
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo a > /a (cached)"
	run "$DEVENV" gc
	assert_success
	assert_line "devenv: warning: '$entry' is damaged (1 unreadable line); its unreadable lines are dropped"
	[[ $(cat "$entry") == "$good" ]]
	run "$DEVENV" gc
	refute_output --partial damaged
}

@test "a damaged layer.json: one line naming it, written anew; images, up, gc and image save work on" {
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: echo a > /a
	EOF
	"$DEVENV" up >/dev/null
	"$DEVENV" halt >/dev/null
	base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][0])' "$STORE/images/localhost/busybox/latest.json")
	step=$(ls "$STORE/cache")
	[[ $base != "$step" ]]
	damage empty "$STORE/layers/$base/layer.json"
	damage truncated "$STORE/layers/$step/layer.json"
	run "$DEVENV" images
	assert_success
	assert_line "devenv: warning: '$STORE/layers/$base/layer.json' is damaged (empty); written anew (its size and push forms are made again when needed)"
	assert_line --regexp "^localhost/busybox +latest +[0-9a-f]{12} .* [1-9][0-9.]* MiB$"
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo a > /a (cached)"
	up=$output
	run "$DEVENV" gc
	assert_success
	grep -qxF "devenv: warning: '$STORE/layers/$step/layer.json' is damaged (not this layer's JSON object); written anew (its size and push forms are made again when needed)" <<<"$up
$output"
	run "$DEVENV" gc
	assert_success
	refute_output --partial damaged
	[[ -d $STORE/layers/$base && -d $STORE/layers/$step ]]
	run "$DEVENV" commit snap
	assert_success
	run "$DEVENV" image save snap "$BATS_TEST_TMPDIR/snap.tar"
	assert_success
	run "$DEVENV" images
	refute_output --partial damaged
}

@test "a damaged volume record: one line naming it; destroy --volumes keeps the volume, volume rm removes it, up writes it anew" {
	dv_envfile <<-'EOF2'
	image: busybox
	volumes: ["team:/team:shared"]
	EOF2
	"$DEVENV" up >/dev/null
	"$DEVENV" ssh -c 'echo precious > /team/f'
	rec=$STORE/volumes/.team.json
	[[ -f $rec ]]
	damage garbage "$rec"
	line="devenv: warning: '$rec' is damaged; whose volume 'team' is is unknown, so it counts as shared: 'devenv volume rm team' removes it"
	run "$DEVENV" volume ls
	assert_success
	assert_line "$line"
	run "$DEVENV" destroy -f --volumes
	assert_success
	assert_line "volume 'team' kept: its record is damaged; 'devenv volume rm team' removes it"
	[[ $(cat "$STORE/volumes/team/f") == precious ]]
	run "$DEVENV" up
	assert_success
	assert_line "devenv: warning: '$rec' was damaged; written anew as shared"
	[[ $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["shared"])' "$rec") == True ]]
	run "$DEVENV" ssh -c 'cat /team/f'
	assert_output precious
	"$DEVENV" halt >/dev/null
	damage empty "$rec"
	run "$DEVENV" volume rm --force team
	assert_success
	assert_line "volume 'team' removed"
	[[ ! -e $STORE/volumes/team ]]
}

@test "a damaged trust record: gc says so and removes it; the requests are asked again" {
	printf 'image: busybox\nnetwork: host\n' >Envfile
	run "$DEVENV" allow
	assert_success
	id=$(ls "$STORE/trust")
	[[ $(wc -w <<<"$id") == 1 ]]
	damage garbage "$STORE/trust/$id"
	unset DEVENV_ALLOW
	run "$DEVENV" up </dev/null
	assert_failure
	assert_output --partial "run 'devenv allow'"
	run "$DEVENV" gc
	assert_success
	assert_line "devenv: warning: '$STORE/trust/$id' is damaged; removed (the checkout's requests are asked again)"
	[[ ! -e $STORE/trust/$id ]]
}
