#!/usr/bin/env bats
# attacks.bats - issue 11's attacks, one test each: a repository just cloned
# is untrusted input, and every process in an env is hostile to the host.
# Each test failed on the code before the defence it checks (the commit
# that adds the test says so), and runs as root and rootless (where the
# attack applies there; a skip says why when it does not).
#
# Sections, in the issue's order: ownership of the checkout and the .git
# way out; host fds and terminals; paths opened race-free; the default
# sandbox; trust; volumes and the team cache.

load helpers

setup() { dv_setup; }
teardown() { dv_teardown; }

# ---- trust and the team cache ----
# An Envfile or devcontainer.json that asks for more than the default
# sandbox runs nothing until the developer says yes (README "Trust"); a
# layer pulled through one project's cache_from never serves another's.

# trust_stopped LINE...: `up` without a terminal stopped with exit 2 and
# the one line, and nothing ran: no env, no layer but the image's, no
# cache entry, no git remote asked.
trust_stopped() {
	local n=$1 file=${2:-Envfile}
	run "$DEVENV" up </dev/null
	assert_failure 2
	assert_output "devenv: $file asks for $n beyond the default sandbox that this checkout was never allowed; nothing was run: run 'devenv allow' to see and allow them"
	[[ -z $(find "$DV_STORE/envs" -mindepth 1 -print -quit) ]]
	[[ $(ls "$DV_STORE/layers" | wc -l) -eq $TRUST_LAYERS ]]
	[[ -z $(ls "$DV_STORE/cache") ]]
	[[ ! -e $DV_STORE/git ]]
}

trust_setup() {
	unset DEVENV_ALLOW
	dv_busybox_image
	TRUST_LAYERS=$(ls "$DV_STORE/layers" | wc -l)
}

@test "trust attack: mounts [\"/:/host\"] with an on_up reading /etc/shadow stops before anything runs" {
	trust_setup
	dv_envfile <<-'EOF'
	image: busybox
	mounts: ["/:/host"]
	on_up:
	  - run: cat /host/etc/shadow
	EOF
	trust_stopped "1 thing"
	refute_output --partial "root:"
}

@test "trust attack: cap_add [SYS_ADMIN] with seccomp unconfined stops before anything runs" {
	trust_setup
	dv_envfile <<-'EOF'
	image: busybox
	security:
	  cap_add: [SYS_ADMIN]
	  seccomp: unconfined
	on_up:
	  - run: mkdir -p /m && mount -t tmpfs x /m && echo mounted
	EOF
	trust_stopped "2 things"
	refute_output --partial mounted
}

@test "trust attack: git: file:// of a private repository is not cloned" {
	trust_setup
	private=$BATS_TEST_TMPDIR/private
	git init -q "$private"
	echo secret >"$private/key"
	git -C "$private" add key
	git -C "$private" -c user.email=a@b -c user.name=a commit -qm key
	chmod 0700 "$private"
	dv_envfile <<-EOF
	image: busybox
	provision:
	  - git: file://$private
	    to: /stolen
	EOF
	trust_stopped "1 thing"
}

