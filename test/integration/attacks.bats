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

@test "escape codes in a devcontainer.json's unsupported keys are shown escaped" {
	dv_busybox_image
	mkdir .devcontainer
	printf '{ "image": "busybox", "\\u001b]0;pwned\\u0007\\u001b[2J": 1 }\n' >.devcontainer/devcontainer.json
	run "$DEVENV" up
	assert_success
	no_escapes "$output"
	assert_line --partial 'not supported, ignored: \x1b]0;pwned\x07\x1b[2J'
}

@test "escape codes in an image's config are JSON escapes in image inspect" {
	dv_busybox_image
	"$DEVENV" image save busybox "$BATS_TEST_TMPDIR/a.tar"
	python3 "$DV_ROOT/test/fixtures/oci_config.py" "$BATS_TEST_TMPDIR/a.tar" "$BATS_TEST_TMPDIR/b.tar" \
		'{"WorkingDir": "/w\u001b]0;pwned\u0007\u009b31m\u007f\u202e", "User": "F\u0151"}'
	run "$DEVENV" image load "$BATS_TEST_TMPDIR/b.tar" evil
	assert_success
	run "$DEVENV" image inspect evil
	assert_success
	no_escapes "$output"
	[[ $output != *$'\x7f'* && $output != *$'\xe2\x80\xae'* ]]
	# still JSON, saying what the image says
	python3 -c '
import json, sys
c = json.loads(sys.argv[1])[0]["Config"]["config"]
assert c["WorkingDir"] == "/w\x1b]0;pwned\x07\x9b31m\x7f\u202e", c
assert c["User"] == "F\u0151", c
' "$output"
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

@test "escape codes in an Envfile's steps and workdir are shown escaped by up and status" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	workdir: "/w\e]0;pwned\a"
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
	run "$DEVENV" status
	assert_success
	no_escapes "$output"
	assert_line '  workdir:  /w\x1b]0;pwned\x07'
}

# checkout DIR NAME: another git checkout (DIR under the test's folder),
# its Envfile from stdin; prints its path.
checkout() {
	local dir=$BATS_TEST_TMPDIR/$1
	mkdir -p "$dir"
	git -C "$dir" init -q
	cat >"$dir/Envfile"
	printf '%s\n' "$dir"
}

@test "a hostile project's volume of the same name plants nothing in another project's" {
	dv_busybox_image
	evil=$(checkout evil <<-'EOF'
	image: busybox
	volumes: ["toolcache:/opt/tools"]
	EOF
	)
	(cd "$evil" && "$DEVENV" up >/dev/null &&
		"$DEVENV" ssh -c 'printf "#!/bin/sh\necho pwned\n" > /opt/tools/build.sh')
	printf 'image: busybox\nvolumes: ["toolcache:/opt/tools"]\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c 'ls -A /opt/tools'
	assert_success
	assert_output ""
	# and nothing the trusted project writes reaches the hostile one
	"$DEVENV" ssh -c 'echo secret > /opt/tools/token'
	run bash -c "cd '$evil' && '$DEVENV' ssh -c 'ls -A /opt/tools'"
	assert_output build.sh
}

@test "two checkouts of one project (one name:) get two volumes" {
	dv_busybox_image
	printf 'name: shop\nimage: busybox\nvolumes: ["pgdata:/var/lib/pg"]\n' | dv_envfile
	second=$(printf 'name: shop\nimage: busybox\nvolumes: ["pgdata:/var/lib/pg"]\n' | checkout shop2)
	run "$DEVENV" up
	assert_success
	(cd "$second" && "$DEVENV" up >/dev/null)
	"$DEVENV" ssh -c 'echo one > /var/lib/pg/PG_VERSION'
	(cd "$second" && "$DEVENV" ssh -c 'echo two > /var/lib/pg/PG_VERSION')
	run "$DEVENV" ssh -c 'cat /var/lib/pg/PG_VERSION'
	assert_output one
	run bash -c "cd '$second' && '$DEVENV' ssh -c 'cat /var/lib/pg/PG_VERSION'"
	assert_output two
	run "$DEVENV" volume ls
	assert_line --regexp '^shop-[0-9a-f]{12}-pgdata +shop +pgdata '
	[[ $(grep -c '^shop-[0-9a-f]\{12\}-pgdata ' <<<"$output") == 2 ]]
}

@test "a shared volume is one for every env naming it shared, and cannot name another env's own" {
	dv_busybox_image
	dv_envfile <<-'EOF'
	image: busybox
	volumes: [{name: toolcache, shared: true, target: /opt/tools}]
	EOF
	other=$(checkout other <<-'EOF'
	image: busybox
	volumes: ["toolcache:/tools:ro,shared", "cache:/cache"]
	EOF
	)
	run "$DEVENV" up
	assert_success
	"$DEVENV" ssh -c 'echo v1 > /opt/tools/version'
	run bash -c "cd '$other' && '$DEVENV' up >/dev/null && '$DEVENV' ssh -c 'cat /tools/version'"
	assert_output v1
	# the store's name of another env's own volume is not a shared name
	local id
	id=$(printf '%s\0Envfile' "$(cd "$other" && pwd -P)" | sha256sum | cut -c1-12)
	printf 'image: busybox\nvolumes: ["other-%s-cache:/x:shared"]\n' "$id" | dv_envfile
	run "$DEVENV" reload
	assert_failure 2
	assert_output "devenv: Envfile:2:11: shared volume name 'other-$id-cache' holds a dash, 12 hex digits and a dash, as the store's name of an env's own volume does; choose another name"
}
