#!/usr/bin/env bats
# What up and provision print: step lines, timing, colour only on a
# terminal, -q (errors only), --json (JSON Lines on stdout, nothing else).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
	printf 'image: busybox\nprovision:\n  - run: echo one > /one\n  - run: echo step-two-output; echo 2 > /two\n' >Envfile
}
teardown() { dv_teardown; }

@test "progress: a step that ran says how long, a cached one says so; no colour off a terminal" {
	run "$DEVENV" up
	assert_success
	assert_line "[1/2] run: echo one > /one"
	assert_line "step-two-output"
	assert_line --regexp "^      ran in [0-9]+\.[0-9] s$"
	refute_output --partial $'\033'
	"$DEVENV" halt
	run "$DEVENV" up
	assert_success
	assert_line "[1/2] run: echo one > /one (cached)"
	assert_line "[2/2] run: echo step-two-output; echo 2 > /two (cached)"
	refute_line --partial "ran in"
}

@test "progress: colour on a terminal, none with NO_COLOR or TERM=dumb" {
	run script -qec "TERM=xterm $DEVENV up" /dev/null
	assert_success
	assert_output --partial $'      \033[32mran in'
	"$DEVENV" halt
	run script -qec "TERM=xterm $DEVENV up" /dev/null
	assert_output --partial $'\033[2m[1/2] run: echo one > /one (cached)\033[0m'
	"$DEVENV" halt
	run script -qec "NO_COLOR=1 TERM=xterm $DEVENV up" /dev/null
	assert_success
	assert_output --partial "[1/2] run: echo one > /one (cached)"
	refute_output --partial $'\033['
	"$DEVENV" halt
	run script -qec "TERM=dumb $DEVENV up" /dev/null
	refute_output --partial $'\033['
}

@test "progress: -q prints nothing on success, and a failed step's output on failure" {
	run "$DEVENV" up -q
	assert_success
	# (-q keeps warnings: where /dev/net/tun is not ours, the one saying
	# that the env has no outbound network)
	if [[ -r /dev/net/tun && -w /dev/net/tun ]]; then
		assert_output ""
	else
		assert_output --regexp '^devenv: warning: network: private: slirp4netns cannot open /dev/net/tun \(.*\)$'
	fi
	printf 'image: busybox\nprovision:\n  - run: echo one > /one\n  - run: echo why-it-failed; exit 3\n' >Envfile
	run "$DEVENV" provision -q
	assert_failure 1
	# (and where /dev/net/tun is not ours, the warning that steps keep
	# the host's network, before the step runs)
	[[ -r /dev/net/tun && -w /dev/net/tun ]] || output=$(grep -v '^devenv: warning: network: private: ' <<<"$output")
	assert_output "why-it-failed
devenv: Envfile:4:5: provisioning step 2 failed with exit status 3; step 1 is cached, nothing of step 2 was kept"
}

@test "progress: --json gives one JSON object per step and a last one, on stdout only" {
	"$DEVENV" up --json >events 2>other
	python3 - events <<-'PY'
	import json, sys
	lines = [json.loads(l) for l in open(sys.argv[1])]
	assert len(lines) == 3, lines
	assert lines[0] == {**lines[0], "step": 1, "of": 2, "kind": "run", "label": "echo one > /one", "result": "ran"}, lines[0]
	assert lines[1]["step"] == 2 and lines[1]["result"] == "ran"
	assert isinstance(lines[1]["seconds"], float)
	assert lines[2]["result"] == "ok" and lines[2]["env"] == "proj" and len(lines[2]["id"]) == 12, lines[2]
	PY
	grep -q step-two-output other  # the step's output: on stderr
	grep -q "is up" other
	"$DEVENV" halt
	run "$DEVENV" up --json
	assert_line --partial '"result":"cached"'
	"$DEVENV" halt
	printf 'image: busybox\non_up:\n  - run: echo hi\n  - run: exit 5\n' >Envfile
	run --separate-stderr "$DEVENV" up --json
	assert_failure 1
	assert_line --index 0 --regexp '^\{"on_up":1,"of":2,"label":"echo hi","result":"ran","seconds":[0-9.]+\}$'
	assert_line --index 1 --regexp '^\{"on_up":2,"of":2,"label":"exit 5","result":"failed","seconds":[0-9.]+\}$'
	assert_line --index 2 --partial '{"result":"failed","error":"Envfile:4:5: on_up step failed with exit status 5'
}

@test "progress: --json on a failure: the failed step, then result failed with the error" {
	printf 'image: busybox\nprovision:\n  - run: exit 4\n' >Envfile
	run --separate-stderr "$DEVENV" provision --json
	assert_failure 1
	assert_line --index 0 --regexp '^\{"step":1,"of":1,"kind":"run","label":"exit 4","result":"failed","seconds":[0-9.]+\}$'
	assert_line --index 1 --regexp '^\{"result":"failed","error":"Envfile:3:5: provisioning step 1 failed with exit status 4; nothing of step 1 was kept","seconds":[0-9.]+\}$'
	printf 'image: busybox\nprovison: []\n' >Envfile
	run --separate-stderr "$DEVENV" up --json
	assert_failure 2
	assert_output --regexp '^\{"result":"failed","error":"Envfile:2:1: unknown key .provison.'
}