@test "trust attack: ports on 0.0.0.0 are not opened" {
	trust_setup
	port=$(dv_free_port)
	dv_envfile <<-EOF
	image: busybox
	ports: ["0.0.0.0:$port:80"]
	on_up:
	  - run: httpd -p 80
	EOF
	trust_stopped "1 thing"
	! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

@test "trust attack: \${localEnv:TOKEN} does not print or store a host secret" {
	trust_setup
	mkdir .devcontainer
	cat >.devcontainer/devcontainer.json <<-'EOF'
	{
	  "image": "busybox",
	  "containerEnv": { "STOLEN": "${localEnv:DV_ATTACK_TOKEN}" },
	  "postStartCommand": "echo token=${localEnv:DV_ATTACK_TOKEN}"
	}
	EOF
	export DV_ATTACK_TOKEN=hunter2-$RANDOM
	trust_stopped "2 things" .devcontainer/devcontainer.json
	refute_output --partial "$DV_ATTACK_TOKEN"
	! grep -rqF "$DV_ATTACK_TOKEN" "$DV_STORE"
}

@test "trust attack: a cache_from layer pulled by one project is not used by another project's same step" {
	dv_busybox_image
	dv_registry_start "$BATS_TEST_TMPDIR/registry"
	# The registry goes when this test's process does, even on a failure.
	me=$BASHPID
	{ tail --pid="$me" -f /dev/null; kill "$DV_REGISTRY_PID"; } >/dev/null 2>&1 3>&- &
	ref=$DV_REGISTRY/evil/tools:cache
	step='  - run: echo genuine >/tool'
	# The attacker, on a machine of theirs: builds the step a trusted
	# project has, changes its layer, and pushes it under the step's key.
	attacker=$(mktemp -d "$(dirname "$DV_STORE")/attacker.XXXXXX")
	hostile=$BATS_TEST_TMPDIR/hostile
	mkdir "$hostile"
	git init -q "$hostile"
	printf 'image: busybox\nprovision:\n%s\n' "$step" >"$hostile/Envfile"
	cd "$hostile"
	DEVENV_HOME=$attacker "$DEVENV" image import "$(busybox_tar)" busybox >/dev/null
	DEVENV_HOME=$attacker run "$DEVENV" provision
	assert_success
	key=$(ls "$attacker/cache")
	[[ -f $attacker/layers/$key/diff/tool ]]
	echo planted >"$attacker/layers/$key/diff/tool"
	DEVENV_HOME=$attacker run "$DEVENV" push "$ref"
	assert_success
	dv_rm_store "$attacker"
	# The hostile project on the victim's machine: its cache_from pulls
	# the planted layer (allowed: DEVENV_ALLOW=1).
	printf 'cache_from: %s\n' "$ref" >>Envfile
	run "$DEVENV" provision
	assert_success
	assert_line "[1/1] run: echo genuine >/tool (pulled)"
	# The trusted project, the same step, no cache_from: the step runs here.
	cd "$DV_CHECKOUT"
	printf 'image: busybox\nprovision:\n%s\n' "$step" >Envfile
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo genuine >/tool"
	run "$DEVENV" ssh -c 'cat /tool'
	assert_output genuine
	dv_registry_stop
}

@test "trust attack: a base image taken through one project's cache_from is not another project's image" {
	dv_registry_start "$BATS_TEST_TMPDIR/registry"
	me=$BASHPID
	{ tail --pid="$me" -f /dev/null; kill "$DV_REGISTRY_PID"; } >/dev/null 2>&1 3>&- &
	ref=$DV_REGISTRY/evil/base:cache
	# The attacker's "busybox": the real one plus a planted file, pushed as
	# the base of an env (a base no registry serves goes along).
	attacker=$(mktemp -d "$(dirname "$DV_STORE")/attacker.XXXXXX")
	mkdir -p "$BATS_TEST_TMPDIR/extra"
	echo planted >"$BATS_TEST_TMPDIR/extra/planted"
	cp "$(busybox_tar)" "$BATS_TEST_TMPDIR/evil.tar"
	tar -rf "$BATS_TEST_TMPDIR/evil.tar" -C "$BATS_TEST_TMPDIR/extra" planted
	hostile=$BATS_TEST_TMPDIR/hostile
	mkdir "$hostile"
	git init -q "$hostile"
	printf 'image: busybox\nprovision:\n  - run: echo hi >/hi\n' >"$hostile/Envfile"
	cd "$hostile"
	DEVENV_HOME=$attacker "$DEVENV" image import "$BATS_TEST_TMPDIR/evil.tar" busybox >/dev/null
	DEVENV_HOME=$attacker run "$DEVENV" provision
	assert_success
	DEVENV_HOME=$attacker run "$DEVENV" push "$ref"
	assert_success
	dv_rm_store "$attacker"
	# On the victim's machine, before any busybox: the hostile project's
	# cache_from brings its base (allowed: DEVENV_ALLOW=1).
	printf 'cache_from: %s\n' "$ref" >>Envfile
	run "$DEVENV" provision
	assert_success
	assert_output --partial "pulling the one '$ref' was built on"
	# A trusted project naming the same image, no cache_from: not that one.
	cd "$DV_CHECKOUT"
	printf 'image: busybox\non_up:\n  - run: cat /planted 2>/dev/null || echo clean\n' >Envfile
	run "$DEVENV" up
	assert_failure
	assert_output "devenv: image 'busybox' in this store was taken from cache_from '$ref' for another env, so it is not used here; import or pull your own (it replaces that one)"
	refute_output --partial planted
	# Its own busybox replaces the other project's under that name.
	dv_busybox_image
	run "$DEVENV" up
	assert_success
	assert_line clean
	dv_registry_stop
}
