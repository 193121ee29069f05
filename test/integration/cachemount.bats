#!/usr/bin/env bats
# `cache:` paths of provisioning steps: a folder of the store mounted there
# while a `run` step runs, kept when the step changes, out of its layer and
# its key; `df` shows them, `destroy` leaves them, `gc --caches` clears them.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
}
teardown() {
	[[ -n ${HTTP_PID:-} ]] && kill "$HTTP_PID" 2>/dev/null
	dv_teardown
}

# serve: python3's http.server on 127.0.0.1 for a folder holding `pkg`,
# its access log in $BATS_TEST_TMPDIR/access.log; sets URL.
serve() {
	local port dir=$BATS_TEST_TMPDIR/www
	mkdir -p "$dir"
	echo "payload one" >"$dir/pkg"
	port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
	python3 -m http.server --bind 127.0.0.1 --directory "$dir" "$port" \
		>/dev/null 2>"$BATS_TEST_TMPDIR/access.log" &
	HTTP_PID=$!
	URL=http://127.0.0.1:$port
	dv_wait 10 curl -fs -o /dev/null "$URL/"
	: >"$BATS_TEST_TMPDIR/access.log"
}

fetched() { grep -c 'GET /pkg ' "$BATS_TEST_TMPDIR/access.log" || true; }

# fetch_envfile TAG [WHERE]: a step that downloads pkg into its cache only
# when the cache lacks it; TAG is the step's input (change it: the step
# runs again). WHERE: "step" (the step's own `cache`, the default) or "top".
fetch_envfile() {
	local run="mkdir -p /opt && { test -f /root/.cache/dl/pkg || wget -q -O /root/.cache/dl/pkg $URL/pkg; } && cp /root/.cache/dl/pkg /opt/got && echo $1 >/opt/tag"
	{
		printf 'image: busybox\nnetwork: host\n'
		[[ ${2:-step} == top ]] && printf 'cache: [/root/.cache/dl]\n'
		printf 'provision:\n  - run: %s\n' "$run"
		[[ ${2:-step} == step ]] && printf '    cache: [/root/.cache/dl]\n'
		true
	} | dv_envfile
}

env_id() { "$DEVENV" status --json | dv_json id; }

# top_layer: the diff folder of the env's last layer.
top_layer() {
	local id
	id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["layers"][-1])' "$DV_STORE/envs/$(env_id)/state.json")
	echo "$DV_STORE/layers/$id/diff"
}

@test "a changed step finds what its last run left in its cache: fetched once; the layer holds none of it, not even the mount point" {
	dv_busybox_image
	serve
	fetch_envfile one
	run "$DEVENV" up
	assert_success
	[[ $(fetched) == 1 ]]
	"$DEVENV" halt
	fetch_envfile two
	run "$DEVENV" up
	assert_success
	refute_output --partial "(cached)"
	[[ $(fetched) == 1 ]]
	run "$DEVENV" ssh -c 'cat /opt/got /opt/tag; ls -a /root/.cache 2>&1; true'
	assert_success
	assert_line --index 0 "payload one"
	assert_line --index 1 "two"
	assert_line --partial "No such file or directory"
	# The store's folder, the user's own (rootless: the host user's).
	local dir
	dir=$DV_STORE/caches/$(env_id)/root+.cache+dl
	[[ $(cat "$dir/pkg") == "payload one" ]]
	[[ $(stat -c %u "$dir") == "$EUID" ]]
	# The step's layer: its own files, nothing of the cache.
	local layer
	layer=$(top_layer)
	[[ -f $layer/opt/got ]]
	run find "$layer" -path '*.cache*'
	assert_output ""
	[[ ! -e $layer/root ]]
}

@test "top-level cache applies to every run step, and is not in the step's key" {
	dv_busybox_image
	serve
	fetch_envfile one top
	run "$DEVENV" up
	assert_success
	[[ $(fetched) == 1 ]]
	"$DEVENV" halt
	# The same step with its cache written on the step: the same key.
	fetch_envfile one step
	run "$DEVENV" up
	assert_success
	assert_line --partial "(cached)"
	"$DEVENV" halt
	fetch_envfile two top
	run "$DEVENV" up
	assert_success
	[[ $(fetched) == 1 ]]
}

