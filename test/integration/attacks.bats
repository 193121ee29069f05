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

# ---- volumes and escape codes ----

# no_escapes TEXT: TEXT holds none of the bytes a terminal acts on (ESC, BEL,
# a C1 CSI), whatever it quotes from a registry, an image or an env.
no_escapes() {
	[[ $1 != *$'\e'* && $1 != *$'\a'* && $1 != *$'\xc2\x9b'* ]] || {
		printf 'raw escape codes in: %q\n' "$1" >&2
		return 1
	}
}

@test "escape codes in a registry's error body are shown escaped, never sent to the terminal" {
	local body
	body=$(python3 -c 'import json; print(json.dumps({"errors": [{"code": "MANIFEST_UNKNOWN",
		"message": "\x1b]0;pwned\x07\x1b[2J\x9b31m F\u0151tan\u00fas\u00edtv\u00e1ny"}]}))')
	FAULT_ERROR_BODY=$body python3 "$DV_ROOT/test/fixtures/faultproxy.py" \
		"$BATS_TEST_TMPDIR/proxy.port" 127.0.0.1:9 &
	local proxy=$!
	for ((i = 0; i < 100; i++)); do
		[[ -s $BATS_TEST_TMPDIR/proxy.port ]] && break
		sleep 0.05
	done
	run "$DEVENV" pull "127.0.0.1:$(cat "$BATS_TEST_TMPDIR/proxy.port")/team/app:1"
	kill "$proxy"
	wait "$proxy" || true
	assert_failure 1
	no_escapes "$output"
	# what the registry said is still there to read, its UTF-8 intact
	assert_output --partial ": \\x1b]0;pwned\\x07\\x1b[2J\\u009b31m Főtanúsítvány"
	[[ ${#lines[@]} -eq 1 ]]
}

@test "escape codes in a layer's entry names are shown escaped in the error" {
	printf 'dir etc\nfile ../\033]0;pwned\007\033[2J\n' | mktar "$BATS_TEST_TMPDIR/evil.tar"
	run "$DEVENV" image import "$BATS_TEST_TMPDIR/evil.tar" evil
	assert_failure
	no_escapes "$output"
	assert_output --partial "'../\\x1b]0;pwned\\x07\\x1b[2J'"
}

@test "escape codes a service logs are shown escaped by up's warning and status; logs passes them through" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	services:
	  w:
	    image: busybox
	    command: printf '\033]0;pwned\007\033[2Jlast words\r\n'; exit 3
	EOF
	run "$DEVENV" up
	assert_success
	no_escapes "$output"
	assert_output --partial "devenv: warning: service 'w' exited at once with status 3"
	assert_line '  \x1b]0;pwned\x07\x1b[2Jlast words'
	run "$DEVENV" status
	assert_success
	no_escapes "$output"
	assert_line '      \x1b]0;pwned\x07\x1b[2Jlast words'
	# the service's own stream, as docker logs gives it
	run "$DEVENV" logs w
	assert_output --partial $'\e]0;pwned\a\e[2Jlast words'
}

@test "escape codes in an Envfile's steps are shown escaped in up's progress lines" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	provision:
	  - run: ": '\e]0;pwned\a'"
	on_up:
	  - run: ": '\e[2J'"
	EOF
	run "$DEVENV" up
	assert_success
	no_escapes "$output"
	assert_line "[1/1] run: : '\\x1b]0;pwned\\x07'"
	assert_line "[on_up 1/1] run: : '\\x1b[2J'"
}
