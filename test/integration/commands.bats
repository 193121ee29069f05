#!/usr/bin/env bats
# The smaller commands: logs, version, help, init, ssh with a terminal.

load helpers

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

@test "logs -f follows the env's output until it halts" {
	printf 'image: busybox\non_up:\n  - run: echo first line\n' >Envfile
	"$DEVENV" up
	"$DEVENV" logs -f >follow.out 2>&1 3>&- &
	follower=$!
	sleep 0.5
	"$DEVENV" halt
	printf 'image: busybox\non_up:\n  - run: echo second line\n' >Envfile
	wait "$follower"
	grep -q "first line" follow.out
	run "$DEVENV" up
	run "$DEVENV" logs
	assert_success
	assert_line "first line"
	assert_line "second line"
	assert_line "[on_up 1/1] run: echo second line"
}

@test "ssh with a terminal gets a pty from the env, with the terminal's size" {
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up
	run script -qec "stty rows 33 cols 101; $DEVENV ssh -c 'tty; stty size'" /dev/null
	assert_success
	assert_output --regexp "/dev/pts/[0-9]+"
	assert_output --partial "33 101"
}

@test "version, help and --help" {
	run "$DEVENV" version
	assert_success
	assert_output --regexp "^devenv [0-9]+\.[0-9]+\.[0-9]+$"
	run "$DEVENV" help
	assert_success
	for c in init up ssh halt reload provision destroy status ls logs images rmi image gc version help; do
		assert_line --regexp "^  $c +"
	done
	run "$DEVENV" help ssh
	assert_success
	assert_line "usage: devenv ssh [-e NAME|ID] [-u|--user NAME|UID[:GID]] [-c CMD | -- ARGV...]"
	run "$DEVENV"
	assert_failure 2
}

@test "init writes a valid Envfile and never overwrites one" {
	run "$DEVENV" init
	assert_success
	# (its content is parsed by the unit tests: fixtures/envfile/good/template-default.yaml)
	cmp Envfile "$DV_ROOT/templates/default.Envfile"
	echo "mine" >Envfile
	run "$DEVENV" init
	assert_failure 1
	assert_output "devenv: an Envfile is already here; edit it, or remove it first"
	[[ $(cat Envfile) == mine ]]
}