@test "df shows the caches; destroy leaves them; gc --caches clears them" {
	dv_busybox_image
	serve
	fetch_envfile one
	"$DEVENV" up
	local id
	id=$(env_id)
	run "$DEVENV" df
	assert_success
	assert_line --regexp '^Caches +1 +1 +[0-9.]+ [KMG]?i?B +[0-9.]+ [KMG]?i?B \(100%\)$'
	run "$DEVENV" df -v
	assert_line --regexp "^  $id +proj +/root/.cache/dl +[0-9.]+ [KMG]?i?B\$"
	run "$DEVENV" df --json
	[[ $(python3 -c 'import json,sys; c=json.load(sys.stdin)["caches"]; print(c["total"], c["items"][0]["name"], c["items"][0]["id"])' <<<"$output") == "1 /root/.cache/dl $id" ]]
	"$DEVENV" destroy -f
	[[ -f $DV_STORE/caches/$id/root+.cache+dl/pkg ]]
	run "$DEVENV" df -v
	assert_line --regexp "^  $id +- +/root/.cache/dl "
	# A plain gc keeps them.
	run "$DEVENV" gc
	assert_success
	[[ -f $DV_STORE/caches/$id/root+.cache+dl/pkg ]]
	run "$DEVENV" gc --caches
	assert_success
	assert_line --regexp '^removed 1 cache, freed [0-9.]+ [KMG]?i?B$'
	[[ ! -e $DV_STORE/caches/$id ]]
	# Fetched again once gone.
	"$DEVENV" up
	[[ $(fetched) == 2 ]]
}

@test "a project cloned where a destroyed one was gets the same env id, not its caches" {
	dv_busybox_image
	serve
	fetch_envfile one
	"$DEVENV" up
	local id
	id=$(env_id)
	[[ $(fetched) == 1 ]]
	"$DEVENV" destroy -f
	# The same folder, another repository: its steps must neither read
	# what the first one's left nor leave anything for the next.
	cd ..
	rm -rf "$DV_CHECKOUT"
	mkdir "$DV_CHECKOUT"
	cd "$DV_CHECKOUT"
	git init -q .
	fetch_envfile other
	"$DEVENV" up
	[[ $(env_id) == "$id" ]]
	[[ $(fetched) == 2 ]]
	# ...while the same checkout's next build still finds its cache.
	"$DEVENV" destroy -f
	fetch_envfile third
	"$DEVENV" up
	[[ $(fetched) == 2 ]]
}

@test "a cache on a copy step, a relative or runtime path, or one inside another is an Envfile error with its position" {
	dv_busybox_image
	printf 'image: busybox\nprovision:\n  - copy: Envfile\n    to: /e\n    cache: [/c]\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output "devenv: Envfile:5:5: 'cache' goes with 'run', not with 'copy'"
	printf 'image: busybox\ncache: [/proc/x]\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output --partial "Envfile:2:9: 'cache' path '/proc/x' is where the runtime mounts its own file systems"
	printf 'image: busybox\ncache: [/root/.cache]\nprovision:\n  - run: "true"\n    cache: [/root/.cache/pip]\n' | dv_envfile
	run "$DEVENV" up
	assert_failure 2
	assert_output --partial "Envfile:5:13: 'cache' path '/root/.cache/pip' and the top-level 'cache' path '/root/.cache' (line 2) are one inside the other"
}

@test "Debian: apt's downloads kept in a cache of /var/cache/apt are not downloaded again by a changed step" {
	dv_debian_image
	dv_envfile <<-'EOF'
	image: debian:bookworm
	cache: [/var/cache/apt, /var/lib/apt/lists]
	provision:
	  - run: apt-get update -qq && apt-get install -y --no-install-recommends hello >/tmp/log && cat /tmp/log && echo one
	EOF
	run "$DEVENV" up
	assert_success
	assert_line --regexp '^Get:.* hello '
	local dir
	dir=$DV_STORE/caches/$(env_id)/var+cache+apt
	compgen -G "$dir/archives/hello_*.deb"
	"$DEVENV" halt
	sed -i 's/echo one/echo two/' Envfile
	run "$DEVENV" up
	assert_success
	refute_line --regexp '^Get:.* hello '
	run "$DEVENV" ssh -c 'hello; ls /var/cache/apt/archives 2>&1 | grep -c deb'
	assert_line --index 0 "Hello, world!"
	assert_line --index 1 "0"
	local layer
	layer=$(top_layer)
	[[ -d $layer/var/lib/dpkg && ! -e $layer/var/cache/apt && ! -e $layer/var/lib/apt/lists ]]
}
