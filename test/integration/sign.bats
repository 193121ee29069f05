#!/usr/bin/env bats
# A signed team cache (README "The team cache", "Signed caches"): `devenv
# push --sign KEY` stores an ssh signature of the pushed manifest's digest
# beside it (an OCI artifact under the tag sha256-<hex>.devenv-sig; Debian's
# docker-registry has no referrers API), and `cache_trust: FILE` makes
# cache_from take only images whose manifest a key of that allowed_signers
# file signed. Against a real registry (Debian's docker-registry on
# loopback).

load helpers

setup_file() {
	dv_registry_start "$BATS_FILE_TMPDIR/registry"
	# Two keys: the team's (listed) and a stranger's (not).
	ssh-keygen -q -t ed25519 -N '' -C team@example.org -f "$BATS_FILE_TMPDIR/team"
	ssh-keygen -q -t ed25519 -N '' -C other@example.org -f "$BATS_FILE_TMPDIR/other"
	chmod a+r "$BATS_FILE_TMPDIR"/*.pub
}

teardown_file() { dv_registry_stop; }

setup() {
	dv_setup
	dv_busybox_image
	KEYS=$BATS_FILE_TMPDIR
	cat >Envfile <<-'EOF2'
	image: busybox
	provision:
	  - run: echo one >/one
	  - run: echo two >/two
	EOF2
	mkdir .devenv
	printf 'team@example.org namespaces="devenv" %s\n' "$(cat "$KEYS/team.pub")" >.devenv/allowed_signers
	git add -A && git commit -qm init
	REF=$DV_REGISTRY/team/sign-$BATS_TEST_NUMBER:cache
}
teardown() {
	[[ -z ${STORE_B:-} ]] || { DEVENV_HOME=$STORE_B dv_teardown_store "$STORE_B"; }
	[[ -z ${AGENT_PID:-} ]] || kill "$AGENT_PID" 2>/dev/null || true
	dv_teardown
}

dv_teardown_store() {
	local dir
	for dir in "$1"/envs/*/; do
		[[ -d $dir ]] && DEVENV_HOME=$1 "$DEVENV" destroy -f -e "$(basename "$dir")" >/dev/null
	done
	dv_rm_store "$1"
}

# manifest REPO REF: the OCI manifest the registry serves.
manifest() {
	curl -fsS -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
		"http://$DV_REGISTRY/v2/$1/manifests/$2"
}
# put_manifest REPO REF FILE
put_manifest() {
	curl -fsS -X PUT -H 'Content-Type: application/vnd.oci.image.manifest.v1+json' \
		--data-binary "@$3" "http://$DV_REGISTRY/v2/$1/manifests/$2" >/dev/null
}

# store_b [base]: a second, empty store (as a teammate's machine), with
# busybox imported when asked (a refused cache gives no base either).
store_b() {
	STORE_B=$(mktemp -d "$(dirname "$DV_STORE")/storeb.XXXXXX")
	[[ -z ${1:-} ]] || DEVENV_HOME=$STORE_B dv_busybox_image
}

# push_then_up_b [base] [--sign KEY]: push the env's cache, then up in
# store_b whose Envfile names it with cache_trust.
push_then_up_b() {
	local base=
	[[ ${1:-} != base ]] || { base=1 && shift; }
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$@" "$REF"
	assert_success
	"$DEVENV" halt
	printf 'cache_from: %s\ncache_trust: .devenv/allowed_signers\n' "$REF" >>Envfile
	store_b $base
	DEVENV_HOME=$STORE_B run "$DEVENV" up
}

@test "sign: a signed push is taken; the signature is an artifact under sha256-<hex>.devenv-sig" {
	push_then_up_b --sign "$KEYS/team"
	assert_success
	assert_line "[1/2] run: echo one >/one (pulled)"
	assert_line "[2/2] run: echo two >/two (pulled)"
	refute_output --partial "warning: cache_from"
	# The artifact: its subject the env's manifest, one layer the armored
	# signature of "sha256:<hex>" in namespace devenv.
	hex=$(manifest "team/sign-$BATS_TEST_NUMBER" cache | sha256sum | cut -c1-64)
	run manifest "team/sign-$BATS_TEST_NUMBER" "sha256-$hex.devenv-sig"
	assert_success
	assert_output --partial '"artifactType":"application/vnd.dev.devenv.signature.v1"'
	assert_output --partial "\"subject\":{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$hex\""
	blob=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][0]["digest"])' <<<"$output")
	curl -fsS "http://$DV_REGISTRY/v2/team/sign-$BATS_TEST_NUMBER/blobs/$blob" >"$BATS_TEST_TMPDIR/sig"
	printf 'sha256:%s' "$hex" | ssh-keygen -Y verify -f .devenv/allowed_signers -I team@example.org \
		-n devenv -s "$BATS_TEST_TMPDIR/sig"
}

