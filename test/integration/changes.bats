#!/usr/bin/env bats
# Envfile changes: up says what changed, reload and provision apply it.

load helpers

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

@test "up of a running env whose Envfile changed says which step and to reload" {
	printf 'image: busybox\nprovision:\n  - run: echo a > /a\n  - run: echo b > /b\n' >Envfile
	"$DEVENV" up
	run "$DEVENV" up
	assert_success
	assert_output "env 'proj' is already running"
	printf 'image: busybox\nprovision:\n  - run: echo a > /a\n  - run: echo B > /b\n' >Envfile
	run "$DEVENV" up
	assert_success
	assert_output "env 'proj' is running, but provisioning step 2 (Envfile:4) changed; 'devenv reload' rebuilds the env: every file outside the checkout and volumes is reset"
	run "$DEVENV" ssh -c 'cat /b'
	assert_output b
}

@test "reload rebuilds what changed and recreates the env, resetting files outside the checkout" {
	printf 'image: busybox\nprovision:\n  - run: echo a > /a\n' >Envfile
	"$DEVENV" up
	"$DEVENV" ssh -c 'echo scratch > /root/scratch; echo mine > /workspace/mine'
	printf 'image: busybox\nprovision:\n  - run: echo a > /a\n  - run: echo new > /new\n' >Envfile
	run "$DEVENV" reload
	assert_success
	assert_line "[1/2] run: echo a > /a (cached)"
	assert_line "[2/2] run: echo new > /new"
	assert_line "env 'proj' was recreated on its new layers: its files outside the checkout were reset (the checkout and volumes are kept)"
	run "$DEVENV" ssh -c 'cat /new /workspace/mine; ls /root'
	assert_success
	assert_output "new
mine"
}

@test "reload with an unchanged Envfile keeps the env's files" {
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up
	"$DEVENV" ssh -c 'echo kept > /root/k'
	run "$DEVENV" reload
	assert_success
	refute_output --partial "reset"
	run "$DEVENV" ssh -c 'cat /root/k'
	assert_output kept
}

@test "provision rebuilds a halted env on the new steps and leaves it halted" {
	printf 'image: busybox\nprovision:\n  - run: echo 1 > /v\n' >Envfile
	"$DEVENV" up
	"$DEVENV" halt
	printf 'image: busybox\nprovision:\n  - run: echo 2 > /v\n' >Envfile
	run "$DEVENV" provision
	assert_success
	assert_line "[1/1] run: echo 2 > /v"
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") == halted ]]
	run "$DEVENV" up
	assert_success
	assert_line "[1/1] run: echo 2 > /v (cached)"
	refute_output --partial "reset"
	run "$DEVENV" ssh -c 'cat /v'
	assert_output 2
}

@test "provision of a running env rebuilds, restarts it on the new layers, and keeps it running" {
	printf 'image: busybox\nprovision:\n  - run: echo 1 > /v\n' >Envfile
	"$DEVENV" up
	old=$(dv_init_pid)
	run "$DEVENV" provision
	assert_success
	assert_output "[1/1] run: echo 1 > /v (cached)
env 'proj' is up to date with its Envfile"
	[[ $(dv_init_pid) == "$old" ]]
	printf 'image: busybox\nprovision:\n  - run: echo 2 > /v\n' >Envfile
	run "$DEVENV" provision
	assert_success
	assert_line "[1/1] run: echo 2 > /v"
	assert_line --partial "its files outside the checkout were reset"
	[[ $(dv_init_pid) != "$old" ]]
	run "$DEVENV" ssh -c 'cat /v'
	assert_output 2
}

@test "a failing step in provision leaves the running env running" {
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up
	printf 'image: busybox\nprovision:\n  - run: exit 4\n' >Envfile
	run "$DEVENV" provision
	assert_failure 1
	assert_line "devenv: Envfile:3:5: provisioning step 1 failed with exit status 4; nothing of step 1 was kept"
	run "$DEVENV" status --json
	[[ $(dv_json state <<<"$output") == running ]]
}
