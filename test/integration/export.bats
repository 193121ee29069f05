#!/usr/bin/env bats
# Export that round-trips any file name (issue 13, README "Images"): an
# env's files named in bytes of no charset, Latin-1, UTF-8 (ca-certificates'
# NetLock name), 255-byte names, a 4000-byte path, long link targets, hard
# links, a sparse 1 GiB file, user.* attributes and a file capability
# (test/fixtures/mktree, run in the env), through commit -> push -> pull
# into a fresh store, image save -> image load, the team cache, and
# skopeo/podman reading what image save wrote. Trees are compared line for
# line by test/fixtures/treedigest.py (names, types, modes, owners, mtimes
# in ns, contents, link targets, attributes, hard-link groups, holes).

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$BATS_FILE_TMPDIR/policy.json"
	printf '{}\n' >"$BATS_FILE_TMPDIR/auth.json"
}

teardown_file() { dv_registry_stop; }

setup() {
	[[ -x $DV_ROOT/test/fixtures/mktree ]] || fail "test/fixtures/mktree is missing: run make"
	dv_setup
	dv_busybox_image
	cp "$DV_ROOT/test/fixtures/mktree" .
	XATTRS=
	# Rootless, the env's root cannot write security.capability v2 (the
	# kernel makes it a v3 of our user namespace) and the host view of ids
	# differs: the attributes are checked as root only.
	((DV_ROOTLESS)) && XATTRS=--no-xattrs
	export XATTRS
}
teardown() {
	[[ -z ${STORE_B:-} ]] || dv_teardown_other "$STORE_B"
	dv_teardown
}

# dv_teardown_other STORE: destroy a second store's envs, then remove it.
dv_teardown_other() {
	local dir
	for dir in "$1"/envs/*/; do
		[[ -d $dir ]] && DEVENV_HOME=$1 "$DEVENV" destroy -f -e "$(basename "$dir")" >/dev/null
	done
	dv_rm_store "$1"
}

# A second, empty store on the same disk, as a teammate's machine.
store_b() {
	STORE_B=$(mktemp -d "$(dirname "$DV_STORE")/storeb.XXXXXX")
	export STORE_B
}

# tree DIR: treedigest's lines for DIR, as the store's owner sees them.
tree() {
	if ((DV_ROOTLESS)); then
		unshare --map-root-user --map-auto python3 "$DV_ROOT/test/fixtures/treedigest.py" "$1"
	else
		python3 "$DV_ROOT/test/fixtures/treedigest.py" "$1"
	fi
}

# layer_with STORE PATH: the diff folder of the store's layer holding PATH.
layer_with() {
	local d
	for d in "$1"/layers/*/diff; do
		[[ -e $d/$2 ]] && { printf '%s\n' "$d"; return 0; }
	done
	echo "no layer of $1 holds $2" >&2
	return 1
}

# fx_env: an env on busybox with the fixture tree at /fx, made in it.
fx_env() {
	printf 'image: busybox\n' | dv_envfile
	run "$DEVENV" up
	assert_success
	run "$DEVENV" ssh -c "/workspace/mktree /fx $XATTRS"
	assert_success
	FX_UPPER=$(echo "$DV_STORE"/envs/*/upper/fx)
	[[ -d $FX_UPPER ]]
	tree "$FX_UPPER" >"$BATS_TEST_TMPDIR/src.tree"
	# what the fixture promises is in it
	grep -q "^b'caf\\\\xe9' " "$BATS_TEST_TMPDIR/src.tree"
	grep -q "^b'sparse' .* sparse:0-4096,536870912-536875008,1073737728-1073741824$" "$BATS_TEST_TMPDIR/src.tree"
}

# same_tree DIR: DIR's tree is the source's, line for line.
same_tree() {
	tree "$1" >"$BATS_TEST_TMPDIR/got.tree"
	run diff "$BATS_TEST_TMPDIR/src.tree" "$BATS_TEST_TMPDIR/got.tree"
	assert_success
	assert_output ""
	# the sparse file came back sparse: 1 GiB long, 12 KiB on disk
	run du -k "$1/sparse"
	assert_output --regexp '^(12|16)[[:space:]]'
}

@test "export: commit, push, pull into a fresh store: every name, link, hole and attribute is back, byte for byte" {
	fx_env
	run "$DEVENV" commit fx:1
	assert_success
	run "$DEVENV" push fx:1 "$DV_REGISTRY/team/fx:1"
	assert_success
	# the layer holding the sparse file is small: its holes stayed out
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" pull "$DV_REGISTRY/team/fx:1"
	assert_success
	same_tree "$(layer_with "$STORE_B" fx)/fx"
	# and it runs: the env's view of the names is the bytes
	cd "$BATS_TEST_TMPDIR" && mkdir b && cd b && git init -q
	printf 'image: %s/team/fx:1\n' "$DV_REGISTRY" | dv_envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /fx/caf*; readlink /fx/988a38cb.0; cat /fx/988a38cb.0'
	assert_success
	assert_output "latin-1
NetLock_Arany_=Class_Gold=_Főtanúsítvány.pem
netlock"
}