@test "sign: a key held by the agent signs (its public half named)" {
	eval "$(ssh-agent -s)" >/dev/null
	AGENT_PID=$SSH_AGENT_PID
	ssh-add -q "$KEYS/team" 2>/dev/null
	cp "$KEYS/team.pub" "$BATS_TEST_TMPDIR/only.pub"
	push_then_up_b --sign "$BATS_TEST_TMPDIR/only.pub"
	assert_success
	assert_line "[2/2] run: echo two >/two (pulled)"
}

@test "sign: an unsigned push is refused with one warning; the steps run here" {
	push_then_up_b base
	assert_success
	assert_line --regexp "^devenv: warning: cache_from '$REF': its manifest sha256:[0-9a-f]{12} is not signed, and cache_trust '.devenv/allowed_signers' asks for a signature; its steps run here$"
	[[ $(grep -c "warning: cache_from" <<<"$output") -eq 1 ]]
	refute_output --partial pulled
	assert_line "[2/2] run: echo two >/two"
}

@test "sign: a push signed by a key not listed is refused" {
	push_then_up_b base --sign "$KEYS/other"
	assert_success
	assert_line --regexp "^devenv: warning: cache_from '$REF': its manifest sha256:[0-9a-f]{12} is not signed by a key that cache_trust '.devenv/allowed_signers' lists; its steps run here$"
	refute_output --partial pulled
}

@test "sign: a manifest changed after signing is refused, its signature moved along or not" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push --sign "$KEYS/team" "$REF"
	assert_success
	repo=team/sign-$BATS_TEST_NUMBER
	manifest "$repo" cache >"$BATS_TEST_TMPDIR/m"
	old=$(sha256sum <"$BATS_TEST_TMPDIR/m" | cut -c1-64)
	# The second step's label changed: same layers, another manifest.
	sed 's/echo two/echo TWO/' "$BATS_TEST_TMPDIR/m" >"$BATS_TEST_TMPDIR/m2"
	put_manifest "$repo" cache "$BATS_TEST_TMPDIR/m2"
	new=$(sha256sum <"$BATS_TEST_TMPDIR/m2" | cut -c1-64)
	"$DEVENV" halt
	printf 'cache_from: %s\ncache_trust: .devenv/allowed_signers\n' "$REF" >>Envfile
	store_b base
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_output --partial "its manifest sha256:${new:0:12} is not signed,"
	refute_output --partial pulled
	# The old signature, its subject rewritten to the new manifest.
	manifest "$repo" "sha256-$old.devenv-sig" | sed "s/$old/$new/" >"$BATS_TEST_TMPDIR/s"
	put_manifest "$repo" "sha256-$new.devenv-sig" "$BATS_TEST_TMPDIR/s"
	DEVENV_HOME=$STORE_B dv_teardown_store "$STORE_B"
	store_b base
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_output --partial "its manifest sha256:${new:0:12} is not signed by a key that cache_trust"
	refute_output --partial pulled
}

@test "sign: a tampered blob of a signed push is never used" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push --sign "$KEYS/team" "$REF"
	assert_success
	# Flip one byte of the last step's blob where the registry keeps it.
	blob=$(manifest "team/sign-$BATS_TEST_NUMBER" cache |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["layers"][-1]["digest"][7:])')
	data=$DV_REGISTRY_STORAGE/docker/registry/v2/blobs/sha256/${blob:0:2}/$blob/data
	python3 - "$data" <<-'PY'
	import sys
	p = sys.argv[1]
	b = bytearray(open(p, "rb").read())
	b[len(b) // 2] ^= 0xff
	open(p, "wb").write(bytes(b))
	PY
	"$DEVENV" halt
	printf 'cache_from: %s\ncache_trust: .devenv/allowed_signers\n' "$REF" >>Envfile
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line "[1/2] run: echo one >/one (pulled)"
	assert_line "[2/2] run: echo two >/two"
	assert_output --regexp "warning: cache_from '$REF': .*${blob:0:12}"
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /two'
	assert_output two
	# The registry is this file's: the same step built again (a layer is
	# the same bytes when its epoch is) must not meet the flipped byte.
	python3 - "$data" <<-'PY'
	import sys
	p = sys.argv[1]
	b = bytearray(open(p, "rb").read())
	b[len(b) // 2] ^= 0xff
	open(p, "wb").write(bytes(b))
	PY
}

@test "sign: a team base signed by a key not listed is refused while the env's signed layers are taken" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push --sign "$KEYS/other" busybox "$DV_REGISTRY/team/base:1"
	assert_success
	run "$DEVENV" push --sign "$KEYS/team" "$REF"
	assert_success
	"$DEVENV" halt
	printf 'cache_from: [%s, %s]\ncache_trust: .devenv/allowed_signers\n' "$DV_REGISTRY/team/base:1" "$REF" >>Envfile
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_output --partial "warning: cache_from '$DV_REGISTRY/team/base:1': its manifest sha256:"
	assert_output --partial "is not signed by a key that cache_trust '.devenv/allowed_signers' lists"
	refute_output --partial "pulling the team's"
	assert_output --partial "pulling the one '$REF' was built on"
	assert_line "[2/2] run: echo two >/two (pulled)"
}

