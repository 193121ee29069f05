#!/usr/bin/env bats
# The smaller commands: logs, version, help, init, ssh with a terminal; the
# command line itself (--help, global options, -q, "did you mean", env names).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	dv_setup
	dv_busybox_image
}
teardown() { dv_teardown; }

# After `run --separate-stderr ... -q`: success, nothing on stdout, and on
# stderr at most warnings (rootless: no /dev/net/tun, ...).
quiet_success() {
	assert_success
	assert_output ""
	if [[ -n $stderr ]] && grep -qv '^devenv: warning: ' <<<"$stderr"; then
		echo "stderr: $stderr" >&2
		return 1
	fi
}

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
	assert_line "usage: devenv ssh [-e NAME|ID] [-u|--user NAME|UID[:GID]] [-s|--secret NAME]... [-c CMD | -- ARGV...]"
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

@test "COMMAND --help explains the command's own options, and every sub-command takes --help" {
	for c in $("$DEVENV" __complete commands); do
		run "$DEVENV" "$c" --help
		assert_success
		assert_line --index 0 --regexp "^usage: devenv $c( |$)"
		assert_line "common options:"
	done
	run "$DEVENV" destroy --help
	assert_line --regexp "^  -f, --force +do not ask first"
	assert_line --regexp "^      --volumes +also remove the env's own named volumes"
	assert_line --regexp "^  -e, --env NAME\|ID +act on that env"
	run "$DEVENV" halt --help
	assert_line --regexp "^  -t, --timeout S +seconds between SIGTERM and SIGKILL"
	run "$DEVENV" ssh --help
	assert_line --regexp "^  -u, --user NAME\|UID\[:GID\] +run as this user"
	assert_line --regexp "^  -c, --command CMD +run CMD with the env's shell"
	run "$DEVENV" up --help
	assert_line --regexp "^      --cache-from REF +also take steps"
	run "$DEVENV" logs --help
	assert_line --regexp "^  -f, --follow +keep printing"
	# only the common options that mean something for the command
	run "$DEVENV" ls --help
	refute_line --partial -- "--env"
	assert_line --partial -- "--json"
	run "$DEVENV" volume --help
	assert_success
	assert_line --regexp "^  ls +list named volumes"
	assert_line --regexp "^  rm +remove volumes"
	for sub in "volume ls" "volume rm" "image import" "image save" "image load" "image inspect" "image bootstrap"; do
		# shellcheck disable=SC2086 # two words
		run "$DEVENV" $sub --help
		assert_success
		assert_line --index 0 --regexp "^usage: devenv $sub( |$)"
		# shellcheck disable=SC2086
		[[ $output == "$("$DEVENV" help $sub)" ]]
	done
	run "$DEVENV" volume rm --help
	assert_line --regexp "^  -f, --force +remove a volume a halted env names too"
	# and what they used to take still works
	run "$DEVENV" volume ls --json
	assert_success
	assert_output "[]"
	run "$DEVENV" volume rm nope -f
	assert_failure 1
	assert_output "devenv: no volume named 'nope'; 'devenv volume ls' lists them; nothing was removed"
	run "$DEVENV" image save
	assert_failure 2
	assert_output "devenv: usage: devenv image save IMAGE FILE; see 'devenv image save --help'"
	run "$DEVENV" image
	assert_failure 2
	assert_output "devenv: 'devenv image' needs a command: import, save, load, inspect, bootstrap; see 'devenv image --help'"
}

@test "-e, -q and --json work before the command as after it; -q prints nothing on success" {
	printf 'image: busybox\n' >Envfile
	run --separate-stderr "$DEVENV" -q up
	quiet_success
	# up -q on a running env: nothing either
	run --separate-stderr "$DEVENV" up -q
	quiet_success
	cd /
	run "$DEVENV" -e proj status
	assert_success
	assert_line --index 0 --regexp "^env 'proj' \([0-9a-f]{12}\): running$"
	run "$DEVENV" --env=proj --json status
	assert_success
	[[ $(jq -r .name <<<"$output") == proj ]]
	run "$DEVENV" -eproj port --json
	assert_success
	assert_output "[]"
	run "$DEVENV" -e porj status
	assert_failure 1
	assert_output "devenv: no env named 'porj' (did you mean 'proj'?); 'devenv ls' lists them"
	run "$DEVENV" -e
	assert_failure 2
	assert_output "devenv: option '-e' needs a value: the env's name or id; see 'devenv --help'"
	run --separate-stderr "$DEVENV" -q -e proj commit snap
	quiet_success
	run --separate-stderr "$DEVENV" -q -e proj halt
	quiet_success
	# options may follow the arguments too, a sub-command's as well
	cd "$DV_CHECKOUT"
	run "$DEVENV" logs -f
	assert_success
	run "$DEVENV" image inspect busybox --json
	assert_success
	[[ $(jq -r '.[0].Tag' <<<"$output") == latest ]]
}

@test "an unknown command, sub-command or option gets git's 'did you mean'" {
	run "$DEVENV" stauts
	assert_failure 2
	assert_output "devenv: 'stauts' is not a devenv command (did you mean 'status'?); 'devenv help' lists them"
	run "$DEVENV" hlat
	assert_output "devenv: 'hlat' is not a devenv command (did you mean 'halt'?); 'devenv help' lists them"
	run "$DEVENV" lss
	assert_output "devenv: 'lss' is not a devenv command (did you mean 'ls' or 'logs'?); 'devenv help' lists them"
	# nothing close: no guess
	run "$DEVENV" xyzzy
	assert_failure 2
	assert_output "devenv: 'xyzzy' is not a devenv command; 'devenv help' lists them"
	run "$DEVENV" help stauts
	assert_failure 2
	assert_output "devenv: 'stauts' is not a devenv command (did you mean 'status'?); 'devenv help' lists them"
	run "$DEVENV" destroy --volums
	assert_failure 2
	assert_output "devenv: 'devenv destroy' has no option '--volums' (did you mean '--volumes'?); see 'devenv destroy --help'"
	run "$DEVENV" destroy --force=yes
	assert_failure 2
	assert_output "devenv: option '--force' takes no value; see 'devenv destroy --help'"
	run "$DEVENV" halt --timeot=3
	assert_output "devenv: 'devenv halt' has no option '--timeot' (did you mean '--timeout'?); see 'devenv halt --help'"
	run "$DEVENV" image sav x y
	assert_failure 2
	assert_output "devenv: 'sav' is not a 'devenv image' command (did you mean 'save'?); they are: import, save, load, inspect, bootstrap"
	run "$DEVENV" volume rn x
	assert_output "devenv: 'rn' is not a 'devenv volume' command (did you mean 'rm'?); they are: ls, rm"
	run "$DEVENV" --jsn ls
	assert_failure 2
	assert_output "devenv: '--jsn' is not an option before the command (did you mean '--json'?); see 'devenv --help'"
}

@test "an env's name from a folder with letters that are not ASCII: Latin ones transliterated" {
	local dir
	dir=$(dirname "$DV_CHECKOUT")/"café Straße"
	mkdir "$dir"
	git -C "$dir" init -q
	cd "$dir"
	printf 'image: busybox\n' >Envfile
	run "$DEVENV" up
	assert_success
	assert_line "env 'cafe-strasse' is up (id $("$DEVENV" status --json | jq -r .id)); 'devenv ssh' steps in"
	run "$DEVENV" ssh -c hostname
	assert_output "cafe-strasse"
	run "$DEVENV" -e cafe-strasse status
	assert_success
	# another script: a hash suffix, the same each time, two folders two names
	dir=$(dirname "$DV_CHECKOUT")/"日本"
	mkdir "$dir"
	git -C "$dir" init -q
	cd "$dir"
	printf 'image: busybox\n' >Envfile
	"$DEVENV" up -q
	run "$DEVENV" status --json
	[[ $(jq -r .name <<<"$output") =~ ^env-[0-9a-f]{8}$ ]]
	run "$DEVENV" ssh -c hostname
	[[ $output =~ ^env-[0-9a-f]{8}$ ]]
}

@test "a failed step says which steps stay cached, and the next up starts at it" {
	printf 'image: busybox\nprovision:\n  - run: echo 1 >/1\n  - run: echo 2 >/2\n  - run: echo 3 >/3\n  - run: exit 9\n' >Envfile
	run "$DEVENV" up
	assert_failure 1
	assert_line "devenv: Envfile:6:5: provisioning step 4 failed with exit status 9; steps 1-3 are cached, nothing of step 4 was kept"
	run "$DEVENV" up
	assert_failure 1
	assert_line --regexp '^\[1/4\] run: echo 1 >/1 \(cached\)'
	assert_line --regexp '^\[3/4\] run: echo 3 >/3 \(cached\)'
}

# The same on a real distribution (the shared Debian base, helpers.bash; no
# package is downloaded: apt-get fails on a package it does not know).
@test "on debian:bookworm: the env name of 'café web', a failed step's cache line, -q, reload's advice" {
	local dir
	dv_debian_image
	dir=$(dirname "$DV_CHECKOUT")/"café web"
	mkdir "$dir"
	git -C "$dir" init -q
	cd "$dir"
	printf 'image: debian:bookworm\nprovision:\n  - run: hostname >/built-as\n  - run: apt-get install -y -q no-such-package-here\n' >Envfile
	run "$DEVENV" up -q
	assert_failure 1
	assert_line "devenv: Envfile:4:5: provisioning step 2 failed with exit status 100; step 1 is cached, nothing of step 2 was kept"
	printf 'image: debian:bookworm\nprovision:\n  - run: hostname >/built-as\n  - run: echo two >/two\n' >Envfile
	run --separate-stderr "$DEVENV" up -q
	quiet_success
	run "$DEVENV" ssh -c 'cat /built-as; hostname; cat /two'
	assert_output $'cafe-web\ncafe-web\ntwo'
	printf 'image: debian:bookworm\nprovision:\n  - run: hostname >/built-as\n  - run: echo three >/two\n' >Envfile
	run "$DEVENV" up
	assert_success
	assert_line "env 'cafe-web' is running, but provisioning step 2 (Envfile:4) changed; 'devenv reload' rebuilds the env: every file outside the checkout and volumes is reset"
	cd /
	run --separate-stderr "$DEVENV" -q -e cafe-web reload
	quiet_success
	run "$DEVENV" --json -e cafe-web status
	[[ $(jq -r .state <<<"$output") == running ]]
	run "$DEVENV" ssh -e cafe-web -c 'cat /two'
	assert_output "three"
}