@test "sign: cache_trust must be a file of the checkout; a symlinked one trusts nothing" {
	printf 'cache_trust: /etc/passwd\n' >>Envfile
	run "$DEVENV" up
	assert_failure
	assert_output --regexp "Envfile:5:14: 'cache_trust' must be a path inside the checkout"
	sed -i '$d' Envfile
	printf 'cache_trust: ../x\n' >>Envfile
	run "$DEVENV" up
	assert_failure
	assert_output --partial "Envfile:5:14: 'cache_trust' file '../x' must not contain '.' or '..'"
	sed -i '$d' Envfile
	# A symlink to the right file: not read.
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push --sign "$KEYS/team" "$REF"
	assert_success
	"$DEVENV" halt
	ln -s allowed_signers .devenv/link
	printf 'cache_from: %s\ncache_trust: .devenv/link\n' "$REF" >>Envfile
	store_b base
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_output --partial "cache_trust '.devenv/link' cannot be opened: a symlink is on the way; its steps run here"
	refute_output --partial pulled
}

@test "sign: push --sign with a key that cannot sign fails saying so" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push --sign "$BATS_TEST_TMPDIR/missing" "$REF"
	assert_failure
	assert_output --partial "cannot sign with '$BATS_TEST_TMPDIR/missing': ssh-keygen -Y sign failed"
}

@test "sign: steps taken before cache_trust was set serve only once their source's signature checks" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	"$DEVENV" halt
	printf 'cache_from: %s\n' "$REF" >>Envfile
	# (busybox imported: a team's base taken unsigned is no base with
	# cache_trust, see below)
	store_b base
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line "[2/2] run: echo two >/two (pulled)"
	DEVENV_HOME=$STORE_B "$DEVENV" destroy -f >/dev/null
	# Now the Envfile asks for signatures: what was pulled unsigned is
	# not taken from the store's cache either.
	printf 'cache_trust: .devenv/allowed_signers\n' >>Envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_output --partial "is not signed, and cache_trust"
	assert_line "[2/2] run: echo two >/two"
	# Signed now, in a store that pulled them unsigned: the layers there
	# are taken again (no download), marked with the file they were
	# checked against.
	DEVENV_HOME=$STORE_B dv_teardown_store "$STORE_B"
	store_b
	sed -i '$d' Envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_line "[2/2] run: echo two >/two (pulled)"
	DEVENV_HOME=$STORE_B "$DEVENV" destroy -f >/dev/null
	run "$DEVENV" push --sign "$KEYS/team" "$REF"
	assert_success
	printf 'cache_trust: .devenv/allowed_signers\n' >>Envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_line "[2/2] run: echo two >/two (pulled)"
	refute_output --partial "warning: cache_from"
	[[ $(grep -c " trust=[0-9a-f]\{16\}\$" "$STORE_B"/cache/* | grep -c ':1$') -eq 2 ]]
}

@test "sign: Debian env: a signed cache is taken with its base" {
	# Once, as root: the rootless path of signing and checking is the
	# busybox tests' (CI time: the base's push and pull are most of it).
	[[ -z ${DV_ROOTLESS_TESTS:-} ]] || skip "the Debian case runs as root"
	dv_debian_image
	cat >Envfile <<-'EOF2'
	image: debian:bookworm
	provision:
	  - run: echo signed >/etc/devenv-sign
	EOF2
	git add -A && git commit -qm debian
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push --sign "$KEYS/team" "$REF"
	assert_success
	assert_output --regexp "signed $REF@sha256:[0-9a-f]{64} with '$KEYS/team'"
	"$DEVENV" halt
	printf 'cache_from: %s\ncache_trust: .devenv/allowed_signers\n' "$REF" >>Envfile
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_output --partial "pulling the one '$REF' was built on"
	assert_line --regexp '^\[1/1\] run: echo signed .* \(pulled\)$'
	DEVENV_HOME=$STORE_B run "$DEVENV" ssh -c 'cat /etc/devenv-sign'
	assert_output signed
}

@test "sign: a team base taken before cache_trust was set is not a base once it is" {
	run "$DEVENV" up
	assert_success
	run "$DEVENV" push "$REF"
	assert_success
	"$DEVENV" halt
	printf 'cache_from: %s\n' "$REF" >>Envfile
	# A store with no busybox takes the unsigned cache's base...
	store_b
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_success
	assert_output --partial "pulling the one '$REF' was built on"
	DEVENV_HOME=$STORE_B "$DEVENV" destroy -f >/dev/null
	# ...which a signature never vouched for: with cache_trust the steps
	# do not run on it.
	printf 'cache_trust: .devenv/allowed_signers\n' >>Envfile
	DEVENV_HOME=$STORE_B run "$DEVENV" up
	assert_failure
	refute_line "[1/2] run: echo one >/one"
	assert_output --partial "image 'busybox' in this store was taken from cache_from '$REF' for another env or unchecked by cache_trust '.devenv/allowed_signers'"
}
